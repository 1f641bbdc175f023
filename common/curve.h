/* curve.h -- optional ZeroMQ CURVE encryption and authentication for bus sockets.
 * Keys are Z85 text files (40 characters, as written by tools/keygen); a public key is
 * derived from its secret key, so each party keeps one secret file. */
#ifndef RN_CURVE_H
#define RN_CURVE_H

#include <stddef.h>

#define CURVE_KEY_Z85 41   /* 40 characters and a NUL */
#define CURVE_PATH_MAX 512 /* a key file's name, NUL included */

/* Reads a Z85 key (first 40 non-space characters) from path. 0, or -errno with err set. */
int curve_key_load(const char *path, char key[CURVE_KEY_Z85], char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Makes socket a CURVE server with the secret key in secret_path. Call before bind. */
int curve_server_setup(void *socket, const char *secret_path, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Makes socket a CURVE client that trusts the server public key in server_path and
 * authenticates with its own secret key in secret_path. Call before connect. */
int curve_client_setup(void *socket, const char *server_path, const char *secret_path, char *err,
                       size_t errlen) __attribute__((warn_unused_result));

/* For a subscriber's flags: both files or neither. Returns 0 (CURVE off or set up), or
 * -EINVAL with err set. */
int curve_client_from_flags(void *socket, const char *server_path, const char *secret_path,
                            char *err, size_t errlen) __attribute__((warn_unused_result));

/* A subscriber's --curve-server-key-file for count --connect endpoints (a generator pair's
 * members each have their own key pair): a comma-separated list with one file per
 * endpoint, in the --connect order, or one file for every endpoint. Writes endpoint i's
 * file into out[i] ("" for all when list is empty: CURVE off). Returns 0, or -EINVAL with
 * err set when the list has another number of files, an empty or too long name. */
int curve_server_keys_split(const char *list, int count, char out[][CURVE_PATH_MAX], char *err,
                            size_t errlen) __attribute__((warn_unused_result));

/* What --help says of a subscriber's two key flags, in the gateway and the monitor alike. */
#define CURVE_SERVER_KEY_FILE_HELP                                                                 \
    "the generator's CURVE public key (NAME.pub); with several --connect endpoints, one file "     \
    "per endpoint, comma-separated in the same order (or one for all)"
#define CURVE_SECRET_KEY_FILE_HELP "our CURVE secret key (NAME.key)"

#endif
