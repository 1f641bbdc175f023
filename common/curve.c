/* curve.c -- key files and CURVE socket options. */
#include "curve.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

int curve_key_load(const char *path, char key[CURVE_KEY_Z85], char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "cannot read key file '%s': %s", path, strerror(e));
        return -e;
    }
    size_t n = 0;
    int c;
    while (n < CURVE_KEY_Z85 - 1 && (c = fgetc(f)) != EOF) {
        if (!isspace(c))
            key[n++] = (char)c;
    }
    fclose(f);
    key[n] = '\0';
    uint8_t raw[32];
    if (n != CURVE_KEY_Z85 - 1 || zmq_z85_decode(raw, key) == NULL) {
        snprintf(err, errlen, "key file '%s' does not hold a 40-character Z85 key", path);
        return -EINVAL;
    }
    return 0;
}

static int set_key(void *socket, int option, const char *z85, char *err, size_t errlen)
{
    if (zmq_setsockopt(socket, option, z85, CURVE_KEY_Z85 - 1) == 0)
        return 0;
    snprintf(err, errlen, "cannot set CURVE key: %s", zmq_strerror(zmq_errno()));
    return -EINVAL;
}

int curve_server_setup(void *socket, const char *secret_path, char *err, size_t errlen)
{
    char secret[CURVE_KEY_Z85];
    int one = 1;
    int rc = curve_key_load(secret_path, secret, err, errlen);
    if (rc == 0 && zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof one) != 0) {
        snprintf(err, errlen, "cannot enable CURVE: %s", zmq_strerror(zmq_errno()));
        rc = -EINVAL;
    }
    return rc == 0 ? set_key(socket, ZMQ_CURVE_SECRETKEY, secret, err, errlen) : rc;
}

int curve_client_setup(void *socket, const char *server_path, const char *secret_path, char *err,
                       size_t errlen)
{
    char server[CURVE_KEY_Z85], secret[CURVE_KEY_Z85], public[CURVE_KEY_Z85];
    int rc = curve_key_load(server_path, server, err, errlen);
    if (rc == 0)
        rc = curve_key_load(secret_path, secret, err, errlen);
    if (rc == 0 && zmq_curve_public(public, secret) != 0) {
        snprintf(err, errlen, "cannot derive the public key of '%s'", secret_path);
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = set_key(socket, ZMQ_CURVE_SERVERKEY, server, err, errlen);
    if (rc == 0)
        rc = set_key(socket, ZMQ_CURVE_PUBLICKEY, public, err, errlen);
    if (rc == 0)
        rc = set_key(socket, ZMQ_CURVE_SECRETKEY, secret, err, errlen);
    return rc;
}

int curve_client_from_flags(void *socket, const char *server_path, const char *secret_path,
                            char *err, size_t errlen)
{
    int have_server = server_path && server_path[0], have_secret = secret_path && secret_path[0];
    if (!have_server && !have_secret)
        return 0;
    if (have_server != have_secret) {
        snprintf(err, errlen,
                 "CURVE needs both the server's public key file and our own "
                 "secret key file");
        return -EINVAL;
    }
    return curve_client_setup(socket, server_path, secret_path, err, errlen);
}
