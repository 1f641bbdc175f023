/* frame.h -- the SSE bytes of one event, made once and sent to every client: the named
 * event every client gets ("id: E-S\nevent: TOPIC\n: t=NS\ndata: N\n\n"), then the
 * unnamed message with the page's HTML, which only clients that asked for html=1 are
 * sent. Pure. */
#ifndef GATEWAY_FRAME_H
#define GATEWAY_FRAME_H

#include "event_id.h"
#include "fragment.h"
#include "sse.h"
#include "wire.h"

#include <stddef.h>

/* The longest frame: every field at its widest, the topic as long as --topic allows (an
 * int64 and an int32 are at most 20 and 11 characters). The bus checks at build time that
 * a ring slot holds it, so no event the wire accepts is too big to relay. */
#define FRAME_EVENT_MAX                                                                            \
    (sizeof "id: \n" - 1 + EVENT_ID_MAX - 1 + sizeof "event: \n" - 1 + WIRE_TOPIC_MAX +            \
     sizeof ": t=\n" - 1 + 20 + sizeof "data: \n\n" - 1 + 11 + sizeof "data: \n\n" - 1 +           \
     FRAGMENT_MAX - 1)

/* Writes the frame into dst and the length of its first part (the named event) into
 * *plain_len. Returns the whole length, or a negative errno (-ENOSPC). */
int frame_event(char *dst, size_t cap, const char *topic, const wire_number_t *ev,
                size_t *plain_len) __attribute__((warn_unused_result));

#endif
