/* gate.h -- an accept filter in front of civetweb: a connection reaches a worker only once
 * its whole request head has arrived, so half-sent requests never hold a worker. */
#ifndef GATEWAY_GATE_H
#define GATEWAY_GATE_H

#include "handoff.h"
#include "metrics.h"

#include <stddef.h>

typedef struct gate gate_t;

typedef struct {
    long header_timeout_ms; /* a head not complete by then: closed with 408 */
    size_t head_max;        /* a head this long is handed over unfinished (civetweb refuses it) */
    long waiting_max;       /* heads awaited at once; past it the oldest is closed */
    long ready_max;         /* complete heads queued for civetweb's master; past it the gate
                             * stops accepting until the master takes one */
    long shared_max;        /* files the gate's connections and the streams share */
    const _Atomic long *streams; /* streams open now (borrowed) */
} gate_limits_t;

/* A gate within limits (copied), which holds at most waiting_max + ready_max descriptors
 * besides its own, and no more than the streams leave of shared_max. Each connection civetweb
 * accepts from it is noted in handoff first. metrics and handoff are borrowed. Returns NULL with a
 * reason in err. */
gate_t *gate_create(metrics_t *metrics, handoff_t *handoff, const gate_limits_t *limits, char *err,
                    size_t errlen);

/* While on, every socket this thread starts listening on is one the gate will take over:
 * on around mg_start. */
void gate_record_listeners(gate_t *gate, int on);

/* The calling thread is civetweb's master thread: its poll() and accept() on the listening
 * sockets go through the gate once it runs (from civetweb's init_thread callback). */
void gate_serve_this_thread(gate_t *gate);

/* Starts the gate thread on the sockets recorded. Returns 0, or -1 with a reason in err. */
int gate_start(gate_t *gate, char *err, size_t errlen);

/* civetweb is about to stop (call just before mg_stop): its master thread's waits in
 * poll() become short, so mg_stop does not wait out a whole poll timeout. */
void gate_closing(gate_t *gate);

/* Stops the gate and closes the connections still waiting. Call after mg_stop. */
void gate_destroy(gate_t *gate);

#endif
