/* voter.h -- a subscriber's votes for a takeover (proto/rn.proto, "A generator pair"):
 * a ReplayRequest with vote=1 sent to a pair member's replay socket, without waiting for
 * the answer, so the thread that votes is never held by a member that does not answer.
 * Not thread-safe: one per thread and member. */
#ifndef RN_VOTER_H
#define RN_VOTER_H

#include <stddef.h>
#include <stdint.h>

typedef struct voter voter_t;

/* CURVE key files as for the bus ("" for none); the strings are copied. NULL with the
 * reason in err. */
voter_t *voter_create(void *zmq_context, const char *endpoint, const char *curve_server_key_file,
                      const char *curve_secret_key_file, char *err, size_t errlen);
void voter_destroy(voter_t *voter);

const char *voter_endpoint(const voter_t *voter);

/* Discards the answers to earlier votes, then sends a vote naming (epoch, seq): the next
 * event the voter needs, or epoch 0 when it holds none. Returns 0, or -errno (-EAGAIN:
 * the member is not connected, so the vote is not queued to reach it late). */
int voter_send(voter_t *voter, uint64_t epoch, uint64_t seq) __attribute__((warn_unused_result));

#endif
