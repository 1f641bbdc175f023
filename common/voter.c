/* voter.c -- DEALER socket, [empty][ReplayRequest vote=1] out, answers read and dropped. */
#include "voter.h"

#include "replay_client.h"
#include "wire_replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* An answer to a vote names at most one event: anything larger is refused by ZeroMQ. */
enum { ANSWER_MAX_BYTES = 4096, ANSWERS_DRAINED_MAX = 64 };

struct voter {
    void *socket;
    char endpoint[256];
};

voter_t *voter_create(void *zmq_context, const char *endpoint, const char *curve_server_key_file,
                      const char *curve_secret_key_file, int io_thread, char *err, size_t errlen)
{
    voter_t *v = calloc(1, sizeof *v);
    if (v == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(v->endpoint, sizeof v->endpoint, "%s", endpoint);
    /* IMMEDIATE: a vote is for now; queued for a member that connects later, it would
     * arrive when it no longer says anything true. */
    replay_socket_spec_t spec = {.endpoint = endpoint,
                                 .server_key_file = curve_server_key_file,
                                 .secret_key_file = curve_secret_key_file,
                                 .io_thread = io_thread,
                                 .max_message = ANSWER_MAX_BYTES,
                                 .immediate = 1,
                                 .end = BUS_SOCKET_CONNECTS};
    v->socket = replay_socket_open(zmq_context, &spec, err, errlen);
    if (v->socket == NULL) {
        free(v);
        return NULL;
    }
    return v;
}

void voter_destroy(voter_t *v)
{
    if (v == NULL)
        return;
    if (v->socket)
        zmq_close(v->socket);
    free(v);
}

const char *voter_endpoint(const voter_t *v)
{
    return v->endpoint;
}

voter_t *voter_follow(voter_t **slot, void *zmq_context, const char *bus_endpoint,
                      uint32_t replay_port, const char *curve_server_key_file,
                      const char *curve_secret_key_file, int io_thread, char *err, size_t errlen)
{
    char endpoint[sizeof(*slot)->endpoint];
    if (replay_endpoint_from_bus(bus_endpoint, replay_port, endpoint, sizeof endpoint) < 0) {
        snprintf(err, errlen, "no replay socket announced");
        return NULL;
    }
    if (*slot && strcmp((*slot)->endpoint, endpoint) == 0)
        return *slot;
    voter_destroy(*slot);
    *slot = voter_create(zmq_context, endpoint, curve_server_key_file, curve_secret_key_file,
                         io_thread, err, errlen);
    return *slot;
}

/* Bounded: the answers to earlier votes, at most one per vote. */
static void drain_answers(void *socket)
{
    for (int i = 0; i < ANSWERS_DRAINED_MAX; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        int rc = zmq_msg_recv(&msg, socket, ZMQ_DONTWAIT);
        zmq_msg_close(&msg);
        if (rc < 0)
            return;
    }
}

int voter_send(voter_t *v, uint64_t epoch, uint64_t seq)
{
    drain_answers(v->socket);
    wire_replay_request_t req = {epoch, seq, seq, 1};
    uint8_t buf[WIRE_REPLAY_REQUEST_MAX];
    size_t len = wire_replay_request_encode(&req, buf, sizeof buf);
    if (len == 0)
        return -EMSGSIZE;
    if (zmq_send(v->socket, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -zmq_errno();
    if (zmq_send(v->socket, buf, len, ZMQ_DONTWAIT) < 0)
        return -zmq_errno();
    return 0;
}
