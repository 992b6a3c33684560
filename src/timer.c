/* Timers: a 4-ary min-heap of pointers to timer nodes, ordered by
 * (deadline, arming order). Each node records its heap index, so disarming
 * is O(log n) without a search. A 4-ary heap halves the depth of a binary
 * one; with a million timers the sift-down's cache misses dominate, and
 * fewer levels measured faster (BENCHMARKS.md, timers). */
#include <stdlib.h>

#include "internal.h"

#define ARITY 4

static bool before(const aioc__timer *a, const aioc__timer *b) {
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place(aioc__timer_heap *h, uint32_t i, aioc__timer *t) {
    h->nodes[i] = t;
    t->index = i;
}

static void sift_up(aioc__timer_heap *h, uint32_t i, aioc__timer *t) {
    while (i > 0) {
        uint32_t parent = (i - 1) / ARITY;
        if (!before(t, h->nodes[parent]))
            break;
        place(h, i, h->nodes[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(aioc__timer_heap *h, uint32_t i, aioc__timer *t) {
    for (;;) {
        uint32_t first = i * ARITY + 1;
        if (first >= h->len)
            break;
        uint32_t last = first + ARITY < h->len ? first + ARITY : h->len;
        uint32_t best = first;
        for (uint32_t c = first + 1; c < last; c++)
            if (before(h->nodes[c], h->nodes[best]))
                best = c;
        if (!before(h->nodes[best], t))
            break;
        place(h, i, h->nodes[best]);
        i = best;
    }
    place(h, i, t);
}

void aioc__timers_init(aioc__timer_heap *h) { *h = (aioc__timer_heap){0}; }

void aioc__timers_free(aioc__timer_heap *h) {
    free(h->nodes);
    *h = (aioc__timer_heap){0};
}

int aioc__timer_arm(aioc__timer_heap *h, aioc__timer *t, uint64_t when) {
    if (t->index != AIOC__TIMER_IDLE)
        aioc__timer_disarm(h, t);
    if (h->len == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        aioc__timer **nodes = realloc(h->nodes, cap * sizeof *nodes);
        if (!nodes)
            return -ENOMEM;
        h->nodes = nodes;
        h->cap = cap;
    }
    t->when = when;
    t->seq = h->seq++;
    sift_up(h, h->len++, t);
    return 0;
}

void aioc__timer_disarm(aioc__timer_heap *h, aioc__timer *t) {
    uint32_t i = t->index;
    if (i == AIOC__TIMER_IDLE)
        return;
    t->index = AIOC__TIMER_IDLE;
    aioc__timer *last = h->nodes[--h->len];
    if (i == h->len)
        return;
    if (i > 0 && before(last, h->nodes[(i - 1) / ARITY]))
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}
