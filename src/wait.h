/* Waiting on many tasks: the task set behind gather, wait and the
 * completion iterator (src/wait.c). */
#ifndef AIOC_WAIT_H
#define AIOC_WAIT_H

#include "scheduler.h"

/* Several tasks watched together. Lives on the heap, not on the waiting
 * task's stack, since ending tasks update it while the owner is parked. */
typedef struct aioc__taskset {
    aioc__task *owner;        /* woken when a watched task ends */
    const aioc_task *handles; /* the caller's array (read only by the owner,
                                 so it may live on the owner's stack), or
                                 `copy` for an iterator that outlives the call */
    aioc_task *copy;
    size_t n;
    size_t remaining;    /* watched tasks not yet ended */
    size_t first_done;   /* lowest index that has ended, n if none */
    size_t first_failed; /* lowest index that failed, n if none */
    int first_error;     /* status of the first task (in time) to fail */
    size_t *ring;        /* completion order, for iterators; may be NULL */
    size_t ring_head, ring_tail;
} aioc__taskset;

void aioc__taskset_note(aioc__loop *loop, aioc__taskset *set, size_t index, int status);

#endif
