/* interest.h -- which topic prefixes the XPUB socket's subscribers want. Fed with the
 * messages of an XPUB_VERBOSE socket: libzmq passes every subscribe, but an unsubscribe
 * only when the last subscriber of that prefix has gone (or, a libzmq flaw, when any
 * peer sends one it never subscribed). So a prefix is wanted from a subscribe to an
 * unsubscribe: counting them would let duplicates keep it wanted after everyone left.
 * Pure: no sockets; owned by the generator's single thread. */
#ifndef GENERATOR_INTEREST_H
#define GENERATOR_INTEREST_H

#include <stddef.h>

#define INTEREST_PREFIXES_MAX 4096

typedef struct {
    char *prefix;
    size_t len;
} interest_entry_t;

typedef struct {
    interest_entry_t *entries;
    size_t len, cap;
    long total; /* prefixes wanted */
} interest_t;

void interest_init(interest_t *in);
void interest_deinit(interest_t *in);

/* Applies one XPUB message: 0x01 + prefix subscribes, 0x00 + prefix unsubscribes.
 * Returns 0 on success, -EINVAL for a message that
 * is neither, -ENOSPC beyond INTEREST_PREFIXES_MAX distinct prefixes, -ENOMEM. */
int interest_apply(interest_t *in, const void *msg, size_t len) __attribute__((warn_unused_result));

/* Wanted prefixes that match the topic. */
long interest_matching(const interest_t *in, const char *topic);

#endif
