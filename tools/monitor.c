/* monitor.c -- one more subscriber on the bus: decodes the generator's events with the
 * wire contract and prints one line per event (logfmt, or JSON with --json). */
#include "bus_socket.h"
#include "cli.h"
#include "log.h"
#include "wire.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    const char *connect;
    const char *topic;
    int json;
    int heartbeats;
    long count; /* stop after this many events, 0: never */
} monitor_config_t;

static int load_config(monitor_config_t *cfg, int argc, char **argv)
{
    *cfg = (monitor_config_t){"tcp://127.0.0.1:5556", "number", 0, 0, 0};
    const cli_option_t opts[] = {
        {"connect", "MONITOR_CONNECT", CLI_STRING, &cfg->connect, 0, 0,
         "generator endpoint(s), comma-separated"},
        {"topic", "MONITOR_TOPIC", CLI_STRING, &cfg->topic, 0, 0, "data topic"},
        {"json", "MONITOR_JSON", CLI_BOOL, &cfg->json, 0, 0, "print JSON lines"},
        {"heartbeats", "MONITOR_HEARTBEATS", CLI_BOOL, &cfg->heartbeats, 0, 0,
         "print heartbeats too"},
        {"count", "MONITOR_COUNT", CLI_INT, &cfg->count, 0, 1000000000,
         "exit after this many events (0: run until SIGINT/SIGTERM)"},
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
                                  ",\"last_seq\":%" PRIu64 ",\"publishing\":%s}\n"
                                : "topic=" WIRE_HEARTBEAT_TOPIC " epoch=%" PRIu64
                                  " last_seq=%" PRIu64 " publishing=%s\n";
    printf(fmt, hb->epoch, hb->last_seq, hb->publishing ? "true" : "false");
}

/* Reads one two-frame message and prints it. Returns 1 for an event, 0 otherwise. */
static int read_message(void *socket, const monitor_config_t *cfg)
{
    char topic[WIRE_TOPIC_MAX + 1];
    unsigned char payload[1024];
    int more = 0;
    size_t more_len = sizeof more;
    int tlen = zmq_recv(socket, topic, sizeof topic, 0);
    int frames = tlen < 0 ? 0 : 1, plen = 0;
    while (tlen >= 0 && zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &more_len) == 0 && more) {
        int n = zmq_recv(socket, payload, sizeof payload, 0);
        plen = frames == 1 ? n : plen;
        frames++;
    }
    wire_message_t msg;
    wire_error_t rc = frames != 2 || plen < 0 || plen > (int)sizeof payload ||
                              tlen > (int)sizeof topic
                          ? WIRE_ERR_FRAMES
                          : wire_decode(topic, (size_t)tlen, payload, (size_t)plen, cfg->topic,
                                        &msg);
    if (tlen >= 0 && rc != WIRE_OK) {
        log_warn("malformed message dropped", "reason=%s", wire_error_name(rc));
        return 0;
    }
    if (tlen < 0)
        return 0;
    if (msg.kind == WIRE_NUMBER)
        print_number(cfg, &msg.number);
    else if (cfg->heartbeats)
        print_heartbeat(cfg, &msg.heartbeat);
    fflush(stdout);
    return msg.kind == WIRE_NUMBER;
}

static int connect_endpoints(void *socket, const char *list)
{
    char copy[1024], *save = NULL;
    snprintf(copy, sizeof copy, "%s", list);
    for (char *ep = strtok_r(copy, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
        if (zmq_connect(socket, ep) != 0) {
            fprintf(stderr, "monitor: cannot connect to '%s': %s\n", ep,
                    zmq_strerror(zmq_errno()));
            return -EINVAL;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    log_set_program("monitor");
    monitor_config_t cfg;
    int rc = load_config(&cfg, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    if (sfd < 0 || sub == NULL || bus_socket_tune(sub) < 0 ||
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, cfg.topic, strlen(cfg.topic)) != 0 ||
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, WIRE_HEARTBEAT_TOPIC, strlen(WIRE_HEARTBEAT_TOPIC)) != 0)
        rc = 1;
    else if (connect_endpoints(sub, cfg.connect) < 0)
        rc = 2;
    long seen = 0;
    while (rc == 0 && (cfg.count == 0 || seen < cfg.count)) {
        zmq_pollitem_t items[] = {{sub, 0, ZMQ_POLLIN, 0}, {NULL, sfd, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, -1) < 0 || (items[1].revents & ZMQ_POLLIN))
            break;
        seen += read_message(sub, &cfg);
    }
    if (sub)
        zmq_close(sub);
    zmq_ctx_term(ctx);
    if (sfd >= 0)
        close(sfd);
    return rc;
}
