/* fragment.c -- the number's HTML. Only digits and '-' come from the event, so nothing
 * needs escaping. */
#include "fragment.h"

#include "event_id.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

static int fitted(int n, size_t cap)
{
    return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int fragment_render(char *dst, size_t cap, uint64_t epoch, uint64_t seq, int64_t value)
{
    char id[EVENT_ID_MAX];
    int n = event_id_format(id, sizeof id, epoch, seq);
    if (n < 0)
        return n;
    n = snprintf(dst, cap, "<span class=\"number\" data-event-id=\"%s\">%" PRId64 "</span>", id,
                 value);
    return fitted(n, cap);
}

int fragment_render_empty(char *dst, size_t cap)
{
    return fitted(snprintf(dst, cap, "<span class=\"number\" data-event-id=\"\">..</span>"), cap);
}
