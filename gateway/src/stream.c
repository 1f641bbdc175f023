/* stream.c -- the SSE loop of one client. Each event was framed once by the bus thread;
 * here we only copy the frames this client has not yet been sent, several at a time, and
 * write them with no lock held. Once caught up, a stream is parked with a fan-out writer,
 * which runs the same pump without blocking; the worker takes it back when the socket
 * fills up. */
#include "stream.h"

#include "clock.h"
#include "fanout.h"
#include "http.h"
#include "log.h"
#include "sockfd.h"
#include "sse.h"

#include <civetweb.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { STREAM_BUF = FANOUT_SCRATCH, RESET_FRAME_MAX = 48, NO_RESET = -1 };

/* How often a client adds its write counters to the shared ones. */
static const int64_t FLUSH_NS = 100 * 1000000;

typedef struct {
    struct mg_connection *conn;
    hub_t *hub;
    char *buf; /* STREAM_BUF bytes, allocated when first needed: parked streams use their
                * writer's buffer, so most streams never need one */
    int64_t oldest_ns; /* bus receipt time of the first event in buf */
    uint64_t cursor; /* next ring position to send */
    int64_t last_write_ns, last_flush_ns;
    metrics_writes_t writes;
    ring_meta_t last; /* the id the client holds: the last sent, or its Last-Event-ID */
    int has_last;
    int html;          /* also send each event's HTML message (the page asks for it) */
    int pending_reset; /* a metrics_reset_t to send before anything else, or NO_RESET */
    int fd;            /* the socket, for parking; -1: this stream never parks */
    int parked;        /* a writer runs the pump: writes must not block */
    size_t tail;       /* bytes at the start of buf that a writer could not send */
    uint64_t tail_events;
    fanout_client_t park;
} stream_t;

static void drop_slow(stream_t *s, const char *why)
{
    metrics_add(&s->hub->metrics.sse_dropped_slow, 1);
    log_info("client dropped as slow", "reason=%s behind=%llu max_lag=%ld", why,
             (unsigned long long)(ring_head(s->hub->ring) - s->cursor), s->hub->cfg->max_lag);
}

static char *stream_buffer(stream_t *s)
{
    if (s->buf == NULL)
        s->buf = malloc(STREAM_BUF);
    return s->buf;
}

static void count_written(stream_t *s, size_t len)
{
    s->writes.bytes += len;
    s->last_write_ns = clock_ns(CLOCK_MONOTONIC);
}

/* A parked stream's write: what the socket does not take now is kept at the start of buf
 * for the worker to finish, and -EWOULDBLOCK sends the stream back to it. */
static int write_nonblocking(stream_t *s, const char *bytes, size_t len)
{
    ssize_t n = send(s->fd, bytes, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return -EPIPE;
    size_t sent = n > 0 ? (size_t)n : 0;
    count_written(s, sent);
    if (sent == len)
        return 0;
    if (stream_buffer(s) == NULL)
        return -ENOMEM;
    memmove(s->buf, bytes + sent, len - sent);
    s->tail = len - sent;
    return -EWOULDBLOCK;
}

/* A write that fails after the whole write timeout met a client that stopped reading (the
 * kernel buffer is full); one that fails sooner met a client that left. */
static int stream_write(stream_t *s, const char *bytes, size_t len)
{
    if (s->parked)
        return write_nonblocking(s, bytes, len);
    int64_t started = clock_ns(CLOCK_MONOTONIC);
    if (mg_write(s->conn, bytes, len) != (int)len) {
        if (clock_ns(CLOCK_MONOTONIC) - started >= s->hub->cfg->write_timeout_ms * 1000000)
            drop_slow(s, "write-timeout");
        return -EPIPE;
    }
    count_written(s, len);
    return 0;
}

/* Writes the collected events and counts them, latency measured from the oldest. */
static int send_events(stream_t *s, const char *bytes, size_t len, uint64_t events)
{
    int rc = stream_write(s, bytes, len);
    if (rc == -EWOULDBLOCK)
        s->tail_events = events;
    if (rc < 0)
        return rc;
    metrics_writes_observe(&s->writes, events, (s->last_write_ns - s->oldest_ns) / 1000);
    if (s->last_write_ns - s->last_flush_ns >= FLUSH_NS) {
        metrics_writes_flush(&s->hub->metrics, &s->writes);
        s->last_flush_ns = s->last_write_ns;
    }
    return 0;
}

/* "event: reset\ndata: REASON\n\n", without an id, so the client keeps its last id. */
static int reset_encode(stream_t *s, metrics_reset_t reason, char *dst, size_t cap)
{
    metrics_add(&s->hub->metrics.sse_resets[reason], 1);
    const char *name = metrics_reset_name(reason);
    sse_event_t ev = {NULL, "reset", NULL, name, strlen(name)};
    return sse_frame_encode(dst, cap, &ev);
}

static int send_preamble(stream_t *s)
{
    mg_response_header_start(s->conn, 200);
    mg_response_header_add(s->conn, "Content-Type", "text/event-stream", -1);
    mg_response_header_add(s->conn, "Cache-Control", "no-cache", -1);
    mg_response_header_add(s->conn, "X-Accel-Buffering", "no", -1);
    http_add_common_headers(s->conn);
    if (mg_response_header_send(s->conn) < 0)
        return -EPIPE;
    /* The comment flushes the headers through proxies before the first event. */
    char hello[128];
    int n = sse_retry_encode(hello, sizeof hello, s->hub->cfg->retry_ms);
    int m = n < 0 ? n : sse_comment_encode(hello + n, sizeof hello - (size_t)n, "connected");
    int r = 0;
    if (m >= 0 && s->pending_reset != NO_RESET)
        r = reset_encode(s, (metrics_reset_t)s->pending_reset, hello + n + m,
                         sizeof hello - (size_t)(n + m));
    return m < 0 || r < 0 ? -ENOSPC : stream_write(s, hello, (size_t)(n + m + r));
}

/* The id the client last saw: the Last-Event-ID header, or the lastEventId query
 * parameter for clients that cannot set headers. 0, -ENOENT without one, -EINVAL. */
static int last_event_id(struct mg_connection *conn, uint64_t *epoch, uint64_t *seq)
{
    const char *header = mg_get_header(conn, "Last-Event-ID");
    if (header)
        return sse_id_parse(header, strlen(header), epoch, seq);
    const char *query = mg_get_request_info(conn)->query_string;
    char value[SSE_ID_MAX];
    int n = query ? mg_get_var(query, strlen(query), "lastEventId", value, sizeof value) : -1;
    if (n == -1)
        return -ENOENT;
    return n < 0 ? -EINVAL : sse_id_parse(value, (size_t)n, epoch, seq);
}

/* "html=1" in the query: the page, which swaps each event's HTML message into itself. */
static int wants_html(struct mg_connection *conn)
{
    const char *query = mg_get_request_info(conn)->query_string;
    char value[4];
    int n = query ? mg_get_var(query, strlen(query), "html", value, sizeof value) : -1;
    return n == 1 && value[0] == '1';
}

static int is_successor(const ring_meta_t *m, const ring_meta_t *last)
{
    return m->epoch == last->epoch && m->seq == last->seq + 1;
}

/* Where a client starts: after its last id when we hold what follows it, else live
 * (after a reset event that says why). */
static void start_position(stream_t *s)
{
    ring_t *ring = s->hub->ring;
    uint64_t epoch, seq, head = ring_head(ring);
    s->cursor = head;
    int rc = last_event_id(s->conn, &epoch, &seq);
    if (rc == -ENOENT)
        return;
    if (rc < 0) {
        s->pending_reset = RESET_INVALID_ID;
        return;
    }
    s->last = (ring_meta_t){.epoch = epoch, .seq = seq};
    s->has_last = 1;
    uint64_t pos = ring_seek(ring, epoch, seq);
    ring_meta_t first;
    char frame[RING_FRAME_MAX];
    /* Every held event comes after the id: unless the oldest is its successor, what lay
     * between is gone. */
    if (pos == ring_tail(ring) && pos < head &&
        ring_read(ring, pos, frame, sizeof frame, &first) >= 0 && !is_successor(&first, &s->last)) {
        s->pending_reset = first.epoch != epoch ? RESET_EPOCH : RESET_TOO_OLD;
        s->has_last = 0;
        return;
    }
    s->cursor = pos;
    metrics_add(&s->hub->metrics.sse_resumes, 1);
}

/* Checks the next frame against the id the client holds: 0 to send it, 1 to skip it (the
 * client has it already), or a reset reason + 2 to send a reset before it. */
static int continuity(stream_t *s, const ring_meta_t *m)
{
    ring_meta_t last = s->last;
    int had_last = s->has_last;
    s->has_last = 1;
    if (!had_last || is_successor(m, &last)) {
        s->last = *m;
        return 0;
    }
    if (m->epoch < last.epoch || (m->epoch == last.epoch && m->seq <= last.seq))
        return 1;
    s->last = *m;
    return 2 + (m->epoch != last.epoch ? RESET_EPOCH : RESET_GAP);
}

/* Copies frames from the cursor up to head into the buffer, with a reset event wherever
 * the client's ids would jump. Returns the byte count and sets *events, or -ERANGE when
 * the client's next frame was already overwritten. */
static int collect(stream_t *s, uint64_t head, char *dst, size_t cap, uint64_t *events)
{
    size_t len = 0;
    *events = 0;
    while (s->cursor < head && cap - len >= RING_FRAME_MAX + RESET_FRAME_MAX) {
        char *at = dst + len;
        ring_meta_t m;
        int n = ring_read(s->hub->ring, s->cursor, at, RING_FRAME_MAX, &m);
        if (n < 0)
            return n == -EAGAIN ? (int)len : -ERANGE;
        s->cursor++;
        if (!s->html)
            n = (int)m.plain_len;
        if (len == 0)
            s->oldest_ns = m.received_ns;
        int verdict = continuity(s, &m);
        if (verdict == 1)
            continue;
        if (verdict >= 2) { /* rare: make room for the reset in front of the frame */
            char reset[RESET_FRAME_MAX];
            int r = reset_encode(s, (metrics_reset_t)(verdict - 2), reset, sizeof reset);
            if (r < 0)
                return r;
            memmove(at + r, at, (size_t)n);
            memcpy(at, reset, (size_t)r);
            n += r;
        }
        len += (size_t)n;
        (*events)++;
    }
    return (int)len;
}

/* Sends pending events, collected in dst, or a heartbeat when one is due. Returns 1 when
 * it sent something, 0 when nothing was due, <0 to close. */
static int send_due(stream_t *s, char *dst, size_t cap)
{
    const gateway_config_t *cfg = s->hub->cfg;
    uint64_t head = ring_head(s->hub->ring);
    if (head > s->cursor) {
        uint64_t events;
        int n = head - s->cursor > (uint64_t)cfg->max_lag ? -ERANGE
                                                           : collect(s, head, dst, cap, &events);
        if (n < 0) {
            drop_slow(s, "lag");
            return n;
        }
        return n == 0 ? 0 : (n = send_events(s, dst, (size_t)n, events)) < 0 ? n : 1;
    }
    int64_t idle_ms = (clock_ns(CLOCK_MONOTONIC) - s->last_write_ns) / 1000000;
    if (idle_ms < cfg->heartbeat_ms)
        return 0;
    static const char beat[] = ": heartbeat\n\n";
    int rc = stream_write(s, beat, sizeof beat - 1);
    return rc < 0 ? rc : 1;
}

/* The worker's loop step. Returns 0 to go on, <0 to close. */
static int pump(stream_t *s)
{
    if (stream_buffer(s) == NULL)
        return -ENOMEM;
    int rc = send_due(s, s->buf, STREAM_BUF);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    /* No timeout: main's periodic wake-up wakes idle streams for their heartbeats. */
    return ring_wait(s->hub->ring, s->cursor, -1) == -ESHUTDOWN ? -ESHUTDOWN : 0;
}

/* The writer's pump for a parked stream, collecting into the writer's scratch buffer. */
static int on_parked_pump(void *ctx, char *scratch, size_t cap)
{
    stream_t *s = ctx;
    if (ring_closed(s->hub->ring))
        return -ESHUTDOWN;
    int rc = send_due(s, scratch, cap);
    return rc < 0 ? rc : 0;
}

/* Finishes, on the worker, the write a writer left half done; blocking is allowed here. */
static int finish_tail(stream_t *s)
{
    size_t len = s->tail;
    uint64_t events = s->tail_events;
    s->tail = 0;
    s->tail_events = 0;
    return events ? send_events(s, s->buf, len, events) : stream_write(s, s->buf, len);
}

static int can_park(const stream_t *s)
{
    ring_t *ring = s->hub->ring;
    return s->hub->fanout && s->fd >= 0 && s->cursor == ring_head(ring) && !ring_closed(ring);
}

/* Sleeps while a writer sends for this stream. Returns 0 to go on, <0 to close. */
static int park(stream_t *s)
{
    s->park = (fanout_client_t){.fd = s->fd, .pump = on_parked_pump, .ctx = s};
    s->parked = 1;
    atomic_fetch_add(&s->hub->parked, 1);
    int state = fanout_park(s->hub->fanout, &s->park);
    atomic_fetch_sub(&s->hub->parked, 1);
    s->parked = 0;
    if (state == FANOUT_ENDED)
        return -ECONNRESET;
    if (s->tail == 0) { /* the fan-out refused it or stopped: stay on this worker */
        s->fd = -1;
        return 0;
    }
    metrics_add(&s->hub->metrics.sse_returned, 1);
    return finish_tail(s);
}

int stream_serve(struct mg_connection *conn, hub_t *hub)
{
    static const char *const retry_later[] = {"Retry-After", "1", NULL};
    int rc = hub_client_enter(hub);
    if (rc < 0) {
        const char *why = rc == -EBUSY ? "client limit reached\n" : "gateway is draining\n";
        return http_send(conn, 503, "text/plain", why, strlen(why), retry_later);
    }
    stream_t s = {.conn = conn, .hub = hub, .pending_reset = NO_RESET, .fd = sockfd_of(conn),
                  .html = wants_html(conn)};
    start_position(&s);
    rc = send_preamble(&s);
    while (rc == 0)
        rc = can_park(&s) ? park(&s) : pump(&s);
    metrics_writes_flush(&hub->metrics, &s.writes);
    free(s.buf);
    hub_client_leave(hub);
    log_debug("client left", "clients=%ld", atomic_load(&hub->clients));
    return 200;
}
