/* backfill.c -- fetches for streams: one replay connection, a bounded FIFO of requests,
 * one thread that answers them in order. */
#include "backfill.h"

#include "clock.h"
#include "curve.h"
#include "log.h"
#include "replay_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One round trip on a LAN is a few ms (1,000 events are about 45 KB), so a full queue
 * (BACKFILL_QUEUE_MAX) drains within seconds; a request still waiting after QUEUE_WAIT_MS
 * is not fetched (its client is told `reset: too-old`). A fetch that takes
 * FETCH_TIMEOUT_MS holds the queue up that long once, then the socket is made anew (lazy
 * pirate). */
enum { QUEUE_WAIT_MS = 5000, FETCH_TIMEOUT_MS = 1000 };

struct backfill {
    backfill_deps_t deps;
    char secret_key[512];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    /* Under lock: */
    backfill_request_t *head, *tail; /* waiting, oldest first */
    size_t queued;
    backfill_request_t *current; /* being fetched; NULL once done or withdrawn */
    int stopping;
    /* The thread's own: */
    replay_client_t *client; /* NULL until the first request, and after a failed create */
    wire_number_t *fetched;  /* WIRE_REPLAY_EVENTS_MAX, each answer before it is copied */
};

static void *run(void *arg);

backfill_t *backfill_create(const backfill_deps_t *deps, char *err, size_t errlen)
{
    backfill_t *b = calloc(1, sizeof *b);
    if (b == NULL || (b->fetched = calloc(WIRE_REPLAY_EVENTS_MAX, sizeof *b->fetched)) == NULL) {
        snprintf(err, errlen, "out of memory for the backfill fetcher");
        free(b);
        return NULL;
    }
    b->deps = *deps;
    snprintf(b->secret_key, sizeof b->secret_key, "%s", deps->curve_secret_key_file);
    int rc = pthread_mutex_init(&b->lock, NULL);
    if (rc == 0 && (rc = pthread_cond_init(&b->wake, NULL)) != 0)
        pthread_mutex_destroy(&b->lock);
    if (rc == 0 && (rc = pthread_create(&b->thread, NULL, run, b)) != 0) {
        pthread_cond_destroy(&b->wake);
        pthread_mutex_destroy(&b->lock);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the backfill fetcher: %s", strerror(rc));
        free(b->fetched);
        free(b);
        return NULL;
    }
    return b;
}

/* Under lock: the request leaves the fetcher with result rc, counted as outcome. */
static void complete(backfill_t *b, backfill_request_t *req, int rc, metrics_backfill_t outcome)
{
    metrics_t *m = b->deps.metrics;
    metrics_add(&m->backfill_requests[outcome], 1);
    atomic_fetch_sub_explicit(&m->backfill_pending, 1, memory_order_relaxed);
    req->result = rc;
    req->on_done(req);
}

int backfill_submit(backfill_t *b, backfill_request_t *req)
{
    metrics_t *m = b->deps.metrics;
    pthread_mutex_lock(&b->lock);
    int rc = b->stopping ? -ESHUTDOWN : b->queued >= BACKFILL_QUEUE_MAX ? -EAGAIN : 0;
    if (rc == 0) {
        req->next = NULL;
        req->deadline_ms = clock_mono_ms() + QUEUE_WAIT_MS;
        if (b->tail)
            b->tail->next = req;
        else
            b->head = req;
        b->tail = req;
        b->queued++;
        metrics_add(&m->backfill_pending, 1);
        pthread_cond_signal(&b->wake);
    }
    pthread_mutex_unlock(&b->lock);
    if (rc < 0)
        metrics_add(&m->backfill_requests[BACKFILL_REFUSED], 1);
    return rc;
}

/* Under lock: takes req out of the queue. Returns whether it was there. */
static int unlink_queued(backfill_t *b, backfill_request_t *req)
{
    backfill_request_t *prev = NULL;
    for (backfill_request_t *at = b->head; at; prev = at, at = at->next) {
        if (at != req)
            continue;
        if (prev)
            prev->next = at->next;
        else
            b->head = at->next;
        if (b->tail == at)
            b->tail = prev;
        b->queued--;
        return 1;
    }
    return 0;
}

int backfill_cancel(backfill_t *b, backfill_request_t *req)
{
    pthread_mutex_lock(&b->lock);
    int withdrawn = unlink_queued(b, req);
    if (!withdrawn && b->current == req) {
        b->current = NULL; /* the thread drops the answer when it comes */
        withdrawn = 1;
    }
    if (withdrawn) {
        metrics_add(&b->deps.metrics->backfill_requests[BACKFILL_CANCELLED], 1);
        atomic_fetch_sub_explicit(&b->deps.metrics->backfill_pending, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&b->lock);
    return withdrawn ? 0 : -EALREADY;
}

void backfill_stop(backfill_t *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    b->stopping = 1;
    while (b->head) {
        backfill_request_t *req = b->head;
        (void)unlink_queued(b, req);
        complete(b, req, -ESHUTDOWN, BACKFILL_CANCELLED);
    }
    if (b->current) {
        complete(b, b->current, -ESHUTDOWN, BACKFILL_CANCELLED);
        b->current = NULL;
    }
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->lock);
}

void backfill_destroy(backfill_t *b)
{
    if (b == NULL)
        return;
    backfill_stop(b);
    pthread_join(b->thread, NULL);
    pthread_cond_destroy(&b->wake);
    pthread_mutex_destroy(&b->lock);
    replay_client_destroy(b->client);
    free(b->fetched);
    free(b);
}

/* The client for the replay socket where it is now: kept while the endpoint stays, made
 * anew when a restarted generator announced another. NULL while unknown or on failure. */
static replay_client_t *client_for_endpoint(backfill_t *b, char *err, size_t errlen)
{
    char endpoint[256], server_key[CURVE_PATH_MAX];
    int io_thread = -1;
    if (b->deps.endpoint(b->deps.endpoint_ctx, endpoint, sizeof endpoint, server_key,
                         sizeof server_key, &io_thread) < 0) {
        snprintf(err, errlen, "the replay endpoint is not known");
        return NULL;
    }
    if (b->client && strcmp(replay_client_endpoint(b->client), endpoint) == 0)
        return b->client;
    replay_client_destroy(b->client);
    b->client = replay_client_create(b->deps.zmq_context, endpoint, server_key, b->secret_key,
                                     io_thread, err, errlen);
    if (b->client)
        metrics_add(&b->deps.metrics->replay_connections[REPLAY_BY_BACKFILL], 1);
    return b->client;
}

/* One round trip for range, into reply (the thread's own array), or <0 with the reason
 * in why. Not under lock. */
static int fetch(backfill_t *b, const wire_replay_request_t *range, wire_replay_reply_t *reply,
                 char *why, size_t cap)
{
    replay_client_t *client = client_for_endpoint(b, why, cap);
    if (client == NULL)
        return -ENOTCONN;
    uint64_t opened = replay_client_opened(client);
    int rc = replay_client_fetch(client, range, reply, FETCH_TIMEOUT_MS);
    metrics_add(&b->deps.metrics->replay_connections[REPLAY_BY_BACKFILL],
                replay_client_opened(client) - opened);
    if (rc < 0)
        snprintf(why, cap, "%s", rc == -EPROTO && reply->error[0] ? reply->error : strerror(-rc));
    return rc;
}

/* Under lock: hands the answer to the request, unless it was withdrawn meanwhile. A
 * failure is logged the first time, then every power of two. */
static void deliver(backfill_t *b, backfill_request_t *req, int rc,
                    const wire_replay_reply_t *reply, const char *why)
{
    if (b->current != req)
        return;
    b->current = NULL;
    if (rc < 0) {
        complete(b, req, rc, BACKFILL_FAILED);
        uint64_t total = metrics_get(&b->deps.metrics->backfill_requests[BACKFILL_FAILED]);
        if (log_power_of_two(total))
            log_warn("backfill request failed", "error=\"%s\" total=%llu", why,
                     (unsigned long long)total);
        return;
    }
    req->reply = *reply;
    req->reply.events = req->events;
    memcpy(req->events, reply->events, reply->count * sizeof *reply->events);
    complete(b, req, 0, BACKFILL_ANSWERED);
}

/* Under lock: the oldest request, or NULL once stopping. Expired ones are answered on
 * the way, without a fetch. */
static backfill_request_t *next_request(backfill_t *b)
{
    for (;;) {
        while (!b->stopping && b->head == NULL)
            pthread_cond_wait(&b->wake, &b->lock);
        if (b->stopping)
            return NULL;
        backfill_request_t *req = b->head;
        (void)unlink_queued(b, req);
        if (clock_mono_ms() <= req->deadline_ms)
            return req;
        complete(b, req, -ETIME, BACKFILL_EXPIRED);
    }
}

static void *run(void *arg)
{
    backfill_t *b = arg;
    (void)pthread_setname_np(pthread_self(), "rn-backfill");
    wire_replay_reply_t reply = {.events = b->fetched};
    char why[256];
    pthread_mutex_lock(&b->lock);
    backfill_request_t *req;
    while ((req = next_request(b)) != NULL) {
        wire_replay_request_t range = req->range;
        b->current = req;
        pthread_mutex_unlock(&b->lock);
        int rc = fetch(b, &range, &reply, why, sizeof why);
        pthread_mutex_lock(&b->lock);
        deliver(b, req, rc, &reply, why);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}
