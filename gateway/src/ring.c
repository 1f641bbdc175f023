/* ring.c -- seqlock slots and a futex wake counter. */
#include "ring.h"

#include "futex.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORDS (RING_FRAME_MAX / 8 + 1)

/* Every field a reader touches is atomic, so a reader racing the writer reads a torn but
 * well-defined value, which the stamp check then discards. */
typedef struct {
    _Atomic uint64_t stamp; /* 2*pos when complete, odd while being written */
    _Atomic uint64_t meta[6];
    _Atomic uint32_t len;
    _Atomic uint64_t words[WORDS];
} slot_t;

struct ring {
    size_t capacity;
    _Atomic uint64_t head;
    _Atomic uint32_t wake;
    _Atomic int closed;
    slot_t *slots;
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

/* A waiter reads the counter before it checks the head, and sleeps only while the
 * counter still has that value, so a publish between the two is never missed. */
static void wake_all(ring_t *ring)
{
    atomic_fetch_add(&ring->wake, 1);
    futex_wake_all(&ring->wake);
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
    atomic_store_explicit(&s->meta[0], meta->epoch, memory_order_relaxed);
    atomic_store_explicit(&s->meta[1], meta->seq, memory_order_relaxed);
    atomic_store_explicit(&s->meta[2], (uint64_t)meta->published_ns, memory_order_relaxed);
    atomic_store_explicit(&s->meta[3], (uint64_t)meta->value, memory_order_relaxed);
    atomic_store_explicit(&s->meta[4], (uint64_t)meta->received_ns, memory_order_relaxed);
    uint64_t plain = meta->plain_len > 0 && meta->plain_len < len ? meta->plain_len : len;
    atomic_store_explicit(&s->meta[5], plain, memory_order_relaxed);
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

uint64_t ring_tail(const ring_t *ring)
{
    uint64_t head = ring_head(ring);
    return head > ring->capacity ? head - ring->capacity : 1;
}

size_t ring_capacity(const ring_t *ring)
{
    return ring->capacity;
}

int ring_read(const ring_t *ring, uint64_t pos, char *dst, size_t cap, ring_meta_t *meta)
{
    if (pos >= ring_head(ring))
        return -EAGAIN;
    const slot_t *s = &ring->slots[pos % ring->capacity];
    uint64_t before = atomic_load_explicit(&s->stamp, memory_order_acquire);
    if (before != 2 * pos)
        return -ERANGE;
    uint32_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
    uint64_t words[WORDS];
    size_t n = len <= RING_FRAME_MAX ? (len + 7) / 8 : 0;
    for (size_t i = 0; i < n; i++)
        words[i] = atomic_load_explicit(&s->words[i], memory_order_relaxed);
    ring_meta_t m = {
        atomic_load_explicit(&s->meta[0], memory_order_relaxed),
        atomic_load_explicit(&s->meta[1], memory_order_relaxed),
        (int64_t)atomic_load_explicit(&s->meta[2], memory_order_relaxed),
        (int64_t)atomic_load_explicit(&s->meta[3], memory_order_relaxed),
        (int64_t)atomic_load_explicit(&s->meta[4], memory_order_relaxed),
        atomic_load_explicit(&s->meta[5], memory_order_relaxed),
    };
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&s->stamp, memory_order_relaxed) != before)
        return -ERANGE;
    if (len > cap)
        return -ENOSPC;
    memcpy(dst, words, len);
    if (meta)
        *meta = m;
    return (int)len;
}

static int meta_at(const ring_t *ring, uint64_t pos, ring_meta_t *meta)
{
    char frame[RING_FRAME_MAX];
    return ring_read(ring, pos, frame, sizeof frame, meta);
}

/* 1 when the event in meta comes after (epoch, seq). */
static int is_after(const ring_meta_t *m, uint64_t epoch, uint64_t seq)
{
    return m->epoch != epoch ? m->epoch > epoch : m->seq > seq;
}

uint64_t ring_seek(const ring_t *ring, uint64_t epoch, uint64_t seq)
{
    /* Binary search. The oldest end may be overwritten while we search; a failed read
     * there only moves the low bound up. */
    uint64_t lo = ring_tail(ring), hi = ring_head(ring);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        ring_meta_t m;
        if (meta_at(ring, mid, &m) < 0 || !is_after(&m, epoch, seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int ring_wait(ring_t *ring, uint64_t pos, int timeout_ms)
{
    uint32_t seen = atomic_load(&ring->wake);
    if (atomic_load(&ring->closed))
        return -ESHUTDOWN;
    if (ring_head(ring) > pos)
        return 1;
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
    futex_wait(&ring->wake, seen, timeout_ms < 0 ? NULL : &ts);
    return atomic_load(&ring->closed) ? -ESHUTDOWN : ring_head(ring) > pos;
}

void ring_wake(ring_t *ring)
{
    wake_all(ring);
}

int ring_closed(const ring_t *ring)
{
    return atomic_load(&ring->closed);
}

void ring_close(ring_t *ring)
{
    atomic_store(&ring->closed, 1);
    wake_all(ring);
}
