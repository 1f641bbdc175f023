/* publisher.c -- XPUB socket, subscription interest and the two-frame send.
 *
 * Subscriptions are what any peer of the bus can send at will, so reading them is
 * bounded three ways. Per loop turn: at most SUBSCRIPTIONS_PER_TURN, so a flood delays
 * the next number and heartbeat by a batch, never stalls them. Per message: O(1) in the
 * interest set, and no log line (refusals are logged the first time and at each power
 * of two). In memory: libzmq stores every distinct prefix a connection subscribes to
 * until that connection closes, so a subscription to a prefix of none of its topics (which
 * interest.c refuses) closes the connection that sent it (evict.c), and what libzmq
 * stored for it goes with it; the prefixes accepted are a bounded few. */
#include "publisher.h"

#include "bus_socket.h"
#include "clock.h"
#include "curve.h"
#include "evict.h"
#include "log.h"
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Subscriptions read per loop turn: a flood of them delays a number or a heartbeat by
 * one batch at most. A real subscriber sends a handful. */
enum { SUBSCRIPTIONS_PER_TURN = 256 };

static int configure(void *socket, const generator_config_t *cfg)
{
    /* VERBOSE, not VERBOSER: every subscribe, but an unsubscribe only when a prefix's
     * last subscriber is gone (see interest.h). A receive high-water mark of one
     * subscription per connection: libzmq files whatever a connection's queue holds into
     * its subscription store in one go, inside whichever call of ours processes its
     * commands, for as long as the peer keeps the queue full; with room for one, it must
     * come back to its network thread for each, so a flood reaches us (and its first
     * refused prefix closes the connection) while it is a few messages long. */
    int verbose = 1, hwm = (int)cfg->hwm, rcvhwm = 1;
    if (zmq_setsockopt(socket, ZMQ_XPUB_VERBOSE, &verbose, sizeof verbose) != 0 ||
        zmq_setsockopt(socket, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(socket, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0)
        return -zmq_errno();
    return bus_socket_tune(socket, BUS_SOCKET_BINDS);
}

publisher_t *publisher_create(void *zmq_context, const generator_config_t *cfg, char *err,
                              size_t errlen)
{
    publisher_t *pub = calloc(1, sizeof *pub);
    if (pub == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (interest_init(&pub->interest, cfg->topic) < 0) {
        snprintf(err, errlen, "topic longer than %d bytes", WIRE_TOPIC_MAX);
        free(pub);
        return NULL;
    }
    pub->cfg = cfg;
    pub->epoch = cfg->epoch ? (uint64_t)cfg->epoch : (uint64_t)(clock_wall_ns() / 1000000);
    pub->socket = zmq_socket(zmq_context, ZMQ_XPUB);
    if (pub->socket == NULL || configure(pub->socket, cfg) < 0 ||
        bus_socket_pin(pub->socket, GENERATOR_IO_THREAD) < 0) {
        snprintf(err, errlen, "cannot create XPUB socket: %s", zmq_strerror(zmq_errno()));
        goto err;
    }
    if (cfg->curve_secret_key_file[0] &&
        curve_server_setup(pub->socket, cfg->curve_secret_key_file, err, errlen) < 0)
        goto err;
    if (zmq_bind(pub->socket, cfg->bind) != 0) {
        snprintf(err, errlen, "cannot bind '%s': %s", cfg->bind, zmq_strerror(zmq_errno()));
        goto err;
    }
    pub->port = bus_socket_bound_port(pub->socket);
    return pub;
err:
    publisher_destroy(pub);
    return NULL;
}

void publisher_destroy(publisher_t *pub)
{
    if (pub == NULL)
        return;
    if (pub->socket)
        zmq_close(pub->socket);
    free(pub);
}

/* Fail open: any peer can send an unsubscribe it never subscribed (libzmq passes it on),
 * so "nobody wants it" is only believed after a grace period, in which the heartbeats say
 * publishing=false and every real subscriber re-asserts its subscription. */
static void update_active(publisher_t *pub)
{
    int64_t now = clock_ns(CLOCK_MONOTONIC) / 1000, grace = pub->cfg->heartbeat_ms * 2000;
    int wanted = interest_wants_data(&pub->interest);
    if (wanted != pub->wanted && !wanted)
        pub->unwanted_since_us = now;
    pub->wanted = wanted;
    int active = wanted || (pub->active && now - pub->unwanted_since_us < grace);
    if (active == pub->active)
        return;
    pub->active = active;
    log_info(active ? "publishing" : "idle", "topic=%s last_seq=%llu subscriptions=%ld",
             pub->cfg->topic, (unsigned long long)pub->seq, pub->interest.total);
}

/* What became of the connection of a refused message (see evict.h). */
static const char *eviction_name(int rc)
{
    return rc == 0 ? "closed" : rc == -ESTALE ? "gone" : rc == -EOPNOTSUPP ? "not-tcp" : "error";
}

/* A subscription to a prefix of none of our topics, or a message that is no subscription:
 * closes the connection it came from. An unsubscribe of such a prefix stores nothing and
 * is ignored: libzmq itself sends one, naming no connection, for each prefix that only a
 * closed connection held, the refused ones included. */
static void refuse(publisher_t *pub, zmq_msg_t *msg, int rc)
{
    if (rc == -EPERM && ((const unsigned char *)zmq_msg_data(msg))[0] == 0)
        return;
    int evicted = evict_sender(msg, pub->port);
    pub->refused++;
    pub->closed += evicted == 0;
    if (log_power_of_two(pub->refused))
        log_warn("subscription refused",
                 "reason=\"%s\" length=%zu connection=%s refused_total=%llu closed_total=%llu",
                 rc == -EPERM ? "a prefix of no topic of ours" : "not a subscription",
                 zmq_msg_size(msg), eviction_name(evicted), (unsigned long long)pub->refused,
                 (unsigned long long)pub->closed);
}

/* A subscription that the heartbeat topic matches: a newcomer (a gateway starting, a
 * monitor) that learns the epoch, the last seq and the replay port from a heartbeat. */
static int subscribes_heartbeats(zmq_msg_t *msg)
{
    const char *bytes = zmq_msg_data(msg);
    size_t len = zmq_msg_size(msg);
    return len >= 1 && bytes[0] == 1 && len - 1 <= strlen(WIRE_HEARTBEAT_TOPIC) &&
           memcmp(bytes + 1, WIRE_HEARTBEAT_TOPIC, len - 1) == 0;
}

int publisher_read_subscriptions(publisher_t *pub)
{
    for (int i = 0; i < SUBSCRIPTIONS_PER_TURN; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, pub->socket, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&msg);
            if (e == EAGAIN)
                break;
            return -e;
        }
        int rc = interest_apply(&pub->interest, zmq_msg_data(&msg), zmq_msg_size(&msg));
        if (rc < 0)
            refuse(pub, &msg, rc);
        else
            pub->greet |= subscribes_heartbeats(&msg);
        zmq_msg_close(&msg);
    }
    update_active(pub);
    return 0;
}

static int send_two_frames(publisher_t *pub, const char *topic, const uint8_t *payload, size_t len)
{
    if (zmq_send(pub->socket, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(pub->socket, payload, len, ZMQ_DONTWAIT) < 0)
        return -zmq_errno();
    return 0;
}

static int32_t random_value(const generator_config_t *cfg)
{
    uint32_t span = (uint32_t)(cfg->max - cfg->min) + 1;
    return (int32_t)(cfg->min + (long)arc4random_uniform(span));
}

void publisher_make(const publisher_t *pub, uint64_t seq, wire_number_t *ev)
{
    *ev = (wire_number_t){pub->epoch, seq, clock_wall_ns(), random_value(pub->cfg)};
}

int publisher_send(publisher_t *pub, const char *topic, const wire_number_t *ev)
{
    uint8_t buf[WIRE_MESSAGE_MAX];
    size_t len = wire_number_encode(ev, buf, sizeof buf);
    return len == 0 ? -EMSGSIZE : send_two_frames(pub, topic, buf, len);
}

int publisher_send_ack(publisher_t *pub, const wire_ack_t *ack)
{
    uint8_t buf[WIRE_MESSAGE_MAX];
    size_t len = wire_ack_encode(ack, buf, sizeof buf);
    return len == 0 ? -EMSGSIZE : send_two_frames(pub, WIRE_ACK_TOPIC, buf, len);
}

int publisher_tick(publisher_t *pub, wire_number_t *sent)
{
    update_active(pub);
    if (!pub->active)
        return 0;
    wire_number_t ev;
    publisher_make(pub, pub->seq + 1, &ev);
    int rc = publisher_send(pub, pub->cfg->topic, &ev);
    if (rc < 0)
        return rc;
    pub->seq = ev.seq;
    *sent = ev;
    log_debug("published", "seq=%llu value=%d", (unsigned long long)ev.seq, ev.value);
    return 1;
}

int publisher_heartbeat(publisher_t *pub, const wire_heartbeat_t *pair)
{
    /* The pair's fields as given, the publisher's own over them. */
    wire_heartbeat_t hb = pair ? *pair : (wire_heartbeat_t){0};
    hb.epoch = pub->epoch;
    hb.last_seq = pub->seq;
    hb.sent_ns = clock_wall_ns();
    hb.interval_ms = (uint32_t)pub->cfg->heartbeat_ms;
    hb.publishing = pub->wanted;
    hb.subscriptions = (uint32_t)pub->interest.total;
    hb.replay_port = pub->replay_port;
    snprintf(hb.topic, sizeof hb.topic, "%s", pub->cfg->topic);
    uint8_t buf[WIRE_MESSAGE_MAX];
    size_t len = wire_heartbeat_encode(&hb, buf, sizeof buf);
    if (len == 0)
        return -EMSGSIZE;
    return send_two_frames(pub, WIRE_HEARTBEAT_TOPIC, buf, len);
}
