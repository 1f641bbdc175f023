/* gate.c -- an accept filter in front of civetweb's workers.
 *
 * Why: civetweb serves each connection on one worker from accept to close, so a client
 * that sends half a request holds a worker until the header timeout, and --threads such
 * clients take every worker: /healthz waits behind them. Linux has no accept filter for
 * HTTP (TCP_DEFER_ACCEPT waits for the first byte only; FreeBSD's accf_http waits for the
 * head), so this is one. The gate thread accepts from civetweb's listening sockets, watches
 * each new connection with epoll until its head is complete (peeked, not read, so civetweb
 * reads the request as usual) and queues it. civetweb's master thread, which would poll and
 * accept the listening sockets, polls the queue's eventfd instead and accepts from the
 * queue. For that, this file defines listen(), poll() and accept(), which the dynamic
 * linker prefers to libc's: listen() notes civetweb's sockets, and poll()
 * and accept() change only on civetweb's master thread. Everywhere
 * else they are libc's (through ppoll and accept4, never a failing lookup). A waiting
 * connection costs an fd and a list entry, never a thread; past the header timeout it gets
 * 408. Keep-alive is off in http.c: a kept-alive connection would wait for its next
 * request on a worker, out of the gate's sight.
 *
 * Descriptors: the gate holds at most waiting_max + ready_max connections, and only while
 * they and the streams stay within shared_max (config.c's budget keeps a few of those
 * from --max-clients). Past either bound the oldest waiting one is closed; with
 * ready_max complete heads queued (civetweb's workers are all busy) the gate stops
 * accepting, so new connections wait in the kernel's backlog at no descriptor's cost, until
 * the master takes one. A waiting head that completes meanwhile still joins the queue: its
 * descriptor is already counted, and a new one is accepted only below ready_max. */
#include "gate.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

enum {
    GATE_MAX_LISTENERS = 8,
    GATE_ACCEPTS_PER_WAKE = 64,
    GATE_EVENTS = 64,
    GATE_PAUSE_MS = 100, /* out of file descriptors: stop accepting this long */
    GATE_CLOSING_POLL_MS = 10,
};

/* What an epoll event names (the stop eventfd names NULL). */
typedef enum {
    GATE_LISTENER, /* one of our duplicates of civetweb's listening sockets */
    GATE_ROOM,     /* the eventfd civetweb's master rings when the ready queue has room */
    GATE_CONN,     /* an accepted connection */
    GATE_GONE,     /* a connection closed during this batch, freed after it (on_batch) */
} gate_kind_t;

typedef struct gate_conn {
    int fd;
    gate_kind_t kind;
    int64_t deadline_ms;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    struct gate_conn *prev, *next;
} gate_conn_t;

struct gate {
    metrics_t *metrics;
    handoff_t *handoff;
    gate_limits_t limits;
    int civet_fds[GATE_MAX_LISTENERS]; /* civetweb's listening sockets, as recorded */
    int n_civet_fds, too_many_listeners;
    gate_conn_t listeners[GATE_MAX_LISTENERS]; /* our duplicates of them */
    int n_listeners;
    int epfd, bell_fd, stop_fd, room_fd;
    gate_conn_t room; /* what room_fd's events name */
    pthread_t thread;
    _Atomic int running;
    _Atomic int closing; /* civetweb is stopping: its master must not sleep in poll */
    /* The gate thread's own: */
    gate_conn_t waiting; /* list sentinel: oldest first, so deadlines are in order */
    long n_waiting;
    gate_conn_t *gone;       /* closed during the current batch, to free after it */
    int64_t paused_until_ms; /* out of descriptors: not accepting until then (0: no pause) */
    int listening;           /* 1 while the listeners are in the epoll set */
    /* The ready queue, shared with civetweb's master thread under lock: */
    pthread_mutex_t lock;
    gate_conn_t *ready_head, *ready_tail;
    long n_ready;
    char *head; /* head_max bytes: the gate thread's peek buffer */
};

static _Thread_local gate_t *recording_gate; /* main, around mg_start */
static _Thread_local gate_t *master_gate;    /* civetweb's master thread */

/* ---- the ready queue: complete heads, waiting for civetweb's master to accept them ---- */

static void ready_push(gate_t *g, gate_conn_t *c)
{
    c->next = NULL;
    metrics_add(&g->metrics->http_heads_ready, 1);
    pthread_mutex_lock(&g->lock);
    g->n_ready++;
    if (g->ready_tail != NULL) {
        g->ready_tail->next = c;
    } else {
        g->ready_head = c;
        /* rings only when the queue becomes non-empty */
        if (eventfd_write(g->bell_fd, 1) < 0)
            log_warn("gate: cannot ring the bell", "errno=%d", errno);
    }
    g->ready_tail = c;
    pthread_mutex_unlock(&g->lock);
}

static gate_conn_t *ready_pop(gate_t *g)
{
    pthread_mutex_lock(&g->lock);
    gate_conn_t *c = g->ready_head;
    if (c != NULL) {
        g->ready_head = c->next;
        /* Tells the gate it may accept again: it stopped at ready_max. */
        if (g->n_ready-- == g->limits.ready_max && eventfd_write(g->room_fd, 1) < 0)
            log_warn("gate: cannot ring the room bell", "errno=%d", errno);
        atomic_fetch_sub_explicit(&g->metrics->http_heads_ready, 1, memory_order_relaxed);
        if (g->ready_head == NULL) {
            g->ready_tail = NULL;
            uint64_t count; /* silences the bell: nonblocking, so EAGAIN when already silent */
            if (read(g->bell_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                log_warn("gate: cannot read the bell", "errno=%d", errno);
        }
    }
    pthread_mutex_unlock(&g->lock);
    return c;
}

static int ready_has_room(gate_t *g)
{
    pthread_mutex_lock(&g->lock);
    int room = g->n_ready < g->limits.ready_max;
    pthread_mutex_unlock(&g->lock);
    return room;
}

/* ---- connections whose head is still arriving ---- */

static void waiting_unlink(gate_t *g, gate_conn_t *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
    g->n_waiting--;
    atomic_fetch_sub_explicit(&g->metrics->http_heads_waiting, 1, memory_order_relaxed);
}

static void waiting_append(gate_t *g, gate_conn_t *c)
{
    c->prev = g->waiting.prev;
    c->next = &g->waiting;
    c->prev->next = c;
    g->waiting.prev = c;
    g->n_waiting++;
    metrics_add(&g->metrics->http_heads_waiting, 1);
}

static void conn_close(gate_conn_t *c)
{
    if (close(c->fd) < 0 && errno != EINTR)
        log_warn("gate: close failed", "errno=%d", errno);
    free(c);
}

/* On the gate thread: closes the socket at once (an eviction is there to free its
 * descriptor; closing also takes it out of the epoll set) but keeps the memory, marked
 * gone, until the batch of events being handled is over (on_batch says why). */
static void conn_retire(gate_t *g, gate_conn_t *c)
{
    if (close(c->fd) < 0 && errno != EINTR)
        log_warn("gate: close failed", "errno=%d", errno);
    c->fd = -1;
    c->kind = GATE_GONE;
    c->next = g->gone;
    g->gone = c;
}

static void gone_free(gate_t *g)
{
    while (g->gone != NULL) {
        gate_conn_t *c = g->gone;
        g->gone = c->next;
        free(c);
    }
}

/* Drops a waiting connection, with a 408 when it took too long (best effort: it is not
 * worth a blocking write). */
static void waiting_drop(gate_t *g, gate_conn_t *c, int timed_out)
{
    waiting_unlink(g, c);
    if (timed_out) {
        static const char reply[] = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                                    "Content-Length: 0\r\n\r\n";
        (void)!send(c->fd, reply, sizeof reply - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        metrics_add(&g->metrics->http_head_timeouts, 1);
    }
    conn_retire(g, c);
}

/* 1 once the bytes hold a blank line: the end of an HTTP head (civetweb takes LF or CRLF). */
static int head_complete(const char *b, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (b[i] == '\n' &&
            (b[i + 1] == '\n' || (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n')))
            return 1;
    return 0;
}

typedef enum { HEAD_PARTIAL, HEAD_READY, HEAD_GONE } head_state_t;

static head_state_t head_state(gate_t *g, const gate_conn_t *c, uint32_t events)
{
    ssize_t n = recvfrom(c->fd, g->head, g->limits.head_max, MSG_PEEK, NULL, NULL);
    if (n > 0 && (head_complete(g->head, (size_t)n) || (size_t)n >= g->limits.head_max))
        return HEAD_READY; /* an over-long head is civetweb's to refuse */
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return HEAD_GONE;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        return HEAD_GONE; /* the rest can never come */
    return HEAD_PARTIAL;
}

static void evict_oldest(gate_t *g)
{
    metrics_add(&g->metrics->http_heads_evicted, 1);
    waiting_drop(g, g->waiting.next, 0);
}

/* A connection just accepted: handed over at once when its head is already here, else
 * watched until it is. */
static void admit(gate_t *g, gate_conn_t *c)
{
    head_state_t state = head_state(g, c, 0);
    if (state == HEAD_READY) {
        ready_push(g, c);
        return;
    }
    if (state == HEAD_GONE) {
        conn_retire(g, c);
        return;
    }
    if (g->n_waiting >= g->limits.waiting_max)
        evict_oldest(g);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        log_warn("gate: cannot watch a connection", "errno=%d", errno);
        ready_push(g, c); /* civetweb's own header timeout still applies */
        return;
    }
    c->deadline_ms = clock_mono_ms() + g->limits.header_timeout_ms;
    waiting_append(g, c);
}

static void on_head_event(gate_t *g, gate_conn_t *c, uint32_t events)
{
    head_state_t state = head_state(g, c, events);
    if (state == HEAD_PARTIAL)
        return;
    if (state == HEAD_GONE) {
        waiting_drop(g, c, 0);
        return;
    }
    if (epoll_ctl(g->epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0) {
        /* Still watched, it must stay the gate's: civetweb's master frees what it takes. */
        log_warn("gate: cannot unwatch a connection", "errno=%d", errno);
        waiting_drop(g, c, 0);
        return;
    }
    waiting_unlink(g, c);
    ready_push(g, c);
}

/* ---- accepting ---- */

static void listeners_watch(gate_t *g, uint32_t events)
{
    for (int i = 0; i < g->n_listeners; i++) {
        struct epoll_event ev = {.events = events, .data.ptr = &g->listeners[i]};
        if (epoll_ctl(g->epfd, EPOLL_CTL_MOD, g->listeners[i].fd, &ev) < 0)
            log_warn("gate: cannot change a listener", "errno=%d", errno);
    }
}

/* The gate accepts unless it is out of descriptors or ready_max complete heads wait for
 * civetweb's master. A listener that stays readable while the gate does not accept would
 * make epoll_wait spin, so the listeners leave the epoll set meanwhile. */
static int may_accept(gate_t *g)
{
    return g->paused_until_ms == 0 && ready_has_room(g);
}

static void listeners_update(gate_t *g)
{
    int want = may_accept(g);
    if (want == g->listening)
        return;
    if (!want && g->paused_until_ms == 0)
        metrics_add(&g->metrics->http_gate_full, 1);
    listeners_watch(g, want ? EPOLLIN : 0);
    g->listening = want;
}

/* No file for one more connection (the streams and the gate hold every shared one, or
 * accept4 found none): the oldest waiting head makes room, or with none, accepting pauses
 * a moment. */
static void make_room(gate_t *g, const char *why)
{
    if (g->n_waiting > 0) {
        evict_oldest(g);
        return;
    }
    if (g->paused_until_ms == 0)
        log_warn("gate: no file for a connection, pausing accept", "why=%s pause_ms=%d", why,
                 GATE_PAUSE_MS);
    g->paused_until_ms = clock_mono_ms() + GATE_PAUSE_MS;
}

/* Whether the gate's connections and the streams leave a shared file for one more. */
static int shared_has_room(gate_t *g)
{
    if (g->limits.streams == NULL)
        return 1;
    pthread_mutex_lock(&g->lock);
    long held = g->n_waiting + g->n_ready;
    pthread_mutex_unlock(&g->lock);
    return held + atomic_load(g->limits.streams) < g->limits.shared_max;
}

static void accept_some(gate_t *g, int listen_fd)
{
    for (int k = 0; k < GATE_ACCEPTS_PER_WAKE && may_accept(g); k++) {
        if (!shared_has_room(g)) {
            make_room(g, "streams");
            continue;
        }
        gate_conn_t *c = calloc(1, sizeof *c);
        if (c == NULL)
            return; /* it stays in the backlog */
        c->kind = GATE_CONN;
        c->peer_len = sizeof c->peer;
        c->fd = accept4(listen_fd, (struct sockaddr *)&c->peer, &c->peer_len,
                        SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c->fd >= 0) {
            admit(g, c);
            continue;
        }
        int e = errno;
        free(c);
        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
            make_room(g, "EMFILE");
        else if (e != ECONNABORTED && e != EINTR && e != EPROTO)
            return; /* EAGAIN: the backlog is empty */
    }
}

/* ---- the gate thread ---- */

static int wait_ms(const gate_t *g, int64_t now)
{
    int64_t until = g->n_waiting > 0 ? g->waiting.next->deadline_ms : 0;
    if (g->paused_until_ms != 0 && (until == 0 || g->paused_until_ms < until))
        until = g->paused_until_ms;
    if (until == 0)
        return -1;
    return until <= now ? 0 : (int)(until - now);
}

static void on_tick(gate_t *g, int64_t now)
{
    while (g->n_waiting > 0 && g->waiting.next->deadline_ms <= now)
        waiting_drop(g, g->waiting.next, 1);
    if (g->paused_until_ms != 0 && g->paused_until_ms <= now)
        g->paused_until_ms = 0;
}

static void on_room(gate_t *g)
{
    uint64_t count; /* nonblocking: EAGAIN when already read */
    if (read(g->room_fd, &count, sizeof count) < 0 && errno != EAGAIN)
        log_warn("gate: cannot read the room bell", "errno=%d", errno);
}

/* Handles one batch of epoll's results; 0 once the stop eventfd is among them.
 *
 * The batch names connections by pointer, and handling one event may close others whose
 * events come later in the same batch: an accept evicts the oldest waiting connection when
 * the waiting list is full or descriptors run out. So nothing here frees a connection:
 * conn_retire closes its socket at once and marks it gone, a later event for it is
 * skipped, and gate_run frees it after the batch, when no event can name it. That holds
 * whichever handler closes whichever connection, in whatever order epoll reports them.
 * Connections are freed elsewhere only by civetweb's master, in accept(), and those reach
 * the ready queue straight from accept4 (never watched) or from their own event after
 * leaving the epoll set: epoll reports a descriptor at most once per batch. */
static int on_batch(gate_t *g, const struct epoll_event *events, int n)
{
    for (int i = 0; i < n; i++) {
        gate_conn_t *c = events[i].data.ptr;
        if (c == NULL)
            return 0; /* the stop eventfd */
        if (c->kind == GATE_LISTENER)
            accept_some(g, c->fd);
        else if (c->kind == GATE_ROOM)
            on_room(g);
        else if (c->kind == GATE_CONN)
            on_head_event(g, c, events[i].events);
    }
    return 1;
}

static void *gate_run(void *arg)
{
    gate_t *g = arg;
    (void)pthread_setname_np(pthread_self(), "rn-gate");
    struct epoll_event events[GATE_EVENTS];
    for (;;) {
        int n = epoll_wait(g->epfd, events, GATE_EVENTS, wait_ms(g, clock_mono_ms()));
        if (n < 0 && errno != EINTR) {
            log_error("gate: epoll_wait failed", "errno=%d", errno);
            return NULL;
        }
        int go_on = on_batch(g, events, n);
        gone_free(g);
        if (!go_on)
            return NULL;
        on_tick(g, clock_mono_ms());
        gone_free(g);
        listeners_update(g);
    }
}

/* ---- life cycle ---- */

static int watch(gate_t *g, int fd, void *ptr, char *err, size_t errlen)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ptr};
    if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
        return 0;
    snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
    return -1;
}

gate_t *gate_create(metrics_t *metrics, handoff_t *handoff, const gate_limits_t *limits, char *err,
                    size_t errlen)
{
    if (limits->waiting_max < 1 || limits->ready_max < 1 || limits->head_max < 1) {
        snprintf(err, errlen, "gate: every bound must be at least 1");
        return NULL;
    }
    gate_t *g = calloc(1, sizeof *g);
    char *head = malloc(limits->head_max);
    if (g == NULL || head == NULL || pthread_mutex_init(&g->lock, NULL) != 0) {
        snprintf(err, errlen, "out of memory");
        free(g);
        free(head);
        return NULL;
    }
    g->metrics = metrics;
    g->handoff = handoff;
    g->limits = *limits;
    g->head = head;
    g->waiting.next = g->waiting.prev = &g->waiting;
    g->room.kind = GATE_ROOM;
    g->epfd = epoll_create1(EPOLL_CLOEXEC);
    g->bell_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g->room_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int made = g->epfd >= 0 && g->bell_fd >= 0 && g->stop_fd >= 0 && g->room_fd >= 0;
    if (!made)
        snprintf(err, errlen, "cannot create the gate: %s", strerror(errno));
    if (!made || watch(g, g->stop_fd, NULL, err, errlen) < 0 ||
        watch(g, g->room_fd, &g->room, err, errlen) < 0) {
        gate_destroy(g);
        return NULL;
    }
    return g;
}

void gate_record_listeners(gate_t *gate, int on)
{
    recording_gate = on ? gate : NULL;
}

void gate_serve_this_thread(gate_t *gate)
{
    master_gate = gate;
}

static int take_listeners(gate_t *g, char *err, size_t errlen)
{
    if (g->n_civet_fds == 0 || g->too_many_listeners) {
        snprintf(err, errlen, "%s",
                 g->too_many_listeners ? "more than 8 listening sockets"
                                       : "civetweb's listening sockets not seen");
        return -1;
    }
    for (int i = 0; i < g->n_civet_fds; i++) {
        /* Our own reference: civetweb closes its fd in mg_stop while we may still watch. */
        int fd = fcntl(g->civet_fds[i], F_DUPFD_CLOEXEC, 0);
        if (fd < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
            snprintf(err, errlen, "listener: %s", strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        g->listeners[i] = (gate_conn_t){.fd = fd, .kind = GATE_LISTENER};
        g->n_listeners = i + 1;
        if (watch(g, fd, &g->listeners[i], err, errlen) < 0)
            return -1;
    }
    g->listening = 1;
    return 0;
}

int gate_start(gate_t *g, char *err, size_t errlen)
{
    if (take_listeners(g, err, errlen) < 0)
        return -1;
    if (pthread_create(&g->thread, NULL, gate_run, g) != 0) {
        snprintf(err, errlen, "cannot start the gate thread");
        return -1;
    }
    atomic_store(&g->running, 1);
    return 0;
}

void gate_closing(gate_t *g)
{
    atomic_store_explicit(&g->closing, 1, memory_order_release);
    if (eventfd_write(g->bell_fd, 1) < 0) /* ends the master's current poll */
        log_warn("gate: cannot ring the bell", "errno=%d", errno);
}

void gate_destroy(gate_t *g)
{
    if (g == NULL)
        return;
    if (atomic_load(&g->running)) {
        if (eventfd_write(g->stop_fd, 1) < 0 || pthread_join(g->thread, NULL) != 0)
            log_error("gate: cannot stop the gate thread", "errno=%d", errno);
        atomic_store(&g->running, 0);
    }
    while (g->n_waiting > 0)
        waiting_drop(g, g->waiting.next, 0);
    gone_free(g);
    for (gate_conn_t *c; (c = ready_pop(g)) != NULL;)
        conn_close(c);
    for (int i = 0; i < g->n_listeners; i++)
        close(g->listeners[i].fd);
    int fds[] = {g->epfd, g->bell_fd, g->stop_fd, g->room_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pthread_mutex_destroy(&g->lock);
    free(g->head);
    free(g);
}

/* ---- what civetweb calls ---- */

int listen(int fd, int backlog)
{
    int rc = (int)syscall(SYS_listen, fd, backlog);
    gate_t *g = recording_gate;
    if (rc == 0 && g != NULL) {
        if (g->n_civet_fds < GATE_MAX_LISTENERS)
            g->civet_fds[g->n_civet_fds++] = fd;
        else
            g->too_many_listeners = 1;
    }
    return rc;
}

static int libc_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    struct timespec ts = clock_timespec_ms(timeout_ms);
    return ppoll(fds, n, timeout_ms < 0 ? NULL : &ts, NULL);
}

/* On civetweb's master thread, which polls only its listening sockets: "a connection is
 * ready" means the gate's queue is not empty, reported on the first socket. From its very
 * first poll, before the gate runs too: a poll of the listening sockets begun then would
 * sleep through civetweb's whole timeout (a second) once the gate takes their connections,
 * and with them whatever the gate queued meanwhile. The connections that arrive before
 * the gate runs wait in the backlog, where the gate finds them. */
int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    gate_t *g = master_gate;
    if (g == NULL || n == 0)
        return libc_poll(fds, n, timeout_ms);
    /* civetweb's master polls with a timeout of seconds and checks for mg_stop only
     * between polls, and the bell rings only for connections: once stopping, short
     * naps let it see the stop at once. */
    if (atomic_load_explicit(&g->closing, memory_order_acquire) &&
        (timeout_ms < 0 || timeout_ms > GATE_CLOSING_POLL_MS))
        timeout_ms = GATE_CLOSING_POLL_MS;
    struct pollfd bell = {.fd = g->bell_fd, .events = POLLIN};
    int rc = libc_poll(&bell, 1, timeout_ms);
    for (nfds_t i = 0; i < n; i++)
        fds[i].revents = 0;
    if (rc > 0)
        fds[0].revents = POLLIN;
    return rc;
}

int accept(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len)
{
    gate_t *g = master_gate;
    if (g == NULL)
        return accept4(fd, addr, len, 0);
    gate_conn_t *c = ready_pop(g);
    if (c == NULL) {
        errno = EAGAIN;
        return -1;
    }
    struct sockaddr *sa = addr.__sockaddr__;
    if (sa != NULL && len != NULL) {
        memcpy(sa, &c->peer, *len < c->peer_len ? *len : c->peer_len);
        *len = c->peer_len;
    }
    int conn_fd = c->fd;
    /* Noted for the stream that may take it back; without the note a stream would have
     * to stay on its worker, so a connection that cannot be noted is refused. */
    if (handoff_note(g->handoff, conn_fd, (struct sockaddr *)&c->peer, c->peer_len) < 0) {
        log_warn("gate: cannot note a connection, closing it", "errno=%d", ENOMEM);
        close(conn_fd);
        free(c);
        errno = ECONNABORTED;
        return -1;
    }
    free(c);
    return conn_fd;
}
