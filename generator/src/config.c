/* config.c -- generator flags: defaults, parsing, validation. */
#include "config.h"

#include "cli.h"
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char summary[] =
    "Publishes a random number on a ZeroMQ XPUB socket every interval, only while some\n"
    "subscriber wants the topic, plus a heartbeat on the \"_heartbeat\" topic.";

/* "auto": the bus endpoint with its TCP port + 1; off when the bus is not TCP. */
static void resolve_replay_bind(generator_config_t *cfg)
{
    if (strcmp(cfg->replay_bind, "auto") != 0)
        return;
    const char *colon = strrchr(cfg->bind, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (strncmp(cfg->bind, "tcp://", 6) != 0 || end == NULL || *end || port < 1 || port >= 65535) {
        cfg->replay_bind = "off";
        return;
    }
    snprintf(cfg->replay_bind_auto, sizeof cfg->replay_bind_auto, "%.*s:%ld",
             (int)(colon - cfg->bind), cfg->bind, port + 1);
    snprintf(cfg->replay_bind_any, sizeof cfg->replay_bind_any, "%.*s:*", (int)(colon - cfg->bind),
             cfg->bind);
    cfg->replay_bind = cfg->replay_bind_auto;
}

/* A pair needs both --role and --peer; the pair's own flags mean nothing without them. */
static int check_pair(const generator_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->role[0] && strcmp(cfg->role, "primary") != 0 && strcmp(cfg->role, "backup") != 0)
        snprintf(err, errlen, "--role: '%s' is not primary or backup", cfg->role);
    else if (cfg->role[0] && !cfg->peer[0])
        snprintf(err, errlen, "--role needs --peer (the other generator's bus)");
    else if (cfg->peer[0] && !cfg->role[0])
        snprintf(err, errlen, "--peer needs --role primary or --role backup");
    else if (!cfg->peer[0] && (cfg->peer_replay_connect[0] || cfg->curve_peer_key_file[0]))
        snprintf(err, errlen, "--peer-replay-connect and --curve-peer-key-file need --peer");
    else if (cfg->peer[0] && cfg->curve_secret_key_file[0] && !cfg->curve_peer_key_file[0])
        snprintf(err, errlen, "a pair with CURVE needs --curve-peer-key-file");
    else if (cfg->peer[0] && strcmp(cfg->replay_bind, "off") == 0)
        snprintf(err, errlen,
                 "a pair needs the replay socket (a TCP --bind, --replay-bind not off)");
    else if (cfg->peer[0] && cfg->failover_ms <= cfg->heartbeat_ms)
        snprintf(err, errlen, "--failover-ms %ld must exceed --heartbeat-ms %ld", cfg->failover_ms,
                 cfg->heartbeat_ms);
    else if (cfg->peer[0] && cfg->mirror_wait_ms >= cfg->failover_ms)
        snprintf(err, errlen, "--mirror-wait-ms %ld must be below --failover-ms %ld",
                 cfg->mirror_wait_ms, cfg->failover_ms);
    else
        return 0;
    return -EINVAL;
}

int generator_config_load(generator_config_t *cfg, int argc, char **argv)
{
    const char *level = "info";
    *cfg = (generator_config_t){.bind = "tcp://127.0.0.1:5556",
                                .topic = "number",
                                .curve_secret_key_file = "",
                                .curve_clients_file = "",
                                .replay_bind = "auto",
                                .replay_history = 3600,
                                .interval_ms = 1000,
                                .heartbeat_ms = 1000,
                                .min = 1,
                                .max = 100,
                                .hwm = 100000,
                                .role = "",
                                .peer = "",
                                .peer_replay_connect = "",
                                .curve_peer_key_file = "",
                                .failover_ms = 2000,
                                .mirror_wait_ms = 250};
    const cli_option_t opts[] = {
        {"bind", "GENERATOR_BIND", CLI_STRING, &cfg->bind, 0, 0, "ZeroMQ endpoint to bind"},
        {"topic", "GENERATOR_TOPIC", CLI_STRING, &cfg->topic, 0, 0, "data topic (frame 1)"},
        {"interval-ms", "GENERATOR_INTERVAL_MS", CLI_INT, &cfg->interval_ms, 1, 3600000,
         "milliseconds between numbers"},
        {"interval-us", "GENERATOR_INTERVAL_US", CLI_INT, &cfg->interval_us, 0, 3600000000L,
         "microseconds between numbers, for rates above 1000/s (0: use --interval-ms)"},
        {"heartbeat-ms", "GENERATOR_HEARTBEAT_MS", CLI_INT, &cfg->heartbeat_ms, 100, 60000,
         "milliseconds between heartbeats on the _heartbeat topic"},
        {"min", "GENERATOR_MIN", CLI_INT, &cfg->min, -1000000000, 1000000000, "smallest number"},
        {"max", "GENERATOR_MAX", CLI_INT, &cfg->max, -1000000000, 1000000000, "largest number"},
        {"hwm", "GENERATOR_HWM", CLI_INT, &cfg->hwm, 1, 10000000,
         "messages queued per subscriber before ZeroMQ drops (send high-water mark)"},
        {"curve-secret-key-file", "GENERATOR_CURVE_SECRET_KEY_FILE", CLI_STRING,
         &cfg->curve_secret_key_file, 0, 0,
         "our CURVE secret key (keygen NAME writes NAME.key): encrypts the bus"},
        {"curve-clients-file", "GENERATOR_CURVE_CLIENTS_FILE", CLI_STRING, &cfg->curve_clients_file,
         0, 0, "public keys of the subscribers allowed, one per line (needs a secret key)"},
        {"replay-bind", "GENERATOR_REPLAY_BIND", CLI_STRING, &cfg->replay_bind, 0, 0,
         "ZeroMQ endpoint of the replay socket, which answers requests for recent events "
         "(auto: the bus port + 1, or any free port when that is taken; heartbeats say which; "
         "off: none)"},
        {"replay-history", "GENERATOR_REPLAY_HISTORY", CLI_INT, &cfg->replay_history, 1, 10000000,
         "events kept for replay"},
        {"epoch", "GENERATOR_EPOCH", CLI_INT, &cfg->epoch, 0, 9007199254740991L,
         "this run's epoch (0: the start time in Unix ms); it must differ from the previous "
         "run's: subscribers take any change as a new stream and drop a repeated (epoch, "
         "seq) as stale"},
        {"log-level", "GENERATOR_LOG_LEVEL", CLI_STRING, &level, 0, 0, LOG_LEVEL_HELP},
        {"role", "GENERATOR_ROLE", CLI_STRING, &cfg->role, 0, 0,
         "primary or backup: one of a pair (needs --peer; see generator/README.md); empty: "
         "a single generator"},
        {"peer", "GENERATOR_PEER", CLI_STRING, &cfg->peer, 0, 0,
         "the other generator's bus endpoint, for a pair (needs --role)"},
        {"failover-ms", "GENERATOR_FAILOVER_MS", CLI_INT, &cfg->failover_ms, 100, 600000,
         "a pair: silence of the active after which a vote makes the passive take over "
         "(above --heartbeat-ms)"},
        {"mirror-wait-ms", "GENERATOR_MIRROR_WAIT_MS", CLI_INT, &cfg->mirror_wait_ms, 1, 60000,
         "a pair: how long the active waits for the passive's ack of an event before "
         "publishing it alone (below --failover-ms)"},
        {"curve-peer-key-file", "GENERATOR_CURVE_PEER_KEY_FILE", CLI_STRING,
         &cfg->curve_peer_key_file, 0, 0,
         "a pair with CURVE: the peer's public key; we connect with our own key pair, so "
         "each one's public key must be on the other's allow-list"},
        {"peer-replay-connect", "GENERATOR_PEER_REPLAY_CONNECT", CLI_STRING,
         &cfg->peer_replay_connect, 0, 0,
         "a pair: the peer's replay endpoint (default: the --peer host with the port its "
         "heartbeats announce)"},
    };
    const size_t count = sizeof opts / sizeof opts[0];
    char err[256];
    int rc = cli_parse(opts, count, argc, argv, err, sizeof err);
    if (cli_answer(rc, "generator", summary, opts, count))
        return 1;
    if (rc == 0 && cfg->interval_us == 0)
        cfg->interval_us = cfg->interval_ms * 1000;
    if (rc == 0 && cfg->min > cfg->max) {
        snprintf(err, sizeof err, "--min %ld is larger than --max %ld", cfg->min, cfg->max);
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = wire_topic_check(cfg->topic, err, sizeof err);
    if (rc == 0)
        resolve_replay_bind(cfg);
    if (rc == 0 && cfg->curve_clients_file[0] && !cfg->curve_secret_key_file[0]) {
        snprintf(err, sizeof err, "--curve-clients-file needs --curve-secret-key-file");
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = check_pair(cfg, err, sizeof err);
    if (rc == 0 && log_level_parse(level, &cfg->log_level) < 0) {
        snprintf(err, sizeof err, "--log-level: '%s' is not debug, info, warn or error", level);
        rc = -EINVAL;
    }
    if (rc < 0)
        fprintf(stderr, "generator: %s\n", err);
    return rc;
}
