/* http.h -- the gateway's HTTP server: civetweb, routing and the small handlers (page,
 * fragment, health, readiness, metrics, static files). SSE streams live in stream.c. */
#ifndef GATEWAY_HTTP_H
#define GATEWAY_HTTP_H

#include "assets.h"
#include "hub.h"

#include <stddef.h>

struct mg_connection;
typedef struct http_server http_server_t;

/* Starts civetweb's listener and workers. On failure returns NULL with a reason in err.
 * hub and assets are borrowed and must outlive the server. */
http_server_t *http_start(hub_t *hub, const assets_t *assets, char *err, size_t errlen);

/* Stops accepting, joins every worker. Wake SSE handlers first (ring_close). */
void http_stop(http_server_t *server);

/* Sends a whole response: status, Content-Type, Content-Length, the extra headers (a
 * NULL-terminated list of name, value pairs, or NULL), and the body unless the request is
 * HEAD. Returns the status, which is what civetweb wants a handler to return. */
int http_send(struct mg_connection *conn, int status, const char *content_type, const char *body,
              size_t len, const char *const *headers);

/* Adds the headers every response carries: nosniff, and CORS when the request's Origin is
 * allowed by --cors-origins. Call between mg_response_header_start and _send. */
void http_add_common_headers(struct mg_connection *conn);

#endif
