/* test_cursor.c -- where a client starts and what it is sent: every branch of cursor.c on
 * a real ring. Frames here are "E-S;" (plain part) + "h" (the page's part), resets
 * "[reason]", so a collected buffer reads as the exact sequence a client gets. */
#include "check.h"
#include "cursor.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const reason_names[RESET_KINDS] = {"invalid-id", "too-old", "epoch", "gap"};

static void publish(ring_t *r, uint64_t epoch, uint64_t seq)
{
    char frame[64];
    int n = snprintf(frame, sizeof frame, "%llu-%llu;h", (unsigned long long)epoch,
                     (unsigned long long)seq);
    ring_meta_t m = {epoch, seq, 0, 0, (int64_t)(1000 + seq), (uint64_t)n - 1};
    CHECK_EQ_INT(ring_publish(r, &m, frame, (size_t)n), 0);
}

static int reset_text(void *ctx, reset_reason_t reason, char *dst, size_t cap)
{
    int *count = ctx;
    (*count)++;
    return snprintf(dst, cap, "[%s]", reason_names[reason]);
}

/* Everything the client would be sent from where it stands, as text. */
static void collect_all(cursor_t *c, const ring_t *r, int html, const char *want)
{
    char buf[8192];
    uint64_t events;
    int64_t oldest = 0;
    int resets = 0;
    int n = cursor_collect(c, r, ring_head(r), html, buf, sizeof buf, &events, &oldest, reset_text,
                           &resets);
    CHECK(n >= 0);
    CHECK_BYTES(buf, n, want);
}

/* A ring with epoch 5, seqs 1..10, holding the last 8 of them (3..10). */
static ring_t *ring_5_3_10(void)
{
    ring_t *r = ring_create(8);
    for (uint64_t s = 1; s <= 10; s++)
        publish(r, 5, s);
    return r;
}

/* Where a client starts, for each kind of last id, on the ring of epoch 5 holding 3..10. */
static void test_start_cases(void)
{
    static const struct {
        const char *what;
        int id_rc;
        uint64_t epoch, seq, bus_epoch;
        int replay_known;
        cursor_start_t want;
        int reset, awaiting, at_head;
    } cases[] = {
        {"no id", -ENOENT, 0, 0, 5, 1, CURSOR_LIVE, CURSOR_NO_RESET, 0, 1},
        {"an id that does not parse", -EINVAL, 0, 0, 5, 1, CURSOR_LIVE, RESET_INVALID_ID, 0, 1},
        {"held: resume", 0, 5, 7, 5, 1, CURSOR_RESUMED, CURSOR_NO_RESET, 0, 0},
        {"too old, replay known: fetch", 0, 5, 1, 5, 1, CURSOR_FILL, CURSOR_NO_RESET, 0, 1},
        {"too old, no replay: live", 0, 5, 1, 5, 0, CURSOR_LIVE, RESET_TOO_OLD, 0, 1},
        {"ahead of the ring: wait", 0, 5, 12, 5, 1, CURSOR_AWAIT, CURSOR_NO_RESET, 1, 1},
        {"our bus's epoch, none held yet: wait", 0, 6, 3, 6, 1, CURSOR_AWAIT, CURSOR_NO_RESET, 1,
         1},
        {"an epoch we do not relay: live", 0, 3, 7, 5, 1, CURSOR_LIVE, RESET_EPOCH, 0, 1},
    };
    ring_t *r = ring_5_3_10();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cursor_t c;
        cursor_start_t got = cursor_start(&c, r, cases[i].id_rc, cases[i].epoch, cases[i].seq,
                                          cases[i].bus_epoch, cases[i].replay_known);
        if (got != cases[i].want || c.pending_reset != cases[i].reset ||
            c.held.awaiting != cases[i].awaiting || (c.pos == ring_head(r)) != cases[i].at_head)
            fprintf(stderr, "case '%s': start %d reset %d awaiting %d pos %llu\n", cases[i].what,
                    (int)got, c.pending_reset, c.held.awaiting, (unsigned long long)c.pos);
        CHECK(got == cases[i].want && c.pending_reset == cases[i].reset);
        CHECK(c.held.awaiting == cases[i].awaiting && (c.pos == ring_head(r)) == cases[i].at_head);
    }
    ring_destroy(r);
}

/* What a client is sent from its start, on the ring of epoch 5 holding 3..10 and then
 * 11..publish_to published. */
static void test_what_is_sent(void)
{
    static const struct {
        int id_rc;
        uint64_t seq;
        int html;
        uint64_t publish_to;
        const char *want;
    } cases[] = {
        {-ENOENT, 0, 0, 11, "5-11;"},   /* no id: live */
        {0, 7, 0, 10, "5-8;5-9;5-10;"}, /* resumed right after its id */
        {0, 9, 1, 10, "5-10;h"},        /* the page gets the whole frame */
        {0, 12, 0, 13, "5-13;"},        /* awaited: 11 and 12 it has */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ring_t *r = ring_5_3_10();
        cursor_t c;
        cursor_start(&c, r, cases[i].id_rc, 5, cases[i].seq, 5, 1);
        for (uint64_t seq = 11; seq <= cases[i].publish_to; seq++)
            publish(r, 5, seq);
        collect_all(&c, r, cases[i].html, cases[i].want);
        ring_destroy(r);
    }
}

static void test_too_old_fetches_the_gap_up_to_the_newest(void)
{
    ring_t *r = ring_5_3_10();
    cursor_t c;
    CHECK_EQ_INT(cursor_start(&c, r, 0, 5, 1, 5, 1), CURSOR_FILL);
    CHECK(c.fill_from == 2 && c.fill_to == 10);
    /* The fetch sent up to 10: the ring holds what follows. */
    c.held.seq = 10;
    CHECK_EQ_INT(cursor_refill(&c, r), 0);
    cursor_after_fill(&c, r);
    CHECK_EQ_INT(c.fill_from, 0);
    publish(r, 5, 11);
    collect_all(&c, r, 0, "5-11;");
    ring_destroy(r);
}

static void test_a_fetch_overtaken_by_the_ring_asks_again(void)
{
    ring_t *r = ring_5_3_10();
    cursor_t c;
    CHECK_EQ_INT(cursor_start(&c, r, 0, 5, 1, 5, 1), CURSOR_FILL);
    c.held.seq = 2; /* the fetch got only 2; meanwhile the ring moved past 3 */
    for (uint64_t s = 11; s <= 14; s++)
        publish(r, 5, s);
    CHECK_EQ_INT(cursor_refill(&c, r), 1);
    CHECK(c.fill_from == 3 && c.fill_to == 14);
    ring_destroy(r);
}

static void test_a_fetch_that_got_nothing_goes_live(void)
{
    ring_t *r = ring_5_3_10();
    cursor_t c;
    CHECK_EQ_INT(cursor_start(&c, r, 0, 5, 1, 5, 1), CURSOR_FILL);
    cursor_go_live(&c, r);
    CHECK(c.held.known == 0 && c.fill_from == 0 && c.pos == ring_head(r));
    publish(r, 5, 11);
    collect_all(&c, r, 0, "5-11;");
    ring_destroy(r);
}

static void test_an_older_epoch_too_old_for_the_ring(void)
{
    /* Epoch 4 (3..6 held of 1..6), then 5 (1..4): the client was at 4-1. The generator
     * holds only epoch 5, so: a reset, what is held of 4, then a reset into 5. */
    ring_t *r = ring_create(8);
    for (uint64_t s = 1; s <= 6; s++)
        publish(r, 4, s);
    for (uint64_t s = 1; s <= 4; s++)
        publish(r, 5, s);
    cursor_t c;
    CHECK_EQ_INT(cursor_start(&c, r, 0, 4, 1, 5, 1), CURSOR_OLD_RUN);
    CHECK_EQ_INT(c.pending_reset, RESET_TOO_OLD);
    collect_all(&c, r, 0, "4-3;4-4;4-5;4-6;[epoch]5-1;5-2;5-3;5-4;");
    ring_destroy(r);
}

static void test_giving_up_says_why(void)
{
    ring_t *r = ring_5_3_10();
    cursor_t c;
    CHECK_EQ_INT(cursor_start(&c, r, 0, 5, 99, 5, 1), CURSOR_AWAIT);
    CHECK_EQ_INT(cursor_give_up(&c, r), RESET_INVALID_ID); /* our epoch: never published */
    CHECK(c.held.known == 0 && c.held.awaiting == 0);
    CHECK_EQ_INT(cursor_start(&c, r, 0, 6, 1, 6, 1), CURSOR_AWAIT);
    CHECK_EQ_INT(cursor_give_up(&c, r), RESET_EPOCH); /* an epoch we never relayed */
    ring_destroy(r);
}

/* The client holds an id ahead of us and the generator restarts while it waits: its id
 * can never come, and the new epoch's events are sent from the first, after a reset. */
static void test_a_new_epoch_ends_the_wait_at_its_first_event(void)
{
    ring_t *r = ring_5_3_10();
    cursor_t c;
    CHECK_EQ_INT(cursor_start(&c, r, 0, 5, 12, 5, 1), CURSOR_AWAIT);
    publish(r, 5, 11);
    for (uint64_t s = 1; s <= 3; s++)
        publish(r, 6, s);
    collect_all(&c, r, 0, "[epoch]6-1;6-2;6-3;");
    CHECK(c.held.awaiting == 0);
    /* Had the wait timed out first, giving up starts where the cursor stands. */
    CHECK_EQ_INT(cursor_start(&c, r, 0, 6, 9, 6, 1), CURSOR_AWAIT);
    uint64_t waited_at = c.pos;
    publish(r, 6, 4);
    CHECK_EQ_INT(cursor_give_up(&c, r), RESET_INVALID_ID);
    CHECK(c.pos == waited_at);
    collect_all(&c, r, 0, "6-4;");
    ring_destroy(r);
}

static void test_gaps_and_epochs_in_the_ring_get_resets(void)
{
    ring_t *r = ring_create(16);
    publish(r, 5, 1);
    publish(r, 5, 2);
    publish(r, 5, 4); /* 3 was lost */
    publish(r, 6, 1); /* a new generator */
    cursor_t c;
    CHECK_EQ_INT(cursor_start(&c, r, 0, 5, 1, 6, 1), CURSOR_RESUMED);
    collect_all(&c, r, 0, "5-2;[gap]5-4;[epoch]6-1;");
    ring_destroy(r);
}

static void test_an_overwritten_next_frame_is_the_end(void)
{
    ring_t *r = ring_create(4);
    for (uint64_t s = 1; s <= 4; s++)
        publish(r, 5, s);
    cursor_t c;
    CHECK_EQ_INT(cursor_start(&c, r, 0, 5, 1, 5, 1), CURSOR_RESUMED);
    for (uint64_t s = 5; s <= 9; s++)
        publish(r, 5, s); /* laps the client */
    char buf[4096];
    uint64_t events;
    int64_t oldest;
    int resets = 0;
    CHECK_EQ_INT(cursor_collect(&c, r, ring_head(r), 0, buf, sizeof buf, &events, &oldest,
                                reset_text, &resets),
                 -ERANGE);
    ring_destroy(r);
}

static void test_collect_stops_where_the_buffer_ends(void)
{
    ring_t *r = ring_5_3_10();
    cursor_t c;
    CHECK_EQ_INT(cursor_start(&c, r, 0, 5, 2, 5, 1), CURSOR_RESUMED);
    char buf[RING_FRAME_MAX + CURSOR_RESET_FRAME_MAX]; /* room for one frame only */
    uint64_t events;
    int64_t oldest = 0;
    int resets = 0;
    int n = cursor_collect(&c, r, ring_head(r), 0, buf, sizeof buf, &events, &oldest, reset_text,
                           &resets);
    CHECK_BYTES(buf, n, "5-3;");
    CHECK(events == 1 && oldest == 1003);
    collect_all(&c, r, 0, "5-4;5-5;5-6;5-7;5-8;5-9;5-10;");
    ring_destroy(r);
}

/* A publisher that runs all the time, so the ring's oldest slot is overwritten all the
 * time; it yields between events, as a gateway's ring fills far slower than a read. */
typedef struct {
    ring_t *ring;
    _Atomic int stop;
} publisher_t;

static void *publish_flat_out(void *arg)
{
    publisher_t *p = arg;
    for (uint64_t seq = 11; !atomic_load(&p->stop); seq++) {
        publish(p->ring, 5, seq);
        sched_yield();
    }
    return NULL;
}

/* A resume older than the ring, in its epoch, while events arrive: always a fetch. It
 * once read the oldest slot again after ring_find had named it, found it overwritten by
 * the next event, and sent the client reset: too-old at once (a CI run's test_backfill). */
static void test_too_old_while_the_ring_moves_always_fetches(void)
{
    ring_t *r = ring_5_3_10();
    publisher_t p = {r, 0};
    pthread_t thread;
    CHECK_EQ_INT(pthread_create(&thread, NULL, publish_flat_out, &p), 0);
    long starts = 0, not_filled = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do { /* bounded: 200,000 starts or one second */
        cursor_t c;
        cursor_start_t how = cursor_start(&c, r, 0, 5, 1, 5, 1);
        not_filled += how != CURSOR_FILL;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (++starts < 200000 && now.tv_sec - t0.tv_sec < 1);
    atomic_store(&p.stop, 1);
    CHECK_EQ_INT(pthread_join(thread, NULL), 0);
    if (not_filled)
        fprintf(stderr, "%ld of %ld starts did not fetch\n", not_filled, starts);
    CHECK_EQ_INT(not_filled, 0);
    ring_destroy(r);
}

int main(void)
{
    test_start_cases();
    test_what_is_sent();
    test_too_old_fetches_the_gap_up_to_the_newest();
    test_a_fetch_overtaken_by_the_ring_asks_again();
    test_a_fetch_that_got_nothing_goes_live();
    test_an_older_epoch_too_old_for_the_ring();
    test_giving_up_says_why();
    test_a_new_epoch_ends_the_wait_at_its_first_event();
    test_gaps_and_epochs_in_the_ring_get_resets();
    test_an_overwritten_next_frame_is_the_end();
    test_collect_stops_where_the_buffer_ends();
    test_too_old_while_the_ring_moves_always_fetches();
    CHECK_DONE();
}
