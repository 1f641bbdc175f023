/* main.c -- the monitor: one more subscriber on the bus. It decodes the generator's events
 * with the wire contract and prints one line per event (logfmt, or JSON with --json), or
 * with --stats the rate, gaps and latency of each interval; with --replay-from it prints
 * the generator's recent events first (catchup.c); with --metrics it also serves what it
 * sees in the Prometheus format (exporter.c). With a pair's two buses (--connect A,B) it
 * reads both on one socket each, prints each event once, shows both members and votes
 * for a takeover as a gateway does (common/sources.c). */
#include "bus_socket.h"
#include "catchup.h"
#include "cli.h"
#include "clock.h"
#include "curve.h"
#include "exporter.h"
#include "log.h"
#include "replay_client.h"
#include "signals.h"
#include "sources.h"
#include "stats.h"
#include "voter.h"
#include "wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    const char *connect;
    const char *topic;
    const char *curve_server_key_file;
    const char *curve_secret_key_file;
    int json;
    int heartbeats;
    int stats;
    long stats_interval_ms;
    long count;                        /* stop after this many events, 0: never */
    const char *replay_from;           /* "EPOCH-SEQ", "": live events only */
    const char *replay_connect;        /* "": from --connect and the heartbeat's replay_port */
    const char *metrics;               /* "": no exporter, else where /metrics is served */
    uint64_t replay_epoch, replay_seq; /* replay_from, parsed */
    char sources[SOURCES_MAX][SOURCES_ENDPOINT_MAX]; /* connect, split */
    int source_count;
    char server_keys[SOURCES_MAX][CURVE_PATH_MAX]; /* curve_server_key_file, per source */
} monitor_config_t;

/* The running monitor, passed to the catchup's emit callback. */
typedef struct {
    const monitor_config_t *cfg;
    stats_t stats;
    catchup_t *catchup;   /* NULL without --replay-from */
    exporter_t *exporter; /* NULL without --metrics */
    long seen;
    void *subs[SOURCES_MAX]; /* one bus socket per --connect source */
    sources_t sources;
    voter_t *voters[SOURCES_MAX];
    void *ctx;
    uint64_t last_epoch, last_seq; /* the newest event out: a repeat is not printed twice */
} monitor_t;

/* cli_parse knows no EPOCH-SEQ type, so --replay-from is checked here. */
static int check_replay(monitor_config_t *cfg, char *err, size_t errlen)
{
    char why[160];
    if (cfg->replay_from[0] == '\0')
        return 0;
    if (catchup_parse_position(cfg->replay_from, &cfg->replay_epoch, &cfg->replay_seq, why,
                               sizeof why) < 0) {
        snprintf(err, errlen, "--replay-from: %s", why);
        return -EINVAL;
    }
    if (cfg->stats) {
        /* Latency from published_ns means nothing for an event fetched minutes later. */
        snprintf(err, errlen, "--replay-from prints events; it does not combine with --stats");
        return -EINVAL;
    }
    if (cfg->replay_connect[0] == '\0' && strstr(cfg->connect, "tcp://") == NULL) {
        snprintf(err, errlen,
                 "--replay-from needs --replay-connect when --connect has no tcp:// endpoint");
        return -EINVAL;
    }
    return 0;
}

static int load_config(monitor_config_t *cfg, int argc, char **argv)
{
    *cfg = (monitor_config_t){.connect = "tcp://127.0.0.1:5556",
                              .topic = "number",
                              .curve_server_key_file = "",
                              .curve_secret_key_file = "",
                              .stats_interval_ms = 1000,
                              .replay_from = "",
                              .replay_connect = "",
                              .metrics = ""};
    const cli_option_t opts[] = {
        {"connect", "MONITOR_CONNECT", CLI_STRING, &cfg->connect, 0, 0,
         "the generator's bus, or a pair's two, comma-separated (A,B: one socket each, each "
         "event printed once, a line per member in --stats and metrics per member, votes "
         "for a takeover as a gateway does)"},
        {"topic", "MONITOR_TOPIC", CLI_STRING, &cfg->topic, 0, 0, "data topic"},
        {"json", "MONITOR_JSON", CLI_BOOL, &cfg->json, 0, 0, "print JSON lines"},
        {"heartbeats", "MONITOR_HEARTBEATS", CLI_BOOL, &cfg->heartbeats, 0, 0,
         "print heartbeats (the generator's status) too"},
        {"stats", "MONITOR_STATS", CLI_BOOL, &cfg->stats, 0, 0,
         "print rate, gaps and latency per interval instead of events"},
        {"stats-interval-ms", "MONITOR_STATS_INTERVAL_MS", CLI_INT, &cfg->stats_interval_ms, 100,
         3600000, "the --stats interval"},
        {"count", "MONITOR_COUNT", CLI_INT, &cfg->count, 0, 1000000000,
         "exit after this many events (0: run until SIGINT/SIGTERM)"},
        {"curve-server-key-file", "MONITOR_CURVE_SERVER_KEY_FILE", CLI_STRING,
         &cfg->curve_server_key_file, 0, 0, CURVE_SERVER_KEY_FILE_HELP},
        {"curve-secret-key-file", "MONITOR_CURVE_SECRET_KEY_FILE", CLI_STRING,
         &cfg->curve_secret_key_file, 0, 0, CURVE_SECRET_KEY_FILE_HELP},
        {"replay-from", "MONITOR_REPLAY_FROM", CLI_STRING, &cfg->replay_from, 0, 0,
         "EPOCH-SEQ (an SSE id): first print the events after it that the generator's "
         "replay socket still holds, then the live ones, in seq order, none twice, gaps "
         "fetched again; they count for --count; not with --stats"},
        {"replay-connect", "MONITOR_REPLAY_CONNECT", CLI_STRING, &cfg->replay_connect, 0, 0,
         "replay endpoint (empty: the host of the first tcp:// --connect endpoint, the port "
         "from the heartbeat's replay_port); the CURVE key flags apply to it as to the bus"},
        {"metrics", "MONITOR_METRICS", CLI_STRING, &cfg->metrics, 0, 0,
         "serve Prometheus metrics of the bus on this address:port at /metrics (empty: off)"},
    };
    const size_t n = sizeof opts / sizeof opts[0];
    char err[256];
    int rc = cli_parse(opts, n, argc, argv, err, sizeof err);
    if (cli_answer(rc, "monitor", "Prints the events of a generator's bus, one per line.", opts, n))
        return 1;
    if (rc == 0)
        rc = wire_topic_check(cfg->topic, err, sizeof err);
    if (rc == 0 &&
        (cfg->source_count = sources_split(cfg->connect, cfg->sources, err, sizeof err)) < 0)
        rc = -EINVAL;
    if (rc == 0)
        rc = curve_server_keys_split(cfg->curve_server_key_file, cfg->source_count,
                                     cfg->server_keys, err, sizeof err);
    if (rc == 0)
        rc = check_replay(cfg, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "monitor: %s\n", err);
    return rc;
}

static void print_number(const monitor_config_t *cfg, const wire_number_t *ev)
{
    const char *fmt = cfg->json ? "{\"topic\":\"%s\",\"epoch\":%" PRIu64 ",\"seq\":%" PRIu64
                                  ",\"value\":%" PRId32 ",\"published_ns\":%" PRId64 "}\n"
                                : "topic=%s epoch=%" PRIu64 " seq=%" PRIu64 " value=%" PRId32
                                  " published_ns=%" PRId64 "\n";
    printf(fmt, cfg->topic, ev->epoch, ev->seq, ev->value, ev->published_ns);
}

static void print_heartbeat(const monitor_config_t *cfg, const wire_heartbeat_t *hb)
{
    const char *fmt = cfg->json ? "{\"topic\":\"" WIRE_HEARTBEAT_TOPIC "\",\"epoch\":%" PRIu64
                                  ",\"last_seq\":%" PRIu64 ",\"publishing\":%s"
                                  ",\"subscriptions\":%" PRIu32 "}\n"
                                : "topic=" WIRE_HEARTBEAT_TOPIC " epoch=%" PRIu64
                                  " last_seq=%" PRIu64 " publishing=%s subscriptions=%" PRIu32 "\n";
    printf(fmt, hb->epoch, hb->last_seq, hb->publishing ? "true" : "false", hb->subscriptions);
}

/* The vote socket for source i at the replay port its heartbeats announce. */
static voter_t *voter_of(monitor_t *m, int i)
{
    const monitor_config_t *cfg = m->cfg;
    char err[256];
    voter_t *v =
        voter_follow(&m->voters[i], m->ctx, cfg->sources[i], m->sources.s[i].hb.replay_port,
                     cfg->server_keys[i], cfg->curve_secret_key_file, i, err, sizeof err);
    if (v == NULL && m->sources.s[i].hb.replay_port != 0)
        log_warn("cannot vote", "source=%s error=\"%s\"", cfg->sources[i], err);
    return v;
}

/* Prints (or counts, with --stats) one event, in order. Returns 1 once --count are out. */
static int on_number(void *arg, const wire_number_t *ev)
{
    monitor_t *m = arg;
    /* A pair's new active may send again what the old one published. */
    if (ev->epoch == m->last_epoch && ev->seq <= m->last_seq)
        return 0;
    m->last_epoch = ev->epoch;
    m->last_seq = ev->seq;
    sources_note_held(&m->sources, ev->epoch, ev->seq);
    if (m->exporter)
        exporter_event(m->exporter, ev->epoch, ev->seq, clock_wall_ns() - ev->published_ns);
    if (m->cfg->stats) {
        stats_event(&m->stats, ev->epoch, ev->seq, ev->published_ns, clock_wall_ns());
    } else {
        print_number(m->cfg, ev);
        fflush(stdout);
    }
    m->seen++;
    return m->cfg->count > 0 && m->seen >= m->cfg->count;
}

static int dispatch(monitor_t *m, int source, const wire_message_t *msg)
{
    int64_t now = clock_mono_ms();
    if (msg->kind == WIRE_NUMBER) {
        sources_event(&m->sources, (size_t)source, now);
        return m->catchup ? catchup_event(m->catchup, &msg->number) : on_number(m, &msg->number);
    }
    if (msg->kind != WIRE_HEARTBEAT) /* a pair's own topics: never subscribed to here */
        return 0;
    sources_heartbeat(&m->sources, (size_t)source, &msg->heartbeat, now);
    int active = sources_active(&m->sources, now) == source;
    if (m->exporter)
        exporter_heartbeat(m->exporter, source, active, &msg->heartbeat);
    if (m->cfg->heartbeats && !m->cfg->stats) {
        print_heartbeat(m->cfg, &msg->heartbeat);
        fflush(stdout);
    }
    if (!active) { /* a passive or starting member publishes nothing */
        if (m->cfg->source_count > 1)
            voter_of(m, source); /* connected before a vote is due */
        return 0;
    }
    /* The generator thinks nobody wants the topic, yet we do (see proto/rn.proto). */
    if (!msg->heartbeat.publishing && bus_socket_resubscribe(m->subs[source], m->cfg->topic) < 0)
        log_warn("cannot re-subscribe", "error=\"%s\"", zmq_strerror(zmq_errno()));
    if (m->catchup == NULL)
        return 0;
    const catchup_source_t from = {m->cfg->sources[source], m->cfg->server_keys[source], source};
    return catchup_heartbeat(m->catchup, &msg->heartbeat, &from);
}

/* Reads and reports one message. Returns 1 once --count events are out, 0 to go on,
 * -errno on error. */
static int read_message(monitor_t *m, int source)
{
    void *socket = m->subs[source];
    zmq_msg_t frames[2];
    int count, rc = bus_message_recv(socket, frames, &count, 0);
    wire_message_t msg;
    wire_error_t why = WIRE_ERR_FRAMES;
    if (rc == 0 && count == 2)
        why = wire_decode(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
                          zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), m->cfg->topic, &msg);
    zmq_msg_close(&frames[0]);
    zmq_msg_close(&frames[1]);
    if (rc < 0)
        return rc;
    if (why != WIRE_OK) {
        stats_malformed(&m->stats);
        if (m->exporter)
            exporter_malformed(m->exporter);
        log_warn("malformed message dropped", "reason=%s", wire_error_name(why));
        return 0;
    }
    return dispatch(m, source, &msg);
}

/* The SUB socket of source i. */
static int open_socket(void *ctx, const monitor_config_t *cfg, int i, void **out)
{
    const char *endpoint = cfg->sources[i];
    char err[512];
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int rc = sub && bus_socket_tune(sub, BUS_SOCKET_CONNECTS) == 0 && bus_socket_pin(sub, i) == 0 &&
                     zmq_setsockopt(sub, ZMQ_SUBSCRIBE, cfg->topic, strlen(cfg->topic)) == 0 &&
                     zmq_setsockopt(sub, ZMQ_SUBSCRIBE, WIRE_HEARTBEAT_TOPIC,
                                    strlen(WIRE_HEARTBEAT_TOPIC)) == 0
                 ? 0
                 : 1;
    if (rc == 0 && curve_client_from_flags(sub, cfg->server_keys[i], cfg->curve_secret_key_file,
                                           err, sizeof err) < 0) {
        fprintf(stderr, "monitor: %s\n", err);
        rc = 2;
    }
    if (rc == 0 && bus_socket_connect_all(sub, endpoint, err, sizeof err) < 0) {
        fprintf(stderr, "monitor: %s\n", err);
        rc = 1;
    }
    *out = sub;
    return rc;
}

/* As a gateway does (gateway/README.md, "A generator pair"): no active member heard for
 * the failover time, so each heard non-active one gets a vote. */
static void vote(monitor_t *m, int64_t now)
{
    const monitor_config_t *cfg = m->cfg;
    for (int i = 0; i < cfg->source_count; i++) {
        if (!sources_vote_due(&m->sources, (size_t)i, now))
            continue;
        if (voter_of(m, i) == NULL)
            continue;
        uint64_t epoch, seq;
        sources_vote_request(&m->sources, &epoch, &seq);
        if (voter_send(m->voters[i], epoch, seq) < 0)
            continue;
        if (m->exporter)
            exporter_vote(m->exporter, i);
        log_info("vote for a takeover", "source=%s epoch=%llu next_seq=%llu", cfg->sources[i],
                 (unsigned long long)epoch, (unsigned long long)seq);
    }
}

/* A member's state as --stats shows it: "unheard" before its first heartbeat, "silent"
 * when not heard for the failover time (gone, whatever it said last). */
static const char *member_state(const monitor_t *m, size_t i, int64_t now)
{
    const source_t *s = &m->sources.s[i];
    if (!s->heard)
        return "unheard";
    if (!sources_heard(&m->sources, i, now))
        return "silent";
    return sources_state_name(s->hb.state);
}

/* --stats with a pair: one line per member after each interval's report. */
static void report_members(const monitor_t *m)
{
    const monitor_config_t *cfg = m->cfg;
    int64_t now = clock_mono_ms();
    for (int i = 0; cfg->source_count > 1 && i < cfg->source_count; i++) {
        const source_t *s = &m->sources.s[i];
        const char *state = member_state(m, (size_t)i, now);
        printf(cfg->json ? "{\"member\":\"%s\",\"role\":\"%s\",\"state\":\"%s\","
                           "\"mirrored_seq\":%" PRIu64 ",\"takeovers\":%" PRIu64
                           ",\"votes\":%" PRIu64 "}\n"
                         : "member=%s role=%s state=%s mirrored_seq=%" PRIu64 " takeovers=%" PRIu64
                           " votes=%" PRIu64 "\n",
               cfg->sources[i], sources_role_name(s->hb.role), state, s->hb.mirrored_seq,
               s->hb.takeovers, s->votes);
    }
    fflush(stdout);
}

/* Until the next report or the next vote or change of the active member, -1: nothing is
 * due; only messages change anything before. */
static long poll_timeout(const monitor_t *m, int64_t last_report)
{
    int64_t now = clock_mono_ms(), due = sources_next_due(&m->sources, now);
    if (m->cfg->stats)
        due = clock_earliest(due, last_report + m->cfg->stats_interval_ms);
    return clock_wait_ms(due, now);
}

static int run(int signal_fd, monitor_t *m)
{
    const monitor_config_t *cfg = m->cfg;
    int n = cfg->source_count;
    int64_t last_report = clock_mono_ms();
    int rc = m->catchup ? catchup_start(m->catchup) : 0;
    zmq_pollitem_t items[SOURCES_MAX + 1];
    while (rc == 0) {
        for (int i = 0; i < n; i++)
            items[i] = (zmq_pollitem_t){m->subs[i], 0, ZMQ_POLLIN, 0};
        items[n] = (zmq_pollitem_t){NULL, signal_fd, ZMQ_POLLIN, 0};
        if (zmq_poll(items, n + 1, poll_timeout(m, last_report)) < 0 ||
            (items[n].revents & ZMQ_POLLIN))
            break;
        for (int i = 0; i < n && rc == 0; i++)
            if (items[i].revents & ZMQ_POLLIN)
                rc = read_message(m, i);
        int64_t now = clock_mono_ms();
        vote(m, now);
        if (cfg->stats && now - last_report >= cfg->stats_interval_ms) {
            stats_report(&m->stats, stdout, (double)(now - last_report) / 1000, cfg->json,
                         !cfg->json && isatty(STDOUT_FILENO));
            report_members(m);
            last_report = now;
        }
    }
    return rc < 0 ? 1 : 0;
}

/* Sets up --replay-from, if given. Returns 0, or 1 when out of memory. */
static int open_catchup(void *ctx, monitor_t *m)
{
    const monitor_config_t *cfg = m->cfg;
    if (cfg->replay_from[0] == '\0')
        return 0;
    /* The catchup replays from the active source (its heartbeats say where), or from
     * --replay-connect, whose generator's key is the first. */
    const catchup_config_t c = {cfg->replay_epoch, cfg->replay_seq, cfg->replay_connect,
                                cfg->server_keys[0], cfg->curve_secret_key_file};
    m->catchup = catchup_create(ctx, &c, on_number, m);
    if (m->catchup != NULL)
        return 0;
    fprintf(stderr, "monitor: out of memory for the replay\n");
    return 1;
}

/* Starts --metrics, if given. Returns 0, or 1 when it cannot listen. */
static int open_exporter(monitor_t *m)
{
    char err[512];
    if (m->cfg->metrics[0] == '\0')
        return 0;
    m->exporter =
        exporter_start(m->cfg->metrics, m->cfg->sources, m->cfg->source_count, err, sizeof err);
    if (m->exporter != NULL)
        return 0;
    fprintf(stderr, "monitor: %s\n", err);
    return 1;
}

int main(int argc, char **argv)
{
    log_set_program("monitor");
    monitor_config_t cfg;
    int rc = load_config(&cfg, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    monitor_t m = {.cfg = &cfg};
    stats_init(&m.stats);
    sigset_t set;
    int sfd = signals_block_stop(&set) == 0 ? signalfd(-1, &set, SFD_CLOEXEC) : -1;
    void *ctx = zmq_ctx_new();
    if (ctx && bus_context_threads(ctx, cfg.source_count) < 0) /* see bus_socket.h */
        log_warn("one I/O thread for every generator", "error=\"%s\"", zmq_strerror(zmq_errno()));
    m.ctx = ctx;
    sources_init(&m.sources, (size_t)cfg.source_count, clock_mono_ms());
    rc = sfd < 0 || ctx == NULL ? 1 : 0;
    for (int i = 0; rc == 0 && i < cfg.source_count; i++)
        rc = open_socket(ctx, &cfg, i, &m.subs[i]);
    if (rc == 0)
        rc = open_catchup(ctx, &m);
    if (rc == 0)
        rc = open_exporter(&m);
    if (rc == 0)
        rc = run(sfd, &m);
    catchup_destroy(m.catchup);
    exporter_stop(m.exporter);
    stats_deinit(&m.stats);
    for (int i = 0; i < cfg.source_count; i++) {
        if (m.subs[i])
            zmq_close(m.subs[i]);
        voter_destroy(m.voters[i]);
    }
    if (ctx)
        zmq_ctx_term(ctx);
    if (sfd >= 0)
        close(sfd);
    return rc;
}
