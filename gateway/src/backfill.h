/* backfill.h -- fetches from the generator's replay socket for streams: one replay
 * connection per gateway, on a thread of its own, requests answered in order. A stream
 * submits a fetch and goes on; the answer comes back through the fetch's done function,
 * so no writer ever waits for the generator and nothing of the fetcher is held while a
 * client reads its answer slowly. */
#ifndef GATEWAY_BACKFILL_H
#define GATEWAY_BACKFILL_H

#include "hub.h"
#include "wire_replay.h"

#include <stdint.h>

typedef struct backfill backfill_t;
typedef struct backfill_fetch backfill_fetch_t;

/* Called on the fetcher's thread once the fetch is answered, failed or cancelled. */
typedef void (*backfill_done_fn)(backfill_fetch_t *fetch);

struct backfill_fetch {
    wire_replay_request_t req; /* in */
    backfill_done_fn done;     /* in */
    wire_replay_reply_t reply; /* out; reply.events (in) holds WIRE_REPLAY_EVENTS_MAX */
    int rc;                    /* out: 0, -ETIMEDOUT, -EPROTO, -ENOENT (no replay socket
                                * known), -ESHUTDOWN, or another -errno */
    backfill_fetch_t *next;    /* the fetcher's from here on */
    int64_t queued_ms;
};

/* Starts the fetcher thread. The hub gives the endpoint (as the heartbeats announce it),
 * the keys and the counters; the zmq context is borrowed. NULL with the reason in err. */
backfill_t *backfill_create(hub_t *hub, void *zmq_context, char *err, size_t errlen);

/* Answers every queued fetch with -ESHUTDOWN, then stops the thread. */
void backfill_destroy(backfill_t *backfill);

/* Queues the fetch. Returns 0 (done will be called), or -EBUSY when the queue is full /
 * -ESHUTDOWN when stopping (done will not be called). Any thread. */
int backfill_submit(backfill_t *backfill, backfill_fetch_t *fetch)
    __attribute__((warn_unused_result));

#endif
