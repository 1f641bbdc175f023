/* sse.h -- Server-Sent Events framing: bytes in, bytes out. Pure: no I/O.
 * Each encoder writes into dst (cap bytes) and returns the length written, -ENOSPC when
 * cap is too small, or -EINVAL for a field that may not hold a line break. Nothing is
 * NUL-terminated. */
#ifndef GATEWAY_SSE_H
#define GATEWAY_SSE_H

#include <stddef.h>

/* One event. id, event and comment may be NULL to leave them out. */
typedef struct {
    const char *id;
    const char *event;
    const char *comment; /* one line, e.g. the publish time; parsers skip it */
    const char *data;
    size_t data_len;
} sse_event_t;

/* "id: ID\nevent: EVENT\n: COMMENT\ndata: LINE\n...\n\n". Data is split at every
 * CR LF, CR or LF into one data line each, so the browser reassembles it exactly. */
int sse_frame_encode(char *dst, size_t cap, const sse_event_t *ev)
    __attribute__((warn_unused_result));

/* One comment line per line of text, then the blank line: ": TEXT\n\n". Comments keep
 * idle streams alive through proxies; browsers ignore them. */
int sse_comment_encode(char *dst, size_t cap, const char *text) __attribute__((warn_unused_result));

/* "retry: MS\n\n": how long the browser waits before reconnecting. */
int sse_retry_encode(char *dst, size_t cap, long retry_ms) __attribute__((warn_unused_result));

#endif
