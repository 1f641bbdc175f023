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

static void test_heartbeat_round_trip(void)
{
    wire_heartbeat_t in = {5, 9, 123, 1000, 1, 3, 5557, "number"};
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

int main(void)
{
    test_number_round_trip();
    test_heartbeat_round_trip();
    test_refusals();
    test_topic_check();
    CHECK_DONE();
}
