/* test_ring.c -- the broadcast ring: order, overwrite, search, a racing reader. */
#include "check.h"
#include "ring.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

static void publish(ring_t *r, uint64_t epoch, uint64_t seq)
{
    char frame[64];
    int n = snprintf(frame, sizeof frame, "id: %llu-%llu\n\n", (unsigned long long)epoch,
                     (unsigned long long)seq);
    ring_meta_t m = {epoch, seq, 0, (int64_t)seq, 0, 0};
    CHECK_EQ_INT(ring_publish(r, &m, frame, (size_t)n), 0);
}

static void test_order_and_overwrite(void)
{
    ring_t *r = ring_create(4);
    char buf[RING_FRAME_MAX];
    ring_meta_t m;
    CHECK_EQ_INT(ring_head(r), 1);
    CHECK_EQ_INT(ring_read(r, 1, buf, sizeof buf, &m), -EAGAIN);
    for (uint64_t s = 1; s <= 6; s++)
        publish(r, 7, s);
    CHECK_EQ_INT(ring_head(r), 7);
    CHECK_EQ_INT(ring_tail(r), 3);
    CHECK_EQ_INT(ring_read(r, 2, buf, sizeof buf, &m), -ERANGE);
    int n = ring_read(r, 3, buf, sizeof buf, &m);
    CHECK_BYTES(buf, n, "id: 7-3\n\n");
    CHECK(m.epoch == 7 && m.seq == 3 && m.value == 3);
    CHECK_EQ_INT(ring_read(r, 6, buf, 3, &m), -ENOSPC);
    ring_destroy(r);
}

static void test_refuses_oversized_frame(void)
{
    ring_t *r = ring_create(2);
    char big[RING_FRAME_MAX + 1] = {0};
    ring_meta_t m = {1, 1, 0, 0, 0, 0};
    CHECK_EQ_INT(ring_publish(r, &m, big, sizeof big), -EMSGSIZE);
    CHECK_EQ_INT(ring_publish(r, &m, big, RING_FRAME_MAX), 0);
    ring_destroy(r);
}

/* The plain part of a frame is what clients without html=1 get: a prefix, the whole
 * frame when 0 or out of range. */
static void test_plain_len(void)
{
    ring_t *r = ring_create(4);
    ring_meta_t m = {1, 1, 0, 0, 0, 5}, got;
    char frame[RING_FRAME_MAX];
    CHECK_EQ_INT(ring_publish(r, &m, "plainhtml", 9), 0);
    m = (ring_meta_t){1, 2, 0, 0, 0, 0};
    CHECK_EQ_INT(ring_publish(r, &m, "whole", 5), 0);
    m = (ring_meta_t){1, 3, 0, 0, 0, 99};
    CHECK_EQ_INT(ring_publish(r, &m, "short", 5), 0);
    CHECK_EQ_INT(ring_read(r, 1, frame, sizeof frame, &got), 9);
    CHECK_EQ_INT((int)got.plain_len, 5);
    CHECK_EQ_INT(ring_read(r, 2, frame, sizeof frame, &got), 5);
    CHECK_EQ_INT((int)got.plain_len, 5);
    CHECK_EQ_INT(ring_read(r, 3, frame, sizeof frame, &got), 5);
    CHECK_EQ_INT((int)got.plain_len, 5);
    CHECK_EQ_INT(ring_read_plain(r, 1, frame, sizeof frame, &got), 5);
    CHECK_BYTES(frame, 5, "plain");
    CHECK_EQ_INT(ring_read_plain(r, 2, frame, sizeof frame, &got), 5);
    ring_destroy(r);
}

static void check_find(ring_t *r, uint64_t epoch, uint64_t seq, ring_find_t want, uint64_t pos)
{
    uint64_t got;
    CHECK_EQ_INT(ring_find(r, epoch, seq, &got), want);
    CHECK_EQ_INT((int)got, (int)pos);
}

static void test_find(void)
{
    ring_t *r = ring_create(8);
    check_find(r, 10, 1, RING_UNKNOWN, 1); /* empty: the head */
    for (uint64_t s = 1; s <= 5; s++)
        publish(r, 10, s);
    for (uint64_t s = 1; s <= 5; s++)
        publish(r, 20, s); /* a generator restart: a new epoch */
    /* Held: positions 3..10 = 10-3 10-4 10-5 20-1 .. 20-5. */
    CHECK_EQ_INT(ring_tail(r), 3);
    check_find(r, 20, 4, RING_AFTER, 10);
    check_find(r, 20, 5, RING_AFTER, 11); /* the newest: next is the head */
    check_find(r, 20, 9, RING_AHEAD, 11); /* past the newest */
    check_find(r, 20, 0, RING_AFTER, 6);  /* before the run's first: from its start */
    check_find(r, 10, 5, RING_AFTER, 6);  /* last of a run: first of the next */
    check_find(r, 10, 7, RING_AFTER, 6);  /* past an older run's end: the next run */
    check_find(r, 10, 3, RING_AFTER, 4);
    check_find(r, 10, 2, RING_AFTER, 3);   /* the tail is its successor */
    check_find(r, 10, 1, RING_TOO_OLD, 3); /* its successor was overwritten */
    check_find(r, 5, 100, RING_UNKNOWN, 11);
    check_find(r, 15, 1, RING_UNKNOWN, 11);
    ring_destroy(r);
}

/* A generator whose clock went back: its epoch is lower, yet it is the newest run. */
static void test_find_epoch_going_back(void)
{
    ring_t *r = ring_create(16);
    for (uint64_t s = 1; s <= 3; s++)
        publish(r, 20, s);
    for (uint64_t s = 1; s <= 3; s++)
        publish(r, 10, s);
    check_find(r, 10, 2, RING_AFTER, 6);
    check_find(r, 10, 3, RING_AFTER, 7);
    check_find(r, 10, 4, RING_AHEAD, 7);
    check_find(r, 20, 3, RING_AFTER, 4); /* the end of the older run: the newer run */
    check_find(r, 20, 1, RING_AFTER, 2);
    ring_destroy(r);
}

typedef struct {
    ring_t *ring;
    uint64_t got, lagged, torn;
} reader_t;

/* Reads every position as fast as it can while the writer laps the ring; every frame it
 * gets must be the one of its position, never a mix of two. */
static void *reader_main(void *arg)
{
    reader_t *rd = arg;
    char buf[RING_FRAME_MAX], want[64];
    uint64_t pos = 1;
    while (pos <= 20000) {
        ring_meta_t m;
        int n = ring_read(rd->ring, pos, buf, sizeof buf, &m);
        if (n == -EAGAIN) {
            if (ring_closed(rd->ring))
                break;
            sched_yield();
            continue;
        }
        if (n == -ERANGE) {
            rd->lagged++;
            pos = ring_tail(rd->ring);
            continue;
        }
        int w = snprintf(want, sizeof want, "id: 1-%llu\n\n", (unsigned long long)m.seq);
        if (m.seq != pos || n != w || memcmp(buf, want, (size_t)n) != 0)
            rd->torn++;
        rd->got++;
        pos++;
    }
    return NULL;
}

static void test_concurrent_reader(void)
{
    ring_t *r = ring_create(16);
    reader_t rd = {r, 0, 0, 0};
    pthread_t t;
    CHECK_EQ_INT(pthread_create(&t, NULL, reader_main, &rd), 0);
    for (uint64_t s = 1; s <= 20000; s++)
        publish(r, 1, s);
    ring_close(r); /* a reader that lagged at the very end stops waiting */
    pthread_join(t, NULL);
    CHECK_EQ_INT(rd.torn, 0);
    CHECK(rd.got > 0);
    /* Every position was either read or skipped by a catch-up after lagging. */
    CHECK(rd.lagged == 0 ? rd.got == 20000 : rd.got < 20000);
    ring_destroy(r);
}

int main(void)
{
    test_order_and_overwrite();
    test_refuses_oversized_frame();
    test_plain_len();
    test_find();
    test_find_epoch_going_back();
    test_concurrent_reader();
    CHECK_DONE();
}
