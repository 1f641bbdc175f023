/* config.h -- the generator's settings, from flags and environment. */
#ifndef GENERATOR_CONFIG_H
#define GENERATOR_CONFIG_H

#include "log.h"

/* The I/O threads of the generator's ZeroMQ context: its bus and replay sockets on one,
 * and in a pair, the connections to its peer on the other, so that a peer whose name no
 * longer resolves (see common/bus_socket.h) never holds up what it publishes. */
enum { GENERATOR_IO_THREAD = 0, GENERATOR_PEER_IO_THREAD = 1, GENERATOR_IO_THREADS_PAIR = 2 };

typedef struct {
    const char *bind;
    const char *topic;
    const char *curve_secret_key_file; /* "": CURVE off */
    const char *curve_clients_file;    /* "": any client with our public key */
    const char *replay_bind;           /* "off": no replay socket */
    char replay_bind_auto[256];        /* the bus endpoint's port + 1, when "auto" */
    char replay_bind_any[256];         /* "auto" falls back to any free port of the host */
    long replay_history;
    long epoch; /* 0: the start time in Unix ms */
    long interval_ms;
    long interval_us; /* 0: interval_ms decides */
    long heartbeat_ms;
    long min;
    long max;
    long hwm;
    log_level_t log_level;
    /* A pair (generator/README.md): all "" and unused without --peer. */
    const char *role;                /* "primary" or "backup" */
    const char *peer;                /* the other generator's bus endpoint */
    const char *peer_replay_connect; /* "": the peer's host, its heartbeats' replay port */
    const char *curve_peer_key_file; /* the peer's CURVE public key */
    long failover_ms;
    long mirror_wait_ms;
} generator_config_t;

/* Returns 0 when the generator should run, 1 after --help, -EINVAL after printing why. */
int generator_config_load(generator_config_t *cfg, int argc, char **argv)
    __attribute__((warn_unused_result));

#endif
