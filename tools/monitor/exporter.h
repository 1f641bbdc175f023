/* exporter.h -- monitor --metrics: the bus as a subscriber sees it, in the Prometheus text
 * format, served over HTTP: events, seq gaps, epoch changes, malformed messages, latency
 * from the publish time, and the generator's heartbeat fields. The generator's metrics,
 * without an HTTP server in the generator. */
#ifndef MONITOR_EXPORTER_H
#define MONITOR_EXPORTER_H

#include "sources.h"
#include "wire.h"

#include <stddef.h>
#include <stdint.h>

typedef struct exporter exporter_t;

/* Serves /metrics on listen (civetweb syntax, e.g. 127.0.0.1:9101); sources names the
 * count --connect endpoints (borrowed), the label of each member's metrics. NULL with err
 * set. */
exporter_t *exporter_start(const char *listen, const char (*sources)[SOURCES_ENDPOINT_MAX],
                           int count, char *err, size_t errlen);
void exporter_stop(exporter_t *exporter);

/* What the monitor's reader saw (its thread); /metrics is read by civetweb's. */
void exporter_event(exporter_t *exporter, uint64_t epoch, uint64_t seq, int64_t latency_ns);
void exporter_malformed(exporter_t *exporter);
/* A heartbeat of source i; active: whether that source is the one relayed. */
void exporter_heartbeat(exporter_t *exporter, int i, int active, const wire_heartbeat_t *hb);
void exporter_vote(exporter_t *exporter, int i);

#endif
