/* Waiting on many tasks: gather, gather_all, wait (any / all / first
 * failure) and the completion iterator. All four watch their tasks through
 * one aioc__taskset on the heap, which ending tasks update in O(1). */
#include <stdlib.h>
#include <string.h>

#include "scheduler.h"
#include "wait.h"

void aioc__taskset_note(aioc__loop *loop, aioc__taskset *set, size_t index, int status) {
    set->remaining--;
    if (index < set->first_done)
        set->first_done = index;
    if (status != 0) {
        if (index < set->first_failed)
            set->first_failed = index;
        if (set->first_error == 0)
            set->first_error = status;
    }
    if (set->ring)
        set->ring[set->ring_tail++] = index;
    aioc__task *owner = set->owner;
    if (owner && owner->state == AIOC__PARKED && owner->wait_obj == set)
        aioc__wake(loop, owner, AIOC__WOKEN);
}

static aioc__taskset *set_new(const aioc_task *tasks, size_t n, bool iterator) {
    aioc__taskset *set = calloc(1, sizeof *set);
    if (!set)
        return NULL;
    set->handles = tasks;
    if (iterator) { /* it outlives the call: copy, and keep the order of ends */
        set->copy = malloc(n * sizeof *tasks);
        set->ring = malloc(n * sizeof(size_t));
        if (!set->copy || !set->ring) {
            free(set->copy);
            free(set->ring);
            free(set);
            return NULL;
        }
        memcpy(set->copy, tasks, n * sizeof *tasks);
        set->handles = set->copy;
    }
    set->n = set->remaining = n;
    set->first_done = set->first_failed = n;
    return set;
}

/* Marks every task as watched by `set`, noting those already ended (a
 * failed spawn counts as a task that ended with its error). Returns
 * AIOC_ESTALE for an invalid handle or one owned elsewhere, AIOC_EAWAITED
 * for a task another waiter watches or that appears twice; the caller then
 * frees the set, which unwatches what was marked, so a refused call has
 * consumed nothing. */
static int set_watch(aioc__loop *loop, aioc__taskset *set) {
    for (size_t i = 0; i < set->n; i++) {
        aioc_task h = set->handles[i];
        if (h.id & AIOC__ERROR_HANDLE) {
            aioc__taskset_note(loop, set, i, aioc_task_error(h));
            continue;
        }
        aioc__task *t = aioc__task_from_handle(loop, h);
        if (!t)
            return aioc__task_handle_error(loop, h);
        if (t->flags & (AIOC__F_DETACHED | AIOC__F_GROUPED))
            return AIOC_ESTALE;
        if (t->watch_kind != AIOC__WATCH_NONE)
            return AIOC_EAWAITED;
        /* an ended task is marked too, so a repeat is caught */
        t->watch_kind = AIOC__WATCH_SET;
        t->watcher = set;
        t->watch_index = (uint32_t)i;
        if (t->state == AIOC__DONE)
            aioc__taskset_note(loop, set, i, t->status);
    }
    return 0;
}

static void set_destroy(aioc__taskset *set) {
    free(set->copy);
    free(set->ring);
    free(set);
}

/* Unwatches the tasks still marked, then frees the set. */
static void set_free(aioc__loop *loop, aioc__taskset *set) {
    for (size_t i = 0; i < set->n; i++) {
        aioc__task *t = aioc__task_from_handle(loop, set->handles[i]);
        if (t && t->watcher == set) {
            t->watch_kind = AIOC__WATCH_NONE;
            t->watcher = NULL;
        }
    }
    set_destroy(set);
}

static void cancel_pending(aioc__loop *loop, aioc__taskset *set) {
    for (size_t i = 0; i < set->n; i++) {
        aioc__task *t = aioc__task_from_handle(loop, set->handles[i]);
        if (t && t->state != AIOC__DONE) {
            t->cancels++;
            aioc__interrupt(loop, t);
        }
    }
}

static int gather(const aioc_task *tasks, size_t n, void **results, int *statuses, bool fail_fast) {
    aioc__loop *loop;
    int err;
    aioc__task *self = aioc__running(&loop, &err);
    if (!self)
        return err;
    aioc__taskset *set = set_new(tasks, n, false);
    if (!set)
        return -ENOMEM;
    set->owner = self;
    if ((err = set_watch(loop, set))) {
        set_free(loop, set);
        return err;
    }
    int interrupted = 0;
    bool cancelled = false;
    while (set->remaining) {
        if (fail_fast && set->first_error && !cancelled) {
            cancel_pending(loop, set);
            cancelled = true;
        }
        int why = aioc__interruption(self);
        if (why && !interrupted) {
            interrupted = why;
            if (!cancelled)
                cancel_pending(loop, set);
            cancelled = true;
        }
        if (set->remaining)
            aioc__park(loop, AIOC__WAIT_TASKS, set);
    }
    for (size_t i = 0; i < n; i++) {
        aioc__task *t = aioc__task_from_handle(loop, tasks[i]);
        int status = t ? t->status : aioc_task_error(tasks[i]);
        if (results)
            results[i] = t ? t->result : NULL;
        if (statuses)
            statuses[i] = status;
        if (t) {
            t->watch_kind = AIOC__WATCH_NONE;
            aioc__task_release(loop, t);
        }
    }
    int first_error = set->first_error;
    set_destroy(set); /* every task was released above */
    if (interrupted)
        return interrupted;
    return fail_fast ? first_error : 0;
}

int aioc_gather(const aioc_task *tasks, size_t n, void **results) {
    return gather(tasks, n, results, NULL, true);
}

int aioc_gather_all(const aioc_task *tasks, size_t n, void **results, int *statuses) {
    return gather(tasks, n, results, statuses, false);
}

static bool wait_met(const aioc__taskset *set, int mode, long *index) {
    switch (mode) {
    case AIOC_WAIT_ANY:
        *index = (long)set->first_done;
        return set->first_done < set->n;
    case AIOC_WAIT_FIRST_FAILURE:
        *index = (long)set->first_failed;
        return set->first_failed < set->n || set->remaining == 0;
    default:
        *index = (long)set->n;
        return set->remaining == 0;
    }
}

long aioc_wait(const aioc_task *tasks, size_t n, int mode) {
    if (n == 0 || mode < AIOC_WAIT_ANY || mode > AIOC_WAIT_FIRST_FAILURE)
        return -EINVAL;
    aioc__loop *loop;
    int err;
    aioc__task *self = aioc__running(&loop, &err);
    if (!self)
        return err;
    aioc__taskset *set = set_new(tasks, n, false);
    if (!set)
        return -ENOMEM;
    set->owner = self;
    if ((err = set_watch(loop, set))) {
        set_free(loop, set);
        return err;
    }
    long index;
    while (!wait_met(set, mode, &index)) {
        if ((err = aioc__interruption(self))) {
            index = err;
            break;
        }
        aioc__park(loop, AIOC__WAIT_TASKS, set);
    }
    set_free(loop, set);
    return index;
}

struct aioc_completion {
    aioc__taskset *set;
};

aioc_completion *aioc_completion_new(const aioc_task *tasks, size_t n) {
    aioc__loop *loop = aioc__loop_get();
    if (!loop || n == 0) {
        errno = EINVAL;
        return NULL;
    }
    aioc_completion *c = malloc(sizeof *c);
    if (!c || !(c->set = set_new(tasks, n, true))) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    if (set_watch(loop, c->set)) {
        set_free(loop, c->set);
        free(c);
        errno = EINVAL;
        return NULL;
    }
    return c;
}

long aioc_completion_next(aioc_completion *c) {
    aioc__loop *loop;
    int err;
    aioc__task *self = aioc__running(&loop, &err);
    if (!self)
        return err;
    aioc__taskset *set = c->set;
    if (set->ring_head == set->n)
        return AIOC_EOF;
    while (set->ring_head == set->ring_tail) {
        if ((err = aioc__interruption(self)))
            return err;
        set->owner = self;
        aioc__park(loop, AIOC__WAIT_TASKS, set);
        set->owner = NULL;
    }
    return (long)set->ring[set->ring_head++];
}

void aioc_completion_free(aioc_completion *c) {
    if (!c)
        return;
    aioc__loop *loop = aioc__loop_get();
    if (loop)
        set_free(loop, c->set);
    else
        set_destroy(c->set);
    free(c);
}
