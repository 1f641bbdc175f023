/* interest.c -- the set of wanted prefixes. */
#include "interest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void interest_init(interest_t *in)
{
    *in = (interest_t){0};
}

void interest_deinit(interest_t *in)
{
    for (size_t i = 0; i < in->len; i++)
        free(in->entries[i].prefix);
    free(in->entries);
    *in = (interest_t){0};
}

static interest_entry_t *find(interest_t *in, const char *prefix, size_t len)
{
    for (size_t i = 0; i < in->len; i++) {
        interest_entry_t *e = &in->entries[i];
        if (e->len == len && memcmp(e->prefix, prefix, len) == 0)
            return e;
    }
    return NULL;
}

static interest_entry_t *add(interest_t *in, const char *prefix, size_t len)
{
    if (in->len == INTEREST_PREFIXES_MAX) {
        errno = ENOSPC;
        return NULL;
    }
    if (in->len == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 8;
        interest_entry_t *grown = realloc(in->entries, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        in->entries = grown;
        in->cap = cap;
    }
    char *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, prefix, len);
    interest_entry_t *e = &in->entries[in->len++];
    *e = (interest_entry_t){copy, len};
    in->total++;
    return e;
}

static void remove_entry(interest_t *in, interest_entry_t *e)
{
    free(e->prefix);
    *e = in->entries[--in->len];
    in->total--;
}

int interest_apply(interest_t *in, const void *msg, size_t len)
{
    const unsigned char *bytes = msg;
    if (len == 0 || bytes[0] > 1)
        return -EINVAL;
    const char *prefix = (const char *)bytes + 1;
    interest_entry_t *e = find(in, prefix, len - 1);
    if (bytes[0] == 1)
        return e || add(in, prefix, len - 1) ? 0 : -errno;
    if (e)
        remove_entry(in, e);
    return 0; /* an unsubscribe for something never subscribed: nothing to undo */
}

long interest_matching(const interest_t *in, const char *topic)
{
    size_t topic_len = strlen(topic);
    long n = 0;
    for (size_t i = 0; i < in->len; i++) {
        const interest_entry_t *e = &in->entries[i];
        if (e->len <= topic_len && memcmp(e->prefix, topic, e->len) == 0)
            n++;
    }
    return n;
}
