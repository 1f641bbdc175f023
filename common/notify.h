/* notify.h -- tells the service manager how the program is doing (systemd's notify
 * protocol, through libsystemd's sd_notify): ready, stopping, still alive. Every call does
 * nothing when the program was not started as a Type=notify service ($NOTIFY_SOCKET
 * unset) or was built without libsystemd (CMake option RN_SYSTEMD off). */
#ifndef RN_NOTIFY_H
#define RN_NOTIFY_H

#include "clock.h"

#include <stdint.h>

/* READY=1, with status as the one-line STATUS= that `systemctl status` shows: systemd
 * ends `systemctl start` and starts the units ordered after this one. Returns 0 or
 * -errno. */
int notify_ready(const char *status) __attribute__((warn_unused_result));

/* STOPPING=1: the program is shutting down on its own terms (a drain); systemd waits for
 * the exit up to the unit's TimeoutStopSec. Returns 0 or -errno. */
int notify_stopping(void) __attribute__((warn_unused_result));

/* The watchdog (the unit's WatchdogSec). The thread whose loop proves the program alive
 * kicks it every turn; a kick sends WATCHDOG=1 at most every half interval, so the loop
 * may turn as often as it likes, and a loop stuck for a whole interval gets the program
 * killed and restarted. Owned by that thread; caller-allocated. */
typedef struct {
    int64_t interval_ms; /* between two WATCHDOG=1; 0: no watchdog asked for */
    int64_t next_ms;     /* monotonic: the next kick due */
} notify_watchdog_t;

/* Reads the interval systemd asked for ($WATCHDOG_USEC for this process). */
void notify_watchdog_init(notify_watchdog_t *w);

/* Sends WATCHDOG=1 when due at now_ms (monotonic). Returns 0 or -errno. */
int notify_watchdog_kick(notify_watchdog_t *w, int64_t now_ms) __attribute__((warn_unused_result));

/* When the next kick is due (CLOCK_NEVER without a watchdog), so the loop may sleep until
 * then. */
static inline int64_t notify_watchdog_due(const notify_watchdog_t *w)
{
    return w->interval_ms > 0 ? w->next_ms : CLOCK_NEVER;
}

#endif
