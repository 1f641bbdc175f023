/* gate.h -- an accept filter in front of civetweb: a connection reaches a worker only once
 * its whole request head has arrived, so half-sent requests never hold a worker. */
#ifndef GATEWAY_GATE_H
#define GATEWAY_GATE_H

#include "handoff.h"
#include "metrics.h"

#include <stddef.h>

typedef struct gate gate_t;

/* A gate that closes (with 408) a connection whose head has not arrived within
 * header_timeout_ms, and hands over a head of head_max bytes unfinished (civetweb refuses
 * it). Each connection civetweb accepts from it is noted in handoff first. metrics and
 * handoff are borrowed. Returns NULL with a reason in err. */
gate_t *gate_create(metrics_t *metrics, handoff_t *handoff, long header_timeout_ms, size_t head_max,
                    char *err, size_t errlen);

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
