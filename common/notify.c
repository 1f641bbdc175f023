/* notify.c -- sd_notify for Type=notify services; without RN_SYSTEMD every call is a
 * no-op, so the programs call it unconditionally. */
#include "notify.h"

#ifdef RN_SYSTEMD
#include <systemd/sd-daemon.h>

/* sd_notify returns > 0 when sent, 0 without $NOTIFY_SOCKET (not a notify service), or
 * -errno. The environment stays set: the watchdog reads it after READY=1. */
static int sent(int rc)
{
    return rc < 0 ? rc : 0;
}

int notify_ready(const char *status)
{
    return sent(sd_notifyf(0, "READY=1\nSTATUS=%s", status));
}

int notify_stopping(void)
{
    return sent(sd_notify(0, "STOPPING=1\nSTATUS=stopping"));
}

void notify_watchdog_init(notify_watchdog_t *w)
{
    uint64_t usec = 0;
    /* Half the interval, as sd_watchdog_enabled(3) advises: one late turn is no death. */
    w->interval_ms = sd_watchdog_enabled(0, &usec) > 0 ? (int64_t)(usec / 2000) : 0;
    w->next_ms = 0;
}

int notify_watchdog_kick(notify_watchdog_t *w, int64_t now_ms)
{
    if (w->interval_ms <= 0 || now_ms < w->next_ms)
        return 0;
    w->next_ms = now_ms + w->interval_ms;
    return sent(sd_notify(0, "WATCHDOG=1"));
}

#else

int notify_ready(const char *status)
{
    (void)status;
    return 0;
}

int notify_stopping(void)
{
    return 0;
}

void notify_watchdog_init(notify_watchdog_t *w)
{
    w->interval_ms = 0;
    w->next_ms = 0;
}

int notify_watchdog_kick(notify_watchdog_t *w, int64_t now_ms)
{
    (void)w;
    (void)now_ms;
    return 0;
}

#endif
