/* pair.h -- one member of a generator pair (the zguide's "Binary Star"): the state
 * machine (STARTING, ACTIVE, PASSIVE), the active's mirror-then-publish pipeline, the
 * passive's mirror of the active's events, acks and votes, and takeover. The design and
 * its failure cases: generator/README.md. Owned and used by the generator's single
 * thread; the publisher and the replay socket are borrowed from main. */
#ifndef GENERATOR_PAIR_H
#define GENERATOR_PAIR_H

#include "config.h"
#include "publisher.h"
#include "replay.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pair pair_t;

/* Connects a SUB to cfg->peer (with CURVE when cfg says so) and starts STARTING; hears
 * the votes of replay. NULL with the reason in err. */
pair_t *pair_create(void *zmq_context, const generator_config_t *cfg, publisher_t *pub,
                    replay_t *replay, char *err, size_t errlen);
void pair_destroy(pair_t *pair);

/* The SUB socket on the peer's bus, for the caller's poll. */
void *pair_socket(const pair_t *pair);

/* Reads a bounded batch of the peer's messages (heartbeats, mirrored events, acks) and
 * acts on them. 0 or -errno. */
int pair_read(pair_t *pair) __attribute__((warn_unused_result));

/* What time alone decides: takeover, a catch-up fetch from the active (a bounded wait),
 * and publishing the events whose ack came or whose wait is over. 0 or -errno. */
int pair_step(pair_t *pair) __attribute__((warn_unused_result));

/* Makes the next event when active and wanted: mirrors it, and publishes it now when the
 * standby is not synced, else once acked (pair_step). Returns 1 when one was made, 0
 * when not (not active, nobody wants the data, or too many wait for their ack), or
 * -errno. */
int pair_generate(pair_t *pair) __attribute__((warn_unused_result));

int pair_is_active(const pair_t *pair);

/* The monotonic time (us) by which pair_step must run again. */
int64_t pair_deadline_us(const pair_t *pair, int64_t now_us);

/* Sends a heartbeat with the pair's fields (and, when passive, an ack). 0 or -errno. */
int pair_heartbeat(pair_t *pair) __attribute__((warn_unused_result));

/* Whether the state changed (or the standby's sync did) since the last call: a heartbeat
 * is due at once. */
int pair_take_heartbeat_due(pair_t *pair);

#endif
