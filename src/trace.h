/* The timeline (AIOC_TRACE=FILE): what each loop ran and when, written as
 * Chrome's trace-event JSON for ui.perfetto.dev and chrome://tracing.
 *
 * While the loop runs, the hooks below only append fixed-size binary
 * records to a per-loop buffer (one clock read per task step, none per
 * wake-up); a full buffer is written as it is to an unnamed temporary file,
 * so memory stays bounded however long the run. When the loop ends, the
 * records are turned into JSON and appended to FILE. The hooks cost one
 * load and a branch that is never taken when tracing is off. */
#ifndef AIOC_TRACE_H
#define AIOC_TRACE_H

#include <stdint.h>

typedef struct aioc__loop aioc__loop;
typedef struct aioc__task aioc__task;
typedef struct aioc__trace aioc__trace;

/* Starts tracing `loop` if AIOC_TRACE names a file (loop->trace stays NULL
 * otherwise). A file that cannot be written is reported on stderr once and
 * the program runs untraced. */
void aioc__trace_start(aioc__loop *loop);

/* Writes what `loop` recorded to the trace file (which is valid JSON after
 * every loop's end) and frees the recorder. */
void aioc__trace_stop(aioc__loop *loop);

/* The slow halves of the hooks in scheduler.h. */
void aioc__trace_step(aioc__loop *loop, const aioc__task *from, const aioc__task *to);
void aioc__trace_call(aioc__loop *loop, int begin);
void aioc__trace_wake(aioc__loop *loop, const aioc__task *t);
void aioc__trace_spawn(aioc__loop *loop, const aioc__task *t);
void aioc__trace_turn(aioc__loop *loop);

#endif
