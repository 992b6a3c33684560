/* Callbacks (call_soon, call_later, call_at): the record behind an
 * aioc_call, a runnable of the ready queue like a task (src/call.c). */
#ifndef AIOC_CALL_H
#define AIOC_CALL_H

#include "scheduler.h"

typedef struct aioc__call_rec {
    aioc__list link; /* ready queue while queued */
    uint8_t kind;    /* AIOC__RUN_CALL */
    uint8_t queued;
    aioc_callback fn;
    void *arg;
    uint64_t id;
    aioc__timer timer;
} aioc__call_rec;

AIOC__RUNNABLE(aioc__call_rec);

void aioc__call_fire(aioc__loop *loop, aioc__call_rec *c);
void aioc__call_run(aioc__loop *loop, aioc__call_rec *c);
void aioc__call_drop(aioc__loop *loop, aioc__call_rec *c);

#endif
