/* The scheduler: the loop and task structs, the ready queue, and how a
 * task parks and is woken (park / wake / wait_on). Every module that
 * suspends includes it; each module's own declarations are in a header of
 * its own (timer.h, scope.h, io.h, ...), or at the top of its .c file when
 * no other file needs them. Nothing here is public API.
 *
 * Internal names shared between files start with aioc__ and have hidden
 * visibility (the library is built with -fvisibility=hidden). */
#ifndef AIOC_SCHEDULER_H
#define AIOC_SCHEDULER_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aioc.h"
#include "arch/switch.h"
#include "handle.h"
#include "list.h"
#include "sanitizer.h"
#include "slab.h"
#include "stack.h"
#include "timer.h"
#include "trace.h"

#define AIOC__NS 1000000000ULL

typedef struct aioc__loop aioc__loop;
typedef struct aioc__task aioc__task;

/* -------------------------------------------------------------- tasks -- */

enum aioc__task_state {
    AIOC__NEW,   /* spawned, queued, never run */
    AIOC__READY, /* queued to run */
    AIOC__RUNNING,
    AIOC__PARKED,
    AIOC__DONE,
};

/* Why a parked task waits; shown by aioc_dump_tasks. */
enum aioc__wait_reason {
    AIOC__WAIT_NONE,
    AIOC__WAIT_YIELD,
    AIOC__WAIT_SLEEP,
    AIOC__WAIT_TASK,
    AIOC__WAIT_TASKS,
    AIOC__WAIT_GROUP,
    AIOC__WAIT_SCOPE,
    AIOC__WAIT_FD,
    AIOC__WAIT_PRIMITIVE,
    AIOC__WAIT_THREAD,
};

/* How a parked task was woken. */
enum aioc__wake {
    AIOC__WOKEN = 0,       /* what it waited for happened */
    AIOC__INTERRUPTED = 1, /* a cancel or a scope expiry: recheck */
};

enum aioc__task_flags {
    AIOC__F_DETACHED = 1u << 0,
    AIOC__F_AWAITED = 1u << 1, /* an aioc_await is in progress */
    AIOC__F_FAILED = 1u << 2,  /* aioc_fail was called */
    AIOC__F_GROUPED = 1u << 3, /* owned by a group */
    AIOC__F_NAME_OWNED = 1u << 4,
};

typedef struct aioc__local {
    struct aioc__local *next;
    aioc_local_key *key;
    void *value;
} aioc__local;

typedef struct aioc__scope_rec aioc__scope_rec;
typedef struct aioc__group_rec aioc__group_rec;

/* Who is told when a task ends: nobody, one task inside aioc_await, or a
 * task set (gather, wait, completion iterator). A task has one watcher at
 * a time; a second gets AIOC_EAWAITED. */
enum aioc__watch_kind { AIOC__WATCH_NONE, AIOC__WATCH_AWAIT, AIOC__WATCH_SET };

struct aioc__task {
    aioc__ctx ctx;   /* saved context while not running */
    aioc__list link; /* ready queue or one wait list, never both */
    uint8_t kind;    /* AIOC__RUN_TASK: see aioc__runnable_kind */
    uint8_t state;
    uint8_t wait_reason;
    uint8_t flags;
    int32_t status;   /* final status once DONE; aioc_fail's error before */
    int32_t wake;     /* enum aioc__wake, set by whoever queued it */
    uint32_t cancels; /* pending cancel requests */
    uint64_t id;      /* this task's handle */
    union {
        aioc_fn fn;          /* before it runs */
        uintptr_t wait_data; /* while parked: what a waker hands over (an
                                item, a barrier index) */
        void *result;        /* once DONE */
    };
    void *arg;
    const void *wait_obj;   /* what it waits on, for dumps */
    void *watcher;          /* aioc__task (AWAIT) or aioc__taskset (SET) */
    uint32_t watch_index;   /* this task's index in the watching set */
    uint32_t parked_at;     /* loop clock when it parked, in aioc__clock_ms units */
    uint8_t watch_kind;     /* enum aioc__watch_kind */
    uint8_t io_streak;      /* I/O calls done in a row without waiting */
    uint8_t wait_primitive; /* AIOC__WAIT_PRIMITIVE: which (aioc_primitive) */
    /* Loop clock at spawn in aioc__clock_ms units: the age of a task
     * younger than 52 days. */
    uint32_t created_at;
    aioc__scope_rec *scope; /* innermost open scope */
    aioc__group_rec *group; /* owning group, if AIOC__F_GROUPED */
    aioc__list group_link;  /* in the group's children */
    aioc__local *locals;
    char *name;
    const aioc_spawn_site *spawn_site; /* where aioc_spawn was called, or NULL */
    /* lo == NULL until it first runs; size is then the size asked for */
    aioc__stack stack;
    aioc__timer timer; /* aioc_sleep */
#ifdef AIOC__ASAN
    void *asan_fake_stack; /* ASan's fake stack while switched out */
#endif
};

/* Three cache lines: a million tasks notice every 16 bytes more (spawning
 * measured 7 % slower at 208). Debug mode keeps more per task outside it:
 * aioc__task_extra. (ASan's fake stack pointer and a ucontext_t, the
 * portable switch's saved context, make it larger there.) */
#if UINTPTR_MAX == UINT64_MAX && !defined(AIOC__ASAN) && !defined(AIOC_SWITCH_UCONTEXT)
_Static_assert(sizeof(struct aioc__task) == 192, "struct aioc__task outgrew three cache lines");
#endif

/* The loop clock in units of 2^20 ns (~1.05 ms), modulo 2^32: how the task
 * keeps times only reports read (its spawn, its last park) in 4 bytes. */
static inline uint32_t aioc__clock_ms(uint64_t ns) { return (uint32_t)(ns >> 20); }

/* Runnable kinds: a ready-queue entry is a task or a callback (call.h),
 * told apart by the byte that follows the link in both structs. */
enum aioc__runnable_kind { AIOC__RUN_TASK, AIOC__RUN_CALL };

/* Checks, at compile time, that `type` can sit in the ready queue: a
 * `link`, then at once the one-byte `kind`. */
#define AIOC__RUNNABLE(type)                                                                       \
    _Static_assert(offsetof(type, kind) == offsetof(type, link) + sizeof(aioc__list) &&            \
                       sizeof(((type *)0)->kind) == 1,                                             \
                   #type ": the kind byte must follow the link (aioc__runnable_kind)")

AIOC__RUNNABLE(aioc__task);

/* The kind (enum aioc__runnable_kind) of the runnable whose link is `n`. */
static inline uint8_t aioc__runnable_kind_of(const aioc__list *n) {
    return *(const uint8_t *)(n + 1);
}

/* The error that the task's suspending calls must return now (-ECANCELED,
 * -ETIMEDOUT: a cancel, or a scope of scope.h), or 0. */
int aioc__interruption_slow(const aioc__task *t);
static inline int aioc__interruption(const aioc__task *t) {
    return t->cancels || t->scope ? aioc__interruption_slow(t) : 0;
}

/* --------------------------------------------------------------- loop -- */

/* Tasks and callbacks run back to back before the loop polls for I/O and
 * timers although more are ready (Tokio uses 61 for the same purpose). */
#define AIOC__POLL_EVERY 128

struct aioc__loop {
    aioc__list ready;           /* runnable tasks and callbacks, FIFO */
    unsigned since_poll;        /* runnables started since the last poll */
    aioc__task *current;        /* running task; NULL in the scheduler */
    aioc__ctx sched_ctx;        /* the scheduler's own context */
    const void *sched_stack_lo; /* scheduler's stack, for ASan's fiber API */
    size_t sched_stack_size;
    aioc__task *finished;   /* ended task whose stack awaits release */
    aioc__task *overflowed; /* task whose stack canary was found broken */

    uint64_t now;          /* cached clock, ns */
    uint64_t clock_offset; /* virtual time: jumps added so far */
    bool virtual_time;
    bool shuffle; /* seeded run: perturb the ready order */
    uint64_t rng; /* its xorshift64 state */
    bool shutting_down;
    bool deadlocked;
    bool interrupted; /* main was cancelled by Ctrl-C */
    bool debug;       /* debug mode (src/debug_mode.h) */
    /* Debug mode, the timeline or the watchdog is on: the one flag the
     * switch paths test (src/task.c, switch_hooks); set once the loop has
     * started them. */
    bool hooks;

    aioc__timer_heap timers;
    aioc__handles handles;
    aioc__stack_pool *pools;
    uint32_t npools;
    aioc__stack_pool *last_pool; /* the pool used last: the common case */
    uint32_t default_stack;
    size_t live_tasks;
    uint64_t spawned;           /* counter for default names */
    size_t fd_waiters;          /* tasks parked on file descriptors */
    struct aioc__fd **fdchunks; /* src/io.c's table, by descriptor number */
    size_t nfdchunks;
    uint64_t fd_registrations; /* backend adds so far (tests check reuse) */

    aioc__task *main;
    aioc_failure_handler on_failure;
    void *on_failure_data;

    /* free lists, so the hot path does not allocate */
    aioc__slab tasks;
    aioc__slab scopes;
    aioc__slab calls;

    const struct aioc__backend *backend; /* the poller: src/backend/backend.h */
    void *backend_data;                  /* its own state, opaque to the loop */

    aioc_loop *handle;               /* what other threads see: src/remote.c */
    size_t external_waits;           /* tasks waiting on other threads (futures) */
    bool sigint;                     /* this loop handles SIGINT (src/signal.c) */
    aioc__list leftovers;            /* aioc__leftover records, released at the end */
    struct aioc__local *loop_locals; /* aioc_loop_local_set's values */
    aioc__spares spare_buffers;      /* I/O buffers for reuse (streams) */
    aioc__list before_poll;          /* aioc__deferred records due this turn */
    aioc__trace *trace;              /* AIOC_TRACE's recorder, or NULL */
    struct aioc__run *run;           /* the run of several loops, or NULL (src/loops.c) */
    unsigned run_index;              /* this loop's index in it */
    bool run_sleeping;               /* marked stuck in the run: aioc__loops_awake after polling */

    /* inspection (src/inspect.c): counters kept always, plain increments */
    uint64_t steps;                  /* runnables started before this turn's since_poll */
    uint64_t polls;                  /* backend polls */
    uint64_t step_start;             /* debug mode: when the running step began */
    bool step_tsc;                   /* steps timed with the CPU's counter, not ns */
    uint64_t tick0, ns0;             /* the counter and the clock at the loop's start */
    struct aioc__task_extra *extras; /* debug mode: by handle index */
    uint32_t nextras;
    unsigned dump_slot;       /* 1 + its index among the loops that dump on a
                                 signal (src/dump_signal.c); 0: none */
    unsigned dump_generation; /* the dump requests seen so far */
};

/* Runs `call`, a hook of src/trace.c, only while the loop is traced: one
 * load and a branch not taken otherwise. */
#define AIOC__TRACE(loop, call)                                                                    \
    do {                                                                                           \
        if (__builtin_expect((loop)->trace != NULL, 0))                                            \
            call;                                                                                  \
    } while (0)

/* initial-exec: a plain %fs-relative load, not a __tls_get_addr call, on
 * every suspending call */
extern _Thread_local aioc__loop *aioc__loop_tls __attribute__((tls_model("initial-exec")));

static inline aioc__loop *aioc__loop_get(void) { return aioc__loop_tls; }

void aioc__clock_update(aioc__loop *loop);
uint64_t aioc__monotonic_ns(void);            /* CLOCK_MONOTONIC */
uint64_t aioc__seconds_to_ns(double seconds); /* clamps: <=0 -> 0, huge -> never */

/* Something a program may leave open when its main task returns (a server,
 * a child process): once every task has ended, aioc_run calls release() on
 * each still registered, so nothing leaks. Embedded in the resource;
 * unregister it when the resource is closed normally. */
typedef struct aioc__leftover {
    aioc__list link;
    void (*release)(struct aioc__leftover *self);
} aioc__leftover;

void aioc__leftover_add(aioc__loop *loop, aioc__leftover *l, void (*release)(aioc__leftover *));
static inline void aioc__leftover_remove(aioc__leftover *l) { aioc__list_remove(&l->link); }

/* Work that waits until the loop has run its ready tasks and is about to
 * poll: a stream's writes of this turn, sent together (src/stream.c).
 * Embedded in its owner; queued at most once per turn. `run` is called in
 * the scheduler, not in a task: it must not suspend. Initialise the link
 * with aioc__list_init; aioc__deferred_cancel before the owner is freed. */
typedef struct aioc__deferred {
    aioc__list link; /* points at itself while not queued */
    void (*run)(struct aioc__deferred *self);
} aioc__deferred;

static inline bool aioc__deferred_queued(const aioc__deferred *d) {
    return d->link.next != &d->link;
}
static inline void aioc__defer(aioc__loop *loop, aioc__deferred *d) {
    if (!aioc__deferred_queued(d))
        aioc__list_push_back(&loop->before_poll, &d->link);
}
static inline void aioc__deferred_cancel(aioc__deferred *d) { aioc__list_remove(&d->link); }

void aioc__ready_push_shuffled(aioc__loop *loop, aioc__list *link);

/* What debug mode keeps per task, outside the task struct (which it would
 * make larger for every program): in an array indexed by the task's handle
 * index, each entry valid while its id is the task's (a slot's next task
 * has another id). Filled at spawn (aioc__debug_spawned, src/inspect.c). */
typedef struct aioc__task_extra {
    uint64_t id;        /* the task this entry describes */
    uint64_t parent;    /* the id of the task that spawned it; 0: none */
    uint64_t run_ticks; /* time inside its steps (aioc__step_ticks) */
} aioc__task_extra;

/* The task's entry, or NULL (debug mode was off at its spawn, or there was
 * no memory for the entry). */
static inline aioc__task_extra *aioc__task_extra_of(const aioc__loop *loop, const aioc__task *t) {
    uint32_t i = (uint32_t)t->id - 1;
    return i < loop->nextras && loop->extras[i].id == t->id ? &loop->extras[i] : NULL;
}

/* Debug mode: records the new task `t` (parent, zero run time). */
void aioc__debug_spawned(aioc__loop *loop, aioc__task *t);

/* A task's step is the stretch it runs between two switches. The hook pair
 * below is called at the switches (src/task.c, behind loop->hooks): in
 * debug mode it adds each step's duration to the task's run time, read
 * from the CPU's counter where the kernel trusts it (aioc__step_ticks).
 * One reading serves at a hand-off from task to task: the
 * end of one step is the start of the next, so aioc__step_begin is called
 * only where the scheduler resumes a task. The loop counts steps without
 * these hooks, from since_poll at each poll (loop->steps). */
static inline uint64_t aioc__step_ticks(const aioc__loop *loop) {
#if defined(__x86_64__)
    if (loop->step_tsc)
        return __builtin_ia32_rdtsc();
#elif defined(__aarch64__)
    if (loop->step_tsc) {
        uint64_t v;
        __asm__ volatile("mrs %0, cntvct_el0" : "=r"(v));
        return v;
    }
#endif
    return aioc__monotonic_ns();
}
static inline void aioc__step_begin(aioc__loop *loop, aioc__task *t) {
    (void)t;
    if (__builtin_expect(loop->debug, 0))
        loop->step_start = aioc__step_ticks(loop);
}
static inline void aioc__step_end(aioc__loop *loop, aioc__task *t) {
    if (__builtin_expect(loop->debug, 0)) {
        uint64_t now = aioc__step_ticks(loop);
        aioc__task_extra *x = aioc__task_extra_of(loop, t);
        if (x)
            x->run_ticks += now - loop->step_start;
        loop->step_start = now; /* the next task's step starts here */
    }
}

/* Queues a runnable (task or callback) at the back of the ready queue; or,
 * in a seeded run, a few places further ahead (aioc_run_opts.seed). */
static inline void aioc__ready_push(aioc__loop *loop, aioc__list *link) {
    if (loop->shuffle)
        aioc__ready_push_shuffled(loop, link);
    else
        aioc__list_push_back(&loop->ready, link);
}

/* A zeroed list head (from an AIOC_*_INIT macro) is an empty list. */
static inline aioc__list *aioc__lazy_list(aioc__list *l) {
    if (!l->next)
        aioc__list_init(l);
    return l;
}

/* Wakes `t` with AIOC__INTERRUPTED if it is parked at a point where an
 * interruption is now due. */
void aioc__interrupt(aioc__loop *loop, aioc__task *t);

/* Switches away from the running task (park, yield): straight to the next
 * ready task when it can, else back to the scheduler. */
void aioc__task_switch_out(aioc__loop *loop, aioc__task *t);
/* Runs `t` from the scheduler until control comes back to the scheduler. */
void aioc__task_resume(aioc__loop *loop, aioc__task *t);

aioc__task *aioc__task_from_handle(aioc__loop *loop, aioc_task h);
/* The error for a handle `h` that names no task of `loop` (may be NULL):
 * -EXDEV for another loop's handle (debug mode also reports it), else
 * AIOC_ESTALE. */
int aioc__task_handle_error(aioc__loop *loop, aioc_task h);
/* aioc_local_set for another task of this loop: its destructor runs when
 * that task ends, even if it never got to run (cancelled before starting).
 * 0, AIOC_ESTALE or -ENOMEM. */
int aioc__local_set_for(aioc_task task, aioc_local_key *key, void *value);
/* (key, value) lists, for task and loop locals (src/task.c) */
int aioc__locals_set(aioc__local **list, aioc_local_key *key, void *value);
void *aioc__locals_get(aioc__local *list, const aioc_local_key *key);
void aioc__locals_destroy(aioc__local **list);
aioc__task *aioc__task_spawn(aioc__loop *loop, aioc_fn fn, void *arg, const aioc_spawn_opts *opts,
                             int *err);
void aioc__task_release(aioc__loop *loop, aioc__task *t);
void aioc__task_report_failure(aioc__loop *loop, aioc__task *t);
const char *aioc__task_display_name(const aioc__task *t, char *buf, size_t n);

/* Checks the calling context: the running task, or NULL with *err set.
 * Inline: every suspending call starts here, and the call's out-parameters
 * through memory cost a hand-off more than the check itself. */
static inline aioc__task *aioc__running(aioc__loop **loopp, int *err) {
    aioc__loop *loop = aioc__loop_get();
    *loopp = loop;
    aioc__task *t = loop ? loop->current : NULL;
    if (!t)
        *err = AIOC_ENOTASK;
    return t;
}

/* The prologue of a suspending call: the running task, or NULL with *err
 * set to AIOC_ENOTASK or to the interruption already due (level-triggered
 * cancellation: a cancelled task's calls fail before they wait). */
static inline aioc__task *aioc__suspension_point(aioc__loop **loopp, int *err) {
    aioc__task *t = aioc__running(loopp, err);
    if (t && (*err = aioc__interruption(t)))
        return NULL;
    return t;
}

/* Yields the running task `t` (aioc_yield without the checks). */
int aioc__yield(aioc__loop *loop, aioc__task *t);

/* I/O calls a task may complete in a row without waiting before it yields
 * anyway: a reader whose socket always has data (or a writer whose socket
 * always has room) must not keep the loop from other tasks, timers and
 * polling. Tokio budgets the same way (128). */
#define AIOC__IO_BUDGET 64

/* Counts one I/O call that may complete at once; past the budget, yields
 * first, with a poll due (so timers and other descriptors get their turn,
 * not just the tasks already ready). Returns 0, or the interruption that
 * came while yielding. */
static inline int aioc__io_budget(aioc__loop *loop, aioc__task *t) {
    if (++t->io_streak <= AIOC__IO_BUDGET)
        return 0;
    loop->steps -= AIOC__POLL_EVERY - loop->since_poll; /* not started, only due */
    loop->since_poll = AIOC__POLL_EVERY;
    return aioc__yield(loop, t);
}

/* The park/wake helpers below are inline on purpose: after a switch, every
 * `ret` on the way back out of the switch mispredicts (the return-stack
 * buffer holds the other task's frames), so each call level between a
 * public call and the switch costs a few ns per hand-off. */

/* Parks the running task until aioc__wake. Records `reason`/`obj` for
 * dumps. Returns AIOC__WOKEN, AIOC__INTERRUPTED, or the waker's negative
 * value. The caller must already have linked the task wherever its waker
 * will find it; an interrupter unlinks it (aioc__interrupt). */
static inline int aioc__park(aioc__loop *loop, int reason, const void *obj) {
    aioc__task *t = loop->current;
    t->state = AIOC__PARKED;
    t->wait_reason = (uint8_t)reason;
    t->wait_obj = obj;
    t->parked_at = aioc__clock_ms(loop->now);
    aioc__task_switch_out(loop, t);
    t->wait_reason = AIOC__WAIT_NONE;
    t->wait_obj = NULL;
    return t->wake;
}

/* Queues a parked task with the given wake value (AIOC__WOKEN, or a
 * negative error for the parker to return); does nothing unless it is
 * parked. */
static inline void aioc__wake(aioc__loop *loop, aioc__task *t, int wake) {
    if (t->state != AIOC__PARKED)
        return;
    t->state = AIOC__READY;
    t->wake = wake;
    aioc__ready_push(loop, &t->link);
    AIOC__TRACE(loop, aioc__trace_wake(loop, t));
}

int aioc__interrupted_error(const aioc__task *t);

/* Waiting on a primitive's FIFO list of tasks (linked through t->link):
 * parks the running task at the back of `waiters` (`obj` of kind `kind`,
 * for dumps) and returns the waker's
 * value (0 or a negative error) or, if interrupted, the interruption's
 * error; the task is off the list either way. */
static inline int aioc__wait_on(aioc__loop *loop, aioc__task *t, aioc__list *waiters,
                                const void *obj, aioc_primitive kind) {
    int err = aioc__interruption(t);
    if (err)
        return err;
    t->wait_primitive = (uint8_t)kind; /* for dumps: what `obj` is */
    aioc__list_push_back(waiters, &t->link);
    int wake = aioc__park(loop, AIOC__WAIT_PRIMITIVE, obj);
    return wake == AIOC__INTERRUPTED ? aioc__interrupted_error(t) : wake;
}

/* Wakes the first waiter with `value`; returns it, or NULL if none. */
static inline aioc__task *aioc__wake_first(aioc__loop *loop, aioc__list *waiters, int value) {
    aioc__list *n = aioc__list_pop_front(waiters);
    if (!n)
        return NULL;
    aioc__task *t = aioc__container_of(n, aioc__task, link);
    aioc__wake(loop, t, value);
    return t;
}

/* Wakes every waiter with `value`; returns how many. */
static inline int aioc__wake_all(aioc__loop *loop, aioc__list *waiters, int value) {
    int n = 0;
    while (aioc__wake_first(loop, waiters, value))
        n++;
    return n;
}

#endif
