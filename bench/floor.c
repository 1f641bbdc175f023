/* floor.c -- the floor for bench/run.sh: the least any server must do to send one SSE stream
 * per client. One thread accepts on 127.0.0.1:PORT, answers each request with the gateway's
 * 200 head, and every 1/EVENTS_PER_S s sends one identical frame in the gateway's format
 * (increasing ids, a `: t=` publish time) to every client with one non-blocking send();
 * events due at once, when it is behind, go in one send().
 *
 * Nothing else: no ring, no history, no per-client state but the descriptor. A send that
 * takes nothing is counted as unsent (the client misses those events, as sse_load will
 * count); one that takes part is counted and the client closed, since the rest of its
 * stream would be garbage. Bounded by DURATION_S; SIGTERM ends it early. The counts (in
 * events times streams) go to stdout as one JSON line at the end. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* A descriptor's state: not a client, reading the request head (HEAD plus how much of the
 * "\r\n\r\n" that ends it has been seen), or streaming. */
enum { FREE, HEAD, HEAD_DONE = HEAD + 4, STREAMING, BATCH = 64 };

typedef struct {
    int listener, timer, ep, listening;
    int64_t epoch, start_ns, interval_ns; /* the first event is due at start + interval */
    uint64_t seq;
    /* Per descriptor: its state, and for a stream its place in `streams`. */
    unsigned char *state;
    int *slot;
    int *streams, nstreams, nfds;
    uint64_t accepted, frames, sent, unsent, partial, closed, accept_failed;
} floor_t;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int64_t now_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The soft open-file limit raised to the hard one; returns the limit now in force. */
static int raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    return rl.rlim_cur > 1 << 20 ? 1 << 20 : (int)rl.rlim_cur;
}

static int listen_on(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, SOMAXCONN) != 0) {
        perror("floor: listen");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int watch(int ep, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void close_client(floor_t *f, int fd)
{
    if (f->state[fd] == STREAMING) {
        int last = f->streams[--f->nstreams];
        f->streams[f->slot[fd]] = last;
        f->slot[last] = f->slot[fd];
    }
    f->state[fd] = FREE;
    f->closed++;
    close(fd); /* also leaves the epoll set */
    /* Out of descriptors the listener was set aside (see on_accept); one is free now. */
    if (!f->listening && watch(f->ep, f->listener) == 0)
        f->listening = 1;
}

static void on_accept(floor_t *f)
{
    for (;;) {
        int fd = accept4(f->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* The connection stays in the backlog and would wake us forever: stop
                 * listening until a client closes. */
                f->accept_failed++;
                if (epoll_ctl(f->ep, EPOLL_CTL_DEL, f->listener, NULL) == 0)
                    f->listening = 0;
            } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                perror("floor: accept");
            }
            return;
        }
        if (fd >= f->nfds || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
            watch(f->ep, fd) != 0) {
            f->accept_failed++;
            close(fd);
            continue;
        }
        f->accepted++;
        f->state[fd] = HEAD;
    }
}

/* The gateway's answer to GET /events: its head, then `retry:` and `: connected`. */
static int send_head(int fd)
{
    char date[64], head[512];
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        return -1;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: "
                     "no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n"
                     "X-Content-Type-Options: nosniff\r\nDate: %s\r\n\r\n"
                     "retry: 2000\n\n: connected\n\n",
                     date);
    return send(fd, head, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n ? 0 : -1;
}

/* Reads the request head (whatever it asks) up to its blank line, then streams; after that
 * a readable client is one that closed, or sent what nobody reads. */
static void on_readable(floor_t *f, int fd)
{
    static const char end[] = "\r\n\r\n";
    char buf[4096];
    if (f->state[fd] == FREE)
        return; /* closed by a send earlier in the same batch of events */
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            close_client(f, fd);
            return;
        }
        for (ssize_t i = 0; i < n && f->state[fd] < HEAD_DONE; i++)
            f->state[fd] =
                buf[i] == end[f->state[fd] - HEAD] ? f->state[fd] + 1 : HEAD + (buf[i] == '\r');
        if (f->state[fd] == HEAD_DONE) {
            if (send_head(fd) != 0) {
                close_client(f, fd);
                return;
            }
            f->state[fd] = STREAMING;
            f->slot[fd] = f->nstreams;
            f->streams[f->nstreams++] = fd;
        }
    }
}

/* Appends event `seq` to buf as the gateway frames it, with the time it was due as its
 * publish time: a floor that falls behind shows it as latency. Returns its length. */
static int frame(const floor_t *f, uint64_t seq, char *buf, size_t size)
{
    int64_t due = f->start_ns + (int64_t)seq * f->interval_ns;
    int n = snprintf(buf, size,
                     "id: %" PRId64 "-%" PRIu64 "\nevent: number\n: t=%" PRId64 "\ndata: %" PRIu64
                     "\n\n",
                     f->epoch, seq, due, seq % 100);
    return n > 0 && (size_t)n < size ? n : 0;
}

/* Events that are due: the same bytes to every stream, one send() each. */
static void send_all(floor_t *f, const char *bytes, int len, uint64_t events)
{
    for (int i = 0; i < f->nstreams; i++) {
        int fd = f->streams[i];
        ssize_t n = send(fd, bytes, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == len) {
            f->sent += events;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            f->unsent += events;
        } else {
            f->partial += n >= 0;
            close_client(f, fd);
            i--; /* the last stream moved into this place */
        }
    }
}

static int start_timer(int64_t interval)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec it = {{interval / 1000000000, interval % 1000000000},
                            {interval / 1000000000, interval % 1000000000}};
    if (fd < 0 || timerfd_settime(fd, 0, &it, NULL) != 0) {
        perror("floor: timerfd");
        return -1;
    }
    return fd;
}

/* Every event that is due goes out. Several at once (a late wake-up, or more events per
 * second than one send per stream each can take) go in one send() per stream, up to BATCH,
 * as a server that is behind would write them. */
static void on_timer(floor_t *f)
{
    uint64_t due;
    char buf[BATCH * 160];
    if (read(f->timer, &due, sizeof due) != (ssize_t)sizeof due)
        return;
    while (due > 0) {
        int len = 0;
        uint64_t events = 0;
        for (; events < BATCH && events < due; events++)
            len += frame(f, ++f->seq, buf + len, sizeof buf - (size_t)len);
        f->frames += events;
        send_all(f, buf, len, events);
        due -= events;
    }
}

static void run(floor_t *f, int duration_s)
{
    int64_t end = now_ns(CLOCK_MONOTONIC) + (int64_t)duration_s * 1000000000;
    struct epoll_event events[256];
    while (!stop_requested && now_ns(CLOCK_MONOTONIC) < end) {
        int n = epoll_wait(f->ep, events, 256, 100);
        if (n < 0 && errno != EINTR) {
            perror("floor: epoll_wait");
            return;
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == f->timer)
                on_timer(f);
            else if (fd == f->listener)
                on_accept(f);
            else
                on_readable(f, fd);
        }
    }
}

static int floor_init(floor_t *f, int port, int rate)
{
    struct sigaction sa = {.sa_handler = on_signal};
    *f = (floor_t){.listener = -1, .timer = -1, .ep = -1};
    f->nfds = raise_fd_limit();
    f->interval_ns = 1000000000 / rate;
    if (f->nfds < 0 || sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ||
        sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    f->state = calloc((size_t)f->nfds, 1);
    f->slot = calloc((size_t)f->nfds, sizeof *f->slot);
    f->streams = calloc((size_t)f->nfds, sizeof *f->streams);
    f->ep = epoll_create1(EPOLL_CLOEXEC);
    if (f->state == NULL || f->slot == NULL || f->streams == NULL || f->ep < 0)
        return -1;
    f->listener = listen_on(port);
    if (f->listener < 0 || watch(f->ep, f->listener) != 0)
        return -1;
    f->listening = 1;
    f->start_ns = now_ns(CLOCK_REALTIME); /* the timer's start, on the clock of `t=` */
    f->epoch = f->start_ns / 1000000;
    f->timer = start_timer(f->interval_ns);
    return f->timer < 0 || watch(f->ep, f->timer) != 0 ? -1 : 0;
}

/* Frees what floor_init made; safe on a floor_init that failed part way. */
static void floor_deinit(floor_t *f)
{
    for (int i = 0; i < f->nstreams; i++)
        close(f->streams[i]);
    if (f->timer >= 0)
        close(f->timer);
    if (f->listener >= 0)
        close(f->listener);
    if (f->ep >= 0)
        close(f->ep);
    free(f->state);
    free(f->slot);
    free(f->streams);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: floor PORT EVENTS_PER_S DURATION_S\n");
        return 2;
    }
    int port = atoi(argv[1]), rate = atoi(argv[2]), duration = atoi(argv[3]);
    if (port < 1 || port > 65535 || rate < 1 || rate > 100000 || duration < 1 || duration > 3600) {
        fprintf(stderr, "floor: PORT 1..65535, EVENTS_PER_S 1..100000, DURATION_S 1..3600\n");
        return 2;
    }
    floor_t f;
    if (floor_init(&f, port, rate) != 0) {
        perror("floor");
        floor_deinit(&f);
        return 1;
    }
    run(&f, duration);
    printf("{\"accepted\":%" PRIu64 ",\"streams\":%d,\"frames\":%" PRIu64 ",\"sent\":%" PRIu64
           ",\"unsent\":%" PRIu64 ",\"partial\":%" PRIu64 ",\"closed\":%" PRIu64
           ",\"accept_failed\":%" PRIu64 "}\n",
           f.accepted, f.nstreams, f.frames, f.sent, f.unsent, f.partial, f.closed,
           f.accept_failed);
    floor_deinit(&f);
    return 0;
}
