/* publisher.c -- XPUB socket, subscription interest and the two-frame send. */
#include "publisher.h"

#include "bus_socket.h"
#include "clock.h"
#include "curve.h"
#include "log.h"
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static int configure(void *socket, const generator_config_t *cfg)
{
    /* VERBOSE, not VERBOSER: every subscribe, but an unsubscribe only when a prefix's
     * last subscriber is gone (see interest.h). */
    int verbose = 1, hwm = (int)cfg->hwm;
    if (zmq_setsockopt(socket, ZMQ_XPUB_VERBOSE, &verbose, sizeof verbose) != 0 ||
        zmq_setsockopt(socket, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0)
        return -zmq_errno();
    return bus_socket_tune(socket);
}

publisher_t *publisher_create(void *zmq_context, const generator_config_t *cfg, char *err,
                              size_t errlen)
{
    publisher_t *pub = calloc(1, sizeof *pub);
    if (pub == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    interest_init(&pub->interest);
    pub->cfg = cfg;
    pub->epoch = cfg->epoch ? (uint64_t)cfg->epoch : (uint64_t)(clock_wall_ns() / 1000000);
    pub->socket = zmq_socket(zmq_context, ZMQ_XPUB);
    if (pub->socket == NULL || configure(pub->socket, cfg) < 0) {
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
    interest_deinit(&pub->interest);
    free(pub);
}

/* Debug only: subscribers re-assert, and any peer can send these, so at info level they
 * would flood the log; what matters, publishing or idle, is logged by update_active. */
static void log_subscription(const publisher_t *pub, const unsigned char *msg, int len)
{
    log_debug(msg[0] ? "subscribe" : "unsubscribe", "prefix=\"%.*s\" subscriptions=%ld",
              len - 1 > 64 ? 64 : len - 1, (const char *)msg + 1, pub->interest.total);
}

/* Fail open: any peer can send an unsubscribe it never subscribed (libzmq passes it on),
 * so "nobody wants it" is only believed after a grace period, in which the heartbeats say
 * publishing=false and every real subscriber re-asserts its subscription. */
static void update_active(publisher_t *pub)
{
    int64_t now = clock_ns(CLOCK_MONOTONIC) / 1000, grace = pub->cfg->heartbeat_ms * 2000;
    /* A full table (a peer subscribing to thousands of prefixes) cannot tell: publish. */
    int wanted = interest_matching(&pub->interest, pub->cfg->topic) > 0 ||
                 pub->interest.len >= INTEREST_PREFIXES_MAX;
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

int publisher_read_subscriptions(publisher_t *pub)
{
    unsigned char msg[256];
    for (;;) {
        int len = zmq_recv(pub->socket, msg, sizeof msg, ZMQ_DONTWAIT);
        if (len < 0) {
            int e = zmq_errno();
            if (e == EAGAIN)
                break;
            return -e;
        }
        /* Longer prefixes arrive truncated; they cannot match a topic of at most 64
         * characters either way, so counting the truncated prefix is harmless. */
        if (len > (int)sizeof msg)
            len = sizeof msg;
        int rc = interest_apply(&pub->interest, msg, (size_t)len);
        if (rc < 0)
            log_warn("subscription dropped", "error=\"%s\"", strerror(-rc));
        else
            log_subscription(pub, msg, len);
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

int publisher_tick(publisher_t *pub, wire_number_t *sent)
{
    update_active(pub);
    if (!pub->active)
        return 0;
    wire_number_t ev = {pub->epoch, pub->seq + 1, clock_wall_ns(), random_value(pub->cfg)};
    uint8_t buf[WIRE_MESSAGE_MAX];
    size_t len = wire_number_encode(&ev, buf, sizeof buf);
    if (len == 0)
        return -EMSGSIZE;
    int rc = send_two_frames(pub, pub->cfg->topic, buf, len);
    if (rc < 0)
        return rc;
    pub->seq = ev.seq;
    *sent = ev;
    log_debug("published", "seq=%llu value=%d", (unsigned long long)ev.seq, ev.value);
    return 1;
}

int publisher_heartbeat(publisher_t *pub)
{
    wire_heartbeat_t hb = {pub->epoch,       pub->seq,
                           clock_wall_ns(),  (uint32_t)pub->cfg->heartbeat_ms,
                           pub->wanted,      (uint32_t)pub->interest.total,
                           pub->replay_port, ""};
    snprintf(hb.topic, sizeof hb.topic, "%s", pub->cfg->topic);
    uint8_t buf[WIRE_MESSAGE_MAX];
    size_t len = wire_heartbeat_encode(&hb, buf, sizeof buf);
    if (len == 0)
        return -EMSGSIZE;
    return send_two_frames(pub, WIRE_HEARTBEAT_TOPIC, buf, len);
}
