/* events.h -- GET /events on a civetweb worker: admits the client, answers the response
 * head, and hands the socket to a writer's loop (stream.c), so the worker is free again
 * as soon as the head is out. */
#ifndef GATEWAY_EVENTS_H
#define GATEWAY_EVENTS_H

#include "backfill.h"
#include "fanout.h"
#include "handoff.h"
#include "hub.h"

struct mg_connection;

typedef struct {
    hub_t *hub;
    handoff_t *handoff;
    fanout_t *fanout;
    backfill_t *backfill; /* NULL: no fetches from the generator */
} events_route_t;

/* Serves GET /events. Returns the HTTP status for civetweb. */
int events_serve(struct mg_connection *conn, const events_route_t *route);

#endif
