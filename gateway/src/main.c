/* main.c -- the gateway: wiring, signals, periodic client counts and orderly shutdown. */
#include "assets.h"
#include "backfill.h"
#include "bus.h"
#include "bus_socket.h"
#include "clock.h"
#include "config.h"
#include "fanout.h"
#include "http.h"
#include "hub.h"
#include "log.h"
#include "notify.h"
#include "signals.h"

#include <civetweb.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

enum { STATS_INTERVAL_MS = 10000 };

typedef struct {
    long clients;
    uint64_t connections, refused, dropped;
} client_counts_t;

static client_counts_t read_counts(hub_t *hub)
{
    return (client_counts_t){atomic_load(&hub->clients), metrics_get(&hub->metrics.sse_connections),
                             metrics_get(&hub->metrics.sse_refused),
                             metrics_get(&hub->metrics.sse_dropped_slow)};
}

/* Streams have no timers of their own: their writer pumps those with a deadline (a wait
 * for an id, a full socket, the warm-up) every TICK_MS, and all of them, for their
 * heartbeats, when no event did for --heartbeat-ms/4. */
enum { TICK_MS = 100, READY_POLL_MS = 100 };

static fanout_config_t fanout_config(const gateway_config_t *cfg)
{
    long sweep = cfg->heartbeat_ms / 4;
    return (fanout_config_t){.writers = (int)cfg->writers,
                             .tick_ms = TICK_MS,
                             .sweep_ms = sweep < TICK_MS ? TICK_MS : sweep};
}

/* systemd's READY=1 means what /readyz means: a Type=notify unit is started once the
 * gateway can take clients (generator heard, history warm), not when it listens. Told
 * once: a later loss of readiness is /readyz's business, for the load balancer. */
static void tell_ready_once(hub_t *hub, int *told)
{
    if (*told || !hub_ready(hub))
        return;
    *told = 1;
    char status[300];
    snprintf(status, sizeof status, "ready: listen=%s connect=%s", hub->cfg->listen,
             hub->cfg->connect);
    int rc = notify_ready(status);
    if (rc < 0)
        log_warn("cannot tell systemd we are ready", "error=\"%s\"", strerror(-rc));
}

/* Waits for SIGINT or SIGTERM, logging client counts whenever they changed. Until the
 * gateway is ready it looks often, to tell systemd; then once per STATS_INTERVAL_MS. */
static void wait_for_signal(hub_t *hub, const sigset_t *signals)
{
    client_counts_t last = {0};
    int64_t next_stats = clock_mono_ms() + STATS_INTERVAL_MS;
    int ready_told = 0;
    for (;;) {
        tell_ready_once(hub, &ready_told);
        struct timespec ts = clock_timespec_ms(ready_told ? STATS_INTERVAL_MS : READY_POLL_MS);
        int sig = sigtimedwait(signals, NULL, &ts);
        if (sig > 0) {
            log_info("stopping", "signal=%s clients=%ld", strsignal(sig),
                     atomic_load(&hub->clients));
            return;
        }
        if (clock_mono_ms() < next_stats)
            continue;
        next_stats = clock_mono_ms() + STATS_INTERVAL_MS;
        client_counts_t now = read_counts(hub);
        if (memcmp(&now, &last, sizeof now) != 0)
            log_info("clients",
                     "connected=%ld admitted_total=%llu refused_total=%llu "
                     "dropped_slow_total=%llu",
                     now.clients, (unsigned long long)now.connections,
                     (unsigned long long)now.refused, (unsigned long long)now.dropped);
        last = now;
    }
}

/* Draining: /readyz fails and new streams get 503, so the load balancer moves new clients
 * elsewhere while connected ones keep receiving; then their streams close and browsers
 * reconnect through the balancer. A second signal cuts the wait short. */
static void drain(hub_t *hub, fanout_t *fanout, const sigset_t *signals)
{
    atomic_store(&hub->draining, 1);
    int rc = notify_stopping();
    if (rc < 0)
        log_warn("cannot tell systemd we are stopping", "error=\"%s\"", strerror(-rc));
    long ms = hub->cfg->drain_ms, tick = 50;
    log_info("draining", "drain_ms=%ld clients=%ld", ms, atomic_load(&hub->clients));
    atomic_store(&hub->drain_started_ms, clock_mono_ms());
    /* Each stream closes at its own moment within the drain; the ticks let them look. */
    for (long waited = 0; waited < ms; waited += tick) {
        struct timespec ts = clock_timespec_ms(ms - waited < tick ? ms - waited : tick);
        if (sigtimedwait(signals, NULL, &ts) > 0) {
            log_warn("drain cut short by a second signal", "clients=%ld",
                     atomic_load(&hub->clients));
            break;
        }
        fanout_wake(fanout);
    }
    log_info("closing streams", "clients=%ld", atomic_load(&hub->clients));
}

/* The backfill fetcher asks where the replay socket is: where the bus thread found it. */
static int replay_endpoint(void *hub, char *out, size_t cap, char *server_key, size_t key_cap,
                           int *io_thread)
{
    return hub_replay_endpoint(hub, out, cap, server_key, key_cap, io_thread);
}

static backfill_t *start_backfill(hub_t *hub, void *context, char *err, size_t errlen)
{
    const gateway_config_t *cfg = hub->cfg;
    backfill_deps_t deps = {.zmq_context = context,
                            .endpoint = replay_endpoint,
                            .endpoint_ctx = hub,
                            .curve_secret_key_file = cfg->curve_secret_key_file,
                            .metrics = &hub->metrics};
    return backfill_create(&deps, err, errlen);
}

static int serve(hub_t *hub, const assets_t *assets, const sigset_t *signals)
{
    char err[512];
    void *context = zmq_ctx_new();
    /* One I/O thread per generator: see bus_socket.h. */
    if (context && bus_context_threads(context, hub->cfg->source_count) < 0)
        log_warn("one I/O thread for every generator", "error=\"%s\"", zmq_strerror(zmq_errno()));
    /* The writers first: the bus thread wakes them for each event. */
    fanout_config_t fanout_cfg = fanout_config(hub->cfg);
    fanout_t *fanout = fanout_create(&fanout_cfg, err, sizeof err);
    bus_t *bus = context && fanout ? bus_create(context, hub, fanout, err, sizeof err) : NULL;
    backfill_t *backfill = bus ? start_backfill(hub, context, err, sizeof err) : NULL;
    http_server_t *http = NULL;
    int rc = 1;
    if (backfill == NULL || bus_start(bus) < 0) {
        log_error("cannot start", "error=\"%s\"", backfill ? "bus thread" : err);
        goto out;
    }
    http = http_start(hub, assets, fanout, backfill, err, sizeof err);
    if (http == NULL) {
        log_error("cannot start", "error=\"%s\"", err);
        goto out;
    }
    const gateway_config_t *cfg = hub->cfg;
    log_info("started",
             "listen=%s connect=%s topic=%s on_demand=%d threads=%ld max_clients=%ld "
             "history=%ld writers=%ld",
             cfg->listen, cfg->connect, cfg->topic, cfg->on_demand, cfg->threads, cfg->max_clients,
             cfg->history, cfg->writers);
    wait_for_signal(hub, signals);
    drain(hub, fanout, signals);
    rc = 0;
out:
    atomic_store(&hub->draining, 1);
    http_stop(http); /* no new streams; no worker is held by one */
    /* The writers end every stream at their next pump; browsers reconnect elsewhere. */
    ring_close(hub->ring);
    if (fanout)
        fanout_wake(fanout);
    backfill_stop(backfill); /* ends what is queued: its kicks reach the writers */
    backfill_destroy(backfill);
    bus_destroy(bus);       /* the bus thread wakes the writers: stop it first */
    fanout_destroy(fanout); /* closes what is left */
    if (context)
        zmq_ctx_term(context);
    return rc;
}

int main(int argc, char **argv)
{
    log_set_program("gateway");
    gateway_config_t cfg;
    int rc = gateway_config_load(&cfg, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    log_set_level(cfg.log_level);

    /* Blocked before any thread starts, so only sigtimedwait in main sees them. */
    sigset_t signals;
    rc = signals_block_stop(&signals);
    if (rc == 0 && signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        rc = -errno;
    if (rc < 0) {
        log_error("cannot set up signals", "error=\"%s\"", strerror(-rc));
        return 1;
    }

    char err[512];
    assets_t assets;
    if (assets_load(&assets, cfg.web_root, err, sizeof err) < 0) {
        log_error("cannot start", "error=\"%s\"", err);
        return 1;
    }
    hub_t hub;
    if (hub_init(&hub, &cfg) < 0) {
        log_error("cannot start", "error=\"%s\"", "out of memory");
        assets_free(&assets);
        return 1;
    }
    /* Returns the mask of features asked for, here none; there is no failure to check. */
    (void)mg_init_library(0);
    rc = serve(&hub, &assets, &signals);
    mg_exit_library();
    hub_deinit(&hub);
    assets_free(&assets);
    log_info("stopped", "exit_status=%d", rc);
    return rc;
}
