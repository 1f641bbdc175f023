/* test_cli.c -- flags and environment: precedence, ranges, clear errors. */
#include "check.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *bind;
    long interval;
    int flag;
} opts_t;

static int parse(opts_t *o, int argc, char **argv, char *err)
{
    *o = (opts_t){"tcp://default", 1000, 0};
    const cli_option_t table[] = {
        {"bind", "T_BIND", CLI_STRING, &o->bind, 0, 0, "endpoint"},
        {"interval-ms", "T_INTERVAL", CLI_INT, &o->interval, 1, 5000, "interval"},
        {"flag", "T_FLAG", CLI_BOOL, &o->flag, 0, 0, "a switch"},
    };
    return cli_parse(table, 3, argc, argv, err, 256);
}

/* The documents' flag tables are this output: one row per flag, '|' escaped, the
 * defaults as stored. */
static void check_markdown(void)
{
    const char *bind = "";
    long interval = 7;
    int flag = 1;
    const cli_option_t table[] = {
        {"bind", "T_BIND", CLI_STRING, &bind, 0, 0, "an endpoint | none"},
        {"interval-ms", NULL, CLI_INT, &interval, 1, 5000, "interval"},
        {"flag", "T_FLAG", CLI_BOOL, &flag, 0, 0, "a switch"},
    };
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK(out != NULL);
    cli_usage_markdown(out, table, 3);
    CHECK(fclose(out) == 0);
    CHECK(strcmp(text, "| flag | environment | default | meaning |\n"
                       "|---|---|---|---|\n"
                       "| `--bind` | `T_BIND` | (empty) | an endpoint \\| none |\n"
                       "| `--interval-ms` | - | `7` | interval |\n"
                       "| `--flag` | `T_FLAG` | `on` | a switch |\n") == 0);
    free(text);
}

int main(void)
{
    opts_t o;
    char err[256];
    char *none[] = {"p"};
    CHECK_EQ_INT(parse(&o, 1, none, err), 0);
    CHECK(strcmp(o.bind, "tcp://default") == 0 && o.interval == 1000 && o.flag == 0);

    setenv("T_BIND", "tcp://env", 1);
    setenv("T_INTERVAL", "200", 1);
    setenv("T_FLAG", "yes", 1);
    CHECK_EQ_INT(parse(&o, 1, none, err), 0);
    CHECK(strcmp(o.bind, "tcp://env") == 0 && o.interval == 200 && o.flag == 1);

    char *flags[] = {"p", "--bind", "tcp://flag", "--interval-ms=300", "--flag=off"};
    CHECK_EQ_INT(parse(&o, 5, flags, err), 0);
    CHECK(strcmp(o.bind, "tcp://flag") == 0 && o.interval == 300 && o.flag == 0);

    char *range[] = {"p", "--interval-ms", "0"};
    CHECK_EQ_INT(parse(&o, 3, range, err), -EINVAL);
    CHECK(strstr(err, "--interval-ms") != NULL);
    char *junk[] = {"p", "--interval-ms", "12x"};
    CHECK_EQ_INT(parse(&o, 3, junk, err), -EINVAL);
    char *unknown[] = {"p", "--nope"};
    CHECK_EQ_INT(parse(&o, 2, unknown, err), -EINVAL);
    CHECK(strstr(err, "--nope") != NULL);
    char *missing[] = {"p", "--bind"};
    CHECK_EQ_INT(parse(&o, 2, missing, err), -EINVAL);
    char *help[] = {"p", "--help"};
    CHECK_EQ_INT(parse(&o, 2, help, err), 1);
    char *markdown[] = {"p", "--nope", "--help-markdown"};
    CHECK_EQ_INT(parse(&o, 3, markdown, err), CLI_HELP_MARKDOWN);
    check_markdown();
    setenv("T_INTERVAL", "abc", 1);
    CHECK_EQ_INT(parse(&o, 1, none, err), -EINVAL);
    CHECK(strstr(err, "T_INTERVAL") != NULL);
    CHECK_DONE();
}
