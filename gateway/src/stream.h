/* stream.h -- one SSE client in a writer's loop, from its response head to its close:
 * where it starts (once the history is warm), what it is fetched from the generator,
 * then the ring's frames, heartbeats, the slow-client policy and the drain. Never blocks:
 * a full socket keeps only the bytes still owed, and the writer pumps it again when
 * there is room. No civetweb here: events.c hands the socket over. */
#ifndef GATEWAY_STREAM_H
#define GATEWAY_STREAM_H

#include "backfill.h"
#include "fanout.h"
#include "hub.h"

#include <stdint.h>

/* What the client asked for. */
typedef struct {
    int id_rc;           /* 0: it sent (epoch, seq), -ENOENT: no id, <0: an id that did not parse */
    uint64_t epoch, seq; /* its last id */
    int html;            /* it wants each event's HTML message too (the page) */
} stream_request_t;

/* Hands the client on fd (ours, non-blocking, its response head sent) to a writer, which
 * owns it from now on and releases the hub's client slot when it ends. backfill may be
 * NULL (no fetches). Returns 0, or <0 with fd and the slot still the caller's. */
int stream_open(hub_t *hub, fanout_t *fanout, backfill_t *backfill, int fd,
                const stream_request_t *req) __attribute__((warn_unused_result));

#endif
