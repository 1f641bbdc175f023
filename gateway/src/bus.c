/* bus.c -- ZeroMQ SUB sockets (one per --connect source), message validation, the single
 * framing of each event, and a pair's active source and votes. */
#include "bus.h"

#include "bus_socket.h"
#include "clock.h"
#include "curve.h"
#include "frame.h"
#include "log.h"
#include "notify.h"
#include "replay_client.h"
#include "sources.h"
#include "voter.h"
#include "wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* Queued messages before ZeroMQ drops: room for seconds of a fast stream while this
 * thread waits for a core. */
enum { BATCH_MAX = 4096, RECEIVE_HWM = 100000 };

/* A replay request waits at most this long; after a failure the next waits this long, so
 * an unreachable replay socket costs the bus thread one stall per interval, not one per
 * event. */
enum { REPLAY_TIMEOUT_MS = 1000, REPLAY_BACKOFF_MS = 5000 };

struct bus {
    hub_t *hub;        /* borrowed */
    void *zmq_context; /* borrowed: for the replay and vote sockets */
    fanout_t *fanout;  /* borrowed: the writers, woken for what is released */
    int count;         /* --connect sources: one SUB socket each, so we know who said what */
    void *sockets[SOURCES_MAX];
    voter_t *voters[SOURCES_MAX]; /* NULL until a vote goes to that source */
    sources_t sources;
    int active; /* the source relayed and replayed from, -1: none */
    pthread_t thread;
    int started;
    _Atomic int stop;
    int subscribed; /* to the data topic */
    int alive;      /* last liveness we logged */
    uint64_t last_epoch, last_seq;
    int wake_pending; /* events published that readers were not woken for yet */
    int64_t last_wake_ms;
    /* The bus's own connection to the generator's replay socket, NULL until known. Not the
     * streams' fetcher (backfill.c): the bus fetches on the live path (a gap holds back
     * every event after it), so it must never queue behind streams' requests, and it
     * fetches rarely (warm-up, gaps), so its own connection costs one handshake per
     * gateway, not one per fetch. */
    replay_client_t *replay;
    wire_number_t *fetched;         /* WIRE_REPLAY_EVENTS_MAX, for each answer */
    int64_t replay_retry_ms;        /* after a failed request: not before this */
    int64_t warm_deadline_ms;       /* 0 until the first heartbeat */
    uint64_t hb_epoch, hb_last_seq; /* what the latest heartbeat says was published */
    /* systemd's watchdog, kicked every turn: the loop wakes for the next kick at the
     * latest (poll_timeout), so a bus thread that stops turning (a deadlock, a stuck call)
     * gets the gateway restarted, while a silent generator does not (the loop turns on). */
    notify_watchdog_t watchdog;
};

/* The SUB socket of source i, subscribed to the heartbeats (the data topic follows the
 * clients: update_subscription). */
static void *open_source(void *zmq_context, const gateway_config_t *cfg, int i, char *err,
                         size_t errlen)
{
    void *socket = zmq_socket(zmq_context, ZMQ_SUB);
    int hwm = RECEIVE_HWM;
    if (socket == NULL || bus_socket_tune(socket, BUS_SOCKET_CONNECTS) < 0 ||
        bus_socket_pin(socket, i) < 0 ||
        zmq_setsockopt(socket, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(socket, ZMQ_SUBSCRIBE, WIRE_HEARTBEAT_TOPIC, strlen(WIRE_HEARTBEAT_TOPIC)) !=
            0) {
        snprintf(err, errlen, "cannot create SUB socket: %s", zmq_strerror(zmq_errno()));
    } else if (curve_client_from_flags(socket, cfg->server_keys[i], cfg->curve_secret_key_file, err,
                                       errlen) == 0) {
        if (zmq_connect(socket, cfg->sources[i]) == 0)
            return socket;
        snprintf(err, errlen, "cannot connect to '%s': %s", cfg->sources[i],
                 zmq_strerror(zmq_errno()));
    }
    if (socket)
        zmq_close(socket);
    return NULL;
}

bus_t *bus_create(void *zmq_context, hub_t *hub, fanout_t *fanout, char *err, size_t errlen)
{
    bus_t *bus = calloc(1, sizeof *bus);
    if (bus == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    bus->hub = hub;
    bus->zmq_context = zmq_context;
    bus->fanout = fanout;
    bus->active = -1;
    bus->count = hub->cfg->source_count;
    sources_init(&bus->sources, (size_t)bus->count, clock_mono_ms());
    bus->fetched = calloc(WIRE_REPLAY_EVENTS_MAX, sizeof *bus->fetched);
    if (bus->fetched == NULL) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    for (int i = 0; i < bus->count; i++)
        if ((bus->sockets[i] = open_source(zmq_context, hub->cfg, i, err, errlen)) == NULL)
            goto err;
    return bus;
err:
    bus_destroy(bus);
    return NULL;
}

/* Subscribes to the data topic while it is wanted: always, or with --on-demand only while
 * some SSE client is connected. */
static void update_subscription(bus_t *bus)
{
    const gateway_config_t *cfg = bus->hub->cfg;
    int want = !cfg->on_demand || atomic_load(&bus->hub->clients) > 0;
    if (want == bus->subscribed)
        return;
    int option = want ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE;
    for (int i = 0; i < bus->count; i++)
        if (zmq_setsockopt(bus->sockets[i], option, cfg->topic, strlen(cfg->topic)) != 0) {
            log_error("subscription change failed", "error=\"%s\"", zmq_strerror(zmq_errno()));
            return;
        }
    bus->subscribed = want;
    log_info(want ? "subscribed" : "unsubscribed", "topic=%s clients=%ld", cfg->topic,
             atomic_load(&bus->hub->clients));
}

static void count_malformed(bus_t *bus, wire_error_t why)
{
    metrics_t *m = &bus->hub->metrics;
    metrics_add(&m->bus_malformed[wire_error_index(why)], 1);
    uint64_t total = 0;
    for (int i = 0; i < WIRE_ERROR_KINDS; i++)
        total += metrics_get(&m->bus_malformed[i]);
    /* Only the bus thread counts these, so it meets each power of two once. */
    if (log_power_of_two(total))
        log_warn("malformed bus message dropped", "reason=%s total=%llu", wire_error_name(why),
                 (unsigned long long)total);
}

static void note_epoch(bus_t *bus, uint64_t epoch)
{
    uint64_t old = atomic_exchange(&bus->hub->epoch, epoch);
    if (old != epoch)
        log_info("generator epoch", "epoch=%llu previous=%llu", (unsigned long long)epoch,
                 (unsigned long long)old);
}

/* Within an epoch events must move forward in seq, so every gateway orders them alike;
 * a repeated or older one is counted and dropped. Any change of epoch, to a higher or a
 * lower one (a generator whose clock went back), starts a new run. */
static int accept_order(bus_t *bus, const wire_number_t *ev)
{
    metrics_t *m = &bus->hub->metrics;
    int same_epoch = ev->epoch == bus->last_epoch;
    if (same_epoch && ev->seq <= bus->last_seq) {
        metrics_add(&m->bus_stale, 1);
        return 0;
    }
    if (same_epoch && ev->seq != bus->last_seq + 1) {
        metrics_add(&m->bus_gap_events, ev->seq - bus->last_seq - 1);
        log_warn("gap in sequence", "epoch=%llu after=%llu got=%llu", (unsigned long long)ev->epoch,
                 (unsigned long long)bus->last_seq, (unsigned long long)ev->seq);
    }
    bus->last_epoch = ev->epoch;
    bus->last_seq = ev->seq;
    sources_note_held(&bus->sources, ev->epoch, ev->seq);
    return 1;
}

_Static_assert(FRAME_EVENT_MAX <= RING_FRAME_MAX, "a ring slot holds the longest frame");

/* Frames an event once and stores it in the ring for every stream. The message was valid:
 * a frame that does not fit is this gateway's fault, never counted as a malformed one. */
static void publish_event(bus_t *bus, const wire_number_t *ev)
{
    if (!accept_order(bus, ev))
        return;
    char frame[RING_FRAME_MAX];
    size_t plain_len = 0;
    int n = frame_event(frame, sizeof frame, bus->hub->cfg->topic, ev, &plain_len);
    ring_meta_t meta = {ev->epoch, ev->seq, ev->published_ns, ev->value, clock_ns(CLOCK_MONOTONIC),
                        plain_len};
    int rc = n < 0 ? n : ring_publish(bus->hub->ring, &meta, frame, (size_t)n);
    if (rc < 0) {
        metrics_add(&bus->hub->metrics.bus_unframed, 1);
        uint64_t total = metrics_get(&bus->hub->metrics.bus_unframed);
        if (log_power_of_two(total))
            log_error("event not relayed", "epoch=%llu seq=%llu error=\"%s\" total=%llu",
                      (unsigned long long)ev->epoch, (unsigned long long)ev->seq, strerror(-rc),
                      (unsigned long long)total);
        return;
    }
    metrics_add(&bus->hub->metrics.bus_events, 1);
}

static void replay_failed(bus_t *bus, int rc, const wire_replay_reply_t *reply)
{
    metrics_t *m = &bus->hub->metrics;
    metrics_add(&m->replay_failures, 1);
    bus->replay_retry_ms = clock_mono_ms() + REPLAY_BACKOFF_MS;
    uint64_t total = metrics_get(&m->replay_failures);
    if (log_power_of_two(total))
        log_warn("replay request failed", "endpoint=%s error=\"%s\" total=%llu",
                 replay_client_endpoint(bus->replay),
                 rc == -EPROTO && reply->error[0] ? reply->error : strerror(-rc),
                 (unsigned long long)total);
}

/* One request, counting the connection a fresh socket (after a timeout) opens. */
static int fetch_counted(bus_t *bus, const wire_replay_request_t *req, wire_replay_reply_t *reply)
{
    uint64_t opened = replay_client_opened(bus->replay);
    int rc = replay_client_fetch(bus->replay, req, reply, REPLAY_TIMEOUT_MS);
    metrics_add(&bus->hub->metrics.replay_connections[REPLAY_BY_BUS],
                replay_client_opened(bus->replay) - opened);
    return rc;
}

/* Fetches from..to of epoch from the generator and relays what it still holds, in
 * order. Returns 0, or -errno when a request failed (the rest may come later). */
static int fetch_range(bus_t *bus, uint64_t epoch, uint64_t from, uint64_t to)
{
    wire_replay_reply_t reply = {.events = bus->fetched};
    while (from <= to) {
        wire_replay_request_t req = {epoch, from, to, 0};
        int rc = fetch_counted(bus, &req, &reply);
        if (rc == -ETIMEDOUT) /* once more on a fresh socket: a restarted generator */
            rc = fetch_counted(bus, &req, &reply);
        if (rc < 0) {
            replay_failed(bus, rc, &reply);
            return rc;
        }
        if (reply.epoch != epoch || reply.count == 0)
            return 0; /* the generator no longer holds them */
        uint64_t last = reply.events[reply.count - 1].seq;
        if (last < from)
            return 0; /* not an answer to what we asked: never loop on it */
        for (size_t i = 0; i < reply.count; i++)
            publish_event(bus, &reply.events[i]);
        metrics_add(&bus->hub->metrics.bus_replayed, reply.count);
        from = last + 1;
    }
    return 0;
}

/* Makes the ring hold every event of epoch up to seq upto that the generator still has:
 * the history at start, a gap in seq, the start of a new epoch, events a bus cut lost.
 * Returns 0, or -errno when the replay socket did not answer. */
static int catch_up(bus_t *bus, uint64_t epoch, uint64_t upto)
{
    if (bus->replay == NULL)
        return 0;
    if (clock_mono_ms() < bus->replay_retry_ms)
        return -EAGAIN;
    uint64_t history = (uint64_t)bus->hub->cfg->history;
    uint64_t from =
        epoch == bus->last_epoch ? bus->last_seq + 1 : (upto > history ? upto - history + 1 : 1);
    return from <= upto ? fetch_range(bus, epoch, from, upto) : 0;
}

/* Caught up when we have relayed what the latest heartbeat says was published. */
static void note_caught_up(bus_t *bus)
{
    if (bus->last_epoch == bus->hb_epoch && bus->last_seq >= bus->hb_last_seq)
        atomic_store(&bus->hub->behind_since_ms, 0);
}

static void relay_number(bus_t *bus, const wire_number_t *ev)
{
    /* The epoch is the heartbeats' to set: an event of another one is a leftover of a
     * generator that has gone, or a stray message, and is dropped. */
    if (bus->hb_epoch && ev->epoch != bus->hb_epoch) {
        metrics_add(&bus->hub->metrics.bus_stale, 1);
        return;
    }
    /* Until the history is warm, live events wait at the generator: the warm-up fetches
     * them in order with the ones before. */
    if (!atomic_load(&bus->hub->warm))
        return;
    /* Whatever is missing before it goes into the ring first, in order; what the
     * generator no longer has stays a gap, which the streams mark with a reset. */
    if (ev->seq > 1)
        (void)catch_up(bus, ev->epoch, ev->seq - 1);
    publish_event(bus, ev);
    note_caught_up(bus);
}

/* The replay endpoint: --replay-connect, else the active source's --connect host with the
 * port its heartbeat announces (which a restarted generator may change, and which moves
 * to the other member at a takeover). Streams read it too. */
static void find_replay(bus_t *bus, int source, const wire_heartbeat_t *hb)
{
    hub_t *hub = bus->hub;
    const gateway_config_t *cfg = hub->cfg;
    char endpoint[sizeof hub->replay_endpoint], err[256];
    if (strcmp(cfg->replay_connect, "off") == 0)
        return;
    if (cfg->replay_connect[0])
        snprintf(endpoint, sizeof endpoint, "%s", cfg->replay_connect);
    else if (replay_endpoint_from_bus(cfg->sources[source], hb->replay_port, endpoint,
                                      sizeof endpoint) < 0)
        return; /* an older generator, or replay off: history starts with the next event */
    if (bus->replay && strcmp(replay_client_endpoint(bus->replay), endpoint) == 0)
        return;
    replay_client_destroy(bus->replay);
    bus->replay = replay_client_create(bus->zmq_context, endpoint, cfg->server_keys[source],
                                       cfg->curve_secret_key_file, source, err, sizeof err);
    if (bus->replay == NULL) {
        log_error("replay unavailable", "error=\"%s\"", err);
        return;
    }
    metrics_add(&hub->metrics.replay_connections[REPLAY_BY_BUS], 1);
    bus->replay_retry_ms = 0;
    hub_set_replay_endpoint(hub, endpoint, cfg->server_keys[source], source);
    log_info("replay", "endpoint=%s", endpoint);
}

static void set_warm(bus_t *bus, int complete, const char *how)
{
    atomic_store(&bus->hub->warm_complete, complete);
    atomic_store(&bus->hub->warm, 1);
    unsigned long long held = ring_head(bus->hub->ring) - 1;
    if (complete)
        log_info("history warm", "how=\"%s\" events=%llu", how, held);
    else
        log_warn("ready without a warm history", "why=\"%s\" events=%llu", how, held);
}

/* At start a gateway fills its history from the generator before it calls itself ready,
 * so clients that move to it find the events from before its start. */
static void warm_up(bus_t *bus, const wire_heartbeat_t *hb)
{
    int64_t now = clock_mono_ms();
    if (bus->warm_deadline_ms == 0)
        bus->warm_deadline_ms = now + bus->hub->cfg->warm_timeout_ms;
    if (!bus->subscribed || hb->last_seq == 0)
        return set_warm(bus, 1, "nothing to fetch");
    if (bus->replay == NULL)
        return set_warm(bus, 0, "the generator has no replay socket");
    if (catch_up(bus, hb->epoch, hb->last_seq) == 0)
        return set_warm(bus, 1, "fetched from the generator");
    if (now >= bus->warm_deadline_ms)
        set_warm(bus, 0, "the replay socket did not answer in time");
}

static int is_behind(const bus_t *bus, const wire_heartbeat_t *hb)
{
    return atomic_load(&bus->hub->warm) && bus->subscribed && hb->last_seq > 0 &&
           (hb->epoch != bus->last_epoch || hb->last_seq > bus->last_seq);
}

/* The heartbeat says what the generator has published: events we have not relayed are
 * fetched (a bus cut lost them, or we just started); until we have them we are not
 * ready, and if that lasts, the generator is not "up" for us, whatever its heartbeats
 * say. */
static void check_behind(bus_t *bus, const wire_heartbeat_t *hb)
{
    hub_t *hub = bus->hub;
    if (is_behind(bus, hb))
        (void)catch_up(bus, hb->epoch, hb->last_seq);
    if (!is_behind(bus, hb))
        atomic_store(&hub->behind_since_ms, 0);
    else if (atomic_load(&hub->behind_since_ms) == 0)
        atomic_store(&hub->behind_since_ms, clock_mono_ms());
}

/* The generator believes nobody wants the data topic, yet we do: say it again; the
 * generator keeps publishing meanwhile (its grace period). */
static void reassert_subscription(bus_t *bus, int source)
{
    int rc = bus_socket_resubscribe(bus->sockets[source], bus->hub->cfg->topic);
    if (rc < 0) {
        log_error("subscription change failed", "error=\"%s\"", zmq_strerror(-rc));
        return;
    }
    metrics_add(&bus->hub->metrics.bus_resubscribes, 1);
}

/* The source to relay and replay from: the active one heard within its failover time. */
static void choose_active(bus_t *bus, int64_t now)
{
    int active = sources_active(&bus->sources, now);
    if (active == bus->active)
        return;
    if (active >= 0)
        log_info("active source", "source=%s previous=%s", bus->hub->cfg->sources[active],
                 bus->active >= 0 ? bus->hub->cfg->sources[bus->active] : "none");
    else if (bus->count > 1)
        log_warn("no active source", "previous=%s", bus->hub->cfg->sources[bus->active]);
    bus->active = active;
    atomic_store(&bus->hub->active_source, active);
}

/* What the metrics show of source i. */
static void show_source(hub_t *hub, int i, const wire_heartbeat_t *hb)
{
    atomic_store(&hub->sources[i].role, (int)hb->role);
    atomic_store(&hub->sources[i].state, (int)hb->state);
    atomic_store(&hub->sources[i].peer_seen, hb->peer_seen);
    atomic_store(&hub->sources[i].mirrored_seq, hb->mirrored_seq);
    atomic_store(&hub->sources[i].takeovers, hb->takeovers);
    atomic_store(&hub->sources[i].heard, 1);
}

/* The vote socket for source i at the replay port its heartbeats announce. */
static voter_t *voter_for(bus_t *bus, int i)
{
    const gateway_config_t *cfg = bus->hub->cfg;
    char err[256];
    voter_t *v = voter_follow(&bus->voters[i], bus->zmq_context, cfg->sources[i],
                              bus->sources.s[i].hb.replay_port, cfg->server_keys[i],
                              cfg->curve_secret_key_file, i, err, sizeof err);
    if (v == NULL && bus->sources.s[i].hb.replay_port != 0)
        log_error("cannot vote", "source=%s error=\"%s\"", cfg->sources[i], err);
    return v;
}

/* Every source's heartbeat says what it is; only the active one's says what was
 * published (a passive publishes nothing, a starting one has nothing yet). */
static void on_heartbeat(bus_t *bus, int source, const wire_heartbeat_t *hb)
{
    int64_t now = clock_mono_ms();
    metrics_add(&bus->hub->metrics.bus_heartbeats, 1);
    sources_heartbeat(&bus->sources, (size_t)source, hb, now);
    show_source(bus->hub, source, hb);
    choose_active(bus, now);
    if (source != bus->active) {
        if (bus->count > 1)
            voter_for(bus, source); /* connected before a vote is due */
        return;
    }
    atomic_store(&bus->hub->last_bus_ms, now);
    if (bus->subscribed && !hb->publishing)
        reassert_subscription(bus, source);
    note_epoch(bus, hb->epoch);
    bus->hb_epoch = hb->epoch;
    bus->hb_last_seq = hb->last_seq;
    find_replay(bus, source, hb);
    if (!atomic_load(&bus->hub->warm))
        warm_up(bus, hb);
    check_behind(bus, hb);
}

static void handle_message(bus_t *bus, int source, const zmq_msg_t *topic, const zmq_msg_t *payload)
{
    wire_message_t msg;
    wire_error_t rc = wire_decode(zmq_msg_data((zmq_msg_t *)topic), zmq_msg_size(topic),
                                  zmq_msg_data((zmq_msg_t *)payload), zmq_msg_size(payload),
                                  bus->hub->cfg->topic, &msg);
    if (rc != WIRE_OK) {
        count_malformed(bus, rc);
        return;
    }
    if (msg.kind == WIRE_HEARTBEAT)
        return on_heartbeat(bus, source, &msg.heartbeat);
    if (msg.kind != WIRE_NUMBER) /* a pair's own topics: never subscribed to here */
        return count_malformed(bus, WIRE_ERR_TOPIC);
    /* Only an active member publishes events: they keep it alive for us. */
    int64_t now = clock_mono_ms();
    atomic_store(&bus->hub->last_bus_ms, now);
    sources_event(&bus->sources, (size_t)source, now);
    if (source != bus->active)
        choose_active(bus, now);
    relay_number(bus, &msg.number);
}

/* Receives and handles one message; anything but exactly two frames is malformed.
 * Returns 0, -EAGAIN when nothing is pending, or another -errno. */
static int receive_one(bus_t *bus, int source)
{
    zmq_msg_t frames[2];
    int count, rc = bus_message_recv(bus->sockets[source], frames, &count, ZMQ_DONTWAIT);
    if (rc == 0 && count == 2)
        handle_message(bus, source, &frames[0], &frames[1]);
    else if (rc == 0)
        count_malformed(bus, WIRE_ERR_FRAMES);
    zmq_msg_close(&frames[0]);
    zmq_msg_close(&frames[1]);
    return rc;
}

static void update_liveness(bus_t *bus)
{
    int alive = hub_generator_alive(bus->hub);
    if (alive == bus->alive)
        return;
    bus->alive = alive;
    if (alive)
        log_info("generator up", "epoch=%llu", (unsigned long long)atomic_load(&bus->hub->epoch));
    else
        log_warn("generator down", "silent_ms_over=%ld", bus->hub->cfg->bus_timeout_ms);
}

static void drain_wakeups(int fd)
{
    uint64_t n;
    while (read(fd, &n, sizeof n) == (ssize_t)sizeof n)
        ;
}

/* Wakes the readers for what was published: at once, or with --coalesce-ms at most once
 * per window, so that at high rates each wake-up carries several events. */
static void wake_readers(bus_t *bus)
{
    int64_t now = clock_mono_ms();
    if (!bus->wake_pending || now - bus->last_wake_ms < bus->hub->cfg->coalesce_ms)
        return;
    hub_release_events(bus->hub);
    fanout_wake(bus->fanout);
    bus->wake_pending = 0;
    bus->last_wake_ms = now;
}

/* The loop sleeps until a message, a wake-up, or the next thing due without either: a
 * source going stale or a vote (sources_next_due), the generator counted down, the
 * watchdog's kick, the coalesced wake of the readers. Nothing else changes with time
 * alone, so an idle gateway's bus thread wakes only for the generator's messages. */
static long poll_timeout(bus_t *bus)
{
    int64_t now = clock_mono_ms();
    int64_t due =
        clock_earliest(sources_next_due(&bus->sources, now), notify_watchdog_due(&bus->watchdog));
    int64_t alive_until = hub_generator_alive_until(bus->hub);
    if (alive_until > now)
        due = clock_earliest(due, alive_until);
    if (bus->wake_pending)
        due = clock_earliest(due, bus->last_wake_ms + bus->hub->cfg->coalesce_ms);
    return clock_wait_ms(due, now);
}

/* Bounded, so a flood cannot starve the subscription and liveness checks. */
static void receive_batch(bus_t *bus, int source)
{
    int rc = 0;
    for (int i = 0; i < BATCH_MAX && (rc = receive_one(bus, source)) == 0; i++)
        ;
    if (rc < 0 && rc != -EAGAIN && rc != -EINTR)
        log_error("bus receive failed", "source=%s error=\"%s\"", bus->hub->cfg->sources[source],
                  zmq_strerror(-rc));
}

/* No active source heard for the failover time: each member that is heard but not active
 * gets a vote, as in Binary Star, so a passive takes over only when its subscribers lost
 * the active too. */
static void vote(bus_t *bus, int64_t now)
{
    for (int i = 0; i < bus->count; i++) {
        if (!sources_vote_due(&bus->sources, (size_t)i, now))
            continue;
        voter_t *voter = voter_for(bus, i);
        uint64_t epoch, seq;
        sources_vote_request(&bus->sources, &epoch, &seq);
        int rc = voter ? voter_send(voter, epoch, seq) : -ENOTCONN;
        if (rc < 0) {
            log_warn("vote not sent", "source=%s error=\"%s\"", bus->hub->cfg->sources[i],
                     strerror(-rc));
            continue;
        }
        metrics_add(&bus->hub->metrics.votes[i], 1);
        if (log_power_of_two(bus->sources.s[i].votes))
            log_warn("vote for a takeover", "source=%s epoch=%llu next_seq=%llu votes=%llu",
                     bus->hub->cfg->sources[i], (unsigned long long)epoch, (unsigned long long)seq,
                     (unsigned long long)bus->sources.s[i].votes);
    }
}

static void kick_watchdog(bus_t *bus, int64_t now)
{
    int rc = notify_watchdog_kick(&bus->watchdog, now);
    if (rc < 0)
        log_warn("cannot tell systemd we are alive", "error=\"%s\"", strerror(-rc));
}

static void *bus_main(void *arg)
{
    bus_t *bus = arg;
    (void)pthread_setname_np(pthread_self(), "rn-bus");
    zmq_pollitem_t items[SOURCES_MAX + 1];
    notify_watchdog_init(&bus->watchdog);
    while (!atomic_load(&bus->stop)) {
        update_subscription(bus);
        for (int i = 0; i < bus->count; i++)
            items[i] = (zmq_pollitem_t){bus->sockets[i], 0, ZMQ_POLLIN, 0};
        items[bus->count] = (zmq_pollitem_t){NULL, bus->hub->wake_fd, ZMQ_POLLIN, 0};
        if (zmq_poll(items, bus->count + 1, poll_timeout(bus)) < 0 && zmq_errno() != EINTR) {
            log_error("bus poll failed", "error=\"%s\"", zmq_strerror(zmq_errno()));
            break;
        }
        if (items[bus->count].revents & ZMQ_POLLIN)
            drain_wakeups(bus->hub->wake_fd);
        /* One wake-up for the whole batch. */
        uint64_t head = ring_head(bus->hub->ring);
        for (int i = 0; i < bus->count; i++)
            receive_batch(bus, i);
        bus->wake_pending |= ring_head(bus->hub->ring) != head;
        wake_readers(bus);
        int64_t now = clock_mono_ms();
        choose_active(bus, now);
        vote(bus, now);
        update_liveness(bus);
        kick_watchdog(bus, now);
    }
    return NULL;
}

int bus_start(bus_t *bus)
{
    int rc = pthread_create(&bus->thread, NULL, bus_main, bus);
    if (rc != 0)
        return -rc;
    bus->started = 1;
    return 0;
}

void bus_destroy(bus_t *bus)
{
    if (bus == NULL)
        return;
    if (bus->started) {
        atomic_store(&bus->stop, 1);
        hub_wake_bus(bus->hub);
        pthread_join(bus->thread, NULL);
    }
    for (int i = 0; i < bus->count; i++) {
        if (bus->sockets[i])
            zmq_close(bus->sockets[i]);
        voter_destroy(bus->voters[i]);
    }
    replay_client_destroy(bus->replay);
    free(bus->fetched);
    free(bus);
}
