/* evict.c -- closes the TCP connection a bus message came from.
 *
 * Why a descriptor: libzmq keeps every prefix a subscriber sends for the life of its
 * connection, and has no call to drop one peer of an XPUB. ZMQ_XPUB_MANUAL does not
 * help: libzmq 4.3.4 still files every prefix, in a trie of its own that it keeps to
 * unsubscribe the connection when it closes (measured: the same memory either way).
 * What libzmq does give is the descriptor of the connection each message came from
 * (ZMQ_SRCFD, documented in zmq_msg_get(3) for this, though zmq.h marks it deprecated).
 * Shutting that socket down both ways, never closing it, leaves the descriptor to
 * libzmq: its engine's next read ends (or is reset), its next write fails (EPIPE: main
 * ignores SIGPIPE), and it tears the connection down the usual way, freeing what it
 * stored for it. The socket monitor (peers.c) counts a closed connection.
 *
 * The descriptor is only a number: the connection may have ended since libzmq read the
 * message, and the number gone to a newer one. So the socket must still be connected,
 * to the address the message carries, on our port. One already shut down has no peer,
 * so the messages it still had queued close nothing more; but a newer connection from
 * the same address that got the same number in that moment is shut down too, and
 * reconnects. */
#include "evict.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static uint32_t port_of(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)addr)->sin_port);
    if (addr->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
    return 0;
}

/* Whether fd is still a TCP connection to peer_address on local_port. */
static int is_same_connection(int fd, const char *peer_address, uint32_t local_port)
{
    struct sockaddr_storage local, peer;
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    char host[NI_MAXHOST];
    if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0 ||
        port_of(&local) != local_port || local_port == 0 ||
        getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0 ||
        getnameinfo((struct sockaddr *)&peer, peer_len, host, sizeof host, NULL, 0,
                    NI_NUMERICHOST) != 0)
        return 0;
    return strcmp(host, peer_address) == 0;
}

int evict_sender(zmq_msg_t *msg, uint32_t local_port)
{
    int fd = zmq_msg_get(msg, ZMQ_SRCFD);
    const char *peer_address = zmq_msg_gets(msg, "Peer-Address");
    if (fd < 0 || peer_address == NULL)
        return -EOPNOTSUPP;
    if (!is_same_connection(fd, peer_address, local_port))
        return -ESTALE;
    return shutdown(fd, SHUT_RDWR) == 0 ? 0 : -errno;
}
