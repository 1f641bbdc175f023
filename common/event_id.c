/* event_id.c -- "<epoch>-<seq>" written and read. */
#include "event_id.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

int event_id_format(char *dst, size_t cap, uint64_t epoch, uint64_t seq)
{
    int n = snprintf(dst, cap, "%" PRIu64 "-%" PRIu64, epoch, seq);
    return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

/* Parses decimal digits into *out; returns how many, or 0 for none or a value past
 * UINT64_MAX. */
static size_t parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

int event_id_parse(const char *text, size_t len, uint64_t *epoch, uint64_t *seq)
{
    uint64_t e, s;
    size_t n = parse_u64(text, len, &e);
    if (n == 0 || n >= len || text[n] != '-')
        return -EINVAL;
    size_t m = parse_u64(text + n + 1, len - n - 1, &s);
    if (m == 0 || n + 1 + m != len)
        return -EINVAL;
    *epoch = e;
    *seq = s;
    return 0;
}
