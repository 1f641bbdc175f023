/* history.c -- a ring of events indexed by seq. */
#include "history.h"

#include <errno.h>
#include <stdlib.h>

int history_init(history_t *h, size_t capacity)
{
    *h = (history_t){calloc(capacity ? capacity : 1, sizeof(wire_number_t)),
                     capacity ? capacity : 1, 0, 0};
    return h->events ? 0 : -ENOMEM;
}

void history_deinit(history_t *h)
{
    free(h->events);
    h->events = NULL;
}

void history_append(history_t *h, const wire_number_t *ev)
{
    if (h->first_seq == 0 || ev->seq != h->last_seq + 1)
        h->first_seq = ev->seq;
    h->last_seq = ev->seq;
    h->events[ev->seq % h->capacity] = *ev;
    if (h->last_seq - h->first_seq + 1 > h->capacity)
        h->first_seq = h->last_seq - h->capacity + 1;
}

size_t history_range(const history_t *h, uint64_t from, uint64_t to, wire_number_t *out, size_t max)
{
    if (h->first_seq == 0)
        return 0;
    uint64_t lo = from > h->first_seq ? from : h->first_seq;
    uint64_t hi = to < h->last_seq ? to : h->last_seq;
    size_t n = 0;
    for (uint64_t seq = lo; seq <= hi && n < max; seq++)
        out[n++] = h->events[seq % h->capacity];
    return n;
}
