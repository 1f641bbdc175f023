/* frame.h -- the SSE bytes of one event, made once and sent to every client: the named
 * event every client gets ("id: E-S\nevent: TOPIC\n: t=NS\ndata: N\n\n"), then the
 * unnamed message with the page's HTML, which only clients that asked for html=1 are
 * sent. Pure. */
#ifndef GATEWAY_FRAME_H
#define GATEWAY_FRAME_H

#include "wire.h"

#include <stddef.h>

/* Writes the frame into dst and the length of its first part (the named event) into
 * *plain_len. Returns the whole length, or a negative errno (-ENOSPC). */
int frame_event(char *dst, size_t cap, const char *topic, const wire_number_t *ev,
                size_t *plain_len) __attribute__((warn_unused_result));

#endif
