/* text.h -- a text that grows as it is written: what a /metrics page is rendered into,
 * so no count of series or length of label is too many. */
#ifndef RN_TEXT_H
#define RN_TEXT_H

#include <stddef.h>

typedef struct {
    char *buf; /* NUL-terminated once anything is written */
    size_t cap, len;
    int failed; /* out of memory: the text is dropped */
} text_t;

/* Appends; after a failure it does nothing (the caller checks failed once, at the end). */
void text_printf(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hands the buffer over (the caller frees it) with its length; NULL after a failure or when
 * nothing was written, the buffer freed. */
char *text_take(text_t *t, size_t *len) __attribute__((warn_unused_result));

#endif
