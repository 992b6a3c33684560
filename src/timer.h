/* The loop's timers: nodes embedded in their owners, kept in a 4-ary
 * min-heap (src/timer.c). */
#ifndef AIOC_TIMER_H
#define AIOC_TIMER_H

#include <stddef.h>
#include <stdint.h>

/* A timer node, embedded in whatever it wakes (a sleeping task, a scope's
 * deadline, a callback). Timers with equal deadlines fire in the order they
 * were armed. */
typedef struct aioc__timer {
    uint64_t when;  /* loop clock, ns */
    uint64_t seq;   /* tie-break: arming order */
    uint32_t index; /* position in the heap; AIOC__TIMER_IDLE when unarmed */
    uint8_t kind;   /* enum aioc__timer_kind: who to tell when it fires */
} aioc__timer;

#define AIOC__TIMER_IDLE UINT32_MAX

enum aioc__timer_kind {
    AIOC__TIMER_SLEEP, /* in aioc__task: wake the task */
    AIOC__TIMER_SCOPE, /* in aioc__scope_rec: the scope expires */
    AIOC__TIMER_CALL,  /* in aioc__call_rec: queue the callback */
};

typedef struct aioc__heap_entry {
    uint64_t when;
    aioc__timer *timer;
} aioc__heap_entry;

typedef struct aioc__timer_heap {
    aioc__heap_entry *nodes; /* see timer.c for the layout */
    uint32_t len, cap;
    uint64_t seq;
} aioc__timer_heap;

void aioc__timers_init(aioc__timer_heap *h);
void aioc__timers_free(aioc__timer_heap *h);
int aioc__timer_arm(aioc__timer_heap *h, aioc__timer *t, uint64_t when);
void aioc__timer_disarm(aioc__timer_heap *h, aioc__timer *t);
static inline aioc__timer *aioc__timers_first(const aioc__timer_heap *h) {
    return h->len ? h->nodes[3].timer : NULL; /* the root sits at slot 3 */
}

#endif
