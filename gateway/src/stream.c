/* stream.c -- the SSE loop of one client. Each event was framed once by the bus thread;
 * here we only copy the frames this client has not yet been sent, several at a time, and
 * write them with no lock held. */
#include "stream.h"

#include "clock.h"
#include "http.h"
#include "log.h"
#include "sse.h"

#include <civetweb.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { STREAM_BUF = 8192 };

typedef struct {
    struct mg_connection *conn;
    hub_t *hub;
    char *buf;
    uint64_t cursor; /* next ring position to send */
    int64_t last_write_ms;
} stream_t;

static int stream_write(stream_t *s, const char *bytes, size_t len, uint64_t events)
{
    if (mg_write(s->conn, bytes, len) != (int)len)
        return -EPIPE;
    metrics_add(&s->hub->metrics.bytes_written, len);
    metrics_add(&s->hub->metrics.events_delivered, events);
    s->last_write_ms = clock_mono_ms();
    return 0;
}

static int send_preamble(stream_t *s)
{
    mg_response_header_start(s->conn, 200);
    mg_response_header_add(s->conn, "Content-Type", "text/event-stream", -1);
    mg_response_header_add(s->conn, "Cache-Control", "no-cache", -1);
    mg_response_header_add(s->conn, "X-Accel-Buffering", "no", -1);
    mg_response_header_add(s->conn, "X-Content-Type-Options", "nosniff", -1);
    if (mg_response_header_send(s->conn) < 0)
        return -EPIPE;
    /* The comment flushes the headers through proxies before the first event. */
    char hello[64];
    int n = sse_retry_encode(hello, sizeof hello, s->hub->cfg->retry_ms);
    int m = n < 0 ? n : sse_comment_encode(hello + n, sizeof hello - (size_t)n, "connected");
    return m < 0 ? m : stream_write(s, hello, (size_t)(n + m), 0);
}

/* The id the client last saw: the Last-Event-ID header, or the lastEventId query
 * parameter for clients that cannot set headers. Returns 0 if there is a valid one. */
static int last_event_id(struct mg_connection *conn, uint64_t *epoch, uint64_t *seq)
{
    const char *header = mg_get_header(conn, "Last-Event-ID");
    if (header)
        return sse_id_parse(header, strlen(header), epoch, seq);
    const char *query = mg_get_request_info(conn)->query_string;
    char value[SSE_ID_MAX];
    if (query == NULL || mg_get_var(query, strlen(query), "lastEventId", value, sizeof value) <= 0)
        return -ENOENT;
    return sse_id_parse(value, strlen(value), epoch, seq);
}

static uint64_t start_position(stream_t *s)
{
    uint64_t epoch, seq;
    if (last_event_id(s->conn, &epoch, &seq) < 0)
        return ring_head(s->hub->ring);
    uint64_t pos = ring_find(s->hub->ring, epoch, seq);
    if (pos == 0)
        return ring_head(s->hub->ring);
    metrics_add(&s->hub->metrics.sse_resumes, 1);
    return pos + 1;
}

/* Copies frames from the cursor up to head into the buffer. Returns the byte count and
 * sets *events, or -ERANGE when the client's next frame was already overwritten. */
static int collect(stream_t *s, uint64_t head, uint64_t *events)
{
    size_t len = 0;
    *events = 0;
    while (s->cursor < head && STREAM_BUF - len >= RING_FRAME_MAX) {
        int n = ring_read(s->hub->ring, s->cursor, s->buf + len, STREAM_BUF - len, NULL);
        if (n < 0)
            return n == -EAGAIN ? (int)len : -ERANGE;
        len += (size_t)n;
        s->cursor++;
        (*events)++;
    }
    return (int)len;
}

static void drop_slow(stream_t *s, uint64_t head)
{
    metrics_add(&s->hub->metrics.sse_dropped_slow, 1);
    log_info("client dropped as slow", "behind=%llu max_lag=%ld",
             (unsigned long long)(head - s->cursor), s->hub->cfg->max_lag);
}

/* Sends pending events, or a heartbeat when idle. Returns 0 to go on, <0 to close. */
static int pump(stream_t *s)
{
    const gateway_config_t *cfg = s->hub->cfg;
    uint64_t head = ring_head(s->hub->ring);
    if (head > s->cursor) {
        uint64_t events;
        int n = head - s->cursor > (uint64_t)cfg->max_lag ? -ERANGE : collect(s, head, &events);
        if (n < 0) {
            drop_slow(s, head);
            return n;
        }
        return stream_write(s, s->buf, (size_t)n, events);
    }
    int64_t idle = clock_mono_ms() - s->last_write_ms;
    if (idle >= cfg->heartbeat_ms) {
        static const char beat[] = ": heartbeat\n\n";
        return stream_write(s, beat, sizeof beat - 1, 0);
    }
    int rc = ring_wait(s->hub->ring, s->cursor, (int)(cfg->heartbeat_ms - idle));
    return rc == -ESHUTDOWN ? rc : 0;
}

int stream_serve(struct mg_connection *conn, hub_t *hub)
{
    static const char *const retry_later[] = {"Retry-After", "1", NULL};
    int rc = hub_client_enter(hub);
    if (rc < 0) {
        const char *why = rc == -EBUSY ? "client limit reached\n" : "gateway is draining\n";
        return http_send(conn, 503, "text/plain", why, strlen(why), retry_later);
    }
    stream_t s = {conn, hub, malloc(STREAM_BUF), 0, 0};
    if (s.buf) {
        s.cursor = start_position(&s);
        rc = send_preamble(&s);
        while (rc == 0)
            rc = pump(&s);
    }
    free(s.buf);
    hub_client_leave(hub);
    log_debug("client left", "clients=%ld", atomic_load(&hub->clients));
    return 200;
}
