/* stream.c -- the SSE loop of one client. Each event was framed once by the bus thread;
 * here we only copy the frames this client has not yet been sent, several at a time, and
 * write them with no lock held. Once caught up, a stream is parked with a fan-out writer,
 * which runs the same pump without blocking; the worker takes it back when the socket
 * fills up. */
#include "stream.h"

#include "backfill.h"
#include "clock.h"
#include "continuity.h"
#include "cursor.h"
#include "fanout.h"
#include "frame.h"
#include "log.h"
#include "response.h"
#include "sockfd.h"
#include "sse.h"

#include <civetweb.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { STREAM_BUF = FANOUT_SCRATCH };

/* A stream is slow only if the event it is behind on came this long ago: a refill from
 * the generator puts every stream far behind at once, which is not theirs to answer. */
static const int64_t LAG_GRACE_NS = 1000 * 1000000LL;

/* What one resume may fetch from the generator, in requests of up to
 * WIRE_REPLAY_EVENTS_MAX events, each queued behind the other streams' (backfill.c). */
enum { BACKFILL_EVENTS_MAX = 100000, BACKFILL_ROUNDS = 4 };

/* How often a client adds its write counters to the shared ones. */
static const int64_t FLUSH_NS = 100 * 1000000;

typedef struct {
    struct mg_connection *conn;
    hub_t *hub;
    char *buf;         /* STREAM_BUF bytes, allocated when first needed: parked streams use their
                        * writer's buffer, so most streams never need one */
    int64_t oldest_ns; /* bus receipt time of the first event in buf */
    cursor_t cur;      /* where it stands: next position, the id it holds, what to fetch */
    int64_t last_write_ns, last_flush_ns;
    metrics_writes_t writes;
    int64_t await_until_ns;  /* while cur.held.awaiting: give up waiting then */
    int64_t drain_offset_ms; /* when draining: close this long after it began */
    int html;                /* also send each event's HTML message (the page asks for it) */
    int caught_up;           /* it has reached the head once: from then on, lag means slow */
    int fd;                  /* the socket, for parking; -1: this stream never parks */
    int sock;                /* the socket, for writes with a deadline; -1: unknown */
    int parked;              /* a writer runs the pump: writes must not block */
    size_t tail;             /* bytes at the start of buf that a writer could not send */
    uint64_t tail_events;
    fanout_client_t park;
} stream_t;

static void drop_slow(stream_t *s, const char *why)
{
    metrics_add(&s->hub->metrics.sse_dropped_slow, 1);
    log_info("client dropped as slow", "reason=%s behind=%llu max_lag=%ld", why,
             (unsigned long long)(ring_head(s->hub->ring) - s->cur.pos), s->hub->cfg->max_lag);
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

/* A blocking write with a deadline for the whole of it: civetweb's mg_write restarts its
 * timeout whenever a byte goes out, so a client that reads a trickle would hold it (and
 * its worker) forever. Used whenever we know the socket. */
static int write_by_deadline(stream_t *s, const char *bytes, size_t len)
{
    int64_t deadline = clock_mono_ms() + s->hub->cfg->write_timeout_ms;
    for (size_t sent = 0; sent < len;) {
        ssize_t n = send(s->sock, bytes + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -EPIPE;
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            drop_slow(s, "write-timeout");
            return -EPIPE;
        }
        struct pollfd ready = {s->sock, POLLOUT, 0};
        if (poll(&ready, 1, (int)left) < 0 && errno != EINTR)
            return -EPIPE;
    }
    count_written(s, len);
    return 0;
}

/* A write that fails after the whole write timeout met a client that stopped reading (the
 * kernel buffer is full); one that fails sooner met a client that left. */
static int stream_write(stream_t *s, const char *bytes, size_t len)
{
    if (s->parked)
        return write_nonblocking(s, bytes, len);
    if (s->sock >= 0)
        return write_by_deadline(s, bytes, len);
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

/* "event: reset\ndata: REASON\n\n", without an id, so the client keeps its last id. A
 * cursor_reset_fn too, hence the stream as void *. */
static int reset_encode(void *stream, metrics_reset_t reason, char *dst, size_t cap)
{
    stream_t *s = stream;
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
    mg_response_header_add(s->conn, "Connection", "close", -1);
    response_add_common_headers(s->conn);
    if (mg_response_header_send(s->conn) < 0)
        return -EPIPE;
    /* The comment flushes the headers through proxies before the first event. */
    /* Jitter, so clients of a gateway that goes away do not all come back at once. */
    long retry = s->hub->cfg->retry_ms;
    retry += retry > 0 ? (long)arc4random_uniform((uint32_t)(retry / 2 + 1)) - retry / 4 : 0;
    char hello[128];
    int n = sse_retry_encode(hello, sizeof hello, retry);
    int m = n < 0 ? n : sse_comment_encode(hello + n, sizeof hello - (size_t)n, "connected");
    int r = 0;
    if (m >= 0 && s->cur.pending_reset != CURSOR_NO_RESET)
        r = reset_encode(s, (metrics_reset_t)s->cur.pending_reset, hello + n + m,
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

/* Where a client starts (cursor.c decides), counted. */
static void start_position(stream_t *s)
{
    hub_t *hub = s->hub;
    uint64_t epoch = 0, seq = 0;
    int rc = last_event_id(s->conn, &epoch, &seq);
    switch (cursor_start(&s->cur, hub->ring, rc, epoch, seq, atomic_load(&hub->epoch),
                         hub_replay_known(hub))) {
    case CURSOR_RESUMED:
        metrics_add(&hub->metrics.sse_resumes, 1);
        break;
    case CURSOR_AWAIT: /* the client holds an id we have not reached: wait a while */
        s->await_until_ns = clock_ns(CLOCK_MONOTONIC) + hub->cfg->bus_timeout_ms * 1000000;
        break;
    case CURSOR_LIVE:
    case CURSOR_OLD_RUN:
    case CURSOR_FILL:
        break;
    }
}

/* Copies frames from the cursor up to head into dst, with resets where the client's ids
 * would jump (cursor.c). Returns the byte count and sets *events, or -ERANGE when the
 * client's next frame was already overwritten. */
static int collect(stream_t *s, uint64_t head, char *dst, size_t cap, uint64_t *events)
{
    return cursor_collect(&s->cur, s->hub->ring, head, s->html, dst, cap, events, &s->oldest_ns,
                          reset_encode, s);
}

/* Frames fetched events into buf and sends them, batched. 0 or <0 to close. */
static int send_fetched(stream_t *s, const wire_number_t *events, size_t count)
{
    size_t len = 0;
    uint64_t batch = 0;
    for (size_t i = 0; i < count; i++) {
        if (STREAM_BUF - len < RING_FRAME_MAX + CURSOR_RESET_FRAME_MAX) {
            int rc = send_events(s, s->buf, len, batch);
            if (rc < 0)
                return rc;
            len = 0;
            batch = 0;
        }
        continuity_verdict_t verdict =
            continuity_next(&s->cur.held, events[i].epoch, events[i].seq);
        if (verdict == CONTINUITY_SKIP)
            continue;
        int reason = cursor_reset_for(verdict); /* the generator's history moved on */
        int r = reason == CURSOR_NO_RESET
                    ? 0
                    : reset_encode(s, (metrics_reset_t)reason, s->buf + len, STREAM_BUF - len);
        if (r < 0)
            return r;
        len += (size_t)r;
        size_t plain;
        int n = frame_event(s->buf + len, STREAM_BUF - len, s->hub->cfg->topic, &events[i], &plain);
        if (n < 0)
            return n;
        len += s->html ? (size_t)n : plain;
        batch++;
    }
    return len > 0 ? send_events(s, s->buf, len, batch) : 0;
}

/* Fetches s->cur.fill_from..fill_to of the client's epoch and sends them. Each request
 * is finished before its events are written, so a client that reads slowly holds
 * nothing of the fetcher. Returns how many were sent, or <0 to close. */
static int fetch_and_send(stream_t *s, wire_number_t *events)
{
    long sent = 0;
    wire_replay_reply_t reply = {.events = events};
    uint64_t from = s->cur.fill_from, to = s->cur.fill_to;
    while (from <= to && sent < BACKFILL_EVENTS_MAX) {
        wire_replay_request_t req = {s->cur.held.epoch, from, to};
        int rc = backfill_fetch(s->hub->backfill, &req, &reply);
        if (rc == -ESHUTDOWN) /* the gateway stops: the stream ends, with no reset */
            return rc;
        if (rc < 0 || reply.epoch != req.epoch || reply.count == 0)
            break;
        if (events[0].seq != from && sent == 0) /* the generator no longer has the first */
            break;
        if ((rc = send_fetched(s, events, reply.count)) < 0)
            return rc;
        sent += (long)reply.count;
        from = events[reply.count - 1].seq + 1;
    }
    return (int)sent;
}

/* Fetches and sends until the ring holds what follows: by the time one fetch is sent
 * the ring may have moved on past it (a slow client, a fast stream), so ask again up to
 * its newest, a few times. Returns the events sent, or <0 to close. */
static int fetch_until_ring(stream_t *s, wire_number_t *events)
{
    long total = 0;
    for (int round = 0; round < BACKFILL_ROUNDS; round++) {
        int sent = fetch_and_send(s, events);
        if (sent <= 0)
            return sent < 0 ? sent : (int)total;
        total += sent;
        if (!cursor_refill(&s->cur, s->hub->ring))
            break;
    }
    return (int)total;
}

/* A client resuming from before our history: what the generator still holds of the gap
 * is fetched through the gateway's one fetcher and sent before the ring's events. If it
 * holds none, or the fetcher's queue is full or too slow, the client is told
 * (`reset: too-old`) and goes on live. Returns 0, or <0 to close. */
static int fill_from_generator(stream_t *s)
{
    hub_t *hub = s->hub;
    int sent = 0;
    if (hub->backfill && stream_buffer(s)) {
        wire_number_t *events = malloc(WIRE_REPLAY_EVENTS_MAX * sizeof *events);
        sent = events ? fetch_until_ring(s, events) : 0;
        free(events);
    }
    if (sent < 0)
        return sent;
    if (sent > 0) {
        metrics_add(&hub->metrics.sse_backfilled, (uint64_t)sent);
        metrics_add(&hub->metrics.sse_resumes, 1);
        cursor_after_fill(&s->cur, hub->ring);
        return 0;
    }
    char reset[CURSOR_RESET_FRAME_MAX];
    int r = reset_encode(s, RESET_TOO_OLD, reset, sizeof reset);
    cursor_go_live(&s->cur, hub->ring);
    return r < 0 ? r : stream_write(s, reset, (size_t)r);
}

/* Slow: caught up once, then more than --max-lag events behind on an event it has had a
 * while to read. A resume far back (sent blocking by its worker, bounded by the write
 * deadline) or a refill of the ring from the generator are not the client's slowness. An
 * overwritten next event is always the end. */
static int is_slow(const stream_t *s, uint64_t head)
{
    if (!s->caught_up || head - s->cur.pos <= (uint64_t)s->hub->cfg->max_lag)
        return 0;
    ring_meta_t m;
    if (ring_meta(s->hub->ring, s->cur.pos, &m) < 0)
        return 1;
    return clock_ns(CLOCK_MONOTONIC) - m.received_ns > LAG_GRACE_NS;
}

/* Never reached the client's id: tell it, and go on live. If its epoch is ours by now,
 * the id was past anything published (invalid); else its epoch is not the one we relay. */
static int give_up_waiting(stream_t *s, char *dst, size_t cap)
{
    int r = reset_encode(s, cursor_give_up(&s->cur, s->hub->ring), dst, cap);
    return r < 0 ? r : (r = stream_write(s, dst, (size_t)r)) < 0 ? r : 1;
}

/* Sends pending events, collected in dst, or a heartbeat when one is due. Returns 1 when
 * it sent something, 0 when nothing was due, <0 to close. */
static int send_due(stream_t *s, char *dst, size_t cap)
{
    const gateway_config_t *cfg = s->hub->cfg;
    if (hub_drain_due(s->hub, s->drain_offset_ms))
        return -ESHUTDOWN;
    if (s->cur.held.awaiting && clock_ns(CLOCK_MONOTONIC) >= s->await_until_ns)
        return give_up_waiting(s, dst, cap);
    uint64_t head = ring_head(s->hub->ring);
    if (head > s->cur.pos) {
        uint64_t events;
        int n = is_slow(s, head) ? -ERANGE : collect(s, head, dst, cap, &events);
        if (n < 0) {
            drop_slow(s, "lag");
            return n;
        }
        s->caught_up |= s->cur.pos == head;
        return n == 0 ? 0 : (n = send_events(s, dst, (size_t)n, events)) < 0 ? n : 1;
    }
    s->caught_up = 1;
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
    /* No timeout: main's periodic wake-up wakes idle streams for their heartbeats; only a
     * stream waiting for the client's id has a deadline of its own. */
    int64_t left_ms = (s->await_until_ns - clock_ns(CLOCK_MONOTONIC)) / 1000000 + 1;
    int timeout = s->cur.held.awaiting ? (int)(left_ms > 0 ? left_ms : 0) : -1;
    return ring_wait(s->hub->ring, s->cur.pos, timeout) == -ESHUTDOWN ? -ESHUTDOWN : 0;
}

/* The writer's pump for a parked stream, collecting into the writer's scratch buffer. */
static int on_parked_pump(void *ctx, char *scratch, size_t cap)
{
    stream_t *s = ctx;
    if (ring_closed(s->hub->ring))
        return -ESHUTDOWN;
    /* A burst may not fit one scratch buffer: go on until caught up (or the socket is
     * full, which returns the stream to its worker), so nothing due waits for a wake. */
    int rc;
    while ((rc = send_due(s, scratch, cap)) == 1 && s->cur.pos < ring_head(s->hub->ring))
        ;
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
    return s->hub->fanout && s->fd >= 0 && s->cur.pos == ring_head(ring) && !ring_closed(ring) &&
           !s->cur.held.awaiting;
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
        const char *why = rc == -EBUSY    ? "client limit reached\n"
                          : rc == -EAGAIN ? "gateway is warming up\n"
                                          : "gateway is draining\n";
        return response_send(conn, 503, "text/plain", why, strlen(why), retry_later);
    }
    int fd = sockfd_of(conn);
    if (fd < 0 && hub->fanout != NULL) /* it stays on its worker: slower, never wrong */
        metrics_add(&hub->metrics.sse_park_fallback, 1);
    stream_t s = {.conn = conn,
                  .hub = hub,
                  .fd = fd,
                  .sock = fd,
                  .html = wants_html(conn),
                  .drain_offset_ms = hub->cfg->drain_ms > 0
                                         ? (int64_t)arc4random_uniform((uint32_t)hub->cfg->drain_ms)
                                         : 0};
    start_position(&s);
    rc = send_preamble(&s);
    if (rc == 0 && s.cur.fill_from)
        rc = fill_from_generator(&s);
    while (rc == 0)
        rc = can_park(&s) ? park(&s) : pump(&s);
    metrics_writes_flush(&hub->metrics, &s.writes);
    free(s.buf);
    /* The stream's body ends with the connection (no length), and civetweb would read
     * what the client sent after it as a new request: end both directions here. civetweb
     * still owns and closes the descriptor. */
    if (fd >= 0 && shutdown(fd, SHUT_RDWR) < 0 && errno != ENOTCONN)
        log_debug("shutdown of a stream failed", "error=\"%s\"", strerror(errno));
    hub_client_leave(hub);
    log_debug("client left", "clients=%ld", atomic_load(&hub->clients));
    return 200;
}
