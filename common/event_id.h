/* event_id.h -- an event's id as text, "<epoch>-<seq>" in decimal: the SSE id every
 * gateway writes alike, the Last-Event-ID a client sends back, the monitor's --replay-from.
 * Pure: no I/O. */
#ifndef RN_EVENT_ID_H
#define RN_EVENT_ID_H

#include <stddef.h>
#include <stdint.h>

#define EVENT_ID_MAX 42 /* "<20 digits>-<20 digits>" plus NUL */

/* Writes the id and a NUL into dst; returns its length, or -ENOSPC when cap is too small. */
int event_id_format(char *dst, size_t cap, uint64_t epoch, uint64_t seq)
    __attribute__((warn_unused_result));

/* Parses len bytes of text (no NUL needed): digits, '-', digits, nothing else; leading zeros
 * are accepted. Returns 0, or -EINVAL (empty, junk, a sign, a space, overflow). */
int event_id_parse(const char *text, size_t len, uint64_t *epoch, uint64_t *seq)
    __attribute__((warn_unused_result));

#endif
