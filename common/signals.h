/* signals.h -- SIGINT and SIGTERM as something to wait for rather than to handle: every
 * program blocks them at start (before any thread exists) and then waits for them. */
#ifndef RN_SIGNALS_H
#define RN_SIGNALS_H

#include <signal.h>

/* Fills set with SIGINT and SIGTERM and blocks them in the calling thread, which the
 * threads it creates later inherit. Returns 0 or -errno. */
int signals_block_stop(sigset_t *set) __attribute__((warn_unused_result));

#endif
