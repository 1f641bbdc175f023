/* catchup.c -- monitor --replay-from: the replay socket's answers first, then the live
 * events, ordered and deduplicated by seq within the epoch. */
#include "catchup.h"

#include "event_id.h"
#include "replay_client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request waits REQUEST_TIMEOUT_MS for its answer and is sent up to ATTEMPTS times, so
 * one fetch holds up the live stream (which ZeroMQ queues meanwhile) 6 s at worst. */
enum { REQUEST_TIMEOUT_MS = 2000, ATTEMPTS = 3 };

/* Live events kept while the first replay is not answered yet. Past this they are
 * dropped and fetched again as a gap, so the bound costs a request, not an event. */
enum { PENDING_MAX = 65536 };

struct catchup {
    catchup_config_t cfg;
    void *context;
    replay_client_t *client; /* NULL until the endpoint is known, or when there is none */
    int followed;            /* a heartbeat has said where the replay socket is */
    char endpoint[256];      /* where it said ("": nowhere) */
    int started;             /* the first replay is done, or known to be impossible */
    uint64_t epoch, last;    /* the last event emitted (at first: the --replay-from one) */
    wire_number_t *pending;  /* live events that came before the first replay */
    size_t npending, cap;
    wire_number_t *answer; /* WIRE_REPLAY_EVENTS_MAX, reused by every fetch */
    catchup_emit_fn emit;
    void *arg;
};

int catchup_parse_position(const char *text, uint64_t *epoch, uint64_t *seq, char *err,
                           size_t errlen)
{
    /* Epoch 0 is no generator's, and the first event wanted is seq + 1. */
    if (event_id_parse(text, strlen(text), epoch, seq) < 0 || *epoch == 0 || *seq == UINT64_MAX) {
        snprintf(err, errlen, "'%s' is not EPOCH-SEQ (an event id such as 1700000000000-42)", text);
        return -EINVAL;
    }
    return 0;
}

catchup_t *catchup_create(void *zmq_context, const catchup_config_t *cfg, catchup_emit_fn emit,
                          void *arg)
{
    catchup_t *c = calloc(1, sizeof *c);
    if (c == NULL || (c->answer = calloc(WIRE_REPLAY_EVENTS_MAX, sizeof *c->answer)) == NULL) {
        free(c);
        return NULL;
    }
    c->cfg = *cfg;
    c->context = zmq_context;
    c->epoch = cfg->epoch;
    c->last = cfg->after_seq;
    c->emit = emit;
    c->arg = arg;
    return c;
}

void catchup_destroy(catchup_t *c)
{
    if (c == NULL)
        return;
    replay_client_destroy(c->client);
    free(c->pending);
    free(c->answer);
    free(c);
}

/* "6..20", or "6.." for every event from 6 on. */
static const char *range_text(const wire_replay_request_t *req, char *buf, size_t cap)
{
    if (req->to_seq == UINT64_MAX)
        snprintf(buf, cap, "%" PRIu64 "..", req->from_seq);
    else
        snprintf(buf, cap, "%" PRIu64 "..%" PRIu64, req->from_seq, req->to_seq);
    return buf;
}

/* One request, sent again after a timeout: the generator may be busy or restarting. */
static int fetch(catchup_t *c, const wire_replay_request_t *req, wire_replay_reply_t *reply)
{
    int rc = -ETIMEDOUT;
    for (int i = 0; i < ATTEMPTS && rc == -ETIMEDOUT; i++) {
        reply->error[0] = '\0';
        rc = replay_client_fetch(c->client, req, reply, REQUEST_TIMEOUT_MS);
    }
    if (rc < 0) {
        char range[48];
        const char *why = rc == -EPROTO ? "bad answer" : strerror(-rc);
        fprintf(stderr,
                "replay: seq %s of epoch %" PRIu64 " from %s failed: %s; going on with live "
                "events\n",
                range_text(req, range, sizeof range), req->epoch, replay_client_endpoint(c->client),
                reply->error[0] ? reply->error : why);
    }
    return rc;
}

/* Emits the events of an answer that were asked for and not emitted yet: the answer
 * comes from the network, so it is checked rather than trusted. */
static int emit_answer(catchup_t *c, const wire_replay_reply_t *reply, uint64_t to)
{
    for (size_t i = 0; i < reply->count; i++) {
        const wire_number_t *ev = &reply->events[i];
        if (ev->seq <= c->last || ev->seq > to)
            continue;
        c->last = ev->seq;
        if (c->emit(c->arg, ev))
            return 1;
    }
    return 0;
}

/* Emits the held events of c->epoch after c->last up to seq `to`, asking again from the
 * next seq, since one answer holds at most WIRE_REPLAY_EVENTS_MAX events. */
static int replay_range(catchup_t *c, uint64_t to)
{
    while (c->last < to) {
        wire_replay_request_t req = {c->epoch, c->last + 1, to, 0};
        wire_replay_reply_t reply = {.events = c->answer};
        if (fetch(c, &req, &reply) < 0)
            return 0;
        if (reply.epoch != c->epoch) {
            fprintf(stderr,
                    "replay: epoch %" PRIu64 " is gone (generator is at epoch %" PRIu64 ")\n",
                    c->epoch, reply.epoch);
            return 0;
        }
        if (reply.count == 0)
            return 0;
        if (reply.events[0].seq > req.from_seq)
            fprintf(stderr,
                    "replay: seq %" PRIu64 "..%" PRIu64 " no longer held (oldest is %" PRIu64 ")\n",
                    req.from_seq, reply.events[0].seq - 1, reply.first_seq);
        uint64_t before = c->last;
        int rc = emit_answer(c, &reply, to);
        if (rc != 0 || c->last == before || c->last >= reply.last_seq)
            return rc;
    }
    return 0;
}

/* One live event once the first replay is done: dropped if emitted already, after the
 * events it jumped over if the replay socket still holds them. */
static int deliver(catchup_t *c, const wire_number_t *ev)
{
    if (ev->epoch == c->epoch && ev->seq <= c->last)
        return 0;
    if (ev->epoch == c->epoch && ev->seq > c->last + 1 && c->client) {
        int rc = replay_range(c, ev->seq - 1);
        if (rc != 0)
            return rc;
    }
    c->epoch = ev->epoch; /* another epoch starts at its first live event */
    c->last = ev->seq;
    return c->emit(c->arg, ev);
}

static void hold(catchup_t *c, const wire_number_t *ev)
{
    if (c->npending == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        wire_number_t *grown = cap <= PENDING_MAX ? realloc(c->pending, cap * sizeof *grown) : NULL;
        if (grown == NULL)
            return; /* fetched later as a gap */
        c->pending = grown;
        c->cap = cap;
    }
    c->pending[c->npending++] = *ev;
}

/* Points the replay client at endpoint, or at nothing when it is NULL. */
static void connect_replay(catchup_t *c, const char *endpoint, const char *server_key,
                           int io_thread)
{
    char err[512];
    replay_client_destroy(c->client);
    c->client = NULL;
    if (endpoint && (c->client = replay_client_create(c->context, endpoint, server_key,
                                                      c->cfg.curve_secret_key_file, io_thread, err,
                                                      sizeof err)) == NULL)
        fprintf(stderr, "replay: %s; going on with live events\n", err);
}

/* Follows the replay socket the active source's heartbeats announce, unless
 * --replay-connect fixed the endpoint: a restarted generator may have bound another port,
 * and a pair's new active is another host. */
static void follow(catchup_t *c, const catchup_source_t *from, uint32_t port)
{
    char endpoint[sizeof c->endpoint] = "";
    if (c->cfg.replay_connect[0])
        return;
    int found =
        port != 0 && replay_endpoint_from_bus(from->bus, port, endpoint, sizeof endpoint) == 0;
    if (c->followed && strcmp(endpoint, c->endpoint) == 0)
        return;
    c->followed = 1;
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    if (found) {
        connect_replay(c, endpoint, from->curve_server_key_file, from->io_thread);
        return;
    }
    if (port == 0)
        fprintf(stderr, "replay: the generator has no replay socket (replay_port 0)\n");
    else
        fprintf(stderr,
                "replay: '%s' is no tcp:// endpoint to find the replay socket by; give "
                "--replay-connect\n",
                from->bus);
    connect_replay(c, NULL, NULL, -1);
}

/* The first replay, then the live events that waited for it. */
static int begin(catchup_t *c)
{
    c->started = 1;
    int rc = c->client ? replay_range(c, UINT64_MAX) : 0;
    for (size_t i = 0; i < c->npending && rc == 0; i++)
        rc = deliver(c, &c->pending[i]);
    free(c->pending);
    c->pending = NULL;
    c->npending = c->cap = 0;
    return rc;
}

int catchup_start(catchup_t *c)
{
    if (c->cfg.replay_connect[0] == '\0')
        return 0; /* the first heartbeat will say where */
    connect_replay(c, c->cfg.replay_connect, c->cfg.curve_server_key_file, -1);
    return begin(c);
}

int catchup_heartbeat(catchup_t *c, const wire_heartbeat_t *hb, const catchup_source_t *from)
{
    follow(c, from, hb->replay_port);
    return c->started ? 0 : begin(c);
}

int catchup_event(catchup_t *c, const wire_number_t *ev)
{
    if (c->started)
        return deliver(c, ev);
    hold(c, ev);
    return 0;
}
