/* exporter.h -- monitor --metrics: the bus as a subscriber sees it, in the Prometheus text
 * format, served over HTTP: events, seq gaps, epoch changes, malformed messages, latency
 * from the publish time, and the generator's heartbeat fields. The generator's metrics,
 * without an HTTP server in the generator. */
#ifndef MONITOR_EXPORTER_H
#define MONITOR_EXPORTER_H

#include "wire.h"

#include <stddef.h>
#include <stdint.h>

typedef struct exporter exporter_t;

/* Serves /metrics on listen (civetweb syntax, e.g. 127.0.0.1:9101). NULL with err set. */
exporter_t *exporter_start(const char *listen, char *err, size_t errlen);
void exporter_stop(exporter_t *exporter);

/* What the monitor's reader saw (its thread); /metrics is read by civetweb's. */
void exporter_event(exporter_t *exporter, uint64_t epoch, uint64_t seq, int64_t latency_ns);
void exporter_malformed(exporter_t *exporter);
void exporter_heartbeat(exporter_t *exporter, const wire_heartbeat_t *hb);

#endif
