/* fanout.h -- event-loop writers for SSE streams.
 *
 * civetweb keeps one worker thread per connection. Waking every one of them for every
 * event costs a context switch per client per event, most of the CPU at low rates. So
 * once a stream has sent its headers and caught up, its worker parks the stream here and
 * sleeps; a few writer threads then send every parked stream's events with non-blocking
 * writes from one loop each, like an event-driven server. A stream whose socket is full
 * goes back to its own worker, which waits on that socket with the write timeout, so the
 * writers never wait for anyone. */
#ifndef GATEWAY_FANOUT_H
#define GATEWAY_FANOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fanout fanout_t;

/* Bytes of the scratch buffer each writer lends the pumps. */
#define FANOUT_SCRATCH 8192

/* Sends what is due to one stream without blocking, using scratch (cap bytes, valid only
 * during the call) to assemble it. Returns 0 to keep the stream, -EWOULDBLOCK to give it
 * back to its worker, another negative errno to end it. Runs on a writer thread. */
typedef int (*fanout_pump_fn)(void *ctx, char *scratch, size_t cap);

enum { FANOUT_PARKED, FANOUT_RETURNED, FANOUT_ENDED };

/* One parked stream. The worker fills fd, pump and ctx and owns the memory, which must
 * outlive fanout_park; the rest belongs to the fan-out while parked. */
typedef struct fanout_client {
    int fd;
    fanout_pump_fn pump;
    void *ctx;
    _Atomic uint32_t state;
    size_t slot;                /* index in its writer's list */
    struct fanout_client *next; /* in its writer's arrivals */
} fanout_client_t;

/* Starts `writers` threads (at least 1). NULL on failure, with the reason in err. */
fanout_t *fanout_create(int writers, char *err, size_t errlen);

/* Stops and joins the writers. Call once no worker can park any more (after mg_stop). */
void fanout_destroy(fanout_t *fanout);

/* Makes every writer pump all its streams soon: after new events, for heartbeats, and
 * when the ring closes (the pumps then end their streams). */
void fanout_wake(fanout_t *fanout);

/* Hands the stream to a writer and sleeps until the writer gives it back. Returns
 * FANOUT_RETURNED (the socket was full: go on writing from the worker) or FANOUT_ENDED
 * (the client left, the pump ended it, or the fan-out stopped). */
int fanout_park(fanout_t *fanout, fanout_client_t *client);

#endif
