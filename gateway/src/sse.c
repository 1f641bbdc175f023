/* sse.c -- SSE field encoding. */
#include "sse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *dst;
    size_t cap, len;
    int overflow;
} out_t;

static void put(out_t *o, const char *bytes, size_t n)
{
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = 1;
        return;
    }
    memcpy(o->dst + o->len, bytes, n);
    o->len += n;
}

static void put_str(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

static int has_line_break(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

/* Writes "NAME: LINE\n" for every line of text; CR LF, CR and LF all end a line. */
static void put_lines(out_t *o, const char *name, const char *text, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\r' && text[i] != '\n')
            continue;
        put_str(o, name);
        put(o, text + start, i - start);
        put(o, "\n", 1);
        if (i + 1 < len && text[i] == '\r' && text[i + 1] == '\n')
            i++;
        start = i + 1;
    }
}

static int finish(const out_t *o)
{
    return o->overflow ? -ENOSPC : (int)o->len;
}

static void put_field(out_t *o, const char *name, const char *value)
{
    if (value == NULL)
        return;
    put_str(o, name);
    put_str(o, value);
    put(o, "\n", 1);
}

int sse_frame_encode(char *dst, size_t cap, const sse_event_t *ev)
{
    if (has_line_break(ev->id) || has_line_break(ev->event) || has_line_break(ev->comment))
        return -EINVAL;
    out_t o = {dst, cap, 0, 0};
    put_field(&o, "id: ", ev->id);
    put_field(&o, "event: ", ev->event);
    put_field(&o, ": ", ev->comment);
    put_lines(&o, "data: ", ev->data, ev->data_len);
    put(&o, "\n", 1);
    return finish(&o);
}

int sse_comment_encode(char *dst, size_t cap, const char *text)
{
    out_t o = {dst, cap, 0, 0};
    put_lines(&o, ": ", text, strlen(text));
    put(&o, "\n", 1);
    return finish(&o);
}

int sse_retry_encode(char *dst, size_t cap, long retry_ms)
{
    if (retry_ms < 0)
        return -EINVAL;
    int n = snprintf(dst, cap, "retry: %ld\n\n", retry_ms);
    return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}
