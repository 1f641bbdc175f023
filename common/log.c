/* log.c -- logfmt lines on stderr. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* The only mutable file-scope state: written by main before threads start. */
static _Atomic int current_level = RN_LOG_INFO;
static const char *program = "rn";

int log_level_parse(const char *text, log_level_t *out)
{
    for (int i = RN_LOG_DEBUG; i <= RN_LOG_ERROR; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_set_level(log_level_t level)
{
    atomic_store(&current_level, (int)level);
}

void log_set_program(const char *name)
{
    program = name;
}

int log_enabled(log_level_t level)
{
    return (int)level >= atomic_load(&current_level);
}

void log_write(log_level_t level, const char *msg, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    char fields[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fields, sizeof fields, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ts=%s.%03ldZ level=%s prog=%s msg=\"%s\"%s%s\n", stamp, ts.tv_nsec / 1000000,
            level_names[level], program, msg, fields[0] ? " " : "", fields);
}
