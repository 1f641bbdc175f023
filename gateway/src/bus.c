/* bus.c -- ZeroMQ SUB socket, message validation and the single framing of each event. */
#include "bus.h"

#include "bus_socket.h"
#include "clock.h"
#include "curve.h"
#include "fragment.h"
#include "log.h"
#include "sse.h"
#include "wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* Queued messages before ZeroMQ drops: room for seconds of a fast stream while this
 * thread waits for a core. */
enum { POLL_MS = 250, BATCH_MAX = 4096, RECEIVE_HWM = 100000 };

struct bus {
    hub_t *hub; /* borrowed */
    void *socket;
    pthread_t thread;
    int started;
    _Atomic int stop;
    int subscribed; /* to the data topic */
    int alive;      /* last liveness we logged */
    uint64_t last_epoch, last_seq;
    uint64_t malformed_logged; /* total when we last logged malformed messages */
    int wake_pending;          /* events published that readers were not woken for yet */
    int64_t last_wake_ms;
};

bus_t *bus_create(void *zmq_context, hub_t *hub, char *err, size_t errlen)
{
    bus_t *bus = calloc(1, sizeof *bus);
    if (bus == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    bus->hub = hub;
    bus->socket = zmq_socket(zmq_context, ZMQ_SUB);
    int hwm = RECEIVE_HWM;
    if (bus->socket == NULL || bus_socket_tune(bus->socket) < 0 ||
        zmq_setsockopt(bus->socket, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(bus->socket, ZMQ_SUBSCRIBE, WIRE_HEARTBEAT_TOPIC,
                       strlen(WIRE_HEARTBEAT_TOPIC)) != 0) {
        snprintf(err, errlen, "cannot create SUB socket: %s", zmq_strerror(zmq_errno()));
        goto err;
    }
    if (curve_client_from_flags(bus->socket, hub->cfg->curve_server_key_file,
                                hub->cfg->curve_secret_key_file, err, errlen) < 0 ||
        bus_socket_connect_all(bus->socket, hub->cfg->connect, err, errlen) < 0)
        goto err;
    return bus;
err:
    bus_destroy(bus);
    return NULL;
}

/* Subscribes to the data topic while it is wanted: always, or with --on-demand only while
 * some SSE client is connected. */
static void update_subscription(bus_t *bus)
{
    const gateway_config_t *cfg = bus->hub->cfg;
    int want = !cfg->on_demand || atomic_load(&bus->hub->clients) > 0;
    if (want == bus->subscribed)
        return;
    int option = want ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE;
    if (zmq_setsockopt(bus->socket, option, cfg->topic, strlen(cfg->topic)) != 0) {
        log_error("subscription change failed", "error=\"%s\"", zmq_strerror(zmq_errno()));
        return;
    }
    bus->subscribed = want;
    log_info(want ? "subscribed" : "unsubscribed", "topic=%s clients=%ld", cfg->topic,
             atomic_load(&bus->hub->clients));
}

static void count_malformed(bus_t *bus, wire_error_t why)
{
    metrics_t *m = &bus->hub->metrics;
    metrics_add(&m->bus_malformed[-why - 1], 1);
    uint64_t total = 0;
    for (int i = 0; i < WIRE_ERROR_KINDS; i++)
        total += metrics_get(&m->bus_malformed[i]);
    /* Log the first one and then every power of two, so a flood cannot flood the log. */
    if ((total & (total - 1)) == 0 && total > bus->malformed_logged) {
        bus->malformed_logged = total;
        log_warn("malformed bus message dropped", "reason=%s total=%llu", wire_error_name(why),
                 (unsigned long long)total);
    }
}

static void note_epoch(bus_t *bus, uint64_t epoch)
{
    uint64_t old = atomic_exchange(&bus->hub->epoch, epoch);
    if (old != epoch)
        log_info("generator epoch", "epoch=%llu previous=%llu", (unsigned long long)epoch,
                 (unsigned long long)old);
}

/* Events must move forward in (epoch, seq) so every gateway orders them alike and the
 * ring stays searchable; a repeated or older event is counted and dropped. */
static int accept_order(bus_t *bus, const wire_number_t *ev)
{
    metrics_t *m = &bus->hub->metrics;
    if (ev->epoch < bus->last_epoch || (ev->epoch == bus->last_epoch && ev->seq <= bus->last_seq)) {
        metrics_add(&m->bus_stale, 1);
        return 0;
    }
    if (ev->epoch == bus->last_epoch && ev->seq != bus->last_seq + 1) {
        metrics_add(&m->bus_gap_events, ev->seq - bus->last_seq - 1);
        log_warn("gap in sequence", "epoch=%llu after=%llu got=%llu",
                 (unsigned long long)ev->epoch, (unsigned long long)bus->last_seq,
                 (unsigned long long)ev->seq);
    }
    bus->last_epoch = ev->epoch;
    bus->last_seq = ev->seq;
    return 1;
}

/* One frame per event, in two parts: the named event every client gets, then an unnamed
 * message with the fragment's HTML, which htmx swaps into the page. The HTML message
 * has no id of its own: it carries the event's, which the first part set. */
static int frame_number(const bus_t *bus, const wire_number_t *ev, char *frame, size_t cap,
                        size_t *plain_len)
{
    /* The publish time rides along as a comment, so load clients can measure latency
     * from the stream while browsers and htmx skip it. */
    char id[SSE_ID_MAX], data[24], stamp[32], html[FRAGMENT_MAX];
    int n = sse_id_format(id, sizeof id, ev->epoch, ev->seq);
    snprintf(data, sizeof data, "%d", ev->value);
    snprintf(stamp, sizeof stamp, "t=%lld", (long long)ev->published_ns);
    sse_event_t plain = {id, bus->hub->cfg->topic, stamp, data, strlen(data)};
    if (n >= 0)
        n = sse_frame_encode(frame, cap, &plain);
    int h = n < 0 ? n : fragment_render(html, sizeof html, ev->epoch, ev->seq, ev->value);
    if (h < 0)
        return h;
    sse_event_t message = {NULL, NULL, NULL, html, (size_t)h};
    int m = sse_frame_encode(frame + n, cap - (size_t)n, &message);
    *plain_len = (size_t)n;
    return m < 0 ? m : n + m;
}

static void relay_number(bus_t *bus, const wire_number_t *ev)
{
    note_epoch(bus, ev->epoch);
    if (!accept_order(bus, ev))
        return;
    char frame[RING_FRAME_MAX];
    size_t plain_len = 0;
    int n = frame_number(bus, ev, frame, sizeof frame, &plain_len);
    ring_meta_t meta = {ev->epoch, ev->seq, ev->published_ns, ev->value,
                        clock_ns(CLOCK_MONOTONIC), plain_len};
    if (n < 0 || ring_publish(bus->hub->ring, &meta, frame, (size_t)n) < 0) {
        count_malformed(bus, WIRE_ERR_FIELD);
        return;
    }
    metrics_add(&bus->hub->metrics.bus_events, 1);
}

static void handle_message(bus_t *bus, const zmq_msg_t *topic, const zmq_msg_t *payload)
{
    wire_message_t msg;
    wire_error_t rc = wire_decode(zmq_msg_data((zmq_msg_t *)topic), zmq_msg_size(topic),
                                  zmq_msg_data((zmq_msg_t *)payload), zmq_msg_size(payload),
                                  bus->hub->cfg->topic, &msg);
    if (rc != WIRE_OK) {
        count_malformed(bus, rc);
        return;
    }
    atomic_store(&bus->hub->last_bus_ms, clock_mono_ms());
    if (msg.kind == WIRE_NUMBER) {
        relay_number(bus, &msg.number);
        return;
    }
    metrics_add(&bus->hub->metrics.bus_heartbeats, 1);
    note_epoch(bus, msg.heartbeat.epoch);
}

/* Receives and handles one message; anything but exactly two frames is malformed.
 * Returns 0, -EAGAIN when nothing is pending, or another -errno. */
static int receive_one(bus_t *bus)
{
    zmq_msg_t frames[2];
    int count, rc = bus_message_recv(bus->socket, frames, &count, ZMQ_DONTWAIT);
    if (rc == 0 && count == 2)
        handle_message(bus, &frames[0], &frames[1]);
    else if (rc == 0)
        count_malformed(bus, WIRE_ERR_FRAMES);
    zmq_msg_close(&frames[0]);
    zmq_msg_close(&frames[1]);
    return rc;
}

static void update_liveness(bus_t *bus)
{
    int alive = hub_generator_alive(bus->hub);
    if (alive == bus->alive)
        return;
    bus->alive = alive;
    if (alive)
        log_info("generator up", "epoch=%llu", (unsigned long long)atomic_load(&bus->hub->epoch));
    else
        log_warn("generator down", "silent_ms_over=%ld", bus->hub->cfg->bus_timeout_ms);
}

static void drain_wakeups(int fd)
{
    uint64_t n;
    while (read(fd, &n, sizeof n) == (ssize_t)sizeof n)
        ;
}

/* Wakes the readers for what was published: at once, or with --coalesce-ms at most once
 * per window, so that at high rates each wake-up carries several events. */
static void wake_readers(bus_t *bus)
{
    int64_t now = clock_mono_ms();
    if (!bus->wake_pending || now - bus->last_wake_ms < bus->hub->cfg->coalesce_ms)
        return;
    hub_wake_streams(bus->hub);
    bus->wake_pending = 0;
    bus->last_wake_ms = now;
}

static long poll_timeout(const bus_t *bus)
{
    if (!bus->wake_pending)
        return POLL_MS;
    int64_t left = bus->last_wake_ms + bus->hub->cfg->coalesce_ms - clock_mono_ms();
    return left < 0 ? 0 : (left < POLL_MS ? (long)left : POLL_MS);
}

static void *bus_main(void *arg)
{
    bus_t *bus = arg;
    while (!atomic_load(&bus->stop)) {
        update_subscription(bus);
        zmq_pollitem_t items[] = {{bus->socket, 0, ZMQ_POLLIN, 0},
                                  {NULL, bus->hub->wake_fd, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, poll_timeout(bus)) < 0 && zmq_errno() != EINTR) {
            log_error("bus poll failed", "error=\"%s\"", zmq_strerror(zmq_errno()));
            break;
        }
        if (items[1].revents & ZMQ_POLLIN)
            drain_wakeups(bus->hub->wake_fd);
        /* Bounded, so a flood cannot starve the subscription and liveness checks; one
         * wake-up for the whole batch. */
        uint64_t head = ring_head(bus->hub->ring);
        int rc = 0;
        for (int i = 0; i < BATCH_MAX && (rc = receive_one(bus)) == 0; i++)
            ;
        bus->wake_pending |= ring_head(bus->hub->ring) != head;
        wake_readers(bus);
        if (rc < 0 && rc != -EAGAIN && rc != -EINTR)
            log_error("bus receive failed", "error=\"%s\"", zmq_strerror(-rc));
        update_liveness(bus);
    }
    return NULL;
}

int bus_start(bus_t *bus)
{
    int rc = pthread_create(&bus->thread, NULL, bus_main, bus);
    if (rc != 0)
        return -rc;
    bus->started = 1;
    return 0;
}

void bus_destroy(bus_t *bus)
{
    if (bus == NULL)
        return;
    if (bus->started) {
        atomic_store(&bus->stop, 1);
        hub_wake_bus(bus->hub);
        pthread_join(bus->thread, NULL);
    }
    if (bus->socket)
        zmq_close(bus->socket);
    free(bus);
}
