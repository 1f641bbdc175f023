/* cli.c -- flag and environment parsing shared by every program. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(text, no[i]) == 0)
            return *out = 0, 0;
    }
    return -EINVAL;
}

static int parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Stores text into the option's target; source names where it came from for errors. */
static int apply(const cli_option_t *o, const char *text, const char *source, char *err,
                 size_t errlen)
{
    switch (o->type) {
    case CLI_STRING:
        *(const char **)o->target = text;
        return 0;
    case CLI_INT:
        if (parse_long(text, o->min, o->max, (long *)o->target) == 0)
            return 0;
        snprintf(err, errlen, "%s: '%s' is not an integer in [%ld, %ld]", source, text, o->min,
                 o->max);
        return -EINVAL;
    case CLI_BOOL:
        if (parse_bool(text, (int *)o->target) == 0)
            return 0;
        snprintf(err, errlen, "%s: '%s' is not a boolean (1/0, true/false, yes/no, on/off)", source,
                 text);
        return -EINVAL;
    }
    return -EINVAL;
}

static int apply_environment(const cli_option_t *opts, size_t count, char *err, size_t errlen)
{
    for (size_t i = 0; i < count; i++) {
        const char *value = opts[i].env ? getenv(opts[i].env) : NULL;
        if (value == NULL || value[0] == '\0')
            continue;
        int rc = apply(&opts[i], value, opts[i].env, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static const cli_option_t *find(const cli_option_t *opts, size_t count, const char *name,
                                size_t len)
{
    for (size_t i = 0; i < count; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    }
    return NULL;
}

/* Parses argv[*i]; advances *i past a separate value argument. */
static int apply_argument(const cli_option_t *opts, size_t count, int argc, char **argv, int *i,
                          char *err, size_t errlen)
{
    const char *arg = argv[*i];
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        snprintf(err, errlen, "unexpected argument '%s'", arg);
        return -EINVAL;
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const cli_option_t *o = find(opts, count, name, len);
    if (o == NULL) {
        snprintf(err, errlen, "unknown flag '--%.*s' (see --help)", (int)len, name);
        return -EINVAL;
    }
    const char *value = eq ? eq + 1 : NULL;
    if (value == NULL && o->type == CLI_BOOL)
        value = "true";
    if (value == NULL) {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "flag '--%s' needs a value", o->name);
            return -EINVAL;
        }
        value = argv[++*i];
    }
    char source[64];
    snprintf(source, sizeof source, "--%s", o->name);
    return apply(o, value, source, err, errlen);
}

int cli_parse(const cli_option_t *opts, size_t count, int argc, char **argv, char *err,
              size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return CLI_HELP;
        if (strcmp(argv[i], "--version") == 0)
            return CLI_VERSION;
        if (strcmp(argv[i], "--help-markdown") == 0)
            return CLI_HELP_MARKDOWN;
    }
    int rc = apply_environment(opts, count, err, errlen);
    for (int i = 1; rc == 0 && i < argc; i++)
        rc = apply_argument(opts, count, argc, argv, &i, err, errlen);
    return rc;
}

/* An option's default as text ("" when a string option has none); buf holds a number's. */
static const char *default_text(const cli_option_t *o, char *buf, size_t cap)
{
    switch (o->type) {
    case CLI_STRING: {
        const char *v = *(const char **)o->target;
        return v ? v : "";
    }
    case CLI_INT:
        snprintf(buf, cap, "%ld", *(const long *)o->target);
        return buf;
    case CLI_BOOL:
        return *(const int *)o->target ? "on" : "off";
    }
    return "";
}

static void print_default(FILE *out, const cli_option_t *o)
{
    char buf[24];
    const char *v = default_text(o, buf, sizeof buf);
    fprintf(out, " (default: %s)", v[0] ? v : "none");
}

void cli_usage(FILE *out, const char *program, const char *summary, const cli_option_t *opts,
               size_t count)
{
    fprintf(out, "usage: %s [flags]\n%s\n\nflags (each also read from the environment):\n", program,
            summary);
    for (size_t i = 0; i < count; i++) {
        const cli_option_t *o = &opts[i];
        fprintf(out, "  --%s%s\n      %s", o->name, o->type == CLI_BOOL ? "" : " VALUE", o->help);
        print_default(out, o);
        if (o->env)
            fprintf(out, " [env %s]", o->env);
        fputc('\n', out);
    }
    fprintf(out, "  --help\n      print this text and exit\n");
    fprintf(out, "  --help-markdown\n      print the flags as a markdown table and exit\n");
    fprintf(out, "  --version\n      print the version and exit\n");
}

/* Writes text into a table cell: a '|' would end the cell. */
static void put_cell(FILE *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|')
            fputc('\\', out);
        fputc(*p, out);
    }
}

static void put_default(FILE *out, const cli_option_t *o)
{
    char buf[24];
    const char *v = default_text(o, buf, sizeof buf);
    if (v[0] == '\0') {
        fputs("(empty)", out);
        return;
    }
    fputc('`', out);
    put_cell(out, v);
    fputc('`', out);
}

void cli_usage_markdown(FILE *out, const cli_option_t *opts, size_t count)
{
    fputs("| flag | environment | default | meaning |\n|---|---|---|---|\n", out);
    for (size_t i = 0; i < count; i++) {
        const cli_option_t *o = &opts[i];
        fprintf(out, "| `--%s` | %s%s%s | ", o->name, o->env ? "`" : "", o->env ? o->env : "-",
                o->env ? "`" : "");
        put_default(out, o);
        fputs(" | ", out);
        put_cell(out, o->help);
        fputs(" |\n", out);
    }
}

#ifndef RN_VERSION
#define RN_VERSION "unknown"
#endif
#ifndef RN_GIT_DESCRIBE
#define RN_GIT_DESCRIBE ""
#endif

void cli_print_version(FILE *out, const char *program)
{
    const char *git = RN_GIT_DESCRIBE;
    fprintf(out, "%s %s%s%s%s\n", program, RN_VERSION, git[0] ? " (" : "", git, git[0] ? ")" : "");
}

int cli_answer(int rc, const char *program, const char *summary, const cli_option_t *opts,
               size_t count)
{
    if (rc == CLI_HELP)
        cli_usage(stdout, program, summary, opts, count);
    else if (rc == CLI_HELP_MARKDOWN)
        cli_usage_markdown(stdout, opts, count);
    else if (rc == CLI_VERSION)
        cli_print_version(stdout, program);
    return rc == CLI_HELP || rc == CLI_HELP_MARKDOWN || rc == CLI_VERSION;
}
