/* test_backfill.c -- the backfill fetcher's queue, without a generator: requests are
 * answered once each, in the order they came; a withdrawn one never is; past
 * BACKFILL_QUEUE_MAX they are refused; and stopping answers every queued request, and the
 * one being fetched, at once, so no waiting stream holds up the gateway's stop. The
 * fetcher is held mid-request by an endpoint lookup that blocks until the test lets go. */
#include "backfill.h"
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int holding; /* the lookup blocks while set */
    int lookups; /* lookups begun */
} gate_t;

static gate_t gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

/* The endpoint is never known: each request the fetcher gets to fails with -ENOTCONN. */
static int held_lookup(void *ctx, char *out, size_t cap, char *server_key, size_t key_cap,
                       int *io_thread)
{
    (void)ctx;
    (void)out;
    (void)cap;
    (void)server_key;
    (void)key_cap;
    (void)io_thread;
    pthread_mutex_lock(&gate.lock);
    gate.lookups++;
    pthread_cond_broadcast(&gate.changed);
    while (gate.holding)
        pthread_cond_wait(&gate.changed, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
    return -ENOENT;
}

static void gate_hold(void)
{
    pthread_mutex_lock(&gate.lock);
    gate.holding = 1;
    gate.lookups = 0;
    pthread_mutex_unlock(&gate.lock);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate.lock);
    gate.holding = 0;
    pthread_cond_broadcast(&gate.changed);
    pthread_mutex_unlock(&gate.lock);
}

/* Waits until the fetcher is inside its n-th lookup: the request before it is current. */
static void gate_wait_lookups(int n)
{
    pthread_mutex_lock(&gate.lock);
    while (gate.lookups < n)
        pthread_cond_wait(&gate.changed, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
}

static wire_number_t events[WIRE_REPLAY_EVENTS_MAX]; /* never written: no request is answered */
static _Atomic int done_order[8], done_count;

static void on_done(backfill_request_t *req)
{
    int i = atomic_fetch_add(&done_count, 1);
    if (i < 8)
        atomic_store(&done_order[i], (int)(intptr_t)req->ctx);
}

/* Waits, at most 10 s, until n requests were answered. */
static void wait_done(int n)
{
    time_t give_up = time(NULL) + 10;
    while (atomic_load(&done_count) < n && time(NULL) < give_up)
        sched_yield();
}

static backfill_request_t request(int tag)
{
    return (backfill_request_t){.range = {1, 1, 10, 0},
                                .events = events,
                                .on_done = on_done,
                                .ctx = (void *)(intptr_t)tag,
                                .result = 1};
}

static backfill_t *start(void *context, metrics_t *m)
{
    char err[256];
    backfill_deps_t deps = {context, held_lookup, NULL, "", m};
    backfill_t *b = backfill_create(&deps, err, sizeof err);
    CHECK(b != NULL);
    atomic_store(&done_count, 0);
    return b;
}

static void test_in_order_once_each_and_withdrawn_never(void *context)
{
    metrics_t m = {0};
    gate_hold();
    backfill_t *b = start(context, &m);
    backfill_request_t r[4] = {request(1), request(2), request(3), request(4)};
    CHECK_EQ_INT(backfill_submit(b, &r[0]), 0);
    gate_wait_lookups(1); /* r[0] is being fetched, the others queue behind it */
    for (int i = 1; i < 4; i++)
        CHECK_EQ_INT(backfill_submit(b, &r[i]), 0);
    CHECK_EQ_INT(backfill_cancel(b, &r[2]), 0);
    CHECK_EQ_INT(metrics_get(&m.backfill_pending), 3);
    gate_release();
    wait_done(3);
    backfill_destroy(b);
    CHECK_EQ_INT(atomic_load(&done_count), 3);
    CHECK_EQ_INT(atomic_load(&done_order[0]), 1);
    CHECK_EQ_INT(atomic_load(&done_order[1]), 2);
    CHECK_EQ_INT(atomic_load(&done_order[2]), 4);
    CHECK_EQ_INT(r[0].result, -ENOTCONN);
    CHECK_EQ_INT(r[2].result, 1); /* withdrawn: untouched */
    CHECK_EQ_INT(metrics_get(&m.backfill_requests[BACKFILL_FAILED]), 3);
    CHECK_EQ_INT(metrics_get(&m.backfill_requests[BACKFILL_CANCELLED]), 1);
    CHECK_EQ_INT(metrics_get(&m.backfill_pending), 0);
}

/* A full queue refuses; stopping answers all of it while a fetch is still in progress. */
static void test_full_queue_refuses_and_stop_answers_everything_at_once(void *context)
{
    static backfill_request_t r[BACKFILL_QUEUE_MAX + 2];
    metrics_t m = {0};
    gate_hold();
    backfill_t *b = start(context, &m);
    r[0] = request(0);
    CHECK_EQ_INT(backfill_submit(b, &r[0]), 0);
    gate_wait_lookups(1);
    for (int i = 1; i <= BACKFILL_QUEUE_MAX; i++) {
        r[i] = request(i);
        CHECK_EQ_INT(backfill_submit(b, &r[i]), 0);
    }
    r[BACKFILL_QUEUE_MAX + 1] = request(-1);
    CHECK_EQ_INT(backfill_submit(b, &r[BACKFILL_QUEUE_MAX + 1]), -EAGAIN);
    CHECK_EQ_INT(metrics_get(&m.backfill_requests[BACKFILL_REFUSED]), 1);
    backfill_stop(b); /* the fetcher is still inside r[0]'s lookup */
    CHECK_EQ_INT(atomic_load(&done_count), BACKFILL_QUEUE_MAX + 1);
    CHECK_EQ_INT(r[0].result, -ESHUTDOWN);
    CHECK_EQ_INT(r[BACKFILL_QUEUE_MAX].result, -ESHUTDOWN);
    CHECK_EQ_INT(backfill_cancel(b, &r[0]), -EALREADY);
    CHECK_EQ_INT(backfill_submit(b, &r[BACKFILL_QUEUE_MAX + 1]), -ESHUTDOWN);
    CHECK_EQ_INT(metrics_get(&m.backfill_requests[BACKFILL_CANCELLED]), BACKFILL_QUEUE_MAX + 1);
    CHECK_EQ_INT(metrics_get(&m.backfill_pending), 0);
    gate_release();
    backfill_destroy(b);
    CHECK_EQ_INT(atomic_load(&done_count), BACKFILL_QUEUE_MAX + 1); /* r[0]'s late failure
                                                                       is dropped */
}

int main(void)
{
    void *context = zmq_ctx_new();
    CHECK(context != NULL);
    test_in_order_once_each_and_withdrawn_never(context);
    test_full_queue_refuses_and_stop_answers_everything_at_once(context);
    zmq_ctx_term(context);
    CHECK_DONE();
}
