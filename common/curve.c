/* curve.c -- key files and CURVE socket options; a subscriber's server keys per endpoint. */
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

static int count_files(const char *list)
{
    int n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    return n;
}

int curve_server_keys_split(const char *list, int count, char out[][CURVE_PATH_MAX], char *err,
                            size_t errlen)
{
    if (list == NULL || list[0] == '\0') {
        for (int i = 0; i < count; i++)
            out[i][0] = '\0';
        return 0;
    }
    int files = count_files(list);
    if (files != 1 && files != count) {
        snprintf(err, errlen,
                 "--curve-server-key-file: %d files for %d --connect endpoints; give one file "
                 "for all, or one per endpoint in the --connect order",
                 files, count);
        return -EINVAL;
    }
    const char *p = list;
    for (int i = 0; i < files; i++) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= CURVE_PATH_MAX) {
            snprintf(err, errlen, "--curve-server-key-file: file %d is %s, in '%s'", i + 1,
                     len == 0 ? "empty" : "too long", list);
            return -EINVAL;
        }
        memcpy(out[i], p, len);
        out[i][len] = '\0';
        p += len + 1;
    }
    for (int i = files; i < count; i++)
        memcpy(out[i], out[0], CURVE_PATH_MAX);
    return 0;
}
