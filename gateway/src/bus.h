/* bus.h -- the gateway's ZeroMQ intake: one thread that receives from the generator, or a
 * pair's two members, decodes each message once, frames it as SSE once and publishes it
 * into the hub's ring; it follows the pair's active member and votes for a takeover when
 * none is heard. It alone owns the SUB sockets (one per source) and the vote sockets. */
#ifndef GATEWAY_BUS_H
#define GATEWAY_BUS_H

#include "fanout.h"
#include "hub.h"

#include <stddef.h>

typedef struct bus bus_t;

/* Creates one SUB socket per endpoint of cfg->connect and connects it. The thread relays
 * into hub's ring and wakes fanout's writers for what it released; zmq_context also makes
 * its replay and vote sockets. All three are borrowed and must outlive the bus. On failure
 * returns NULL with the reason in err. */
bus_t *bus_create(void *zmq_context, hub_t *hub, fanout_t *fanout, char *err, size_t errlen);

/* Starts the receive thread. Returns 0 or -errno. */
int bus_start(bus_t *bus) __attribute__((warn_unused_result));

/* Stops and joins the thread (if started) and closes the socket. NULL is a no-op. */
void bus_destroy(bus_t *bus);

#endif
