/* http.h -- the gateway's HTTP server: civetweb behind the accept gate, routing and the
 * small handlers (page, fragment, health, readiness, metrics, static files). GET /events
 * is events.c's, which hands each stream to the writers. */
#ifndef GATEWAY_HTTP_H
#define GATEWAY_HTTP_H

#include "assets.h"
#include "backfill.h"
#include "fanout.h"
#include "hub.h"

#include <stddef.h>

typedef struct http_server http_server_t;

/* Starts civetweb's listener, the gate and the workers. On failure returns NULL with a
 * reason in err. hub, assets, fanout and backfill (NULL: no fetches) are borrowed and must
 * outlive the server. */
http_server_t *http_start(hub_t *hub, const assets_t *assets, fanout_t *fanout,
                          backfill_t *backfill, char *err, size_t errlen);

/* Stops accepting, joins every worker (none is held by a stream). */
void http_stop(http_server_t *server);

#endif
