/* log.h -- one logfmt line per notable event on stderr, with a level.
 * The level is set once by main before threads start and only read afterwards. */
#ifndef RN_LOG_H
#define RN_LOG_H

#include <stdint.h>

/* Prefixed: <syslog.h> defines LOG_DEBUG, LOG_INFO and LOG_ERR as macros. */
typedef enum { RN_LOG_DEBUG, RN_LOG_INFO, RN_LOG_WARN, RN_LOG_ERROR } log_level_t;

/* Parses "debug", "info", "warn" or "error"; returns 0 or -EINVAL. */
int log_level_parse(const char *text, log_level_t *out);
/* What --help says of every program's --log-level. */
#define LOG_LEVEL_HELP "debug, info, warn or error"
void log_set_level(log_level_t level);
int log_enabled(log_level_t level);

/* Writes "ts=... level=... prog=... msg=<msg> <fields>" where fields is printf-formatted
 * text of key=value pairs, written by one fprintf so lines from threads never interleave. */
void log_write(log_level_t level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void log_set_program(const char *name);

/* Whether the count-th occurrence of something a peer can repeat at will deserves a log
 * line: the first, then each power of two, so a flood costs a few dozen lines in all and
 * each line carries the running total. */
static inline int log_power_of_two(uint64_t count)
{
    return count != 0 && (count & (count - 1)) == 0;
}

#define log_debug(msg, ...) log_write(RN_LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_write(RN_LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_write(RN_LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_write(RN_LOG_ERROR, msg, __VA_ARGS__)

#endif
