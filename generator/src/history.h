/* history.h -- the generator's most recent events, for replay: the last `capacity`
 * events of its epoch, consecutive in seq. Pure: no sockets. */
#ifndef GENERATOR_HISTORY_H
#define GENERATOR_HISTORY_H

#include "wire.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    wire_number_t *events; /* capacity slots, indexed by seq % capacity */
    size_t capacity;
    uint64_t first_seq, last_seq; /* held range; first_seq 0 when empty */
} history_t;

/* 0 or -ENOMEM. */
int history_init(history_t *h, size_t capacity) __attribute__((warn_unused_result));
void history_deinit(history_t *h);

/* Keeps ev, the event published after the last one kept (seq one higher), dropping the
 * oldest when full. An event out of sequence starts the history afresh. */
void history_append(history_t *h, const wire_number_t *ev);

/* Copies the held events with seq in [from, to], oldest first, into out (at most max).
 * Returns how many. */
size_t history_range(const history_t *h, uint64_t from, uint64_t to, wire_number_t *out,
                     size_t max);

#endif
