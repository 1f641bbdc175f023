/* exporter.c -- monitor --metrics; see exporter.h. The reader thread updates the counts
 * under a mutex; a scrape copies them under it and renders the copy. */
#include "exporter.h"

#include "clock.h"
#include "latency_buckets.h"
#include "stats.h"
#include "text.h"

#include <civetweb.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t events, gaps, epoch_changes, malformed, heartbeats;
    uint64_t latency[LATENCY_BUCKETS + 1]; /* the last: +Inf */
    double latency_sum_s;
    seq_track_t track;
    wire_heartbeat_t hb;
    int64_t hb_at_ms; /* monotonic, 0: none yet */
    /* each --connect source: a pair's members */
    wire_heartbeat_t member[SOURCES_MAX];
    int64_t member_at_ms[SOURCES_MAX]; /* monotonic, 0: not heard yet */
    uint64_t votes[SOURCES_MAX];
} counts_t;

struct exporter {
    const char (*sources)[SOURCES_ENDPOINT_MAX]; /* borrowed */
    int count;
    struct mg_context *ctx;
    pthread_mutex_t lock;
    counts_t counts;
};

void exporter_event(exporter_t *x, uint64_t epoch, uint64_t seq, int64_t latency_ns)
{
    double s = (double)latency_ns / 1e9;
    int i = latency_bucket(latency_ns);
    pthread_mutex_lock(&x->lock);
    counts_t *c = &x->counts;
    c->events++;
    seq_track(&c->track, epoch, seq, &c->gaps, &c->epoch_changes);
    c->latency[i]++;
    c->latency_sum_s += s > 0 ? s : 0;
    pthread_mutex_unlock(&x->lock);
}

void exporter_malformed(exporter_t *x)
{
    pthread_mutex_lock(&x->lock);
    x->counts.malformed++;
    pthread_mutex_unlock(&x->lock);
}

void exporter_heartbeat(exporter_t *x, int i, int active, const wire_heartbeat_t *hb)
{
    pthread_mutex_lock(&x->lock);
    x->counts.heartbeats++;
    if (active) { /* the generator's metrics are the active member's */
        x->counts.hb = *hb;
        x->counts.hb_at_ms = clock_mono_ms();
    }
    x->counts.member[i] = *hb;
    x->counts.member_at_ms[i] = clock_mono_ms();
    pthread_mutex_unlock(&x->lock);
}

void exporter_vote(exporter_t *x, int i)
{
    pthread_mutex_lock(&x->lock);
    x->counts.votes[i]++;
    pthread_mutex_unlock(&x->lock);
}

static void metric(text_t *p, const char *name, const char *type, const char *help, double v)
{
    text_printf(p, "# HELP rn_bus_%s %s\n# TYPE rn_bus_%s %s\nrn_bus_%s %.17g\n", name, help, name,
                type, name, v);
}

static void render_latency(text_t *p, const counts_t *c)
{
    text_printf(p, "# HELP rn_bus_latency_seconds From the generator's publish time to this "
                   "subscriber's receipt.\n# TYPE rn_bus_latency_seconds histogram\n");
    uint64_t cumulative = 0;
    char le[LATENCY_LE_MAX];
    for (int i = 0; i <= LATENCY_BUCKETS; i++) {
        cumulative += c->latency[i];
        text_printf(p, "rn_bus_latency_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
                    latency_bucket_le(i, le), cumulative);
    }
    text_printf(p, "rn_bus_latency_seconds_sum %.9f\nrn_bus_latency_seconds_count %" PRIu64 "\n",
                c->latency_sum_s, cumulative);
}

/* Heard within its failover time, as the monitor's own view of the pair (sources.c) has
 * it: a member gone says nothing, and its last state must not stand for it. */
static int member_heard(const counts_t *c, int i, int64_t now_ms)
{
    uint32_t failover = c->member[i].failover_ms ? c->member[i].failover_ms : SOURCES_FAILOVER_MS;
    return c->member_at_ms[i] != 0 && now_ms - c->member_at_ms[i] <= (int64_t)failover;
}

static double member_value(const counts_t *c, int i, int field)
{
    const wire_heartbeat_t *hb = &c->member[i];
    switch (field) {
    case 0:
        return member_heard(c, i, clock_mono_ms()) ? hb->state : 3;
    case 1:
        return hb->role;
    case 2:
        return hb->peer_seen;
    case 3:
        return (double)hb->mirrored_seq;
    case 4:
        return hb->standby_synced;
    case 5:
        return (double)hb->takeovers;
    }
    return (double)c->votes[i];
}

/* Each --connect source's heartbeat fields, labelled with its endpoint. */
static void render_members(text_t *p, const exporter_t *x, const counts_t *c)
{
    static const struct {
        const char *name, *type, *help;
    } fields[] = {
        {"member_state", "gauge",
         "Each member's state: 0 active, 1 starting, 2 passive, 3 not heard within its failover "
         "time."},
        {"member_role", "gauge", "Each member's role: 0 single, 1 primary, 2 backup."},
        {"member_peer_seen", "gauge", "1 while the member hears its peer."},
        {"member_mirrored_seq", "gauge", "Passive: mirrored seq; active: acknowledged seq."},
        {"member_standby_synced", "gauge", "Active: its passive acknowledged all it published."},
        {"member_takeovers", "gauge",
         "Times the member took over since it started (its heartbeat's count)."},
        {"votes_total", "counter", "Takeover votes this monitor sent to the member."},
    };
    for (int f = 0; f < (int)(sizeof fields / sizeof fields[0]); f++) {
        text_printf(p, "# HELP rn_bus_%s %s\n# TYPE rn_bus_%s %s\n", fields[f].name, fields[f].help,
                    fields[f].name, fields[f].type);
        for (int i = 0; i < x->count; i++)
            text_printf(p, "rn_bus_%s{source=\"%s\"} %.17g\n", fields[f].name, x->sources[i],
                        member_value(c, i, f));
    }
}

static void render(text_t *p, const counts_t *c)
{
    metric(p, "events_total", "counter", "Data events received.", (double)c->events);
    metric(p, "gaps_total", "counter", "Events missing within an epoch (seq jumps).",
           (double)c->gaps);
    metric(p, "epoch_changes_total", "counter", "Times the generator's epoch changed.",
           (double)c->epoch_changes);
    metric(p, "malformed_total", "counter", "Messages dropped as malformed.", (double)c->malformed);
    metric(p, "heartbeats_total", "counter", "Generator heartbeats received.",
           (double)c->heartbeats);
    render_latency(p, c);
    double age = c->hb_at_ms ? (double)(clock_mono_ms() - c->hb_at_ms) / 1000 : -1;
    metric(p, "heartbeat_age_seconds", "gauge", "Seconds since the last heartbeat (-1: none).",
           age);
    metric(p, "generator_publishing", "gauge",
           "1 while the generator says some subscriber wants the data topic.",
           c->hb.publishing ? 1 : 0);
    metric(p, "generator_subscriptions", "gauge", "Topic prefixes subscribed on the generator.",
           (double)c->hb.subscriptions);
    metric(p, "generator_last_seq", "gauge", "The generator's last published seq in its epoch.",
           (double)c->hb.last_seq);
    metric(p, "generator_epoch", "gauge", "The generator's epoch (start time, Unix ms).",
           (double)c->hb.epoch);
}

static int on_metrics(struct mg_connection *conn, void *data)
{
    exporter_t *x = data;
    counts_t copy;
    pthread_mutex_lock(&x->lock);
    copy = x->counts;
    pthread_mutex_unlock(&x->lock);
    text_t page = {0};
    render(&page, &copy);
    render_members(&page, x, &copy);
    size_t len;
    char *text = text_take(&page, &len);
    if (text == NULL) {
        mg_send_http_error(conn, 503, "out of memory");
        return 503;
    }
    mg_send_http_ok(conn, "text/plain; version=0.0.4; charset=utf-8", (long long)len);
    mg_write(conn, text, len);
    free(text);
    return 200;
}

exporter_t *exporter_start(const char *listen, const char (*sources)[SOURCES_ENDPOINT_MAX],
                           int count, char *err, size_t errlen)
{
    exporter_t *x = calloc(1, sizeof *x);
    if (x == NULL || pthread_mutex_init(&x->lock, NULL) != 0) {
        snprintf(err, errlen, "out of memory");
        free(x);
        return NULL;
    }
    x->sources = sources;
    x->count = count;
    (void)mg_init_library(0); /* returns the features asked for, here none */
    const char *options[] = {"listening_ports",    listen, "num_threads", "2",
                             "request_timeout_ms", "5000", NULL};
    struct mg_callbacks callbacks = {0};
    struct mg_init_data init = {&callbacks, x, options};
    char text[256] = "";
    struct mg_error_data error = {NULL, text, sizeof text};
    x->ctx = mg_start2(&init, &error);
    if (x->ctx == NULL) {
        snprintf(err, errlen, "cannot serve metrics on '%s': %s", listen, text);
        pthread_mutex_destroy(&x->lock);
        free(x);
        mg_exit_library();
        return NULL;
    }
    mg_set_request_handler(x->ctx, "/metrics", on_metrics, x);
    return x;
}

void exporter_stop(exporter_t *x)
{
    if (x == NULL)
        return;
    mg_stop(x->ctx);
    mg_exit_library();
    pthread_mutex_destroy(&x->lock);
    free(x);
}
