/* fuzz_interest.c -- libFuzzer driver for the XPUB subscription tracker, checked against
 * a naive model: after any sequence of (un)subscribe messages, the prefixes matching a
 * topic are those the model holds as wanted (a subscribe sets one, an unsubscribe clears
 * it, whatever came before). */
#include "interest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MODEL_MAX = 512, PREFIX_MAX = 7 };

typedef struct {
    uint8_t prefix[PREFIX_MAX];
    size_t len;
    long count;
} model_entry_t;

static long *model_slot(model_entry_t *m, size_t *used, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < *used; i++) {
        if (m[i].len == len && memcmp(m[i].prefix, p, len) == 0)
            return &m[i].count;
    }
    if (*used == MODEL_MAX)
        return NULL;
    memcpy(m[*used].prefix, p, len);
    m[*used].len = len;
    m[*used].count = 0;
    return &m[(*used)++].count;
}

static long model_matching(const model_entry_t *m, size_t used, const char *topic)
{
    long n = 0;
    for (size_t i = 0; i < used; i++) {
        if (m[i].len <= strlen(topic) && memcmp(m[i].prefix, topic, m[i].len) == 0)
            n += m[i].count;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const topics[] = {"number", "num", "n", "", "_heartbeat", "x"};
    static model_entry_t model[MODEL_MAX];
    size_t used = 0;
    interest_t in;
    interest_init(&in);
    for (size_t i = 0; i < size;) {
        size_t len = data[i] % (PREFIX_MAX + 1) + 1; /* the flag byte and 0..7 bytes */
        if (len > size - i - 1)
            len = size - i - 1;
        const uint8_t *msg = data + i + 1;
        i += len + 1;
        if (len == 0 || msg[0] > 1)
            continue;
        long *slot = model_slot(model, &used, msg + 1, len - 1);
        if (slot == NULL || interest_apply(&in, msg, len) != 0)
            break;
        *slot = msg[0] == 1;
        for (size_t t = 0; t < sizeof topics / sizeof topics[0]; t++) {
            long got = interest_matching(&in, topics[t]);
            if (got < 0 || got != model_matching(model, used, topics[t]))
                abort();
        }
    }
    interest_deinit(&in);
    return 0;
}
