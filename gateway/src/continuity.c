/* continuity.c -- the verdict for each event a client could be sent. */
#include "continuity.h"

continuity_verdict_t continuity_next(continuity_t *c, uint64_t epoch, uint64_t seq)
{
    int same_epoch = c->known && epoch == c->epoch;
    if (same_epoch && seq <= c->seq)
        return CONTINUITY_SKIP;
    /* While waiting to reach the client's id, events of another epoch belong to a stream
     * the client has already left. */
    if (c->known && c->awaiting && !same_epoch)
        return CONTINUITY_SKIP;
    continuity_verdict_t verdict = !c->known           ? CONTINUITY_SEND
                                   : !same_epoch       ? CONTINUITY_RESET_EPOCH
                                   : seq == c->seq + 1 ? CONTINUITY_SEND
                                                       : CONTINUITY_RESET_GAP;
    *c = (continuity_t){epoch, seq, 1, 0};
    return verdict;
}
