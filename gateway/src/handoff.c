/* handoff.c -- sockets handed to civetweb, found again by their peer; see handoff.h. */
#include "handoff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { HANDOFF_BUCKETS = 4096 };

/* A peer, reduced to what identifies it: family, address and port. */
typedef struct {
    int family;
    uint16_t port;
    unsigned char addr[16];
} peer_t;

typedef struct entry {
    int fd;
    peer_t peer;
    struct entry *next; /* in its bucket */
} entry_t;

struct handoff {
    pthread_mutex_t lock;
    entry_t **by_fd; /* the note of each descriptor, NULL: none */
    size_t fd_cap;
    entry_t *buckets[HANDOFF_BUCKETS];
};

static int peer_from_sockaddr(const struct sockaddr *sa, peer_t *p)
{
    *p = (peer_t){.family = sa->sa_family};
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        p->port = ntohs(in->sin_port);
        memcpy(p->addr, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        p->port = ntohs(in6->sin6_port);
        memcpy(p->addr, &in6->sin6_addr, 16);
        return 0;
    }
    return -EAFNOSUPPORT;
}

static int peer_from_text(const char *addr, int port, peer_t *p)
{
    *p = (peer_t){.port = (uint16_t)port};
    if (inet_pton(AF_INET, addr, p->addr) == 1)
        p->family = AF_INET;
    else if (inet_pton(AF_INET6, addr, p->addr) == 1)
        p->family = AF_INET6;
    else
        return -EINVAL;
    return port > 0 && port <= 65535 ? 0 : -EINVAL;
}

static size_t bucket_of(const peer_t *p)
{
    uint32_t h = 2166136261u; /* FNV-1a over the address and port */
    for (size_t i = 0; i < sizeof p->addr; i++)
        h = (h ^ p->addr[i]) * 16777619u;
    h = (h ^ (p->port & 0xff)) * 16777619u;
    h = (h ^ (p->port >> 8)) * 16777619u;
    return h % HANDOFF_BUCKETS;
}

handoff_t *handoff_create(void)
{
    handoff_t *h = calloc(1, sizeof *h);
    if (h != NULL && pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

void handoff_destroy(handoff_t *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->fd_cap; i++)
        free(h->by_fd[i]);
    free(h->by_fd);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* Under the lock. */
static void unlink_entry(handoff_t *h, entry_t *e)
{
    entry_t **at = &h->buckets[bucket_of(&e->peer)];
    while (*at != e)
        at = &(*at)->next;
    *at = e->next;
    h->by_fd[e->fd] = NULL;
}

/* Under the lock: room for a note of fd. */
static int reserve(handoff_t *h, int fd)
{
    if ((size_t)fd < h->fd_cap)
        return 0;
    size_t cap = h->fd_cap ? h->fd_cap : 1024;
    while (cap <= (size_t)fd)
        cap *= 2;
    entry_t **grown = realloc(h->by_fd, cap * sizeof *grown);
    if (grown == NULL)
        return -ENOMEM;
    memset(grown + h->fd_cap, 0, (cap - h->fd_cap) * sizeof *grown);
    h->by_fd = grown;
    h->fd_cap = cap;
    return 0;
}

int handoff_note(handoff_t *h, int fd, const struct sockaddr *peer, socklen_t peer_len)
{
    entry_t *e = malloc(sizeof *e);
    if (e == NULL)
        return -ENOMEM;
    e->fd = fd;
    if (fd < 0 || peer_len < sizeof(sa_family_t) || peer_from_sockaddr(peer, &e->peer) < 0) {
        free(e);
        return -EINVAL;
    }
    pthread_mutex_lock(&h->lock);
    int rc = reserve(h, fd);
    if (rc == 0) {
        entry_t *stale = h->by_fd[fd];
        if (stale != NULL) {
            unlink_entry(h, stale);
            free(stale);
        }
        entry_t **bucket = &h->buckets[bucket_of(&e->peer)];
        e->next = *bucket; /* newest first: a peer's latest connection is found first */
        *bucket = e;
        h->by_fd[fd] = e;
    }
    pthread_mutex_unlock(&h->lock);
    if (rc < 0)
        free(e);
    return rc;
}

/* 1 when the socket's peer is p: a note whose connection was closed and whose number
 * went to another connection must not hand that one out. */
static int socket_peer_is(int fd, const peer_t *p)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    peer_t actual;
    return getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
           peer_from_sockaddr((struct sockaddr *)&ss, &actual) == 0 &&
           memcmp(&actual, p, sizeof actual) == 0;
}

int handoff_find(handoff_t *h, const char *addr, int port)
{
    peer_t want;
    if (addr == NULL || peer_from_text(addr, port, &want) < 0)
        return -ENOENT;
    pthread_mutex_lock(&h->lock);
    entry_t *e = h->buckets[bucket_of(&want)];
    while (e != NULL && memcmp(&e->peer, &want, sizeof want) != 0)
        e = e->next;
    int fd = e ? e->fd : -ENOENT;
    if (e != NULL) {
        unlink_entry(h, e);
        free(e);
    }
    pthread_mutex_unlock(&h->lock);
    return fd >= 0 && socket_peer_is(fd, &want) ? fd : -ENOENT;
}

int handoff_detach(int fd)
{
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0)
        return -errno;
    int stub = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int flags = fcntl(own, F_GETFL);
    if (stub < 0 || flags < 0 || fcntl(own, F_SETFL, flags | O_NONBLOCK) < 0 ||
        dup3(stub, fd, O_CLOEXEC) < 0) {
        int e = errno;
        if (stub >= 0)
            close(stub);
        close(own);
        return -e;
    }
    close(stub);
    return own;
}
