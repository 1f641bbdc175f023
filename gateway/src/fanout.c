/* fanout.c -- writer threads, each an epoll loop over the streams it owns. The epoll set
 * holds an eventfd (wake-ups: new events, arrivals, kicks, stop) and each stream's socket,
 * watched for the peer closing it and, while the stream owes bytes, for room. A writer's
 * own timeout is its clock: it sleeps until its next tick only while a stream of its has a
 * deadline, and until its next sweep only while it has streams and no event pumped them
 * since, so a writer between events costs no wake-up at all. */
#include "fanout.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum { EVENTS_PER_WAIT = 256 };

#define RELEASED ((size_t)-1) /* a client's slot once its writer let it go */

typedef struct writer {
    pthread_t thread;
    int started;
    int epoll_fd, event_fd;
    _Atomic int woken, stop; /* woken: events were released since the last pump */
    long tick_ms, sweep_ms;
    int64_t next_tick_ms, next_sweep_ms;
    _Atomic long streams;
    pthread_mutex_t lock;
    int closed;                /* under lock: adoptions are refused */
    fanout_client_t *arrivals; /* under lock */
    fanout_client_t *kicks;    /* under lock */
    fanout_client_t *released; /* released in this turn of the loop, freed at its end */
    fanout_client_t **clients; /* the writer thread's own from here on */
    size_t count, cap;
    fanout_client_t **timed; /* the clients pumped at every tick */
    size_t n_timed, timed_cap;
    char scratch[FANOUT_SCRATCH];
} writer_t;

/* Where new streams go. An event costs each writer that holds streams a wake-up, so a
 * small fan-out is cheapest on one writer; a large one, or a fast stream, is spread, so
 * that no writer holds more than FILL_STREAMS (its pass over an event's sends stays near
 * 2 ms: at 1,024 a connected client's p99 doubled during a storm of new ones) or makes
 * more than FILL_SENDS_PER_S sends a second (it keeps most of its core free).
 * A writer takes new streams until it is full, then the next; when all are full, the one
 * with the fewest. The event rate is what the wakes of the last RATE_WINDOW_MS were. */
enum { FILL_STREAMS = 256, FILL_SENDS_PER_S = 50000, RATE_WINDOW_MS = 1000 };

struct fanout {
    writer_t *writers;
    int count;
    _Atomic long wakes_per_s;  /* in the last full window */
    _Atomic long window_wakes; /* in the current one */
    _Atomic int64_t window_start_ms;
};

static void writer_signal(writer_t *w)
{
    /* Fails only with 2^64-2 wake-ups unread, when the writer is signalled already. */
    (void)eventfd_write(w->event_fd, 1);
}

static int watch(writer_t *w, fanout_client_t *c, int op, int for_room)
{
    struct epoll_event ev = {.events = EPOLLRDHUP | (for_room ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(w->epoll_fd, op, c->fd, &ev) < 0)
        return -errno;
    c->waits_for_room = for_room;
    return 0;
}

#define UNTIMED ((size_t)-1) /* a client's timed_slot when it is not on the timed list */

static void untime(writer_t *w, fanout_client_t *c)
{
    if (c->timed_slot == UNTIMED)
        return;
    fanout_client_t *last = w->timed[--w->n_timed];
    w->timed[c->timed_slot] = last;
    last->timed_slot = c->timed_slot;
    c->timed_slot = UNTIMED;
}

enum { LIST_FIRST_CAP = 64 }; /* clients: a few reallocations for thousands */

/* Doubles a writer's list of clients; 0 or -ENOMEM, the list unchanged. */
static int grow_list(fanout_client_t ***list, size_t *cap)
{
    size_t grown_cap = *cap ? 2 * *cap : LIST_FIRST_CAP;
    fanout_client_t **grown = realloc(*list, grown_cap * sizeof *grown);
    if (grown == NULL)
        return -ENOMEM;
    *list = grown;
    *cap = grown_cap;
    return 0;
}

/* Puts c on the timed list; 0 or -ENOMEM (then it is pumped only by wakes). */
static int time_it(writer_t *w, fanout_client_t *c)
{
    if (c->timed_slot != UNTIMED)
        return 0;
    if (w->n_timed == w->timed_cap && grow_list(&w->timed, &w->timed_cap) < 0)
        return -ENOMEM;
    c->timed_slot = w->n_timed;
    w->timed[w->n_timed++] = c;
    return 0;
}

/* Leaves a hole in the list, which the next pump closes: the list keeps its order. The
 * stream's own release waits for the end of this turn of the loop: an event later in the
 * batch epoll returned may still name it, and must find it, marked, not freed. */
static void release(writer_t *w, fanout_client_t *c)
{
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
        log_error("fan-out cannot unwatch a stream", "fd=%d error=\"%s\"", c->fd, strerror(errno));
    w->clients[c->slot] = NULL;
    c->slot = RELEASED;
    untime(w, c);
    c->next = w->released;
    w->released = c;
}

static void free_released(writer_t *w)
{
    while (w->released != NULL) {
        fanout_client_t *c = w->released;
        w->released = c->next;
        atomic_fetch_sub_explicit(&w->streams, 1, memory_order_relaxed);
        c->release(c);
    }
}

/* 1 when the stream stays with this writer. */
static int pump_one(writer_t *w, fanout_client_t *c)
{
    int rc = c->pump(c, w->scratch, sizeof w->scratch);
    if (rc < 0 && rc != -EWOULDBLOCK) {
        release(w, c);
        return 0;
    }
    int for_room = rc == -EWOULDBLOCK;
    if (for_room != c->waits_for_room && watch(w, c, EPOLL_CTL_MOD, for_room) < 0) {
        log_error("fan-out cannot watch a stream", "fd=%d error=\"%s\"", c->fd, strerror(errno));
        release(w, c);
        return 0;
    }
    if (rc == FANOUT_IDLE)
        untime(w, c);
    else if (time_it(w, c) < 0)
        log_warn("fan-out cannot time a stream", "fd=%d", c->fd);
    return 1;
}

/* The timed streams only; a pump may take a stream off the list, so it is walked from
 * the end, where a removal moves nothing not yet visited. */
static void pump_timed(writer_t *w)
{
    for (size_t i = w->n_timed; i-- > 0;)
        if (i < w->n_timed)
            pump_one(w, w->timed[i]);
}

/* Oldest first, so the streams already connected get each event before those arriving in
 * a storm of new ones; closes the holes as it goes (a stable compaction). */
static void pump_all(writer_t *w)
{
    size_t kept = 0;
    for (size_t i = 0; i < w->count; i++) {
        fanout_client_t *c = w->clients[i];
        if (c == NULL || !pump_one(w, c))
            continue;
        c->slot = kept;
        w->clients[kept++] = c;
    }
    w->count = kept;
}

static int admit(writer_t *w, fanout_client_t *c)
{
    if (w->count == w->cap && grow_list(&w->clients, &w->cap) < 0)
        return -ENOMEM;
    int rc = watch(w, c, EPOLL_CTL_ADD, 0);
    if (rc < 0)
        return rc;
    c->slot = w->count;
    w->clients[w->count++] = c;
    return 0;
}

/* New streams are pumped at once: their first bytes are due. */
static void take_arrivals(writer_t *w)
{
    pthread_mutex_lock(&w->lock);
    fanout_client_t *c = w->arrivals;
    w->arrivals = NULL;
    pthread_mutex_unlock(&w->lock);
    while (c) {
        fanout_client_t *next = c->next;
        int rc = admit(w, c);
        if (rc < 0) {
            log_warn("fan-out cannot take a stream", "error=\"%s\"", strerror(-rc));
            c->slot = RELEASED;
            c->next = w->released;
            w->released = c;
        } else {
            pump_one(w, c);
        }
        c = next;
    }
}

static void take_kicks(writer_t *w)
{
    pthread_mutex_lock(&w->lock);
    fanout_client_t *c = w->kicks;
    w->kicks = NULL;
    pthread_mutex_unlock(&w->lock);
    while (c) {
        fanout_client_t *next = c->kick_next;
        if (c->kicked(c) && c->slot != RELEASED)
            pump_one(w, c);
        c = next;
    }
}

static void on_epoll_event(writer_t *w, const struct epoll_event *ev)
{
    fanout_client_t *c = ev->data.ptr;
    if (c == NULL) {
        uint64_t n;
        if (read(w->event_fd, &n, sizeof n) < 0 && errno != EAGAIN)
            log_warn("fan-out cannot read its eventfd", "error=\"%s\"", strerror(errno));
        return;
    }
    if (c->slot == RELEASED)
        return; /* released earlier in this batch: its events no longer count */
    if (ev->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        release(w, c); /* the peer closed or the socket failed */
    else if (ev->events & EPOLLOUT)
        pump_one(w, c);
}

/* Releases every stream: the fan-out stops. Later adoptions are refused. */
static void writer_close(writer_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->closed = 1;
    fanout_client_t *c = w->arrivals, *kicks = w->kicks;
    w->arrivals = w->kicks = NULL;
    pthread_mutex_unlock(&w->lock);
    while (c != NULL) {
        fanout_client_t *next = c->next;
        atomic_fetch_sub_explicit(&w->streams, 1, memory_order_relaxed);
        c->release(c);
        c = next;
    }
    for (size_t i = 0; i < w->count; i++)
        if (w->clients[i] != NULL)
            release(w, w->clients[i]);
    w->count = 0;
    free_released(w);
    while (kicks != NULL) { /* each is released by now: it frees itself */
        fanout_client_t *next = kicks->kick_next;
        (void)kicks->kicked(kicks);
        kicks = next;
    }
}

/* Milliseconds epoll may sleep: -1 when nothing of this writer's is due. */
static int wait_ms(const writer_t *w, int64_t now)
{
    int64_t due = w->count > 0 ? w->next_sweep_ms : CLOCK_NEVER;
    if (w->n_timed > 0)
        due = clock_earliest(due, w->next_tick_ms);
    return (int)clock_wait_ms(due, now);
}

/* Pumps what an event, a sweep or a tick makes due at now; a pump of all is a sweep. */
static void pump_what_is_due(writer_t *w, int64_t now)
{
    if (atomic_exchange(&w->woken, 0) || now >= w->next_sweep_ms) {
        pump_all(w);
        w->next_sweep_ms = now + w->sweep_ms;
        w->next_tick_ms = now + w->tick_ms;
    } else if (now >= w->next_tick_ms) {
        pump_timed(w);
        w->next_tick_ms = now + w->tick_ms;
    }
}

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    (void)pthread_setname_np(pthread_self(), "rn-writer");
    struct epoll_event events[EVENTS_PER_WAIT];
    while (!atomic_load(&w->stop)) {
        int n = epoll_wait(w->epoll_fd, events, EVENTS_PER_WAIT, wait_ms(w, clock_mono_ms()));
        if (n < 0 && errno != EINTR) {
            log_error("fan-out writer stops", "error=\"%s\"", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++)
            on_epoll_event(w, &events[i]);
        take_kicks(w);
        /* The connected streams first: arrivals are pumped as they are taken, after. */
        int had_timed = w->n_timed > 0, had_streams = w->count > 0;
        int64_t now = clock_mono_ms();
        pump_what_is_due(w, now);
        take_arrivals(w);
        free_released(w);
        /* A first deadline or a first stream counts its period from now. */
        if (!had_timed && w->n_timed > 0)
            w->next_tick_ms = now + w->tick_ms;
        if (!had_streams && w->count > 0)
            w->next_sweep_ms = now + w->sweep_ms;
    }
    return NULL;
}

static int writer_start(writer_t *w)
{
    w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    w->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (w->epoll_fd < 0 || w->event_fd < 0 ||
        epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->event_fd, &ev) < 0)
        return -errno;
    int rc = pthread_mutex_init(&w->lock, NULL);
    if (rc == 0)
        rc = pthread_create(&w->thread, NULL, writer_main, w);
    w->started = rc == 0;
    return -rc;
}

fanout_t *fanout_create(const fanout_config_t *cfg, char *err, size_t errlen)
{
    int writers = cfg->writers;
    const char *bad = writers < 1                             ? "no writers"
                      : cfg->tick_ms < 1 || cfg->sweep_ms < 1 ? "no tick or sweep period"
                                                              : NULL;
    fanout_t *f = bad ? NULL : calloc(1, sizeof *f);
    if (f == NULL || (f->writers = calloc((size_t)writers, sizeof *f->writers)) == NULL) {
        snprintf(err, errlen, "fan-out: %s", bad ? bad : "out of memory");
        free(f);
        return NULL;
    }
    f->count = writers;
    for (int i = 0; i < writers; i++) {
        writer_t *w = &f->writers[i];
        w->epoll_fd = w->event_fd = -1;
        w->tick_ms = cfg->tick_ms;
        w->sweep_ms = cfg->sweep_ms;
    }
    for (int i = 0; i < writers; i++) {
        int rc = writer_start(&f->writers[i]);
        if (rc < 0) {
            snprintf(err, errlen, "fan-out: cannot start a writer: %s", strerror(-rc));
            fanout_destroy(f);
            return NULL;
        }
    }
    return f;
}

void fanout_destroy(fanout_t *f)
{
    if (f == NULL)
        return;
    for (int i = 0; i < f->count; i++) {
        writer_t *w = &f->writers[i];
        if (w->started) {
            atomic_store(&w->stop, 1);
            writer_signal(w);
            pthread_join(w->thread, NULL);
            writer_close(w);
            pthread_mutex_destroy(&w->lock);
        }
        if (w->epoll_fd >= 0)
            close(w->epoll_fd);
        if (w->event_fd >= 0)
            close(w->event_fd);
        free(w->clients);
        free(w->timed);
    }
    free(f->writers);
    free(f);
}

static long fill_streams(const fanout_t *f)
{
    long rate = atomic_load_explicit(&f->wakes_per_s, memory_order_relaxed);
    long fill = rate > 0 ? FILL_SENDS_PER_S / rate : FILL_STREAMS;
    return fill < 1 ? 1 : fill > FILL_STREAMS ? FILL_STREAMS : fill;
}

static writer_t *writer_for_new(fanout_t *f)
{
    long fill = fill_streams(f);
    writer_t *fewest = &f->writers[0];
    for (int i = 0; i < f->count; i++) {
        writer_t *w = &f->writers[i];
        long n = atomic_load_explicit(&w->streams, memory_order_relaxed);
        if (n < fill)
            return w;
        if (n < atomic_load_explicit(&fewest->streams, memory_order_relaxed))
            fewest = w;
    }
    return fewest;
}

int fanout_adopt(fanout_t *f, fanout_client_t *c)
{
    writer_t *w = writer_for_new(f);
    c->writer = w;
    c->waits_for_room = 0;
    c->timed_slot = UNTIMED;
    pthread_mutex_lock(&w->lock);
    int open = !w->closed && !atomic_load(&w->stop);
    if (open) {
        c->next = w->arrivals;
        w->arrivals = c;
        atomic_fetch_add_explicit(&w->streams, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&w->lock);
    if (!open)
        return -ESHUTDOWN;
    writer_signal(w);
    return 0;
}

static void count_wake(fanout_t *f)
{
    int64_t now = clock_mono_ms(), start = atomic_load(&f->window_start_ms);
    long wakes = atomic_fetch_add(&f->window_wakes, 1) + 1;
    if (now - start < RATE_WINDOW_MS)
        return;
    atomic_store(&f->wakes_per_s, start ? wakes * 1000 / (now - start) : 0);
    atomic_store(&f->window_wakes, 0);
    atomic_store(&f->window_start_ms, now);
}

/* A writer without streams has nothing to pump: it is left asleep. One that is adopting
 * its first has been signalled by the adoption. */
void fanout_wake(fanout_t *f)
{
    count_wake(f);
    for (int i = 0; i < f->count; i++) {
        writer_t *w = &f->writers[i];
        if (atomic_load_explicit(&w->streams, memory_order_relaxed) == 0)
            continue;
        atomic_store(&w->woken, 1);
        writer_signal(w);
    }
}

void fanout_kick(fanout_client_t *c)
{
    writer_t *w = c->writer;
    pthread_mutex_lock(&w->lock);
    c->kick_next = w->kicks;
    w->kicks = c;
    pthread_mutex_unlock(&w->lock);
    writer_signal(w);
}

long fanout_streams(const fanout_t *f)
{
    long n = 0;
    for (int i = 0; i < f->count; i++)
        n += atomic_load_explicit(&f->writers[i].streams, memory_order_relaxed);
    return n;
}
