/* fanout.c -- writer threads, each an epoll loop over the streams parked with it. The
 * epoll set holds an eventfd (wake-ups: new events, arrivals, stop) and each stream's
 * socket, watched only for the peer closing it. */
#include "fanout.h"

#include "futex.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

enum { EVENTS_PER_WAIT = 256 };

typedef struct {
    pthread_t thread;
    int started;
    int epoll_fd, event_fd;
    _Atomic int pump_due, stop;
    pthread_mutex_t lock;
    int closed;                /* under lock: parks are refused */
    fanout_client_t *arrivals; /* under lock */
    fanout_client_t **clients; /* the writer thread's own from here on */
    size_t count, cap;
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

/* After the store the worker may return and free the client: never touch it again. */
static void hand_back(fanout_client_t *c, uint32_t state)
{
    atomic_store(&c->state, state);
    futex_wake_all(&c->state);
}

/* Leaves a hole in the list, which the next pump closes: the list keeps its order. */
static void release(writer_t *w, fanout_client_t *c, uint32_t state)
{
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
        log_error("fan-out cannot unwatch a stream", "fd=%d error=\"%s\"", c->fd, strerror(errno));
    w->clients[c->slot] = NULL;
    hand_back(c, state);
}

/* 1 when the stream stays with this writer. */
static int pump_one(writer_t *w, fanout_client_t *c)
{
    int rc = c->pump(c->ctx, w->scratch, sizeof w->scratch);
    if (rc != 0)
        release(w, c, rc == -EWOULDBLOCK ? FANOUT_RETURNED : FANOUT_ENDED);
    return rc == 0;
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
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        fanout_client_t **grown = realloc(w->clients, cap * sizeof *grown);
        if (grown == NULL)
            return -ENOMEM;
        w->clients = grown;
        w->cap = cap;
    }
    struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        return -errno;
    c->slot = w->count;
    w->clients[w->count++] = c;
    return 0;
}

/* New streams are pumped at once: events may have come since their worker caught up. */
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
            log_warn("fan-out cannot take a stream, its worker keeps it", "error=\"%s\"",
                     strerror(-rc));
            hand_back(c, FANOUT_RETURNED);
        } else {
            pump_one(w, c);
        }
        c = next;
    }
}

/* Refuses new parks and gives every stream back to its worker, which then sees why. */
static void writer_close(writer_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->closed = 1;
    fanout_client_t *c = w->arrivals;
    w->arrivals = NULL;
    pthread_mutex_unlock(&w->lock);
    while (c) {
        fanout_client_t *next = c->next;
        hand_back(c, FANOUT_RETURNED);
        c = next;
    }
    for (size_t i = 0; i < w->count; i++)
        if (w->clients[i] != NULL)
            release(w, w->clients[i], FANOUT_RETURNED);
    w->count = 0;
}

static void on_epoll_event(writer_t *w, const struct epoll_event *ev)
{
    if (ev->data.ptr) { /* the peer closed or the socket failed */
        release(w, ev->data.ptr, FANOUT_ENDED);
        return;
    }
    uint64_t n;
    if (read(w->event_fd, &n, sizeof n) < 0 && errno != EAGAIN)
        log_warn("fan-out cannot read its eventfd", "error=\"%s\"", strerror(errno));
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
        /* The connected streams first: arrivals are pumped as they are taken, after. */
        if (atomic_exchange(&w->pump_due, 0))
            pump_all(w);
        take_arrivals(w);
    }
    writer_close(w);
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
            pthread_mutex_destroy(&w->lock);
        }
        if (w->epoll_fd >= 0)
            close(w->epoll_fd);
        if (w->event_fd >= 0)
            close(w->event_fd);
        free(w->clients);
    }
    free(f->writers);
    free(f);
}

void fanout_wake(fanout_t *f)
{
    for (int i = 0; i < f->count; i++) {
        atomic_store(&f->writers[i].pump_due, 1);
        writer_signal(&f->writers[i]);
    }
}

/* A parked worker sleeps for as long as its client stays, on a stack whose deeper pages
 * only served the request (civetweb's parsing and log buffers): give those back. They
 * return zero-filled if the thread ever goes that deep again. */
static void stack_release_unused(void)
{
    pthread_attr_t attr;
    void *low;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    int rc = pthread_attr_getstack(&attr, &low, &size);
    pthread_attr_destroy(&attr);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    /* Measured from a local of this frame, which is live whatever the compiler inlines
     * (a frame address need not be, with LTO); a page of margin for madvise's own frame. */
    volatile char here = 0;
    uintptr_t start = ((uintptr_t)low + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)&here - page) & ~(page - 1);
    if (rc == 0 && end > start && madvise((void *)start, end - start, MADV_DONTNEED) != 0)
        log_debug("cannot release a parked stack", "error=\"%s\"", strerror(errno));
}

int fanout_park(fanout_t *f, fanout_client_t *c)
{
    writer_t *w = &f->writers[atomic_fetch_add(&f->next, 1) % (unsigned)f->count];
    atomic_store(&c->state, FANOUT_PARKED);
    pthread_mutex_lock(&w->lock);
    int open = !w->closed;
    if (open) {
        c->next = w->arrivals;
        w->arrivals = c;
    }
    pthread_mutex_unlock(&w->lock);
    if (!open)
        return FANOUT_RETURNED;
    writer_signal(w);
    stack_release_unused();
    uint32_t state;
    while ((state = atomic_load(&c->state)) == FANOUT_PARKED)
        futex_wait(&c->state, FANOUT_PARKED, NULL);
    return (int)state;
}
