/* test_gate.c -- the accept gate's bounds, over real sockets with this thread in the role of
 * civetweb's master: at most ready_max complete requests wait in the gate (the rest wait in
 * the kernel's backlog, holding no descriptor of ours) and every one of them is accepted
 * once the master takes some; past waiting_max the oldest half-sent request is closed. */
#include "check.h"
#include "clock.h"
#include "gate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { WAITING_MAX = 4, READY_MAX = 3, COMPLETE = 10, HALF = 6, WAIT_MS = 5000 };

static const gate_limits_t limits = {.header_timeout_ms = 60000,
                                     .head_max = 1024,
                                     .waiting_max = WAITING_MAX,
                                     .ready_max = READY_MAX};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (bounded) until *value reaches want; returns what it read last. */
static uint64_t wait_for(const _Atomic uint64_t *value, uint64_t want)
{
    int64_t until = clock_mono_ms() + WAIT_MS;
    while (metrics_get(value) < want && clock_mono_ms() < until)
        sleep_ms(5);
    return metrics_get(value);
}

/* A listening socket on a free loopback port, recorded by the gate as civetweb's. */
static int gate_listener(gate_t *g, struct sockaddr_in *addr)
{
    socklen_t len = sizeof *addr;
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    gate_record_listeners(g, 1);
    if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof *addr) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
        perror("listener");
        fd = -1;
    }
    gate_record_listeners(g, 0);
    return fd;
}

static int client(const struct sockaddr_in *addr, const char *text)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0) {
        perror("client");
        return fd;
    }
    CHECK(send(fd, text, strlen(text), MSG_NOSIGNAL) == (ssize_t)strlen(text));
    return fd;
}

/* As civetweb's master does: poll, then accept one connection from the gate's queue. Only
 * here is this thread the master: elsewhere its poll() must be libc's. */
static int master_accept(gate_t *g, int listen_fd)
{
    struct pollfd p = {.fd = listen_fd, .events = POLLIN};
    gate_serve_this_thread(g);
    int fd = -1;
    if (poll(&p, 1, WAIT_MS) == 1 && (p.revents & POLLIN))
        fd = accept(listen_fd, NULL, NULL);
    gate_serve_this_thread(NULL);
    return fd;
}

/* The gate closed the other end: a reset, since the request it held was never read. */
static int closed_by_peer(int fd)
{
    char c;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, WAIT_MS) != 1)
        return 0;
    ssize_t n = recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* The clients connected and sent whole requests before the gate started, so each one it
 * accepts goes straight to the ready queue. */
static void test_ready_queue_is_bounded(gate_t *g, metrics_t *m, int listen_fd)
{
    CHECK_EQ_INT(wait_for(&m->http_heads_ready, READY_MAX), READY_MAX);
    CHECK(wait_for(&m->http_gate_full, 1) >= 1);
    sleep_ms(100); /* time to wrongly accept more, were the bound not kept */
    CHECK_EQ_INT(metrics_get(&m->http_heads_ready), READY_MAX);
    /* Each connection taken makes room: the gate accepts from the backlog again. */
    int accepted = 0;
    for (int fd; accepted < COMPLETE && (fd = master_accept(g, listen_fd)) >= 0; accepted++) {
        char head[64];
        CHECK(recv(fd, head, 3, MSG_PEEK) == 3 && memcmp(head, "GET", 3) == 0);
        close(fd);
    }
    CHECK_EQ_INT(accepted, COMPLETE);
    CHECK_EQ_INT(metrics_get(&m->http_heads_ready), 0);
}

static void test_oldest_waiting_is_evicted(metrics_t *m, const struct sockaddr_in *addr)
{
    int clients[HALF];
    for (int i = 0; i < HALF; i++) {
        clients[i] = client(addr, "GET / HTTP/1.1\r\nHost: x\r\n");
        /* One at a time, so the gate's order is ours. */
        if (i < WAITING_MAX)
            CHECK_EQ_INT(wait_for(&m->http_heads_waiting, (uint64_t)i + 1), i + 1);
        else
            CHECK_EQ_INT(wait_for(&m->http_heads_evicted, (uint64_t)(i - WAITING_MAX + 1)),
                         i - WAITING_MAX + 1);
    }
    /* An eviction and the append of its newcomer are two steps: wait for the second. */
    CHECK_EQ_INT(wait_for(&m->http_heads_waiting, WAITING_MAX), WAITING_MAX);
    for (int i = 0; i < HALF - WAITING_MAX; i++)
        CHECK(closed_by_peer(clients[i]));
    for (int i = 0; i < HALF; i++)
        close(clients[i]);
}

int main(void)
{
    metrics_t metrics = {0};
    char err[256];
    handoff_t *handoff = handoff_create();
    CHECK(handoff != NULL);
    gate_t *g = gate_create(&metrics, handoff, &limits, err, sizeof err);
    CHECK(g != NULL);
    if (g == NULL)
        CHECK_DONE();
    struct sockaddr_in addr;
    int listen_fd = gate_listener(g, &addr);
    CHECK(listen_fd >= 0);
    int clients[COMPLETE];
    for (int i = 0; i < COMPLETE; i++)
        clients[i] = client(&addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(gate_start(g, err, sizeof err) == 0);
    test_ready_queue_is_bounded(g, &metrics, listen_fd);
    for (int i = 0; i < COMPLETE; i++)
        close(clients[i]);
    test_oldest_waiting_is_evicted(&metrics, &addr);
    gate_destroy(g);
    close(listen_fd);
    gate_limits_t zero = limits;
    zero.ready_max = 0;
    CHECK(gate_create(&metrics, handoff, &zero, err, sizeof err) == NULL);
    handoff_destroy(handoff);
    CHECK_DONE();
}
