/* What the loop asks of src/signal.c: Ctrl-C and SIGPIPE around a run.
 * (Not signal.h: src/ is on the include path, and <signal.h> is libc's.) */
#ifndef AIOC_SIGNALS_H
#define AIOC_SIGNALS_H

#include "scheduler.h"

int aioc__signals_start(aioc__loop *loop, const aioc_run_opts *opts);
bool aioc__sigint_pending(aioc__loop *loop);
void aioc__signals_stop(aioc__loop *loop, bool interrupted);

#endif
