/* clock.h -- the two clocks the programs use: wall time for what crosses the bus,
 * monotonic time for every interval and timeout. */
#ifndef RN_CLOCK_H
#define RN_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_wall_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

/* A relative timeout of ms milliseconds, for futex waits, sigtimedwait and ppoll. */
static inline struct timespec clock_timespec_ms(long ms)
{
    return (struct timespec){ms / 1000, (ms % 1000) * 1000000};
}

static inline int64_t clock_mono_ms(void)
{
    return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

/* A deadline that never comes: a loop with nothing due sleeps until woken. */
#define CLOCK_NEVER INT64_MAX

static inline int64_t clock_earliest(int64_t a_ms, int64_t b_ms)
{
    return a_ms < b_ms ? a_ms : b_ms;
}

/* Milliseconds a poll may sleep from now_ms to the deadline due_ms (monotonic): 0 once it
 * has passed, -1 (until woken) for CLOCK_NEVER. */
static inline long clock_wait_ms(int64_t due_ms, int64_t now_ms)
{
    if (due_ms == CLOCK_NEVER)
        return -1;
    return due_ms <= now_ms ? 0 : (long)(due_ms - now_ms);
}

#endif
