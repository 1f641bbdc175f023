/* nchan_pub.c -- publishes to nchan at a fixed rate over one keep-alive connection, the
 * way our generator publishes to the bus: each message's data is "t=PUBLISH_NS SEQ" so the
 * load client measures latency and gaps. Bounded by --duration-s. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

/* Reads one whole response (headers and Content-Length body). Returns the status. */
static int read_response(int fd)
{
    char buf[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        char *cl = strcasestr(buf, "Content-Length:");
        size_t body = cl && cl < end ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
        if (len >= (size_t)(end + 4 - buf) + body)
            return atoi(buf + 9);
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
    int fd = connect_to(port);
    if (fd < 0)
        return 1;
    int64_t interval = 1000000000LL / rate, next = now_ns(CLOCK_MONOTONIC);
    int64_t end = next + (int64_t)duration * 1000000000LL;
    uint64_t seq = 0, failed = 0;
    while (next < end) {
        int64_t now = now_ns(CLOCK_MONOTONIC);
        if (now < next) {
            struct timespec ts = {(time_t)(next / 1000000000), (long)(next % 1000000000)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        char body[64], req[512];
        int blen = snprintf(body, sizeof body, "t=%" PRId64 " %" PRIu64, now_ns(CLOCK_REALTIME),
                            ++seq);
        int n = snprintf(req, sizeof req,
                         "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                         "Content-Length: %d\r\n\r\n%s",
                         path, blen, body);
        int status = send(fd, req, (size_t)n, MSG_NOSIGNAL) == n ? read_response(fd) : -1;
        if (status < 200 || status >= 300)
            failed++;
        if (status < 0) { /* the server closed the connection: open another, once */
            close(fd);
            if ((fd = connect_to(port)) < 0)
                return 1;
        }
        next += interval;
    }
    printf("published %" PRIu64 " failed %" PRIu64 "\n", seq, failed);
    close(fd);
    return failed ? 1 : 0;
}
