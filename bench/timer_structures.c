/* Heap or wheel? The loop's timer heap (src/timer.c) against a
 * hierarchical timing wheel written here for the comparison only, on a
 * million timers:
 *   expire: arm N timers at random 0-1000 ms, then advance the clock in
 *           1 ms steps and fire every timer in order (sleeps, call_later);
 *   cancel: arm N timers, then cancel them all before they are due (what
 *           deadline scopes and I/O timeouts mostly do);
 *   churn:  N re-arms of timers already armed (a deadline moved).
 * Prints ns per timer for each structure and the ratio.
 *
 * The wheel has 4 levels of 64 slots with a 1 ms tick (about 4.6 hours of
 * range) and cascades on wrap, as Linux's timer wheel and Kafka's do. It
 * fires a tick's timers in arming order, not by exact deadline: that is
 * the precision it trades for O(1) arming. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "list.h"
#include "timer.h"

#define N 1000000
#define TICK_NS 1000000ull
#define LEVELS 4
#define SLOT_BITS 6
#define SLOTS (1 << SLOT_BITS)

/* ---------------------------------------------------- the wheel -- */

typedef struct wtimer {
    aioc__list link;
    uint64_t when_tick;
} wtimer;

typedef struct wheel {
    aioc__list slots[LEVELS][SLOTS];
    uint64_t now_tick;
} wheel;

static void wheel_init(wheel *w) {
    for (int l = 0; l < LEVELS; l++)
        for (int s = 0; s < SLOTS; s++)
            aioc__list_init(&w->slots[l][s]);
    w->now_tick = 0;
}

static void wheel_add(wheel *w, wtimer *t) {
    uint64_t delta = t->when_tick > w->now_tick ? t->when_tick - w->now_tick : 0;
    int level = 0;
    while (level < LEVELS - 1 && delta >= (1ull << (SLOT_BITS * (level + 1))))
        level++;
    unsigned slot = (unsigned)(t->when_tick >> (SLOT_BITS * level)) & (SLOTS - 1);
    aioc__list_push_back(&w->slots[level][slot], &t->link);
}

static void wheel_cancel(wtimer *t) { aioc__list_remove(&t->link); }

/* Advances one tick and fires what is due; returns how many fired. */
static size_t wheel_tick(wheel *w) {
    w->now_tick++;
    /* cascade: when a level's index wraps to 0, redistribute the next
     * level's current slot */
    for (int l = 1; l < LEVELS; l++) {
        if (w->now_tick & ((1ull << (SLOT_BITS * l)) - 1))
            break;
        unsigned slot = (unsigned)(w->now_tick >> (SLOT_BITS * l)) & (SLOTS - 1);
        aioc__list moved;
        aioc__list_init(&moved);
        aioc__list_splice(&moved, &w->slots[l][slot]);
        aioc__list *n;
        while ((n = aioc__list_pop_front(&moved)))
            wheel_add(w, aioc__container_of(n, wtimer, link));
    }
    size_t fired = 0;
    aioc__list *head = &w->slots[0][w->now_tick & (SLOTS - 1)], *n;
    while ((n = aioc__list_pop_front(head)))
        fired++; /* a real loop would run the timer here */
    return fired;
}

/* ------------------------------------------------------ harness -- */

static uint64_t rng = 42;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t *deadlines; /* ns, random 0-1000 ms, same for both */

static double heap_run(const char *what) {
    aioc__timer *t = calloc(N, sizeof *t);
    aioc__timer_heap h;
    aioc__timers_init(&h);
    for (size_t i = 0; i < N; i++)
        t[i].index = AIOC__TIMER_IDLE;
    double t0 = now_s();
    for (size_t i = 0; i < N; i++)
        aioc__timer_arm(&h, &t[i], deadlines[i]);
    if (!strcmp(what, "expire")) {
        size_t fired = 0;
        for (uint64_t clock = 0; fired < N; clock += TICK_NS) {
            aioc__timer *first;
            while ((first = aioc__timers_first(&h)) && first->when <= clock) {
                aioc__timer_disarm(&h, first);
                fired++;
            }
        }
    } else if (!strcmp(what, "cancel")) {
        for (size_t i = 0; i < N; i++)
            aioc__timer_disarm(&h, &t[i]);
    } else {
        for (size_t i = 0; i < N; i++)
            aioc__timer_arm(&h, &t[i], deadlines[N - 1 - i]);
    }
    double dt = now_s() - t0;
    aioc__timers_free(&h);
    free(t);
    return dt / N * 1e9;
}

static double wheel_run(const char *what) {
    wtimer *t = calloc(N, sizeof *t);
    wheel *w = malloc(sizeof *w);
    wheel_init(w);
    double t0 = now_s();
    for (size_t i = 0; i < N; i++) {
        t[i].when_tick = deadlines[i] / TICK_NS;
        wheel_add(w, &t[i]);
    }
    if (!strcmp(what, "expire")) {
        size_t fired = 0;
        while (fired < N)
            fired += wheel_tick(w);
    } else if (!strcmp(what, "cancel")) {
        for (size_t i = 0; i < N; i++)
            wheel_cancel(&t[i]);
    } else {
        for (size_t i = 0; i < N; i++) {
            wheel_cancel(&t[i]);
            t[i].when_tick = deadlines[N - 1 - i] / TICK_NS;
            wheel_add(w, &t[i]);
        }
    }
    double dt = now_s() - t0;
    free(w);
    free(t);
    return dt / N * 1e9;
}

int main(void) {
    deadlines = malloc(N * sizeof *deadlines);
    for (size_t i = 0; i < N; i++)
        deadlines[i] = next_rand() % (1000 * TICK_NS) + TICK_NS;
    const char *cases[] = {"expire", "cancel", "churn"};
    for (int c = 0; c < 3; c++) {
        double best_h = 1e30, best_w = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double h = heap_run(cases[c]), w = wheel_run(cases[c]);
            best_h = h < best_h ? h : best_h;
            best_w = w < best_w ? w : best_w;
        }
        printf("RESULT name=timer_structures case=%s heap_ns=%.1f wheel_ns=%.1f "
               "heap_over_wheel=%.2f\n",
               cases[c], best_h, best_w, best_h / best_w);
    }
    free(deadlines);
    return 0;
}
