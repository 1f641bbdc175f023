/* fuzz_interest.c -- libFuzzer driver for the XPUB subscription tracker, checked against
 * a naive model: a list of the wanted prefixes, where a subscribe to a prefix of the data
 * topic or of the bus's own (heartbeat, and a pair's mirror and ack) adds one, its
 * unsubscribe removes it, and anything else is refused. After every message, what the tracker says
 * (accepted or refused, data wanted, prefixes held) is what the model says. */
#include "interest.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MODEL_MAX = 256, PREFIX_MAX = 12 };

typedef struct {
    uint8_t prefix[PREFIX_MAX];
    size_t len;
} model_entry_t;

typedef struct {
    model_entry_t entries[MODEL_MAX];
    size_t used;
} model_t;

static int starts(const char *topic, const uint8_t *p, size_t len)
{
    return len <= strlen(topic) && memcmp(p, topic, len) == 0;
}

static long find(const model_t *m, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < m->used; i++)
        if (m->entries[i].len == len && memcmp(m->entries[i].prefix, p, len) == 0)
            return (long)i;
    return -1;
}

/* The model's answer to one message, as interest_apply's return value. */
static int model_apply(model_t *m, const char *topic, const uint8_t *msg, size_t len)
{
    if (len == 0 || msg[0] > 1)
        return -EINVAL;
    const uint8_t *p = msg + 1;
    if (!starts(topic, p, len - 1) && !starts("_heartbeat", p, len - 1) &&
        !starts("_mirror", p, len - 1) && !starts("_ack", p, len - 1))
        return -EPERM;
    long at = find(m, p, len - 1);
    if (msg[0] == 1 && at < 0 && m->used < MODEL_MAX) {
        memcpy(m->entries[m->used].prefix, p, len - 1);
        m->entries[m->used++].len = len - 1;
    } else if (msg[0] == 0 && at >= 0) {
        m->entries[at] = m->entries[--m->used];
    }
    return 0;
}

static int model_wants(const model_t *m, const char *topic)
{
    for (size_t i = 0; i < m->used; i++)
        if (starts(topic, m->entries[i].prefix, m->entries[i].len))
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const topics[] = {"number", "num", "n", "_x", "x_heartbeat", "_ack"};
    static model_t model;
    if (size == 0)
        return 0;
    const char *topic = topics[data[0] % (sizeof topics / sizeof topics[0])];
    model.used = 0;
    interest_t in;
    if (interest_init(&in, topic) != 0)
        abort();
    for (size_t i = 1; i < size;) {
        size_t len = data[i] % (PREFIX_MAX + 2); /* the flag byte and 0..12 bytes, or none */
        if (len > size - i - 1)
            len = size - i - 1;
        const uint8_t *msg = data + i + 1;
        i += len + 1;
        int want = model_apply(&model, topic, msg, len);
        if (interest_apply(&in, msg, len) != want ||
            interest_wants_data(&in) != model_wants(&model, topic) || in.total != (long)model.used)
            abort();
    }
    return 0;
}
