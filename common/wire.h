/* wire.h -- the bus messages of proto/rn.proto as plain C structs: encode for the
 * generator, validate-and-decode for every subscriber. Pure: protobuf-c only, no sockets. */
#ifndef RN_WIRE_H
#define RN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_HEARTBEAT_TOPIC "_heartbeat"
#define WIRE_MIRROR_TOPIC "_mirror" /* a pair's active to its passive: NumberEvent */
#define WIRE_ACK_TOPIC "_ack"       /* a pair's passive to its active: MirrorAck */
#define WIRE_TOPIC_MAX 64
#define WIRE_MESSAGE_MAX 192 /* encoded size bound of any bus message */

typedef struct {
    uint64_t epoch;
    uint64_t seq;
    int64_t published_ns;
    int32_t value;
} wire_number_t;

/* Heartbeat.Role and Heartbeat.State of proto/rn.proto; 0 is a single, active generator. */
typedef enum { WIRE_ROLE_SINGLE = 0, WIRE_ROLE_PRIMARY = 1, WIRE_ROLE_BACKUP = 2 } wire_role_t;
typedef enum {
    WIRE_STATE_ACTIVE = 0,
    WIRE_STATE_STARTING = 1,
    WIRE_STATE_PASSIVE = 2
} wire_state_t;

typedef struct {
    uint64_t epoch;
    uint64_t last_seq;
    int64_t sent_ns;
    uint32_t interval_ms;
    int publishing;
    uint32_t subscriptions;
    uint32_t replay_port; /* 0: no replay socket */
    char topic[WIRE_TOPIC_MAX + 1];
    /* the pair; all 0 for a single generator */
    wire_role_t role;
    wire_state_t state;
    int peer_seen;
    uint64_t mirrored_seq;
    int standby_synced;
    uint64_t takeovers;
    uint32_t failover_ms;
} wire_heartbeat_t;

typedef struct {
    uint64_t epoch;
    uint64_t seq; /* every event of epoch up to seq is mirrored */
} wire_ack_t;

/* WIRE_MIRROR carries a number (in .number), sent by a pair's active to its passive. */
typedef enum { WIRE_NUMBER, WIRE_HEARTBEAT, WIRE_MIRROR, WIRE_ACK } wire_kind_t;

typedef struct {
    wire_kind_t kind;
    union {
        wire_number_t number;
        wire_heartbeat_t heartbeat;
        wire_ack_t ack;
    };
} wire_message_t;

/* Why a message was refused; each is a label of the malformed-message counter. */
typedef enum {
    WIRE_OK = 0,
    WIRE_ERR_FRAMES = -1, /* not exactly two frames (checked by the socket reader) */
    WIRE_ERR_TOPIC = -2,  /* a topic this subscriber did not ask for */
    WIRE_ERR_DECODE = -3, /* the payload is not valid protobuf for the topic */
    WIRE_ERR_FIELD = -4,  /* decoded, but a field breaks the contract (seq 0, ...) */
} wire_error_t;

#define WIRE_ERROR_KINDS 4

/* A refusal's place among the WIRE_ERROR_KINDS, for arrays of counters: WIRE_ERR_FRAMES
 * first. wire_error_at is the inverse. */
static inline size_t wire_error_index(wire_error_t err)
{
    return (size_t)(-(int)err - 1);
}

static inline wire_error_t wire_error_at(size_t index)
{
    return (wire_error_t)(-(int)index - 1);
}

/* Decodes one two-frame message. data_topic is the only data topic accepted; "_mirror"
 * and "_ack" are decoded too (only a pair's members subscribe to them). */
wire_error_t wire_decode(const void *topic, size_t topic_len, const void *payload,
                         size_t payload_len, const char *data_topic, wire_message_t *out)
    __attribute__((warn_unused_result));

/* Short label for an error ("frames", "topic", "decode", "field"). */
const char *wire_error_name(wire_error_t err);

/* Encode into buf; return the length, or 0 when cap is too small. */
size_t wire_number_encode(const wire_number_t *in, uint8_t *buf, size_t cap);
size_t wire_heartbeat_encode(const wire_heartbeat_t *in, uint8_t *buf, size_t cap);
size_t wire_ack_encode(const wire_ack_t *in, uint8_t *buf, size_t cap);

/* A data topic is 1..64 printable ASCII characters without spaces, not starting with '_'.
 * Returns 0, or -EINVAL with the reason in err. */
int wire_topic_check(const char *topic, char *err, size_t errlen);

#endif
