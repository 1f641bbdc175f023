/* sockfd.c -- finds the socket of the request a handler is serving.
 *
 * Why: civetweb gives a handler no socket, yet the fan-out writers need one to write to
 * many streams from one event loop. Each civetweb worker reads its request with recv()
 * on the connection's socket, in its own thread, just before it calls the handler. This
 * definition of recv, which the dynamic linker prefers to libc's (as in sigpipe.c),
 * remembers the last socket each thread read. sockfd_of trusts it only when the socket's
 * two ends are the client and the listening port civetweb reports for the request. The
 * read itself is recvfrom's, which is what libc's recv is: nothing to look up, nothing
 * that can fail for every caller (libzmq's threads read through it too). When the socket
 * is not found the stream stays on its worker (counted in
 * rn_gateway_sse_park_fallback_total). */
#include "sockfd.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static _Thread_local int last_recv_fd = -1;

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    last_recv_fd = fd;
    return recvfrom(fd, buf, len, flags, NULL, NULL);
}

/* The port of an address, -1 for a family other than IPv4 and IPv6. */
static int port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return -1;
}

/* 1 when fd is bound to local_port and its peer is addr:port (civetweb's text form of the
 * client's address). */
static int ends_are(int fd, const char *addr, int port, int local_port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 || port_of(&ss) != local_port)
        return 0;
    sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
        return 0;
    char text[INET6_ADDRSTRLEN];
    const void *ip = ss.ss_family == AF_INET
                         ? (const void *)&((const struct sockaddr_in *)&ss)->sin_addr
                         : (const void *)&((const struct sockaddr_in6 *)&ss)->sin6_addr;
    return port_of(&ss) == port && inet_ntop(ss.ss_family, ip, text, sizeof text) != NULL &&
           strcmp(text, addr) == 0;
}

int sockfd_of(const struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int fd = last_recv_fd;
    if (ri == NULL || fd < 0 || !ends_are(fd, ri->remote_addr, ri->remote_port, ri->server_port))
        return -1;
    return fd;
}
