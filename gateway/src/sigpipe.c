/* sigpipe.c -- makes civetweb's per-worker "ignore SIGPIPE" free.
 *
 * Why: every civetweb worker thread calls sigaction(SIGPIPE, SIG_IGN) when it starts. In
 * the kernel, setting a signal to SIG_IGN walks every thread of the process to flush its
 * queue, so starting N workers costs O(N^2): measured 25 s to start 20,000 workers. main
 * ignores SIGPIPE once before civetweb starts; this definition, which the dynamic linker
 * prefers to libc's, turns the repeats (ignore what is already ignored, old action not
 * wanted) into a cheap query and passes every other call through unchanged. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static sigaction_fn next_sigaction;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void resolve(void)
{
    next_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (pthread_once(&resolve_once, resolve) != 0 || next_sigaction == NULL) {
        errno = ENOSYS;
        return -1;
    }
    if (sig == SIGPIPE && act && act->sa_handler == SIG_IGN && old == NULL) {
        struct sigaction current;
        if (next_sigaction(SIGPIPE, NULL, &current) == 0 && current.sa_handler == SIG_IGN)
            return 0;
    }
    return next_sigaction(sig, act, old);
}
