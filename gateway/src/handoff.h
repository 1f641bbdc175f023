/* handoff.h -- the sockets the gate hands to civetweb, so that a stream can take its own
 * back. civetweb gives a handler no socket; the gate, which accepted every connection,
 * notes each one's descriptor by its peer's address before civetweb gets it, and the SSE
 * handler looks its connection up by the peer civetweb reports. Taking a socket leaves a
 * harmless unconnected socket under the descriptor civetweb holds, so civetweb's own
 * shutdown and close after the handler returns touch only that. Thread-safe: noted on
 * civetweb's master thread, taken on its workers. */
#ifndef GATEWAY_HANDOFF_H
#define GATEWAY_HANDOFF_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct handoff handoff_t;

handoff_t *handoff_create(void);
void handoff_destroy(handoff_t *handoff);

/* fd, accepted from peer, goes to civetweb. A note for an fd noted before replaces the
 * old one: that connection was closed and its number reused. 0 or -ENOMEM. */
int handoff_note(handoff_t *handoff, int fd, const struct sockaddr *peer, socklen_t peer_len)
    __attribute__((warn_unused_result));

/* The descriptor civetweb serves the connection from addr (civetweb's text form of an
 * IPv4 or IPv6 address) and port on, checked against the socket's own peer; or -ENOENT.
 * Its note is removed. */
int handoff_find(handoff_t *handoff, const char *addr, int port)
    __attribute__((warn_unused_result));

/* Takes the connection on fd away from civetweb: returns a descriptor of our own for it
 * (close-on-exec, non-blocking) and leaves an unconnected socket under fd. <0 with fd
 * unchanged on failure. */
int handoff_detach(int fd) __attribute__((warn_unused_result));

#endif
