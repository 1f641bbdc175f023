/* stream.c -- one SSE client in a writer's loop; see stream.h. Each event was framed once
 * by the bus thread; a pump copies the frames this client has not been sent into the
 * writer's scratch buffer, several at a time, and sends them without blocking. What the
 * socket does not take is kept (the bytes only) until it has room. */
#include "stream.h"

#include "clock.h"
#include "continuity.h"
#include "cursor.h"
#include "frame.h"
#include "log.h"
#include "sse.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A stream is slow only if the event it is behind on came this long ago: a refill from
 * the generator puts every stream far behind at once, which is not theirs to answer. */
static const int64_t LAG_GRACE_NS = 1000 * 1000000LL;

/* How often a client adds its write counters to the shared ones. */
static const int64_t FLUSH_NS = 100 * 1000000;

/* A fetch from the generator for one client: at most this many events in all, asked for
 * in at most this many rounds (the ring moves on while the answers are sent). */
enum { BACKFILL_EVENTS_MAX = 100000, BACKFILL_ROUNDS = 4 };

typedef enum { PHASE_WARMING, PHASE_FETCHING, PHASE_LIVE } phase_t;

typedef struct stream stream_t;

/* A fetch in flight, with room for its answer: allocated only while fetching. */
typedef struct {
    backfill_request_t req; /* req.ctx: the stream */
    wire_number_t events[WIRE_REPLAY_EVENTS_MAX];
} stream_fetch_t;

struct stream {
    fanout_client_t client; /* first: the writer hands it back to us */
    hub_t *hub;
    backfill_t *backfill;
    stream_request_t req;
    cursor_t cur; /* where it stands: next position, the id it holds, what to fetch */
    phase_t phase;
    int caught_up;           /* it has reached the head once: from then on, lag means slow */
    int fetching;            /* a fetch is with the fetcher: the memory must stay */
    int answered;            /* ... and has come back, not looked at yet */
    int fetch_next;          /* another fetch is due once what is owed has gone out */
    int released;            /* the writer let it go while fetching: freed when the fetch ends */
    int refills;             /* ranges asked for again because the ring moved past them */
    long fetched;            /* events sent from fetches */
    stream_fetch_t *fetch;   /* NULL unless fetching or its answer is being sent */
    int64_t await_until_ns;  /* while cur.held.awaiting: give up waiting then */
    int64_t drain_offset_ms; /* when draining: close this long after it began */
    int64_t oldest_ns;       /* bus receipt time of the first event of the latest batch */
    int64_t last_write_ns, last_flush_ns;
    metrics_writes_t writes;
    /* Bytes the socket has not taken yet (owed_len - owed_off of them), carrying
     * owed_events events whose oldest came at owed_oldest_ns; since owed_since_ns. */
    char *owed;
    size_t owed_len, owed_off;
    uint64_t owed_events;
    int64_t owed_oldest_ns, owed_since_ns;
};

static stream_t *stream_of(fanout_client_t *c)
{
    return (stream_t *)((char *)c - offsetof(stream_t, client));
}

static void drop_slow(stream_t *s, const char *why)
{
    metrics_add(&s->hub->metrics.sse_dropped_slow, 1);
    log_info("client dropped as slow", "reason=%s behind=%llu max_lag=%ld", why,
             (unsigned long long)(ring_head(s->hub->ring) - s->cur.pos), s->hub->cfg->max_lag);
}

/* Counts events handed to the kernel, latency measured from the oldest. */
static void count_sent(stream_t *s, size_t bytes, uint64_t events, int64_t oldest_ns)
{
    s->last_write_ns = clock_ns(CLOCK_MONOTONIC);
    s->writes.bytes += bytes;
    if (events == 0)
        return;
    metrics_writes_observe(&s->writes, events, (s->last_write_ns - oldest_ns) / 1000);
    if (s->last_write_ns - s->last_flush_ns >= FLUSH_NS) {
        metrics_writes_flush(&s->hub->metrics, &s->writes);
        s->last_flush_ns = s->last_write_ns;
    }
}

/* Sends what the socket takes now. Returns the bytes sent, or -EPIPE (the client left). */
static ssize_t send_some(stream_t *s, const char *bytes, size_t len)
{
    ssize_t n = send(s->client.fd, bytes, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -EPIPE;
}

/* Keeps buf (taken) as owed from off on, for when the socket has room. */
static int owe(stream_t *s, char *buf, size_t len, size_t off, uint64_t events, int64_t oldest_ns)
{
    s->writes.bytes += off;
    s->owed = buf;
    s->owed_len = len;
    s->owed_off = off;
    s->owed_events = events;
    s->owed_oldest_ns = oldest_ns;
    s->owed_since_ns = clock_ns(CLOCK_MONOTONIC);
    return -EWOULDBLOCK;
}

/* Sends buf (len bytes, taken: freed or kept as owed) carrying events. Returns 0 when all
 * went out, -EWOULDBLOCK when some is owed, -EPIPE. Nothing may be owed before. */
static int send_owned(stream_t *s, char *buf, size_t len, uint64_t events, int64_t oldest_ns)
{
    ssize_t n = send_some(s, buf, len);
    if (n >= 0 && (size_t)n < len)
        return owe(s, buf, len, (size_t)n, events, oldest_ns);
    free(buf);
    if (n < 0)
        return (int)n;
    count_sent(s, len, events, oldest_ns);
    return 0;
}

/* As send_owned, for bytes that are not ours to keep (the writer's scratch): only what
 * the socket does not take is copied. */
static int send_copy(stream_t *s, const char *bytes, size_t len, uint64_t events)
{
    ssize_t n = send_some(s, bytes, len);
    if (n < 0)
        return (int)n;
    if ((size_t)n == len) {
        count_sent(s, len, events, s->oldest_ns);
        return 0;
    }
    size_t rest = len - (size_t)n;
    char *copy = malloc(rest);
    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, bytes + n, rest);
    s->writes.bytes += (size_t)n;
    return owe(s, copy, rest, 0, events, s->oldest_ns);
}

/* Sends what is owed. 0 when nothing is owed any more, -EWOULDBLOCK, or -EPIPE, also
 * when the client has taken too long: one deadline for the whole write, so a client that
 * reads a trickle is dropped as surely as one that reads nothing. */
static int send_owed(stream_t *s)
{
    ssize_t n = send_some(s, s->owed + s->owed_off, s->owed_len - s->owed_off);
    if (n < 0)
        return (int)n;
    s->owed_off += (size_t)n;
    if (s->owed_off == s->owed_len) {
        count_sent(s, (size_t)n, s->owed_events, s->owed_oldest_ns);
        free(s->owed);
        s->owed = NULL;
        return 0;
    }
    s->writes.bytes += (size_t)n;
    if (clock_ns(CLOCK_MONOTONIC) - s->owed_since_ns >= s->hub->cfg->write_timeout_ms * 1000000) {
        drop_slow(s, "write-timeout");
        return -EPIPE;
    }
    return -EWOULDBLOCK;
}

/* "event: reset\ndata: REASON\n\n", without an id, so the client keeps its last id. A
 * cursor_reset_fn too, hence the stream as void *. */
static int reset_encode(void *stream, reset_reason_t reason, char *dst, size_t cap)
{
    stream_t *s = stream;
    metrics_add(&s->hub->metrics.sse_resets[reason], 1);
    const char *name = reset_reason_name(reason);
    sse_event_t ev = {NULL, "reset", NULL, name, strlen(name)};
    return sse_frame_encode(dst, cap, &ev);
}

static int send_reset(stream_t *s, reset_reason_t reason)
{
    char frame[CURSOR_RESET_FRAME_MAX];
    int n = reset_encode(s, reason, frame, sizeof frame);
    return n < 0 ? n : send_copy(s, frame, (size_t)n, 0);
}

/* ---- fetching from the generator what is older than the ring ---- */

/* On the fetcher's thread, under its lock: only signal. The rest happens on the writer. */
static void on_fetched(backfill_request_t *req)
{
    stream_t *s = req->ctx;
    fanout_kick(&s->client);
}

/* Asks for cur.fill_from..fill_to of the client's epoch. 0, or <0 when it cannot be. */
static int fetch_submit(stream_t *s)
{
    if (s->backfill == NULL)
        return -ENOENT;
    if (s->fetch == NULL && (s->fetch = malloc(sizeof *s->fetch)) == NULL)
        return -ENOMEM;
    stream_fetch_t *f = s->fetch;
    f->req = (backfill_request_t){.range = {s->cur.held.epoch, s->cur.fill_from, s->cur.fill_to, 0},
                                  .events = f->events,
                                  .on_done = on_fetched,
                                  .ctx = s};
    int rc = backfill_submit(s->backfill, &f->req);
    s->fetching = rc == 0;
    return rc;
}

/* Frames fetched events into one buffer and sends it. 0, -EWOULDBLOCK, or <0 to close. */
static int send_fetched(stream_t *s, const wire_number_t *events, size_t count)
{
    size_t cap = count * (RING_FRAME_MAX + CURSOR_RESET_FRAME_MAX), len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return -ENOMEM;
    uint64_t sent = 0;
    for (size_t i = 0; i < count; i++) {
        continuity_verdict_t verdict =
            continuity_next(&s->cur.held, events[i].epoch, events[i].seq);
        if (verdict == CONTINUITY_SKIP)
            continue;
        int reason = cursor_reset_for(verdict); /* the generator's history moved on */
        int r = reason == CURSOR_NO_RESET
                    ? 0
                    : reset_encode(s, (reset_reason_t)reason, buf + len, cap - len);
        size_t plain;
        int n = r < 0 ? r
                      : frame_event(buf + len + (size_t)r, cap - len - (size_t)r,
                                    s->hub->cfg->topic, &events[i], &plain);
        if (n < 0) {
            free(buf);
            return n;
        }
        len += (size_t)r + (s->req.html ? (size_t)n : plain);
        sent++;
    }
    s->fetched += (long)sent;
    metrics_add(&s->hub->metrics.sse_backfilled, sent);
    if (len == 0) {
        free(buf);
        return 0;
    }
    return send_owned(s, buf, len, sent, clock_ns(CLOCK_MONOTONIC));
}

/* The fetch went as far as it could: go on in the ring after it, or, when nothing came,
 * tell the client and go on live. */
static int fetch_end(stream_t *s)
{
    free(s->fetch);
    s->fetch = NULL;
    s->phase = PHASE_LIVE;
    if (s->fetched > 0) {
        metrics_add(&s->hub->metrics.sse_resumes, 1);
        cursor_after_fill(&s->cur, s->hub->ring);
        return 0;
    }
    cursor_go_live(&s->cur, s->hub->ring);
    return send_reset(s, RESET_TOO_OLD);
}

/* Whether the answer leaves more to ask for: the rest of the range, or (cursor_refill)
 * what the ring moved past meanwhile; bounded in events and rounds. */
static int fetch_more(stream_t *s, const backfill_request_t *f)
{
    if (s->fetched >= BACKFILL_EVENTS_MAX)
        return 0;
    uint64_t last = f->reply.events[f->reply.count - 1].seq;
    if (last < s->cur.fill_to) {
        s->cur.fill_from = last + 1;
        return 1;
    }
    return s->refills++ < BACKFILL_ROUNDS && cursor_refill(&s->cur, s->hub->ring);
}

/* The fetcher answered: send it, then ask for more or go on. 0, -EWOULDBLOCK, <0. */
static int on_answer(stream_t *s)
{
    const backfill_request_t *f = &s->fetch->req;
    s->answered = 0;
    if (f->result < 0 || f->reply.epoch != f->range.epoch || f->reply.count == 0 ||
        (s->fetched == 0 && f->reply.events[0].seq != f->range.from_seq))
        return fetch_end(s); /* nothing (more) to be had */
    int rc = send_fetched(s, f->reply.events, f->reply.count);
    if (rc < 0 && rc != -EWOULDBLOCK)
        return rc;
    if (!fetch_more(s, f)) {
        int end = fetch_end(s);
        return end < 0 ? end : rc;
    }
    s->fetch_next = 1;
    return rc;
}

/* Fetching: an answer to look at, or the next fetch to send once nothing is owed. */
static int pump_fetch(stream_t *s)
{
    if (s->answered) {
        int rc = on_answer(s);
        if (rc < 0)
            return rc;
    }
    if (!s->fetch_next || s->phase != PHASE_FETCHING)
        return 0;
    s->fetch_next = 0;
    return fetch_submit(s) < 0 ? fetch_end(s) : 0;
}

/* ---- where a client starts ---- */

static int start(stream_t *s)
{
    hub_t *hub = s->hub;
    switch (cursor_start(&s->cur, hub->ring, s->req.id_rc, s->req.epoch, s->req.seq,
                         atomic_load(&hub->epoch), hub_replay_known(hub))) {
    case CURSOR_RESUMED:
        metrics_add(&hub->metrics.sse_resumes, 1);
        break;
    case CURSOR_AWAIT: /* the client holds an id we have not reached: wait a while */
        s->await_until_ns = clock_ns(CLOCK_MONOTONIC) + hub->cfg->bus_timeout_ms * 1000000;
        break;
    case CURSOR_FILL:
        s->phase = PHASE_FETCHING;
        return fetch_submit(s) < 0 ? fetch_end(s) : 0;
    case CURSOR_LIVE:
    case CURSOR_OLD_RUN:
        break;
    }
    s->phase = PHASE_LIVE;
    int reason = s->cur.pending_reset;
    s->cur.pending_reset = CURSOR_NO_RESET;
    return reason == CURSOR_NO_RESET ? 0 : send_reset(s, (reset_reason_t)reason);
}

/* ---- live: the ring ---- */

/* Slow: caught up once, then more than --max-lag events behind on an event it has had a
 * while to read. An overwritten next event is always the end. */
static int is_slow(const stream_t *s, uint64_t head)
{
    if (!s->caught_up || head - s->cur.pos <= (uint64_t)s->hub->cfg->max_lag)
        return 0;
    ring_meta_t m;
    if (ring_meta(s->hub->ring, s->cur.pos, &m) < 0)
        return 1;
    return clock_ns(CLOCK_MONOTONIC) - m.received_ns > LAG_GRACE_NS;
}

/* Sends one batch of what is due: events (collected in scratch) or a heartbeat. 1 when
 * more may be due at once, 0 when done for now, -EWOULDBLOCK, <0 to close. */
static int send_due(stream_t *s, char *scratch, size_t cap)
{
    if (s->cur.held.awaiting && clock_ns(CLOCK_MONOTONIC) >= s->await_until_ns) {
        int rc = send_reset(s, cursor_give_up(&s->cur, s->hub->ring));
        return rc < 0 ? rc : 1;
    }
    uint64_t head = atomic_load_explicit(&s->hub->released, memory_order_acquire);
    if (head > s->cur.pos) {
        uint64_t events = 0;
        int n = is_slow(s, head) ? -ERANGE
                                 : cursor_collect(&s->cur, s->hub->ring, head, s->req.html, scratch,
                                                  cap, &events, &s->oldest_ns, reset_encode, s);
        if (n < 0) {
            drop_slow(s, "lag");
            return n;
        }
        s->caught_up |= s->cur.pos == head;
        int rc = n == 0 ? 0 : send_copy(s, scratch, (size_t)n, events);
        return rc < 0 ? rc : s->cur.pos < head;
    }
    s->caught_up = 1;
    if ((clock_ns(CLOCK_MONOTONIC) - s->last_write_ns) / 1000000 < s->hub->cfg->heartbeat_ms)
        return 0;
    static const char beat[] = ": heartbeat\n\n";
    return send_copy(s, beat, sizeof beat - 1, 0);
}

/* ---- what the writer calls ---- */

static int on_pump(fanout_client_t *c, char *scratch, size_t cap)
{
    stream_t *s = stream_of(c);
    if (ring_closed(s->hub->ring) || hub_drain_due(s->hub, s->drain_offset_ms))
        return -ESHUTDOWN;
    if (s->owed != NULL) {
        int rc = send_owed(s);
        if (rc < 0)
            return rc;
    }
    /* Held, not refused: the history becomes warm, or is given up on, within
     * --warm-timeout-ms, and a browser would take a 503 as final. */
    if (s->phase == PHASE_WARMING) {
        if (!atomic_load(&s->hub->warm))
            return FANOUT_TIMED;
        int rc = start(s);
        if (rc < 0)
            return rc;
    }
    if (s->phase == PHASE_FETCHING) {
        int rc = pump_fetch(s);
        if (rc < 0 || s->phase == PHASE_FETCHING)
            return rc;
    }
    if (s->phase != PHASE_LIVE || s->owed != NULL)
        return s->owed != NULL ? -EWOULDBLOCK : 0;
    /* A burst may not fit one scratch buffer: go on until caught up or the socket is full. */
    int rc;
    while ((rc = send_due(s, scratch, cap)) == 1)
        ;
    if (rc < 0)
        return rc;
    /* Waiting for an id ahead of the ring has a deadline of its own. */
    return s->cur.held.awaiting ? FANOUT_TIMED : FANOUT_IDLE;
}

static void stream_free(stream_t *s)
{
    free(s->fetch);
    free(s->owed);
    free(s);
}

static void on_release(fanout_client_t *c)
{
    stream_t *s = stream_of(c);
    metrics_writes_flush(&s->hub->metrics, &s->writes);
    /* The stream's body ends with the connection (no length): end both directions. */
    if (shutdown(c->fd, SHUT_RDWR) < 0 && errno != ENOTCONN)
        log_debug("shutdown of a stream failed", "error=\"%s\"", strerror(errno));
    if (close(c->fd) < 0 && errno != EINTR)
        log_warn("close of a stream failed", "error=\"%s\"", strerror(errno));
    hub_client_leave(s->hub);
    log_debug("client left", "clients=%ld", atomic_load(&s->hub->clients));
    /* A fetch still queued is withdrawn; one already answered has its kick on the way,
     * and the memory must stay until the writer takes it. */
    if (s->fetching && backfill_cancel(s->backfill, &s->fetch->req) == 0)
        s->fetching = 0;
    if (s->fetching)
        s->released = 1;
    else
        stream_free(s);
}

static int on_kicked(fanout_client_t *c)
{
    stream_t *s = stream_of(c);
    s->fetching = 0;
    s->answered = 1;
    if (!s->released)
        return 1;
    stream_free(s);
    return 0;
}

int stream_open(hub_t *hub, fanout_t *fanout, backfill_t *backfill, int fd,
                const stream_request_t *req)
{
    stream_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    long drain = hub->cfg->drain_ms;
    *s = (stream_t){
        .client = {.fd = fd, .pump = on_pump, .release = on_release, .kicked = on_kicked},
        .hub = hub,
        .backfill = backfill,
        .req = *req,
        .phase = PHASE_WARMING,
        .drain_offset_ms = drain > 0 ? (int64_t)arc4random_uniform((uint32_t)drain) : 0,
        .last_write_ns = clock_ns(CLOCK_MONOTONIC)};
    s->last_flush_ns = s->last_write_ns;
    int rc = fanout_adopt(fanout, &s->client);
    if (rc < 0)
        free(s);
    return rc;
}
