/* test_interest.c -- the prefixes an XPUB_VERBOSE socket's subscribers want. */
#include "check.h"
#include "interest.h"

#include <errno.h>

static void apply(interest_t *in, int subscribe, const char *prefix)
{
    char msg[80];
    msg[0] = (char)subscribe;
    memcpy(msg + 1, prefix, strlen(prefix));
    CHECK_EQ_INT(interest_apply(in, msg, strlen(prefix) + 1), 0);
}

int main(void)
{
    interest_t in;
    interest_init(&in);
    CHECK_EQ_INT(interest_matching(&in, "number"), 0);
    apply(&in, 1, "_heartbeat");
    CHECK_EQ_INT(interest_matching(&in, "number"), 0);
    apply(&in, 1, "number");
    apply(&in, 1, "number"); /* a duplicate: still one prefix wanted */
    apply(&in, 1, "num");
    apply(&in, 1, "numbers"); /* longer than the topic: no match */
    CHECK_EQ_INT(interest_matching(&in, "number"), 2);
    apply(&in, 0, "num");
    CHECK_EQ_INT(interest_matching(&in, "number"), 1);
    /* libzmq passes the unsubscribe only when the last subscriber left: one undoes the
     * duplicates too. */
    apply(&in, 0, "number");
    CHECK_EQ_INT(interest_matching(&in, "number"), 0);
    apply(&in, 1, ""); /* everything */
    CHECK_EQ_INT(interest_matching(&in, "number"), 1);
    apply(&in, 0, "never-subscribed");
    CHECK_EQ_INT(in.total, 3); /* _heartbeat, numbers, "" */
    CHECK_EQ_INT(interest_apply(&in, "\x02x", 2), -EINVAL);
    CHECK_EQ_INT(interest_apply(&in, "", 0), -EINVAL);
    interest_deinit(&in);
    CHECK_DONE();
}
