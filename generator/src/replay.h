/* replay.h -- the generator's replay socket (the zguide's "Clone" pattern): a ROUTER that
 * answers ReplayRequests from the history of recent events, so a subscriber can fetch
 * what it missed (before it joined, or in a gap) from the source. Requests are served in
 * bounded batches from the publish loop, and each answer is bounded, so serving never
 * holds up publishing for long. Owned and used by the generator's single thread. */
#ifndef GENERATOR_REPLAY_H
#define GENERATOR_REPLAY_H

#include "config.h"
#include "history.h"

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

/* Answers up to max pending requests. Returns how many were answered, or -errno. */
int replay_serve(replay_t *replay, int max) __attribute__((warn_unused_result));

#endif
