/* The dump signal (aioc_run_opts.dump_signal): what the loop asks of
 * src/dump_signal.c. */
#ifndef AIOC_DUMP_SIGNAL_H
#define AIOC_DUMP_SIGNAL_H

#include "scheduler.h"

/* A loop starts: installs the handler if the loop asks for a dump signal.
 * 0, -EBUSY, -EINVAL (see aioc_run_opts.dump_signal). */
int aioc__dump_signal_start(aioc__loop *loop, const aioc_run_opts *opts);
/* A loop ends: no more wake-ups for it; the last one restores the signal. */
void aioc__dump_signal_stop(aioc__loop *loop);
/* After each poll: prints the loop's tasks to stderr if a dump signal came
 * since the last look. */
void aioc__dump_if_requested(aioc__loop *loop);

#endif
