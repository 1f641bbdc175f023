/* test_event_id.c -- "<epoch>-<seq>": written, read back, and junk refused. */
#include "check.h"
#include "event_id.h"

#include <errno.h>
#include <stdint.h>

static void test_round_trip_and_junk(void)
{
    char buf[EVENT_ID_MAX];
    uint64_t e = 0, s = 0;
    int n = event_id_format(buf, sizeof buf, UINT64_MAX, UINT64_MAX);
    CHECK_BYTES(buf, n, "18446744073709551615-18446744073709551615");
    CHECK_EQ_INT(event_id_parse(buf, (size_t)n, &e, &s), 0);
    CHECK(e == UINT64_MAX && s == UINT64_MAX);
    CHECK_EQ_INT(event_id_parse("1795519844017-9", 15, &e, &s), 0);
    CHECK(e == 1795519844017ull && s == 9);
    const char *bad[] = {"",
                         "-",
                         "1-",
                         "-1",
                         "1--1",
                         "a-1",
                         "1-1x",
                         " 1-1",
                         "1-1 ",
                         "18446744073709551616-1",
                         "1-18446744073709551616",
                         "12",
                         "+1-2",
                         "1-+2",
                         "1-2-3",
                         "0x1-2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(event_id_parse(bad[i], strlen(bad[i]), &e, &s), -EINVAL);
}

/* The parser reads len bytes, not up to a NUL: a Last-Event-ID comes as a length. */
static void test_reads_len_bytes_only(void)
{
    uint64_t e = 0, s = 0;
    CHECK_EQ_INT(event_id_parse("12-34xyz", 5, &e, &s), 0);
    CHECK(e == 12 && s == 34);
    CHECK_EQ_INT(event_id_parse("12-34", 3, &e, &s), -EINVAL);
}

static void test_leading_zeros(void)
{
    uint64_t e = 0, s = 0;
    CHECK_EQ_INT(event_id_parse("007-0000000000000000000000001", 29, &e, &s), 0);
    CHECK(e == 7 && s == 1);
}

static void test_format_overflow(void)
{
    char buf[4];
    CHECK_EQ_INT(event_id_format(buf, sizeof buf, 12, 3), -ENOSPC);
    int n = event_id_format(buf, sizeof buf, 1, 2);
    CHECK_BYTES(buf, n, "1-2");
}

int main(void)
{
    test_round_trip_and_junk();
    test_reads_len_bytes_only();
    test_leading_zeros();
    test_format_overflow();
    CHECK_DONE();
}
