/* stats.c -- interval statistics of the monitor. */
#include "stats.h"

#include <inttypes.h>
#include <stdlib.h>

void stats_init(stats_t *st)
{
    *st = (stats_t){0};
}

void stats_deinit(stats_t *st)
{
    free(st->latency_ns);
    *st = (stats_t){0};
}

void seq_track(seq_track_t *t, uint64_t epoch, uint64_t seq, uint64_t *gaps,
               uint64_t *epoch_changes)
{
    if (t->epoch != 0 && epoch != t->epoch)
        (*epoch_changes)++;
    else if (t->epoch != 0 && seq > t->seq + 1)
        *gaps += seq - t->seq - 1;
    t->epoch = epoch;
    t->seq = seq;
}

void stats_event(stats_t *st, uint64_t epoch, uint64_t seq, int64_t published_ns,
                 int64_t arrival_ns)
{
    st->events++;
    seq_track(&st->track, epoch, seq, &st->gaps, &st->epoch_changes);
    if (st->samples == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 256;
        int64_t *grown = realloc(st->latency_ns, cap * sizeof *grown);
        if (grown == NULL)
            return; /* a sample fewer; the counts above stay right */
        st->latency_ns = grown;
        st->cap = cap;
    }
    st->latency_ns[st->samples++] = arrival_ns - published_ns;
}

void stats_malformed(stats_t *st)
{
    st->malformed++;
}

static int compare(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_ms(const stats_t *st, double p)
{
    if (st->samples == 0)
        return 0;
    size_t i = (size_t)(p * (double)(st->samples - 1));
    return (double)st->latency_ns[i] / 1e6;
}

void stats_report(stats_t *st, FILE *out, double seconds, int json, int live)
{
    qsort(st->latency_ns, st->samples, sizeof *st->latency_ns, compare);
    double rate = seconds > 0 ? (double)st->events / seconds : 0;
    double p50 = percentile_ms(st, 0.5), p99 = percentile_ms(st, 0.99);
    double max = percentile_ms(st, 1.0);
    const char *fmt =
        json ? "{\"events\":%" PRIu64 ",\"rate\":%.2f,\"gaps\":%" PRIu64
               ",\"epoch_changes\":%" PRIu64 ",\"malformed\":%" PRIu64
               ",\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"epoch\":%" PRIu64
               ",\"seq\":%" PRIu64 "}%s"
             : "events=%" PRIu64 " rate=%.2f/s gaps=%" PRIu64 " epoch_changes=%" PRIu64
               " malformed=%" PRIu64 " latency_ms p50=%.3f p99=%.3f max=%.3f epoch=%" PRIu64
               " seq=%" PRIu64 "%s";
    if (live)
        fputs("\r\033[K", out); /* back to the line start, and clear it */
    fprintf(out, fmt, st->events, rate, st->gaps, st->epoch_changes, st->malformed, p50, p99, max,
            st->track.epoch, st->track.seq, live ? "" : "\n");
    fflush(out);
    st->events = st->gaps = st->epoch_changes = st->malformed = 0;
    st->samples = 0;
}
