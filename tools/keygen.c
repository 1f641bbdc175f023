/* keygen.c -- writes a CURVE key pair for the bus: NAME.key (secret, mode 0600) and
 * NAME.pub (public), each one line of Z85 text. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static int write_key(const char *path, const char *key, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        fprintf(stderr, "keygen: cannot create '%s': %s\n", path, strerror(errno));
        return -1;
    }
    char line[48];
    int n = snprintf(line, sizeof line, "%s\n", key);
    int ok = write(fd, line, (size_t)n) == n;
    if (close(fd) != 0 || !ok) {
        fprintf(stderr, "keygen: cannot write '%s'\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        cli_print_version(stdout, "keygen");
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: keygen NAME\nwrites NAME.key (secret, 0600) and NAME.pub "
                        "(public): a CURVE key pair for the bus\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    char public[41], secret[41], path[4096];
    if (zmq_curve_keypair(public, secret) != 0) {
        fprintf(stderr, "keygen: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    snprintf(path, sizeof path, "%s.key", argv[1]);
    if (write_key(path, secret, 0600) != 0)
        return 1;
    snprintf(path, sizeof path, "%s.pub", argv[1]);
    return write_key(path, public, 0644) != 0;
}
