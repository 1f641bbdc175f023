/* continuity.c -- the verdict for each event a client could be sent. */
#include "continuity.h"

continuity_verdict_t continuity_next(continuity_t *c, uint64_t epoch, uint64_t seq)
{
    int same_epoch = c->known && epoch == c->epoch;
    if (same_epoch && seq <= c->seq)
        return CONTINUITY_SKIP;
    /* A client waiting for its id (ahead of us, in the epoch we relay) meets an event of
     * another epoch only when the generator has restarted: its id can never come, so the
     * wait ends here with a reset, and the new epoch is sent from its first event. */
    continuity_verdict_t verdict = !c->known           ? CONTINUITY_SEND
                                   : !same_epoch       ? CONTINUITY_RESET_EPOCH
                                   : seq == c->seq + 1 ? CONTINUITY_SEND
                                                       : CONTINUITY_RESET_GAP;
    *c = (continuity_t){epoch, seq, 1, 0};
    return verdict;
}
