/* config.c -- gateway flags: defaults, parsing, validation. */
#include "config.h"

#include "cli.h"
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef RN_WEB_ROOT
#define RN_WEB_ROOT ""
#endif
#ifndef RN_DATADIR
#define RN_DATADIR "share"
#endif

static const char summary[] =
    "Subscribes to a generator's ZeroMQ stream and relays it to browsers as Server-Sent\n"
    "Events, serving the htmx page, its fragment, health checks and metrics.";

/* The web root when none is given: beside the program, as installed (BIN/../share/rn/web)
 * or as built (build/bin/../webroot), the first that holds index.html. Empty when neither
 * does. Relative to the program, so an install under any prefix finds its own. */
static void find_web_root(char *out, size_t cap)
{
    static const char *const layouts[] = {"../" RN_DATADIR "/rn/web", "../webroot"};
    char dir[PATH_MAX], index[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        snprintf(index, sizeof index, "%s/%s/index.html", dir, layouts[i]);
        if (access(index, R_OK) == 0) {
            int len = snprintf(out, cap, "%s/%s", dir, layouts[i]);
            if (len < 0 || (size_t)len >= cap)
                out[0] = '\0';
            return;
        }
    }
}

/* The soft limit on open files, raised to the hard one first: one file per connection. */
static long open_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return 1024;
    }
    return rl.rlim_cur > 1000000000 ? 1000000000 : (long)rl.rlim_cur;
}

/* civetweb marks a TLS port with an 's' (and a redirect to TLS with an 'r'). Streams
 * leave civetweb as plain sockets, and Debian's civetweb cannot do TLS: TLS ends at the
 * load balancer. */
static int listen_check(const char *listen, char *err, size_t errlen)
{
    for (const char *p = listen; *p;) {
        size_t n = strcspn(p, ",");
        if (n > 0 && (p[n - 1] == 's' || p[n - 1] == 'r')) {
            snprintf(err, errlen,
                     "--listen '%.*s': the gateway serves plain HTTP only (end TLS at the "
                     "load balancer)",
                     (int)n, p);
            return -EINVAL;
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

static long clamp(long v, long lo, long hi)
{
    if (v < lo)
        return lo;
    return v > hi ? hi : v;
}

/* Shares the open files out: the overhead, the workers' connections, and what is left
 * for the accept gate and the SSE clients together, less the gate's reserve (the default
 * --max-clients, or the ceiling of one given). Past the limit accept() fails, and the gate
 * would close waiting connections to make room, or pause, while a client waits
 * unanswered: refuse with 503 before that. */
static int budget_files(gateway_config_t *cfg, char *err, size_t errlen)
{
    long limit = open_file_limit();
    long overhead = CONFIG_FD_BASE + CONFIG_FD_PER_WRITER * cfg->writers + CONFIG_CIVET_QUEUE;
    long spare = limit - overhead - cfg->threads;
    cfg->gate_waiting = clamp(spare / 4, 1, CONFIG_GATE_WAITING);
    cfg->gate_ready = clamp(spare / 16, 1, CONFIG_GATE_READY);
    cfg->gate_shared = spare;
    long reserved = clamp(spare / 8, 1, CONFIG_GATE_RESERVED);
    long files = spare - reserved;
    if (cfg->max_clients == 0)
        cfg->max_clients = files;
    if (cfg->max_clients > files || cfg->max_clients < 1) {
        long want = cfg->max_clients > 1 ? cfg->max_clients : 1;
        snprintf(err, errlen,
                 "%ld SSE clients need %ld open files (%ld for the gateway, %ld for the HTTP "
                 "workers, %ld kept for the accept gate), the limit is %ld: raise ulimit -n "
                 "or lower --max-clients",
                 want, want + overhead + cfg->threads + reserved, overhead, cfg->threads, reserved,
                 limit);
        return -EINVAL;
    }
    return 0;
}

static int validate(gateway_config_t *cfg, const char *level, char *err, size_t errlen)
{
    if (listen_check(cfg->listen, err, errlen) < 0)
        return -EINVAL;
    if (wire_topic_check(cfg->topic, err, errlen) < 0)
        return -EINVAL;
    char why[200];
    cfg->source_count = sources_split(cfg->connect, cfg->sources, why, sizeof why);
    if (cfg->source_count < 0) {
        snprintf(err, errlen, "--connect: %s", why);
        return -EINVAL;
    }
    if (curve_server_keys_split(cfg->curve_server_key_file, cfg->source_count, cfg->server_keys,
                                err, errlen) < 0)
        return -EINVAL;
    /* One fixed replay socket cannot follow a pair's active member. */
    if (cfg->source_count > 1 && cfg->replay_connect[0] && strcmp(cfg->replay_connect, "off")) {
        snprintf(err, errlen,
                 "--replay-connect names one generator's replay socket: with "
                 "several --connect endpoints it follows the active one's heartbeats");
        return -EINVAL;
    }
    if (log_level_parse(level, &cfg->log_level) < 0) {
        snprintf(err, errlen, "--log-level: '%s' is not debug, info, warn or error", level);
        return -EINVAL;
    }
    if (cfg->writers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->writers = clamp(cores, 1, 64);
    }
    if (budget_files(cfg, err, errlen) < 0)
        return -EINVAL;
    if (cfg->max_lag == 0 || cfg->max_lag >= cfg->history)
        cfg->max_lag = cfg->history / 2;
    return 0;
}

int gateway_config_load(gateway_config_t *cfg, int argc, char **argv)
{
    const char *level = "info";
    *cfg = (gateway_config_t){.listen = "127.0.0.1:8080",
                              .connect = "tcp://127.0.0.1:5556",
                              .topic = "number",
                              .web_root = RN_WEB_ROOT,
                              .cors_origins = "",
                              .replay_connect = "",
                              .curve_server_key_file = "",
                              .curve_secret_key_file = "",
                              .threads = 16,
                              .history = 1024,
                              .heartbeat_ms = 15000,
                              .retry_ms = 2000,
                              .bus_timeout_ms = 3500,
                              .write_timeout_ms = 10000,
                              .header_timeout_ms = 5000,
                              .drain_ms = 3000,
                              .warm_timeout_ms = 5000,
                              .writers = 0};
    const cli_option_t opts[] = {
        {"listen", "GATEWAY_LISTEN", CLI_STRING, &cfg->listen, 0, 0,
         "HTTP address:port (civetweb syntax)"},
        {"connect", "GATEWAY_CONNECT", CLI_STRING, &cfg->connect, 0, 0,
         "the generator's bus endpoint, or a pair's two, comma-separated (A,B: one socket "
         "each; events from either, replay from the active one, votes for a takeover: "
         "gateway/README.md)"},
        {"topic", "GATEWAY_TOPIC", CLI_STRING, &cfg->topic, 0, 0, "data topic to relay"},
        {"on-demand", "GATEWAY_ON_DEMAND", CLI_BOOL, &cfg->on_demand, 0, 0,
         "subscribe to the data topic only while some SSE client is connected"},
        {"threads", "GATEWAY_THREADS", CLI_INT, &cfg->threads, 2, 1024,
         "HTTP worker threads: they answer the page, fragment, health, metrics and the head of "
         "each stream, which then leaves its worker for a writer"},
        {"max-clients", "GATEWAY_MAX_CLIENTS", CLI_INT, &cfg->max_clients, 0, 10000000,
         "SSE clients admitted before answering 503 (0: as many as the open-file limit "
         "allows)"},
        {"history", "GATEWAY_HISTORY", CLI_INT, &cfg->history, 16, 10000000,
         "events kept for slow readers and resuming clients"},
        {"max-lag", "GATEWAY_MAX_LAG", CLI_INT, &cfg->max_lag, 0, 10000000,
         "events a client may fall behind before it is dropped (0: history / 2)"},
        {"heartbeat-ms", "GATEWAY_HEARTBEAT_MS", CLI_INT, &cfg->heartbeat_ms, 100, 600000,
         "an SSE comment is sent after this long without an event"},
        {"retry-ms", "GATEWAY_RETRY_MS", CLI_INT, &cfg->retry_ms, 0, 600000,
         "reconnect delay advised to browsers (SSE retry:)"},
        {"bus-timeout-ms", "GATEWAY_BUS_TIMEOUT_MS", CLI_INT, &cfg->bus_timeout_ms, 100, 600000,
         "the generator counts as down after this long without a message"},
        {"write-timeout-ms", "GATEWAY_WRITE_TIMEOUT_MS", CLI_INT, &cfg->write_timeout_ms, 100,
         600000,
         "a write the client's socket cannot take at once must be taken whole within this "
         "long, however slowly the client reads, or the client is dropped"},
        {"header-timeout-ms", "GATEWAY_HEADER_TIMEOUT_MS", CLI_INT, &cfg->header_timeout_ms, 100,
         600000, "a connection must send its request headers within this long, or it gets 408"},
        {"coalesce-ms", "GATEWAY_COALESCE_MS", CLI_INT, &cfg->coalesce_ms, 0, 1000,
         "wake clients at most once per this many ms, sending what came meanwhile in one "
         "write: less CPU at high event rates for up to this much latency (0: at once)"},
        {"writers", "GATEWAY_WRITERS", CLI_INT, &cfg->writers, 0, 64,
         "threads that own the SSE streams, each an event loop (0: one per core)"},
        {"drain-ms", "GATEWAY_DRAIN_MS", CLI_INT, &cfg->drain_ms, 0, 600000,
         "on SIGTERM: not ready and refusing new streams; each stream closes at a random "
         "moment within this long"},
        {"replay-connect", "GATEWAY_REPLAY_CONNECT", CLI_STRING, &cfg->replay_connect, 0, 0,
         "the generator's replay endpoint, to fetch history and missed events (empty: the "
         "active source's --connect host and the port its heartbeats announce; off: no "
         "replay); refused with several --connect endpoints"},
        {"warm-timeout-ms", "GATEWAY_WARM_TIMEOUT_MS", CLI_INT, &cfg->warm_timeout_ms, 0, 600000,
         "at start, not ready until the history is fetched from the generator, for "
         "at most this long"},
        {"cors-origins", "GATEWAY_CORS_ORIGINS", CLI_STRING, &cfg->cors_origins, 0, 0,
         "origins allowed to read the stream and fragment cross-origin: '*' or a comma list "
         "(empty: same-origin only)"},
        {"curve-server-key-file", "GATEWAY_CURVE_SERVER_KEY_FILE", CLI_STRING,
         &cfg->curve_server_key_file, 0, 0, CURVE_SERVER_KEY_FILE_HELP},
        {"curve-secret-key-file", "GATEWAY_CURVE_SECRET_KEY_FILE", CLI_STRING,
         &cfg->curve_secret_key_file, 0, 0, CURVE_SECRET_KEY_FILE_HELP},
        {"web-root", "GATEWAY_WEB_ROOT", CLI_STRING, &cfg->web_root, 0, 0,
         "directory with index.html, app.css, favicon.svg, shared-stream.js, htmx.min.js, "
         "hx-sse.min.js (none: beside the program, ../" RN_DATADIR "/rn/web as installed or "
         "../webroot in the build tree)"},
        {"log-level", "GATEWAY_LOG_LEVEL", CLI_STRING, &level, 0, 0, LOG_LEVEL_HELP},
    };
    const size_t count = sizeof opts / sizeof opts[0];
    char err[256];
    int rc = cli_parse(opts, count, argc, argv, err, sizeof err);
    if (cli_answer(rc, "gateway", summary, opts, count))
        return 1;
    if (rc == 0 && cfg->web_root[0] == '\0') {
        find_web_root(cfg->web_root_found, sizeof cfg->web_root_found);
        cfg->web_root = cfg->web_root_found;
    }
    if (rc == 0 && cfg->web_root[0] == '\0') {
        snprintf(err, sizeof err,
                 "no web root beside the program (../" RN_DATADIR
                 "/rn/web or ../webroot): give --web-root");
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = validate(cfg, level, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "gateway: %s\n", err);
    return rc;
}
