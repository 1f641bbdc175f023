/* response.h -- the headers every response carries (nosniff, CORS per --cors-origins) and
 * whole small responses. cors_origins is the --cors-origins list: "" none, "*" any, or
 * origins separated by commas. */
#ifndef GATEWAY_RESPONSE_H
#define GATEWAY_RESPONSE_H

#include <stddef.h>

struct mg_connection;

/* Sends a whole response: status, Content-Type, Content-Length, the extra headers (a
 * NULL-terminated list of name, value pairs, or NULL), and the body unless the request is
 * HEAD. Returns the status, which is what civetweb wants a handler to return. */
int response_send(struct mg_connection *conn, const char *cors_origins, int status,
                  const char *content_type, const char *body, size_t len,
                  const char *const *headers);

/* The request's Origin when cors_origins allows it, else NULL. */
const char *response_allowed_origin(struct mg_connection *conn, const char *cors_origins);

/* Adds the headers every response carries: nosniff, and CORS when the request's Origin is
 * allowed by cors_origins. Call between mg_response_header_start and _send. */
void response_add_common_headers(struct mg_connection *conn, const char *cors_origins);

#endif
