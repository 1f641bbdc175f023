/* replay.c -- ROUTER socket, request envelope, answer from history.
 *
 * A peer may ask and never read. libzmq queues a ROUTER's messages per peer up to the
 * send high-water mark (1000 by default) and then drops them silently; with answers of
 * up to some 30 KB that is tens of MB per peer. So the mark is ANSWERS_QUEUED_MAX and
 * the socket is ROUTER_MANDATORY: a send to a peer whose queue is full fails (EAGAIN),
 * and the envelope goes first, before any work, so a request the peer has no room to be
 * answered costs a failed send and a count. */
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

/* Answers held per peer: one. A REQ, which waits for each answer, never meets the limit
 * (see send_envelope); a peer that asks again before the network has taken its previous
 * answer gets no answer to that request (proto/rn.proto says so). */
enum { ANSWERS_QUEUED_MAX = 1 };

struct replay {
    void *socket;
    history_t history;
    uint64_t epoch;
    uint32_t port;
    wire_number_t *answer; /* WIRE_REPLAY_EVENTS_MAX, reused for every answer */
    uint64_t refused;      /* requests answered with an error, or not requests */
    uint64_t dropped;      /* requests left unanswered: the peer's queue full, or it left */
    uint64_t votes;        /* requests with vote set */
    replay_vote_fn *on_vote;
    void *vote_ctx;
};

static int configure(void *socket, const generator_config_t *cfg, char *err, size_t errlen)
{
    /* The bus's frame limit (not the request's 64 bytes: it also bounds the CURVE
     * handshake); a request's own size is checked when it is decoded. */
    int hwm = ANSWERS_QUEUED_MAX, mandatory = 1;
    if (bus_socket_tune(socket, BUS_SOCKET_BINDS) < 0 ||
        zmq_setsockopt(socket, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(socket, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory) != 0) {
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
    if (replay->socket == NULL || bus_socket_pin(replay->socket, GENERATOR_IO_THREAD) < 0) {
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

void replay_on_vote(replay_t *replay, replay_vote_fn *fn, void *ctx)
{
    replay->on_vote = fn;
    replay->vote_ctx = ctx;
}

void replay_reset(replay_t *replay, uint64_t epoch)
{
    replay->epoch = epoch;
    replay->history.first_seq = replay->history.last_seq = 0;
}

size_t replay_held(const replay_t *replay, uint64_t from, uint64_t to, wire_number_t *out,
                   size_t max)
{
    return history_range(&replay->history, from, to, out, max);
}

uint64_t replay_votes(const replay_t *replay)
{
    return replay->votes;
}

/* A vote is counted and handed on; it is then answered as any request is. Any peer of the
 * replay socket can vote, and as often as it likes: a vote only ever lets a passive
 * member take over once the active has been silent for failover_ms (generator/README.md). */
static void note_vote(replay_t *replay, const wire_replay_request_t *req)
{
    replay->votes++;
    if (log_power_of_two(replay->votes))
        log_info("vote received", "epoch=%llu last_held=%llu votes_total=%llu",
                 (unsigned long long)req->epoch, (unsigned long long)(req->from_seq - 1),
                 (unsigned long long)replay->votes);
    if (replay->on_vote)
        replay->on_vote(replay->vote_ctx, req);
}

static void note_refused(replay_t *replay, const char *reason)
{
    replay->refused++;
    if (log_power_of_two(replay->refused))
        log_warn("replay request refused", "reason=\"%s\" refused_total=%llu", reason,
                 (unsigned long long)replay->refused);
}

/* rc: -EAGAIN, the peer's queue is full; -EHOSTUNREACH, it has gone. */
static void note_dropped(replay_t *replay, int rc)
{
    replay->dropped++;
    if (log_power_of_two(replay->dropped))
        log_warn("replay answer dropped", "reason=\"%s\" dropped_total=%llu",
                 rc == -EAGAIN ? "peer busy" : "peer gone", (unsigned long long)replay->dropped);
}

/* The reply to one decoded (or refused) request, into reply. */
static void answer(replay_t *replay, const zmq_msg_t *request, wire_replay_reply_t *reply)
{
    const history_t *h = &replay->history;
    *reply = (wire_replay_reply_t){replay->epoch, h->first_seq, h->last_seq, replay->answer, 0, ""};
    wire_replay_request_t req;
    if (wire_replay_request_decode(zmq_msg_data((zmq_msg_t *)request), zmq_msg_size(request), &req,
                                   reply->error, sizeof reply->error) != WIRE_OK) {
        note_refused(replay, reply->error);
        return;
    }
    if (req.vote)
        note_vote(replay, &req);
    if (req.epoch == replay->epoch)
        reply->count =
            history_range(h, req.from_seq, req.to_seq, replay->answer, WIRE_REPLAY_EVENTS_MAX);
}

/* Sends the envelope frames back. The first names the peer: with ROUTER_MANDATORY it
 * fails with -EAGAIN when the peer's queue is full and -EHOSTUNREACH when it has gone,
 * before anything is queued. Whether the queue is full is libzmq's count of answers the
 * network has not taken, which it updates only when the socket processes its commands:
 * a receive that finds a request waiting skips that, so a client that asked again the
 * moment it had its answer would find that answer still counted. Reading ZMQ_EVENTS
 * processes them first: the note that an answer was taken is posted before the client
 * can have it, so a client that waits for each answer is never refused. */
static int send_envelope(replay_t *replay, zmq_msg_t *frames, int envelope)
{
    int events;
    size_t size = sizeof events;
    if (zmq_getsockopt(replay->socket, ZMQ_EVENTS, &events, &size) < 0)
        return -zmq_errno();
    for (int i = 0; i < envelope; i++)
        if (zmq_msg_send(&frames[i], replay->socket, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            return -zmq_errno();
    return 0;
}

/* Sends the answer to request, the last frame of a message whose envelope is sent. */
static int send_answer(replay_t *replay, const zmq_msg_t *request)
{
    wire_replay_reply_t reply;
    answer(replay, request, &reply);
    uint8_t *bytes = NULL;
    size_t len = 0;
    /* Out of memory, the message still needs its last frame: an empty one. */
    int rc = wire_replay_reply_encode(&reply, &bytes, &len);
    if (zmq_send(replay->socket, bytes, rc == 0 ? len : 0, ZMQ_DONTWAIT) < 0 && rc == 0)
        rc = -zmq_errno();
    free(bytes);
    return rc;
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

/* Answers one request of count frames (or -errno from reading it). */
static int serve_frames(replay_t *replay, zmq_msg_t *frames, int count)
{
    if (count < 0)
        return count;
    if (count > ENVELOPE_MAX) {
        note_refused(replay, "more than 3 frames");
        return 0;
    }
    if (count < 2) /* a ROUTER always prepends the identity */
        return 0;
    int rc = send_envelope(replay, frames, count - 1);
    if (rc == -EAGAIN || rc == -EHOSTUNREACH) {
        note_dropped(replay, rc);
        return 0;
    }
    return rc < 0 ? rc : send_answer(replay, &frames[count - 1]);
}

static int serve_one(replay_t *replay)
{
    zmq_msg_t frames[ENVELOPE_MAX];
    for (int i = 0; i < ENVELOPE_MAX; i++)
        zmq_msg_init(&frames[i]);
    int rc = serve_frames(replay, frames, receive_request(replay->socket, frames));
    for (int i = 0; i < ENVELOPE_MAX; i++)
        zmq_msg_close(&frames[i]);
    return rc;
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
