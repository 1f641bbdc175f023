/* voter.h -- a subscriber's votes for a takeover (proto/rn.proto, "A generator pair"):
 * a ReplayRequest with vote=1 sent to a pair member's replay socket, without waiting for
 * the answer, so the thread that votes is never held by a member that does not answer.
 * Not thread-safe: one per thread and member. */
#ifndef RN_VOTER_H
#define RN_VOTER_H

#include <stddef.h>
#include <stdint.h>

typedef struct voter voter_t;

/* CURVE key files as for the bus ("" for none); the strings are copied. Its socket is
 * served by the context's I/O thread io_thread (bus_socket_pin; -1: any). NULL with the
 * reason in err. */
voter_t *voter_create(void *zmq_context, const char *endpoint, const char *curve_server_key_file,
                      const char *curve_secret_key_file, int io_thread, char *err, size_t errlen);
void voter_destroy(voter_t *voter);

const char *voter_endpoint(const voter_t *voter);

/* The voter in *slot for the member at bus_endpoint (one endpoint), whose heartbeats
 * announce replay_port: made, or made again when that port changed. Call it as soon as a
 * member that may need a vote is heard, not only when voting: a vote is sent only on a
 * connected socket (see voter_send), and a socket made at the moment of the vote is not
 * connected yet. NULL (*slot NULL) with the reason in err. */
voter_t *voter_follow(voter_t **slot, void *zmq_context, const char *bus_endpoint,
                      uint32_t replay_port, const char *curve_server_key_file,
                      const char *curve_secret_key_file, int io_thread, char *err, size_t errlen);

/* Discards the answers to earlier votes, then sends a vote naming (epoch, seq): the next
 * event the voter needs, or epoch 0 when it holds none. Returns 0, or -errno (-EAGAIN:
 * the member is not connected, so the vote is not queued to reach it late). */
int voter_send(voter_t *voter, uint64_t epoch, uint64_t seq) __attribute__((warn_unused_result));

#endif
