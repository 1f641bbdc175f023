/* publisher.h -- the generator's XPUB socket: tracks who wants the data topic and
 * publishes numbers and heartbeats in the two-frame format of proto/rn.proto.
 * Owned and used by the generator's single thread. */
#ifndef GENERATOR_PUBLISHER_H
#define GENERATOR_PUBLISHER_H

#include "config.h"
#include "interest.h"
#include "wire.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    void *socket;
    uint32_t port; /* TCP port bound, 0 when not TCP */
    interest_t interest;
    uint64_t refused;              /* subscriptions refused */
    uint64_t closed;               /* connections closed for them */
    const generator_config_t *cfg; /* borrowed from main */
    uint64_t epoch;
    uint64_t seq;
    int wanted;                /* some subscriber wants the data topic, as far as we can tell */
    int64_t unwanted_since_us; /* monotonic, when wanted last became 0 */
    int active;           /* publishing: wanted, or within the grace period after (fail open) */
    uint32_t replay_port; /* announced in heartbeats; 0: no replay */
    int greet;            /* a subscriber of the heartbeats came: one is due now */
} publisher_t;

/* Binds the socket; on failure returns NULL with the reason in err. */
publisher_t *publisher_create(void *zmq_context, const generator_config_t *cfg, char *err,
                              size_t errlen);
void publisher_destroy(publisher_t *pub);

/* Reads the pending subscribes and unsubscribes, a bounded batch of them (the caller's
 * poll says when more are pending), and updates pub->active; sets pub->greet when one
 * subscribed to the heartbeats. Returns 0 or -errno. */
int publisher_read_subscriptions(publisher_t *pub) __attribute__((warn_unused_result));

/* Publishes one random number if some subscriber wants it, and copies it to *sent.
 * Returns 1 when published, 0 when idle, or -errno. */
int publisher_tick(publisher_t *pub, wire_number_t *sent) __attribute__((warn_unused_result));

/* A new event of pub->epoch with the given seq, a random value and the time now. */
void publisher_make(const publisher_t *pub, uint64_t seq, wire_number_t *ev);

/* Sends ev on topic (the data topic, or a pair's WIRE_MIRROR_TOPIC). 0 or -errno. */
int publisher_send(publisher_t *pub, const char *topic, const wire_number_t *ev)
    __attribute__((warn_unused_result));

/* Sends a pair's MirrorAck on WIRE_ACK_TOPIC. 0 or -errno. */
int publisher_send_ack(publisher_t *pub, const wire_ack_t *ack) __attribute__((warn_unused_result));

/* Sends a heartbeat; pair holds a pair's fields (role .. failover_ms; the rest is
 * ignored), NULL for a single generator, whose heartbeats leave them 0. 0 or -errno. */
int publisher_heartbeat(publisher_t *pub, const wire_heartbeat_t *pair)
    __attribute__((warn_unused_result));

#endif
