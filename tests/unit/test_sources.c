/* test_sources.c -- a subscriber's view of a generator pair: which source is active, a
 * single generator as before, split brain, and when votes go out (and when not). */
#include "check.h"
#include "sources.h"

static wire_heartbeat_t beat(wire_role_t role, wire_state_t state, uint64_t epoch, uint64_t seq)
{
    wire_heartbeat_t hb = {.epoch = epoch,
                           .last_seq = seq,
                           .replay_port = 5557,
                           .role = role,
                           .state = state,
                           .failover_ms = 1000};
    return hb;
}

static void test_split(void)
{
    char eps[SOURCES_MAX][SOURCES_ENDPOINT_MAX], err[128];
    CHECK_EQ_INT(sources_split("tcp://a:1", eps, err, sizeof err), 1);
    CHECK_EQ_INT(sources_split("tcp://a:1,tcp://b:2", eps, err, sizeof err), 2);
    CHECK(strcmp(eps[1], "tcp://b:2") == 0);
    CHECK(sources_split("", eps, err, sizeof err) < 0);
    CHECK(sources_split("tcp://a:1,", eps, err, sizeof err) < 0);
    CHECK(sources_split(",tcp://a:1", eps, err, sizeof err) < 0);
    CHECK(sources_split("a,b,c,d,e", eps, err, sizeof err) < 0);
    CHECK(sources_split("tcp://a\":1", eps, err, sizeof err) < 0);
}

/* A single generator (role single, state 0) is active whenever heard, and never voted to,
 * however long it is silent. */
static void test_single(void)
{
    sources_t s;
    sources_init(&s, 1, 1000);
    CHECK_EQ_INT(sources_active(&s, 1000), -1);
    wire_heartbeat_t hb = {.epoch = 7, .last_seq = 3, .replay_port = 5557};
    sources_heartbeat(&s, 0, &hb, 1100);
    CHECK_EQ_INT(sources_active(&s, 1100), 0);
    CHECK_EQ_INT(sources_failover(&s), SOURCES_FAILOVER_MS);
    for (int64_t t = 1100; t < 20000; t += 100)
        CHECK_EQ_INT(sources_vote_due(&s, 0, t), 0);
    CHECK_EQ_INT(sources_active(&s, 20000), -1); /* silent: not active any more */
}

static void test_pair_active_and_split_brain(void)
{
    sources_t s;
    sources_init(&s, 2, 0);
    wire_heartbeat_t a = beat(WIRE_ROLE_PRIMARY, WIRE_STATE_ACTIVE, 5, 10);
    wire_heartbeat_t b = beat(WIRE_ROLE_BACKUP, WIRE_STATE_PASSIVE, 5, 10);
    sources_heartbeat(&s, 0, &a, 100);
    sources_heartbeat(&s, 1, &b, 100);
    CHECK_EQ_INT(sources_active(&s, 100), 0);
    CHECK_EQ_INT(sources_failover(&s), 1000);
    /* Both say active: the one ahead stays, as the pair decides. */
    wire_heartbeat_t b2 = beat(WIRE_ROLE_BACKUP, WIRE_STATE_ACTIVE, 5, 12);
    sources_heartbeat(&s, 1, &b2, 200);
    CHECK_EQ_INT(sources_active(&s, 200), 1);
    wire_heartbeat_t a2 = beat(WIRE_ROLE_PRIMARY, WIRE_STATE_ACTIVE, 6, 1);
    sources_heartbeat(&s, 0, &a2, 300);
    CHECK_EQ_INT(sources_active(&s, 300), 0);
    /* The primary goes quiet: after the failover time only the backup is. */
    sources_heartbeat(&s, 1, &b2, 1000);
    CHECK_EQ_INT(sources_active(&s, 1300), 0);
    CHECK_EQ_INT(sources_active(&s, 1350), 1);
    CHECK_EQ_INT(sources_active(&s, 2100), -1);
}

/* The active dies: no vote before the failover time, then one per failover/4 to the
 * passive only, and none once an active is heard again. */
static void test_votes(void)
{
    sources_t s;
    sources_init(&s, 2, 0);
    wire_heartbeat_t a = beat(WIRE_ROLE_PRIMARY, WIRE_STATE_ACTIVE, 5, 10);
    wire_heartbeat_t b = beat(WIRE_ROLE_BACKUP, WIRE_STATE_PASSIVE, 5, 10);
    sources_heartbeat(&s, 0, &a, 0);
    sources_note_held(&s, 5, 10);
    int votes = 0;
    for (int64_t t = 0; t <= 999; t += 50) {
        sources_heartbeat(&s, 1, &b, t);
        votes += sources_vote_due(&s, 0, t) + sources_vote_due(&s, 1, t);
    }
    CHECK_EQ_INT(votes, 0); /* the active is within its failover time */
    for (int64_t t = 1000; t < 2000; t += 50) {
        sources_heartbeat(&s, 1, &b, t);
        CHECK_EQ_INT(sources_vote_due(&s, 0, t), 0); /* the silent active: no vote */
        votes += sources_vote_due(&s, 1, t);
    }
    CHECK_EQ_INT(votes, 4); /* at 1000, 1250, 1500, 1750 */
    CHECK_EQ_INT(s.s[1].votes, 4);
    uint64_t epoch, seq;
    sources_vote_request(&s, &epoch, &seq);
    CHECK_EQ_INT(epoch, 5);
    CHECK_EQ_INT(seq, 11);
    /* The passive took over: no more votes. */
    wire_heartbeat_t b2 = beat(WIRE_ROLE_BACKUP, WIRE_STATE_ACTIVE, 5, 10);
    sources_heartbeat(&s, 1, &b2, 2000);
    CHECK_EQ_INT(sources_active(&s, 2000), 1);
    for (int64_t t = 2000; t < 2900; t += 50) {
        sources_event(&s, 1, t);
        CHECK_EQ_INT(sources_vote_due(&s, 0, t) + sources_vote_due(&s, 1, t), 0);
    }
}

/* Nothing heard yet: votes wait the default failover time from the start, go only to a
 * member heard recently that announces a replay socket, and name epoch 0. */
static void test_votes_at_start(void)
{
    sources_t s;
    sources_init(&s, 2, 500);
    wire_heartbeat_t b = beat(WIRE_ROLE_BACKUP, WIRE_STATE_STARTING, 0, 0);
    b.failover_ms = 0; /* not said yet */
    sources_heartbeat(&s, 1, &b, 600);
    CHECK_EQ_INT(sources_vote_due(&s, 1, 2499), 0);
    sources_heartbeat(&s, 1, &b, 2500);
    CHECK_EQ_INT(sources_vote_due(&s, 1, 2500), 1);
    CHECK_EQ_INT(sources_vote_due(&s, 0, 2500), 0); /* never heard */
    uint64_t epoch, seq;
    sources_vote_request(&s, &epoch, &seq);
    CHECK_EQ_INT(epoch, 0);
    CHECK_EQ_INT(seq, 1);
    /* A member that went quiet gets no vote. */
    CHECK_EQ_INT(sources_vote_due(&s, 1, 2500 + SOURCES_FAILOVER_MS + 1), 0);
    /* One without a replay socket cannot be voted to. */
    b.replay_port = 0;
    sources_heartbeat(&s, 1, &b, 9000);
    CHECK_EQ_INT(sources_vote_due(&s, 1, 9000), 0);
}

/* A loop that sleeps until sources_next_due misses nothing: at every millisecond before
 * it, the active source is the same and no vote is due (checked on copies, as
 * sources_vote_due counts the vote it allows). Returns the due time. */
static int64_t check_quiet_until_due(const sources_t *s, int64_t now)
{
    int64_t due = sources_next_due(s, now);
    CHECK(due >= now);
    int64_t end = due == INT64_MAX ? now + 20000 : due;
    int active = sources_active(s, now);
    for (int64_t t = now + 1; t < end; t++) {
        sources_t copy = *s;
        CHECK_EQ_INT(sources_active(&copy, t), active);
        for (size_t i = 0; i < copy.count; i++)
            CHECK_EQ_INT(sources_vote_due(&copy, i, t), 0);
    }
    return due;
}

/* What the gateway's bus thread sleeps until, through a takeover: the active's silence
 * ends at its staleness, then each vote, then the new active's staleness. */
static void test_next_due(void)
{
    sources_t s;
    sources_init(&s, 2, 0);
    CHECK(sources_next_due(&s, 0) == INT64_MAX); /* nothing heard: nothing to wait for */
    wire_heartbeat_t a = beat(WIRE_ROLE_PRIMARY, WIRE_STATE_ACTIVE, 5, 10);
    wire_heartbeat_t b = beat(WIRE_ROLE_BACKUP, WIRE_STATE_PASSIVE, 5, 10);
    sources_heartbeat(&s, 0, &a, 0);
    sources_heartbeat(&s, 1, &b, 100);
    /* The active's last message at 0: it goes stale at 1001, votes may start at 1000. */
    CHECK_EQ_INT(check_quiet_until_due(&s, 100), 1000);
    sources_heartbeat(&s, 1, &b, 900);
    CHECK_EQ_INT(check_quiet_until_due(&s, 900), 1000);
    CHECK_EQ_INT(sources_vote_due(&s, 1, 1000), 1);
    CHECK_EQ_INT(check_quiet_until_due(&s, 1000), 1001); /* the old active goes stale */
    CHECK_EQ_INT(sources_active(&s, 1001), -1);
    CHECK_EQ_INT(check_quiet_until_due(&s, 1001), 1250); /* the next vote */
    CHECK_EQ_INT(sources_vote_due(&s, 1, 1250), 1);
    CHECK_EQ_INT(check_quiet_until_due(&s, 1250), 1500);
    CHECK_EQ_INT(sources_vote_due(&s, 1, 1500), 1);
    CHECK_EQ_INT(check_quiet_until_due(&s, 1500), 1750);
    CHECK_EQ_INT(sources_vote_due(&s, 1, 1750), 1);
    /* The passive fell silent too (last heard at 900): it goes stale before its next vote. */
    CHECK_EQ_INT(check_quiet_until_due(&s, 1750), 1901);
    CHECK(check_quiet_until_due(&s, 1901) == INT64_MAX);
    /* It took over: only its staleness is due, a failover after its last message. */
    wire_heartbeat_t b2 = beat(WIRE_ROLE_BACKUP, WIRE_STATE_ACTIVE, 5, 10);
    sources_heartbeat(&s, 1, &b2, 2000);
    CHECK_EQ_INT(check_quiet_until_due(&s, 2000), 3001);
    sources_event(&s, 1, 2500);
    CHECK_EQ_INT(check_quiet_until_due(&s, 2500), 3501);
    /* A member without a replay socket is never voted to: only its staleness. */
    sources_t t;
    sources_init(&t, 1, 0);
    wire_heartbeat_t c = beat(WIRE_ROLE_BACKUP, WIRE_STATE_PASSIVE, 5, 10);
    c.replay_port = 0;
    sources_heartbeat(&t, 0, &c, 5000);
    CHECK_EQ_INT(check_quiet_until_due(&t, 5000), 6001);
}

int main(void)
{
    test_split();
    test_single();
    test_pair_active_and_split_brain();
    test_votes();
    test_votes_at_start();
    test_next_due();
    CHECK_DONE();
}
