/* fanout.h -- the writers: a few threads, each an epoll loop that owns the SSE streams
 * handed to it from their response head to their close.
 *
 * A stream costs a descriptor and a small struct, never a thread: an event wakes each
 * writer once, and it sends to every stream of its own with non-blocking writes. A stream
 * whose socket is full is watched for room (EPOLLOUT) and keeps only what it still owes;
 * the writers never wait for anyone. */
#ifndef GATEWAY_FANOUT_H
#define GATEWAY_FANOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fanout fanout_t;
typedef struct fanout_client fanout_client_t;

/* Bytes of the scratch buffer each writer lends the pumps. */
#define FANOUT_SCRATCH 8192

/* What a pump says of its stream besides ending it (a negative errno): nothing is due
 * before the next event or sweep; a deadline comes sooner (pump it at every tick); or its
 * socket is full (pump it when there is room, and at every tick). */
enum { FANOUT_IDLE = 0, FANOUT_TIMED = 1 };

/* Sends what is due to one stream without blocking, using scratch (cap bytes, valid only
 * during the call) to assemble it. Returns FANOUT_IDLE, FANOUT_TIMED, -EWOULDBLOCK, or
 * another negative errno to end the stream. Runs on the stream's writer. */
typedef int (*fanout_pump_fn)(fanout_client_t *client, char *scratch, size_t cap);

/* The writer is done with the stream (it ended, its peer left, or the fan-out stops):
 * close its socket and free it. Runs on the stream's writer, or on the thread that
 * destroys the fan-out. */
typedef void (*fanout_release_fn)(fanout_client_t *client);

/* A kick for the client reached its writer (see fanout_kick). Returns 1 to have it pumped,
 * 0 when it was released before the kick arrived (it then frees itself here). */
typedef int (*fanout_kicked_fn)(fanout_client_t *client);

/* Embedded in a stream. Its owner fills fd, pump, release and kicked; the rest is the
 * fan-out's. */
struct fanout_client {
    int fd;
    fanout_pump_fn pump;
    fanout_release_fn release;
    fanout_kicked_fn kicked;
    struct writer *writer;
    size_t slot;                     /* index in its writer's list */
    size_t timed_slot;               /* index in its writer's timed list, or none */
    int waits_for_room;              /* EPOLLOUT is watched */
    struct fanout_client *next;      /* in its writer's arrivals */
    struct fanout_client *kick_next; /* in its writer's kicks: one at a time per client */
};

/* A writer pumps its streams with a deadline every tick_ms, and all of its streams (for
 * their heartbeats) when no event pumped them for sweep_ms. */
typedef struct {
    int writers;
    long tick_ms, sweep_ms;
} fanout_config_t;

/* Starts cfg->writers threads (at least 1). NULL on failure, with the reason in err. */
fanout_t *fanout_create(const fanout_config_t *cfg, char *err, size_t errlen);

/* Stops and joins the writers and releases every stream they still hold. */
void fanout_destroy(fanout_t *fanout);

/* Takes the stream: from now on a writer pumps it and releases it. Returns 0, or <0
 * (stopped, out of memory) with the stream still the caller's. Any thread. */
int fanout_adopt(fanout_t *fanout, fanout_client_t *client) __attribute__((warn_unused_result));

/* Makes every writer pump all its streams soon: after new events, in a drain, and when
 * the ring closes (the pumps then end their streams). */
void fanout_wake(fanout_t *fanout);

/* Makes the client's writer call its kicked function, then pump it (any thread: e.g. a
 * fetch for it finished). The client must stay allocated until that call, even if it is
 * released meanwhile: kicked then frees it. */
void fanout_kick(fanout_client_t *client);

/* Streams the writers hold now. */
long fanout_streams(const fanout_t *fanout);

#endif
