/* http.c -- civetweb set-up and the routes other than the SSE stream. */
#include "http.h"

#include "events.h"
#include "fragment.h"
#include "gate.h"
#include "handoff.h"
#include "log.h"
#include "response.h"

#include <civetweb.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_server {
    struct mg_context *ctx;
    hub_t *hub;               /* borrowed */
    const assets_t *assets;   /* borrowed */
    const char *cors_origins; /* borrowed: --cors-origins */
    gate_t *gate;
    handoff_t *handoff; /* the gate notes each connection here, a stream takes its own */
    events_route_t events;
};

enum { HTTP_HEAD_MAX = 8192 }; /* civetweb's max_request_size, and what the gate awaits */

/* The page may run only our own scripts and styles and talk only to its own origin. */
static const char *const page_headers[] = {
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "Cache-Control",
    "no-store",
    "X-Frame-Options",
    "DENY",
    "Referrer-Policy",
    "no-referrer",
    NULL};
static const char *const no_store[] = {"Cache-Control", "no-store", NULL};

static int send_text(struct mg_connection *conn, const http_server_t *srv, int status,
                     const char *text)
{
    return response_send(conn, srv->cors_origins, status, "text/plain; charset=utf-8", text,
                         strlen(text), no_store);
}

/* The fragment for the latest event relayed: the number, with its event id. */
static int latest_fragment(const hub_t *hub, char *buf, size_t cap)
{
    ring_meta_t m;
    uint64_t head = ring_head(hub->ring);
    int n = head > 1 ? ring_meta(hub->ring, head - 1, &m) : -EAGAIN;
    if (n < 0)
        return fragment_render_empty(buf, cap);
    return fragment_render(buf, cap, m.epoch, m.seq, m.value);
}

static int on_fragment(struct mg_connection *conn, http_server_t *srv)
{
    char html[FRAGMENT_MAX];
    int n = latest_fragment(srv->hub, html, sizeof html);
    if (n < 0)
        return send_text(conn, srv, 500, "fragment unavailable\n");
    return response_send(conn, srv->cors_origins, 200, "text/html; charset=utf-8", html, (size_t)n,
                         no_store);
}

/* The page template holds "{{number}}" where the current fragment goes, so the page
 * shows the number at once, before its first event arrives. */
static int on_page(struct mg_connection *conn, http_server_t *srv)
{
    static const char marker[] = "{{number}}";
    const asset_t *page = &srv->assets->page;
    char html[FRAGMENT_MAX];
    int n = latest_fragment(srv->hub, html, sizeof html);
    if (n < 0)
        return send_text(conn, srv, 500, "fragment unavailable\n");
    const char *at = memmem(page->body, page->len, marker, sizeof marker - 1);
    size_t before = at ? (size_t)(at - page->body) : page->len;
    size_t after = at ? page->len - before - (sizeof marker - 1) : 0;
    char *out = malloc(page->len + (size_t)n);
    if (out == NULL)
        return send_text(conn, srv, 500, "out of memory\n");
    memcpy(out, page->body, before);
    memcpy(out + before, html, at ? (size_t)n : 0);
    memcpy(out + before + (at ? (size_t)n : 0), page->body + page->len - after, after);
    size_t len = before + (at ? (size_t)n : 0) + after;
    int status =
        response_send(conn, srv->cors_origins, 200, page->content_type, out, len, page_headers);
    free(out);
    return status;
}

static int on_health(struct mg_connection *conn, http_server_t *srv)
{
    (void)srv;
    return send_text(conn, srv, 200, "ok\n");
}

static int on_readyz(struct mg_connection *conn, http_server_t *srv)
{
    hub_t *hub = srv->hub;
    if (hub_ready(hub))
        return send_text(conn, srv, 200, "ready\n");
    if (atomic_load(&hub->draining))
        return send_text(conn, srv, 503, "draining\n");
    if (!hub_generator_alive(hub))
        return send_text(conn, srv, 503, "generator down\n");
    if (!atomic_load(&hub->warm))
        return send_text(conn, srv, 503, "warming\n");
    if (atomic_load(&hub->behind_since_ms) != 0)
        return send_text(conn, srv, 503, "catching up\n");
    return send_text(conn, srv, 503, "client limit reached\n");
}

static int on_metrics(struct mg_connection *conn, http_server_t *srv)
{
    metrics_state_t state;
    hub_metrics_state(srv->hub, &state);
    size_t n = 0;
    char *text = metrics_render(&srv->hub->metrics, &state, &n);
    int status = text == NULL
                     ? send_text(conn, srv, 500, "metrics unavailable\n")
                     : response_send(conn, srv->cors_origins, 200,
                                     "text/plain; version=0.0.4; charset=utf-8", text, n, no_store);
    free(text);
    return status;
}

static int on_events(struct mg_connection *conn, http_server_t *srv)
{
    return events_serve(conn, &srv->events);
}

typedef int (*route_fn)(struct mg_connection *, http_server_t *);

typedef struct {
    const char *path;
    int head; /* HEAD allowed besides GET */
    route_fn fn;
} route_t;

static const route_t routes[] = {
    {"/", 1, on_page},          {"/events", 0, on_events}, {"/fragments/number", 1, on_fragment},
    {"/healthz", 1, on_health}, {"/readyz", 1, on_readyz}, {"/metrics", 1, on_metrics},
};

static int on_static(struct mg_connection *conn, const http_server_t *srv, const asset_t *a)
{
    static const char *const cache[] = {"Cache-Control", "public, max-age=300", NULL};
    return response_send(conn, srv->cors_origins, 200, a->content_type, a->body, a->len, cache);
}

static int method_allowed(struct mg_connection *conn, int head_ok)
{
    const char *method = mg_get_request_info(conn)->request_method;
    return strcmp(method, "GET") == 0 || (head_ok && strcmp(method, "HEAD") == 0);
}

static int not_allowed(struct mg_connection *conn, const http_server_t *srv, int head_ok)
{
    const char *const allow[] = {"Allow", head_ok ? "GET, HEAD" : "GET", NULL};
    static const char text[] = "method not allowed\n";
    return response_send(conn, srv->cors_origins, 405, "text/plain; charset=utf-8", text,
                         sizeof text - 1, allow);
}

/* A CORS preflight from an allowed origin; the stream's Last-Event-ID and htmx's own
 * headers are not "simple" headers, so browsers ask first. */
static int on_preflight(struct mg_connection *conn, const http_server_t *srv)
{
    const char *asked = mg_get_header(conn, "Access-Control-Request-Headers");
    const char *const headers[] = {"Access-Control-Allow-Methods",
                                   "GET, HEAD",
                                   "Access-Control-Allow-Headers",
                                   asked ? asked : "Last-Event-ID",
                                   "Access-Control-Max-Age",
                                   "600",
                                   NULL};
    return response_send(conn, srv->cors_origins, 204, "text/plain", "", 0, headers);
}

static int route(struct mg_connection *conn, http_server_t *srv)
{
    const char *path = mg_get_request_info(conn)->local_uri;
    const asset_t *asset = path ? assets_find(srv->assets, path) : NULL;
    if (asset)
        return method_allowed(conn, 1) ? on_static(conn, srv, asset) : not_allowed(conn, srv, 1);
    for (size_t i = 0; path && i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(routes[i].path, path) != 0)
            continue;
        if (strcmp(mg_get_request_info(conn)->request_method, "OPTIONS") == 0 &&
            response_allowed_origin(conn, srv->cors_origins))
            return on_preflight(conn, srv);
        if (!method_allowed(conn, routes[i].head))
            return not_allowed(conn, srv, routes[i].head);
        return routes[i].fn(conn, srv);
    }
    return send_text(conn, srv, 404, "not found\n");
}

static int on_request(struct mg_connection *conn, void *data)
{
    http_server_t *srv = data;
    atomic_fetch_add(&srv->hub->busy_workers, 1);
    int status = route(conn, srv);
    atomic_fetch_sub(&srv->hub->busy_workers, 1);
    return status;
}

static int on_log(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    log_warn("http", "detail=\"%.200s\"", message);
    return 1;
}

static void *on_thread_start(const struct mg_context *ctx, int thread_type)
{
    const http_server_t *srv = mg_get_user_data(ctx);
    if (thread_type == 0) /* the master: it accepts through the gate */
        gate_serve_this_thread(srv->gate);
    return NULL;
}

static struct mg_context *start_civetweb(http_server_t *srv, char *err, size_t errlen)
{
    const gateway_config_t *cfg = srv->hub->cfg;
    char threads[24], timeout[24], head_max[24], queue[24];
    snprintf(threads, sizeof threads, "%ld", cfg->threads);
    snprintf(queue, sizeof queue, "%d", CONFIG_CIVET_QUEUE);
    /* civetweb's request timeout bounds reading a request's headers (and each of its own
     * writes: streams write with their own deadline, --write-timeout-ms). */
    snprintf(timeout, sizeof timeout, "%ld", cfg->header_timeout_ms);
    snprintf(head_max, sizeof head_max, "%d", HTTP_HEAD_MAX);
    /* civetweb's backlog is 200: when every client of a gateway reconnects at once (after
     * a restart, or a load balancer moving them) the kernel would drop the SYNs past it,
     * and each dropped client waits a second or more to try again. listen() caps the
     * backlog at net.core.somaxconn, so this asks for as much as the kernel allows. */
    const char *backlog = "65535";
    /* No keep-alive: a kept-alive connection waits for its next request on a worker, where
     * the gate cannot see it, so one complete request would buy a worker for a slow one. */
    const char *options[] = {
        "listening_ports", cfg->listen, "num_threads", threads, "connection_queue", queue,
        "listen_backlog", backlog, "request_timeout_ms", timeout, "enable_keep_alive", "no",
        "tcp_nodelay", "1", "max_request_size", head_max, "enable_directory_listing", "no",
        /* civetweb would answer every preflight with "*" itself;
         * empty leaves CORS to --cors-origins in our handler. */
        "access_control_allow_origin", "", NULL};
    struct mg_callbacks callbacks = {0};
    callbacks.log_message = on_log;
    callbacks.init_thread = on_thread_start;
    /* The server is the context's user data: the master thread finds its gate there. */
    struct mg_init_data init = {&callbacks, srv, options};
    struct mg_error_data error = {0};
    char text[256] = "";
    error.text = text;
    error.text_buffer_size = sizeof text;
    gate_record_listeners(srv->gate, 1);
    struct mg_context *ctx = mg_start2(&init, &error);
    gate_record_listeners(srv->gate, 0);
    if (ctx == NULL)
        snprintf(err, errlen, "cannot listen on '%s': %s", cfg->listen, text);
    return ctx;
}

static void server_free(http_server_t *srv)
{
    gate_destroy(srv->gate); /* after mg_stop: civetweb's master polls the gate until then */
    handoff_destroy(srv->handoff);
    free(srv);
}

http_server_t *http_start(hub_t *hub, const assets_t *assets, fanout_t *fanout,
                          backfill_t *backfill, char *err, size_t errlen)
{
    http_server_t *srv = calloc(1, sizeof *srv);
    handoff_t *handoff = handoff_create();
    if (srv == NULL || handoff == NULL) {
        snprintf(err, errlen, "out of memory");
        free(srv);
        handoff_destroy(handoff);
        return NULL;
    }
    *srv = (http_server_t){.hub = hub,
                           .assets = assets,
                           .cors_origins = hub->cfg->cors_origins,
                           .handoff = handoff,
                           .events = {hub, handoff, fanout, backfill}};
    const gate_limits_t limits = {hub->cfg->header_timeout_ms, HTTP_HEAD_MAX,
                                  hub->cfg->gate_waiting,      hub->cfg->gate_ready,
                                  hub->cfg->gate_shared,       &hub->clients};
    srv->gate = gate_create(&hub->metrics, handoff, &limits, err, errlen);
    if (srv->gate == NULL || (srv->ctx = start_civetweb(srv, err, errlen)) == NULL) {
        server_free(srv);
        return NULL;
    }
    /* Streams are found through the gate's notes: without it, no stream could leave its
     * worker, so the gateway does not serve. */
    if (gate_start(srv->gate, err, errlen) < 0) {
        gate_closing(srv->gate);
        mg_stop(srv->ctx);
        server_free(srv);
        return NULL;
    }
    mg_set_request_handler(srv->ctx, "/", on_request, srv);
    return srv;
}

void http_stop(http_server_t *srv)
{
    if (srv == NULL)
        return;
    gate_closing(srv->gate);
    mg_stop(srv->ctx);
    server_free(srv);
}
