/* test_frame.c -- one event's SSE frame: its two parts, and that the widest event with the
 * longest topic stays within FRAME_EVENT_MAX (which a ring slot holds), so the bus never
 * meets a valid event it cannot relay. */
#include "check.h"
#include "frame.h"
#include "ring.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static void test_parts(void)
{
    char buf[FRAME_EVENT_MAX];
    size_t plain = 0;
    wire_number_t ev = {.epoch = 7, .seq = 3, .published_ns = 99, .value = -5};
    int n = frame_event(buf, sizeof buf, "number", &ev, &plain);
    static const char first[] = "id: 7-3\nevent: number\n: t=99\ndata: -5\n\n";
    CHECK_EQ_INT(plain, sizeof first - 1);
    CHECK_BYTES(buf, (int)plain, first);
    static const char html[] = "data: <span class=\"number\" data-event-id=\"7-3\">-5</span>\n\n";
    CHECK_EQ_INT(n, (int)(plain + sizeof html - 1));
    if (n > (int)plain)
        CHECK_BYTES(buf + plain, n - (int)plain, html);
}

static void test_widest_fits_a_slot(void)
{
    char topic[WIRE_TOPIC_MAX + 1];
    memset(topic, 'x', WIRE_TOPIC_MAX);
    topic[WIRE_TOPIC_MAX] = '\0';
    wire_number_t ev = {UINT64_MAX, UINT64_MAX, INT64_MIN, INT32_MIN};
    char buf[FRAME_EVENT_MAX];
    size_t plain = 0;
    int n = frame_event(buf, sizeof buf, topic, &ev, &plain);
    CHECK(n > 0);
    CHECK(n <= (int)FRAME_EVENT_MAX);
    CHECK(FRAME_EVENT_MAX <= RING_FRAME_MAX);
    ring_t *ring = ring_create(2);
    ring_meta_t meta = {.epoch = ev.epoch, .seq = ev.seq, .plain_len = plain};
    CHECK_EQ_INT(n > 0 ? ring_publish(ring, &meta, buf, (size_t)n) : -1, 0);
    ring_destroy(ring);
}

static void test_short_buffer(void)
{
    char buf[32];
    size_t plain = 0;
    wire_number_t ev = {1, 1, 1, 1};
    CHECK_EQ_INT(frame_event(buf, sizeof buf, "number", &ev, &plain), -ENOSPC);
}

int main(void)
{
    test_parts();
    test_widest_fits_a_slot();
    test_short_buffer();
    CHECK_DONE();
}
