/* backfill.c -- the fetcher thread: one replay client for every stream; see backfill.h. */
#include "backfill.h"

#include "clock.h"
#include "log.h"
#include "replay_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    BACKFILL_QUEUE_MAX = 1024,    /* fetches waiting; past it a stream is told too-old */
    BACKFILL_TIMEOUT_MS = 2000,   /* one answer */
    BACKFILL_QUEUED_MAX_MS = 5000 /* a fetch that waited this long is not asked any more */
};

struct backfill {
    hub_t *hub;
    void *zmq_context;
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;                  /* under lock */
    backfill_fetch_t *head, *tail; /* under lock: oldest first */
    long queued;                   /* under lock */
    replay_client_t *client;       /* the thread's own: made when first needed */
    char endpoint[256];            /* the client's */
};

static backfill_fetch_t *take(backfill_t *b, int64_t *queued_ms)
{
    pthread_mutex_lock(&b->lock);
    while (b->head == NULL && !b->stopping)
        pthread_cond_wait(&b->wake, &b->lock);
    backfill_fetch_t *f = b->head;
    if (f != NULL) {
        b->head = f->next;
        if (b->head == NULL)
            b->tail = NULL;
        b->queued--;
        *queued_ms = f->queued_ms;
    }
    pthread_mutex_unlock(&b->lock);
    return f;
}

/* The replay client for the endpoint the heartbeats announce now (a restarted generator
 * may announce another): one connection, kept. */
static replay_client_t *client_for_now(backfill_t *b)
{
    char endpoint[sizeof b->endpoint], err[256];
    if (hub_replay_endpoint(b->hub, endpoint, sizeof endpoint) < 0)
        return NULL;
    if (b->client != NULL && strcmp(endpoint, b->endpoint) == 0)
        return b->client;
    replay_client_destroy(b->client);
    const gateway_config_t *cfg = b->hub->cfg;
    b->client = replay_client_create(b->zmq_context, endpoint, cfg->curve_server_key_file,
                                     cfg->curve_secret_key_file, err, sizeof err);
    if (b->client == NULL) {
        log_warn("backfill: no replay client", "error=\"%s\"", err);
        return NULL;
    }
    snprintf(b->endpoint, sizeof b->endpoint, "%s", endpoint);
    metrics_add(&b->hub->metrics.replay_connections, 1);
    return b->client;
}

static void answer(backfill_t *b, backfill_fetch_t *f, int64_t queued_ms)
{
    if (clock_mono_ms() - queued_ms > BACKFILL_QUEUED_MAX_MS) {
        f->rc = -ETIMEDOUT;
        return;
    }
    replay_client_t *client = client_for_now(b);
    f->rc = client ? replay_client_fetch(client, &f->req, &f->reply, BACKFILL_TIMEOUT_MS) : -ENOENT;
    metrics_add(f->rc == 0 ? &b->hub->metrics.backfill_answered : &b->hub->metrics.replay_failures,
                1);
}

static void *fetcher_main(void *arg)
{
    backfill_t *b = arg;
    backfill_fetch_t *f;
    int64_t queued_ms = 0;
    while ((f = take(b, &queued_ms)) != NULL) {
        answer(b, f, queued_ms);
        f->done(f);
    }
    replay_client_destroy(b->client);
    b->client = NULL;
    return NULL;
}

backfill_t *backfill_create(hub_t *hub, void *zmq_context, char *err, size_t errlen)
{
    backfill_t *b = calloc(1, sizeof *b);
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->hub = hub;
    b->zmq_context = zmq_context;
    if (pthread_mutex_init(&b->lock, NULL) != 0 || pthread_cond_init(&b->wake, NULL) != 0 ||
        pthread_create(&b->thread, NULL, fetcher_main, b) != 0) {
        snprintf(err, errlen, "cannot start the backfill thread");
        free(b);
        return NULL;
    }
    return b;
}

void backfill_destroy(backfill_t *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    b->stopping = 1;
    backfill_fetch_t *f = b->head;
    b->head = b->tail = NULL;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->lock);
    for (backfill_fetch_t *next; f != NULL; f = next) {
        next = f->next;
        f->rc = -ESHUTDOWN;
        f->done(f);
    }
    pthread_join(b->thread, NULL);
    pthread_cond_destroy(&b->wake);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

int backfill_submit(backfill_t *b, backfill_fetch_t *f)
{
    f->next = NULL;
    f->queued_ms = clock_mono_ms();
    pthread_mutex_lock(&b->lock);
    int rc = b->stopping ? -ESHUTDOWN : b->queued >= BACKFILL_QUEUE_MAX ? -EBUSY : 0;
    if (rc == 0) {
        if (b->tail != NULL)
            b->tail->next = f;
        else
            b->head = f;
        b->tail = f;
        b->queued++;
        pthread_cond_signal(&b->wake);
    }
    pthread_mutex_unlock(&b->lock);
    if (rc == -EBUSY)
        metrics_add(&b->hub->metrics.backfill_refused, 1);
    return rc;
}
