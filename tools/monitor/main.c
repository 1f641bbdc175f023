/* main.c -- the monitor: one more subscriber on the bus. It decodes the generator's events
 * with the wire contract and prints one line per event (logfmt, or JSON with --json), or
 * with --stats the rate, gaps and latency of each interval. */
#include "bus_socket.h"
#include "clock.h"
#include "cli.h"
#include "curve.h"
#include "log.h"
#include "signals.h"
#include "stats.h"
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
    long count; /* stop after this many events, 0: never */
} monitor_config_t;

static int load_config(monitor_config_t *cfg, int argc, char **argv)
{
    *cfg = (monitor_config_t){"tcp://127.0.0.1:5556", "number", "", "", 0, 0, 0, 1000, 0};
    const cli_option_t opts[] = {
        {"connect", "MONITOR_CONNECT", CLI_STRING, &cfg->connect, 0, 0,
         "generator endpoint(s), comma-separated"},
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
         &cfg->curve_server_key_file, 0, 0, "the generator's CURVE public key (NAME.pub)"},
        {"curve-secret-key-file", "MONITOR_CURVE_SECRET_KEY_FILE", CLI_STRING,
         &cfg->curve_secret_key_file, 0, 0, "our CURVE secret key (NAME.key)"},
    };
    const size_t n = sizeof opts / sizeof opts[0];
    char err[256];
    int rc = cli_parse(opts, n, argc, argv, err, sizeof err);
    if (rc == 1) {
        cli_usage(stdout, "monitor", "Prints the events of a generator's bus, one per line.",
                  opts, n);
        return 1;
    }
    if (rc == 0)
        rc = wire_topic_check(cfg->topic, err, sizeof err);
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
                                  " last_seq=%" PRIu64 " publishing=%s subscriptions=%" PRIu32
                                  "\n";
    printf(fmt, hb->epoch, hb->last_seq, hb->publishing ? "true" : "false", hb->subscriptions);
}

/* Reads and reports one message. Returns 1 for an event, 0 otherwise, -errno on error. */
static int read_message(void *socket, const monitor_config_t *cfg, stats_t *st)
{
    zmq_msg_t frames[2];
    int count, rc = bus_message_recv(socket, frames, &count, 0);
    wire_message_t msg;
    wire_error_t why = WIRE_ERR_FRAMES;
    if (rc == 0 && count == 2)
        why = wire_decode(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
                          zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), cfg->topic, &msg);
    zmq_msg_close(&frames[0]);
    zmq_msg_close(&frames[1]);
    if (rc < 0)
        return rc;
    if (why != WIRE_OK) {
        stats_malformed(st);
        log_warn("malformed message dropped", "reason=%s", wire_error_name(why));
        return 0;
    }
    if (msg.kind == WIRE_NUMBER && cfg->stats)
        stats_event(st, msg.number.epoch, msg.number.seq, msg.number.published_ns,
                    clock_wall_ns());
    else if (msg.kind == WIRE_NUMBER)
        print_number(cfg, &msg.number);
    else if (cfg->heartbeats && !cfg->stats)
        print_heartbeat(cfg, &msg.heartbeat);
    fflush(stdout);
    return msg.kind == WIRE_NUMBER;
}

static int open_socket(void *ctx, const monitor_config_t *cfg, void **out)
{
    char err[512];
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int rc = sub && bus_socket_tune(sub) == 0 &&
                     zmq_setsockopt(sub, ZMQ_SUBSCRIBE, cfg->topic, strlen(cfg->topic)) == 0 &&
                     zmq_setsockopt(sub, ZMQ_SUBSCRIBE, WIRE_HEARTBEAT_TOPIC,
                                    strlen(WIRE_HEARTBEAT_TOPIC)) == 0
                 ? 0
                 : 1;
    if (rc == 0 && curve_client_from_flags(sub, cfg->curve_server_key_file,
                                           cfg->curve_secret_key_file, err, sizeof err) < 0) {
        fprintf(stderr, "monitor: %s\n", err);
        rc = 2;
    }
    if (rc == 0 && bus_socket_connect_all(sub, cfg->connect, err, sizeof err) < 0) {
        fprintf(stderr, "monitor: %s\n", err);
        rc = 1;
    }
    *out = sub;
    return rc;
}

static int run(void *sub, int signal_fd, const monitor_config_t *cfg)
{
    stats_t st;
    stats_init(&st);
    int64_t last_report = clock_mono_ms();
    long seen = 0;
    int rc = 0;
    while (rc >= 0 && (cfg->count == 0 || seen < cfg->count)) {
        zmq_pollitem_t items[] = {{sub, 0, ZMQ_POLLIN, 0}, {NULL, signal_fd, ZMQ_POLLIN, 0}};
        long wait = cfg->stats ? cfg->stats_interval_ms - (clock_mono_ms() - last_report) : -1;
        if (zmq_poll(items, 2, wait < 0 && cfg->stats ? 0 : wait) < 0 ||
            (items[1].revents & ZMQ_POLLIN))
            break;
        if (items[0].revents & ZMQ_POLLIN)
            seen += (rc = read_message(sub, cfg, &st)) > 0;
        int64_t now = clock_mono_ms();
        if (cfg->stats && now - last_report >= cfg->stats_interval_ms) {
            stats_report(&st, stdout, (double)(now - last_report) / 1000, cfg->json,
                         !cfg->json && isatty(STDOUT_FILENO));
            last_report = now;
        }
    }
    stats_deinit(&st);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    log_set_program("monitor");
    monitor_config_t cfg;
    int rc = load_config(&cfg, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    sigset_t set;
    int sfd = signals_block_stop(&set) == 0 ? signalfd(-1, &set, SFD_CLOEXEC) : -1;
    void *ctx = zmq_ctx_new(), *sub = NULL;
    rc = sfd < 0 || ctx == NULL ? 1 : open_socket(ctx, &cfg, &sub);
    if (rc == 0)
        rc = run(sub, sfd, &cfg);
    if (sub)
        zmq_close(sub);
    if (ctx)
        zmq_ctx_term(ctx);
    if (sfd >= 0)
        close(sfd);
    return rc;
}
