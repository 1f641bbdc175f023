/* config.h -- the gateway's settings, from flags and environment. Filled by main before
 * any thread starts and read-only afterwards. */
#ifndef GATEWAY_CONFIG_H
#define GATEWAY_CONFIG_H

#include "curve.h"
#include "log.h"
#include "sources.h"

/* Open files the gateway needs besides its connections: ZeroMQ's sockets and mailboxes,
 * the replay connections, eventfds, the listening sockets, stdio (25 when idle), and an
 * epoll and an eventfd per writer. */
#define CONFIG_FD_BASE 40
#define CONFIG_FD_PER_WRITER 2

/* Connections civetweb's master has taken from the gate and queued for a worker
 * (civetweb's connection_queue): counted apart, as they are neither the gate's nor a
 * worker's yet. Past it the master waits, and complete heads wait in the gate's queue. */
#define CONFIG_CIVET_QUEUE 8

/* The accept gate (gate.c) holds connections while their request head arrives, and
 * complete ones until civetweb's master takes them: at most this many of each, or, when
 * the open-file limit is low, a quarter and a sixteenth of the files left after the
 * overhead and the workers. The gate and the streams share those files: a stream begins
 * as a connection in the gate, and the gate takes a file only while gate and streams
 * together stay within them. CONFIG_GATE_RESERVED of them are kept from --max-clients,
 * so that a full gateway still accepts, answers 503 and serves /healthz; past the shared
 * bound the oldest waiting connection (a slow or hostile one) is closed to make room. */
#define CONFIG_GATE_WAITING 256
#define CONFIG_GATE_READY 64
#define CONFIG_GATE_RESERVED 48

typedef struct {
    const char *listen;
    const char *connect; /* one or more ZeroMQ endpoints, comma-separated */
    /* connect, split: one generator each (a pair's two members), each on its own socket */
    char sources[SOURCES_MAX][SOURCES_ENDPOINT_MAX];
    int source_count;
    const char *topic;
    const char *web_root;
    char web_root_found[4096];         /* where web_root points when found beside the program */
    const char *curve_server_key_file; /* the generators' public keys; "": CURVE off */
    /* curve_server_key_file, split: the public key file of each source ("": CURVE off) */
    char server_keys[SOURCES_MAX][CURVE_PATH_MAX];
    const char *curve_secret_key_file; /* ours */
    const char *cors_origins;          /* "": same-origin only, "*", or a comma-separated list */
    const char *replay_connect;        /* "": from the heartbeats, "off": no replay */
    int on_demand;
    long threads;
    long max_clients;
    long history;
    long max_lag;
    long heartbeat_ms;
    long retry_ms;
    long bus_timeout_ms;
    long write_timeout_ms;
    long header_timeout_ms;
    long drain_ms;
    long warm_timeout_ms;
    long coalesce_ms;
    long writers;
    log_level_t log_level;
    /* derived from the open-file limit: the gate's bounds, and the files the gate and the
     * streams share */
    long gate_waiting, gate_ready, gate_shared;
} gateway_config_t;

/* Returns 0 when the gateway should run, 1 after --help, -EINVAL after printing why. */
int gateway_config_load(gateway_config_t *cfg, int argc, char **argv)
    __attribute__((warn_unused_result));

#endif
