/* hub.c -- admission, liveness and wakeups around the shared ring. */
#include "hub.h"

#include "clock.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int hub_init(hub_t *hub, const gateway_config_t *cfg)
{
    memset(hub, 0, sizeof *hub);
    hub->cfg = cfg;
    atomic_store(&hub->active_source, -1);
    hub->ring = ring_create((size_t)cfg->history);
    if (hub->ring == NULL)
        return -ENOMEM;
    hub->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (hub->wake_fd < 0) {
        int rc = -errno;
        ring_destroy(hub->ring);
        return rc;
    }
    int rc = -pthread_mutex_init(&hub->replay_lock, NULL);
    if (rc < 0) {
        close(hub->wake_fd);
        ring_destroy(hub->ring);
    }
    return rc;
}

void hub_deinit(hub_t *hub)
{
    pthread_mutex_destroy(&hub->replay_lock);
    ring_destroy(hub->ring);
    if (hub->wake_fd >= 0)
        close(hub->wake_fd);
    hub->ring = NULL;
    hub->wake_fd = -1;
}

void hub_wake_bus(hub_t *hub)
{
    /* The counter only saturates after 2^64-2 unread wakes; a failed write loses nothing. */
    (void)eventfd_write(hub->wake_fd, 1);
}

void hub_release_events(hub_t *hub)
{
    atomic_store_explicit(&hub->released, ring_head(hub->ring), memory_order_release);
}

int hub_client_enter(hub_t *hub)
{
    if (atomic_load(&hub->draining))
        return -ESHUTDOWN;
    long before = atomic_fetch_add(&hub->clients, 1);
    if (before >= hub->cfg->max_clients) {
        atomic_fetch_sub(&hub->clients, 1);
        metrics_add(&hub->metrics.sse_refused, 1);
        return -EBUSY;
    }
    metrics_add(&hub->metrics.sse_connections, 1);
    if (before == 0 && hub->cfg->on_demand)
        hub_wake_bus(hub);
    return 0;
}

void hub_client_leave(hub_t *hub)
{
    if (atomic_fetch_sub(&hub->clients, 1) == 1 && hub->cfg->on_demand)
        hub_wake_bus(hub);
}

int64_t hub_generator_alive_until(const hub_t *hub)
{
    int64_t timeout = hub->cfg->bus_timeout_ms;
    int64_t last = atomic_load(&hub->last_bus_ms), behind = atomic_load(&hub->behind_since_ms);
    if (last == 0)
        return 0;
    int64_t until = last + timeout + 1;
    return behind != 0 && behind + timeout + 1 < until ? behind + timeout + 1 : until;
}

int hub_generator_alive(const hub_t *hub)
{
    return clock_mono_ms() < hub_generator_alive_until(hub);
}

int hub_ready(const hub_t *hub)
{
    return hub_generator_alive(hub) && atomic_load(&hub->warm) &&
           atomic_load(&hub->behind_since_ms) == 0 && !atomic_load(&hub->draining) &&
           atomic_load(&hub->clients) < hub->cfg->max_clients;
}

int hub_drain_due(const hub_t *hub, int64_t offset_ms)
{
    int64_t started = atomic_load(&hub->drain_started_ms);
    return started != 0 && clock_mono_ms() >= started + offset_ms;
}

int hub_replay_known(const hub_t *hub)
{
    return atomic_load(&hub->replay_known);
}

/* Seconds since the newest event in the ring arrived, or -1 before the first. */
static double last_event_age(const hub_t *hub)
{
    ring_meta_t m;
    uint64_t head = ring_head(hub->ring);
    if (head <= 1 || ring_meta(hub->ring, head - 1, &m) < 0)
        return -1;
    return (double)(clock_ns(CLOCK_MONOTONIC) - m.received_ns) / 1e9;
}

static metrics_source_t source_state(const hub_t *hub, int i)
{
    int heard = atomic_load(&hub->sources[i].heard);
    return (metrics_source_t){
        .endpoint = hub->cfg->sources[i],
        .state = heard ? atomic_load(&hub->sources[i].state) : METRICS_SOURCE_NOT_HEARD,
        .role = atomic_load(&hub->sources[i].role),
        .active = atomic_load(&hub->active_source) == i,
        .peer_seen = atomic_load(&hub->sources[i].peer_seen),
        .mirrored_seq = atomic_load(&hub->sources[i].mirrored_seq),
        .takeovers = atomic_load(&hub->sources[i].takeovers),
    };
}

void hub_metrics_state(const hub_t *hub, metrics_state_t *out)
{
    const gateway_config_t *cfg = hub->cfg;
    *out = (metrics_state_t){.history_warm = atomic_load(&hub->warm_complete),
                             .generator_up = hub_generator_alive(hub),
                             .ready = hub_ready(hub),
                             .draining = atomic_load(&hub->draining),
                             .epoch = atomic_load(&hub->epoch),
                             .last_event_age_s = last_event_age(hub),
                             .clients = atomic_load(&hub->clients),
                             .clients_max = cfg->max_clients,
                             .workers_busy = atomic_load(&hub->busy_workers),
                             .workers = cfg->threads,
                             .writers = cfg->writers,
                             .source_count = cfg->source_count};
    for (int i = 0; i < cfg->source_count; i++)
        out->sources[i] = source_state(hub, i);
}

int hub_replay_endpoint(hub_t *hub, char *out, size_t cap, char *server_key, size_t key_cap,
                        int *io_thread)
{
    pthread_mutex_lock(&hub->replay_lock);
    int known = atomic_load(&hub->replay_known);
    if (known) {
        snprintf(out, cap, "%s", hub->replay_endpoint);
        snprintf(server_key, key_cap, "%s", hub->replay_server_key);
        *io_thread = hub->replay_io_thread;
    }
    pthread_mutex_unlock(&hub->replay_lock);
    return known ? 0 : -ENOENT;
}

void hub_set_replay_endpoint(hub_t *hub, const char *endpoint, const char *server_key,
                             int io_thread)
{
    pthread_mutex_lock(&hub->replay_lock);
    snprintf(hub->replay_endpoint, sizeof hub->replay_endpoint, "%s", endpoint);
    snprintf(hub->replay_server_key, sizeof hub->replay_server_key, "%s", server_key);
    hub->replay_io_thread = io_thread;
    atomic_store(&hub->replay_known, 1);
    pthread_mutex_unlock(&hub->replay_lock);
}
