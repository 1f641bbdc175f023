/* peers.h -- counts the connections the generator's sockets drop: a peer that sends more
 * than BUS_FRAME_MAX bytes at once or breaks the protocol, and failed handshakes. */
#ifndef GENERATOR_PEERS_H
#define GENERATOR_PEERS_H

#include <stdint.h>

typedef struct {
    void *socket;  /* borrowed: the socket watched */
    void *monitor; /* PAIR receiving its monitor events */
    const char *name;
    uint64_t accepted, dropped, failed;
} peers_t;

/* Watches socket (bound, not yet connected to by anyone) under name ("bus", "replay").
 * Returns 0 or -errno. */
int peers_watch(peers_t *peers, void *zmq_context, void *socket, const char *name)
    __attribute__((warn_unused_result));

/* Reads the pending monitor events: counts them and logs drops and failed handshakes, the
 * first and then each power of two. */
void peers_read(peers_t *peers);

void peers_close(peers_t *peers);

#endif
