/* futex.h -- the two futex calls the ring and the fan-out writers sleep and wake on. */
#ifndef GATEWAY_FUTEX_H
#define GATEWAY_FUTEX_H

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *addr == expected, until woken or timeout (NULL: none). Spurious returns
 * happen: callers re-check their condition. */
static inline void futex_wait(_Atomic uint32_t *addr, uint32_t expected,
                              const struct timespec *timeout)
{
    (void)syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, timeout, NULL, 0);
}

static inline void futex_wake_all(_Atomic uint32_t *addr)
{
    (void)syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

#endif
