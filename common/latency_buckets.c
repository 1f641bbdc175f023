/* latency_buckets.c -- the bounds and their labels. */
#include "latency_buckets.h"

#include <stdio.h>

const int64_t latency_bounds_ns[LATENCY_BUCKETS] = {
    50000,    100000,   250000,    500000,    1000000,   2500000,    5000000,   10000000,
    25000000, 50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000};

const char *latency_bucket_le(int i, char le[LATENCY_LE_MAX])
{
    if (i < LATENCY_BUCKETS)
        snprintf(le, LATENCY_LE_MAX, "%g", (double)latency_bounds_ns[i] / 1e9);
    else
        snprintf(le, LATENCY_LE_MAX, "+Inf");
    return le;
}
