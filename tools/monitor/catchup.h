/* catchup.h -- monitor --replay-from: the events of one epoch after a given seq, fetched
 * from the generator's replay socket, then the live ones, in seq order, each once. Live
 * events that arrive before the replay is answered wait in a buffer; a later jump in seq
 * is filled from the replay socket too. Owned by the monitor's only thread. */
#ifndef MONITOR_CATCHUP_H
#define MONITOR_CATCHUP_H

#include "wire.h"

#include <stddef.h>
#include <stdint.h>

/* Receives each event in order. Returns 1 to stop (--count reached), 0 to go on. */
typedef int (*catchup_emit_fn)(void *arg, const wire_number_t *ev);

typedef struct {
    uint64_t epoch;
    uint64_t after_seq;                /* the first event wanted is after_seq + 1 */
    const char *replay_connect;        /* "": the active source's, as its heartbeats announce */
    const char *curve_server_key_file; /* --replay-connect's generator's; "" for none */
    const char *curve_secret_key_file; /* "" for none */
} catchup_config_t;

/* The --connect source whose heartbeat is passed: the active one, whose replay socket
 * holds the events (a pair's members are on hosts of their own). */
typedef struct {
    const char *bus;                   /* its endpoint */
    const char *curve_server_key_file; /* its key; "" for none */
    int io_thread;                     /* the I/O thread serving it (bus_socket.h) */
} catchup_source_t;

typedef struct catchup catchup_t;

/* Parses "EPOCH-SEQ", an event id (event_id.h) naming a position: epoch >= 1, seq below
 * UINT64_MAX. Returns 0, or -EINVAL with the reason in err. */
int catchup_parse_position(const char *text, uint64_t *epoch, uint64_t *seq, char *err,
                           size_t errlen) __attribute__((warn_unused_result));

/* The strings of cfg are borrowed and must outlive the catchup. NULL when out of memory. */
catchup_t *catchup_create(void *zmq_context, const catchup_config_t *cfg, catchup_emit_fn emit,
                          void *arg);
void catchup_destroy(catchup_t *c);

/* Replays now if the endpoint was given; otherwise the first heartbeat will. The three
 * return 1 when emit asked to stop, else 0: a replay that fails is reported on stderr and
 * the monitor goes on with live events. */
int catchup_start(catchup_t *c) __attribute__((warn_unused_result));
int catchup_heartbeat(catchup_t *c, const wire_heartbeat_t *hb, const catchup_source_t *from)
    __attribute__((warn_unused_result));
int catchup_event(catchup_t *c, const wire_number_t *ev) __attribute__((warn_unused_result));

#endif
