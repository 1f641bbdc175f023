/* main.c -- the generator: configuration, signals and the publish loop. */
#include "bus_socket.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "notify.h"
#include "pair.h"
#include "peers.h"
#include "publisher.h"
#include "replay.h"
#include "signals.h"
#include "zap.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

/* SIGINT and SIGTERM arrive on a file descriptor that zmq_poll watches beside the
 * socket, so the loop needs no flag written from a signal handler. */
static int open_signal_fd(void)
{
    sigset_t set;
    if (signals_block_stop(&set) < 0)
        return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Replay requests answered per loop turn: each answer is bounded (WIRE_REPLAY_EVENTS_MAX), so a
 * flood of requests delays the next publish by a few of them at most. */
enum { BURST_MAX = 10000, REPLAY_BATCH = 8 };

static int64_t now_us(void)
{
    return clock_ns(CLOCK_MONOTONIC) / 1000;
}

/* Milliseconds zmq_poll may sleep before the earlier deadline, rounded up so that
 * intervals below a millisecond become small bursts rather than a busy loop. */
static long poll_timeout(int64_t a_us, int64_t b_us, int64_t now)
{
    int64_t wait = (a_us < b_us ? a_us : b_us) - now;
    return wait <= 0 ? 0 : (long)((wait + 999) / 1000);
}

/* Publishes every number due by now, keeping the schedule: bursts stay bounded, and
 * after a stall of over a second the schedule restarts instead of catching up. */
static int publish_due(publisher_t *pub, replay_t *replay, pair_t *pair, int64_t *next_tick,
                       int64_t now)
{
    int64_t interval = pub->cfg->interval_us;
    if (now - *next_tick > 1000000)
        *next_tick = now;
    int rc = 0;
    for (int i = 0; rc >= 0 && *next_tick <= now && i < BURST_MAX; i++) {
        wire_number_t sent;
        /* A pair's member makes events only while active, and publishes them once
         * mirrored (pair.c). */
        rc = pair ? pair_generate(pair) : publisher_tick(pub, &sent);
        if (rc == 1 && replay && !pair)
            replay_record(replay, &sent);
        *next_tick += interval;
    }
    return rc < 0 ? rc : 0;
}

static void serve_replay(replay_t *replay)
{
    int rc = replay_serve(replay, REPLAY_BATCH);
    if (rc < 0)
        log_error("replay failed", "error=\"%s\"", zmq_strerror(-rc));
}

/* Plain TCP is fine on loopback; anywhere else anyone who can reach the port can read
 * the stream (and, with replay, ask for its history). */
static void warn_if_open(const generator_config_t *cfg)
{
    int loopback = strncmp(cfg->bind, "tcp://127.", 10) == 0 ||
                   strncmp(cfg->bind, "tcp://localhost:", 16) == 0 ||
                   strncmp(cfg->bind, "ipc://", 6) == 0 || strncmp(cfg->bind, "inproc://", 9) == 0;
    if (!loopback && !cfg->curve_secret_key_file[0])
        log_warn("the bus is open",
                 "bind=%s detail=\"not loopback and no CURVE keys: anyone who "
                 "reaches it can subscribe; see --curve-secret-key-file\"",
                 cfg->bind);
}

/* What the poll loop serves; optional parts are NULL. */
typedef struct {
    publisher_t *pub;
    replay_t *replay;
    zap_t *zap;
    pair_t *pair;
    peers_t peers[2]; /* the bus socket's connections, the replay socket's */
    int n_peers;
    int signal_fd;
    notify_watchdog_t watchdog; /* kicked every turn: the loop that publishes proves us alive */
} loop_t;

enum { ITEM_BUS, ITEM_SIGNAL, ITEMS_MAX = 7 };

/* The sockets to poll: the bus and the signals, then the optional ones. Returns the count;
 * replay_at and zap_at are -1 without them, the peers' monitors start at peers_at. A
 * pair's socket on its peer's bus is read every turn, so it needs no index. */
static int poll_items(const loop_t *l, zmq_pollitem_t *items, int *replay_at, int *zap_at,
                      int *peers_at)
{
    items[ITEM_BUS] = (zmq_pollitem_t){l->pub->socket, 0, ZMQ_POLLIN, 0};
    items[ITEM_SIGNAL] = (zmq_pollitem_t){NULL, l->signal_fd, ZMQ_POLLIN, 0};
    int count = 2;
    *replay_at = *zap_at = -1;
    if (l->replay)
        items[ *replay_at = count++] = (zmq_pollitem_t){replay_socket(l->replay), 0, ZMQ_POLLIN, 0};
    if (l->zap)
        items[ *zap_at = count++] = (zmq_pollitem_t){zap_socket(l->zap), 0, ZMQ_POLLIN, 0};
    if (l->pair)
        items[count++] = (zmq_pollitem_t){pair_socket(l->pair), 0, ZMQ_POLLIN, 0};
    *peers_at = count;
    for (int i = 0; i < l->n_peers; i++)
        items[count++] = (zmq_pollitem_t){l->peers[i].monitor, 0, ZMQ_POLLIN, 0};
    return count;
}

/* Serves the side sockets that are readable: replay, authentication, monitors. */
static void serve_side(loop_t *l, const zmq_pollitem_t *items, int replay_at, int zap_at,
                       int peers_at)
{
    if (replay_at >= 0 && (items[replay_at].revents & ZMQ_POLLIN))
        serve_replay(l->replay);
    if (zap_at >= 0 && (items[zap_at].revents & ZMQ_POLLIN) && zap_serve(l->zap) < 0)
        log_error("authentication handler failed", "error=\"%s\"", zmq_strerror(zmq_errno()));
    for (int i = 0; i < l->n_peers; i++)
        if (items[peers_at + i].revents & ZMQ_POLLIN)
            peers_read(&l->peers[i]);
}

enum { GREET_GAP_US = 100 * 1000 };

/* A pair's turn: the peer's messages, then what time decides. */
static int pair_turn(pair_t *pair, int64_t *next_heartbeat, int64_t now)
{
    int rc = pair_read(pair);
    if (rc == 0)
        rc = pair_step(pair);
    if (pair_take_heartbeat_due(pair))
        *next_heartbeat = now; /* every state change is told at once */
    return rc;
}

static int heartbeat(loop_t *l)
{
    return l->pair ? pair_heartbeat(l->pair) : publisher_heartbeat(l->pub, NULL);
}

static void tell_systemd(int rc, const char *what)
{
    if (rc < 0)
        log_warn("cannot tell systemd", "what=%s error=\"%s\"", what, strerror(-rc));
}

/* READY=1 once the sockets are bound (and a pair's link is made): a pair's member is
 * ready whichever its role, since a passive one serves too (it mirrors the active and
 * answers votes); its role comes and goes with the peer, and systemd has no word for it
 * beyond STATUS=. */
static void tell_ready(const loop_t *l, const generator_config_t *cfg)
{
    char status[600];
    snprintf(status, sizeof status, "ready: bind=%s replay_port=%u%s%s", cfg->bind,
             l->pub->replay_port, l->pair ? " pair_role=" : "", l->pair ? cfg->role : "");
    tell_systemd(notify_ready(status), "ready");
}

static int run(loop_t *l)
{
    const generator_config_t *cfg = l->pub->cfg;
    int64_t now = now_us();
    int64_t next_tick = now + cfg->interval_us, next_heartbeat = now, last_heartbeat = 0;
    for (;;) {
        zmq_pollitem_t items[ITEMS_MAX];
        int replay_at, zap_at, peers_at;
        int count = poll_items(l, items, &replay_at, &zap_at, &peers_at);
        int64_t wake = l->pair ? pair_deadline_us(l->pair, now) : next_heartbeat;
        if (wake > next_heartbeat)
            wake = next_heartbeat;
        if (zmq_poll(items, count, poll_timeout(next_tick, wake, now)) < 0 && zmq_errno() != EINTR)
            return -zmq_errno();
        serve_side(l, items, replay_at, zap_at, peers_at);
        if (items[ITEM_SIGNAL].revents & ZMQ_POLLIN) {
            struct signalfd_siginfo info;
            if (read(l->signal_fd, &info, sizeof info) == (ssize_t)sizeof info)
                log_info("stopping", "signal=%s", strsignal((int)info.ssi_signo));
            tell_systemd(notify_stopping(), "stopping");
            return 0;
        }
        int rc = publisher_read_subscriptions(l->pub);
        now = now_us();
        if (rc == 0 && l->pair)
            rc = pair_turn(l->pair, &next_heartbeat, now);
        if (rc == 0)
            rc = publish_due(l->pub, l->replay, l->pair, &next_tick, now);
        if (l->pub->greet) {
            /* A new subscriber of the heartbeats waits for one to know us: send it soon,
             * at most one extra per GREET_GAP_US, so subscriptions cannot drive a flood. */
            l->pub->greet = 0;
            int64_t soonest = last_heartbeat + GREET_GAP_US;
            if (next_heartbeat > soonest)
                next_heartbeat = soonest > now ? soonest : now;
        }
        if (rc == 0 && now >= next_heartbeat) {
            rc = heartbeat(l);
            last_heartbeat = now;
            next_heartbeat = now + cfg->heartbeat_ms * 1000;
        }
        if (rc < 0)
            log_error("bus error", "error=\"%s\"", zmq_strerror(-rc));
        tell_systemd(notify_watchdog_kick(&l->watchdog, now / 1000), "alive");
    }
}

/* Counts the connections each socket drops; without a monitor the generator runs on. */
static void watch_peers(loop_t *l, void *context)
{
    void *sockets[2] = {l->pub->socket, l->replay ? replay_socket(l->replay) : NULL};
    const char *names[2] = {"bus", "replay"};
    for (int i = 0; i < 2 && sockets[i]; i++) {
        int rc = peers_watch(&l->peers[l->n_peers], context, sockets[i], names[i]);
        if (rc < 0)
            log_warn("cannot count dropped peers", "socket=%s error=\"%s\"", names[i],
                     zmq_strerror(-rc));
        else
            l->n_peers++;
    }
}

int main(int argc, char **argv)
{
    log_set_program("generator");
    generator_config_t cfg;
    int rc = generator_config_load(&cfg, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    log_set_level(cfg.log_level);

    /* libzmq writes with send(2) and no MSG_NOSIGNAL: a write to a connection that was
     * shut down (evict.c) or reset must fail with EPIPE, not kill the generator. */
    int signal_fd = signal(SIGPIPE, SIG_IGN) == SIG_ERR ? -1 : open_signal_fd();
    if (signal_fd < 0) {
        log_error("cannot watch signals", "error=\"%s\"", strerror(errno));
        return 1;
    }
    void *context = zmq_ctx_new();
    char err[512] = "zmq_ctx_new failed";
    if (context && cfg.peer[0] && bus_context_threads(context, GENERATOR_IO_THREADS_PAIR) < 0)
        log_warn("one I/O thread for the peer", "error=\"%s\"", zmq_strerror(zmq_errno()));
    /* The authentication handler must exist before the CURVE socket binds. */
    zap_t *zap = context && cfg.curve_clients_file[0]
                     ? zap_create(context, cfg.curve_clients_file, err, sizeof err)
                     : NULL;
    int zap_ok = zap || !cfg.curve_clients_file[0];
    publisher_t *pub = context && zap_ok ? publisher_create(context, &cfg, err, sizeof err) : NULL;
    if (pub == NULL) {
        log_error("cannot start", "error=\"%s\"", err);
        zap_destroy(zap);
        if (context)
            zmq_ctx_term(context);
        close(signal_fd);
        return 1;
    }
    replay_t *replay = NULL;
    if (strcmp(cfg.replay_bind, "off") != 0 &&
        (replay = replay_create(context, &cfg, pub->epoch, err, sizeof err)) == NULL) {
        log_error("cannot start", "error=\"%s\"", err);
        rc = -EINVAL;
    } else {
        pub->replay_port = replay ? replay_port(replay) : 0;
        log_info("started",
                 "bind=%s replay_port=%u topic=%s interval_us=%ld epoch=%llu range=%ld..%ld "
                 "curve=%s",
                 cfg.bind, pub->replay_port, cfg.topic, cfg.interval_us,
                 (unsigned long long)pub->epoch, cfg.min, cfg.max,
                 cfg.curve_secret_key_file[0] ? (zap ? "allow-list" : "on") : "off");
        warn_if_open(&cfg);
        loop_t loop = {.pub = pub, .replay = replay, .zap = zap, .signal_fd = signal_fd};
        if (cfg.peer[0] &&
            (loop.pair = pair_create(context, &cfg, pub, replay, err, sizeof err)) == NULL) {
            log_error("cannot start", "error=\"%s\"", err);
            rc = -EINVAL;
        } else {
            if (loop.pair)
                log_info("pair", "role=%s peer=%s failover_ms=%ld mirror_wait_ms=%ld", cfg.role,
                         cfg.peer, cfg.failover_ms, cfg.mirror_wait_ms);
            watch_peers(&loop, context);
            notify_watchdog_init(&loop.watchdog);
            tell_ready(&loop, &cfg);
            rc = run(&loop);
        }
        pair_destroy(loop.pair);
        if (rc < 0)
            log_error("stopped on error", "error=\"%s\"", zmq_strerror(-rc));
        for (int i = 0; i < loop.n_peers; i++)
            peers_close(&loop.peers[i]);
    }
    replay_destroy(replay);
    publisher_destroy(pub);
    zap_destroy(zap);
    zmq_ctx_term(context);
    close(signal_fd);
    int status = rc < 0 ? 1 : 0;
    log_info("stopped", "exit_status=%d", status);
    return status;
}
