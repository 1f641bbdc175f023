/* bus_socket.h -- options every bus socket gets, whichever side of the bus it is on. */
#ifndef RN_BUS_SOCKET_H
#define RN_BUS_SOCKET_H

/* The largest frame a bus peer may send (ZMQ_MAXMSGSIZE): a topic is at most
 * WIRE_TOPIC_MAX bytes, a subscription one more, a payload at most WIRE_MESSAGE_MAX;
 * anything larger is not ours, and libzmq disconnects the peer that sent it before storing
 * it (a 2 MB subscription would otherwise cost the generator some 200 MB of subscription
 * trie). It cannot be as small as a subscription: the limit applies to the handshake's
 * commands as well, and a CURVE INITIATE is some 300 bytes. bus_socket.c checks that it
 * holds the largest topic and message. */
#define BUS_FRAME_MAX 512

/* Which end of its connections a socket is: one that connects and keeps listening (a SUB,
 * a voter), one that connects to ask and waits for each answer with a deadline of its own
 * (a replay client), or one that binds. */
typedef enum { BUS_SOCKET_CONNECTS, BUS_SOCKET_ASKS, BUS_SOCKET_BINDS } bus_socket_end_t;

/* Sets linger 0 (so shutdown never waits on unsent messages) and BUS_FRAME_MAX, and:
 * - on a socket that connects and listens, ZMTP heartbeats: it pings every second, drops a
 *   peer silent for 3 s, and tells the peer to drop it after 3 s without a ping (so a
 *   connection cut without a FIN is noticed at both ends);
 * - on one that asks, none: a silent peer shows as a request past its deadline, after
 *   which the client opens a fresh socket; pings would wake an I/O thread at both ends
 *   every second for a connection that is idle nearly always;
 * - on both, a TCP connect unanswered for 2 s is given up and the name resolved again: a
 *   generator replaced by one at a new address (Swarm, Kubernetes) leaves its old address
 *   silent, and the kernel would retry its SYN there for some two minutes before libzmq
 *   looked the name up again;
 * - on one that binds, no pings of its own (libzmq 4.3.4 aborts when its ping timer fires
 *   on a connection whose peer left while the connection's input was stopped, upstream
 *   issue 4841, which one flooding peer could bring about), but TCP keepalive: an idle
 *   connection whose peer vanished without a FIN and sends no pings (one that asks) is
 *   closed within 25 s by the kernel's probes, which wake no thread.
 * Returns 0 or -errno. */
int bus_socket_tune(void *socket, bus_socket_end_t end) __attribute__((warn_unused_result));

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

/* Subscribes a SUB socket to topic once more, so the generator hears it again: for when
 * its heartbeat says nobody wants the topic (a forged unsubscribe, or one lost on the
 * way). Unsubscribes first, so the socket's own count of the topic stays at one.
 * Returns 0 or -errno. */
int bus_socket_resubscribe(void *socket, const char *topic) __attribute__((warn_unused_result));

/* The TCP port socket was last bound to, or 0 when it is not bound to TCP. */
uint32_t bus_socket_bound_port(void *socket);

/* libzmq resolves a host name in the I/O thread that serves the connection, with a
 * blocking getaddrinfo (libzmq issue #3243): while a pair member is gone its name can take
 * seconds to fail (a stopped container's name goes to a resolver that may not answer), and
 * every connection that thread serves stalls meanwhile, the live member's too. So a
 * program that talks to several generators gives each its own I/O thread: a context with
 * one per member (bus_context_threads), and every socket to member i pinned to thread i
 * (bus_socket_pin, ZMQ_AFFINITY). Both return 0 or -errno; pin with io_thread < 0 leaves
 * the socket to any thread. */
int bus_context_threads(void *context, int threads) __attribute__((warn_unused_result));
int bus_socket_pin(void *socket, int io_thread) __attribute__((warn_unused_result));

/* Connects socket to every endpoint of a comma-separated list. Returns 0, or -EINVAL with
 * the endpoint that failed (or an empty list) named in err. */
int bus_socket_connect_all(void *socket, const char *list, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Receives one whole multipart message, keeping its first two frames in frames[0..1]
 * (initialized here; the caller closes both) and counting all of them in *count, so a
 * message of another shape can be refused. flags is 0 or ZMQ_DONTWAIT for the first
 * frame. Returns 0, -EAGAIN when nothing is pending, or another -errno. */
int bus_message_recv(void *socket, zmq_msg_t frames[2], int *count, int flags)
    __attribute__((warn_unused_result));

#endif
