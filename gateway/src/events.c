/* events.c -- GET /events: admission, the response head, and the hand-over; see events.h. */
#include "events.h"

#include "event_id.h"
#include "log.h"
#include "response.h"
#include "sse.h"
#include "stream.h"

#include <civetweb.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The id the client last saw: the Last-Event-ID header, or the lastEventId query
 * parameter for clients that cannot set headers. 0, -ENOENT without one, -EINVAL. */
static int last_event_id(struct mg_connection *conn, uint64_t *epoch, uint64_t *seq)
{
    const char *header = mg_get_header(conn, "Last-Event-ID");
    if (header)
        return event_id_parse(header, strlen(header), epoch, seq);
    const char *query = mg_get_request_info(conn)->query_string;
    char value[EVENT_ID_MAX];
    int n = query ? mg_get_var(query, strlen(query), "lastEventId", value, sizeof value) : -1;
    if (n == -1)
        return -ENOENT;
    return n < 0 ? -EINVAL : event_id_parse(value, (size_t)n, epoch, seq);
}

/* "html=1" in the query: the page, which swaps each event's HTML message into itself. */
static int wants_html(struct mg_connection *conn)
{
    const char *query = mg_get_request_info(conn)->query_string;
    char value[4];
    int n = query ? mg_get_var(query, strlen(query), "html", value, sizeof value) : -1;
    return n == 1 && value[0] == '1';
}

/* The head, the reconnect delay and a comment that flushes the head through proxies;
 * written by civetweb while it still owns the connection. */
static int send_head(struct mg_connection *conn, const gateway_config_t *cfg)
{
    mg_response_header_start(conn, 200);
    mg_response_header_add(conn, "Content-Type", "text/event-stream", -1);
    mg_response_header_add(conn, "Cache-Control", "no-cache", -1);
    mg_response_header_add(conn, "X-Accel-Buffering", "no", -1);
    mg_response_header_add(conn, "Connection", "close", -1);
    response_add_common_headers(conn, cfg->cors_origins);
    if (mg_response_header_send(conn) < 0)
        return -EPIPE;
    /* Jitter, so clients of a gateway that goes away do not all come back at once. */
    long retry = cfg->retry_ms;
    retry += retry > 0 ? (long)arc4random_uniform((uint32_t)(retry / 2 + 1)) - retry / 4 : 0;
    char hello[64];
    int n = sse_retry_encode(hello, sizeof hello, retry);
    int m = n < 0 ? n : sse_comment_encode(hello + n, sizeof hello - (size_t)n, "connected");
    if (m < 0)
        return -ENOSPC;
    return mg_write(conn, hello, (size_t)(n + m)) == n + m ? 0 : -EPIPE;
}

/* The connection's socket, ours from now on; <0 when it cannot be had. */
static int take_socket(struct mg_connection *conn, handoff_t *handoff)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int fd = handoff_find(handoff, ri->remote_addr, ri->remote_port);
    return fd < 0 ? fd : handoff_detach(fd);
}

int events_serve(struct mg_connection *conn, const events_route_t *route)
{
    static const char *const retry_later[] = {"Retry-After", "1", NULL};
    hub_t *hub = route->hub;
    int rc = hub_client_enter(hub);
    if (rc < 0) {
        const char *why = rc == -EBUSY ? "client limit reached\n" : "gateway is draining\n";
        return response_send(conn, hub->cfg->cors_origins, 503, "text/plain", why, strlen(why),
                             retry_later);
    }
    stream_request_t req = {.html = wants_html(conn)};
    req.id_rc = last_event_id(conn, &req.epoch, &req.seq);
    int fd = -EPIPE; /* the head could not be sent: the client left */
    if (send_head(conn, hub->cfg) == 0)
        fd = take_socket(conn, route->handoff);
    if (fd >= 0 && (rc = stream_open(hub, route->fanout, route->backfill, fd, &req)) < 0) {
        log_warn("cannot hand a stream to a writer", "error=\"%s\"", strerror(-rc));
        close(fd);
        fd = rc;
    }
    if (fd < 0) {
        if (fd != -EPIPE)
            log_error("stream not taken from civetweb", "error=\"%s\"", strerror(-fd));
        hub_client_leave(hub);
    }
    /* From here civetweb closes only what it holds: a stub socket when the stream is ours. */
    return 200;
}
