/* continuity.h -- which events a client still needs, judged from the id it holds: send
 * the next event, skip it (the client has it), or send a reset first (its ids would jump,
 * and the client must know). Any change of epoch, to a higher or a lower one, starts a
 * new stream. Pure: no I/O, no clock. */
#ifndef GATEWAY_CONTINUITY_H
#define GATEWAY_CONTINUITY_H

#include <stdint.h>

typedef struct {
    uint64_t epoch, seq; /* the id the client holds */
    int known;           /* 0: it holds none, so whatever comes next is right */
    int awaiting;        /* it holds an id this gateway has not reached yet: wait for it */
} continuity_t;

typedef enum {
    CONTINUITY_SEND,
    CONTINUITY_SKIP,
    CONTINUITY_RESET_EPOCH, /* a reset before it: another epoch */
    CONTINUITY_RESET_GAP,   /* a reset before it: events are missing */
} continuity_verdict_t;

/* Judges the next event and, unless skipped, takes its id as the one the client holds. */
continuity_verdict_t continuity_next(continuity_t *c, uint64_t epoch, uint64_t seq);

#endif
