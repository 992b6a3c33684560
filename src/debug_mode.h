/* Debug mode (aioc_run_opts.debug, or the environment variable
 * AIOC_DEBUG=1): the checks and measurements too costly to keep on always.
 * So far it times each task's steps (its run time in aioc_tasks); the
 * watchdog reads the same switch. Decided once per loop, when it starts. */
#ifndef AIOC_DEBUG_MODE_H
#define AIOC_DEBUG_MODE_H

#include "scheduler.h"

/* Whether `opts` (may be NULL) or the environment ask for debug mode. */
bool aioc__debug_requested(const aioc_run_opts *opts);

/* Whether the CPU's counter can time steps (aioc__step_ticks): the
 * kernel's clocksource is the TSC (x86-64), or always (aarch64). */
bool aioc__counter_trusted(void);

/* Turns debug mode on for `loop`, which is starting. */
void aioc__debug_start(aioc__loop *loop);

/* A task's run time so far, in ns. */
uint64_t aioc__run_time_ns(const aioc__loop *loop, const aioc__task *t);

/* Whether `loop` runs in debug mode. */
static inline bool aioc__debug_enabled(const aioc__loop *loop) { return loop->debug; }

#endif
