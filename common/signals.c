/* signals.c -- blocking the stop signals. */
#include "signals.h"

#include <pthread.h>

int signals_block_stop(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    return -pthread_sigmask(SIG_BLOCK, set, NULL);
}
