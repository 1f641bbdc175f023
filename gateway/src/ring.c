/* ring.c -- seqlock slots. */
#include "ring.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORDS (RING_FRAME_MAX / 8 + 1)

/* Every field a reader touches is atomic, so a reader racing the writer reads a torn but
 * well-defined value, which the stamp check then discards. The fields of ring_meta_t,
 * the signed ones stored as their two's complement bits. */
typedef struct {
    _Atomic uint64_t epoch, seq, published_ns, value, received_ns, plain_len;
} slot_meta_t;

typedef struct {
    _Atomic uint64_t stamp; /* 2*pos when complete, odd while being written */
    slot_meta_t meta;
    _Atomic uint64_t run; /* which run of one epoch: grows by one at every epoch change */
    _Atomic uint32_t len;
    _Atomic uint64_t words[WORDS];
} slot_t;

struct ring {
    size_t capacity;
    _Atomic uint64_t head;
    _Atomic int closed;
    slot_t *slots;
    uint64_t last_epoch, run; /* the writer's */
};

ring_t *ring_create(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    ring_t *ring = calloc(1, sizeof *ring);
    if (ring == NULL)
        return NULL;
    ring->slots = calloc(capacity, sizeof *ring->slots);
    if (ring->slots == NULL) {
        free(ring);
        return NULL;
    }
    ring->capacity = capacity;
    atomic_init(&ring->head, 1);
    return ring;
}

void ring_destroy(ring_t *ring)
{
    if (ring == NULL)
        return;
    free(ring->slots);
    free(ring);
}

static void store_meta(slot_meta_t *to, const ring_meta_t *m, size_t len)
{
    uint64_t plain = m->plain_len > 0 && m->plain_len < len ? m->plain_len : len;
    atomic_store_explicit(&to->epoch, m->epoch, memory_order_relaxed);
    atomic_store_explicit(&to->seq, m->seq, memory_order_relaxed);
    atomic_store_explicit(&to->published_ns, (uint64_t)m->published_ns, memory_order_relaxed);
    atomic_store_explicit(&to->value, (uint64_t)m->value, memory_order_relaxed);
    atomic_store_explicit(&to->received_ns, (uint64_t)m->received_ns, memory_order_relaxed);
    atomic_store_explicit(&to->plain_len, plain, memory_order_relaxed);
}

static ring_meta_t load_meta(const slot_meta_t *from)
{
    return (ring_meta_t){
        .epoch = atomic_load_explicit(&from->epoch, memory_order_relaxed),
        .seq = atomic_load_explicit(&from->seq, memory_order_relaxed),
        .published_ns = (int64_t)atomic_load_explicit(&from->published_ns, memory_order_relaxed),
        .value = (int64_t)atomic_load_explicit(&from->value, memory_order_relaxed),
        .received_ns = (int64_t)atomic_load_explicit(&from->received_ns, memory_order_relaxed),
        .plain_len = atomic_load_explicit(&from->plain_len, memory_order_relaxed),
    };
}

int ring_publish(ring_t *ring, const ring_meta_t *meta, const char *frame, size_t len)
{
    if (len > RING_FRAME_MAX)
        return -EMSGSIZE;
    uint64_t pos = atomic_load_explicit(&ring->head, memory_order_relaxed);
    slot_t *s = &ring->slots[pos % ring->capacity];
    uint64_t words[WORDS] = {0};
    memcpy(words, frame, len);

    atomic_store_explicit(&s->stamp, 2 * pos + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    store_meta(&s->meta, meta, len);
    if (meta->epoch != ring->last_epoch)
        ring->run++;
    ring->last_epoch = meta->epoch;
    atomic_store_explicit(&s->run, ring->run, memory_order_relaxed);
    atomic_store_explicit(&s->len, (uint32_t)len, memory_order_relaxed);
    for (size_t i = 0; i < (len + 7) / 8; i++)
        atomic_store_explicit(&s->words[i], words[i], memory_order_relaxed);
    atomic_store_explicit(&s->stamp, 2 * pos, memory_order_release);

    atomic_store(&ring->head, pos + 1);
    return 0;
}

uint64_t ring_head(const ring_t *ring)
{
    return atomic_load_explicit(&ring->head, memory_order_acquire);
}

static uint64_t tail_of(const ring_t *ring, uint64_t head)
{
    return head > ring->capacity ? head - ring->capacity : 1;
}

uint64_t ring_tail(const ring_t *ring)
{
    return tail_of(ring, ring_head(ring));
}

/* Reads the slot at pos into meta (may be NULL) and the frame, or with plain only its
 * plain part, into words (max_words at most); the stamp check makes a torn read fail
 * instead of passing. */
static int read_slot(const ring_t *ring, uint64_t pos, int plain, ring_meta_t *meta, uint64_t *run,
                     uint64_t *words, size_t max_words, uint32_t *len)
{
    if (pos >= ring_head(ring))
        return -EAGAIN;
    const slot_t *s = &ring->slots[pos % ring->capacity];
    uint64_t before = atomic_load_explicit(&s->stamp, memory_order_acquire);
    if (before != 2 * pos)
        return -ERANGE;
    *len = atomic_load_explicit(&s->len, memory_order_relaxed);
    ring_meta_t m = load_meta(&s->meta);
    if (plain && m.plain_len < *len)
        *len = (uint32_t)m.plain_len;
    size_t n = *len <= RING_FRAME_MAX ? (*len + 7) / 8 : 0;
    for (size_t i = 0; i < n && i < max_words; i++)
        words[i] = atomic_load_explicit(&s->words[i], memory_order_relaxed);
    uint64_t r = atomic_load_explicit(&s->run, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&s->stamp, memory_order_relaxed) != before)
        return -ERANGE;
    if (meta)
        *meta = m;
    if (run)
        *run = r;
    return 0;
}

static int read_frame(const ring_t *ring, uint64_t pos, int plain, char *dst, size_t cap,
                      ring_meta_t *meta)
{
    uint64_t words[WORDS];
    uint32_t len;
    int rc = read_slot(ring, pos, plain, meta, NULL, words, WORDS, &len);
    if (rc < 0)
        return rc;
    if (len > cap)
        return -ENOSPC;
    memcpy(dst, words, len);
    return (int)len;
}

int ring_read(const ring_t *ring, uint64_t pos, char *dst, size_t cap, ring_meta_t *meta)
{
    return read_frame(ring, pos, 0, dst, cap, meta);
}

int ring_read_plain(const ring_t *ring, uint64_t pos, char *dst, size_t cap, ring_meta_t *meta)
{
    return read_frame(ring, pos, 1, dst, cap, meta);
}

int ring_meta(const ring_t *ring, uint64_t pos, ring_meta_t *meta)
{
    uint32_t len;
    int rc = read_slot(ring, pos, 0, meta, NULL, NULL, 0, &len);
    return rc < 0 ? rc : (int)len;
}

/* Reads that found their slot overwritten under them try again this often. */
enum { FIND_TRIES = 8 };

int ring_newest(const ring_t *ring, ring_meta_t *meta)
{
    int rc = -EAGAIN;
    for (int i = 0; i < FIND_TRIES && rc < 0 && ring_head(ring) > 0; i++)
        rc = ring_meta(ring, ring_head(ring) - 1, meta); /* fails if the ring went round */
    return rc < 0 ? rc : 0;
}

/* The run and meta at pos; an overwritten slot reads as run 0, older than any. */
static uint64_t run_at(const ring_t *ring, uint64_t pos, ring_meta_t *meta)
{
    uint64_t run;
    uint32_t len;
    return read_slot(ring, pos, 0, meta, &run, NULL, 0, &len) == 0 ? run : 0;
}

/* The first position in [lo, hi) whose run is >= run, or hi. */
static uint64_t first_of_run(const ring_t *ring, uint64_t lo, uint64_t hi, uint64_t run)
{
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (run_at(ring, mid, NULL) < run)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The first position in [lo, hi) of one run whose seq is > seq, or hi. */
static uint64_t first_after_seq(const ring_t *ring, uint64_t lo, uint64_t hi, uint64_t seq)
{
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        ring_meta_t m;
        if (run_at(ring, mid, &m) == 0 || m.seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* One look for the id, or RING_RACED when a slot it read was overwritten under it: the
 * next event takes the oldest slot, so this happens whenever one arrives meanwhile. */
#define RING_RACED ((ring_find_t)-1)

static ring_find_t find_once(const ring_t *ring, uint64_t epoch, uint64_t seq, uint64_t *pos)
{
    /* One head for both ends: read twice, the ring may have gone round in between. */
    uint64_t head = ring_head(ring), tail = tail_of(ring, head), end = head;
    *pos = head;
    /* Walk the runs from the newest: epoch changes are rare, so there are few. */
    while (end > tail) {
        ring_meta_t last;
        uint64_t run = run_at(ring, end - 1, &last);
        if (run == 0)
            return RING_RACED;
        uint64_t start = first_of_run(ring, tail, end, run);
        if (last.epoch != epoch) {
            end = start;
            continue;
        }
        if (seq >= last.seq) {
            *pos = end;
            return end == head && seq > last.seq ? RING_AHEAD : RING_AFTER;
        }
        ring_meta_t first;
        if (run_at(ring, start, &first) != run)
            return RING_RACED;
        if (first.seq > seq + 1) {
            *pos = start;
            return RING_TOO_OLD;
        }
        *pos = first_after_seq(ring, start, end, seq);
        return RING_AFTER;
    }
    return RING_UNKNOWN;
}

ring_find_t ring_find(const ring_t *ring, uint64_t epoch, uint64_t seq, uint64_t *pos)
{
    for (int i = 0; i < FIND_TRIES; i++) {
        ring_find_t found = find_once(ring, epoch, seq, pos);
        if (found != RING_RACED)
            return found;
    }
    /* Overwritten faster than it can be read: whatever the id was, the ring has moved
     * past it. */
    *pos = ring_tail(ring);
    return RING_TOO_OLD;
}

int ring_closed(const ring_t *ring)
{
    return atomic_load(&ring->closed);
}

void ring_close(ring_t *ring)
{
    atomic_store(&ring->closed, 1);
}
