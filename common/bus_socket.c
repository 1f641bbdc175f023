/* bus_socket.c -- common ZeroMQ socket options. */
#include "bus_socket.h"

#include <errno.h>
#include <zmq.h>

enum { HEARTBEAT_IVL_MS = 1000, HEARTBEAT_TIMEOUT_MS = 3000 };

static int set_int(void *socket, int option, int value)
{
    return zmq_setsockopt(socket, option, &value, sizeof value) == 0 ? 0 : -zmq_errno();
}

int bus_socket_tune(void *socket)
{
    int rc = set_int(socket, ZMQ_LINGER, 0);
    if (rc == 0)
        rc = set_int(socket, ZMQ_HEARTBEAT_IVL, HEARTBEAT_IVL_MS);
    if (rc == 0)
        rc = set_int(socket, ZMQ_HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS);
    if (rc == 0)
        rc = set_int(socket, ZMQ_HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS);
    return rc;
}
