/* test_log_levels.c -- the log levels' names, and that log.h lives beside <syslog.h>: a
 * program that also logs to syslog includes both, and syslog's LOG_DEBUG and LOG_INFO
 * macros once turned log.h's own level names into numbers (a compile error). */
#include <syslog.h>

#include "check.h"
#include "log.h"

#include <errno.h>

static void test_parse(void)
{
    static const struct {
        const char *text;
        log_level_t level;
    } names[] = {{"debug", RN_LOG_DEBUG},
                 {"info", RN_LOG_INFO},
                 {"warn", RN_LOG_WARN},
                 {"error", RN_LOG_ERROR}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        log_level_t got = RN_LOG_ERROR;
        CHECK_EQ_INT(log_level_parse(names[i].text, &got), 0);
        CHECK_EQ_INT(got, names[i].level);
    }
    log_level_t got;
    CHECK_EQ_INT(log_level_parse("verbose", &got), -EINVAL);
}

static void test_syslog_levels_untouched(void)
{
    /* Both sets of names mean what their own header says. */
    CHECK_EQ_INT(LOG_DEBUG, 7);
    CHECK_EQ_INT(LOG_INFO, 6);
    CHECK(RN_LOG_DEBUG < RN_LOG_INFO && RN_LOG_INFO < RN_LOG_WARN && RN_LOG_WARN < RN_LOG_ERROR);
}

static void test_enabled(void)
{
    log_set_level(RN_LOG_WARN);
    CHECK(!log_enabled(RN_LOG_INFO));
    CHECK(log_enabled(RN_LOG_WARN));
    CHECK(log_enabled(RN_LOG_ERROR));
    log_set_level(RN_LOG_INFO);
}

int main(void)
{
    test_parse();
    test_syslog_levels_untouched();
    test_enabled();
    CHECK_DONE();
}
