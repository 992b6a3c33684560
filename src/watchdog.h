/* The watchdog (debug mode): names the task or callback that has run too
 * long without yielding while it still runs, with its backtrace, and again
 * when it yields (src/watchdog.c; docs/architecture.md, "Watchdog").
 *
 * The loop thread only marks where steps begin and end: a store of a step
 * counter that a monitor thread samples. With the watchdog off each mark
 * is one thread-local load and a branch. */
#ifndef AIOC_WATCHDOG_H
#define AIOC_WATCHDOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "scheduler.h"

typedef struct aioc__watchdog aioc__watchdog;

/* The fields the loop thread's marks touch; the rest is in watchdog.c. */
struct aioc__watchdog_marks {
    /* Bumped at each step's start; odd while a step runs, even while the
     * loop is between steps (scheduling, polling). Starts at 2. Written by
     * the loop thread only, read by the monitor. */
    _Atomic uint64_t step;
    /* The step the monitor reported as too long (never even, so never
     * equal to `step` between steps); its end is then reported too. */
    _Atomic uint64_t stalled;
};

/* This thread's loop's watchdog, NULL when off (the common case).
 * initial-exec: a plain %fs-relative load, also from the signal handler. */
extern _Thread_local struct aioc__watchdog_marks *aioc__watchdog_tls
    __attribute__((tls_model("initial-exec")));

/* Starts a monitor for this thread's loop if the options or the
 * environment ask for one (aioc_run_opts.watchdog_ms, AIOC_WATCHDOG_MS,
 * AIOC_DEBUG). A debugging aid: if it cannot start, it says so on stderr
 * and the loop runs without. */
void aioc__watchdog_start(const aioc_run_opts *opts);
/* Stops and joins this thread's monitor, if any, after reporting the
 * streams never closed (src/debug_checks.c). */
void aioc__watchdog_stop(void);
/* The threshold of this thread's watchdog in ns; 0 when it is off. */
uint64_t aioc__watchdog_threshold_ns(void);

/* The reported stall ended: says so, with its length (the slow path). */
void aioc__watchdog_stall_ended(struct aioc__watchdog_marks *m);

static inline void aioc__watchdog_mark(struct aioc__watchdog_marks *m, bool begin) {
    uint64_t s = atomic_load_explicit(&m->step, memory_order_relaxed);
    if (__builtin_expect(atomic_load_explicit(&m->stalled, memory_order_relaxed) == s, 0))
        aioc__watchdog_stall_ended(m);
    /* begin: the next odd value; end: the next even one (or stay) */
    atomic_store_explicit(&m->step, begin ? (s + 1) | 1 : (s + 1) & ~(uint64_t)1,
                          memory_order_relaxed);
}

/* A task or callback is about to run on this thread's loop. */
static inline void aioc__watchdog_step_begin(void) {
    struct aioc__watchdog_marks *m = aioc__watchdog_tls;
    if (__builtin_expect(m != NULL, 0))
        aioc__watchdog_mark(m, true);
}

/* Control is back in the scheduler. */
static inline void aioc__watchdog_step_end(void) {
    struct aioc__watchdog_marks *m = aioc__watchdog_tls;
    if (__builtin_expect(m != NULL, 0))
        aioc__watchdog_mark(m, false);
}

#endif
