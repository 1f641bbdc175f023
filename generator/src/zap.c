/* zap.c -- ZAP requests in, allow or deny by CURVE public key out. */
#include "zap.h"

#include "curve.h"
#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

enum { ZAP_FRAMES = 7, KEYS_MAX = 4096, ZAP_BATCH = 32 };

struct zap {
    void *socket;
    char (*keys)[CURVE_KEY_Z85];
    size_t count;
    uint64_t refused; /* clients refused so far */
};

static int load_keys(zap_t *zap, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read clients file '%s': %s", path, strerror(errno));
        return -EINVAL;
    }
    zap->keys = calloc(KEYS_MAX, sizeof *zap->keys);
    char line[256];
    int rc = zap->keys ? 0 : -ENOMEM;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char key[CURVE_KEY_Z85];
        uint8_t raw[32];
        if (sscanf(line, " %40s", key) != 1 || key[0] == '#')
            continue;
        if (strlen(key) != CURVE_KEY_Z85 - 1 || zmq_z85_decode(raw, key) == NULL ||
            zap->count == KEYS_MAX) {
            snprintf(err, errlen, "clients file '%s': '%s' is not a Z85 public key (or over %d)",
                     path, key, KEYS_MAX);
            rc = -EINVAL;
            break;
        }
        memcpy(zap->keys[zap->count++], key, CURVE_KEY_Z85);
    }
    fclose(f);
    return rc;
}

zap_t *zap_create(void *zmq_context, const char *clients_file, char *err, size_t errlen)
{
    zap_t *zap = calloc(1, sizeof *zap);
    if (zap == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (load_keys(zap, clients_file, err, errlen) < 0)
        goto err;
    int linger = 0;
    zap->socket = zmq_socket(zmq_context, ZMQ_REP);
    if (zap->socket == NULL || zmq_setsockopt(zap->socket, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(zap->socket, "inproc://zeromq.zap.01") != 0) {
        snprintf(err, errlen, "cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
        goto err;
    }
    log_info("curve clients allowed", "count=%zu file=%s", zap->count, clients_file);
    return zap;
err:
    zap_destroy(zap);
    return NULL;
}

void zap_destroy(zap_t *zap)
{
    if (zap == NULL)
        return;
    if (zap->socket)
        zmq_close(zap->socket);
    free(zap->keys);
    free(zap);
}

void *zap_socket(zap_t *zap)
{
    return zap->socket;
}

static int allowed(const zap_t *zap, const char *z85)
{
    for (size_t i = 0; i < zap->count; i++) {
        if (strcmp(zap->keys[i], z85) == 0)
            return 1;
    }
    return 0;
}

/* Request: version, request id, domain, address, identity, mechanism, credentials. */
static int answer(zap_t *zap, zmq_msg_t *frames, int count)
{
    char key[CURVE_KEY_Z85] = "";
    const char *status = "400", *text = "unknown client key";
    int curve = count == ZAP_FRAMES && zmq_msg_size(&frames[5]) == 5 &&
                memcmp(zmq_msg_data(&frames[5]), "CURVE", 5) == 0 && zmq_msg_size(&frames[6]) == 32;
    if (curve && zmq_z85_encode(key, zmq_msg_data(&frames[6]), 32) && allowed(zap, key))
        status = "200", text = "OK";
    else
        zap->refused++;
    if (status[0] != '2' && log_power_of_two(zap->refused))
        log_warn("bus client refused", "key=%s address=%.*s total=%llu", key[0] ? key : "none",
                 count > 3 ? (int)zmq_msg_size(&frames[3]) : 0,
                 count > 3 ? (const char *)zmq_msg_data(&frames[3]) : "",
                 (unsigned long long)zap->refused);
    const char *reply[] = {"1.0", NULL, status, text, "", ""};
    for (int i = 0; i < 6; i++) {
        int more = i < 5 ? ZMQ_SNDMORE : 0;
        int rc = i == 1 ? zmq_send(zap->socket, zmq_msg_data(&frames[1]),
                                   count > 1 ? zmq_msg_size(&frames[1]) : 0, more)
                        : zmq_send(zap->socket, reply[i], strlen(reply[i]), more);
        if (rc < 0)
            return -zmq_errno();
    }
    return 0;
}

static int serve_one(zap_t *zap)
{
    zmq_msg_t frames[ZAP_FRAMES + 1];
    int count = 0, more = 1, rc = 0;
    while (more && rc == 0) {
        zmq_msg_t *dst = &frames[count < ZAP_FRAMES ? count : ZAP_FRAMES];
        zmq_msg_init(dst);
        if (zmq_msg_recv(dst, zap->socket, count == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            rc = -zmq_errno();
            zmq_msg_close(dst);
            break;
        }
        more = zmq_msg_more(dst);
        if (count >= ZAP_FRAMES)
            zmq_msg_close(dst);
        count++;
    }
    int kept = count < ZAP_FRAMES ? count : ZAP_FRAMES;
    if (rc == 0)
        rc = answer(zap, frames, count);
    for (int i = 0; i < kept; i++)
        zmq_msg_close(&frames[i]);
    return rc;
}

int zap_serve(zap_t *zap)
{
    /* Bounded: a flood of handshakes waits for the next loop turn instead of holding up
     * the next publish; each answer is a few key comparisons. */
    int rc = 0;
    for (int i = 0; i < ZAP_BATCH && (rc = serve_one(zap)) == 0; i++)
        ;
    return rc == -EAGAIN ? 0 : rc;
}
