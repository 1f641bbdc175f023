/* interest.c -- the set of wanted prefixes, one flag per prefix length of each topic. */
#include "interest.h"

#include <errno.h>
#include <string.h>

int interest_init(interest_t *in, const char *topic)
{
    *in = (interest_t){0};
    size_t len = strlen(topic);
    if (len > WIRE_TOPIC_MAX)
        return -EINVAL;
    memcpy(in->topic, topic, len + 1);
    in->topic_len = len;
    return 0;
}

static int is_prefix(const unsigned char *prefix, size_t len, const char *of, size_t of_len)
{
    return len <= of_len && memcmp(prefix, of, len) == 0;
}

/* The topic this prefix begins: 0 the data topic, 1 the heartbeat's, 2 the mirror's,
 * 3 the ack's, -1 none. */
static int topic_of(const interest_t *in, const unsigned char *prefix, size_t len)
{
    static const char *const bus[] = {WIRE_HEARTBEAT_TOPIC, WIRE_MIRROR_TOPIC, WIRE_ACK_TOPIC};
    if (is_prefix(prefix, len, in->topic, in->topic_len))
        return 0;
    for (int i = 0; i < 3; i++)
        if (is_prefix(prefix, len, bus[i], strlen(bus[i])))
            return i + 1;
    return -1;
}

int interest_apply(interest_t *in, const void *msg, size_t len)
{
    const unsigned char *bytes = msg;
    if (len == 0 || bytes[0] > 1)
        return -EINVAL;
    int topic = topic_of(in, bytes + 1, len - 1);
    if (topic < 0)
        return -EPERM;
    unsigned char *flag = &in->wanted[topic][len - 1], want = bytes[0];
    if (*flag == want)
        return 0; /* a duplicate, or an unsubscribe of a prefix not held */
    *flag = want;
    long change = want ? 1 : -1;
    in->total += change;
    if (topic == 0)
        in->data += change;
    return 0;
}

int interest_wants_data(const interest_t *in)
{
    return in->data > 0;
}
