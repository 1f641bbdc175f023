/* bus_socket.h -- options every bus socket gets, whichever side of the bus it is on. */
#ifndef RN_BUS_SOCKET_H
#define RN_BUS_SOCKET_H

/* Sets linger 0 (so shutdown never waits on unsent messages) and ZMTP heartbeats (so a
 * peer that vanished without closing its TCP connection is noticed and dropped).
 * Returns 0 or -errno. */
int bus_socket_tune(void *socket) __attribute__((warn_unused_result));

#endif
