/* replay_client.h -- asks a generator's replay socket for the events a subscriber missed
 * (see proto/rn.proto): one request, one bounded wait for the answer. After a timeout
 * the socket is closed and made anew on the next fetch (the zguide's "lazy pirate"), so a
 * late answer can never pass for the answer to a later request. Not thread-safe: one per
 * thread. */
#ifndef RN_REPLAY_CLIENT_H
#define RN_REPLAY_CLIENT_H

#include "bus_socket.h"
#include "wire_replay.h"

#include <stddef.h>
#include <stdint.h>

typedef struct replay_client replay_client_t;

/* What a DEALER to a replay socket is made with: CURVE key files as for the bus ("" for
 * none), the I/O thread that serves it (bus_socket_pin; -1: any), the largest message it
 * takes, ZMQ_IMMEDIATE (queue only to a completed connection), and which end it is
 * (bus_socket_tune: a replay client asks, a voter must know whether it is connected). */
typedef struct {
    const char *endpoint, *server_key_file, *secret_key_file;
    int io_thread;
    int64_t max_message;
    int immediate;
    bus_socket_end_t end;
} replay_socket_spec_t;

/* A DEALER with the bus options (bus_socket_tune), made as spec says and connected: the
 * replay client's and the voter's. NULL with the reason in err. */
void *replay_socket_open(void *zmq_context, const replay_socket_spec_t *spec, char *err,
                         size_t errlen);

/* CURVE key files as for the bus ("" for none). The strings are copied. Its sockets are
 * served by the context's I/O thread io_thread (bus_socket_pin; -1: any). NULL with the
 * reason in err. */
replay_client_t *replay_client_create(void *zmq_context, const char *endpoint,
                                      const char *curve_server_key_file,
                                      const char *curve_secret_key_file, int io_thread, char *err,
                                      size_t errlen);
void replay_client_destroy(replay_client_t *client);

const char *replay_client_endpoint(const replay_client_t *client);

/* Sockets opened so far: the one made at create, and one for each fetch after a timeout
 * closed the last. Each is a connection (and a CURVE handshake) at the replay socket. */
uint64_t replay_client_opened(const replay_client_t *client);

/* Sends req and waits up to timeout_ms for the reply, decoded into reply, whose events
 * array must hold WIRE_REPLAY_EVENTS_MAX. Returns 0, -ETIMEDOUT, -EPROTO for an answer
 * that breaks the contract or refuses the request (reply->error says why), or -errno. */
int replay_client_fetch(replay_client_t *client, const wire_replay_request_t *req,
                        wire_replay_reply_t *reply, int timeout_ms)
    __attribute__((warn_unused_result));

/* The replay endpoint of a generator whose bus is the first tcp:// endpoint of the
 * comma-separated list: the same host with the port its heartbeat announced. Returns 0,
 * or -EINVAL when the list has no tcp:// endpoint. */
int replay_endpoint_from_bus(const char *bus_list, uint32_t port, char *out, size_t cap)
    __attribute__((warn_unused_result));

#endif
