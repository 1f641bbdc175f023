/* test_replay.c -- the replay contract: request and reply round trips, refused requests
 * and replies, and the generator's history of recent events. */
#include "check.h"
#include "history.h"
#include "wire_replay.h"

#include <stdlib.h>
#include <string.h>

static void test_request_round_trip(void)
{
    uint8_t buf[WIRE_REPLAY_REQUEST_MAX];
    wire_replay_request_t in = {1795000000000ULL, 7, UINT64_MAX, 1}, out;
    size_t len = wire_replay_request_encode(&in, buf, sizeof buf);
    CHECK(len > 0 && len <= WIRE_REPLAY_REQUEST_MAX);
    char err[128];
    CHECK_EQ_INT(wire_replay_request_decode(buf, len, &out, err, sizeof err), WIRE_OK);
    CHECK(out.epoch == in.epoch && out.from_seq == 7 && out.to_seq == UINT64_MAX && out.vote);
    /* a voter that holds nothing has no epoch to name */
    wire_replay_request_t empty = {0, 1, 1, 1};
    len = wire_replay_request_encode(&empty, buf, sizeof buf);
    CHECK_EQ_INT(wire_replay_request_decode(buf, len, &out, err, sizeof err), WIRE_OK);
    CHECK(out.epoch == 0 && out.vote);
}

static void test_request_refusals(void)
{
    uint8_t buf[WIRE_REPLAY_REQUEST_MAX];
    char err[128] = "";
    wire_replay_request_t out;
    CHECK_EQ_INT(wire_replay_request_decode("\xff\xff\xff", 3, &out, err, sizeof err),
                 WIRE_ERR_DECODE);
    const wire_replay_request_t bad[] = {{0, 1, 2, 0}, {5, 0, 2, 0}, {5, 3, 2, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = wire_replay_request_encode(&bad[i], buf, sizeof buf);
        err[0] = '\0';
        CHECK_EQ_INT(wire_replay_request_decode(buf, len, &out, err, sizeof err), WIRE_ERR_FIELD);
        CHECK(err[0] != '\0');
    }
}

static wire_replay_reply_t reply_of(wire_number_t *events, size_t count)
{
    return (wire_replay_reply_t){9, 3, 20, events, count, ""};
}

static void test_reply_round_trip(void)
{
    wire_number_t events[3] = {{9, 4, 100, 1}, {9, 5, 200, 2}, {9, 6, 300, 100}}, got[3];
    wire_replay_reply_t in = reply_of(events, 3), out = {.events = got};
    uint8_t *bytes;
    size_t len;
    CHECK_EQ_INT(wire_replay_reply_encode(&in, &bytes, &len), 0);
    CHECK_EQ_INT(wire_replay_reply_decode(bytes, len, &out, 3), WIRE_OK);
    CHECK(out.epoch == 9 && out.first_seq == 3 && out.last_seq == 20 && out.count == 3);
    CHECK(got[2].seq == 6 && got[2].value == 100 && got[1].published_ns == 200);
    CHECK_EQ_INT(wire_replay_reply_decode(bytes, len, &out, 2), WIRE_ERR_FIELD); /* too many */
    free(bytes);
}

static void test_reply_refusals(void)
{
    wire_number_t gap[2] = {{9, 4, 0, 1}, {9, 6, 0, 1}}, other[1] = {{8, 4, 0, 1}}, got[4];
    wire_number_t *bad[] = {gap, other};
    size_t counts[] = {2, 1};
    for (size_t i = 0; i < 2; i++) {
        wire_replay_reply_t in = reply_of(bad[i], counts[i]), out = {.events = got};
        uint8_t *bytes;
        size_t len;
        CHECK_EQ_INT(wire_replay_reply_encode(&in, &bytes, &len), 0);
        CHECK_EQ_INT(wire_replay_reply_decode(bytes, len, &out, 4), WIRE_ERR_FIELD);
        free(bytes);
    }
    wire_replay_reply_t out = {.events = got};
    CHECK_EQ_INT(wire_replay_reply_decode("\x0a\xff", 2, &out, 4), WIRE_ERR_DECODE);
}

static void append(history_t *h, uint64_t from, uint64_t to)
{
    for (uint64_t s = from; s <= to; s++)
        history_append(h, &(wire_number_t){1, s, 0, (int32_t)s});
}

static void test_history(void)
{
    history_t h;
    wire_number_t out[8];
    CHECK_EQ_INT(history_init(&h, 4), 0);
    CHECK_EQ_INT((int)history_range(&h, 1, 10, out, 8), 0);
    append(&h, 1, 6); /* holds 3..6 */
    CHECK(h.first_seq == 3 && h.last_seq == 6);
    CHECK_EQ_INT((int)history_range(&h, 1, 100, out, 8), 4);
    CHECK(out[0].seq == 3 && out[3].seq == 6);
    CHECK_EQ_INT((int)history_range(&h, 5, 5, out, 8), 1);
    CHECK(out[0].seq == 5);
    CHECK_EQ_INT((int)history_range(&h, 4, 6, out, 2), 2); /* bounded by max */
    CHECK(out[1].seq == 5);
    CHECK_EQ_INT((int)history_range(&h, 7, 9, out, 8), 0);
    append(&h, 10, 10); /* out of sequence: starts afresh */
    CHECK(h.first_seq == 10 && h.last_seq == 10);
    history_deinit(&h);
}

int main(void)
{
    test_request_round_trip();
    test_request_refusals();
    test_reply_round_trip();
    test_reply_refusals();
    test_history();
    CHECK_DONE();
}
