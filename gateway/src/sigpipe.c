/* sigpipe.c -- makes civetweb's per-worker "ignore SIGPIPE" free.
 *
 * Why: every civetweb worker thread calls sigaction(SIGPIPE, SIG_IGN) when it starts. In
 * the kernel, setting a signal to SIG_IGN walks every thread of the process to flush its
 * queue, so starting N workers costs O(N^2): measured 25 s to start 20,000 workers. main
 * ignores SIGPIPE once before civetweb starts; this definition, which the dynamic linker
 * prefers to libc's, turns the repeats (ignore what is already ignored, old action not
 * wanted) into a cheap query and passes every other call through unchanged. */
#include <signal.h>
#include <stddef.h>

/* glibc's own name for its sigaction, exported (GLIBC_2.2.5): calling it needs no lookup
 * that could fail, so this override can never refuse a call. */
extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (sig == SIGPIPE && act && act->sa_handler == SIG_IGN && old == NULL) {
        struct sigaction current;
        if (__sigaction(SIGPIPE, NULL, &current) == 0 && current.sa_handler == SIG_IGN)
            return 0;
    }
    return __sigaction(sig, act, old);
}
