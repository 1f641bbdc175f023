/* response.c -- what every response of the gateway carries, and whole small responses.
 * Its own file so that the stream (stream.c) and the routes (http.c) both use it and
 * neither needs the other's: the routes call the stream, never the reverse. */
#include "response.h"

#include <civetweb.h>
#include <stdio.h>
#include <string.h>

static int is_head(struct mg_connection *conn)
{
    return strcmp(mg_get_request_info(conn)->request_method, "HEAD") == 0;
}

const char *response_allowed_origin(struct mg_connection *conn, const char *list)
{
    const char *origin = mg_get_header(conn, "Origin");
    if (origin == NULL || list[0] == '\0')
        return NULL;
    if (strcmp(list, "*") == 0)
        return origin;
    size_t len = strlen(origin);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, origin, len) == 0)
            return origin;
        p += n + (p[n] == ',');
    }
    return NULL;
}

void response_add_common_headers(struct mg_connection *conn, const char *cors_origins)
{
    mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
    const char *origin = response_allowed_origin(conn, cors_origins);
    if (origin) {
        mg_response_header_add(conn, "Access-Control-Allow-Origin", origin, -1);
        mg_response_header_add(conn, "Vary", "Origin", -1);
    }
}

int response_send(struct mg_connection *conn, const char *cors_origins, int status,
                  const char *content_type, const char *body, size_t len,
                  const char *const *headers)
{
    char length[24];
    snprintf(length, sizeof length, "%zu", len);
    mg_response_header_start(conn, status);
    mg_response_header_add(conn, "Content-Type", content_type, -1);
    mg_response_header_add(conn, "Content-Length", length, -1);
    response_add_common_headers(conn, cors_origins);
    for (size_t i = 0; headers && headers[i]; i += 2)
        mg_response_header_add(conn, headers[i], headers[i + 1], -1);
    mg_response_header_send(conn);
    if (len > 0 && !is_head(conn))
        mg_write(conn, body, len); /* a short write only means the client left */
    return status;
}
