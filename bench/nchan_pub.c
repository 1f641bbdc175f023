/* nchan_pub.c -- publishes to nchan at a fixed rate over one keep-alive connection, the
 * way our generator publishes to the bus: each message's data is "t=PUBLISH_NS SEQ" so the
 * load client measures latency and gaps. Requests are pipelined (a reader thread counts
 * the answers), so the rate does not depend on the round trip. Bounded by DURATION_S. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("nchan_pub: connect");
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

typedef struct {
    int fd;
    _Atomic uint64_t ok, failed;
} answers_t;

/* Counts the pipelined responses (each a status line, headers, a Content-Length body). */
static void *read_answers(void *arg)
{
    answers_t *a = arg;
    char buf[65536];
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(a->fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return NULL;
        len += (size_t)n;
        buf[len] = '\0';
        char *p = buf, *end;
        while ((end = strstr(p, "\r\n\r\n")) != NULL) {
            char *cl = strcasestr(p, "Content-Length:");
            size_t body = cl && cl < end ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
            if ((size_t)(end + 4 - buf) + body > len)
                break;
            int status = atoi(p + 9);
            atomic_fetch_add(status >= 200 && status < 300 ? &a->ok : &a->failed, 1);
            p = end + 4 + body;
        }
        len -= (size_t)(p - buf);
        memmove(buf, p, len);
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: nchan_pub PORT PATH EVENTS_PER_S DURATION_S\n");
        return 2;
    }
    int port = atoi(argv[1]), rate = atoi(argv[3]), duration = atoi(argv[4]);
    const char *path = argv[2];
    if (port < 1 || rate < 1 || rate > 100000 || duration < 1 || duration > 3600) {
        fprintf(stderr, "nchan_pub: bad arguments\n");
        return 2;
    }
    answers_t answers = {.fd = connect_to(port)};
    pthread_t reader;
    if (answers.fd < 0 || pthread_create(&reader, NULL, read_answers, &answers) != 0)
        return 1;
    int64_t interval = 1000000000LL / rate, next = now_ns(CLOCK_MONOTONIC);
    int64_t end = next + (int64_t)duration * 1000000000LL;
    uint64_t seq = 0;
    int broken = 0;
    while (next < end && !broken) {
        struct timespec ts = {(time_t)(next / 1000000000), (long)(next % 1000000000)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        /* Everything due by now goes out at once: a late wake-up makes a burst, not a gap. */
        for (int64_t now = now_ns(CLOCK_MONOTONIC); next <= now && next < end && !broken;
             next += interval) {
            char body[64], req[512];
            int blen = snprintf(body, sizeof body, "t=%" PRId64 " %" PRIu64, now_ns(CLOCK_REALTIME),
                                ++seq);
            int n = snprintf(req, sizeof req,
                             "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                             "Content-Length: %d\r\n\r\n%s",
                             path, blen, body);
            broken = send(answers.fd, req, (size_t)n, MSG_NOSIGNAL) != n;
        }
    }
    struct timespec drain = {1, 0};
    nanosleep(&drain, NULL); /* the last answers */
    shutdown(answers.fd, SHUT_RDWR);
    pthread_join(reader, NULL);
    close(answers.fd);
    uint64_t ok = atomic_load(&answers.ok), failed = atomic_load(&answers.failed);
    printf("published %" PRIu64 " ok %" PRIu64 " failed %" PRIu64 "\n", seq, ok, failed);
    return broken || failed || ok != seq ? 1 : 0;
}
