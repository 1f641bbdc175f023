/* histogram.h -- latency histogram with bounded relative error: 32 sub-buckets per power
 * of two of microseconds (about 3% wide), so millions of samples cost a fixed 8 KiB. */
#ifndef BENCH_HISTOGRAM_H
#define BENCH_HISTOGRAM_H

#include <stdint.h>
#include <stdio.h>

#define HISTOGRAM_BUCKETS (40 * 32)

typedef struct {
    uint64_t counts[HISTOGRAM_BUCKETS];
    uint64_t total;
    int64_t max_us;
} histogram_t;

void histogram_add(histogram_t *h, int64_t us);

/* The smallest value v such that at least p (0..1) of the samples are <= v, in us. */
double histogram_percentile(const histogram_t *h, double p);

/* Writes h as a cumulative distribution in CSV, "latency_ms,fraction,events" (events at or
 * below latency_ms), a row per non-empty bucket: its upper bound, the max for the last.
 * Returns 0, or -1 if the write failed. */
int histogram_write_cdf(const histogram_t *h, FILE *f);

#endif
