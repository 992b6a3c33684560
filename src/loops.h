/* A run of several loops, one thread each (aioc_run_opts.loops): what the
 * loop (src/loop.c) and the dump (src/debug.c) ask of src/loops.c. */
#ifndef AIOC_LOOPS_H
#define AIOC_LOOPS_H

#include "scheduler.h"

struct aioc__run;

/* One loop's whole life in this thread (src/loop.c); `run` NULL for a
 * loop run alone. */
int aioc__loop_run(aioc_fn main, void *arg, void **result, const aioc_run_opts *opts,
                   struct aioc__run *run, unsigned index, bool *interrupted);

/* Cancels the loop's main task for a Ctrl-C and marks the loop
 * interrupted (src/loop.c). */
void aioc__interrupt_main(aioc__loop *loop);

/* Loop `index` of `run` is set up (`loop`), or failed to be (`err`, `loop`
 * NULL: returns at once). A loop set up waits until every loop of the run
 * has got this far; returns 0 if all were set up (main may run), else the
 * first error. */
int aioc__loops_join(struct aioc__run *run, unsigned index, aioc__loop *loop, int err);

/* The loop's main ended (or was found deadlocked) with `status`: the run
 * keeps the first non-zero one. */
void aioc__loops_main_ended(aioc__loop *loop, int status);

/* Every task of the loop has ended: it now only serves calls until the
 * run is over. */
void aioc__loops_finished(aioc__loop *loop);

/* Whether every loop of the run has ended its tasks. */
bool aioc__loops_over(struct aioc__run *run);

/* The loop has nothing to do and nothing of its own can wake it. Returns
 * true if the whole run is stuck too (the loop is deadlocked), else marks
 * it sleeping (loop->run_sleeping), for a sibling to wake. */
bool aioc__loops_stuck(aioc__loop *loop);

/* After a poll of a loop marked sleeping: unmarks it; true if the run was
 * found deadlocked meanwhile, with this loop among the stuck ones. */
bool aioc__loops_awake(aioc__loop *loop);

/* Ctrl-C came to `loop`: cancels every sibling's main too. */
void aioc__loops_interrupt(aioc__loop *loop);

/* Prints "aioc: <what>" and the loop's tasks to stderr, in one piece, the
 * loop named when it is one of several. */
void aioc__loops_report(aioc__loop *loop, const char *what);

/* aioc_dump_tasks for a loop of a run: every loop's tasks (src/debug.c). */
int aioc__loops_dump(aioc__loop *loop, FILE *out);

/* One loop's tasks, as aioc_dump_tasks prints them (src/debug.c). */
int aioc__dump_loop(aioc__loop *loop, FILE *out);

#endif
