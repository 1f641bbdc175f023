/* sockfd.h -- the socket civetweb serves the current request on. */
#ifndef GATEWAY_SOCKFD_H
#define GATEWAY_SOCKFD_H

struct mg_connection;

/* Call from a request handler. Returns conn's socket, or -1 when it cannot be told for
 * sure; the caller then keeps writing through civetweb. */
int sockfd_of(const struct mg_connection *conn);

#endif
