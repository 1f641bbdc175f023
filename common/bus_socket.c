/* bus_socket.c -- common ZeroMQ socket options. */
#include "bus_socket.h"

#include "wire.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

_Static_assert(BUS_FRAME_MAX > WIRE_TOPIC_MAX && BUS_FRAME_MAX >= WIRE_MESSAGE_MAX,
               "every frame the bus carries is below the limit");

enum { HEARTBEAT_IVL_MS = 1000, HEARTBEAT_TIMEOUT_MS = 3000, CONNECT_TIMEOUT_MS = 2000 };
/* TCP keepalive of a bound socket's connections, in seconds: a peer gone for 25 s. */
enum { KEEPALIVE_IDLE_S = 10, KEEPALIVE_INTVL_S = 5, KEEPALIVE_CNT = 3 };

static int set_int(void *socket, int option, int value)
{
    return zmq_setsockopt(socket, option, &value, sizeof value) == 0 ? 0 : -zmq_errno();
}

int bus_context_threads(void *context, int threads)
{
    return zmq_ctx_set(context, ZMQ_IO_THREADS, threads < 1 ? 1 : threads) == 0 ? 0 : -zmq_errno();
}

int bus_socket_pin(void *socket, int io_thread)
{
    if (io_thread < 0)
        return 0;
    uint64_t mask = (uint64_t)1 << io_thread;
    return zmq_setsockopt(socket, ZMQ_AFFINITY, &mask, sizeof mask) == 0 ? 0 : -zmq_errno();
}

static int set_pings(void *socket)
{
    int rc = set_int(socket, ZMQ_HEARTBEAT_IVL, HEARTBEAT_IVL_MS);
    if (rc == 0)
        rc = set_int(socket, ZMQ_HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS);
    return rc == 0 ? set_int(socket, ZMQ_HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS) : rc;
}

static int set_keepalive(void *socket)
{
    int rc = set_int(socket, ZMQ_TCP_KEEPALIVE, 1);
    if (rc == 0)
        rc = set_int(socket, ZMQ_TCP_KEEPALIVE_IDLE, KEEPALIVE_IDLE_S);
    if (rc == 0)
        rc = set_int(socket, ZMQ_TCP_KEEPALIVE_INTVL, KEEPALIVE_INTVL_S);
    return rc == 0 ? set_int(socket, ZMQ_TCP_KEEPALIVE_CNT, KEEPALIVE_CNT) : rc;
}

int bus_socket_tune(void *socket, bus_socket_end_t end)
{
    int rc = set_int(socket, ZMQ_LINGER, 0);
    if (rc == 0 && end == BUS_SOCKET_CONNECTS)
        rc = set_pings(socket);
    if (rc == 0 && end != BUS_SOCKET_BINDS)
        rc = set_int(socket, ZMQ_CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS);
    if (rc == 0 && end == BUS_SOCKET_BINDS)
        rc = set_keepalive(socket);
    int64_t max_frame = BUS_FRAME_MAX;
    if (rc == 0 && zmq_setsockopt(socket, ZMQ_MAXMSGSIZE, &max_frame, sizeof max_frame) != 0)
        rc = -zmq_errno();
    return rc;
}

int bus_socket_resubscribe(void *socket, const char *topic)
{
    if (zmq_setsockopt(socket, ZMQ_UNSUBSCRIBE, topic, strlen(topic)) != 0 ||
        zmq_setsockopt(socket, ZMQ_SUBSCRIBE, topic, strlen(topic)) != 0)
        return -zmq_errno();
    return 0;
}

int bus_message_recv(void *socket, zmq_msg_t frames[2], int *count, int flags)
{
    zmq_msg_init(&frames[0]);
    zmq_msg_init(&frames[1]);
    *count = 0;
    for (int more = 1; more;) {
        /* Frames past the second are received into frames[1] and overwritten. */
        zmq_msg_t *dst = &frames[*count < 2 ? *count : 1];
        if (zmq_msg_recv(dst, socket, *count == 0 ? flags : 0) < 0)
            return -zmq_errno();
        more = zmq_msg_more(dst);
        (*count)++;
    }
    return 0;
}

uint32_t bus_socket_bound_port(void *socket)
{
    char endpoint[256];
    size_t len = sizeof endpoint;
    if (zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0)
        return 0;
    const char *colon = strrchr(endpoint, ':');
    long port = strncmp(endpoint, "tcp://", 6) == 0 && colon ? strtol(colon + 1, NULL, 10) : 0;
    return port > 0 && port <= 65535 ? (uint32_t)port : 0;
}

int bus_socket_connect_all(void *socket, const char *list, char *err, size_t errlen)
{
    char copy[1024];
    if (snprintf(copy, sizeof copy, "%s", list) >= (int)sizeof copy) {
        snprintf(err, errlen, "endpoint list is longer than %zu bytes", sizeof copy - 1);
        return -EINVAL;
    }
    char *save = NULL;
    int n = 0;
    for (char *ep = strtok_r(copy, ",", &save); ep; ep = strtok_r(NULL, ",", &save), n++) {
        if (zmq_connect(socket, ep) != 0) {
            snprintf(err, errlen, "cannot connect to '%s': %s", ep, zmq_strerror(zmq_errno()));
            return -EINVAL;
        }
    }
    if (n == 0) {
        snprintf(err, errlen, "no endpoint to connect to");
        return -EINVAL;
    }
    return 0;
}
