/* stats.h -- what monitor --stats reports for each interval: event rate, gaps in the
 * sequence, epoch changes, malformed messages and latency from the publish time. Pure:
 * fed by the reader, printed by main. */
#ifndef MONITOR_STATS_H
#define MONITOR_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The last (epoch, seq) seen, to count what is missing between events. */
typedef struct {
    uint64_t epoch, seq; /* epoch 0: none seen yet */
} seq_track_t;

/* Takes the next event's id: adds the seqs skipped within an epoch to *gaps, and 1 to
 * *epoch_changes when the epoch changed. */
void seq_track(seq_track_t *t, uint64_t epoch, uint64_t seq, uint64_t *gaps,
               uint64_t *epoch_changes);

typedef struct {
    uint64_t events, gaps, epoch_changes, malformed;
    seq_track_t track;
    int64_t *latency_ns; /* samples of this interval */
    size_t samples, cap;
} stats_t;

void stats_init(stats_t *st);
void stats_deinit(stats_t *st);

/* Counts one event that arrived at arrival_ns (wall clock). */
void stats_event(stats_t *st, uint64_t epoch, uint64_t seq, int64_t published_ns,
                 int64_t arrival_ns);
void stats_malformed(stats_t *st);

/* Prints the interval and starts the next one: one line, JSON with json, or redrawn in
 * place with live (for a terminal). Gaps and epochs carry over so a gap across two
 * intervals is still seen. */
void stats_report(stats_t *st, FILE *out, double seconds, int json, int live);

#endif
