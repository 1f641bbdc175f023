/* cli.h -- command-line flags with an environment variable behind each one.
 * A flag given on the command line wins over its environment variable, which wins over
 * the default already stored in the target variable. */
#ifndef RN_CLI_H
#define RN_CLI_H

#include <stddef.h>
#include <stdio.h>

typedef enum { CLI_STRING, CLI_INT, CLI_BOOL } cli_type_t;

typedef struct {
    const char *name; /* "bind": written --bind VALUE or --bind=VALUE */
    const char *env;  /* "GENERATOR_BIND", or NULL */
    cli_type_t type;
    void *target;  /* const char **, long *, or int * (bool) */
    long min, max; /* inclusive range for CLI_INT */
    const char *help;
} cli_option_t;

enum { CLI_HELP = 1, CLI_VERSION = 2, CLI_HELP_MARKDOWN = 3 };

/* Returns 0 when parsed, CLI_HELP, CLI_VERSION or CLI_HELP_MARKDOWN when --help,
 * --version or --help-markdown was asked for, -EINVAL with a message in err. */
int cli_parse(const cli_option_t *opts, size_t count, int argc, char **argv, char *err,
              size_t errlen) __attribute__((warn_unused_result));

void cli_usage(FILE *out, const char *program, const char *summary, const cli_option_t *opts,
               size_t count);

/* The flag table as markdown (flag, environment, default, meaning): the documents' flag
 * tables are this output, checked by tests/docs/test_flags.py. */
void cli_usage_markdown(FILE *out, const cli_option_t *opts, size_t count);

/* "PROGRAM VERSION (GIT-DESCRIBE)" */
void cli_print_version(FILE *out, const char *program);

/* Prints the usage, its markdown table or the version when cli_parse's rc asked for one. Returns 1
 * when it did (the program then exits 0), else 0. */
int cli_answer(int rc, const char *program, const char *summary, const cli_option_t *opts,
               size_t count);

#endif
