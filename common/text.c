/* text.c -- see text.h. */
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

enum { TEXT_FIRST_CAP = 16384 }; /* a usual /metrics page in one allocation */

/* Makes room for more bytes than need (NUL included) after t->len; 0 or -1. */
static int reserve(text_t *t, size_t need)
{
    if (t->cap - t->len > need)
        return 0;
    size_t cap = t->cap ? t->cap : TEXT_FIRST_CAP;
    while (cap - t->len <= need)
        cap *= 2;
    char *grown = realloc(t->buf, cap);
    if (grown == NULL)
        return -1;
    t->buf = grown;
    t->cap = cap;
    return 0;
}

void text_printf(text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list again;
    va_copy(again, ap);
    int n = t->failed ? -1 : vsnprintf(NULL, 0, fmt, ap);
    if (n < 0 || reserve(t, (size_t)n) < 0)
        t->failed = 1;
    else
        t->len += (size_t)vsnprintf(t->buf + t->len, t->cap - t->len, fmt, again);
    va_end(again);
    va_end(ap);
}

char *text_take(text_t *t, size_t *len)
{
    char *buf = t->buf;
    if (t->failed || buf == NULL) {
        free(buf);
        buf = NULL;
    }
    *len = buf ? t->len : 0;
    *t = (text_t){0};
    return buf;
}
