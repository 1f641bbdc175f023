/* stream.h -- one SSE client: admission, resume position, then copying framed events
 * from the ring to the socket until the client goes, lags or the gateway stops. Runs on
 * the civetweb worker thread that serves the connection, for the connection's life. */
#ifndef GATEWAY_STREAM_H
#define GATEWAY_STREAM_H

#include "hub.h"

struct mg_connection;

/* Serves GET /events. Returns the HTTP status for civetweb. */
int stream_serve(struct mg_connection *conn, hub_t *hub);

#endif
