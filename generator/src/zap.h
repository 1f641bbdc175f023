/* zap.h -- the generator's ZeroMQ authentication handler (ZAP, RFC 27): with CURVE on and
 * a clients file given, only subscribers whose public key is listed may connect.
 * Served by the generator's single thread from its poll loop. */
#ifndef GENERATOR_ZAP_H
#define GENERATOR_ZAP_H

#include <stddef.h>

typedef struct zap zap_t;

/* Binds the handler and loads the allowed public keys (Z85, one per line; '#' starts a
 * comment). Create it before any CURVE socket binds. NULL with err set on failure. */
zap_t *zap_create(void *zmq_context, const char *clients_file, char *err, size_t errlen);
void zap_destroy(zap_t *zap);

void *zap_socket(zap_t *zap);

/* Answers pending requests, at most a batch of them. Returns 0 or -errno. */
int zap_serve(zap_t *zap) __attribute__((warn_unused_result));

#endif
