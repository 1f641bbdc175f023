/* ring.h -- the broadcast ring: one writer (the bus thread) stores each event's SSE frame
 * once; any number of readers (the SSE connections) copy frames they have not yet sent.
 *
 * Positions count events from 1 and never repeat. A slot holds the frame of the position
 * it was last written with; a reader whose position was overwritten has fallen more than
 * `capacity` events behind and must be dropped. Readers never lock: each slot is a
 * seqlock, so the writer never waits on a reader and one stalled reader delays no one.
 * Readers are told of new events by whoever publishes (the writers' wake-ups), not here.
 * Pure: no civetweb, no ZeroMQ. */
#ifndef GATEWAY_RING_H
#define GATEWAY_RING_H

#include <stddef.h>
#include <stdint.h>

#define RING_FRAME_MAX 312 /* bytes of one SSE frame; larger frames are refused */

typedef struct {
    uint64_t epoch;
    uint64_t seq;
    int64_t published_ns; /* generator's wall clock */
    int64_t value;
    int64_t received_ns; /* this gateway's monotonic clock, when the bus thread got it */
    uint64_t plain_len;  /* the frame's first bytes, the event for every client; the rest
                          * is the HTML message only the page asks for (0: all) */
} ring_meta_t;

typedef struct ring ring_t;

ring_t *ring_create(size_t capacity);
void ring_destroy(ring_t *ring);

/* Writer only. Stores the frame at position ring_head(); readers see it at once. Returns
 * 0 or -EMSGSIZE. */
int ring_publish(ring_t *ring, const ring_meta_t *meta, const char *frame, size_t len)
    __attribute__((warn_unused_result));

/* The position the next publish will take; positions below it are published. */
uint64_t ring_head(const ring_t *ring);

/* The oldest position still held (1 when nothing has been overwritten yet). */
uint64_t ring_tail(const ring_t *ring);

/* Copies the frame at pos into dst (cap bytes) and its meta into meta (may be NULL).
 * Returns the frame length, -EAGAIN if pos is not published yet, -ERANGE if it was
 * overwritten (the reader lagged), -ENOSPC if cap is too small. */
int ring_read(const ring_t *ring, uint64_t pos, char *dst, size_t cap, ring_meta_t *meta)
    __attribute__((warn_unused_result));

/* Where a reader holding the id (epoch, seq) goes on. The ring is made of runs of one
 * epoch each, in the order the bus relayed them (a later run may have a lower epoch: a
 * generator whose clock went back); within a run seq grows by one. */
typedef enum {
    RING_AFTER,   /* *pos: the first event after the id (the next run's first event after
                   * the last of its run, ring_head() after the newest) */
    RING_TOO_OLD, /* the id's run is held, but not from the id's successor: *pos its
                   * oldest held event */
    RING_AHEAD,   /* the id is in the newest run, past its newest event: *pos ring_head() */
    RING_UNKNOWN, /* no run of the id's epoch is held: *pos ring_head() */
} ring_find_t;

/* The newest event's metadata, read again if the ring went round under the read. 0, or
 * -EAGAIN when the ring is empty or moves faster than it can be read. */
int ring_newest(const ring_t *ring, ring_meta_t *meta) __attribute__((warn_unused_result));

ring_find_t ring_find(const ring_t *ring, uint64_t epoch, uint64_t seq, uint64_t *pos);

/* As ring_read, but only the frame's plain part (meta->plain_len bytes), for clients that
 * did not ask for the HTML message: the rest is never copied. */
int ring_read_plain(const ring_t *ring, uint64_t pos, char *dst, size_t cap, ring_meta_t *meta)
    __attribute__((warn_unused_result));

/* Copies only the meta of the event at pos; same returns as ring_read. */
int ring_meta(const ring_t *ring, uint64_t pos, ring_meta_t *meta)
    __attribute__((warn_unused_result));

/* Marks the ring closed: the gateway stops, and every stream that sees it ends. */
void ring_close(ring_t *ring);

int ring_closed(const ring_t *ring);

#endif
