/* backfill.h -- fetches for streams: the events older than the ring that resuming clients
 * need, asked of the generator's replay socket over one connection, on a thread of its
 * own, one request at a time in the order they came. A stream owns its request and the
 * memory the events are copied into; the fetcher holds it only while it is queued or
 * fetched, never while the stream writes to its client.
 *
 * Submit + completion: a request is answered through its on_done callback, which wakes
 * the stream's writer (fanout_kick), so no writer ever waits for the generator. */
#ifndef GATEWAY_BACKFILL_H
#define GATEWAY_BACKFILL_H

#include "metrics.h"
#include "wire_replay.h"

#include <stddef.h>
#include <stdint.h>

/* Requests waiting at once; more are refused. */
enum { BACKFILL_QUEUE_MAX = 1024 };

typedef struct backfill backfill_t;
typedef struct backfill_request backfill_request_t;

/* Called once for every request submitted (not refused, not withdrawn), on the fetcher's
 * thread or on the one that stops it, with the fetcher's lock held: it must only signal
 * (a futex, a condition variable, an eventfd) and must not call into the fetcher. Once it
 * returns, the fetcher never touches the request again. */
typedef void (*backfill_done_fn)(backfill_request_t *req);

struct backfill_request {
    /* Set by the caller before submitting. */
    wire_replay_request_t range; /* epoch, from_seq, to_seq */
    wire_number_t *events;       /* WIRE_REPLAY_EVENTS_MAX, the caller's */
    backfill_done_fn on_done;
    void *ctx; /* the caller's, for on_done */
    /* Set before on_done: 0 with the generator's answer in reply (its events in the
     * caller's array), or <0: -ETIME (waited past its deadline), -ESHUTDOWN, or the
     * replay's -ETIMEDOUT, -EPROTO (reply.error says why), -ENOTCONN, -errno. */
    int result;
    wire_replay_reply_t reply;
    /* The fetcher's. */
    backfill_request_t *next;
    int64_t deadline_ms;
};

/* Where the replay socket is now: 0 with the endpoint in out, the CURVE public key file
 * of its generator in server_key ("" without CURVE) and the I/O thread of its sockets in
 * io_thread (bus_socket_pin), or -ENOENT while unknown. Called on
 * the fetcher's thread before each request (a restarted generator may move, a pair's
 * active member change). */
typedef int (*backfill_endpoint_fn)(void *ctx, char *out, size_t cap, char *server_key,
                                    size_t key_cap, int *io_thread);

typedef struct {
    void *zmq_context; /* borrowed, outlives the fetcher */
    backfill_endpoint_fn endpoint;
    void *endpoint_ctx;
    const char *curve_secret_key_file; /* "" for none; copied */
    metrics_t *metrics;                /* borrowed */
} backfill_deps_t;

/* Starts the fetcher's thread; it connects when the first request comes. NULL with the
 * reason in err. */
backfill_t *backfill_create(const backfill_deps_t *deps, char *err, size_t errlen);

/* Queues req. Returns 0 (on_done will be called), -EAGAIN when the queue is full, or
 * -ESHUTDOWN once stopped; on_done is not called for a refused request. */
int backfill_submit(backfill_t *b, backfill_request_t *req) __attribute__((warn_unused_result));

/* Withdraws req: 0 when withdrawn (on_done will not be called, and an answer being fetched
 * for it is dropped), -EALREADY when on_done has run. Either way the fetcher is done with
 * it. */
int backfill_cancel(backfill_t *b, backfill_request_t *req);

/* Refuses new requests and ends every queued one, and the one being fetched, with
 * -ESHUTDOWN, so no stream waits for the fetcher any more. Call before the streams'
 * threads are joined. Idempotent; NULL is a no-op. */
void backfill_stop(backfill_t *b);

/* Stops, joins the thread (at most one replay timeout) and frees. NULL is a no-op. */
void backfill_destroy(backfill_t *b);

#endif
