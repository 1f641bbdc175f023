/* wire_replay.h -- the replay messages of proto/rn.proto (ReplayRequest, ReplayReply) as
 * plain C: what a subscriber sends to fetch missing events and what the generator answers.
 * Pure: protobuf-c only, no sockets. */
#ifndef RN_WIRE_REPLAY_H
#define RN_WIRE_REPLAY_H

#include "wire.h"

#include <stddef.h>
#include <stdint.h>

#define WIRE_REPLAY_REQUEST_MAX 64  /* bytes: larger requests are refused */
#define WIRE_REPLAY_EVENTS_MAX 1000 /* events in one reply */
#define WIRE_REPLAY_ERROR_MAX 96

typedef struct {
    uint64_t epoch;
    uint64_t from_seq;
    uint64_t to_seq; /* inclusive */
    int vote;        /* asks a pair's passive to take over; epoch 0: the voter holds nothing */
} wire_replay_request_t;

typedef struct {
    uint64_t epoch;        /* the generator's */
    uint64_t first_seq;    /* oldest held, 0: none */
    uint64_t last_seq;     /* newest published */
    wire_number_t *events; /* count of them, in seq order; owned by the caller */
    size_t count;
    char error[WIRE_REPLAY_ERROR_MAX + 1]; /* "": the request was served */
} wire_replay_reply_t;

/* Returns the encoded length, or 0 when cap is too small. */
size_t wire_replay_request_encode(const wire_replay_request_t *in, uint8_t *buf, size_t cap);

/* WIRE_OK, WIRE_ERR_DECODE, or WIRE_ERR_FIELD (epoch 0 without a vote, from_seq 0,
 * to_seq < from_seq),
 * with the reason in err. */
wire_error_t wire_replay_request_decode(const void *payload, size_t len, wire_replay_request_t *out,
                                        char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* A malloc'd encoding of the reply in *out (free it), its length in *len. 0 or -ENOMEM. */
int wire_replay_reply_encode(const wire_replay_reply_t *in, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));

/* Decodes into out, whose events array holds cap entries. WIRE_ERR_DECODE for bytes that
 * are not a reply; WIRE_ERR_FIELD for one that breaks the contract: more than cap
 * events, events not of its epoch, or not consecutive in seq. */
wire_error_t wire_replay_reply_decode(const void *payload, size_t len, wire_replay_reply_t *out,
                                      size_t cap) __attribute__((warn_unused_result));

#endif
