/* sources.h -- a subscriber's view of the generators it connects to (--connect A,B, a
 * pair): each source's state from its heartbeats, which one is active, and when to vote
 * for a takeover (proto/rn.proto, "A generator pair"). Pure: no sockets, no clock; the
 * caller passes the monotonic time. Owned by one thread. */
#ifndef RN_SOURCES_H
#define RN_SOURCES_H

#include "wire.h"

#include <stddef.h>
#include <stdint.h>

#define SOURCES_MAX 4 /* endpoints in one --connect list */
#define SOURCES_ENDPOINT_MAX 256
#define SOURCES_FAILOVER_MS 2000 /* until a heartbeat says otherwise */

typedef struct {
    int heard;           /* a heartbeat arrived from it */
    int64_t heard_ms;    /* when the last valid message arrived */
    wire_heartbeat_t hb; /* its latest heartbeat */
    int64_t voted_ms;    /* when we last voted to it, 0: never */
    uint64_t votes;      /* votes sent to it */
} source_t;

typedef struct {
    size_t count;
    source_t s[SOURCES_MAX];
    int64_t started_ms;   /* the first vote waits this long after it as after a silence */
    int64_t active_ms;    /* the last message from an active source, 0: never */
    uint32_t failover_ms; /* from the latest heartbeat that named one */
    uint64_t epoch, seq;  /* the newest event the caller holds (what a vote names) */
} sources_t;

/* Splits a comma-separated endpoint list into out (SOURCES_MAX entries). Returns the count,
 * or -EINVAL with the reason in err: empty, too many, too long, or a character that cannot
 * be a metric label ('"', '\\', a control character). */
int sources_split(const char *list, char out[SOURCES_MAX][SOURCES_ENDPOINT_MAX], char *err,
                  size_t errlen) __attribute__((warn_unused_result));

void sources_init(sources_t *s, size_t count, int64_t now_ms);

/* A heartbeat from source i. */
void sources_heartbeat(sources_t *s, size_t i, const wire_heartbeat_t *hb, int64_t now_ms);

/* An event from source i: only an active member publishes, so it is heard as active. */
void sources_event(sources_t *s, size_t i, int64_t now_ms);

/* Whether source i was heard within the failover time. */
int sources_heard(const sources_t *s, size_t i, int64_t now_ms);

/* The failover time: the latest heartbeat's, or SOURCES_FAILOVER_MS before any. */
uint32_t sources_failover(const sources_t *s);

/* The index of the active source: its latest heartbeat said ACTIVE (a single generator
 * always does) and it was heard within the failover time. Two at once (a split brain
 * that the pair resolves by itself): the one with the larger (epoch, last_seq), as the
 * pair decides, and on a tie the one heard last. -1 when none. */
int sources_active(const sources_t *s, int64_t now_ms);

/* Whether to vote to source i now, and if so counts the vote: no active source was heard
 * for the failover time (since the start when none ever was), source i is heard, not
 * active, announces a replay socket, and was not voted to in the last failover/4. */
int sources_vote_due(sources_t *s, size_t i, int64_t now_ms);

/* The earliest time after which sources_active or sources_vote_due may answer otherwise
 * without another message: a heard source goes stale, or a vote falls due (CLOCK_NEVER when
 * neither can). A loop that serves sources may sleep until then; only a message changes
 * anything before. */
int64_t sources_next_due(const sources_t *s, int64_t now_ms);

/* The vote's request: the next event after the newest held, or epoch 0 when none is. */
void sources_vote_request(const sources_t *s, uint64_t *epoch, uint64_t *seq);

/* The newest event the caller relayed. */
void sources_note_held(sources_t *s, uint64_t epoch, uint64_t seq);

/* Short label of a state ("active", "starting", "passive") and of a role. */
const char *sources_state_name(wire_state_t state);
const char *sources_role_name(wire_role_t role);

#endif
