/* check.h -- the assertion macros of the unit tests: report file:line and keep going, so
 * one run lists every failure; main returns the failure count. */
#ifndef TESTS_CHECK_H
#define TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, a_, b_); \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* Compares n bytes at got with the NUL-terminated expected text. */
#define CHECK_BYTES(got, n, expected)                                                              \
    do {                                                                                           \
        const char *e_ = (expected);                                                               \
        if ((size_t)(n) != strlen(e_) || memcmp((got), e_, strlen(e_)) != 0) {                     \
            fprintf(stderr, "%s:%d: got \"%.*s\", expected \"%s\"\n", __FILE__, __LINE__,          \
                    (int)(n), (const char *)(got), e_);                                            \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_DONE()                                                                               \
    do {                                                                                           \
        if (check_failures)                                                                        \
            fprintf(stderr, "%d check(s) failed\n", check_failures);                               \
        return check_failures ? 1 : 0;                                                             \
    } while (0)

#endif
