/* interest.h -- which topic prefixes the XPUB socket's subscribers want, and how many of
 * them. Fed with the subscribe/unsubscribe messages of an XPUB_VERBOSER socket. Pure:
 * no sockets; owned by the generator's single thread. */
#ifndef GENERATOR_INTEREST_H
#define GENERATOR_INTEREST_H

#include <stddef.h>

#define INTEREST_PREFIXES_MAX 4096

typedef struct {
    char *prefix;
    size_t len;
    long count;
} interest_entry_t;

typedef struct {
    interest_entry_t *entries;
    size_t len, cap;
    long total;
} interest_t;

void interest_init(interest_t *in);
void interest_deinit(interest_t *in);

/* Applies one XPUB message: 0x01 + prefix subscribes, 0x00 + prefix unsubscribes.
 * Returns 0 on success, -EINVAL for a message that
 * is neither, -ENOSPC beyond INTEREST_PREFIXES_MAX distinct prefixes, -ENOMEM. */
int interest_apply(interest_t *in, const void *msg, size_t len)
    __attribute__((warn_unused_result));

/* Live subscriptions whose prefix matches the topic. */
long interest_matching(const interest_t *in, const char *topic);

#endif
