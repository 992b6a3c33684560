/* Timers: a 4-ary min-heap ordered by (deadline, arming order).
 *
 * The heap array holds each timer's deadline next to its pointer, so a
 * sift compares keys without touching the timer nodes (which live in tasks
 * and callbacks all over memory); a node is touched only to record its new
 * index when it moves. The four children of a parent are 4 x 16 bytes:
 * the array is offset by ORIGIN slots so that they share one 64-byte cache
 * line. With a million timers this halves the time per expiry against a
 * heap of bare pointers (BENCHMARKS.md, timers_cb). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "timer.h"

#define ARITY 4
#define ORIGIN 3 /* slot of the root: children of k start at 4k + 4, a multiple of 4 */

static bool before(const aioc__heap_entry *a, const aioc__heap_entry *b) {
    return a->when < b->when || (a->when == b->when && a->timer->seq < b->timer->seq);
}

static void place(aioc__timer_heap *h, uint32_t k, aioc__heap_entry e) {
    h->nodes[k + ORIGIN] = e;
    e.timer->index = k;
}

static void sift_up(aioc__timer_heap *h, uint32_t k, aioc__heap_entry e) {
    while (k > 0) {
        uint32_t parent = (k - 1) / ARITY;
        if (!before(&e, &h->nodes[parent + ORIGIN]))
            break;
        place(h, k, h->nodes[parent + ORIGIN]);
        k = parent;
    }
    place(h, k, e);
}

static void sift_down(aioc__timer_heap *h, uint32_t k, aioc__heap_entry e) {
    for (;;) {
        uint32_t first = k * ARITY + 1;
        if (first >= h->len)
            break;
        uint32_t last = first + ARITY < h->len ? first + ARITY : h->len;
        uint32_t best = first;
        for (uint32_t c = first + 1; c < last; c++)
            if (before(&h->nodes[c + ORIGIN], &h->nodes[best + ORIGIN]))
                best = c;
        if (!before(&h->nodes[best + ORIGIN], &e))
            break;
        place(h, k, h->nodes[best + ORIGIN]);
        k = best;
    }
    place(h, k, e);
}

void aioc__timers_init(aioc__timer_heap *h) { *h = (aioc__timer_heap){0}; }

void aioc__timers_free(aioc__timer_heap *h) {
    free(h->nodes);
    *h = (aioc__timer_heap){0};
}

static int grow(aioc__timer_heap *h) {
    uint32_t cap = h->cap ? h->cap * 2 : 64;
    size_t bytes = (cap + ORIGIN + 1) * sizeof(aioc__heap_entry);
    aioc__heap_entry *nodes = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!nodes)
        return -ENOMEM;
    for (uint32_t k = 0; k < h->len; k++)
        nodes[k + ORIGIN] = h->nodes[k + ORIGIN];
    free(h->nodes);
    h->nodes = nodes;
    h->cap = cap;
    return 0;
}

int aioc__timer_arm(aioc__timer_heap *h, aioc__timer *t, uint64_t when) {
    if (t->index != AIOC__TIMER_IDLE)
        aioc__timer_disarm(h, t);
    if (h->len == h->cap && grow(h))
        return -ENOMEM;
    t->when = when;
    t->seq = h->seq++;
    sift_up(h, h->len++, (aioc__heap_entry){when, t});
    return 0;
}

void aioc__timer_disarm(aioc__timer_heap *h, aioc__timer *t) {
    uint32_t k = t->index;
    if (k == AIOC__TIMER_IDLE)
        return;
    t->index = AIOC__TIMER_IDLE;
    aioc__heap_entry last = h->nodes[--h->len + ORIGIN];
    if (k == h->len)
        return;
    if (k > 0 && before(&last, &h->nodes[(k - 1) / ARITY + ORIGIN]))
        sift_up(h, k, last);
    else
        sift_down(h, k, last);
}
