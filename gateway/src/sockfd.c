/* sockfd.c -- finds the socket of the request a handler is serving.
 *
 * Why: civetweb gives a handler no socket, yet the fan-out writers need one to write to
 * many streams from one event loop. Each civetweb worker reads its request with recv()
 * on the connection's socket, in its own thread, just before it calls the handler. This
 * definition of recv, which the dynamic linker prefers to libc's (as in sigpipe.c),
 * remembers the last socket each thread read. sockfd_of trusts it only when the socket's
 * peer is the client civetweb reports for the request. */
#include "sockfd.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

typedef ssize_t (*recv_fn)(int, void *, size_t, int);

static recv_fn next_recv;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static _Thread_local int last_recv_fd = -1;

static void resolve(void)
{
    next_recv = (recv_fn)dlsym(RTLD_NEXT, "recv");
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    if (pthread_once(&resolve_once, resolve) != 0 || next_recv == NULL) {
        errno = ENOSYS;
        return -1;
    }
    last_recv_fd = fd;
    return next_recv(fd, buf, len, flags);
}

/* 1 when fd's peer is addr:port (civetweb's text form of the client's address). */
static int peer_is(int fd, const char *addr, int port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
        return 0;
    char text[INET6_ADDRSTRLEN];
    int peer_port;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        peer_port = ntohs(in->sin_port);
        if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) == NULL)
            return 0;
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        peer_port = ntohs(in6->sin6_port);
        if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text) == NULL)
            return 0;
    } else {
        return 0;
    }
    return peer_port == port && strcmp(text, addr) == 0;
}

int sockfd_of(const struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int fd = last_recv_fd;
    if (ri == NULL || fd < 0 || !peer_is(fd, ri->remote_addr, ri->remote_port))
        return -1;
    return fd;
}
