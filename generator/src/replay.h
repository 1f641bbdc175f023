/* replay.h -- the generator's replay socket (the zguide's "Clone" pattern): a ROUTER that
 * answers ReplayRequests from the history of recent events, so a subscriber can fetch
 * what it missed (before it joined, or in a gap) from the source. Requests are served in
 * bounded batches from the publish loop, and each answer is bounded, so serving never
 * holds up publishing for long. Owned and used by the generator's single thread. */
#ifndef GENERATOR_REPLAY_H
#define GENERATOR_REPLAY_H

#include "config.h"
#include "history.h"
#include "wire_replay.h"

#include <stddef.h>
#include <stdint.h>

typedef struct replay replay_t;

/* Binds the ROUTER at cfg->replay_bind with the bus's CURVE settings. NULL with the
 * reason in err on failure. */
replay_t *replay_create(void *zmq_context, const generator_config_t *cfg, uint64_t epoch, char *err,
                        size_t errlen);
void replay_destroy(replay_t *replay);

void *replay_socket(const replay_t *replay);

/* The TCP port bound, for the heartbeat; 0 when it is not TCP. */
uint32_t replay_port(const replay_t *replay);

/* Keeps an event just published. */
void replay_record(replay_t *replay, const wire_number_t *ev);

/* Called with each vote (a request with vote set, see proto/rn.proto) as it arrives,
 * before it is answered. */
typedef void replay_vote_fn(void *ctx, const wire_replay_request_t *req);

/* Sets who hears the votes (a pair; without one they are only counted). */
void replay_on_vote(replay_t *replay, replay_vote_fn *fn, void *ctx);

/* Forgets the history and answers for epoch from now on (a pair's member adopting the
 * active's epoch, or starting a new one). */
void replay_reset(replay_t *replay, uint64_t epoch);

/* Copies the held events with seq in [from, to] into out (at most max); returns how many. */
size_t replay_held(const replay_t *replay, uint64_t from, uint64_t to, wire_number_t *out,
                   size_t max);

/* Votes received so far. */
uint64_t replay_votes(const replay_t *replay);

/* Answers up to max pending requests. Returns how many were answered, or -errno. */
int replay_serve(replay_t *replay, int max) __attribute__((warn_unused_result));

#endif
