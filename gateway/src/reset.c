/* reset.c -- the names of the reset reasons. */
#include "reset.h"

const char *reset_reason_name(reset_reason_t reason)
{
    static const char *const names[RESET_KINDS] = {"invalid-id", "too-old", "epoch", "gap"};
    return (unsigned)reason < RESET_KINDS ? names[reason] : "unknown";
}
