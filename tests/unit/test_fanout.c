/* test_fanout.c -- parking streams with the fan-out writers, over real socket pairs: a wake
 * pumps every parked stream (the first parked first), a peer that closes ends its stream
 * at once, a full socket hands the stream back, and stopping the fan-out returns whatever
 * is still parked. */
#include "check.h"
#include "fanout.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    fanout_t *fanout;
    fanout_client_t client;
    int peer;
    _Atomic int pumps;
    _Atomic int pumped_at; /* the pump clock at its latest pump */
    int verdict;           /* what the pump returns after writing */
    _Atomic int result;    /* what fanout_park returned, -1 while parked */
    pthread_t worker;
} stream_t;

static _Atomic int pump_clock;

static int on_pump(void *ctx, char *scratch, size_t cap)
{
    stream_t *s = ctx;
    CHECK(scratch != NULL && cap == FANOUT_SCRATCH);
    atomic_store(&s->pumped_at, atomic_fetch_add(&pump_clock, 1) + 1);
    atomic_fetch_add(&s->pumps, 1);
    if (send(s->client.fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
        return -EPIPE;
    return s->verdict;
}

static void *worker_main(void *arg)
{
    stream_t *s = arg;
    atomic_store(&s->result, fanout_park(s->fanout, &s->client));
    return NULL;
}

static void stream_park(stream_t *s, fanout_t *f, int verdict)
{
    int sv[2];
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    *s = (stream_t){.fanout = f, .peer = sv[1], .verdict = verdict};
    s->client = (fanout_client_t){.fd = sv[0], .pump = on_pump, .ctx = s};
    atomic_store(&s->result, -1);
    CHECK_EQ_INT(pthread_create(&s->worker, NULL, worker_main, s), 0);
}

/* Joins the worker once fanout_park returned and closes both ends. */
static int stream_finish(stream_t *s)
{
    CHECK_EQ_INT(pthread_join(s->worker, NULL), 0);
    close(s->client.fd);
    close(s->peer);
    return atomic_load(&s->result);
}

static int wait_for(_Atomic int *value, int at_least)
{
    for (int i = 0; i < 2000 && atomic_load(value) < at_least; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    return atomic_load(value) >= at_least;
}

static void test_wake_pumps_every_parked_stream(void)
{
    char err[128];
    fanout_t *f = fanout_create(2, err, sizeof err);
    enum { N = 50 };
    static stream_t s[N];
    for (int i = 0; i < N; i++)
        stream_park(&s[i], f, 0);
    for (int i = 0; i < N; i++) /* each is pumped once on arrival */
        CHECK(wait_for(&s[i].pumps, 1));
    fanout_wake(f);
    for (int i = 0; i < N; i++) {
        CHECK(wait_for(&s[i].pumps, 2));
        char got[2];
        CHECK_EQ_INT(recv(s[i].peer, got, sizeof got, MSG_WAITALL), 2);
        CHECK_EQ_INT(atomic_load(&s[i].result), -1);
    }
    for (int i = 0; i < N; i++) /* the peer leaves: its stream ends without a wake */
        CHECK_EQ_INT(shutdown(s[i].peer, SHUT_RDWR), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(stream_finish(&s[i]), FANOUT_ENDED);
    fanout_destroy(f);
}

/* The streams connected first get each event first, whatever left in between: in a
 * storm of new streams the connected ones do not wait for the newcomers. */
static void test_wake_pumps_oldest_first(void)
{
    char err[128];
    fanout_t *f = fanout_create(1, err, sizeof err);
    enum { N = 40 };
    static stream_t s[N];
    for (int i = 0; i < N; i++) { /* one at a time, so they park in this order */
        stream_park(&s[i], f, 0);
        CHECK(wait_for(&s[i].pumps, 1));
    }
    for (int i = 1; i < N; i += 3) { /* some leave, leaving holes in the writer's list */
        CHECK_EQ_INT(shutdown(s[i].peer, SHUT_RDWR), 0);
        CHECK_EQ_INT(stream_finish(&s[i]), FANOUT_ENDED);
    }
    fanout_wake(f);
    int last = 0;
    for (int i = 0; i < N; i++) {
        if (i % 3 == 1)
            continue;
        CHECK(wait_for(&s[i].pumps, 2));
        CHECK(atomic_load(&s[i].pumped_at) > last);
        last = atomic_load(&s[i].pumped_at);
    }
    for (int i = 0; i < N; i++) {
        if (i % 3 == 1)
            continue;
        CHECK_EQ_INT(shutdown(s[i].peer, SHUT_RDWR), 0);
        CHECK_EQ_INT(stream_finish(&s[i]), FANOUT_ENDED);
    }
    fanout_destroy(f);
}

static void test_pump_verdicts(void)
{
    char err[128];
    fanout_t *f = fanout_create(1, err, sizeof err);
    stream_t full, ended;
    stream_park(&full, f, -EWOULDBLOCK);
    stream_park(&ended, f, -ESHUTDOWN);
    CHECK_EQ_INT(stream_finish(&full), FANOUT_RETURNED);
    CHECK_EQ_INT(stream_finish(&ended), FANOUT_ENDED);
    fanout_destroy(f);
}

static void test_destroy_returns_parked_streams(void)
{
    char err[128];
    fanout_t *f = fanout_create(1, err, sizeof err);
    stream_t s;
    stream_park(&s, f, 0);
    CHECK(wait_for(&s.pumps, 1));
    fanout_destroy(f);
    CHECK_EQ_INT(stream_finish(&s), FANOUT_RETURNED);
    CHECK(fanout_create(0, err, sizeof err) == NULL);
}

int main(void)
{
    test_wake_pumps_every_parked_stream();
    test_wake_pumps_oldest_first();
    test_pump_verdicts();
    test_destroy_returns_parked_streams();
    CHECK_DONE();
}
