/* metrics.c -- Prometheus text exposition of the gateway's counters and state. */
#include "metrics.h"

#include "text.h"

#include <inttypes.h>
#include <stdio.h>

void metrics_writes_observe(metrics_writes_t *w, uint64_t events, int64_t latency_us)
{
    w->latency[latency_bucket(latency_us * 1000)]++;
    w->latency_sum_us += latency_us > 0 ? (uint64_t)latency_us : 0;
    w->events += events;
}

void metrics_writes_flush(metrics_t *m, metrics_writes_t *w)
{
    metrics_add(&m->events_delivered, w->events);
    metrics_add(&m->bytes_written, w->bytes);
    metrics_add(&m->write_latency_sum_us, w->latency_sum_us);
    for (int i = 0; i <= LATENCY_BUCKETS; i++) {
        if (w->latency[i])
            metrics_add(&m->write_latency[i], w->latency[i]);
    }
    *w = (metrics_writes_t){0};
}

static void header(text_t *t, const char *name, const char *type, const char *help)
{
    text_printf(t, "# HELP rn_gateway_%s %s\n# TYPE rn_gateway_%s %s\n", name, help, name, type);
}

static void counter(text_t *t, const char *name, const char *help, const _Atomic uint64_t *c)
{
    header(t, name, "counter", help);
    text_printf(t, "rn_gateway_%s %" PRIu64 "\n", name, metrics_get(c));
}

static void gauge(text_t *t, const char *name, const char *help, double value)
{
    header(t, name, "gauge", help);
    text_printf(t, "rn_gateway_%s %.15g\n", name, value);
}

static void render_bus(text_t *t, const metrics_t *m, const metrics_state_t *st)
{
    counter(t, "bus_events_total", "Data events received from the bus and relayed.",
            &m->bus_events);
    counter(t, "bus_heartbeats_total", "Generator heartbeats received.", &m->bus_heartbeats);
    header(t, "bus_malformed_total", "counter", "Bus messages dropped as malformed, by reason.");
    for (int i = 0; i < WIRE_ERROR_KINDS; i++)
        text_printf(t, "rn_gateway_bus_malformed_total{reason=\"%s\"} %" PRIu64 "\n",
                    wire_error_name(wire_error_at((size_t)i)), metrics_get(&m->bus_malformed[i]));
    counter(t, "bus_unframed_total",
            "Valid events dropped because their SSE frame did not fit a ring slot (a gateway "
            "bug: the frame's bound is checked when the gateway is built).",
            &m->bus_unframed);
    counter(t, "bus_stale_total", "Events dropped as repeated or older than the last relayed.",
            &m->bus_stale);
    counter(t, "bus_gap_events_total", "Sequence numbers missing from the bus within an epoch.",
            &m->bus_gap_events);
    counter(t, "bus_replayed_total",
            "Events fetched from the generator's replay socket (history warm-up, gaps).",
            &m->bus_replayed);
    counter(t, "replay_failures_total",
            "The bus thread's replay requests unanswered in time or refused.", &m->replay_failures);
    counter(t, "bus_resubscribes_total",
            "Subscriptions re-asserted because the generator's heartbeat said nobody wants "
            "the topic.",
            &m->bus_resubscribes);
    gauge(t, "history_warm",
          "1 once the history was filled from the generator, 0 while warming or when the "
          "warm-up gave up (ready with what it has).",
          st->history_warm);
    gauge(t, "generator_up",
          "1 while the generator's messages arrive in time and its events reach us.",
          st->generator_up);
    gauge(t, "ready", "1 while /readyz answers 200: it takes new SSE clients.", st->ready);
    gauge(t, "generator_epoch", "Epoch of the generator last heard.", (double)st->epoch);
}

/* One line per --connect source of a per-source gauge or counter: values[i] is source i's. */
static void per_source(text_t *t, const metrics_state_t *st, const char *name,
                       const uint64_t *values)
{
    for (int i = 0; i < st->source_count; i++)
        text_printf(t, "rn_gateway_%s{source=\"%s\"} %" PRIu64 "\n", name, st->sources[i].endpoint,
                    values[i]);
}

/* The generators of --connect (a pair's two members), as their heartbeats describe them. */
static void render_sources(text_t *t, const metrics_t *m, const metrics_state_t *st)
{
    uint64_t state[SOURCES_MAX], role[SOURCES_MAX], active[SOURCES_MAX], mirrored[SOURCES_MAX],
        votes[SOURCES_MAX], peer_seen[SOURCES_MAX], takeovers[SOURCES_MAX];
    for (int i = 0; i < st->source_count; i++) {
        state[i] = (uint64_t)st->sources[i].state;
        role[i] = (uint64_t)st->sources[i].role;
        active[i] = (uint64_t)st->sources[i].active;
        mirrored[i] = st->sources[i].mirrored_seq;
        votes[i] = metrics_get(&m->votes[i]);
        peer_seen[i] = (uint64_t)st->sources[i].peer_seen;
        takeovers[i] = st->sources[i].takeovers;
    }
    header(t, "generator_state", "gauge",
           "Each --connect source's state from its heartbeats: 0 active, 1 starting, 2 passive, "
           "3 not heard.");
    per_source(t, st, "generator_state", state);
    header(t, "generator_role", "gauge", "Each source's role: 0 single, 1 primary, 2 backup.");
    per_source(t, st, "generator_role", role);
    header(t, "generator_active", "gauge",
           "1 for the source this gateway relays and replays from: active and heard within "
           "its failover time.");
    per_source(t, st, "generator_active", active);
    header(t, "generator_mirrored_seq", "gauge",
           "Each source's mirrored seq (a passive: what it holds; an active: what its passive "
           "acknowledged).");
    per_source(t, st, "generator_mirrored_seq", mirrored);
    header(t, "generator_peer_seen", "gauge",
           "1 when a source's heartbeat says it hears its pair's other member.");
    per_source(t, st, "generator_peer_seen", peer_seen);
    header(t, "generator_takeovers_total", "counter",
           "Takeovers of each source, as its heartbeats count them (since it started).");
    per_source(t, st, "generator_takeovers_total", takeovers);
    header(t, "votes_total", "counter",
           "Takeover votes sent to a source: no active source heard for the failover time.");
    per_source(t, st, "votes_total", votes);
}

const char *metrics_backfill_name(metrics_backfill_t outcome)
{
    static const char *const names[BACKFILL_OUTCOMES] = {"answered", "failed", "expired", "refused",
                                                         "cancelled"};
    return (unsigned)outcome < BACKFILL_OUTCOMES ? names[outcome] : "unknown";
}

/* The replay connections and the backfill fetcher's queue (backfill.c). */
static void render_replay(text_t *t, const metrics_t *m)
{
    static const char *const users[REPLAY_USERS] = {"bus", "backfill"};
    header(t, "replay_connections_total", "counter",
           "Connections opened to the generator's replay socket (reconnects after a timeout "
           "included), by user: the bus thread, or the fetcher all streams share.");
    for (int i = 0; i < REPLAY_USERS; i++)
        text_printf(t, "rn_gateway_replay_connections_total{user=\"%s\"} %" PRIu64 "\n", users[i],
                    metrics_get(&m->replay_connections[i]));
    header(t, "backfill_requests_total", "counter",
           "Streams' requests for events older than the history, by how they ended.");
    for (int i = 0; i < BACKFILL_OUTCOMES; i++)
        text_printf(t, "rn_gateway_backfill_requests_total{outcome=\"%s\"} %" PRIu64 "\n",
                    metrics_backfill_name((metrics_backfill_t)i),
                    metrics_get(&m->backfill_requests[i]));
    gauge(t, "backfill_pending", "Streams' requests queued or being fetched now.",
          (double)metrics_get(&m->backfill_pending));
}

static void render_clients(text_t *t, const metrics_t *m, const metrics_state_t *st)
{
    gauge(t, "sse_clients", "Connected SSE clients.", (double)st->clients);
    gauge(t, "sse_clients_max", "SSE client limit.", (double)st->clients_max);
    counter(t, "sse_connections_total", "SSE clients admitted.", &m->sse_connections);
    counter(t, "sse_refused_total", "SSE clients refused with 503 at the limit.", &m->sse_refused);
    counter(t, "sse_dropped_slow_total", "SSE clients dropped for falling too far behind.",
            &m->sse_dropped_slow);
    counter(t, "sse_resumes_total", "SSE clients resumed exactly after their Last-Event-ID.",
            &m->sse_resumes);
    counter(t, "sse_backfilled_events_total",
            "Events older than the history sent to resuming clients from the generator.",
            &m->sse_backfilled);
    header(t, "sse_resets_total", "counter",
           "Reset events sent instead of missed events, by reason.");
    for (int i = 0; i < RESET_KINDS; i++)
        text_printf(t, "rn_gateway_sse_resets_total{reason=\"%s\"} %" PRIu64 "\n",
                    reset_reason_name((reset_reason_t)i), metrics_get(&m->sse_resets[i]));
    counter(t, "events_delivered_total", "Events written to SSE clients.", &m->events_delivered);
    counter(t, "bytes_written_total", "Bytes written on SSE streams.", &m->bytes_written);
    gauge(t, "draining", "1 while the gateway drains before exit.", st->draining);
}

static void render_latency(text_t *t, const metrics_t *m)
{
    header(t, "write_latency_seconds", "histogram",
           "Time from the bus receiving an event to the write that sent it to a client.");
    uint64_t cumulative = 0;
    char le[LATENCY_LE_MAX];
    for (int i = 0; i <= LATENCY_BUCKETS; i++) {
        cumulative += metrics_get(&m->write_latency[i]);
        text_printf(t, "rn_gateway_write_latency_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
                    latency_bucket_le(i, le), cumulative);
    }
    text_printf(t, "rn_gateway_write_latency_seconds_sum %.6f\n",
                (double)metrics_get(&m->write_latency_sum_us) / 1e6);
    text_printf(t, "rn_gateway_write_latency_seconds_count %" PRIu64 "\n", cumulative);
}

/* The process's thread count, from /proc; -1 when it cannot be read. */
static long process_threads(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (f == NULL)
        return -1;
    char line[256];
    long n = -1;
    while (n < 0 && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Threads: %ld", &n) != 1)
            n = -1;
    fclose(f);
    return n;
}

/* Connections held by the accept gate until their request head arrives (gate.c). */
static void render_gate(text_t *t, const metrics_t *m)
{
    gauge(t, "http_heads_waiting",
          "Connections accepted whose request head has not arrived yet (no worker held).",
          (double)metrics_get(&m->http_heads_waiting));
    counter(t, "http_head_timeouts_total",
            "Connections closed with 408: no complete request head within --header-timeout-ms.",
            &m->http_head_timeouts);
    counter(t, "http_heads_evicted_total",
            "Connections closed while their head was arriving, to make room (the gate's "
            "waiting bound reached, or out of file descriptors).",
            &m->http_heads_evicted);
    gauge(t, "http_heads_ready",
          "Connections whose request head is complete, queued for a worker thread.",
          (double)metrics_get(&m->http_heads_ready));
    counter(t, "http_gate_full_total",
            "Times the gate stopped accepting because its queue of complete requests was full "
            "(every worker busy); new connections waited in the kernel's backlog meanwhile.",
            &m->http_gate_full);
}

char *metrics_render(const metrics_t *m, const metrics_state_t *st, size_t *len)
{
    text_t t = {0};
    render_bus(&t, m, st);
    render_sources(&t, m, st);
    gauge(&t, "last_event_age_seconds", "Seconds since the newest event arrived (-1: none yet).",
          st->last_event_age_s);
    render_clients(&t, m, st);
    render_replay(&t, m);
    gauge(&t, "workers_busy", "HTTP worker threads serving a request now.",
          (double)st->workers_busy);
    gauge(&t, "workers", "HTTP worker threads.", (double)st->workers);
    gauge(&t, "writers", "Writer threads: event loops that own the SSE streams.",
          (double)st->writers);
    gauge(&t, "threads", "Threads of the process (constant: no thread per client).",
          (double)process_threads());
    render_gate(&t, m);
    render_latency(&t, m);
    return text_take(&t, len);
}
