/* fragment.h -- the HTML fragment the page shows for an event: the number and its id.
 * One renderer for the page's first paint, GET /fragments/number and the HTML message
 * each SSE event carries, so all three always agree. Pure: no I/O. */
#ifndef GATEWAY_FRAGMENT_H
#define GATEWAY_FRAGMENT_H

#include <stddef.h>
#include <stdint.h>

/* Longest fragment: both id parts and the value at their widest. */
#define FRAGMENT_MAX 112

/* '<span class="number" data-event-id="E-S">V</span>' into dst (cap bytes, NUL-terminated).
 * Returns the length without the NUL, or -ENOSPC. */
int fragment_render(char *dst, size_t cap, uint64_t epoch, uint64_t seq, int64_t value)
    __attribute__((warn_unused_result));

/* The placeholder shown before any event arrived. */
int fragment_render_empty(char *dst, size_t cap) __attribute__((warn_unused_result));

#endif
