/* test_interest.c -- the subscriptions the generator accepts and the prefixes wanted, as
 * an XPUB_VERBOSE socket passes them. */
#include "check.h"
#include "interest.h"

#include <errno.h>

static int apply(interest_t *in, int subscribe, const char *prefix)
{
    char msg[80];
    msg[0] = (char)subscribe;
    memcpy(msg + 1, prefix, strlen(prefix));
    return interest_apply(in, msg, strlen(prefix) + 1);
}

static void wanted_follow_subscribes_and_unsubscribes(void)
{
    interest_t in;
    CHECK_EQ_INT(interest_init(&in, "number"), 0);
    CHECK_EQ_INT(interest_wants_data(&in), 0);
    CHECK_EQ_INT(apply(&in, 1, "_heartbeat"), 0);
    CHECK_EQ_INT(interest_wants_data(&in), 0);
    CHECK_EQ_INT(apply(&in, 1, "number"), 0);
    CHECK_EQ_INT(apply(&in, 1, "number"), 0); /* a duplicate: still one prefix wanted */
    CHECK_EQ_INT(apply(&in, 1, "num"), 0);
    CHECK_EQ_INT(interest_wants_data(&in), 1);
    CHECK_EQ_INT(in.total, 3);
    CHECK_EQ_INT(apply(&in, 0, "num"), 0);
    CHECK_EQ_INT(interest_wants_data(&in), 1);
    /* libzmq passes the unsubscribe only when the last subscriber left: one undoes the
     * duplicates too. */
    CHECK_EQ_INT(apply(&in, 0, "number"), 0);
    CHECK_EQ_INT(interest_wants_data(&in), 0);
    CHECK_EQ_INT(apply(&in, 0, "number"), 0); /* never subscribed (now): nothing to undo */
    CHECK_EQ_INT(in.total, 1);
    CHECK_EQ_INT(apply(&in, 1, ""), 0); /* everything: the data topic included */
    CHECK_EQ_INT(interest_wants_data(&in), 1);
    CHECK_EQ_INT(apply(&in, 1, "_"), 0);
    CHECK_EQ_INT(in.total, 3); /* _heartbeat, "", _ */
}

static void prefixes_of_neither_topic_are_refused(void)
{
    interest_t in;
    CHECK_EQ_INT(interest_init(&in, "number"), 0);
    CHECK_EQ_INT(apply(&in, 1, "numbers"), -EPERM); /* longer than the topic */
    CHECK_EQ_INT(apply(&in, 1, "nx"), -EPERM);
    CHECK_EQ_INT(apply(&in, 1, "_heartbeats"), -EPERM);
    CHECK_EQ_INT(apply(&in, 0, "other"), -EPERM);
    CHECK_EQ_INT(in.total, 0);
    CHECK_EQ_INT(interest_apply(&in, "\x02x", 2), -EINVAL);
    CHECK_EQ_INT(interest_apply(&in, "", 0), -EINVAL);
    char longest[WIRE_TOPIC_MAX + 1];
    memset(longest, 'n', sizeof longest - 1);
    longest[WIRE_TOPIC_MAX] = '\0';
    CHECK_EQ_INT(interest_init(&in, longest), 0);
    CHECK_EQ_INT(apply(&in, 1, longest), 0);
    CHECK_EQ_INT(interest_wants_data(&in), 1);
    char too_long[WIRE_TOPIC_MAX + 2];
    memset(too_long, 'n', sizeof too_long - 1);
    too_long[WIRE_TOPIC_MAX + 1] = '\0';
    CHECK_EQ_INT(interest_init(&in, too_long), -EINVAL);
}

/* A pair's members subscribe to each other's mirror and ack topics (generator/README.md):
 * those prefixes are held, and none of them wants the data. */
static void a_pair_topics_are_accepted(void)
{
    interest_t in;
    CHECK_EQ_INT(interest_init(&in, "number"), 0);
    CHECK_EQ_INT(apply(&in, 1, "_mirror"), 0);
    CHECK_EQ_INT(apply(&in, 1, "_ack"), 0);
    CHECK_EQ_INT(apply(&in, 1, "_mi"), 0);
    CHECK_EQ_INT(apply(&in, 1, "_a"), 0);
    CHECK_EQ_INT(interest_wants_data(&in), 0);
    CHECK_EQ_INT(in.total, 4);
    CHECK_EQ_INT(apply(&in, 1, "_mirrors"), -EPERM);
    CHECK_EQ_INT(apply(&in, 1, "_acks"), -EPERM);
    CHECK_EQ_INT(apply(&in, 0, "_mirror"), 0);
    CHECK_EQ_INT(in.total, 3);
}

int main(void)
{
    wanted_follow_subscribes_and_unsubscribes();
    a_pair_topics_are_accepted();
    prefixes_of_neither_topic_are_refused();
    CHECK_DONE();
}
