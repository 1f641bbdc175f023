/* sse_load.c -- many SSE streams from one process (epoll, non-blocking sockets): opens
 * --clients connections at --ramp-per-s, parses every stream, and reports deliveries/s,
 * latency from the publish time carried in each event, and missed or duplicated ids.
 *
 * Publish time and sequence per event: our gateway sends "id: EPOCH-SEQ" and a
 * ": t=PUBLISH_NS" comment; for nchan the bench publisher puts "t=PUBLISH_NS SEQ" in the
 * data. Every loop is bounded by --duration-s. */
#include "histogram.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { BUF = 8192, SOURCES = 16 };
enum { CONNECTING, HEADERS, STREAMING, CLOSED };

typedef struct {
    const char *host, *path;
    int port, clients, ramp_per_s, duration_s, nchan, json;
} options_t;

typedef struct {
    int fd, state;
    size_t len;
    char buf[BUF];
    /* the event being parsed */
    int64_t t_ns;
    uint64_t epoch, seq;
    int has_seq, is_number;
    /* continuity */
    uint64_t last_epoch, last_seq;
    int has_last;
    uint64_t missed;
} conn_t;

typedef struct {
    histogram_t latency;
    uint64_t deliveries, missed, duplicated, resets, errors, refused, connected, failed;
    uint64_t conns_with_loss;
    int measuring;
} totals_t;

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_event(conn_t *c, totals_t *t)
{
    if (!c->is_number || !c->has_seq)
        return;
    if (t->measuring) {
        t->deliveries++;
        if (c->t_ns)
            histogram_add(&t->latency, (wall_ns() - c->t_ns) / 1000);
    }
    if (c->has_last && c->epoch == c->last_epoch) {
        if (c->seq <= c->last_seq)
            t->duplicated++;
        else if (c->seq > c->last_seq + 1) {
            t->missed += c->seq - c->last_seq - 1;
            c->missed += c->seq - c->last_seq - 1;
        }
    }
    c->last_epoch = c->epoch;
    c->last_seq = c->seq;
    c->has_last = 1;
}

static void on_line(conn_t *c, char *line, totals_t *t, int nchan)
{
    if (line[0] == '\0') {
        on_event(c, t);
        c->t_ns = 0;
        c->has_seq = c->is_number = 0;
    } else if (!nchan && strncmp(line, ": t=", 4) == 0) {
        c->t_ns = strtoll(line + 4, NULL, 10);
    } else if (!nchan && strncmp(line, "id: ", 4) == 0) {
        c->has_seq = sscanf(line + 4, "%" SCNu64 "-%" SCNu64, &c->epoch, &c->seq) == 2;
    } else if (strncmp(line, "event: ", 7) == 0) {
        c->is_number = strcmp(line + 7, "number") == 0;
        t->resets += strcmp(line + 7, "reset") == 0;
    } else if (nchan && strncmp(line, "data: t=", 8) == 0) {
        c->is_number = 1;
        c->epoch = 0;
        c->has_seq = sscanf(line + 8, "%" SCNd64 " %" SCNu64, &c->t_ns, &c->seq) == 2;
    }
}

/* Parses every complete line in the buffer; keeps the incomplete rest. */
static void parse(conn_t *c, totals_t *t, int nchan)
{
    size_t start = 0;
    for (size_t i = 0; i < c->len; i++) {
        if (c->buf[i] != '\n')
            continue;
        c->buf[i] = '\0';
        if (i > start && c->buf[i - 1] == '\r')
            c->buf[i - 1] = '\0';
        on_line(c, c->buf + start, t, nchan);
        start = i + 1;
    }
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
}

static void close_conn(int ep, conn_t *c, totals_t *t, int error)
{
    if (c->state == CLOSED)
        return;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->missed)
        t->conns_with_loss++;
    t->errors += error;
    c->state = CLOSED;
}

static int open_conn(int ep, conn_t *c, const options_t *o, int index, totals_t *t)
{
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    /* Several loopback source addresses: more than one ephemeral port range's worth. */
    src.sin_addr.s_addr = htonl(0x7f000001 + (uint32_t)(index % SOURCES));
    dst.sin_port = htons((uint16_t)o->port);
    inet_pton(AF_INET, o->host, &dst.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)) {
        if (c->fd >= 0)
            close(c->fd);
        c->state = CLOSED;
        t->failed++;
        return -1;
    }
    c->state = CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void on_writable(int ep, conn_t *c, const options_t *o, totals_t *t)
{
    int err = 0;
    socklen_t len = sizeof err;
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n",
                     o->path, o->host, o->port);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0 ||
        send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        t->failed++;
        close_conn(ep, c, t, 0);
        return;
    }
    c->state = HEADERS;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void on_readable(int ep, conn_t *c, const options_t *o, totals_t *t)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, BUF - 1 - c->len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            close_conn(ep, c, t, 1);
            return;
        }
        c->len += (size_t)n;
        if (c->state == HEADERS) {
            c->buf[c->len] = '\0';
            char *end = strstr(c->buf, "\r\n\r\n");
            if (end == NULL)
                continue;
            if (strncmp(c->buf, "HTTP/1.1 200", 12) != 0) {
                t->refused++;
                close_conn(ep, c, t, 0);
                return;
            }
            t->connected++;
            c->state = STREAMING;
            size_t head = (size_t)(end + 4 - c->buf);
            memmove(c->buf, c->buf + head, c->len - head);
            c->len -= head;
        }
        parse(c, t, o->nchan);
        if (c->len == BUF - 1)
            c->len = 0; /* a line longer than the buffer: not an SSE stream of ours */
    }
}

static int parse_options(options_t *o, int argc, char **argv)
{
    *o = (options_t){"127.0.0.1", "/events", 8080, 100, 1000, 10, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json"))
            o->json = 1;
        else if (!strcmp(a, "--nchan"))
            o->nchan = 1;
        else if (v && !strcmp(a, "--host"))
            o->host = v, i++;
        else if (v && !strcmp(a, "--path"))
            o->path = v, i++;
        else if (v && !strcmp(a, "--port"))
            o->port = atoi(v), i++;
        else if (v && !strcmp(a, "--clients"))
            o->clients = atoi(v), i++;
        else if (v && !strcmp(a, "--ramp-per-s"))
            o->ramp_per_s = atoi(v), i++;
        else if (v && !strcmp(a, "--duration-s"))
            o->duration_s = atoi(v), i++;
        else {
            fprintf(stderr, "usage: sse_load [--host H] [--port P] [--path /events] [--clients N]\n"
                            "  [--ramp-per-s R] [--duration-s D] [--nchan] [--json]\n");
            return -1;
        }
    }
    if (o->clients < 1 || o->ramp_per_s < 1 || o->duration_s < 1 || o->duration_s > 3600 ||
        o->port < 1 || o->port > 65535) {
        fprintf(stderr, "sse_load: clients, ramp and duration (<= 3600 s) must be positive\n");
        return -1;
    }
    return 0;
}

static void raise_fd_limit(int clients)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)clients + 64;
    if (rl.rlim_max < want)
        rl.rlim_max = want; /* allowed for root; otherwise the next call fails harmlessly */
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void report(const options_t *o, const totals_t *t, double seconds)
{
    const histogram_t *h = &t->latency;
    double rate = seconds > 0 ? (double)t->deliveries / seconds : 0;
    double p50 = histogram_percentile(h, 0.5) / 1e3, p99 = histogram_percentile(h, 0.99) / 1e3;
    double p999 = histogram_percentile(h, 0.999) / 1e3, max = (double)h->max_us / 1e3;
    if (o->json) {
        printf("{\"clients\":%d,\"connected\":%" PRIu64 ",\"refused\":%" PRIu64
               ",\"failed\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"deliveries\":%" PRIu64
               ",\"seconds\":%.2f,\"deliveries_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f"
               ",\"p999_ms\":%.3f,\"max_ms\":%.3f,\"missed\":%" PRIu64 ",\"duplicated\":%" PRIu64
               ",\"conns_with_loss\":%" PRIu64 ",\"resets\":%" PRIu64 "}\n",
               o->clients, t->connected, t->refused, t->failed, t->errors, t->deliveries, seconds,
               rate, p50, p99, p999, max, t->missed, t->duplicated, t->conns_with_loss, t->resets);
        return;
    }
    printf("clients %d: connected %" PRIu64 ", refused %" PRIu64 ", failed %" PRIu64
           ", errors %" PRIu64 "\n",
           o->clients, t->connected, t->refused, t->failed, t->errors);
    printf("deliveries %" PRIu64 " in %.1f s = %.0f/s; latency ms p50 %.3f p99 %.3f p999 %.3f "
           "max %.3f\nmissed %" PRIu64 " (on %" PRIu64 " connections), duplicated %" PRIu64 "\n",
           t->deliveries, seconds, rate, p50, p99, p999, max, t->missed, t->conns_with_loss,
           t->duplicated);
}

int main(int argc, char **argv)
{
    options_t o;
    if (parse_options(&o, argc, argv) < 0)
        return 2;
    raise_fd_limit(o.clients);
    conn_t *conns = calloc((size_t)o.clients, sizeof *conns);
    totals_t *t = calloc(1, sizeof *t);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || t == NULL || ep < 0) {
        perror("sse_load");
        return 1;
    }
    double start = mono_s(), measure_from = 0, deadline = 0;
    int opened = 0;
    struct epoll_event events[1024];
    for (;;) {
        double now = mono_s();
        int due = (int)((now - start) * o.ramp_per_s) + 1;
        while (opened < o.clients && opened < due) {
            open_conn(ep, &conns[opened], &o, opened, t);
            opened++;
        }
        /* Measure once every connection had a second to settle. */
        if (!t->measuring && opened == o.clients && now - start >= (double)o.clients / o.ramp_per_s + 1) {
            t->measuring = 1;
            measure_from = now;
            deadline = now + o.duration_s;
        }
        if (t->measuring && now >= deadline)
            break;
        if (now - start > 3600)
            break; /* a hard bound, whatever the settings */
        int n = epoll_wait(ep, events, 1024, 10);
        for (int i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            if (c->state == CONNECTING)
                on_writable(ep, c, &o, t);
            else if (c->state != CLOSED)
                on_readable(ep, c, &o, t);
        }
    }
    double seconds = mono_s() - measure_from;
    for (int i = 0; i < opened; i++)
        close_conn(ep, &conns[i], t, 0);
    report(&o, t, seconds);
    close(ep);
    free(conns);
    free(t);
    return 0;
}
