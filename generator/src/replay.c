/* replay.c -- ROUTER socket, request envelope, answer from history. */
#include "replay.h"

#include "bus_socket.h"
#include "curve.h"
#include "log.h"
#include "wire_replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* A request is [identity][empty delimiter][request] from REQ, the same from a DEALER
 * that sends the delimiter, or [identity][request] without it. */
enum { ENVELOPE_MAX = 3 };

struct replay {
    void *socket;
    history_t history;
    uint64_t epoch;
    uint32_t port;
    wire_number_t *answer; /* WIRE_REPLAY_EVENTS_MAX, reused for every answer */
    uint64_t refused;
};

static int configure(void *socket, const generator_config_t *cfg, char *err, size_t errlen)
{
    /* The bus's frame limit (not the request's 64 bytes: it also bounds the CURVE
     * handshake); a request's own size is checked when it is decoded. */
    if (bus_socket_tune(socket) < 0) {
        snprintf(err, errlen, "cannot set up the replay socket: %s", zmq_strerror(zmq_errno()));
        return -EINVAL;
    }
    if (cfg->curve_secret_key_file[0] &&
        curve_server_setup(socket, cfg->curve_secret_key_file, err, errlen) < 0)
        return -EINVAL;
    if (zmq_bind(socket, cfg->replay_bind) == 0)
        return 0;
    /* Subscribers learn the port from the heartbeats, so with "auto" any port will do. */
    if (zmq_errno() == EADDRINUSE && cfg->replay_bind_any[0] &&
        zmq_bind(socket, cfg->replay_bind_any) == 0)
        return 0;
    snprintf(err, errlen, "cannot bind replay '%s': %s", cfg->replay_bind,
             zmq_strerror(zmq_errno()));
    return -EINVAL;
}

replay_t *replay_create(void *zmq_context, const generator_config_t *cfg, uint64_t epoch, char *err,
                        size_t errlen)
{
    replay_t *replay = calloc(1, sizeof *replay);
    if (replay == NULL || history_init(&replay->history, (size_t)cfg->replay_history) < 0 ||
        (replay->answer = calloc(WIRE_REPLAY_EVENTS_MAX, sizeof *replay->answer)) == NULL) {
        snprintf(err, errlen, "out of memory for %ld replay events", cfg->replay_history);
        replay_destroy(replay);
        return NULL;
    }
    replay->epoch = epoch;
    replay->socket = zmq_socket(zmq_context, ZMQ_ROUTER);
    if (replay->socket == NULL) {
        snprintf(err, errlen, "cannot create the replay socket: %s", zmq_strerror(zmq_errno()));
        replay_destroy(replay);
        return NULL;
    }
    if (configure(replay->socket, cfg, err, errlen) < 0) {
        replay_destroy(replay);
        return NULL;
    }
    replay->port = bus_socket_bound_port(replay->socket);
    return replay;
}

void replay_destroy(replay_t *replay)
{
    if (replay == NULL)
        return;
    if (replay->socket)
        zmq_close(replay->socket);
    history_deinit(&replay->history);
    free(replay->answer);
    free(replay);
}

void *replay_socket(const replay_t *replay)
{
    return replay->socket;
}

uint32_t replay_port(const replay_t *replay)
{
    return replay->port;
}

void replay_record(replay_t *replay, const wire_number_t *ev)
{
    history_append(&replay->history, ev);
}

/* The reply to one decoded (or refused) request, into reply. */
static void answer(replay_t *replay, const zmq_msg_t *request, wire_replay_reply_t *reply)
{
    const history_t *h = &replay->history;
    *reply = (wire_replay_reply_t){replay->epoch, h->first_seq, h->last_seq, replay->answer, 0, ""};
    wire_replay_request_t req;
    if (wire_replay_request_decode(zmq_msg_data((zmq_msg_t *)request), zmq_msg_size(request), &req,
                                   reply->error, sizeof reply->error) != WIRE_OK) {
        replay->refused++;
        if (log_power_of_two(replay->refused))
            log_warn("replay request refused", "reason=\"%s\" total=%llu", reply->error,
                     (unsigned long long)replay->refused);
        return;
    }
    if (req.epoch == replay->epoch)
        reply->count =
            history_range(h, req.from_seq, req.to_seq, replay->answer, WIRE_REPLAY_EVENTS_MAX);
}

/* Sends the envelope frames back, then the reply. */
static int send_reply(replay_t *replay, zmq_msg_t *frames, int envelope,
                      const wire_replay_reply_t *reply)
{
    uint8_t *bytes;
    size_t len;
    if (wire_replay_reply_encode(reply, &bytes, &len) < 0)
        return -ENOMEM;
    int rc = 0;
    for (int i = 0; i < envelope && rc == 0; i++)
        if (zmq_msg_send(&frames[i], replay->socket, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            rc = -zmq_errno();
    if (rc == 0 && zmq_send(replay->socket, bytes, len, ZMQ_DONTWAIT) < 0)
        rc = -zmq_errno();
    free(bytes);
    return rc == -EHOSTUNREACH || rc == -EAGAIN ? 0 : rc; /* the asker left, or is full */
}

/* Reads one request's frames; more than ENVELOPE_MAX frames is not a request. Returns the
 * frame count, or -errno (-EAGAIN when none is pending). */
static int receive_request(void *socket, zmq_msg_t *frames)
{
    int count = 0, more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, socket, count == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&part);
            return -e;
        }
        more = zmq_msg_more(&part);
        if (count < ENVELOPE_MAX)
            zmq_msg_move(&frames[count], &part);
        zmq_msg_close(&part);
        count++;
    }
    return count;
}

static int serve_one(replay_t *replay)
{
    zmq_msg_t frames[ENVELOPE_MAX];
    for (int i = 0; i < ENVELOPE_MAX; i++)
        zmq_msg_init(&frames[i]);
    int count = receive_request(replay->socket, frames);
    int rc = count;
    if (count >= 2 && count <= ENVELOPE_MAX) {
        wire_replay_reply_t reply;
        answer(replay, &frames[count - 1], &reply);
        rc = send_reply(replay, frames, count - 1, &reply);
    }
    for (int i = 0; i < ENVELOPE_MAX; i++)
        zmq_msg_close(&frames[i]);
    return rc < 0 ? rc : 0;
}

int replay_serve(replay_t *replay, int max)
{
    int served = 0;
    for (; served < max; served++) {
        int rc = serve_one(replay);
        if (rc == -EAGAIN)
            break;
        if (rc < 0)
            return rc;
    }
    return served;
}
