/* test_latency_buckets.c -- which bucket a latency falls in, and the le labels. */
#include "check.h"
#include "latency_buckets.h"

#include <stdint.h>
#include <string.h>

/* A bound belongs to its own bucket (Prometheus's le is "less or equal"). */
static void test_bounds_are_inclusive(void)
{
    for (int i = 0; i < LATENCY_BUCKETS; i++) {
        CHECK_EQ_INT(latency_bucket(latency_bounds_ns[i]), i);
        CHECK_EQ_INT(latency_bucket(latency_bounds_ns[i] + 1), i + 1);
    }
    CHECK_EQ_INT(latency_bucket(0), 0);
    CHECK_EQ_INT(latency_bucket(-5), 0); /* clocks of two hosts can disagree */
    CHECK_EQ_INT(latency_bucket(INT64_MAX), LATENCY_BUCKETS);
}

static void test_bounds_ascend(void)
{
    for (int i = 1; i < LATENCY_BUCKETS; i++)
        CHECK(latency_bounds_ns[i] > latency_bounds_ns[i - 1]);
}

static void test_labels(void)
{
    char le[LATENCY_LE_MAX];
    CHECK(strcmp(latency_bucket_le(0, le), "5e-05") == 0);
    CHECK(strcmp(latency_bucket_le(4, le), "0.001") == 0);
    CHECK(strcmp(latency_bucket_le(13, le), "1") == 0);
    CHECK(strcmp(latency_bucket_le(LATENCY_BUCKETS - 1, le), "2.5") == 0);
    CHECK(strcmp(latency_bucket_le(LATENCY_BUCKETS, le), "+Inf") == 0);
}

int main(void)
{
    test_bounds_are_inclusive();
    test_bounds_ascend();
    test_labels();
    CHECK_DONE();
}
