/* sources.c -- which of a subscriber's generators is active, and when to vote. */
#include "sources.h"

#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int label_safe(const char *ep)
{
    for (const char *c = ep; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || *c == 0x7f)
            return 0;
    return 1;
}

int sources_split(const char *list, char out[SOURCES_MAX][SOURCES_ENDPOINT_MAX], char *err,
                  size_t errlen)
{
    int n = 0;
    for (const char *p = list;; p++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 && (end || n > 0 || *list)) {
            snprintf(err, errlen, "empty endpoint in '%s'", list);
            return -EINVAL;
        }
        if (len == 0)
            break;
        if (n == SOURCES_MAX || len >= SOURCES_ENDPOINT_MAX) {
            snprintf(err, errlen, "at most %d endpoints of %d bytes each", SOURCES_MAX,
                     SOURCES_ENDPOINT_MAX - 1);
            return -EINVAL;
        }
        memcpy(out[n], p, len);
        out[n][len] = '\0';
        if (!label_safe(out[n])) {
            snprintf(err, errlen, "endpoint '%s' has a quote, backslash or control character",
                     out[n]);
            return -EINVAL;
        }
        n++;
        if (end == NULL)
            break;
        p = end;
    }
    if (n == 0) {
        snprintf(err, errlen, "no endpoint to connect to");
        return -EINVAL;
    }
    return n;
}

void sources_init(sources_t *s, size_t count, int64_t now_ms)
{
    memset(s, 0, sizeof *s);
    s->count = count > SOURCES_MAX ? SOURCES_MAX : count;
    s->started_ms = now_ms;
}

void sources_heartbeat(sources_t *s, size_t i, const wire_heartbeat_t *hb, int64_t now_ms)
{
    source_t *src = &s->s[i];
    src->heard = 1;
    src->heard_ms = now_ms;
    src->hb = *hb;
    if (hb->failover_ms)
        s->failover_ms = hb->failover_ms;
    if (hb->state == WIRE_STATE_ACTIVE)
        s->active_ms = now_ms;
}

void sources_event(sources_t *s, size_t i, int64_t now_ms)
{
    s->s[i].heard_ms = now_ms;
    if (s->s[i].heard && s->s[i].hb.state == WIRE_STATE_ACTIVE)
        s->active_ms = now_ms;
}

uint32_t sources_failover(const sources_t *s)
{
    return s->failover_ms ? s->failover_ms : SOURCES_FAILOVER_MS;
}

static int fresh(const sources_t *s, const source_t *src, int64_t now_ms)
{
    return src->heard && now_ms - src->heard_ms <= (int64_t)sources_failover(s);
}

int sources_heard(const sources_t *s, size_t i, int64_t now_ms)
{
    return fresh(s, &s->s[i], now_ms);
}

/* Orders two active sources as the pair does: the larger (epoch, last_seq) stays; on a
 * tie (a takeover: the new active continues where the old stopped) the one heard last. */
static int ahead(const source_t *a, const source_t *b)
{
    if (a->hb.epoch != b->hb.epoch)
        return a->hb.epoch > b->hb.epoch;
    if (a->hb.last_seq != b->hb.last_seq)
        return a->hb.last_seq > b->hb.last_seq;
    return a->heard_ms > b->heard_ms;
}

int sources_active(const sources_t *s, int64_t now_ms)
{
    int best = -1;
    for (size_t i = 0; i < s->count; i++) {
        const source_t *src = &s->s[i];
        if (!fresh(s, src, now_ms) || src->hb.state != WIRE_STATE_ACTIVE)
            continue;
        if (best < 0 || ahead(src, &s->s[best]))
            best = (int)i;
    }
    return best;
}

int sources_vote_due(sources_t *s, size_t i, int64_t now_ms)
{
    int64_t failover = sources_failover(s);
    int64_t silent_since = s->active_ms ? s->active_ms : s->started_ms;
    source_t *src = &s->s[i];
    if (now_ms - silent_since < failover || !fresh(s, src, now_ms) ||
        src->hb.state == WIRE_STATE_ACTIVE || src->hb.replay_port == 0)
        return 0;
    if (src->voted_ms && now_ms - src->voted_ms < failover / 4)
        return 0;
    src->voted_ms = now_ms;
    src->votes++;
    return 1;
}

/* Mirrors fresh() and sources_vote_due(): a fresh source is stale from heard + failover +
 * 1; a vote to it is due once no active one was heard for the failover time and its last
 * vote is failover/4 old. */
int64_t sources_next_due(const sources_t *s, int64_t now_ms)
{
    int64_t failover = sources_failover(s), due = CLOCK_NEVER;
    int64_t votes_from = (s->active_ms ? s->active_ms : s->started_ms) + failover;
    for (size_t i = 0; i < s->count; i++) {
        const source_t *src = &s->s[i];
        if (!fresh(s, src, now_ms))
            continue;
        due = clock_earliest(due, src->heard_ms + failover + 1);
        if (src->hb.state == WIRE_STATE_ACTIVE || src->hb.replay_port == 0)
            continue;
        int64_t next_vote = src->voted_ms ? src->voted_ms + failover / 4 : votes_from;
        due = clock_earliest(due, next_vote > votes_from ? next_vote : votes_from);
    }
    return due;
}

void sources_vote_request(const sources_t *s, uint64_t *epoch, uint64_t *seq)
{
    *epoch = s->epoch;
    *seq = s->epoch ? s->seq + 1 : 1;
}

void sources_note_held(sources_t *s, uint64_t epoch, uint64_t seq)
{
    s->epoch = epoch;
    s->seq = seq;
}

const char *sources_state_name(wire_state_t state)
{
    switch (state) {
    case WIRE_STATE_ACTIVE:
        return "active";
    case WIRE_STATE_STARTING:
        return "starting";
    case WIRE_STATE_PASSIVE:
        return "passive";
    }
    return "unknown";
}

const char *sources_role_name(wire_role_t role)
{
    switch (role) {
    case WIRE_ROLE_SINGLE:
        return "single";
    case WIRE_ROLE_PRIMARY:
        return "primary";
    case WIRE_ROLE_BACKUP:
        return "backup";
    }
    return "unknown";
}
