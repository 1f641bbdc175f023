/* metrics.h -- the gateway's counters. Any thread increments them (relaxed atomics);
 * /metrics renders them in the Prometheus text format, with the gauges of the gateway's
 * state that its owner (hub_metrics_state) reads for each rendering. */
#ifndef GATEWAY_METRICS_H
#define GATEWAY_METRICS_H

#include "latency_buckets.h"
#include "reset.h"
#include "sources.h"
#include "wire.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* How a stream's request to the backfill fetcher (backfill.c) ended: each request counts
 * once. */
typedef enum {
    BACKFILL_ANSWERED,  /* the generator answered it (with events, or none it still holds) */
    BACKFILL_FAILED,    /* the replay socket did not answer in time, refused it, or is unknown */
    BACKFILL_EXPIRED,   /* it waited in the queue past its deadline */
    BACKFILL_REFUSED,   /* the queue was full */
    BACKFILL_CANCELLED, /* the gateway stopped, or its stream gave up waiting */
    BACKFILL_OUTCOMES
} metrics_backfill_t;

/* The outcome as it appears in the metric label. */
const char *metrics_backfill_name(metrics_backfill_t outcome);

/* Who opened a connection to the generator's replay socket. */
typedef enum { REPLAY_BY_BUS, REPLAY_BY_BACKFILL, REPLAY_USERS } metrics_replay_user_t;

typedef struct {
    _Atomic uint64_t bus_events; /* data events accepted into the ring */
    _Atomic uint64_t bus_heartbeats;
    _Atomic uint64_t bus_malformed[WIRE_ERROR_KINDS]; /* by wire_error_index */
    _Atomic uint64_t bus_unframed;    /* valid events whose frame a ring slot did not hold */
    _Atomic uint64_t bus_stale;       /* duplicate or older than the last event relayed */
    _Atomic uint64_t bus_gap_events;  /* seq numbers skipped within an epoch */
    _Atomic uint64_t bus_replayed;    /* events fetched from the replay socket and relayed */
    _Atomic uint64_t replay_failures; /* the bus's replay requests unanswered or refused */
    _Atomic uint64_t replay_connections[REPLAY_USERS]; /* sockets opened, reconnects included */
    _Atomic uint64_t backfill_requests[BACKFILL_OUTCOMES];
    _Atomic uint64_t backfill_pending;   /* gauge: requests queued or being fetched */
    _Atomic uint64_t bus_resubscribes;   /* heartbeats said nobody wants the topic we want */
    _Atomic uint64_t votes[SOURCES_MAX]; /* takeover votes sent, by --connect source */
    _Atomic uint64_t http_heads_waiting; /* gauge: accepted, request head not complete */
    _Atomic uint64_t http_head_timeouts; /* closed with 408 after --header-timeout-ms */
    _Atomic uint64_t http_heads_evicted; /* closed to make room for newer ones */
    _Atomic uint64_t http_heads_ready;   /* gauge: complete heads queued for a worker */
    _Atomic uint64_t http_gate_full;     /* times the gate stopped accepting: queue full */
    _Atomic uint64_t sse_connections;
    _Atomic uint64_t sse_refused;
    _Atomic uint64_t sse_dropped_slow;
    _Atomic uint64_t sse_resumes; /* resumed exactly after their Last-Event-ID */
    _Atomic uint64_t sse_resets[RESET_KINDS];
    _Atomic uint64_t sse_backfilled; /* events older than the ring sent from the replay */
    _Atomic uint64_t events_delivered;
    _Atomic uint64_t bytes_written;
    /* From the bus thread's receipt of an event to the write that carried it. */
    _Atomic uint64_t write_latency[LATENCY_BUCKETS + 1]; /* the last: +Inf */
    _Atomic uint64_t write_latency_sum_us;
} metrics_t;

/* One client's write counters, kept by its own thread and added to the shared ones now
 * and then, so the hot path touches no cache line other threads write. */
typedef struct {
    uint64_t events, bytes, latency_sum_us;
    uint64_t latency[LATENCY_BUCKETS + 1];
} metrics_writes_t;

/* Counts one write of events whose oldest waited latency_us since the bus received it.
 * Bytes are counted by the writer itself, heartbeats included. */
void metrics_writes_observe(metrics_writes_t *w, uint64_t events, int64_t latency_us);

/* Adds w to the shared counters and clears it. */
void metrics_writes_flush(metrics_t *m, metrics_writes_t *w);

static inline void metrics_add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static inline uint64_t metrics_get(const _Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

/* One --connect source as the bus thread last heard it. */
typedef struct {
    const char *endpoint; /* borrowed: its --connect endpoint, the metrics' label */
    int state;            /* wire_state_t, or METRICS_SOURCE_NOT_HEARD */
    int role;             /* wire_role_t */
    int active;           /* the source relayed and replayed from */
    int peer_seen;        /* its heartbeat says it hears its pair's other member */
    uint64_t mirrored_seq;
    uint64_t takeovers; /* as its heartbeat counts them */
} metrics_source_t;

enum { METRICS_SOURCE_NOT_HEARD = 3 };

/* The gateway's state at one moment, shown as gauges beside the counters. */
typedef struct {
    int history_warm, generator_up, ready, draining;
    uint64_t epoch;
    double last_event_age_s; /* -1 before the first event */
    long clients, clients_max, workers_busy, workers, writers;
    int source_count;
    metrics_source_t sources[SOURCES_MAX];
} metrics_state_t;

/* The Prometheus text exposition of every counter of m and gauge of state, as long as it
 * takes: a string of *len bytes the caller frees, or NULL when out of memory. */
char *metrics_render(const metrics_t *m, const metrics_state_t *state, size_t *len)
    __attribute__((warn_unused_result));

#endif
