/* The event loop: one per thread, started by aioc_run.
 *
 * Ready tasks and callbacks run in FIFO order; after AIOC__POLL_EVERY of
 * them (or when none is left) the loop polls the backend and fires expired
 * timers, so a task that yields in a loop cannot starve I/O. Polling after
 * every task would cost a system call and a clock read per hand-off, more
 * than the hand-off itself. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "call.h"
#include "debug_mode.h"
#include "dump_signal.h"
#include "group.h"
#include "inspect_socket.h"
#include "io.h"
#include "loops.h"
#include "remote.h"
#include "scheduler.h"
#include "scope.h"
#include "signals.h"
#include "thread.h"
#include "watchdog.h"

_Thread_local aioc__loop *aioc__loop_tls __attribute__((tls_model("initial-exec")));

uint64_t aioc__monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * AIOC__NS + (uint64_t)ts.tv_nsec;
}

/* The loop's clock: real time plus, under virtual time, the jumps made so
 * far. It is read at each poll; calls that start a timer also refresh it,
 * so a deadline counts from the call, except under virtual time, where it
 * stays as the last poll left it and a run's timer order is the same on a
 * slow machine as on a fast one. */
static void clock_tick(aioc__loop *loop) {
    uint64_t now = aioc__monotonic_ns() + loop->clock_offset;
    if (now > loop->now)
        loop->now = now;
}

void aioc__clock_update(aioc__loop *loop) {
    if (!loop->virtual_time)
        clock_tick(loop);
}

double aioc_now(void) {
    aioc__loop *loop = aioc__loop_get();
    return loop ? (double)loop->now / 1e9 : 0.0;
}

uint64_t aioc_now_ns(void) {
    aioc__loop *loop = aioc__loop_get();
    return loop ? loop->now : 0;
}

/* ------------------------------------------------------------ running -- */

/* A seeded run: each runnable queued moves 0-3 places ahead of where FIFO
 * order would put it, as drawn from the seed. Interleavings change from
 * seed to seed and repeat exactly for the same seed, so a test can try many
 * schedules and a failing one can be replayed. */
void aioc__ready_push_shuffled(aioc__loop *loop, aioc__list *link) {
    aioc__list_push_back(&loop->ready, link);
    uint64_t x = loop->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    loop->rng = x;
    for (unsigned hops = (unsigned)(x % 4); hops && link->prev != &loop->ready; hops--) {
        aioc__list *before = link->prev;
        aioc__list_remove(link); /* put `link` in front of `before` */
        link->prev = before->prev;
        link->next = before;
        before->prev->next = link;
        before->prev = link;
    }
}

static void fire_timers(aioc__loop *loop) {
    aioc__timer *t;
    while ((t = aioc__timers_first(&loop->timers)) && t->when <= loop->now) {
        aioc__timer_disarm(&loop->timers, t);
        switch (t->kind) {
        case AIOC__TIMER_SLEEP:
            aioc__wake(loop, aioc__container_of(t, aioc__task, timer), AIOC__WOKEN);
            break;
        case AIOC__TIMER_SCOPE:
            aioc__scope_expire(loop, aioc__container_of(t, aioc__scope_rec, timer));
            break;
        case AIOC__TIMER_CALL:
            aioc__call_fire(loop, aioc__container_of(t, aioc__call_rec, timer));
            break;
        }
    }
}

/* Runs ready tasks and callbacks in FIFO order until the poll budget is
 * spent, the queue is empty or `done`. Tasks also hand over to each other
 * directly (aioc__task_switch_out) and count against the same budget. */
static void run_ready(aioc__loop *loop, bool (*done)(aioc__loop *)) {
    AIOC__TRACE(loop, aioc__trace_turn(loop));
    aioc__list *n;
    while (loop->since_poll < AIOC__POLL_EVERY && (n = aioc__list_pop_front(&loop->ready))) {
        loop->since_poll++;
        aioc__watchdog_step_begin();
        if (aioc__runnable_kind_of(n) == AIOC__RUN_TASK)
            aioc__task_resume(loop, aioc__container_of(n, aioc__task, link));
        else
            aioc__call_run(loop, aioc__container_of(n, aioc__call_rec, link));
        aioc__watchdog_step_end();
        if (done(loop))
            return;
    }
}

/* Runs the work deferred to the end of this turn (each record once; one
 * queued again meanwhile waits for the next turn). */
static void run_deferred(aioc__loop *loop) {
    aioc__list due;
    aioc__list_init(&due);
    aioc__list_splice(&due, &loop->before_poll);
    for (aioc__list *n; (n = aioc__list_pop_front(&due));)
        aioc__container_of(n, aioc__deferred, link)
            ->run(aioc__container_of(n, aioc__deferred, link));
}

/* Nothing ready, no timer, no descriptor, no thread working for a task, no
 * call queued or possible from another thread: no task can ever be woken
 * again. */
static bool stuck(aioc__loop *loop) {
    return aioc__list_empty(&loop->ready) && loop->timers.len == 0 && loop->fd_waiters == 0 &&
           loop->external_waits == 0 && !aioc__remote_pending(loop->handle) &&
           !aioc__remote_referenced(loop->handle);
}

/* Runs turns until `done(loop)`; returns -EDEADLK if the loop got stuck
 * first. */
static int run_until(aioc__loop *loop, bool (*done)(aioc__loop *)) {
    while (!done(loop)) {
        run_ready(loop, done);
        run_deferred(loop);
        if (done(loop))
            break;
        bool busy = !aioc__list_empty(&loop->ready);
        loop->steps += loop->since_poll; /* aioc_loop_stats' steps */
        loop->since_poll = 0;
        int64_t timeout = -1;
        if (busy) {
            timeout = 0;
        } else if (loop->timers.len) {
            clock_tick(loop);
            uint64_t first = aioc__timers_first(&loop->timers)->when;
            timeout = first > loop->now ? (int64_t)(first - loop->now) : 0;
            if (timeout > 0 && loop->virtual_time && loop->fd_waiters == 0 &&
                loop->external_waits == 0 && !aioc__remote_pending(loop->handle)) {
                loop->clock_offset += (uint64_t)timeout; /* jump, don't sleep */
                loop->now = first;
                timeout = 0;
            }
        } else if (stuck(loop)) {
            /* in a run of loops, a sibling may still call in: sleep, unless
             * the run as a whole is stuck (src/loops.c) */
            if (!loop->run || aioc__loops_stuck(loop))
                return -EDEADLK;
        }
        if (timeout != 0 && !aioc__remote_prepare_sleep(loop->handle))
            timeout = 0;
        loop->backend->poll(loop, timeout);
        loop->polls++;
        if (timeout != 0)
            aioc__remote_awake(loop->handle);
        if (loop->run_sleeping && aioc__loops_awake(loop))
            return -EDEADLK;
        clock_tick(loop);
        fire_timers(loop);
        if (aioc__remote_pending(loop->handle))
            aioc__remote_run(loop->handle);
        if (loop->sigint && !loop->interrupted && aioc__sigint_pending(loop) &&
            (loop->run || (loop->main && loop->main->state != AIOC__DONE))) {
            aioc__interrupt_main(loop); /* Ctrl-C: cancel main, shut down cleanly */
            if (loop->run)
                aioc__loops_interrupt(loop); /* and every sibling's */
        }
        if (loop->dump_slot)
            aioc__dump_if_requested(loop);
    }
    return 0;
}

void aioc__interrupt_main(aioc__loop *loop) {
    loop->interrupted = true;
    if (loop->main && loop->main->state != AIOC__DONE) {
        loop->main->cancels++;
        aioc__interrupt(loop, loop->main);
    }
}

static bool main_done(aioc__loop *loop) { return loop->main->state == AIOC__DONE; }
static bool all_done(aioc__loop *loop) { return loop->live_tasks == 0; }
static bool run_over(aioc__loop *loop) { return aioc__loops_over(loop->run); }

/* Cancels every live task; returns how many there were. */
static size_t cancel_all(aioc__loop *loop) {
    size_t n = 0;
    for (uint32_t i = 0; i < loop->handles.used; i++) {
        aioc__slot *s = aioc__handle_slot(&loop->handles, i);
        if (s->type != AIOC__H_TASK)
            continue;
        aioc__task *t = s->obj;
        if (t->state == AIOC__DONE)
            continue;
        t->cancels++;
        aioc__interrupt(loop, t);
        n++;
    }
    return n;
}

/* Reports un-awaited failures and frees every task left. */
static void release_tasks(aioc__loop *loop) {
    for (uint32_t i = 0; i < loop->handles.used; i++) {
        aioc__slot *s = aioc__handle_slot(&loop->handles, i);
        if (s->type != AIOC__H_TASK)
            continue;
        aioc__task *t = s->obj;
        if (t->state == AIOC__DONE && t != loop->main && !(t->flags & AIOC__F_GROUPED))
            aioc__task_report_failure(loop, t);
        if (t != loop->main)
            aioc__task_release(loop, t);
    }
}

int aioc_loop_local_set(aioc_local_key *key, void *value) {
    aioc__loop *loop = aioc__loop_get();
    return loop ? aioc__locals_set(&loop->loop_locals, key, value) : AIOC_ENOLOOP;
}

void *aioc_loop_local_get(const aioc_local_key *key) {
    aioc__loop *loop = aioc__loop_get();
    return loop ? aioc__locals_get(loop->loop_locals, key) : NULL;
}

void aioc__leftover_add(aioc__loop *loop, aioc__leftover *l, void (*release)(aioc__leftover *)) {
    l->release = release;
    aioc__list_push_back(&loop->leftovers, &l->link);
}

/* Resources the program left open, callbacks that never ran, and groups
 * whose owner never waited. No task runs any more: nothing may suspend. */
static void release_leftovers(aioc__loop *loop) {
    for (aioc__list *n; (n = aioc__list_pop_front(&loop->leftovers));) {
        aioc__leftover *l = aioc__container_of(n, aioc__leftover, link);
        l->release(l);
    }
    aioc__locals_destroy(&loop->loop_locals);
    for (uint32_t i = 0; i < loop->handles.used; i++) {
        aioc__slot *s = aioc__handle_slot(&loop->handles, i);
        if (s->type == AIOC__H_CALL) {
            aioc__call_drop(loop, s->obj);
        } else if (s->type == AIOC__H_GROUP) {
            aioc__group_rec *g = s->obj;
            aioc__handle_free(&loop->handles, g->id);
            free(g);
        }
    }
}

static uint32_t default_stack_size(const aioc_run_opts *opts) {
    size_t size = opts ? opts->stack_size : 0;
    const char *env = getenv("AIOC_STACK_SIZE");
    if (!size && env)
        size = strtoull(env, NULL, 0);
    if (size < AIOC__MIN_STACK || size > AIOC__MAX_STACK)
        size = AIOC__DEFAULT_STACK;
    return (uint32_t)size;
}

/* The I/O backends (src/backend/), first the default. */
static const aioc__backend *const backends[] = {&aioc__backend_epoll};

/* The backend AIOC_BACKEND names (the default if unset or empty), or NULL
 * with a message. */
static const aioc__backend *backend_named(const char *name) {
    size_t n = sizeof backends / sizeof *backends;
    if (!name || !*name)
        return backends[0];
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, backends[i]->name) == 0)
            return backends[i];
    fprintf(stderr, "aioc: AIOC_BACKEND=%s: unknown backend (have:", name);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %s", backends[i]->name);
    fprintf(stderr, ")\n");
    return NULL;
}

static int loop_init(aioc__loop *loop, const aioc_run_opts *opts) {
    memset(loop, 0, sizeof *loop);
    aioc__handles_init(&loop->handles);
    aioc__list_init(&loop->ready);
    aioc__list_init(&loop->leftovers);
    aioc__list_init(&loop->before_poll);
    aioc__timers_init(&loop->timers);
    loop->tasks.size = (sizeof(aioc__task) + 15) & ~(size_t)15;
    loop->scopes.size = (sizeof(aioc__scope_rec) + 15) & ~(size_t)15;
    loop->calls.size = (sizeof(aioc__call_rec) + 15) & ~(size_t)15;
    uint64_t seed = opts ? opts->seed : 0;
    const char *seed_env = getenv("AIOC_SEED");
    if (!seed && seed_env)
        seed = strtoull(seed_env, NULL, 0);
    loop->shuffle = seed != 0;
    loop->rng = seed;
    const char *vt = getenv("AIOC_VIRTUAL_TIME");
    loop->virtual_time = (opts && opts->virtual_time) || (vt && strcmp(vt, "1") == 0);
    loop->default_stack = default_stack_size(opts);
    if (aioc__debug_requested(opts))
        aioc__debug_start(loop);
    loop->handle = aioc__remote_open(loop);
    if (!loop->handle)
        return -ENOMEM;
    loop->backend = backend_named(getenv("AIOC_BACKEND"));
    if (!loop->backend)
        return -EINVAL;
    clock_tick(loop);
    return loop->backend->init(loop);
}

static void loop_free(aioc__loop *loop) {
    if (loop->handle) {
        aioc__remote_close(loop->handle);
        loop->handle = NULL;
    }
    if (loop->backend)
        loop->backend->close(loop);
    aioc__timers_free(&loop->timers);
    aioc__fds_free(loop);
    aioc__spares_free(&loop->spare_buffers);
    aioc__stacks_free(loop);
    aioc__slab_destroy(&loop->tasks);
    aioc__slab_destroy(&loop->scopes);
    aioc__slab_destroy(&loop->calls);
    aioc__handles_free(&loop->handles);
    free(loop->extras);
}

/* One loop's whole life, in this thread: set up, run main and then every
 * task left, tear down. In a run of several loops (src/loops.c), `run` and
 * `index` place it there: it waits for its siblings to be set up before
 * main runs, and after its own tasks for them all to end. Returns main's
 * status; `*interrupted` tells whether a Ctrl-C cancelled it (the caller
 * decides what then: aioc_run_with). */
int aioc__loop_run(aioc_fn main, void *arg, void **result, const aioc_run_opts *opts,
                   struct aioc__run *run, unsigned index, bool *interrupted) {
    *interrupted = false;
    if (result)
        *result = NULL;
    aioc__loop *loop = malloc(sizeof *loop);
    int err = loop ? loop_init(loop, opts) : -ENOMEM;
    bool guarded = false, signals = false, dumps = false;
    if (!err)
        err = aioc__overflow_guard_start();
    guarded = !err;
    if (!err)
        err = aioc__signals_start(loop, opts);
    signals = !err;
    if (!err)
        err = aioc__dump_signal_start(loop, opts);
    dumps = !err;
    if (run) /* every loop set up, or none runs main */
        err = aioc__loops_join(run, index, err ? NULL : loop, err);
    if (err) {
        if (dumps)
            aioc__dump_signal_stop(loop);
        if (signals)
            aioc__signals_stop(loop, false);
        if (guarded)
            aioc__overflow_guard_stop();
        if (loop) {
            loop_free(loop);
            free(loop);
        }
        return err;
    }
    aioc__pools_enter(opts);
    aioc__loop_tls = loop;
    aioc__watchdog_start(opts);
    aioc__trace_start(loop);
    loop->hooks = loop->debug || loop->trace || aioc__watchdog_tls;

    aioc_spawn_opts mo = {.name = opts && opts->main_name ? opts->main_name : "main"};
    loop->main = aioc__task_spawn(loop, main, arg, &mo, &err);
    int status = err;
    if (loop->main) {
        aioc__inspect_socket_start(loop, opts);
        if (run_until(loop, main_done) == -EDEADLK) {
            loop->deadlocked = true;
            aioc__loops_report(loop, "deadlock: every task waits and nothing can wake one");
        }
        if (run)
            aioc__loops_main_ended(loop, loop->deadlocked ? -EDEADLK : loop->main->status);
        /* main ended (or is stuck): cancel and join everything left */
        loop->shutting_down = true;
        cancel_all(loop);
        if (run_until(loop, all_done) == -EDEADLK)
            aioc__loops_report(loop, "tasks still waiting at shutdown, abandoned:");
    } else if (run) {
        aioc__loops_main_ended(loop, status);
    }
    if (run) { /* siblings may still call in until all have ended */
        loop->shutting_down = true;
        aioc__loops_finished(loop);
        run_until(loop, run_over);
    }
    if (loop->main) {
        /* streams the program never closed: what they buffer goes out if
         * it can at once, and none stays linked to this loop */
        run_deferred(loop);
        while (aioc__list_pop_front(&loop->before_poll))
            ;
        /* calls other threads queued: run them while the tasks are still
         * there; later calls fail with -ESHUTDOWN */
        aioc__remote_close(loop->handle);
        loop->handle = NULL;
        if (loop->main->state == AIOC__DONE && !loop->deadlocked) {
            status = loop->main->status;
            if (result)
                *result = loop->main->result;
        } else {
            status = -EDEADLK;
        }
        release_tasks(loop);
        aioc__task_release(loop, loop->main);
        release_leftovers(loop);
    }
    aioc__watchdog_stop();
    aioc__trace_stop(loop);
    aioc__overflow_guard_stop();
    aioc__loop_tls = NULL;
    *interrupted = loop->interrupted;
    aioc__dump_signal_stop(loop);
    aioc__signals_stop(loop, false);
    loop_free(loop);
    free(loop);
    aioc__pools_leave();
    return status;
}
