/* latency_buckets.h -- the buckets of every latency histogram our programs export to
 * Prometheus (the gateway's write latency, the monitor's bus latency), so the two can be
 * read side by side: 1-2.5-5 steps from 50 us to 2.5 s, then +Inf. Pure: no I/O. */
#ifndef RN_LATENCY_BUCKETS_H
#define RN_LATENCY_BUCKETS_H

#include <stdint.h>

/* The finite bounds; a histogram keeps LATENCY_BUCKETS + 1 counts, the last one +Inf's. */
#define LATENCY_BUCKETS 15

/* Room for a bound's le label, e.g. "0.0025", "5e-05" or "+Inf", with its NUL. */
#define LATENCY_LE_MAX 16

/* Each bucket's upper bound, inclusive, in nanoseconds. */
extern const int64_t latency_bounds_ns[LATENCY_BUCKETS];

/* The bucket a latency falls in: the first whose bound it does not exceed, else +Inf's.
 * Inline: the gateway counts one per write on every stream. */
static inline int latency_bucket(int64_t latency_ns)
{
    int i = 0;
    while (i < LATENCY_BUCKETS && latency_ns > latency_bounds_ns[i])
        i++;
    return i;
}

/* Writes bucket i's le label, its bound in seconds as "%g" or "+Inf" for the last, into
 * le and returns le. */
const char *latency_bucket_le(int i, char le[LATENCY_LE_MAX]);

#endif
