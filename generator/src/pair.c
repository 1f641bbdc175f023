/* pair.c -- a pair member's states, its mirror of the active and the active's wait for
 * acks. See generator/README.md for the design, the state table and the failure cases.
 *
 * Time: every interval here is monotonic milliseconds, except the pending events' wait
 * (microseconds, as the publish schedule). The loop never blocks for long: the only wait
 * is a catch-up fetch from the active's replay socket, bounded by FETCH_TIMEOUT_MS. */
#include "pair.h"

#include "bus_socket.h"
#include "clock.h"
#include "curve.h"
#include "log.h"
#include "replay_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Peer messages read per loop turn, so a flood from the peer's bus delays our own
 * publishing by one batch at most. */
enum { READ_BATCH = 256 };
/* Events generated and waiting for their ack: at a high rate, the wait's worth of
 * events; when full, no more are made until the oldest is published. */
enum { PENDING_MAX = 65536 };
/* A catch-up fetch waits this long for the active's answer, then retries after as long. */
enum { FETCH_TIMEOUT_MS = 100, FETCH_RETRY_MS = 100 };
/* How often pair_step runs without anything else to wake the loop: the resolution of
 * the failover timer. */
enum { STEP_US = 50 * 1000 };

struct pair {
    const generator_config_t *cfg; /* borrowed from main */
    publisher_t *pub;              /* borrowed */
    replay_t *replay;              /* borrowed */
    void *context;
    void *sub; /* on the peer's bus: _heartbeat, _mirror, _ack */
    replay_client_t *fetcher;
    wire_role_t role;
    wire_state_t state;
    int64_t started_ms;
    int64_t peer_heard_ms;      /* any message from the peer; 0: never */
    int64_t active_heard_ms;    /* the peer's heartbeat saying ACTIVE, or a mirrored event */
    wire_heartbeat_t active_hb; /* the active peer's last heartbeat */
    wire_state_t peer_state;
    int heartbeat_due;
    int activated;      /* has been active once: a later new stream needs a new epoch */
    int adopted;        /* has held the peer's epoch: ours is no longer the startup one */
    uint64_t epoch_max; /* the largest epoch held or heard of */
    uint64_t same_role_seen;
    uint64_t takeovers;
    /* passive */
    uint64_t mirrored; /* every event of pub->epoch up to it is held (since the first) */
    uint64_t want;     /* the highest seq known to exist in the active */
    uint64_t acked_sent;
    int64_t next_fetch_ms;
    /* active */
    uint64_t acked; /* the passive holds every event up to it */
    int synced;
    uint64_t next_seq;
    wire_number_t *pending; /* ring of PENDING_MAX made, mirrored, not yet published */
    int64_t *pending_us;    /* when each was made */
    size_t head, count;
    /* votes, valid for failover_ms */
    int64_t vote_ms;
    uint64_t vote_epoch, vote_last_held; /* the furthest a voter of that epoch holds */
    wire_number_t *fetched;              /* WIRE_REPLAY_EVENTS_MAX, for every fetch */
};

static int64_t now_ms(void)
{
    return clock_mono_ms();
}

static const char *state_name(wire_state_t s)
{
    return s == WIRE_STATE_ACTIVE ? "active" : s == WIRE_STATE_PASSIVE ? "passive" : "starting";
}

static int within_failover(const pair_t *p, int64_t since_ms, int64_t now)
{
    return since_ms != 0 && now - since_ms < p->cfg->failover_ms;
}

static void set_state(pair_t *p, wire_state_t state, const char *why)
{
    log_info("pair state", "from=%s to=%s reason=\"%s\" epoch=%llu last_seq=%llu mirrored=%llu",
             state_name(p->state), state_name(state), why, (unsigned long long)p->pub->epoch,
             (unsigned long long)p->pub->seq, (unsigned long long)p->mirrored);
    p->state = state;
    p->heartbeat_due = 1;
}

/* Holds nothing of any epoch but this one from now on. */
static void adopt_epoch(pair_t *p, uint64_t epoch)
{
    if (epoch == p->pub->epoch && p->mirrored)
        return;
    log_info("pair mirrors epoch", "epoch=%llu previous=%llu", (unsigned long long)epoch,
             (unsigned long long)p->pub->epoch);
    p->pub->epoch = epoch;
    p->adopted = 1;
    if (epoch > p->epoch_max)
        p->epoch_max = epoch;
    p->pub->seq = p->mirrored = p->want = p->acked_sent = 0;
    replay_reset(p->replay, epoch);
}

static void on_vote(void *ctx, const wire_replay_request_t *req)
{
    pair_t *p = ctx;
    int64_t now = now_ms();
    if (!within_failover(p, p->vote_ms, now) || req->epoch != p->vote_epoch) {
        p->vote_epoch = req->epoch;
        p->vote_last_held = 0;
    }
    p->vote_ms = now;
    if (req->from_seq - 1 > p->vote_last_held)
        p->vote_last_held = req->from_seq - 1;
}

static int open_sub(pair_t *p, char *err, size_t errlen)
{
    p->sub = zmq_socket(p->context, ZMQ_SUB);
    if (p->sub == NULL || bus_socket_tune(p->sub, BUS_SOCKET_CONNECTS) < 0 ||
        bus_socket_pin(p->sub, GENERATOR_PEER_IO_THREAD) < 0) {
        snprintf(err, errlen, "cannot create the peer socket: %s", zmq_strerror(zmq_errno()));
        return -EINVAL;
    }
    if (curve_client_from_flags(p->sub, p->cfg->curve_peer_key_file, p->cfg->curve_secret_key_file,
                                err, errlen) < 0)
        return -EINVAL;
    const char *topics[] = {WIRE_HEARTBEAT_TOPIC, WIRE_MIRROR_TOPIC, WIRE_ACK_TOPIC};
    for (int i = 0; i < 3; i++)
        if (zmq_setsockopt(p->sub, ZMQ_SUBSCRIBE, topics[i], strlen(topics[i])) != 0) {
            snprintf(err, errlen, "cannot subscribe: %s", zmq_strerror(zmq_errno()));
            return -EINVAL;
        }
    if (zmq_connect(p->sub, p->cfg->peer) != 0) {
        snprintf(err, errlen, "cannot connect to peer '%s': %s", p->cfg->peer,
                 zmq_strerror(zmq_errno()));
        return -EINVAL;
    }
    return 0;
}

pair_t *pair_create(void *zmq_context, const generator_config_t *cfg, publisher_t *pub,
                    replay_t *replay, char *err, size_t errlen)
{
    pair_t *p = calloc(1, sizeof *p);
    if (p == NULL || (p->pending = calloc(PENDING_MAX, sizeof *p->pending)) == NULL ||
        (p->pending_us = calloc(PENDING_MAX, sizeof *p->pending_us)) == NULL ||
        (p->fetched = calloc(WIRE_REPLAY_EVENTS_MAX, sizeof *p->fetched)) == NULL) {
        snprintf(err, errlen, "out of memory for the pair");
        pair_destroy(p);
        return NULL;
    }
    *p = (pair_t){.cfg = cfg,
                  .pub = pub,
                  .replay = replay,
                  .context = zmq_context,
                  .pending = p->pending,
                  .pending_us = p->pending_us,
                  .fetched = p->fetched,
                  .role = strcmp(cfg->role, "primary") == 0 ? WIRE_ROLE_PRIMARY : WIRE_ROLE_BACKUP,
                  .state = WIRE_STATE_STARTING,
                  .peer_state = WIRE_STATE_STARTING,
                  .started_ms = now_ms(),
                  .heartbeat_due = 1};
    if (open_sub(p, err, errlen) < 0) {
        pair_destroy(p);
        return NULL;
    }
    replay_on_vote(replay, on_vote, p);
    return p;
}

void pair_destroy(pair_t *p)
{
    if (p == NULL)
        return;
    if (p->sub)
        zmq_close(p->sub);
    replay_client_destroy(p->fetcher);
    free(p->pending);
    free(p->pending_us);
    free(p->fetched);
    free(p);
}

void *pair_socket(const pair_t *p)
{
    return p->sub;
}

int pair_is_active(const pair_t *p)
{
    return p->state == WIRE_STATE_ACTIVE;
}

int pair_take_heartbeat_due(pair_t *p)
{
    int due = p->heartbeat_due;
    p->heartbeat_due = 0;
    return due;
}

/* ---- the active: mirror, wait for the ack, publish ---- */

static int publish(pair_t *p, const wire_number_t *ev)
{
    int rc = publisher_send(p->pub, p->cfg->topic, ev);
    if (rc < 0)
        return rc;
    p->pub->seq = ev->seq;
    replay_record(p->replay, ev);
    return 0;
}

static void set_synced(pair_t *p, int synced)
{
    if (synced == p->synced)
        return;
    p->synced = synced;
    p->heartbeat_due = 1;
    if (synced)
        log_info("standby synced", "epoch=%llu acked=%llu", (unsigned long long)p->pub->epoch,
                 (unsigned long long)p->acked);
    else
        log_warn("standby not synced", "epoch=%llu acked=%llu last_seq=%llu wait_ms=%ld",
                 (unsigned long long)p->pub->epoch, (unsigned long long)p->acked,
                 (unsigned long long)p->pub->seq, p->cfg->mirror_wait_ms);
}

/* Publishes the pending events that are acked, or whose wait is over. The first one
 * published unacked first marks the standby not synced and says so in a heartbeat, so a
 * subscriber that holds that event has heard "not synced" before it (the passive, which
 * lacks it, is then not eligible to continue the epoch). */
static int flush(pair_t *p, int64_t now_us)
{
    while (p->count) {
        const wire_number_t *ev = &p->pending[p->head];
        int acked = p->acked >= ev->seq;
        if (!acked && p->synced && now_us - p->pending_us[p->head] < p->cfg->mirror_wait_ms * 1000)
            return 0;
        if (!acked && p->synced) {
            set_synced(p, 0);
            p->heartbeat_due = 0;
            int rc = pair_heartbeat(p);
            if (rc < 0)
                return rc;
        }
        int rc = publish(p, ev);
        if (rc < 0)
            return rc;
        p->head = (p->head + 1) % PENDING_MAX;
        p->count--;
    }
    return 0;
}

int pair_generate(pair_t *p)
{
    if (p->state != WIRE_STATE_ACTIVE || !p->pub->active || p->count == PENDING_MAX)
        return 0;
    wire_number_t ev;
    publisher_make(p->pub, p->next_seq, &ev);
    int rc = publisher_send(p->pub, WIRE_MIRROR_TOPIC, &ev);
    if (rc < 0)
        return rc;
    p->next_seq++;
    size_t tail = (p->head + p->count) % PENDING_MAX;
    p->pending[tail] = ev;
    p->pending_us[tail] = clock_ns(CLOCK_MONOTONIC) / 1000;
    p->count++;
    /* Not synced: nobody waits; the passive catches up from the replay socket. */
    return p->synced ? 1 : (flush(p, p->pending_us[tail]) < 0 ? -EIO : 1);
}

static void on_ack(pair_t *p, const wire_ack_t *ack)
{
    if (p->state != WIRE_STATE_ACTIVE || ack->epoch != p->pub->epoch)
        return;
    if (ack->seq > p->acked)
        p->acked = ack->seq;
    if (!p->synced && p->acked >= p->pub->seq && p->count == 0)
        set_synced(p, 1);
}

/* The events mirrored beyond what the active last said it published may never have
 * reached a subscriber: published again (a subscriber that has them drops the copy by its
 * (epoch, seq), which holds the same value). */
static void republish_unannounced(pair_t *p)
{
    size_t n = replay_held(p->replay, p->active_hb.last_seq + 1, p->mirrored, p->fetched,
                           WIRE_REPLAY_EVENTS_MAX);
    for (size_t i = 0; i < n; i++)
        if (publisher_send(p->pub, p->cfg->topic, &p->fetched[i]) < 0)
            log_warn("cannot republish", "seq=%llu", (unsigned long long)p->fetched[i].seq);
}

/* Starts publishing: the same epoch at mirrored + 1 when it honestly can (see
 * eligible()), else a new epoch. */
static int become_active(pair_t *p, int same_epoch, const char *why)
{
    if (same_epoch) {
        p->pub->seq = p->mirrored;
    } else {
        /* The startup epoch (--epoch, or the start time) while it was never used nor
         * replaced; else the time now. Either way above every epoch heard of, so no
         * (epoch, seq) of an earlier stream is ever published again. */
        uint64_t epoch =
            p->activated || p->adopted ? (uint64_t)(clock_wall_ns() / 1000000) : p->pub->epoch;
        p->pub->epoch = epoch > p->epoch_max ? epoch : p->epoch_max + 1;
        p->epoch_max = p->pub->epoch;
        replay_reset(p->replay, p->pub->epoch);
        p->pub->seq = p->mirrored = 0;
    }
    p->next_seq = p->pub->seq + 1;
    p->acked = p->count = p->head = 0;
    p->synced = 0;
    p->activated = 1;
    set_state(p, WIRE_STATE_ACTIVE, why);
    log_info(same_epoch ? "pair continues the epoch" : "pair starts a new epoch",
             "epoch=%llu next_seq=%llu takeovers=%llu", (unsigned long long)p->pub->epoch,
             (unsigned long long)p->next_seq, (unsigned long long)p->takeovers);
    /* Subscribers hear that this one is active before any event of it, so they take its
     * events (and fetch what they lack) from it, not from the member that is gone. */
    int rc = pair_heartbeat(p);
    if (rc < 0)
        log_warn("cannot announce the takeover", "error=\"%s\"", zmq_strerror(-rc));
    if (same_epoch)
        republish_unannounced(p);
    return 0;
}

/* ---- the passive: mirror, ack, catch up ---- */

static void store(pair_t *p, const wire_number_t *ev)
{
    if (ev->seq != p->mirrored + 1 && p->mirrored)
        log_warn("mirror restarts",
                 "detail=\"the active no longer holds what we lack\" "
                 "mirrored=%llu first_held=%llu",
                 (unsigned long long)p->mirrored, (unsigned long long)ev->seq);
    replay_record(p->replay, ev);
    p->mirrored = ev->seq;
    uint64_t published = p->active_hb.last_seq;
    p->pub->seq = p->mirrored < published ? p->mirrored : published;
}

static int send_ack(pair_t *p)
{
    if (p->state != WIRE_STATE_PASSIVE)
        return 0;
    wire_ack_t ack = {p->pub->epoch, p->mirrored};
    p->acked_sent = p->mirrored;
    return publisher_send_ack(p->pub, &ack);
}

static void on_mirror(pair_t *p, const wire_number_t *ev)
{
    p->active_heard_ms = now_ms();
    if (p->state != WIRE_STATE_PASSIVE)
        return;
    if (ev->epoch != p->pub->epoch)
        adopt_epoch(p, ev->epoch);
    if (ev->seq == p->mirrored + 1)
        store(p, ev);
    else if (ev->seq > p->mirrored + 1 && ev->seq > p->want)
        p->want = ev->seq; /* a gap: fetched from the active (catch_up) */
}

static int fetch_endpoint(const pair_t *p, char *out, size_t cap)
{
    if (p->cfg->peer_replay_connect[0]) {
        snprintf(out, cap, "%s", p->cfg->peer_replay_connect);
        return 0;
    }
    return replay_endpoint_from_bus(p->cfg->peer, p->active_hb.replay_port, out, cap);
}

/* The replay client for the active's current replay endpoint, made anew when it moved. */
static replay_client_t *fetcher(pair_t *p)
{
    char endpoint[256], err[256];
    if (fetch_endpoint(p, endpoint, sizeof endpoint) < 0)
        return NULL;
    if (p->fetcher && strcmp(replay_client_endpoint(p->fetcher), endpoint) == 0)
        return p->fetcher;
    replay_client_destroy(p->fetcher);
    p->fetcher = replay_client_create(p->context, endpoint, p->cfg->curve_peer_key_file,
                                      p->cfg->curve_secret_key_file, GENERATOR_PEER_IO_THREAD, err,
                                      sizeof err);
    if (p->fetcher == NULL)
        log_warn("cannot fetch from the active", "error=\"%s\"", err);
    return p->fetcher;
}

/* One bounded fetch of what the mirror lacks (after a gap, or on joining: everything the
 * active still holds), when due. */
static int catch_up(pair_t *p, int64_t now)
{
    if (p->mirrored >= p->want || now < p->next_fetch_ms)
        return 0;
    replay_client_t *c = fetcher(p);
    p->next_fetch_ms = now + FETCH_RETRY_MS;
    if (c == NULL)
        return 0;
    wire_replay_request_t req = {p->pub->epoch, p->mirrored + 1, p->want, 0};
    wire_replay_reply_t reply = {.events = p->fetched};
    int rc = replay_client_fetch(c, &req, &reply, FETCH_TIMEOUT_MS);
    if (rc < 0 || reply.epoch != p->pub->epoch) {
        log_debug("catch-up fetch failed", "error=\"%s\"", rc < 0 ? zmq_strerror(-rc) : "epoch");
        return 0;
    }
    for (size_t i = 0; i < reply.count; i++)
        if (reply.events[i].seq > p->mirrored)
            store(p, &reply.events[i]);
    if (reply.count == WIRE_REPLAY_EVENTS_MAX)
        p->next_fetch_ms = now; /* more to come: the next turn */
    else if (reply.last_seq < p->want && p->mirrored >= reply.last_seq)
        p->want = p->mirrored; /* the rest is not published yet; mirrors will bring it */
    return send_ack(p);
}

static void become_passive(pair_t *p, const wire_heartbeat_t *hb)
{
    adopt_epoch(p, hb->epoch);
    p->count = p->head = 0; /* made while active, never published: dropped */
    p->next_fetch_ms = 0;
    set_state(p, WIRE_STATE_PASSIVE, "the peer is active");
}

/* ---- heartbeats: the states' transitions on what the peer says ---- */

static int same_role(pair_t *p, const wire_heartbeat_t *hb)
{
    if (hb->role != p->role)
        return 0;
    if (log_power_of_two(++p->same_role_seen))
        log_error("the peer has our role",
                  "role=%s detail=\"one must be primary, the other "
                  "backup; staying starting\"",
                  p->role == WIRE_ROLE_PRIMARY ? "primary" : "backup");
    return 1;
}

/* Both active (e.g. both were started alone): the one with the larger (epoch, last_seq)
 * stays, the backup yields a tie; the other goes back to STARTING and then mirrors. */
static void split_brain(pair_t *p, const wire_heartbeat_t *hb)
{
    int ours_larger = p->pub->epoch != hb->epoch    ? p->pub->epoch > hb->epoch
                      : p->pub->seq != hb->last_seq ? p->pub->seq > hb->last_seq
                                                    : p->role == WIRE_ROLE_PRIMARY;
    log_error("split brain: the peer is active too", "ours=%llu-%llu peer=%llu-%llu decision=%s",
              (unsigned long long)p->pub->epoch, (unsigned long long)p->pub->seq,
              (unsigned long long)hb->epoch, (unsigned long long)hb->last_seq,
              ours_larger ? "stay" : "yield");
    if (!ours_larger) {
        p->count = p->head = 0;
        set_state(p, WIRE_STATE_STARTING, "split brain, the peer's stream is ahead");
    }
}

static void on_heartbeat(pair_t *p, const wire_heartbeat_t *hb)
{
    int64_t now = now_ms();
    p->peer_state = hb->state;
    if (hb->epoch > p->epoch_max && hb->state != WIRE_STATE_STARTING)
        p->epoch_max = hb->epoch;
    if (same_role(p, hb))
        return;
    if (hb->state != WIRE_STATE_ACTIVE) {
        if (p->state == WIRE_STATE_STARTING && hb->state == WIRE_STATE_STARTING &&
            p->role == WIRE_ROLE_PRIMARY)
            (void)become_active(p, 0, "both starting: the primary wins");
        return;
    }
    p->active_heard_ms = now;
    if (p->state == WIRE_STATE_ACTIVE) {
        split_brain(p, hb);
        return;
    }
    p->active_hb = *hb;
    if (p->state == WIRE_STATE_STARTING)
        become_passive(p, hb);
    else if (hb->epoch != p->pub->epoch)
        adopt_epoch(p, hb->epoch);
    if (hb->last_seq > p->want)
        p->want = hb->last_seq;
    if (p->mirrored < hb->last_seq || p->mirrored == 0)
        return;
    p->pub->seq = hb->last_seq;
}

static void on_message(pair_t *p, const wire_message_t *m)
{
    p->peer_heard_ms = now_ms();
    if (m->kind == WIRE_HEARTBEAT)
        on_heartbeat(p, &m->heartbeat);
    else if (m->kind == WIRE_MIRROR)
        on_mirror(p, &m->number);
    else if (m->kind == WIRE_ACK)
        on_ack(p, &m->ack);
}

int pair_read(pair_t *p)
{
    uint64_t mirrored = p->mirrored;
    for (int i = 0; i < READ_BATCH; i++) {
        zmq_msg_t frames[2];
        int count, rc = bus_message_recv(p->sub, frames, &count, ZMQ_DONTWAIT);
        wire_message_t m;
        if (rc < 0) {
            zmq_msg_close(&frames[0]);
            zmq_msg_close(&frames[1]);
            if (rc == -EAGAIN)
                break;
            return rc;
        }
        if (count == 2 && wire_decode(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
                                      zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]),
                                      p->cfg->topic, &m) == WIRE_OK)
            on_message(p, &m);
        zmq_msg_close(&frames[0]);
        zmq_msg_close(&frames[1]);
    }
    return p->mirrored != mirrored ? send_ack(p) : 0;
}

/* ---- takeover ---- */

/* The passive may continue the epoch when the active's last word was that we were in
 * sync, we hold everything it had published by then, and no voter holds more of the
 * epoch than we do. */
static int eligible(const pair_t *p)
{
    int voter_ahead = p->vote_epoch == p->pub->epoch && p->vote_last_held > p->mirrored;
    return p->mirrored > 0 && p->active_hb.epoch == p->pub->epoch && p->active_hb.standby_synced &&
           p->mirrored >= p->active_hb.last_seq && !voter_ahead;
}

static int takeover(pair_t *p, int64_t now)
{
    if (!within_failover(p, p->vote_ms, now) || within_failover(p, p->active_heard_ms, now))
        return 0;
    if (p->state == WIRE_STATE_STARTING &&
        (within_failover(p, p->peer_heard_ms, now) || now - p->started_ms < p->cfg->failover_ms))
        return 0; /* a peer that holds the mirror is heard: it is the one to take over */
    int same = p->state == WIRE_STATE_PASSIVE && eligible(p);
    if (p->state == WIRE_STATE_PASSIVE) {
        p->takeovers++;
        log_warn("takeover",
                 "epoch=%llu mirrored=%llu active_last_seq=%llu synced=%d "
                 "voter_last_held=%llu same_epoch=%d",
                 (unsigned long long)p->pub->epoch, (unsigned long long)p->mirrored,
                 (unsigned long long)p->active_hb.last_seq, p->active_hb.standby_synced,
                 (unsigned long long)p->vote_last_held, same);
    }
    return become_active(p, same, same ? "vote: takeover" : "vote: nobody holds the stream");
}

int pair_step(pair_t *p)
{
    int64_t now = now_ms();
    if (p->state == WIRE_STATE_ACTIVE)
        return flush(p, clock_ns(CLOCK_MONOTONIC) / 1000);
    int rc = takeover(p, now);
    if (rc == 0 && p->state == WIRE_STATE_PASSIVE)
        rc = catch_up(p, now);
    return rc;
}

int64_t pair_deadline_us(const pair_t *p, int64_t now_us)
{
    if (p->state == WIRE_STATE_ACTIVE && p->count && p->synced)
        return p->pending_us[p->head] + p->cfg->mirror_wait_ms * 1000;
    if (p->state == WIRE_STATE_ACTIVE)
        return now_us + STEP_US * 20;
    return now_us + STEP_US;
}

int pair_heartbeat(pair_t *p)
{
    int64_t now = now_ms();
    int active = p->state == WIRE_STATE_ACTIVE;
    wire_heartbeat_t hb = {.role = p->role,
                           .state = p->state,
                           .peer_seen = within_failover(p, p->peer_heard_ms, now),
                           .mirrored_seq = active ? p->acked : p->mirrored,
                           .standby_synced = active && p->synced,
                           .takeovers = p->takeovers,
                           .failover_ms = (uint32_t)p->cfg->failover_ms};
    int rc = publisher_heartbeat(p->pub, &hb);
    return rc < 0 ? rc : send_ack(p);
}
