/* interest.h -- which subscriptions the generator accepts, and whether someone wants its
 * data topic. The generator publishes four topics (the data topic, WIRE_HEARTBEAT_TOPIC,
 * and a pair's WIRE_MIRROR_TOPIC and WIRE_ACK_TOPIC), so the only prefixes worth holding
 * are prefixes of those: one per length of each topic, the empty one included, each named
 * by its topic and length. Any other prefix is refused, which keeps this set bounded by
 * construction and O(1) per message, whatever a peer sends.
 *
 * Fed with the messages of an XPUB_VERBOSE socket: libzmq passes every subscribe, but an
 * unsubscribe only when the last subscriber of that prefix has gone (or, a libzmq flaw,
 * when any peer sends one it never subscribed). So a prefix is wanted from a subscribe to
 * an unsubscribe: counting them would let duplicates keep it wanted after everyone left.
 * Pure: no sockets; owned by the generator's single thread. */
#ifndef GENERATOR_INTEREST_H
#define GENERATOR_INTEREST_H

#include "wire.h"

#include <stddef.h>

typedef struct {
    char topic[WIRE_TOPIC_MAX + 1];
    size_t topic_len;
    /* wanted[0][n]: the data topic's first n bytes (n = 0 is "", which matches every
     * topic, counted here as it makes the data published); wanted[t][n], n >= 1: the
     * heartbeat (t = 1), mirror (2) or ack (3) topic's ("_" counts as the heartbeat's). */
    unsigned char wanted[4][WIRE_TOPIC_MAX + 1];
    long data;  /* prefixes wanted that match the data topic */
    long total; /* prefixes wanted */
} interest_t;

/* Starts with nothing wanted. topic is the data topic (checked by wire_topic_check).
 * Returns 0, or -EINVAL for a topic longer than WIRE_TOPIC_MAX. */
int interest_init(interest_t *in, const char *topic) __attribute__((warn_unused_result));

/* Applies one XPUB message: 0x01 + prefix subscribes, 0x00 + prefix unsubscribes.
 * Returns 0 when applied (an unsubscribe of a prefix not held changes nothing), -EPERM
 * for a prefix of none of the topics, -EINVAL for a message that is neither. */
int interest_apply(interest_t *in, const void *msg, size_t len) __attribute__((warn_unused_result));

/* Whether some wanted prefix matches the data topic. */
int interest_wants_data(const interest_t *in);

#endif
