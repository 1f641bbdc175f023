/* fuzz_event_id.c -- libFuzzer driver for the event id parser (Last-Event-ID, the
 * monitor's --replay-from): whatever parses must format back to the same text when written
 * canonically, and format/parse round-trips. */
#include "event_id.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The parser accepts leading zeros ("007-1"); the formatter never writes them. */
static int no_leading_zero(const char *digits, size_t n)
{
    return n == 1 || digits[0] != '0';
}

static int canonical(const char *s, size_t len)
{
    const char *dash = memchr(s, '-', len);
    size_t left = (size_t)(dash - s);
    return no_leading_zero(s, left) && no_leading_zero(dash + 1, len - left - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t epoch, seq;
    if (event_id_parse((const char *)data, size, &epoch, &seq) != 0)
        return 0;
    char text[EVENT_ID_MAX];
    int n = event_id_format(text, sizeof text, epoch, seq);
    uint64_t e2, s2;
    if (n < 0 || event_id_parse(text, (size_t)n, &e2, &s2) != 0 || e2 != epoch || s2 != seq)
        abort();
    if (canonical((const char *)data, size) && ((size_t)n != size || memcmp(text, data, size)))
        abort();
    return 0;
}
