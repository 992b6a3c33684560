/* Tasks: spawn, run, park and wake, await, cancel, and the end of a task.
 *
 * A task runs on its own stack. The scheduler switches to it
 * (aioc__task_resume). When a task parks, yields or ends it switches
 * straight to the next ready task if there is one and the poll budget
 * allows, else back to the scheduler (leave()): a hand-off between two
 * tasks is then one switch, not two. An ended task cannot release the
 * stack it is still standing on, so it leaves itself in loop->finished and
 * whoever runs next releases it (after_switch()). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "debug_checks.h"
#include "group.h"
#include "sanitizer.h"
#include "scheduler.h"
#include "scope.h"
#include "wait.h"
#include "watchdog.h"

/* ------------------------------------------------------ switching -- */

static void task_entry(void);
static void finish_without_running(aioc__loop *loop, aioc__task *t, int status);

/* Gives `t` a stack and a first frame if it has none. False if it ended
 * instead (cancelled before it started, or no stack to be had). */
static bool ready_to_run(aioc__loop *loop, aioc__task *t) {
    if (t->stack.lo)
        return true;
    if (t->cancels) {
        finish_without_running(loop, t, -ECANCELED); /* never runs */
        return false;
    }
    int err = aioc__stack_get(loop, t->stack.size, &t->stack);
    if (err) {
        finish_without_running(loop, t, err);
        return false;
    }
    aioc__ctx_make(&t->ctx, t->stack.lo, t->stack.size, task_entry);
    return true;
}

/* After any switch: release the stack of a task that just ended (it could
 * not free the stack it stood on), and report a stack found overflowed.
 * Runs on whichever stack the switch arrived on. */
static void after_switch(aioc__loop *loop) {
    aioc__task *done = loop->finished;
    if (done) {
        loop->finished = NULL;
        /* ASan: the dead task's frames left poisoned redzones behind */
        aioc__asan_unpoison(done->stack.lo, done->stack.size);
        aioc__stack_put(loop, &done->stack);
        done->stack.lo = NULL;
        if (done->flags & (AIOC__F_DETACHED | AIOC__F_GROUPED))
            aioc__task_release(loop, done); /* nobody holds its handle */
    }
}

/* The task to switch to directly from a task that parks or ends, without
 * going through the scheduler: the next ready one, while the poll budget
 * lasts. NULL when the scheduler must run: a callback is next, nothing is
 * ready, a poll is due, or a stack overflow must be reported from the
 * scheduler's stack. Always inlined: GCC's own choice flips with small
 * changes around it, and the call costs a hand-off ~8 instructions. */
__attribute__((always_inline)) static inline aioc__task *next_direct(aioc__loop *loop) {
    while (!loop->overflowed && loop->since_poll < AIOC__POLL_EVERY) {
        aioc__list *n = loop->ready.next;
        if (n == &loop->ready || *(uint8_t *)(n + 1) != AIOC__RUN_TASK)
            return NULL;
        aioc__list_remove(n);
        loop->since_poll++;
        aioc__task *t = aioc__container_of(n, aioc__task, link);
        if (ready_to_run(loop, t))
            return t;
    }
    return NULL;
}

/* What watches the switches: debug mode's step times, the timeline, the
 * watchdog's step marks. Out of line: with all of them off, the common
 * case, a switch pays one test of loop->hooks. `from` ends its step, `to`
 * (NULL: the scheduler) begins one; a NULL `from` is the scheduler's
 * resuming `to`, whose watchdog mark run_ready has made. */
__attribute__((noinline, cold)) static void switch_hooks(aioc__loop *loop, aioc__task *from,
                                                         aioc__task *to) {
    if (from)
        aioc__step_end(loop, from); /* and, in the same reading, to's begins */
    else
        aioc__step_begin(loop, to);
    AIOC__TRACE(loop, aioc__trace_step(loop, from, to));
    if (from && to)
        aioc__watchdog_step_begin();
}

/* Switches from the running task `t` to `next`, or to the scheduler when
 * `next` is NULL. `fake` is where ASan keeps t's fake stack meanwhile
 * (NULL when `t` has ended, which tells ASan to drop it). */
static void leave(aioc__loop *loop, aioc__task *t, aioc__task *next, void **fake) {
    (void)fake;
    if (__builtin_expect(loop->hooks, 0))
        switch_hooks(loop, t, next);
    if (next) {
        loop->current = next;
        next->state = AIOC__RUNNING;
        aioc__asan_start_switch(fake, next->stack.lo, next->stack.size);
        aioc__ctx_switch(&t->ctx, &next->ctx);
    } else {
        aioc__asan_start_switch(fake, loop->sched_stack_lo, loop->sched_stack_size);
        aioc__ctx_switch(&t->ctx, &loop->sched_ctx);
    }
}

void aioc__task_switch_out(aioc__loop *loop, aioc__task *t) {
    /* An overwritten canary means this stack already ran past its end:
     * report from the scheduler's stack, since this one has no room. */
    if (t->stack.canary && !aioc__stack_canary_ok(&t->stack))
        loop->overflowed = t;
    aioc__task *next = next_direct(loop);
    if (next == t) { /* it yielded and is next anyway: a new step */
        if (__builtin_expect(loop->hooks, 0))
            switch_hooks(loop, t, t);
        t->state = AIOC__RUNNING;
        return;
    }
#ifdef AIOC__ASAN
    leave(loop, t, next, &t->asan_fake_stack);
#else
    leave(loop, t, next, NULL);
#endif
    /* resumed: whoever switched here made `t` current */
    aioc__asan_finish_switch(t->asan_fake_stack, NULL, NULL);
    after_switch(loop);
}

void aioc__task_resume(aioc__loop *loop, aioc__task *t) {
    if (!ready_to_run(loop, t))
        return;
    loop->current = t;
    t->state = AIOC__RUNNING;
    if (__builtin_expect(loop->hooks, 0))
        switch_hooks(loop, NULL, t);
#ifdef AIOC__ASAN
    void *fake = NULL;
#endif
    aioc__asan_start_switch(&fake, t->stack.lo, t->stack.size);
    aioc__ctx_switch(&loop->sched_ctx, &t->ctx);
    aioc__asan_finish_switch(fake, NULL, NULL);
    /* back from whichever task switched to the scheduler */
    loop->current = NULL;
    if (loop->overflowed)
        aioc__stack_overflow_abort(loop->overflowed);
    after_switch(loop);
}

/* ------------------------------------------------- park and wake -- */

void aioc__interrupt(aioc__loop *loop, aioc__task *t) {
    if (t->state != AIOC__PARKED || !aioc__interruption(t))
        return;
    aioc__list_remove(&t->link); /* out of whatever wait list held it */
    aioc__wake(loop, t, AIOC__INTERRUPTED);
}

/* After an interrupted park: the error to return. An interruption that
 * vanished in between (an uncancel from elsewhere) still ends the wait. */
int aioc__interrupted_error(const aioc__task *t) {
    int err = aioc__interruption(t);
    return err ? err : -ECANCELED;
}

/* ----------------------------------------------------------- spawn -- */

aioc__task *aioc__task_spawn(aioc__loop *loop, aioc_fn fn, void *arg, const aioc_spawn_opts *opts,
                             int *err) {
    size_t stack = opts && opts->stack_size ? opts->stack_size : loop->default_stack;
    if (!fn || stack < AIOC__MIN_STACK || stack > AIOC__MAX_STACK) {
        *err = -EINVAL;
        return NULL;
    }
    if (loop->shutting_down) {
        *err = -ESHUTDOWN;
        return NULL;
    }
    aioc__task *t = aioc__slab_alloc(&loop->tasks);
    if (!t) {
        *err = -ENOMEM;
        return NULL;
    }
    uint64_t id = aioc__handle_new(&loop->handles, AIOC__H_TASK, t);
    if (!id) {
        aioc__slab_free(&loop->tasks, t);
        *err = -ENOMEM;
        return NULL;
    }
    /* Field by field rather than a memset: spawning is hot, and the fields
     * not set here are set before they are read. */
    t->kind = AIOC__RUN_TASK;
    t->state = AIOC__NEW;
    t->wait_reason = AIOC__WAIT_NONE;
    t->flags = 0;
    t->status = 0;
    t->wake = 0;
    t->cancels = 0;
    t->id = id;
    t->fn = fn;
    t->arg = arg;
    t->wait_obj = NULL;
    t->spawn_site = NULL;
    t->watcher = NULL;
    t->watch_kind = AIOC__WATCH_NONE;
    t->io_streak = 0;
    t->scope = NULL;
    t->group = NULL;
    t->locals = NULL;
    t->name = NULL;
    t->stack.lo = NULL;
    t->stack.size = (uint32_t)stack;
    t->timer.index = AIOC__TIMER_IDLE;
    t->timer.kind = AIOC__TIMER_SLEEP;
    t->created_at = aioc__clock_ms(loop->now);
    if (__builtin_expect(loop->debug, 0))
        aioc__debug_spawned(loop, t);
    aioc__list_init(&t->group_link);
    if (opts && opts->name) {
        t->name = strdup(opts->name);
        if (t->name)
            t->flags |= AIOC__F_NAME_OWNED;
    }
    aioc__ready_push(loop, &t->link);
    loop->live_tasks++;
    loop->spawned++;
    AIOC__TRACE(loop, aioc__trace_spawn(loop, t));
    *err = 0;
    return t;
}

static aioc_task error_handle(int err) { return (aioc_task){aioc__error_id(err)}; }

aioc_task aioc_spawn_with_at(const aioc_spawn_site *site, aioc_fn fn, void *arg,
                             const aioc_spawn_opts *opts) {
    aioc__loop *loop = aioc__loop_get();
    if (!loop)
        return error_handle(AIOC_ENOLOOP);
    int err;
    aioc__task *t = aioc__task_spawn(loop, fn, arg, opts, &err);
    if (!t)
        return error_handle(err);
    t->spawn_site = site;
    return (aioc_task){t->id};
}

aioc_task aioc_spawn_at(const aioc_spawn_site *site, aioc_fn fn, void *arg) {
    return aioc_spawn_with_at(site, fn, arg, NULL);
}

/* The functions behind the macros' names, for programs that take their
 * address or define AIOC_NO_SPAWN_SITE (the library itself is built
 * without the macros). */
aioc_task aioc_spawn_with(aioc_fn fn, void *arg, const aioc_spawn_opts *opts) {
    return aioc_spawn_with_at(NULL, fn, arg, opts);
}

aioc_task aioc_spawn(aioc_fn fn, void *arg) { return aioc_spawn_with_at(NULL, fn, arg, NULL); }

int aioc_task_error(aioc_task h) { return aioc__id_error(h.id); }

aioc__task *aioc__task_from_handle(aioc__loop *loop, aioc_task h) {
    return loop ? aioc__handle_get(&loop->handles, h.id, AIOC__H_TASK) : NULL;
}

int aioc__task_handle_error(aioc__loop *loop, aioc_task h) {
    if (!loop || !aioc__handle_foreign(&loop->handles, h.id))
        return AIOC_ESTALE;
    aioc__debug_foreign_handle(loop, h.id);
    return -EXDEV;
}

/* ------------------------------------------------------------- end -- */

static void default_failure_handler(const char *name, int err, void *data) {
    (void)data;
    fprintf(stderr, "aioc: task '%s' failed: %s (%s)\n", name, aioc_strerror(err),
            aioc_err_name(err));
}

void aioc__task_report_failure(aioc__loop *loop, aioc__task *t) {
    if (t->status == 0 || t->status == -ECANCELED)
        return;
    char name[64];
    aioc__task_display_name(t, name, sizeof name);
    aioc_failure_handler fn = loop->on_failure ? loop->on_failure : default_failure_handler;
    fn(name, t->status, loop->on_failure_data);
}

/* Everything a task does when it ends, on its own stack or (for a task
 * that never ran) from the scheduler. */
static void task_done(aioc__loop *loop, aioc__task *t, void *result) {
    if (t->scope)
        aioc__scopes_unwind(loop, t);
    aioc__locals_destroy(&t->locals);
    if (!(t->flags & AIOC__F_FAILED))
        t->status = t->cancels ? -ECANCELED : 0;
    t->result = t->status == 0 ? result : NULL;
    t->state = AIOC__DONE;
    loop->live_tasks--;
    if (t->watch_kind == AIOC__WATCH_AWAIT)
        aioc__wake(loop, t->watcher, AIOC__WOKEN);
    else if (t->watch_kind == AIOC__WATCH_SET)
        aioc__taskset_note(loop, t->watcher, t->watch_index, t->status);
    if (t->flags & AIOC__F_GROUPED)
        aioc__group_child_done(loop, t);
    else if (t->flags & AIOC__F_DETACHED)
        aioc__task_report_failure(loop, t);
}

static void finish_without_running(aioc__loop *loop, aioc__task *t, int status) {
    t->status = status;
    t->flags |= AIOC__F_FAILED;
    task_done(loop, t, NULL);
    if (t->flags & (AIOC__F_DETACHED | AIOC__F_GROUPED))
        aioc__task_release(loop, t);
}

static void task_entry(void) {
    aioc__loop *loop = aioc__loop_get();
    aioc__task *t = loop->current;
#ifdef AIOC__ASAN
    const void *from_lo;
    size_t from_size;
    aioc__asan_finish_switch(NULL, &from_lo, &from_size);
    if (!loop->sched_stack_lo) { /* main's first entry comes from the scheduler */
        loop->sched_stack_lo = from_lo;
        loop->sched_stack_size = from_size;
    }
#endif
    after_switch(loop);
    void *result = t->fn(t->arg);
    task_done(loop, t, result);
    loop->finished = t;
    /* main's end goes to the scheduler, which starts the shutdown */
    leave(loop, t, t == loop->main ? NULL : next_direct(loop), NULL);
    __builtin_unreachable();
}

void aioc__task_release(aioc__loop *loop, aioc__task *t) {
    if (t->state != AIOC__DONE) {
        /* abandoned at shutdown (stuck): unlink what can be unlinked */
        aioc__timer_disarm(&loop->timers, &t->timer);
        aioc__scopes_unwind(loop, t);
        aioc__list_remove(&t->link);
        loop->live_tasks--;
    }
    if (t->stack.lo) {
        aioc__stack_put(loop, &t->stack);
        t->stack.lo = NULL;
    }
    aioc__handle_free(&loop->handles, t->id);
    if (t->flags & AIOC__F_NAME_OWNED)
        free(t->name);
    aioc__slab_free(&loop->tasks, t);
}

/* ----------------------------------------------------- public calls -- */

int aioc_await(aioc_task h, void **result) {
    if (result)
        *result = NULL;
    if (h.id & AIOC__ERROR_HANDLE)
        return aioc_task_error(h);
    aioc__loop *loop;
    int err;
    aioc__task *self = aioc__running(&loop, &err);
    if (!self)
        return err;
    aioc__task *t = aioc__task_from_handle(loop, h);
    if (!t)
        return aioc__task_handle_error(loop, h);
    if (t->flags & (AIOC__F_DETACHED | AIOC__F_GROUPED))
        return AIOC_ESTALE;
    if (t == self)
        return -EDEADLK;
    if (t->watch_kind != AIOC__WATCH_NONE)
        return AIOC_EAWAITED;
    if (t->state != AIOC__DONE) {
        if ((err = aioc__interruption(self)))
            return err;
        t->watch_kind = AIOC__WATCH_AWAIT;
        t->watcher = self;
        int wake = aioc__park(loop, AIOC__WAIT_TASK, t);
        t->watch_kind = AIOC__WATCH_NONE;
        t->watcher = NULL;
        if (wake == AIOC__INTERRUPTED)
            return aioc__interrupted_error(self);
    }
    int status = t->status;
    if (result)
        *result = t->result;
    aioc__task_release(loop, t);
    return status;
}

int aioc_detach(aioc_task h) {
    aioc__loop *loop = aioc__loop_get();
    aioc__task *t = aioc__task_from_handle(loop, h);
    if (!t)
        return aioc__task_handle_error(loop, h);
    if (t->flags & (AIOC__F_DETACHED | AIOC__F_GROUPED))
        return AIOC_ESTALE;
    if (t->watch_kind != AIOC__WATCH_NONE)
        return AIOC_EAWAITED;
    t->flags |= AIOC__F_DETACHED;
    if (t->state == AIOC__DONE && loop->finished != t) {
        aioc__task_report_failure(loop, t);
        aioc__task_release(loop, t);
    }
    return 0;
}

int aioc_cancel(aioc_task h) {
    aioc__loop *loop = aioc__loop_get();
    aioc__task *t = aioc__task_from_handle(loop, h);
    if (!t)
        return aioc__task_handle_error(loop, h);
    if (t->state == AIOC__DONE)
        return 0;
    t->cancels++;
    aioc__interrupt(loop, t);
    return 0;
}

int aioc_cancelling(void) {
    aioc__loop *loop = aioc__loop_get();
    return loop && loop->current ? (int)loop->current->cancels : 0;
}

int aioc_uncancel(void) {
    aioc__loop *loop = aioc__loop_get();
    if (!loop || !loop->current)
        return 0;
    if (loop->current->cancels)
        loop->current->cancels--;
    return (int)loop->current->cancels;
}

aioc_task aioc_current(void) {
    aioc__loop *loop = aioc__loop_get();
    return (aioc_task){loop && loop->current ? loop->current->id : 0};
}

const char *aioc__task_display_name(const aioc__task *t, char *buf, size_t n) {
    if (t->name)
        snprintf(buf, n, "%s", t->name);
    else
        snprintf(buf, n, "task-%u", (uint32_t)t->id);
    return buf;
}

const char *aioc_task_name(aioc_task h) {
    aioc__task *t = aioc__task_from_handle(aioc__loop_get(), h);
    return t ? (t->name ? t->name : "") : NULL;
}

int aioc_task_done(aioc_task h) {
    if (h.id & AIOC__ERROR_HANDLE)
        return 1;
    aioc__task *t = aioc__task_from_handle(aioc__loop_get(), h);
    return t && t->state == AIOC__DONE;
}

void *aioc_fail(int err) {
    aioc__loop *loop = aioc__loop_get();
    if (loop && loop->current) {
        aioc__task *t = loop->current;
        if (err < 0) {
            t->status = err;
            t->flags |= AIOC__F_FAILED;
        } else {
            t->status = 0;
            t->flags &= (uint8_t)~AIOC__F_FAILED;
        }
    }
    return NULL;
}

int aioc_set_failure_handler(aioc_failure_handler fn, void *data) {
    aioc__loop *loop = aioc__loop_get();
    if (!loop)
        return AIOC_ENOLOOP;
    loop->on_failure = fn;
    loop->on_failure_data = data;
    return 0;
}

/* ------------------------------------------------------ task-local -- */

/* A list of (key, value) pairs: a task's locals, or a loop's. */
int aioc__locals_set(aioc__local **list, aioc_local_key *key, void *value) {
    for (aioc__local *l = *list; l; l = l->next) {
        if (l->key == key) {
            l->value = value;
            return 0;
        }
    }
    aioc__local *l = malloc(sizeof *l);
    if (!l)
        return -ENOMEM;
    *l = (aioc__local){.next = *list, .key = key, .value = value};
    *list = l;
    return 0;
}

void *aioc__locals_get(aioc__local *list, const aioc_local_key *key) {
    for (aioc__local *l = list; l; l = l->next)
        if (l->key == key)
            return l->value;
    return NULL;
}

/* Runs the destructors and frees the list. */
void aioc__locals_destroy(aioc__local **list) {
    while (*list) {
        aioc__local *l = *list;
        *list = l->next;
        if (l->key->destructor && l->value)
            l->key->destructor(l->value);
        free(l);
    }
}

int aioc_local_set(aioc_local_key *key, void *value) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    return t ? aioc__locals_set(&t->locals, key, value) : err;
}

int aioc__local_set_for(aioc_task task, aioc_local_key *key, void *value) {
    aioc__loop *loop = aioc__loop_get();
    aioc__task *t = loop ? aioc__task_from_handle(loop, task) : NULL;
    return t ? aioc__locals_set(&t->locals, key, value) : aioc__task_handle_error(loop, task);
}

void *aioc_local_get(const aioc_local_key *key) {
    aioc__loop *loop = aioc__loop_get();
    return loop && loop->current ? aioc__locals_get(loop->current->locals, key) : NULL;
}

/* --------------------------------------------------- sleep, yield -- */

uint64_t aioc__seconds_to_ns(double seconds) {
    if (!(seconds > 0))
        return 0;
    if (seconds >= 1.8e10) /* ~570 years: "never" */
        return UINT64_MAX / 2;
    return (uint64_t)(seconds * 1e9);
}

static int sleep_until_ns(aioc__loop *loop, aioc__task *t, uint64_t ns) {
    int err = aioc__interruption(t);
    if (err)
        return err;
    if ((err = aioc__timer_arm(&loop->timers, &t->timer, ns)))
        return err;
    if (aioc__park(loop, AIOC__WAIT_SLEEP, NULL) == AIOC__INTERRUPTED) {
        aioc__timer_disarm(&loop->timers, &t->timer);
        return aioc__interrupted_error(t);
    }
    return 0;
}

int aioc_sleep_until(double when) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    return t ? sleep_until_ns(loop, t, aioc__seconds_to_ns(when)) : err;
}

int aioc_sleep(double seconds) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    if (!t)
        return err;
    if (!(seconds > 0))
        return aioc_yield();
    aioc__clock_update(loop);
    return sleep_until_ns(loop, t, loop->now + aioc__seconds_to_ns(seconds));
}

int aioc_yield(void) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__suspension_point(&loop, &err);
    return t ? aioc__yield(loop, t) : err;
}

int aioc__yield(aioc__loop *loop, aioc__task *t) {
    t->io_streak = 0;
    t->state = AIOC__READY;
    t->wait_reason = AIOC__WAIT_YIELD;
    aioc__ready_push(loop, &t->link);
    aioc__task_switch_out(loop, t);
    t->wait_reason = AIOC__WAIT_NONE;
    return aioc__interruption(t);
}
