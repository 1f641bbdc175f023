/* histogram.c -- log-linear buckets. */
#include "histogram.h"

#include <inttypes.h>
#include <math.h>

static int bucket_of(int64_t us)
{
    if (us < 32)
        return us < 0 ? 0 : (int)us;
    int exp = 63 - __builtin_clzll((unsigned long long)us); /* >= 5 */
    int sub = (int)((us >> (exp - 5)) & 31);
    int b = (exp - 4) * 32 + sub;
    return b < HISTOGRAM_BUCKETS ? b : HISTOGRAM_BUCKETS - 1;
}

/* The upper bound of a bucket, in us. */
static double bucket_top(int b)
{
    if (b < 32)
        return b;
    int exp = b / 32 + 4, sub = b % 32;
    return (double)((32 + sub + 1) * (1LL << (exp - 5))) - 1;
}

void histogram_add(histogram_t *h, int64_t us)
{
    h->counts[bucket_of(us)]++;
    h->total++;
    if (us > h->max_us)
        h->max_us = us;
}

double histogram_percentile(const histogram_t *h, double p)
{
    if (h->total == 0)
        return 0;
    /* "At least p": the ceiling, less a hair for p * total's rounding (0.99 * 100). */
    uint64_t want = (uint64_t)ceil(p * (double)h->total - 1e-9), seen = 0;
    if (want == 0)
        want = 1;
    for (int b = 0; b < HISTOGRAM_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= want) {
            double top = bucket_top(b);
            return top < (double)h->max_us ? top : (double)h->max_us;
        }
    }
    return (double)h->max_us;
}

int histogram_write_cdf(const histogram_t *h, FILE *f)
{
    if (fprintf(f, "latency_ms,fraction,events\n") < 0)
        return -1;
    uint64_t seen = 0;
    for (int b = 0; b < HISTOGRAM_BUCKETS && seen < h->total; b++) {
        if (h->counts[b] == 0)
            continue;
        seen += h->counts[b];
        double top = bucket_top(b);
        if (top > (double)h->max_us)
            top = (double)h->max_us;
        /* Nine decimals: consecutive rows still differ with a billion samples. */
        if (fprintf(f, "%.3f,%.9f,%" PRIu64 "\n", top / 1e3, (double)seen / (double)h->total,
                    seen) < 0)
            return -1;
    }
    return 0;
}
