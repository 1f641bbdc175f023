/* wire.c -- protobuf-c glue for the bus contract. */
#include "wire.h"

#include "rn.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int topic_is(const void *topic, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(topic, name, len) == 0;
}

static wire_error_t decode_number(const void *payload, size_t len, wire_number_t *out)
{
    Rn__NumberEvent *m = rn__number_event__unpack(NULL, len, payload);
    if (m == NULL)
        return WIRE_ERR_DECODE;
    *out = (wire_number_t){m->epoch, m->seq, m->published_ns, m->value};
    rn__number_event__free_unpacked(m, NULL);
    return out->epoch != 0 && out->seq != 0 ? WIRE_OK : WIRE_ERR_FIELD;
}

static wire_error_t decode_heartbeat(const void *payload, size_t len, wire_heartbeat_t *out)
{
    Rn__Heartbeat *m = rn__heartbeat__unpack(NULL, len, payload);
    if (m == NULL)
        return WIRE_ERR_DECODE;
    *out = (wire_heartbeat_t){.epoch = m->epoch,
                              .last_seq = m->last_seq,
                              .sent_ns = m->sent_ns,
                              .interval_ms = m->interval_ms,
                              .publishing = m->publishing,
                              .subscriptions = m->subscriptions,
                              .replay_port = m->replay_port,
                              .role = (wire_role_t)m->role,
                              .state = (wire_state_t)m->state,
                              .peer_seen = m->peer_seen,
                              .mirrored_seq = m->mirrored_seq,
                              .standby_synced = m->standby_synced,
                              .takeovers = m->takeovers,
                              .failover_ms = m->failover_ms};
    wire_error_t rc = WIRE_OK;
    if (m->epoch == 0 || m->interval_ms == 0 || strlen(m->topic) > WIRE_TOPIC_MAX ||
        m->replay_port > 65535 || (unsigned)m->role > WIRE_ROLE_BACKUP ||
        (unsigned)m->state > WIRE_STATE_PASSIVE)
        rc = WIRE_ERR_FIELD;
    else
        memcpy(out->topic, m->topic, strlen(m->topic) + 1);
    rn__heartbeat__free_unpacked(m, NULL);
    return rc;
}

static wire_error_t decode_ack(const void *payload, size_t len, wire_ack_t *out)
{
    Rn__MirrorAck *m = rn__mirror_ack__unpack(NULL, len, payload);
    if (m == NULL)
        return WIRE_ERR_DECODE;
    *out = (wire_ack_t){m->epoch, m->seq};
    rn__mirror_ack__free_unpacked(m, NULL);
    return out->epoch != 0 ? WIRE_OK : WIRE_ERR_FIELD;
}

wire_error_t wire_decode(const void *topic, size_t topic_len, const void *payload,
                         size_t payload_len, const char *data_topic, wire_message_t *out)
{
    if (topic_is(topic, topic_len, data_topic)) {
        out->kind = WIRE_NUMBER;
        return decode_number(payload, payload_len, &out->number);
    }
    if (topic_is(topic, topic_len, WIRE_HEARTBEAT_TOPIC)) {
        out->kind = WIRE_HEARTBEAT;
        return decode_heartbeat(payload, payload_len, &out->heartbeat);
    }
    if (topic_is(topic, topic_len, WIRE_MIRROR_TOPIC)) {
        out->kind = WIRE_MIRROR;
        return decode_number(payload, payload_len, &out->number);
    }
    if (topic_is(topic, topic_len, WIRE_ACK_TOPIC)) {
        out->kind = WIRE_ACK;
        return decode_ack(payload, payload_len, &out->ack);
    }
    return WIRE_ERR_TOPIC;
}

const char *wire_error_name(wire_error_t err)
{
    switch (err) {
    case WIRE_OK:
        return "ok";
    case WIRE_ERR_FRAMES:
        return "frames";
    case WIRE_ERR_TOPIC:
        return "topic";
    case WIRE_ERR_DECODE:
        return "decode";
    case WIRE_ERR_FIELD:
        return "field";
    }
    return "unknown";
}

size_t wire_number_encode(const wire_number_t *in, uint8_t *buf, size_t cap)
{
    Rn__NumberEvent m = RN__NUMBER_EVENT__INIT;
    m.epoch = in->epoch;
    m.seq = in->seq;
    m.published_ns = in->published_ns;
    m.value = in->value;
    if (rn__number_event__get_packed_size(&m) > cap)
        return 0;
    return rn__number_event__pack(&m, buf);
}

size_t wire_heartbeat_encode(const wire_heartbeat_t *in, uint8_t *buf, size_t cap)
{
    Rn__Heartbeat m = RN__HEARTBEAT__INIT;
    m.epoch = in->epoch;
    m.last_seq = in->last_seq;
    m.sent_ns = in->sent_ns;
    m.interval_ms = in->interval_ms;
    m.publishing = in->publishing;
    m.subscriptions = in->subscriptions;
    m.replay_port = in->replay_port;
    m.topic = (char *)in->topic;
    m.role = (Rn__Heartbeat__Role)in->role;
    m.state = (Rn__Heartbeat__State)in->state;
    m.peer_seen = in->peer_seen;
    m.mirrored_seq = in->mirrored_seq;
    m.standby_synced = in->standby_synced;
    m.takeovers = in->takeovers;
    m.failover_ms = in->failover_ms;
    if (rn__heartbeat__get_packed_size(&m) > cap)
        return 0;
    return rn__heartbeat__pack(&m, buf);
}

size_t wire_ack_encode(const wire_ack_t *in, uint8_t *buf, size_t cap)
{
    Rn__MirrorAck m = RN__MIRROR_ACK__INIT;
    m.epoch = in->epoch;
    m.seq = in->seq;
    if (rn__mirror_ack__get_packed_size(&m) > cap)
        return 0;
    return rn__mirror_ack__pack(&m, buf);
}

int wire_topic_check(const char *topic, char *err, size_t errlen)
{
    size_t len = strlen(topic);
    if (len == 0 || len > WIRE_TOPIC_MAX) {
        snprintf(err, errlen, "topic must be 1 to %d characters", WIRE_TOPIC_MAX);
        return -EINVAL;
    }
    if (topic[0] == '_') {
        snprintf(err, errlen, "topic '%s' starts with '_', which is reserved for the bus", topic);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (topic[i] <= ' ' || topic[i] > '~') {
            snprintf(err, errlen, "topic must be printable ASCII without spaces");
            return -EINVAL;
        }
    }
    return 0;
}
