/* reset.h -- why a client is sent a reset event instead of every event after its last id:
 * part of the stream's protocol (the reason is the reset event's data) and a label of the
 * reset counter. Pure. */
#ifndef GATEWAY_RESET_H
#define GATEWAY_RESET_H

typedef enum {
    RESET_INVALID_ID, /* its Last-Event-ID did not parse */
    RESET_TOO_OLD,    /* events after its id have left the history */
    RESET_EPOCH,      /* the generator restarted since its id */
    RESET_GAP,        /* the bus lost events this gateway never had */
    RESET_KINDS
} reset_reason_t;

/* The reason as it appears in the reset event's data and the metric label. */
const char *reset_reason_name(reset_reason_t reason);

#endif
