/* test_fanout.c -- the writers own streams, over real socket pairs: a wake pumps every
 * stream (the first adopted first), a peer that closes ends its stream at once, a full
 * socket is pumped again when the peer makes room, a kick pumps one stream (and frees one
 * released meanwhile), a writer's ticks pump only its streams with a deadline and its
 * sweeps all of them when no event did, and stopping the fan-out releases whatever it
 * still holds. */
#include "check.h"
#include "fanout.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    fanout_client_t client;
    int peer;
    _Atomic int pumps;
    _Atomic int pumped_at; /* the pump clock at its latest pump */
    _Atomic int verdict;   /* what the pump returns after writing */
    _Atomic int released, kicks, freed;
    int keep_after_release; /* a kick is on its way: the memory must stay */
    size_t write;           /* bytes each pump writes */
} stream_t;

static _Atomic int pump_clock;

static int on_pump(fanout_client_t *c, char *scratch, size_t cap)
{
    stream_t *s = (stream_t *)c;
    CHECK(scratch != NULL && cap == FANOUT_SCRATCH);
    atomic_store(&s->pumped_at, atomic_fetch_add(&pump_clock, 1) + 1);
    atomic_fetch_add(&s->pumps, 1);
    static const char bytes[FANOUT_SCRATCH];
    size_t want = s->write ? s->write : 1;
    ssize_t n = send(c->fd, bytes, want, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN)
        return -EPIPE;
    return n == (ssize_t)want ? atomic_load(&s->verdict) : -EWOULDBLOCK;
}

static void on_release(fanout_client_t *c)
{
    stream_t *s = (stream_t *)c;
    close(c->fd);
    atomic_store(&s->released, 1);
    if (!s->keep_after_release)
        atomic_store(&s->freed, 1);
}

static int on_kicked(fanout_client_t *c)
{
    stream_t *s = (stream_t *)c;
    atomic_fetch_add(&s->kicks, 1);
    if (!atomic_load(&s->released))
        return 1;
    atomic_store(&s->freed, 1);
    return 0;
}

static void stream_adopt(stream_t *s, fanout_t *f, int verdict)
{
    int sv[2];
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    *s = (stream_t){.peer = sv[1]};
    atomic_store(&s->verdict, verdict);
    s->client =
        (fanout_client_t){.fd = sv[0], .pump = on_pump, .release = on_release, .kicked = on_kicked};
    CHECK_EQ_INT(fanout_adopt(f, &s->client), 0);
}

enum { NEVER_MS = 600000 }; /* a period no test lasts */

static fanout_t *fanout_start(int writers, long tick_ms, long sweep_ms)
{
    char err[128];
    fanout_config_t cfg = {.writers = writers, .tick_ms = tick_ms, .sweep_ms = sweep_ms};
    fanout_t *f = fanout_create(&cfg, err, sizeof err);
    CHECK(f != NULL);
    return f;
}

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, ms % 1000 * 1000000}, NULL);
}

static int wait_for(_Atomic int *value, int at_least)
{
    for (int i = 0; i < 2000 && atomic_load(value) < at_least; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    return atomic_load(value) >= at_least;
}

static void peer_leaves(stream_t *s)
{
    CHECK_EQ_INT(shutdown(s->peer, SHUT_RDWR), 0);
    CHECK(wait_for(&s->freed, 1));
    close(s->peer);
}

static void test_wake_pumps_every_stream(void)
{
    fanout_t *f = fanout_start(2, NEVER_MS, NEVER_MS);
    enum { N = 50 };
    static stream_t s[N];
    for (int i = 0; i < N; i++)
        stream_adopt(&s[i], f, 0);
    for (int i = 0; i < N; i++) /* each is pumped once on arrival */
        CHECK(wait_for(&s[i].pumps, 1));
    CHECK_EQ_INT(fanout_streams(f), N);
    fanout_wake(f);
    for (int i = 0; i < N; i++) {
        CHECK(wait_for(&s[i].pumps, 2));
        char got[2];
        CHECK_EQ_INT(recv(s[i].peer, got, sizeof got, MSG_WAITALL), 2);
        CHECK_EQ_INT(atomic_load(&s[i].released), 0);
    }
    for (int i = 0; i < N; i++) /* the peer leaves: its stream ends without a wake */
        peer_leaves(&s[i]);
    CHECK_EQ_INT(fanout_streams(f), 0);
    fanout_destroy(f);
}

/* The streams adopted first get each event first, whatever left in between: in a storm of
 * new streams the connected ones do not wait for the newcomers. */
static void test_wake_pumps_oldest_first(void)
{
    fanout_t *f = fanout_start(1, NEVER_MS, NEVER_MS);
    enum { N = 40 };
    static stream_t s[N];
    for (int i = 0; i < N; i++) { /* one at a time, so they arrive in this order */
        stream_adopt(&s[i], f, 0);
        CHECK(wait_for(&s[i].pumps, 1));
    }
    for (int i = 1; i < N; i += 3) /* some leave, leaving holes in the writer's list */
        peer_leaves(&s[i]);
    fanout_wake(f);
    int last = 0;
    for (int i = 0; i < N; i++) {
        if (i % 3 == 1)
            continue;
        CHECK(wait_for(&s[i].pumps, 2));
        CHECK(atomic_load(&s[i].pumped_at) > last);
        last = atomic_load(&s[i].pumped_at);
    }
    for (int i = 0; i < N; i++)
        if (i % 3 != 1)
            peer_leaves(&s[i]);
    fanout_destroy(f);
}

/* A pump that ends its stream releases it; one whose socket is full is pumped again once
 * the peer reads, without a wake. */
static void test_pump_verdicts(void)
{
    fanout_t *f = fanout_start(1, NEVER_MS, NEVER_MS);
    stream_t full, ended;
    stream_adopt(&ended, f, -ESHUTDOWN);
    CHECK(wait_for(&ended.freed, 1));
    close(ended.peer);
    int sv[2];
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    CHECK_EQ_INT(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    full = (stream_t){.peer = sv[1], .write = FANOUT_SCRATCH};
    full.client =
        (fanout_client_t){.fd = sv[0], .pump = on_pump, .release = on_release, .kicked = on_kicked};
    CHECK_EQ_INT(fanout_adopt(f, &full.client), 0);
    CHECK(wait_for(&full.pumps, 1));
    nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
    int before = atomic_load(&full.pumps);
    char sink[FANOUT_SCRATCH];
    for (int i = 0; i < 8; i++) /* room: the writer pumps it by itself */
        CHECK(recv(full.peer, sink, sizeof sink, MSG_DONTWAIT) > 0 || errno == EAGAIN);
    CHECK(wait_for(&full.pumps, before + 1));
    peer_leaves(&full);
    fanout_destroy(f);
}

static void test_kicks(void)
{
    fanout_t *f = fanout_start(1, NEVER_MS, NEVER_MS);
    stream_t s;
    stream_adopt(&s, f, 0);
    CHECK(wait_for(&s.pumps, 1));
    fanout_kick(&s.client); /* a live stream: kicked, then pumped */
    CHECK(wait_for(&s.kicks, 1));
    CHECK(wait_for(&s.pumps, 2));
    s.keep_after_release = 1; /* as if a fetch were still out */
    CHECK_EQ_INT(shutdown(s.peer, SHUT_RDWR), 0);
    CHECK(wait_for(&s.released, 1));
    CHECK_EQ_INT(atomic_load(&s.freed), 0);
    fanout_kick(&s.client); /* the fetch comes back: now it frees itself */
    CHECK(wait_for(&s.freed, 1));
    CHECK_EQ_INT(atomic_load(&s.pumps), 2);
    close(s.peer);
    fanout_destroy(f);
}

/* A writer ticks the streams whose pump said they have a deadline, and only them; an
 * idle stream is pumped by events and sweeps alone. */
static void test_ticks_pump_only_timed_streams(void)
{
    fanout_t *f = fanout_start(1, 20, NEVER_MS);
    stream_t idle, timed;
    stream_adopt(&idle, f, FANOUT_IDLE);
    stream_adopt(&timed, f, FANOUT_TIMED);
    CHECK(wait_for(&timed.pumps, 4));
    CHECK_EQ_INT(atomic_load(&idle.pumps), 1);
    atomic_store(&timed.verdict, FANOUT_IDLE); /* its deadline passed: off the tick list */
    sleep_ms(60);
    int pumps = atomic_load(&timed.pumps);
    sleep_ms(100); /* five ticks' time: no tick now */
    CHECK_EQ_INT(atomic_load(&timed.pumps), pumps);
    fanout_wake(f);
    CHECK(wait_for(&idle.pumps, 2) && wait_for(&timed.pumps, pumps + 1));
    peer_leaves(&idle);
    peer_leaves(&timed);
    fanout_destroy(f);
}

/* Without events a writer sweeps all its streams (their heartbeats are due), on its own
 * clock: nothing outside wakes it. */
static void test_sweeps_pump_every_stream_without_events(void)
{
    fanout_t *f = fanout_start(2, 20, 50);
    enum { N = 4 };
    stream_t s[N];
    for (int i = 0; i < N; i++)
        stream_adopt(&s[i], f, FANOUT_IDLE);
    for (int i = 0; i < N; i++)
        CHECK(wait_for(&s[i].pumps, 4));
    for (int i = 0; i < N; i++)
        peer_leaves(&s[i]);
    fanout_destroy(f);
}

/* A small fan-out stays on one writer (an event wakes one thread, not all); a fast stream
 * spreads its streams over the writers from its first few on. */
static void test_streams_fill_one_writer_unless_events_are_fast(void)
{
    fanout_t *f = fanout_start(2, NEVER_MS, NEVER_MS);
    enum { N = 8 };
    stream_t slow[N], fast[N];
    for (int i = 0; i < N; i++)
        stream_adopt(&slow[i], f, FANOUT_IDLE);
    for (int i = 1; i < N; i++)
        CHECK(slow[i].client.writer == slow[0].client.writer);
    /* A second and a bit of wake-ups at millions a second: the rate says every writer is
     * full at one stream. */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < 1000; i++)
            fanout_wake(f);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 1100);
    fanout_wake(f);
    int on_first = 0;
    for (int i = 0; i < N; i++) {
        stream_adopt(&fast[i], f, FANOUT_IDLE);
        on_first += fast[i].client.writer == slow[0].client.writer;
    }
    CHECK_EQ_INT(on_first, 0); /* the other writer had the fewest until it had N */
    for (int i = 0; i < N; i++) {
        peer_leaves(&slow[i]);
        peer_leaves(&fast[i]);
    }
    fanout_destroy(f);
}

static void test_destroy_releases_every_stream(void)
{
    fanout_t *f = fanout_start(1, NEVER_MS, NEVER_MS);
    stream_t s;
    stream_adopt(&s, f, 0);
    CHECK(wait_for(&s.pumps, 1));
    fanout_destroy(f);
    CHECK_EQ_INT(atomic_load(&s.freed), 1);
    close(s.peer);
    char err[128];
    fanout_config_t none = {.writers = 0, .tick_ms = 1, .sweep_ms = 1};
    CHECK(fanout_create(&none, err, sizeof err) == NULL);
    fanout_config_t untimed = {.writers = 1, .tick_ms = 0, .sweep_ms = 1};
    CHECK(fanout_create(&untimed, err, sizeof err) == NULL);
}

int main(void)
{
    test_wake_pumps_every_stream();
    test_wake_pumps_oldest_first();
    test_pump_verdicts();
    test_kicks();
    test_ticks_pump_only_timed_streams();
    test_sweeps_pump_every_stream_without_events();
    test_streams_fill_one_writer_unless_events_are_fast();
    test_destroy_releases_every_stream();
    CHECK_DONE();
}
