/* evict.h -- closes the connection a bus message came from: how the generator drops a
 * peer that breaks the subscription rules, which libzmq has no call for. Used by the
 * generator's single thread. */
#ifndef GENERATOR_EVICT_H
#define GENERATOR_EVICT_H

#include <stdint.h>
#include <zmq.h>

/* Shuts down (both ways) the TCP connection msg, just received from a socket bound on
 * local_port, came from; libzmq then sees it closed and drops the peer with everything it
 * holds for it. Returns 0, -EOPNOTSUPP when the message names no TCP connection (ipc,
 * inproc), -ESTALE when that connection is already gone (its number may belong to
 * another by now, which is left alone), or another -errno. */
int evict_sender(zmq_msg_t *msg, uint32_t local_port) __attribute__((warn_unused_result));

#endif
