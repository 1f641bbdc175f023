/* wire_replay.c -- protobuf-c glue for the replay request and reply. */
#include "wire_replay.h"

#include "rn.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t wire_replay_request_encode(const wire_replay_request_t *in, uint8_t *buf, size_t cap)
{
    Rn__ReplayRequest m = RN__REPLAY_REQUEST__INIT;
    m.epoch = in->epoch;
    m.from_seq = in->from_seq;
    m.to_seq = in->to_seq;
    m.vote = in->vote;
    if (rn__replay_request__get_packed_size(&m) > cap)
        return 0;
    return rn__replay_request__pack(&m, buf);
}

wire_error_t wire_replay_request_decode(const void *payload, size_t len, wire_replay_request_t *out,
                                        char *err, size_t errlen)
{
    Rn__ReplayRequest *m =
        len <= WIRE_REPLAY_REQUEST_MAX ? rn__replay_request__unpack(NULL, len, payload) : NULL;
    if (m == NULL) {
        snprintf(err, errlen, "not a ReplayRequest");
        return WIRE_ERR_DECODE;
    }
    *out = (wire_replay_request_t){m->epoch, m->from_seq, m->to_seq, m->vote};
    rn__replay_request__free_unpacked(m, NULL);
    if ((out->epoch == 0 && !out->vote) || out->from_seq == 0 || out->to_seq < out->from_seq) {
        snprintf(err, errlen, "need epoch > 0 (or a vote) and 1 <= from_seq <= to_seq");
        return WIRE_ERR_FIELD;
    }
    return WIRE_OK;
}

static void number_to_pb(const wire_number_t *e, Rn__NumberEvent *pb)
{
    rn__number_event__init(pb);
    pb->epoch = e->epoch;
    pb->seq = e->seq;
    pb->published_ns = e->published_ns;
    pb->value = e->value;
}

/* Packs m, whose events point into the arrays the caller allocated. */
static int pack_reply(const wire_replay_reply_t *in, Rn__NumberEvent *events,
                      Rn__NumberEvent **ptrs, uint8_t **out, size_t *len)
{
    Rn__ReplayReply m = RN__REPLAY_REPLY__INIT;
    for (size_t i = 0; i < in->count; i++) {
        number_to_pb(&in->events[i], &events[i]);
        ptrs[i] = &events[i];
    }
    m.epoch = in->epoch;
    m.first_seq = in->first_seq;
    m.last_seq = in->last_seq;
    m.n_events = in->count;
    m.events = ptrs;
    m.error = (char *)in->error;
    *len = rn__replay_reply__get_packed_size(&m);
    *out = malloc(*len ? *len : 1);
    if (*out == NULL)
        return -ENOMEM;
    rn__replay_reply__pack(&m, *out);
    return 0;
}

int wire_replay_reply_encode(const wire_replay_reply_t *in, uint8_t **out, size_t *len)
{
    size_t n = in->count ? in->count : 1;
    Rn__NumberEvent *events = calloc(n, sizeof *events);
    Rn__NumberEvent **ptrs = calloc(n, sizeof *ptrs);
    int rc = events && ptrs ? pack_reply(in, events, ptrs, out, len) : -ENOMEM;
    free(events);
    free(ptrs);
    return rc;
}

static wire_error_t copy_events(const Rn__ReplayReply *m, wire_replay_reply_t *out, size_t cap)
{
    if (m->n_events > cap)
        return WIRE_ERR_FIELD;
    for (size_t i = 0; i < m->n_events; i++) {
        const Rn__NumberEvent *e = m->events[i];
        out->events[i] = (wire_number_t){e->epoch, e->seq, e->published_ns, e->value};
        if (e->epoch != m->epoch || e->seq == 0 || (i > 0 && e->seq != out->events[i - 1].seq + 1))
            return WIRE_ERR_FIELD;
    }
    out->count = m->n_events;
    return WIRE_OK;
}

wire_error_t wire_replay_reply_decode(const void *payload, size_t len, wire_replay_reply_t *out,
                                      size_t cap)
{
    Rn__ReplayReply *m = rn__replay_reply__unpack(NULL, len, payload);
    if (m == NULL)
        return WIRE_ERR_DECODE;
    out->epoch = m->epoch;
    out->first_seq = m->first_seq;
    out->last_seq = m->last_seq;
    out->count = 0;
    snprintf(out->error, sizeof out->error, "%s", m->error ? m->error : "");
    wire_error_t rc = copy_events(m, out, cap);
    rn__replay_reply__free_unpacked(m, NULL);
    return rc;
}
