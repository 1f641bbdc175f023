/* http.h -- the gateway's HTTP server: civetweb, routing and the small handlers (page,
 * fragment, health, readiness, metrics, static files). SSE streams live in stream.c. */
#ifndef GATEWAY_HTTP_H
#define GATEWAY_HTTP_H

#include "assets.h"
#include "hub.h"

#include <stddef.h>

typedef struct http_server http_server_t;

/* Starts civetweb's listener and workers. On failure returns NULL with a reason in err.
 * hub and assets are borrowed and must outlive the server. */
http_server_t *http_start(hub_t *hub, const assets_t *assets, char *err, size_t errlen);

/* Stops accepting, joins every worker. Wake SSE handlers first (ring_close). */
void http_stop(http_server_t *server);

#endif
