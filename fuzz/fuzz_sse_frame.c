/* fuzz_sse_frame.c -- libFuzzer driver for the SSE framer: any id, event, comment and data
 * either are refused or come out as a frame that a spec parser reads back as the same
 * event, with line breaks in the data normalized to LF; the buffer is never overrun. */
#include "sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Splits the input at NUL bytes into id, event, comment and data (missing parts NULL). */
static void split(const uint8_t *data, size_t size, char *copy, const char *part[4],
                  size_t *data_len)
{
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *p = copy;
    for (int i = 0; i < 3; i++) {
        part[i] = p;
        char *nul = memchr(p, '\0', (size_t)(copy + size - p));
        p = nul && nul < copy + size ? nul + 1 : copy + size;
    }
    part[3] = p;
    *data_len = (size_t)(copy + size - p);
}

/* Reads one event back the way the SSE specification says a browser does. */
static void parse_back(const char *frame, size_t len, char *id, char *event, char *data,
                       size_t *data_out)
{
    size_t start = 0, dlen = 0;
    int have_data = 0;
    id[0] = event[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (frame[i] != '\n')
            continue;
        const char *line = frame + start;
        size_t n = i - start;
        start = i + 1;
        if (n == 0 || line[0] == ':')
            continue;
        const char *colon = memchr(line, ':', n);
        size_t name = colon ? (size_t)(colon - line) : n;
        const char *value = colon ? colon + 1 : line + n;
        size_t vlen = (size_t)(line + n - value);
        if (vlen && value[0] == ' ')
            value++, vlen--;
        if (name == 2 && !memcmp(line, "id", 2))
            memcpy(id, value, vlen), id[vlen] = '\0';
        else if (name == 5 && !memcmp(line, "event", 5))
            memcpy(event, value, vlen), event[vlen] = '\0';
        else if (name == 4 && !memcmp(line, "data", 4)) {
            if (have_data)
                data[dlen++] = '\n';
            memcpy(data + dlen, value, vlen);
            dlen += vlen;
            have_data = 1;
        }
    }
    *data_out = dlen;
}

static size_t normalize(const char *in, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
            continue;
        out[n++] = in[i] == '\r' ? '\n' : in[i];
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    /* Each data line break becomes "\ndata: ": at most 7 bytes out per byte in. */
    size_t room = 8 * size + 64;
    char *copy = malloc(size + 1), *frame = malloc(room);
    char *id = malloc(size + 1), *event = malloc(size + 1), *back = malloc(size + 1);
    char *want = malloc(size + 1);
    const char *part[4];
    size_t data_len, back_len;
    split(data, size, copy, part, &data_len);
    /* An even first byte gives room enough; an odd one a small buffer, to reach -ENOSPC. */
    size_t cap = size && data[0] % 2 && data[0] < room ? data[0] : room;
    sse_event_t ev = {part[0], part[1], part[2][0] ? part[2] : NULL, part[3], data_len};
    int n = size ? sse_frame_encode(frame, cap, &ev) : -1;
    if (n >= 0) {
        if ((size_t)n > cap)
            abort();
        parse_back(frame, (size_t)n, id, event, back, &back_len);
        size_t want_len = normalize(part[3], data_len, want);
        if (strcmp(id, part[0]) || strcmp(event, part[1]) || back_len != want_len ||
            memcmp(back, want, want_len))
            abort();
    }
    free(copy), free(frame), free(id), free(event), free(back), free(want);
    return 0;
}
