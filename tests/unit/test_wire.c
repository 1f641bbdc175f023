/* test_wire.c -- the bus contract: protobuf round trips and refusal of bad messages. */
#include "check.h"
#include "wire.h"

#include <stdint.h>

static void test_number_round_trip(void)
{
    wire_number_t in = {1795519844017ull, 42, 1795519844017123456ll, 99}, out;
    uint8_t buf[WIRE_MESSAGE_MAX];
    size_t len = wire_number_encode(&in, buf, sizeof buf);
    CHECK(len > 0);
    wire_message_t msg;
    CHECK_EQ_INT(wire_decode("number", 6, buf, len, "number", &msg), WIRE_OK);
    CHECK_EQ_INT(msg.kind, WIRE_NUMBER);
    out = msg.number;
    CHECK(out.epoch == in.epoch && out.seq == in.seq);
    CHECK(out.published_ns == in.published_ns && out.value == in.value);
    CHECK_EQ_INT(wire_number_encode(&in, buf, 3), 0);
}

static void test_pair_topics(void)
{
    uint8_t buf[WIRE_MESSAGE_MAX];
    wire_number_t ev = {7, 3, 1, 42};
    size_t len = wire_number_encode(&ev, buf, sizeof buf);
    wire_message_t msg;
    CHECK_EQ_INT(
        wire_decode(WIRE_MIRROR_TOPIC, strlen(WIRE_MIRROR_TOPIC), buf, len, "number", &msg),
        WIRE_OK);
    CHECK(msg.kind == WIRE_MIRROR && msg.number.seq == 3 && msg.number.value == 42);
    wire_ack_t ack = {7, 3};
    len = wire_ack_encode(&ack, buf, sizeof buf);
    CHECK_EQ_INT(wire_decode(WIRE_ACK_TOPIC, strlen(WIRE_ACK_TOPIC), buf, len, "number", &msg),
                 WIRE_OK);
    CHECK(msg.kind == WIRE_ACK && msg.ack.epoch == 7 && msg.ack.seq == 3);
    ack.epoch = 0;
    len = wire_ack_encode(&ack, buf, sizeof buf);
    CHECK_EQ_INT(wire_decode(WIRE_ACK_TOPIC, strlen(WIRE_ACK_TOPIC), buf, len, "number", &msg),
                 WIRE_ERR_FIELD);
}

static void test_largest_heartbeat_fits(void)
{
    wire_heartbeat_t hb = {UINT64_MAX, UINT64_MAX, INT64_MIN, UINT32_MAX,       1,
                           UINT32_MAX, 65535,      "",        WIRE_ROLE_BACKUP, WIRE_STATE_PASSIVE,
                           1,          UINT64_MAX, 1,         UINT64_MAX,       UINT32_MAX};
    memset(hb.topic, 'x', WIRE_TOPIC_MAX);
    uint8_t buf[WIRE_MESSAGE_MAX];
    CHECK(wire_heartbeat_encode(&hb, buf, sizeof buf) > 0);
}

static void test_heartbeat_round_trip(void)
{
    wire_heartbeat_t in = {
        5, 9, 123, 1000, 1,   3, 5557, "number", WIRE_ROLE_BACKUP, WIRE_STATE_PASSIVE,
        1, 8, 1,   2,    2000};
    uint8_t buf[WIRE_MESSAGE_MAX];
    size_t len = wire_heartbeat_encode(&in, buf, sizeof buf);
    wire_message_t msg;
    CHECK_EQ_INT(
        wire_decode(WIRE_HEARTBEAT_TOPIC, strlen(WIRE_HEARTBEAT_TOPIC), buf, len, "number", &msg),
        WIRE_OK);
    CHECK_EQ_INT(msg.kind, WIRE_HEARTBEAT);
    CHECK(msg.heartbeat.epoch == 5 && msg.heartbeat.last_seq == 9);
    CHECK(msg.heartbeat.interval_ms == 1000 && msg.heartbeat.publishing == 1);
    CHECK(msg.heartbeat.subscriptions == 3 && msg.heartbeat.replay_port == 5557);
    CHECK(strcmp(msg.heartbeat.topic, "number") == 0);
    CHECK(msg.heartbeat.role == WIRE_ROLE_BACKUP && msg.heartbeat.state == WIRE_STATE_PASSIVE);
    CHECK(msg.heartbeat.peer_seen == 1 && msg.heartbeat.mirrored_seq == 8);
    CHECK(msg.heartbeat.standby_synced == 1 && msg.heartbeat.takeovers == 2);
    CHECK(msg.heartbeat.failover_ms == 2000);
}

static void test_refusals(void)
{
    wire_number_t ev = {1, 1, 0, 5};
    uint8_t buf[WIRE_MESSAGE_MAX];
    size_t len = wire_number_encode(&ev, buf, sizeof buf);
    wire_message_t msg;
    /* A prefix match is not a topic match. */
    CHECK_EQ_INT(wire_decode("numbers", 7, buf, len, "number", &msg), WIRE_ERR_TOPIC);
    CHECK_EQ_INT(wire_decode("numb", 4, buf, len, "number", &msg), WIRE_ERR_TOPIC);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_INT(wire_decode("number", 6, junk, sizeof junk, "number", &msg), WIRE_ERR_DECODE);
    /* An empty payload decodes to all defaults, which the contract forbids. */
    CHECK_EQ_INT(wire_decode("number", 6, buf, 0, "number", &msg), WIRE_ERR_FIELD);
    wire_number_t zero_seq = {1, 0, 0, 5};
    len = wire_number_encode(&zero_seq, buf, sizeof buf);
    CHECK_EQ_INT(wire_decode("number", 6, buf, len, "number", &msg), WIRE_ERR_FIELD);
}

static void test_topic_check(void)
{
    char err[128];
    CHECK_EQ_INT(wire_topic_check("number", err, sizeof err), 0);
    CHECK(wire_topic_check("", err, sizeof err) < 0);
    CHECK(wire_topic_check("_heartbeat", err, sizeof err) < 0);
    CHECK(wire_topic_check("a b", err, sizeof err) < 0);
    CHECK(wire_topic_check("a\nb", err, sizeof err) < 0);
    char long_topic[WIRE_TOPIC_MAX + 2];
    memset(long_topic, 'x', sizeof long_topic - 1);
    long_topic[sizeof long_topic - 1] = '\0';
    CHECK(wire_topic_check(long_topic, err, sizeof err) < 0);
}

/* Each refusal has its own place among the counters, and the place names it back. */
static void test_error_index(void)
{
    const wire_error_t all[WIRE_ERROR_KINDS] = {WIRE_ERR_FRAMES, WIRE_ERR_TOPIC, WIRE_ERR_DECODE,
                                                WIRE_ERR_FIELD};
    int seen[WIRE_ERROR_KINDS] = {0};
    for (size_t i = 0; i < WIRE_ERROR_KINDS; i++) {
        size_t index = wire_error_index(all[i]);
        CHECK(index < WIRE_ERROR_KINDS);
        if (index < WIRE_ERROR_KINDS)
            seen[index]++;
        CHECK_EQ_INT(wire_error_at(index), all[i]);
    }
    for (size_t i = 0; i < WIRE_ERROR_KINDS; i++)
        CHECK_EQ_INT(seen[i], 1);
}

int main(void)
{
    test_number_round_trip();
    test_heartbeat_round_trip();
    test_pair_topics();
    test_largest_heartbeat_fits();
    test_refusals();
    test_topic_check();
    test_error_index();
    CHECK_DONE();
}
