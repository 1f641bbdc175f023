/* frame.c -- one event's SSE frame. The HTML message has no id of its own: it carries
 * the event's, which the first part set. */
#include "frame.h"

#include <stdio.h>
#include <string.h>

int frame_event(char *dst, size_t cap, const char *topic, const wire_number_t *ev,
                size_t *plain_len)
{
    /* The publish time rides along as a comment, so load clients can measure latency
     * from the stream while browsers and htmx skip it. */
    char id[EVENT_ID_MAX], data[24], stamp[32], html[FRAGMENT_MAX];
    int n = event_id_format(id, sizeof id, ev->epoch, ev->seq);
    snprintf(data, sizeof data, "%d", ev->value);
    snprintf(stamp, sizeof stamp, "t=%lld", (long long)ev->published_ns);
    sse_event_t plain = {id, topic, stamp, data, strlen(data)};
    if (n >= 0)
        n = sse_frame_encode(dst, cap, &plain);
    int h = n < 0 ? n : fragment_render(html, sizeof html, ev->epoch, ev->seq, ev->value);
    if (h < 0)
        return h;
    sse_event_t message = {NULL, NULL, NULL, html, (size_t)h};
    int m = sse_frame_encode(dst + n, cap - (size_t)n, &message);
    *plain_len = (size_t)n;
    return m < 0 ? m : n + m;
}
