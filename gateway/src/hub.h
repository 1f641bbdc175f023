/* hub.h -- what the bus thread and the HTTP workers share: the ring of framed events,
 * the counters, the client count and whether the generator is alive. main owns the hub;
 * every other thread holds a borrowed pointer. */
#ifndef GATEWAY_HUB_H
#define GATEWAY_HUB_H

#include "config.h"
#include "metrics.h"
#include "ring.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hub_s {
    const gateway_config_t *cfg; /* borrowed */
    ring_t *ring;
    metrics_t metrics;
    _Atomic long clients;
    _Atomic long busy_workers; /* civetweb workers inside one of our handlers */
    _Atomic int draining;
    _Atomic int64_t drain_started_ms; /* monotonic; streams close at spread moments after */
    _Atomic int64_t last_bus_ms;      /* monotonic ms of the last valid bus message, 0: never */
    _Atomic int64_t behind_since_ms;  /* the generator has published events we have not
                                       * relayed since then; 0: caught up */
    _Atomic uint64_t epoch;           /* the generator's current epoch, 0: none seen */
    _Atomic uint64_t released;        /* ring positions below it may be sent: the bus
                                       * releases what it published when it wakes the
                                       * writers, at most once per --coalesce-ms */
    _Atomic int warm;                 /* history filled from the generator (or given up on) */
    _Atomic int warm_complete;        /* ... and it got everything it asked for */
    /* The generator's replay socket, once known: written by the bus thread (again when a
     * restarted generator announces another port), read by the backfill fetcher before
     * each request; both under replay_lock. */
    pthread_mutex_t replay_lock;
    char replay_endpoint[256];
    char replay_server_key[CURVE_PATH_MAX]; /* the key file of replay_endpoint's generator */
    int replay_io_thread;                   /* the I/O thread of that generator's sockets */
    _Atomic int replay_known;
    /* Each --connect source as the bus thread last heard it, for the metrics. */
    struct {
        _Atomic int heard; /* a heartbeat arrived */
        _Atomic int role;  /* wire_role_t */
        _Atomic int state; /* wire_state_t */
        _Atomic int peer_seen;
        _Atomic uint64_t mirrored_seq;
        _Atomic uint64_t takeovers;
    } sources[SOURCES_MAX];
    _Atomic int active_source; /* index into cfg->sources, -1: none active and heard */
    int wake_fd;               /* eventfd: wakes the bus thread (clients 0<->1, stop) */
} hub_t;

int hub_init(hub_t *hub, const gateway_config_t *cfg) __attribute__((warn_unused_result));
void hub_deinit(hub_t *hub);

/* Admits one SSE client. Returns 0, -ESHUTDOWN while draining, -EBUSY at the limit. A
 * client admitted before the history is warm waits for it (stream.c). */
int hub_client_enter(hub_t *hub) __attribute__((warn_unused_result));
void hub_client_leave(hub_t *hub);

/* Releases every event published so far to the streams (the bus thread, which then wakes
 * the writers). */
void hub_release_events(hub_t *hub);

/* Wakes the bus thread so it re-reads the client count and the draining flag. */
void hub_wake_bus(hub_t *hub);

/* The generator is heard from in time, and the events it says it published reach us:
 * heartbeats alone do not make it up. */
int hub_generator_alive(const hub_t *hub);

/* Until when (monotonic ms) the generator stays alive if nothing more is heard: in the
 * past when it is not alive now. */
int64_t hub_generator_alive_until(const hub_t *hub);

/* Ready to take new SSE clients: generator alive, history warm, caught up with what the
 * generator published, not draining, below the limit. */
int hub_ready(const hub_t *hub);

/* Draining, and a stream whose close is offset_ms after the drain began is due to close:
 * spread over the drain, so the survivors see a ramp of reconnections, not a wall. */
int hub_drain_due(const hub_t *hub, int64_t offset_ms);

int hub_replay_known(const hub_t *hub);

/* The gateway's state now, for /metrics. */
void hub_metrics_state(const hub_t *hub, metrics_state_t *out);

/* Copies the replay endpoint into out (cap bytes), and the CURVE public key file of the
 * generator it belongs to ("" without CURVE) into server_key (key_cap bytes): together, so
 * a takeover never pairs one member's endpoint with the other's key. Returns 0, or -ENOENT
 * while unknown. */
int hub_replay_endpoint(hub_t *hub, char *out, size_t cap, char *server_key, size_t key_cap,
                        int *io_thread);

/* Sets the replay endpoint and its generator's key file (the bus thread). */
void hub_set_replay_endpoint(hub_t *hub, const char *endpoint, const char *server_key,
                             int io_thread);

#endif
