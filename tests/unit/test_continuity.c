/* test_continuity.c -- a client's verdicts: in order, repeats, gaps, epochs both ways,
 * and waiting for an id the gateway has not reached. */
#include "check.h"
#include "continuity.h"

static void test_in_order_and_repeats(void)
{
    continuity_t c = {0};
    CHECK_EQ_INT(continuity_next(&c, 5, 10), CONTINUITY_SEND); /* holds none: anything */
    CHECK_EQ_INT(continuity_next(&c, 5, 11), CONTINUITY_SEND);
    CHECK_EQ_INT(continuity_next(&c, 5, 11), CONTINUITY_SKIP);
    CHECK_EQ_INT(continuity_next(&c, 5, 3), CONTINUITY_SKIP);
    CHECK_EQ_INT(continuity_next(&c, 5, 14), CONTINUITY_RESET_GAP);
    CHECK_EQ_INT(continuity_next(&c, 5, 15), CONTINUITY_SEND);
}

static void test_epochs_both_ways(void)
{
    continuity_t c = {5, 10, 1, 0};
    CHECK_EQ_INT(continuity_next(&c, 7, 1), CONTINUITY_RESET_EPOCH); /* a restart */
    CHECK_EQ_INT(continuity_next(&c, 7, 2), CONTINUITY_SEND);
    /* A generator whose clock went back: a lower epoch is a new stream too, not stale. */
    CHECK_EQ_INT(continuity_next(&c, 6, 1), CONTINUITY_RESET_EPOCH);
    CHECK_EQ_INT(continuity_next(&c, 6, 2), CONTINUITY_SEND);
}

static void test_awaiting(void)
{
    continuity_t c = {9, 20, 1, 1}; /* the client is ahead of us */
    CHECK_EQ_INT(continuity_next(&c, 9, 19), CONTINUITY_SKIP);
    CHECK_EQ_INT(continuity_next(&c, 9, 20), CONTINUITY_SKIP);
    CHECK_EQ_INT(continuity_next(&c, 9, 21), CONTINUITY_SEND); /* caught up */
    CHECK_EQ_INT(c.awaiting, 0);
    continuity_t d = {9, 20, 1, 1};
    CHECK_EQ_INT(continuity_next(&d, 9, 23), CONTINUITY_RESET_GAP);
    CHECK_EQ_INT(d.awaiting, 0);
    /* The generator restarted while the client waited: its id will never come. */
    continuity_t e = {9, 20, 1, 1};
    CHECK_EQ_INT(continuity_next(&e, 10, 1), CONTINUITY_RESET_EPOCH);
    CHECK_EQ_INT(e.awaiting, 0);
    CHECK_EQ_INT(continuity_next(&e, 10, 2), CONTINUITY_SEND);
}

int main(void)
{
    test_in_order_and_repeats();
    test_epochs_both_ways();
    test_awaiting();
    CHECK_DONE();
}
