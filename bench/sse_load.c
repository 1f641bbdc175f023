/* sse_load.c -- many SSE streams from one process (epoll, non-blocking sockets): opens
 * --clients connections at --ramp-per-s, parses every stream, and reports deliveries/s,
 * latency from the publish time carried in each event, and missed or duplicated ids.
 *
 * Publish time and sequence per event: our gateway sends "id: EPOCH-SEQ" and a
 * ": t=PUBLISH_NS" comment; for nchan the bench publisher puts "t=PUBLISH_NS SEQ" in the
 * data. Every loop is bounded by --duration-s.
 *
 * --reconnect: a stream that ends (EOF, error, or an answer other than 200) is opened
 * again after the server's `retry:` delay (default --retry-ms) with +-30% jitter, sending
 * `Last-Event-ID` of the last event received, like a browser's EventSource. Each
 * connection keeps its continuity across reconnections: events lost (a jump in seq within
 * an epoch), duplicated (a seq not newer within an epoch), `event: reset` by reason, and
 * the reconnect time (stream end to the first byte of the next 200 answer).
 * --report-every-s N prints a JSON line of cumulative counters every N seconds; SIGUSR1
 * prints one too, marked, with the reconnect times and event latencies since the previous
 * mark; SIGTERM or SIGINT end the run early with the final summary. The summary also has
 * each connection's time from its first connect to its first 200 answer and to its first
 * event (first_answer_*, first_event_*).
 *
 * Across all connections: `conflicts` counts events whose id (epoch, seq) some connection
 * received before with another value (two publishers of one id: what a generator pair must
 * never do), checked against the latest IDS ids received; `gap_max_ms` (per mark, and in
 * the summary) is the longest time a connection went from one event to its next, across
 * reconnections: the longest stall a client saw (the generator's period when nothing
 * happened). */
#include "event_id.h"
#include "histogram.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

enum { BUF = 8192, SOURCES = 16, STALL_S = 20, IDS = 4096 };
enum { CONNECTING, HEADERS, STREAMING, CLOSED, WAITING };
/* `event: reset` reasons, as the gateway names them in `data:`; the last is anything else. */
enum { R_TOO_OLD, R_EPOCH, R_GAP, R_INVALID_ID, R_OTHER, REASONS };
static const char *const reason_names[REASONS] = {"too-old", "epoch", "gap", "invalid-id", "other"};
static const char *const reason_keys[REASONS] = {"too_old", "epoch", "gap", "invalid_id", "other"};

typedef struct {
    const char *host, *path, *cdf;
    int port, clients, ramp_per_s, duration_s, nchan, json;
    int reconnect, retry_ms, report_every_s, idle_timeout_s;
} options_t;

typedef struct {
    int fd, state, index;
    size_t len;
    char buf[BUF];
    /* the event being parsed */
    int64_t t_ns;
    uint64_t epoch, seq;
    int has_seq, is_number, is_reset;
    char data[32]; /* the first data line of the event, cut short: a reset's reason */
    /* continuity, kept across reconnections */
    uint64_t last_epoch, last_seq;
    int has_last;
    uint64_t missed, duplicated, resets, reconnects;
    /* reconnection */
    int retry_ms;         /* the server's advice (retry:), else --retry-ms */
    double closed_at;     /* when the stream ended, until the next 200 (0: none pending) */
    double reconnect_at;  /* WAITING: when to open the next connection */
    double first_byte_at; /* the answer's first byte */
    double last_byte_at;  /* STREAMING: the stream's latest byte */
    double opened_at;     /* its first connect, for the time to the first answer and event */
    int answered, served; /* got a 200, an event (since its first connect) */
    double last_event_at; /* its latest event, across reconnections (0: none yet) */
} conn_t;

/* The value first received for an id, in a slot chosen by seq. */
typedef struct {
    uint64_t epoch, seq;
    char value[32];
} id_value_t;

typedef struct {
    histogram_t latency, reconnect, reconnect_mark, latency_mark; /* us */
    histogram_t first_answer, first_event; /* us from a connection's first connect */
    uint64_t deliveries, missed, duplicated, resets, errors, refused, connected, failed;
    uint64_t events, reasons[REASONS], reconnects, epoch_changes, idle_closed;
    uint64_t conns_with_loss, conns_with_dup, conns_reconnected, max_reconnects;
    /* Answers other than 200, by status (index: status / 100, 0 for no status line) and
     * by who answered: a gateway behind the balancer (its answer carries X-RN-Server), or
     * the balancer itself (or a server that names none). */
    uint64_t refused_by_gateway[6], refused_by_other[6];
    int64_t connected_now, waiting;
    int measuring, marks;
    uint64_t conflicts;
    double gap_max_s, gap_max_mark_s; /* whole run, since the previous mark */
    id_value_t ids[IDS];
} totals_t;

static volatile sig_atomic_t stop_requested, marks_requested;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        marks_requested++;
    else
        stop_requested = 1;
}

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

/* Counts a conflict when another value was received for c's id. */
static void check_value(const conn_t *c, totals_t *t)
{
    id_value_t *slot = &t->ids[c->seq % IDS];
    if (slot->epoch == c->epoch && slot->seq == c->seq) {
        if (strcmp(slot->value, c->data) != 0)
            t->conflicts++;
        return;
    }
    if (slot->epoch != c->epoch || slot->seq < c->seq) {
        slot->epoch = c->epoch;
        slot->seq = c->seq;
        snprintf(slot->value, sizeof slot->value, "%s", c->data);
    }
}

/* The time since the connection's previous event, the longest kept. */
static void note_gap(conn_t *c, totals_t *t)
{
    double now = mono_s();
    if (c->last_event_at > 0) {
        double gap = now - c->last_event_at;
        if (gap > t->gap_max_s)
            t->gap_max_s = gap;
        if (gap > t->gap_max_mark_s)
            t->gap_max_mark_s = gap;
    }
    c->last_event_at = now;
}

static void on_event(conn_t *c, totals_t *t)
{
    if (c->is_reset) {
        int r = 0;
        while (r < R_OTHER && strcmp(c->data, reason_names[r]) != 0)
            r++;
        t->reasons[r]++;
        t->resets++;
        c->resets++;
        return;
    }
    if (!c->is_number || !c->has_seq)
        return; /* comments, unnamed (html=1) messages, anything but `event: number` */
    t->events++;
    check_value(c, t);
    note_gap(c, t);
    if (!c->served) {
        c->served = 1;
        histogram_add(&t->first_event, (int64_t)((mono_s() - c->opened_at) * 1e6));
    }
    if (c->t_ns)
        histogram_add(&t->latency_mark, (wall_ns() - c->t_ns) / 1000);
    if (t->measuring) {
        t->deliveries++;
        if (c->t_ns)
            histogram_add(&t->latency, (wall_ns() - c->t_ns) / 1000);
    }
    if (c->has_last && c->epoch == c->last_epoch) {
        if (c->seq <= c->last_seq) {
            t->duplicated++;
            c->duplicated++;
        } else if (c->seq > c->last_seq + 1) {
            t->missed += c->seq - c->last_seq - 1;
            c->missed += c->seq - c->last_seq - 1;
        }
    } else if (c->has_last) {
        t->epoch_changes++;
    }
    if (!c->has_last || c->epoch != c->last_epoch || c->seq > c->last_seq) {
        c->last_epoch = c->epoch;
        c->last_seq = c->seq;
    }
    c->has_last = 1;
}

static void on_line(conn_t *c, char *line, totals_t *t, int nchan)
{
    if (line[0] == '\0') {
        on_event(c, t);
        c->t_ns = 0;
        c->has_seq = c->is_number = c->is_reset = 0;
        c->data[0] = '\0';
    } else if (!nchan && strncmp(line, ": t=", 4) == 0) {
        c->t_ns = strtoll(line + 4, NULL, 10);
    } else if (!nchan && strncmp(line, "id: ", 4) == 0) {
        c->has_seq = event_id_parse(line + 4, strlen(line + 4), &c->epoch, &c->seq) == 0;
    } else if (strncmp(line, "event: ", 7) == 0) {
        c->is_number = strcmp(line + 7, "number") == 0;
        c->is_reset = strcmp(line + 7, "reset") == 0;
    } else if (nchan && strncmp(line, "data: t=", 8) == 0) {
        c->is_number = 1;
        c->epoch = 0;
        c->has_seq = sscanf(line + 8, "%" SCNd64 " %" SCNu64, &c->t_ns, &c->seq) == 2;
    } else if (strncmp(line, "data: ", 6) == 0 && c->data[0] == '\0') {
        snprintf(c->data, sizeof c->data, "%s", line + 6);
    } else if (strncmp(line, "retry: ", 7) == 0) {
        long ms = strtol(line + 7, NULL, 10);
        if (ms > 0 && ms <= 600000)
            c->retry_ms = (int)ms;
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

/* Ends the connection. With `again` and --reconnect, the next one is due after the retry
 * delay with +-30% jitter; the reconnect time counts from the first of these ends. */
static void close_conn(int ep, conn_t *c, const options_t *o, totals_t *t, int error, int again)
{
    if (c->state == CLOSED || c->state == WAITING)
        return;
    if (c->fd >= 0) {
        if (epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL) < 0 && errno != ENOENT)
            perror("sse_load: epoll_ctl DEL");
        close(c->fd);
        c->fd = -1;
    }
    if (c->state == STREAMING)
        t->connected_now--;
    t->errors += error;
    c->state = CLOSED;
    c->len = 0;
    c->t_ns = 0;
    c->has_seq = c->is_number = c->is_reset = 0;
    c->data[0] = '\0';
    if (!again || !o->reconnect)
        return;
    double now = mono_s();
    if (c->closed_at == 0)
        c->closed_at = now;
    c->reconnect_at = now + c->retry_ms / 1000.0 * (0.7 + 0.6 * drand48());
    c->state = WAITING;
    t->waiting++;
}

static int open_conn(int ep, conn_t *c, const options_t *o, totals_t *t)
{
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    /* Several loopback source addresses: more than one ephemeral port range's worth. */
    src.sin_addr.s_addr = htonl(0x7f000001 + (uint32_t)(c->index % SOURCES));
    dst.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &dst.sin_addr) != 1)
        return -1; /* checked in parse_options */
    c->first_byte_at = 0;
    if (c->opened_at == 0)
        c->opened_at = mono_s();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)) {
        t->failed++;
        c->state = CONNECTING; /* so that close_conn closes the socket and schedules */
        close_conn(ep, c, o, t, 0, 1);
        return -1;
    }
    c->state = CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        perror("sse_load: epoll_ctl ADD");
        t->failed++;
        close(c->fd); /* not in the epoll set */
        c->fd = -1;
        close_conn(ep, c, o, t, 0, 1);
        return -1;
    }
    return 0;
}

static void on_writable(int ep, conn_t *c, const options_t *o, totals_t *t)
{
    int err = 0;
    socklen_t len = sizeof err;
    char req[512], last[64] = "", id[EVENT_ID_MAX];
    if (c->has_last && !o->nchan && event_id_format(id, sizeof id, c->last_epoch, c->last_seq) > 0)
        snprintf(last, sizeof last, "Last-Event-ID: %s\r\n", id);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n%s\r\n",
                     o->path, o->host, o->port, last);
    if (n < 0 || (size_t)n >= sizeof req ||
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0 ||
        send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        t->failed++;
        close_conn(ep, c, o, t, 0, 1);
        return;
    }
    c->state = HEADERS;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        perror("sse_load: epoll_ctl MOD");
        t->failed++;
        close_conn(ep, c, o, t, 0, 1);
    }
}

/* A refused answer whose head is in head (NUL-terminated): counted by status class and
 * by who answered, so a fault run can tell the balancer's 503 from a gateway's. */
static void count_refusal(totals_t *t, const char *head)
{
    int status = 0;
    if (sscanf(head, "HTTP/1.%*c %3d", &status) != 1 || status < 100 || status > 599)
        status = 0;
    int by_gateway = strcasestr(head, "\r\nX-RN-Server:") != NULL;
    (by_gateway ? t->refused_by_gateway : t->refused_by_other)[status / 100]++;
    t->refused++;
}

static void on_readable(int ep, conn_t *c, const options_t *o, totals_t *t)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, BUF - 1 - c->len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            close_conn(ep, c, o, t, 1, 1);
            return;
        }
        double now = mono_s();
        c->last_byte_at = now;
        if (c->first_byte_at == 0)
            c->first_byte_at = now;
        c->len += (size_t)n;
        if (c->state == HEADERS) {
            c->buf[c->len] = '\0';
            char *end = strstr(c->buf, "\r\n\r\n");
            if (end == NULL) {
                if (c->len == BUF - 1) { /* no end of headers in 8 KiB */
                    t->refused++;
                    close_conn(ep, c, o, t, 0, 1);
                    return;
                }
                continue;
            }
            if (strncmp(c->buf, "HTTP/1.1 200", 12) != 0) {
                count_refusal(t, c->buf);
                close_conn(ep, c, o, t, 0, 1);
                return;
            }
            t->connected++;
            t->connected_now++;
            if (!c->answered) {
                c->answered = 1;
                histogram_add(&t->first_answer, (int64_t)((now - c->opened_at) * 1e6));
            }
            if (c->closed_at != 0) {
                int64_t us = (int64_t)((c->first_byte_at - c->closed_at) * 1e6);
                histogram_add(&t->reconnect, us);
                histogram_add(&t->reconnect_mark, us);
                c->closed_at = 0;
            }
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
    *o = (options_t){"127.0.0.1", "/events", NULL, 8080, 100, 1000, 10, 0, 0, 0, 2000, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json"))
            o->json = 1;
        else if (!strcmp(a, "--nchan"))
            o->nchan = 1;
        else if (!strcmp(a, "--reconnect"))
            o->reconnect = 1;
        else if (v && !strcmp(a, "--host"))
            o->host = v, i++;
        else if (v && !strcmp(a, "--path"))
            o->path = v, i++;
        else if (v && !strcmp(a, "--cdf"))
            o->cdf = v, i++;
        else if (v && !strcmp(a, "--port"))
            o->port = atoi(v), i++;
        else if (v && !strcmp(a, "--clients"))
            o->clients = atoi(v), i++;
        else if (v && !strcmp(a, "--ramp-per-s"))
            o->ramp_per_s = atoi(v), i++;
        else if (v && !strcmp(a, "--duration-s"))
            o->duration_s = atoi(v), i++;
        else if (v && !strcmp(a, "--retry-ms"))
            o->retry_ms = atoi(v), i++;
        else if (v && !strcmp(a, "--report-every-s"))
            o->report_every_s = atoi(v), i++;
        else if (v && !strcmp(a, "--idle-timeout-s"))
            o->idle_timeout_s = atoi(v), i++;
        else {
            fprintf(stderr,
                    "usage: sse_load [--host H] [--port P] [--path /events] [--clients N]\n"
                    "  [--ramp-per-s R] [--duration-s D] [--nchan] [--json]\n"
                    "  [--reconnect [--retry-ms MS] [--idle-timeout-s S]] [--report-every-s S]\n"
                    "  [--cdf PREFIX]  (latency CDFs as CSV: PREFIX.csv, PREFIX.markN.csv)\n");
            return -1;
        }
    }
    struct in_addr addr;
    if (o->clients < 1 || o->ramp_per_s < 1 || o->duration_s < 1 || o->duration_s > 3600 ||
        o->port < 1 || o->port > 65535 || o->retry_ms < 1 || o->retry_ms > 600000 ||
        o->report_every_s < 0 || o->report_every_s > 3600 || o->idle_timeout_s < 0 ||
        o->idle_timeout_s > 3600 || inet_pton(AF_INET, o->host, &addr) != 1) {
        fprintf(stderr, "sse_load: clients, ramp and duration (<= 3600 s) must be positive, "
                        "retry 1..600000 ms, report and idle timeout 0..3600 s, host an IPv4 "
                        "address\n");
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
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            perror("sse_load: setrlimit");
    }
}

/* The cumulative counters as JSON members (no braces), for the timeline and the summary. */
static void print_counters(const totals_t *t)
{
    printf("\"connected_now\":%" PRId64 ",\"waiting\":%" PRId64 ",\"reconnects\":%" PRIu64
           ",\"lost\":%" PRIu64 ",\"dup\":%" PRIu64 ",\"resets\":%" PRIu64,
           t->connected_now, t->waiting, t->reconnects, t->missed, t->duplicated, t->resets);
    for (int r = 0; r < REASONS; r++)
        printf(",\"reset_%s\":%" PRIu64, reason_keys[r], t->reasons[r]);
    printf(",\"events\":%" PRIu64 ",\"epoch_changes\":%" PRIu64 ",\"idle_closed\":%" PRIu64
           ",\"conflicts\":%" PRIu64 ",\"gap_max_ms\":%.1f",
           t->events, t->epoch_changes, t->idle_closed, t->conflicts, t->gap_max_s * 1e3);
    for (int k = 1; k < 6; k++)
        printf(",\"refused_%dxx_gateway\":%" PRIu64 ",\"refused_%dxx_other\":%" PRIu64, k,
               t->refused_by_gateway[k], k, t->refused_by_other[k]);
}

/* "NAME_samples", "NAME_p50_ms", "NAME_p99_ms" and "NAME_max_ms" of h, each followed by a
 * comma. */
static void print_histogram(const char *name, const histogram_t *h)
{
    printf("\"%s_samples\":%" PRIu64 ",\"%s_p50_ms\":%.3f,\"%s_p99_ms\":%.3f,"
           "\"%s_max_ms\":%.3f,",
           name, h->total, name, histogram_percentile(h, 0.5) / 1e3, name,
           histogram_percentile(h, 0.99) / 1e3, name, (double)h->max_us / 1e3);
}

/* The latency distribution h as CSV in PREFIX SUFFIX.csv, for bench/plot.sh; a failure is
 * reported and leaves the run's numbers alone. */
static void write_cdf(const char *prefix, const char *suffix, const histogram_t *h)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s%s.csv", prefix, suffix) >= (int)sizeof path) {
        fprintf(stderr, "sse_load: --cdf prefix too long\n");
        return;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "sse_load: %s: %s\n", path, strerror(errno));
        return;
    }
    int written = histogram_write_cdf(h, f), err = errno;
    if (fclose(f) != 0 && written == 0)
        written = -1, err = errno;
    if (written < 0)
        fprintf(stderr, "sse_load: %s: %s\n", path, strerror(err));
}

/* One timeline line: the time since start (s), wall clock (s), streams with no byte for
 * STALL_S, the cumulative counters; a mark (SIGUSR1) adds the reconnect times since the
 * previous mark and starts a new interval. */
static void print_tick(const options_t *o, totals_t *t, double since_start, int64_t stalled,
                       int mark)
{
    printf("{\"t\":%.3f,\"wall\":%.3f,", since_start, (double)wall_ns() / 1e9);
    if (mark) {
        if (o->cdf) {
            char suffix[32]; /* ".mark" and an int always fit */
            (void)snprintf(suffix, sizeof suffix, ".mark%d", t->marks);
            write_cdf(o->cdf, suffix, &t->latency_mark);
        }
        printf("\"mark\":%d,", t->marks);
        print_histogram("mark_reconnect", &t->reconnect_mark);
        print_histogram("mark_latency", &t->latency_mark);
        memset(&t->reconnect_mark, 0, sizeof t->reconnect_mark);
        memset(&t->latency_mark, 0, sizeof t->latency_mark);
        printf("\"mark_gap_max_ms\":%.1f,", t->gap_max_mark_s * 1e3);
        t->gap_max_mark_s = 0;
    }
    printf("\"stalled\":%" PRId64 ",\"refused\":%" PRIu64 ",\"failed\":%" PRIu64
           ",\"errors\":%" PRIu64 ",",
           stalled, t->refused, t->failed, t->errors);
    print_counters(t);
    printf("}\n");
    if (fflush(stdout) != 0)
        perror("sse_load: stdout");
}

static void report(const options_t *o, const totals_t *t, double seconds)
{
    const histogram_t *h = &t->latency, *r = &t->reconnect;
    double rate = seconds > 0 ? (double)t->deliveries / seconds : 0;
    double p50 = histogram_percentile(h, 0.5) / 1e3, p99 = histogram_percentile(h, 0.99) / 1e3;
    double p999 = histogram_percentile(h, 0.999) / 1e3, max = (double)h->max_us / 1e3;
    double r50 = histogram_percentile(r, 0.5) / 1e3, r99 = histogram_percentile(r, 0.99) / 1e3;
    double rmax = (double)r->max_us / 1e3;
    if (o->json) {
        printf("{\"clients\":%d,\"connected\":%" PRIu64 ",\"refused\":%" PRIu64
               ",\"failed\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"deliveries\":%" PRIu64
               ",\"seconds\":%.2f,\"deliveries_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f"
               ",\"p999_ms\":%.3f,\"max_ms\":%.3f,\"missed\":%" PRIu64 ",\"duplicated\":%" PRIu64
               ",\"conns_with_loss\":%" PRIu64 ",\"conns_with_dup\":%" PRIu64
               ",\"conns_reconnected\":%" PRIu64 ",\"max_reconnects_per_conn\":%" PRIu64
               ",\"reconnect_samples\":%" PRIu64 ",\"reconnect_p50_ms\":%.1f"
               ",\"reconnect_p99_ms\":%.1f,\"reconnect_max_ms\":%.1f,",
               o->clients, t->connected, t->refused, t->failed, t->errors, t->deliveries, seconds,
               rate, p50, p99, p999, max, t->missed, t->duplicated, t->conns_with_loss,
               t->conns_with_dup, t->conns_reconnected, t->max_reconnects, r->total, r50, r99,
               rmax);
        print_histogram("first_answer", &t->first_answer);
        print_histogram("first_event", &t->first_event);
        print_counters(t);
        printf("}\n");
        return;
    }
    printf("clients %d: connected %" PRIu64 ", refused %" PRIu64 ", failed %" PRIu64
           ", errors %" PRIu64 "\n",
           o->clients, t->connected, t->refused, t->failed, t->errors);
    printf("deliveries %" PRIu64 " in %.1f s = %.0f/s; latency ms p50 %.3f p99 %.3f p999 %.3f "
           "max %.3f\nmissed %" PRIu64 " (on %" PRIu64 " connections), duplicated %" PRIu64 "\n",
           t->deliveries, seconds, rate, p50, p99, p999, max, t->missed, t->conns_with_loss,
           t->duplicated);
    if (!o->reconnect && t->resets == 0)
        return;
    printf("reconnects %" PRIu64 " (on %" PRIu64 " connections, at most %" PRIu64
           " on one); reconnect ms p50 %.1f p99 %.1f max %.1f\nresets %" PRIu64 ":",
           t->reconnects, t->conns_reconnected, t->max_reconnects, r50, r99, rmax, t->resets);
    for (int i = 0; i < REASONS; i++)
        printf(" %s %" PRIu64, reason_names[i], t->reasons[i]);
    printf("; epoch changes %" PRIu64 ", closed idle %" PRIu64 "\n", t->epoch_changes,
           t->idle_closed);
}

static int install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ||
        sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
        return -1;
    return 0;
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
    if (conns == NULL || t == NULL || ep < 0 || install_signals() < 0) {
        perror("sse_load");
        return 1;
    }
    srand48((long)wall_ns() ^ (long)getpid());
    for (int i = 0; i < o.clients; i++) {
        conns[i].fd = -1;
        conns[i].index = i;
        conns[i].state = CLOSED;
        conns[i].retry_ms = o.retry_ms;
    }
    double start = mono_s(), measure_from = 0, deadline = 0;
    double next_report = o.report_every_s ? start + o.report_every_s : 0, next_scan = start;
    int opened = 0, marks_done = 0;
    struct epoll_event events[1024];
    while (!stop_requested) {
        double now = mono_s();
        int due = (int)((now - start) * o.ramp_per_s) + 1;
        while (opened < o.clients && opened < due) {
            open_conn(ep, &conns[opened], &o, t);
            opened++;
        }
        /* Measure once every connection had a second to settle. */
        if (!t->measuring && opened == o.clients &&
            now - start >= (double)o.clients / o.ramp_per_s + 1) {
            t->measuring = 1;
            measure_from = now;
            deadline = now + o.duration_s;
        }
        if (t->measuring && now >= deadline)
            break;
        if (now - start > 3600)
            break; /* a hard bound, whatever the settings */
        /* Reconnections that are due, and (4 times a second) streams idle too long. */
        if (t->waiting > 0 || (o.idle_timeout_s && now >= next_scan)) {
            int scan_idle = o.idle_timeout_s && now >= next_scan;
            if (scan_idle)
                next_scan = now + 0.25;
            for (int i = 0; i < opened; i++) {
                conn_t *c = &conns[i];
                if (c->state == WAITING && now >= c->reconnect_at) {
                    t->waiting--;
                    t->reconnects++;
                    c->reconnects++;
                    open_conn(ep, c, &o, t);
                } else if (scan_idle && c->state == STREAMING &&
                           now - c->last_byte_at > o.idle_timeout_s) {
                    t->idle_closed++;
                    close_conn(ep, c, &o, t, 1, 1);
                }
            }
        }
        int report_due = o.report_every_s && now >= next_report;
        if (report_due || marks_done != marks_requested) {
            int64_t stalled = 0;
            for (int i = 0; i < opened; i++)
                stalled += conns[i].state == STREAMING && now - conns[i].last_byte_at > STALL_S;
            if (report_due) {
                print_tick(&o, t, now - start, stalled, 0);
                while (next_report <= now)
                    next_report += o.report_every_s;
            }
            if (marks_done != marks_requested) {
                marks_done = marks_requested;
                t->marks++;
                print_tick(&o, t, now - start, stalled, 1);
            }
        }
        int n = epoll_wait(ep, events, 1024, 10);
        if (n < 0 && errno != EINTR) {
            perror("sse_load: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            if (c->state == CONNECTING)
                on_writable(ep, c, &o, t);
            else if (c->state == HEADERS || c->state == STREAMING)
                on_readable(ep, c, &o, t);
        }
    }
    double seconds = mono_s() - (measure_from ? measure_from : start);
    for (int i = 0; i < opened; i++) {
        conn_t *c = &conns[i];
        close_conn(ep, c, &o, t, 0, 0);
        t->conns_with_loss += c->missed != 0;
        t->conns_with_dup += c->duplicated != 0;
        t->conns_reconnected += c->reconnects != 0;
        if (c->reconnects > t->max_reconnects)
            t->max_reconnects = c->reconnects;
    }
    t->waiting = 0;
    report(&o, t, seconds);
    if (o.cdf)
        write_cdf(o.cdf, "", &t->latency);
    close(ep);
    free(conns);
    free(t);
    return 0;
}
