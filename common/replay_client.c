/* replay_client.c -- DEALER socket, [empty][request] out, [empty][reply] in. */
#include "replay_client.h"

#include "bus_socket.h"
#include "clock.h"
#include "curve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* An answer of WIRE_REPLAY_EVENTS_MAX events is about 45 KB; anything much larger is
 * not an answer. */
enum { REPLY_MAX_BYTES = 256 * 1024 };

struct replay_client {
    void *context;
    void *socket; /* NULL until needed, and after a timeout */
    uint64_t opened;
    char endpoint[256];
    char server_key[512], secret_key[512];
    int io_thread; /* bus_socket_pin */
};

void *replay_socket_open(void *zmq_context, const replay_socket_spec_t *spec, char *err,
                         size_t errlen)
{
    void *socket = zmq_socket(zmq_context, ZMQ_DEALER);
    int immediate = spec->immediate;
    if (socket == NULL || bus_socket_tune(socket, spec->end) < 0 ||
        bus_socket_pin(socket, spec->io_thread) < 0 ||
        zmq_setsockopt(socket, ZMQ_IMMEDIATE, &immediate, sizeof immediate) != 0 ||
        zmq_setsockopt(socket, ZMQ_MAXMSGSIZE, &spec->max_message, sizeof spec->max_message) != 0) {
        snprintf(err, errlen, "cannot create a socket for '%s': %s", spec->endpoint,
                 zmq_strerror(zmq_errno()));
    } else if (curve_client_from_flags(socket, spec->server_key_file, spec->secret_key_file, err,
                                       errlen) == 0) {
        if (zmq_connect(socket, spec->endpoint) == 0)
            return socket;
        snprintf(err, errlen, "cannot connect to '%s': %s", spec->endpoint,
                 zmq_strerror(zmq_errno()));
    }
    if (socket)
        zmq_close(socket);
    return NULL;
}

static void *open_socket(replay_client_t *c, char *err, size_t errlen)
{
    replay_socket_spec_t spec = {.endpoint = c->endpoint,
                                 .server_key_file = c->server_key,
                                 .secret_key_file = c->secret_key,
                                 .io_thread = c->io_thread,
                                 .max_message = REPLY_MAX_BYTES,
                                 .end = BUS_SOCKET_ASKS};
    void *socket = replay_socket_open(c->context, &spec, err, errlen);
    if (socket)
        c->opened++;
    return socket;
}

replay_client_t *replay_client_create(void *zmq_context, const char *endpoint,
                                      const char *curve_server_key_file,
                                      const char *curve_secret_key_file, int io_thread, char *err,
                                      size_t errlen)
{
    replay_client_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->context = zmq_context;
    c->io_thread = io_thread;
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    snprintf(c->server_key, sizeof c->server_key, "%s", curve_server_key_file);
    snprintf(c->secret_key, sizeof c->secret_key, "%s", curve_secret_key_file);
    c->socket = open_socket(c, err, errlen);
    if (c->socket == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void replay_client_destroy(replay_client_t *c)
{
    if (c == NULL)
        return;
    if (c->socket)
        zmq_close(c->socket);
    free(c);
}

const char *replay_client_endpoint(const replay_client_t *c)
{
    return c->endpoint;
}

uint64_t replay_client_opened(const replay_client_t *c)
{
    return c->opened;
}

static int send_request(void *socket, const wire_replay_request_t *req)
{
    uint8_t buf[WIRE_REPLAY_REQUEST_MAX];
    size_t len = wire_replay_request_encode(req, buf, sizeof buf);
    if (len == 0)
        return -EMSGSIZE;
    if (zmq_send(socket, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(socket, buf, len, ZMQ_DONTWAIT) < 0)
        return -zmq_errno();
    return 0;
}

/* Waits for one [empty][reply] message until the deadline. */
static int receive_reply(void *socket, int64_t deadline_ms, wire_replay_reply_t *reply)
{
    zmq_pollitem_t item = {socket, 0, ZMQ_POLLIN, 0};
    int64_t left = deadline_ms - clock_mono_ms();
    int ready = left > 0 ? zmq_poll(&item, 1, (long)left) : 0;
    if (ready < 0)
        return -zmq_errno();
    if (ready == 0)
        return -ETIMEDOUT;
    zmq_msg_t frames[2];
    int count, rc = bus_message_recv(socket, frames, &count, ZMQ_DONTWAIT);
    if (rc == 0 && (count != 2 || zmq_msg_size(&frames[0]) != 0 ||
                    wire_replay_reply_decode(zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]),
                                             reply, WIRE_REPLAY_EVENTS_MAX) != WIRE_OK))
        rc = -EPROTO;
    zmq_msg_close(&frames[0]);
    zmq_msg_close(&frames[1]);
    return rc == 0 && reply->error[0] ? -EPROTO : rc;
}

int replay_client_fetch(replay_client_t *c, const wire_replay_request_t *req,
                        wire_replay_reply_t *reply, int timeout_ms)
{
    char err[256];
    if (c->socket == NULL && (c->socket = open_socket(c, err, sizeof err)) == NULL)
        return -ENOTCONN;
    int rc = send_request(c->socket, req);
    if (rc == 0)
        rc = receive_reply(c->socket, clock_mono_ms() + timeout_ms, reply);
    if (rc < 0 && rc != -EPROTO) { /* lazy pirate: never read a stale answer later */
        zmq_close(c->socket);
        c->socket = NULL;
    }
    return rc;
}

int replay_endpoint_from_bus(const char *bus_list, uint32_t port, char *out, size_t cap)
{
    const char *tcp = strstr(bus_list, "tcp://");
    if (tcp == NULL || port == 0)
        return -EINVAL;
    size_t len = strcspn(tcp, ",");
    const char *colon = memrchr(tcp, ':', len);
    if (colon == NULL || colon < tcp + 6)
        return -EINVAL;
    int n = snprintf(out, cap, "%.*s:%u", (int)(colon - tcp), tcp, port);
    return n < 0 || (size_t)n >= cap ? -EINVAL : 0;
}
