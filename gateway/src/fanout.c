/* fanout.c -- writer threads, each an epoll loop over the streams it owns. The epoll set
 * holds an eventfd (wake-ups: new events, ticks, arrivals, kicks, stop) and each stream's
 * socket, watched for the peer closing it and, while the stream owes bytes, for room. */
#include "fanout.h"

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
    _Atomic int pump_due, tick_due, stop;
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

struct fanout {
    writer_t *writers;
    int count;
    _Atomic unsigned next;
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

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    struct epoll_event events[EVENTS_PER_WAIT];
    while (!atomic_load(&w->stop)) {
        int n = epoll_wait(w->epoll_fd, events, EVENTS_PER_WAIT, -1);
        if (n < 0 && errno != EINTR) {
            log_error("fan-out writer stops", "error=\"%s\"", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++)
            on_epoll_event(w, &events[i]);
        take_kicks(w);
        /* The connected streams first: arrivals are pumped as they are taken, after. */
        if (atomic_exchange(&w->pump_due, 0)) {
            atomic_store(&w->tick_due, 0); /* every stream is pumped now */
            pump_all(w);
        } else if (atomic_exchange(&w->tick_due, 0)) {
            pump_timed(w);
        }
        take_arrivals(w);
        free_released(w);
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

fanout_t *fanout_create(int writers, char *err, size_t errlen)
{
    fanout_t *f = calloc(1, sizeof *f);
    if (f == NULL || writers < 1 ||
        (f->writers = calloc((size_t)writers, sizeof *f->writers)) == NULL) {
        snprintf(err, errlen, "fan-out: %s", writers < 1 ? "no writers" : "out of memory");
        free(f);
        return NULL;
    }
    f->count = writers;
    for (int i = 0; i < writers; i++)
        f->writers[i].epoll_fd = f->writers[i].event_fd = -1;
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

int fanout_adopt(fanout_t *f, fanout_client_t *c)
{
    writer_t *w = &f->writers[atomic_fetch_add(&f->next, 1) % (unsigned)f->count];
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

void fanout_wake(fanout_t *f)
{
    for (int i = 0; i < f->count; i++) {
        atomic_store(&f->writers[i].pump_due, 1);
        writer_signal(&f->writers[i]);
    }
}

void fanout_tick(fanout_t *f)
{
    for (int i = 0; i < f->count; i++) {
        atomic_store(&f->writers[i].tick_due, 1);
        writer_signal(&f->writers[i]);
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
