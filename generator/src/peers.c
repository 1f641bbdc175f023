/* peers.c -- counts the connections the generator's sockets drop.
 *
 * Why: libzmq closes a peer that sends a message over ZMQ_MAXMSGSIZE, or breaks the
 * protocol, without telling the application. Its socket monitor is the only place this
 * shows, and only as a disconnect (measured with libzmq 4.3.4: accepted, handshake
 * succeeded, disconnected, the same events as a subscriber that leaves). So the
 * generator counts disconnects and failed handshakes per socket and logs them, the first
 * and then each power of two, with the totals: an operator sees peers being dropped
 * without a log line per attempt. Closed connections log at info (a gateway that
 * restarts closes one too), failed handshakes at warn. */
#include "peers.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

enum {
    WATCHED = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
              ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
    FAILED = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
             ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
};

int peers_watch(peers_t *peers, void *zmq_context, void *socket, const char *name)
{
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://generator-peers-%s", name);
    *peers = (peers_t){socket, NULL, name, 0, 0, 0};
    if (zmq_socket_monitor(socket, endpoint, WATCHED) != 0)
        return -zmq_errno();
    int linger = 0;
    peers->monitor = zmq_socket(zmq_context, ZMQ_PAIR);
    if (peers->monitor == NULL ||
        zmq_setsockopt(peers->monitor, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(peers->monitor, endpoint) != 0) {
        int rc = -zmq_errno();
        peers_close(peers);
        return rc;
    }
    return 0;
}

static void count(peers_t *peers, uint16_t event)
{
    uint64_t *total = event == ZMQ_EVENT_ACCEPTED ? &peers->accepted
                      : event & FAILED            ? &peers->failed
                                                  : &peers->dropped;
    (*total)++;
    if (event == ZMQ_EVENT_ACCEPTED || !log_power_of_two(*total))
        return;
    log_write(event & FAILED ? RN_LOG_WARN : RN_LOG_INFO,
              event & FAILED ? "peer handshake failed" : "peer connection closed",
              "socket=%s accepted_total=%llu closed_total=%llu handshakes_failed_total=%llu",
              peers->name, (unsigned long long)peers->accepted, (unsigned long long)peers->dropped,
              (unsigned long long)peers->failed);
}

/* One event: two frames, the first holding the event id and a 32-bit value. */
static int read_event(void *monitor, uint16_t *event)
{
    unsigned char head[6];
    char address[256];
    int n = zmq_recv(monitor, head, sizeof head, ZMQ_DONTWAIT);
    if (n < 0)
        return -zmq_errno();
    if (zmq_recv(monitor, address, sizeof address, ZMQ_DONTWAIT) < 0)
        return -zmq_errno();
    if (n < 2)
        return -EPROTO;
    memcpy(event, head, sizeof *event);
    return 0;
}

void peers_read(peers_t *peers)
{
    uint16_t event;
    for (int i = 0; i < 64 && read_event(peers->monitor, &event) == 0; i++)
        count(peers, event);
}

void peers_close(peers_t *peers)
{
    if (peers->monitor == NULL)
        return;
    if (zmq_socket_monitor(peers->socket, NULL, 0) != 0)
        log_warn("cannot stop a socket monitor", "socket=%s", peers->name);
    zmq_close(peers->monitor);
    peers->monitor = NULL;
}
