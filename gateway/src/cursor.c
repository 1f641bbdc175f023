/* cursor.c -- where one SSE client stands in the stream; see cursor.h. */
#include "cursor.h"

#include <errno.h>
#include <string.h>

static cursor_start_t start_live(cursor_t *c, const ring_t *ring, reset_reason_t reason)
{
    c->pending_reset = (int)reason;
    c->held.known = 0;
    c->pos = ring_head(ring);
    return CURSOR_LIVE;
}

/* The client's id is older than the ring: fetch the gap from the generator (up to our
 * newest, not just our oldest: the ring moves on while the fetch is sent), or, when the
 * generator cannot have it, say so and send what we hold of its older run. Only that last
 * case reads the oldest slot again: the next event may overwrite it any moment, and a
 * fetch does not need it. */
static cursor_start_t start_too_old(cursor_t *c, const ring_t *ring, uint64_t pos, int replay_known)
{
    ring_meta_t newest, first;
    if (!replay_known || ring_newest(ring, &newest) < 0)
        return start_live(c, ring, RESET_TOO_OLD);
    if (newest.epoch == c->held.epoch) {
        c->fill_from = c->held.seq + 1;
        c->fill_to = newest.seq;
        return CURSOR_FILL;
    }
    if (ring_meta(ring, pos, &first) < 0)
        return start_live(c, ring, RESET_TOO_OLD); /* the older run has left the ring */
    /* The generator holds only its current epoch: a reset, then the older run we hold,
     * and a reset at its end. */
    c->pending_reset = RESET_TOO_OLD;
    c->held.seq = first.seq - 1;
    c->pos = pos;
    return CURSOR_OLD_RUN;
}

cursor_start_t cursor_start(cursor_t *c, const ring_t *ring, int id_rc, uint64_t epoch,
                            uint64_t seq, uint64_t bus_epoch, int replay_known)
{
    *c = (cursor_t){.pos = ring_head(ring), .pending_reset = CURSOR_NO_RESET};
    if (id_rc == -ENOENT)
        return CURSOR_LIVE;
    if (id_rc < 0) {
        c->pending_reset = RESET_INVALID_ID;
        return CURSOR_LIVE;
    }
    c->held = (continuity_t){epoch, seq, 1, 0};
    uint64_t pos;
    switch (ring_find(ring, epoch, seq, &pos)) {
    case RING_AFTER:
        c->pos = pos;
        return CURSOR_RESUMED;
    case RING_TOO_OLD:
        return start_too_old(c, ring, pos, replay_known);
    case RING_AHEAD:
        c->held.awaiting = 1;
        return CURSOR_AWAIT;
    case RING_UNKNOWN:
        break;
    }
    if (epoch == bus_epoch) { /* our bus is behind the client's gateway */
        c->held.awaiting = 1;
        return CURSOR_AWAIT;
    }
    return start_live(c, ring, RESET_EPOCH);
}

int cursor_reset_for(continuity_verdict_t verdict)
{
    switch (verdict) {
    case CONTINUITY_RESET_EPOCH:
        return RESET_EPOCH;
    case CONTINUITY_RESET_GAP:
        return RESET_GAP;
    case CONTINUITY_SEND:
    case CONTINUITY_SKIP:
        break;
    }
    return CURSOR_NO_RESET;
}

/* Puts the reset for verdict in front of the n bytes of the frame at `at`. Returns the
 * frame's new length, or <0. */
static int prepend_reset(continuity_verdict_t verdict, char *at, int n, cursor_reset_fn reset,
                         void *reset_ctx)
{
    int reason = cursor_reset_for(verdict);
    if (reason == CURSOR_NO_RESET)
        return n;
    char frame[CURSOR_RESET_FRAME_MAX];
    int r = reset(reset_ctx, (reset_reason_t)reason, frame, sizeof frame);
    if (r < 0)
        return r;
    memmove(at + r, at, (size_t)n);
    memcpy(at, frame, (size_t)r);
    return n + r;
}

int cursor_collect(cursor_t *c, const ring_t *ring, uint64_t head, int html, char *dst, size_t cap,
                   uint64_t *events, int64_t *oldest_ns, cursor_reset_fn reset, void *reset_ctx)
{
    size_t len = 0;
    *events = 0;
    while (c->pos < head && cap - len >= RING_FRAME_MAX + CURSOR_RESET_FRAME_MAX) {
        char *at = dst + len;
        ring_meta_t m;
        int n = html ? ring_read(ring, c->pos, at, RING_FRAME_MAX, &m)
                     : ring_read_plain(ring, c->pos, at, RING_FRAME_MAX, &m);
        if (n < 0)
            return n == -EAGAIN ? (int)len : -ERANGE;
        c->pos++;
        if (len == 0)
            *oldest_ns = m.received_ns;
        continuity_verdict_t verdict = continuity_next(&c->held, m.epoch, m.seq);
        if (verdict == CONTINUITY_SKIP)
            continue;
        n = prepend_reset(verdict, at, n, reset, reset_ctx);
        if (n < 0)
            return n;
        len += (size_t)n;
        (*events)++;
    }
    return (int)len;
}

int cursor_refill(cursor_t *c, const ring_t *ring)
{
    uint64_t pos;
    ring_meta_t newest;
    if (ring_find(ring, c->held.epoch, c->held.seq, &pos) != RING_TOO_OLD ||
        ring_meta(ring, ring_head(ring) - 1, &newest) < 0)
        return 0;
    c->fill_from = c->held.seq + 1;
    c->fill_to = newest.seq;
    return 1;
}

void cursor_after_fill(cursor_t *c, const ring_t *ring)
{
    uint64_t pos;
    if (ring_find(ring, c->held.epoch, c->held.seq, &pos) == RING_AHEAD)
        pos = ring_head(ring);
    c->pos = pos;
    c->fill_from = 0;
}

void cursor_go_live(cursor_t *c, const ring_t *ring)
{
    c->held.known = 0;
    c->pos = ring_head(ring);
    c->fill_from = 0;
}

reset_reason_t cursor_give_up(cursor_t *c, const ring_t *ring)
{
    ring_meta_t newest;
    uint64_t head = ring_head(ring);
    reset_reason_t why = RESET_EPOCH;
    if (head > 1 && ring_meta(ring, head - 1, &newest) >= 0 && newest.epoch == c->held.epoch)
        why = RESET_INVALID_ID;
    c->held = (continuity_t){0};
    return why;
}
