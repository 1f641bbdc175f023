/* cursor.h -- where one SSE client stands in the stream and what it is sent next: the
 * decisions of stream.c without its I/O. Where a client starts (resume after its
 * Last-Event-ID, a fetch from the generator first, a wait for an id not reached yet, or
 * live after a reset that says why), which frames go out with which resets, and what a
 * client is told when a wait or a fetch comes to nothing. Pure: it reads the ring and
 * nothing else, no civetweb, no clock, no counters. */
#ifndef GATEWAY_CURSOR_H
#define GATEWAY_CURSOR_H

#include "continuity.h"
#include "reset.h"
#include "ring.h"

#include <stddef.h>
#include <stdint.h>

enum { CURSOR_NO_RESET = -1, CURSOR_RESET_FRAME_MAX = 48 };

typedef struct {
    uint64_t pos;                /* next ring position to send */
    continuity_t held;           /* the id the client holds: the last sent, or its own */
    int pending_reset;           /* a reset_reason_t to send before anything, or NO_RESET */
    uint64_t fill_from, fill_to; /* seqs of held.epoch to fetch from the generator first;
                                  * fill_from 0: nothing to fetch */
} cursor_t;

typedef enum {
    CURSOR_LIVE,    /* from the newest event (after pending_reset, if any) */
    CURSOR_RESUMED, /* right after the client's id, from the ring */
    CURSOR_OLD_RUN, /* the client's older epoch: a reset (too-old), what the ring holds of
                     * it, then a reset (epoch) into the current one */
    CURSOR_FILL,    /* fetch fill_from..fill_to from the generator, then the ring */
    CURSOR_AWAIT,   /* the client's id is ahead of this gateway: wait for it */
} cursor_start_t;

/* What the client sent as its last id: id_rc 0 with (epoch, seq), -ENOENT for none, any
 * other negative for one that did not parse. bus_epoch is the epoch this gateway relays,
 * replay_known whether the generator's history can be asked. */
cursor_start_t cursor_start(cursor_t *c, const ring_t *ring, int id_rc, uint64_t epoch,
                            uint64_t seq, uint64_t bus_epoch, int replay_known);

/* Writes the reset event for reason into dst; its length or <0. */
typedef int (*cursor_reset_fn)(void *ctx, reset_reason_t reason, char *dst, size_t cap);

/* Copies frames from c->pos up to head into dst (the plain part only unless html), with
 * a reset in front wherever the client's ids would jump, while a frame and a reset still
 * fit. Returns the byte count with *events set and *oldest_ns the receipt time of the
 * first frame copied, or -ERANGE when the next frame was overwritten. */
int cursor_collect(cursor_t *c, const ring_t *ring, uint64_t head, int html, char *dst, size_t cap,
                   uint64_t *events, int64_t *oldest_ns, cursor_reset_fn reset, void *reset_ctx);

/* The reset a verdict of continuity_next calls for in front of its event, or
 * CURSOR_NO_RESET. */
int cursor_reset_for(continuity_verdict_t verdict);

/* After a fetch sent up to c->held: whether the ring now holds what follows (0), or the
 * range to fetch next (1, fill_from..fill_to set): by the time one fetch is sent the ring
 * may have moved past it. */
int cursor_refill(cursor_t *c, const ring_t *ring);

/* A fetch sent something: go on in the ring right after it (a hole left is marked by a
 * reset when it comes). */
void cursor_after_fill(cursor_t *c, const ring_t *ring);

/* Nothing can be had of what the client missed: live from the newest event. */
void cursor_go_live(cursor_t *c, const ring_t *ring);

/* The client's id was never reached: why to tell it (its epoch is ours: the id was past
 * anything published; else its epoch is not the one relayed), and it holds no id now. */
reset_reason_t cursor_give_up(cursor_t *c, const ring_t *ring);

#endif
