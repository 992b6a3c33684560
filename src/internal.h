/* Declarations shared inside src/. Nothing here is public API.
 *
 * Internal names shared between files start with aioc__ and have hidden
 * visibility (the library is built with -fvisibility=hidden). */
#ifndef AIOC_INTERNAL_H
#define AIOC_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "aioc.h"
#include "arch/switch.h"
#include "list.h"
#include "sanitizer.h"

#define AIOC__NS 1000000000ULL
#define AIOC__DEFAULT_STACK (256u * 1024u)
#define AIOC__MIN_STACK (16u * 1024u)
#define AIOC__MAX_STACK (1024u * 1024u * 1024u)

typedef struct aioc__loop aioc__loop;
typedef struct aioc__task aioc__task;

/* ------------------------------------------------------------ timers -- */

/* A timer node, embedded in whatever it wakes (a sleeping task, a scope's
 * deadline, a callback). Timers with equal deadlines fire in the order they
 * were armed. */
typedef struct aioc__timer {
    uint64_t when;  /* loop clock, ns */
    uint64_t seq;   /* tie-break: arming order */
    uint32_t index; /* position in the heap; AIOC__TIMER_IDLE when unarmed */
    uint8_t kind;   /* enum aioc__timer_kind: who to tell when it fires */
} aioc__timer;

#define AIOC__TIMER_IDLE UINT32_MAX

enum aioc__timer_kind {
    AIOC__TIMER_SLEEP, /* in aioc__task: wake the task */
    AIOC__TIMER_SCOPE, /* in aioc__scope_rec: the scope expires */
    AIOC__TIMER_CALL,  /* in aioc__call_rec: queue the callback */
};

typedef struct aioc__heap_entry {
    uint64_t when;
    aioc__timer *timer;
} aioc__heap_entry;

typedef struct aioc__timer_heap {
    aioc__heap_entry *nodes; /* see timer.c for the layout */
    uint32_t len, cap;
    uint64_t seq;
} aioc__timer_heap;

void aioc__timers_init(aioc__timer_heap *h);
void aioc__timers_free(aioc__timer_heap *h);
int aioc__timer_arm(aioc__timer_heap *h, aioc__timer *t, uint64_t when);
void aioc__timer_disarm(aioc__timer_heap *h, aioc__timer *t);
static inline aioc__timer *aioc__timers_first(const aioc__timer_heap *h) {
    return h->len ? h->nodes[3].timer : NULL; /* the root sits at slot 3 */
}

/* --------------------------------------------------------------- slab -- */

typedef struct aioc__slab {
    size_t size;     /* object size, a multiple of 16 */
    char *cur, *end; /* unused part of the newest chunk */
    void *free;      /* freed objects, linked through their first word */
    void *chunks;
    size_t next_len;
} aioc__slab;

void *aioc__slab_alloc_slow(aioc__slab *s);
void aioc__slab_destroy(aioc__slab *s);

static inline void *aioc__slab_alloc(aioc__slab *s) {
    void *p = s->free;
    if (p) {
        s->free = *(void **)p;
        return p;
    }
    if ((size_t)(s->end - s->cur) >= s->size) {
        p = s->cur;
        s->cur += s->size;
        return p;
    }
    return aioc__slab_alloc_slow(s);
}

static inline void aioc__slab_free(aioc__slab *s, void *p) {
    *(void **)p = s->free;
    s->free = p;
}

/* ------------------------------------------------------------ handles -- */

/* Every object a public handle can name (task, scope, group, call) has a
 * slot in the loop's handle table. A handle is (generation << 32 | index+1);
 * freeing the object bumps the slot's generation, so a stale handle is
 * detected instead of followed. */
enum aioc__handle_type {
    AIOC__H_FREE,
    AIOC__H_TASK,
    AIOC__H_SCOPE,
    AIOC__H_GROUP,
    AIOC__H_CALL,
};

typedef struct aioc__slot {
    void *obj; /* the object, or the next free index when free */
    uint32_t gen;
    uint32_t type;
} aioc__slot;

#define AIOC__SLOTS_PER_CHUNK 4096u
#define AIOC__ERROR_HANDLE (1ULL << 63)

typedef struct aioc__handles {
    aioc__slot **chunks;
    uint32_t nchunks, used; /* slots handed out so far (high-water mark) */
    uint32_t free_head;     /* index+1 of the first free slot, 0 if none */
} aioc__handles;

uint64_t aioc__handle_new(aioc__handles *h, uint32_t type, void *obj);
void aioc__handle_free(aioc__handles *h, uint64_t id);
void aioc__handles_free(aioc__handles *h);
static inline aioc__slot *aioc__handle_slot(const aioc__handles *h, uint32_t i) {
    return &h->chunks[i / AIOC__SLOTS_PER_CHUNK][i % AIOC__SLOTS_PER_CHUNK];
}

/* The slot of a live handle, or NULL for a stale, invalid or error handle. */
static inline aioc__slot *aioc__handle_lookup(const aioc__handles *h, uint64_t id) {
    uint32_t index = (uint32_t)id;
    if (index == 0 || index > h->used || (id & AIOC__ERROR_HANDLE))
        return NULL;
    aioc__slot *s = aioc__handle_slot(h, index - 1);
    return s->gen == (uint32_t)(id >> 32) ? s : NULL;
}

static inline void *aioc__handle_get(const aioc__handles *h, uint64_t id, uint32_t type) {
    aioc__slot *s = aioc__handle_lookup(h, id);
    return s && s->type == type ? s->obj : NULL;
}

/* ------------------------------------------------------------- stacks -- */

typedef struct aioc__stack_pool aioc__stack_pool;

/* A stack: usable memory [lo, lo + size). */
typedef struct aioc__stack {
    char *lo;
    uint32_t size;
    uint8_t canary; /* no guard page: a canary word at lo is checked */
} aioc__stack;

int aioc__stack_get(aioc__loop *loop, size_t size, aioc__stack *out);
void aioc__stack_put(aioc__loop *loop, const aioc__stack *s);
void aioc__stacks_free(aioc__loop *loop);
bool aioc__stack_canary_ok(const aioc__stack *s);
int aioc__overflow_guard_start(void); /* per thread: alternate signal stack */
void aioc__overflow_guard_stop(void);
const char *aioc__stack_guard_method(void);
_Noreturn void aioc__stack_overflow_abort(const aioc__task *t);

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
    const void *wait_obj; /* what it waits on, for dumps */
    uint64_t parked_at;
    void *watcher;          /* aioc__task (AWAIT) or aioc__taskset (SET) */
    uint32_t watch_index;   /* this task's index in the watching set */
    uint8_t watch_kind;     /* enum aioc__watch_kind */
    uint8_t io_streak;      /* I/O calls done in a row without waiting */
    aioc__scope_rec *scope; /* innermost open scope */
    aioc__group_rec *group; /* owning group, if AIOC__F_GROUPED */
    aioc__list group_link;  /* in the group's children */
    aioc__local *locals;
    char *name;
    aioc__stack stack; /* lo == NULL until it first runs */
    uint32_t stack_size;
    aioc__timer timer; /* aioc_sleep */
#ifdef AIOC__ASAN
    void *asan_fake_stack; /* ASan's fake stack while switched out */
#endif
};

/* Runnable kinds: a ready-queue entry is a task or a callback, told apart
 * by the byte that follows the link in both structs. */
enum aioc__runnable_kind { AIOC__RUN_TASK, AIOC__RUN_CALL };

/* ------------------------------------------------------------- scopes -- */

struct aioc__scope_rec {
    aioc__scope_rec *outer;
    aioc__task *owner;
    uint64_t id;
    aioc__timer timer;
    uint8_t shield;
    uint8_t expired;
    uint8_t cancelled;
};

/* The error that the current task's suspending calls must return now
 * (-ECANCELED, -ETIMEDOUT), or 0. */
int aioc__interruption_slow(const aioc__task *t);
static inline int aioc__interruption(const aioc__task *t) {
    return t->cancels || t->scope ? aioc__interruption_slow(t) : 0;
}
void aioc__scope_expire(aioc__loop *loop, aioc__scope_rec *s);
void aioc__scopes_unwind(aioc__loop *loop, aioc__task *t);

/* ------------------------------------------------------------- groups -- */

struct aioc__group_rec {
    aioc__list children;
    aioc__task *owner;
    uint64_t id;
    uint32_t live;   /* children not yet ended */
    int32_t error;   /* first failure, or -ECANCELED once cancelled */
    uint8_t waiting; /* owner is parked in aioc_group_wait */
};

void aioc__group_child_done(aioc__loop *loop, aioc__task *t);

/* ---------------------------------------------------------- callbacks -- */

typedef struct aioc__call_rec {
    aioc__list link; /* ready queue while queued */
    uint8_t kind;    /* AIOC__RUN_CALL */
    uint8_t queued;
    aioc_callback fn;
    void *arg;
    uint64_t id;
    aioc__timer timer;
} aioc__call_rec;

void aioc__call_fire(aioc__loop *loop, aioc__call_rec *c);
void aioc__call_run(aioc__loop *loop, aioc__call_rec *c);
void aioc__call_drop(aioc__loop *loop, aioc__call_rec *c);

/* ------------------------------------------------------------ backend -- */

/* An I/O backend. One file each; the loop picks one when it starts. */
typedef struct aioc__backend {
    const char *name;
    int (*init)(aioc__loop *loop);
    void (*close)(aioc__loop *loop);
    /* Waits up to timeout_ns (-1: forever) and handles what became ready.
     * Returns the number of events handled, or a negative errno. */
    int (*poll)(aioc__loop *loop, int64_t timeout_ns);
    /* Makes a poll in progress (or the next one) return; any thread. */
    void (*wakeup)(aioc__loop *loop);
    /* Registers `fd` for its lifetime, both directions, edge-triggered;
     * its events go to aioc__fd_ready. del undoes it. */
    int (*add)(aioc__loop *loop, int fd);
    void (*del)(aioc__loop *loop, int fd);
} aioc__backend;

/* src/io.c: per-descriptor waiters */
typedef struct aioc__fd aioc__fd;
void aioc__fd_ready(aioc__loop *loop, int fd, uint32_t events);
void aioc__fds_free(aioc__loop *loop);
/* Whether a read on `fd` would wait for an event (a short read emptied it;
 * see io.c): aioc_wait_readable_after_eagain is then the wait. */
bool aioc__fd_drained(int fd);
/* src/stream.c: frees the loop's spare stream buffers */
void aioc__stream_chunks_free(aioc__loop *loop);

extern const aioc__backend aioc__backend_epoll;

/* --------------------------------------------------------------- loop -- */

typedef struct aioc__remote_call {
    struct aioc__remote_call *next;
    aioc_callback fn;
    void *arg;
} aioc__remote_call;

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

    aioc__timer_heap timers;
    aioc__handles handles;
    aioc__stack_pool *pools;
    uint32_t npools;
    aioc__stack_pool *last_pool; /* the pool used last: the common case */
    uint32_t default_stack;
    size_t live_tasks;
    uint64_t spawned;    /* counter for default names */
    size_t fd_waiters;   /* tasks parked on file descriptors */
    aioc__fd **fdchunks; /* src/io.c's table, by descriptor number */
    size_t nfdchunks;
    uint64_t fd_registrations; /* backend adds so far (tests check reuse) */

    aioc__task *main;
    aioc_failure_handler on_failure;
    void *on_failure_data;

    /* free lists, so the hot path does not allocate */
    aioc__slab tasks;
    aioc__slab scopes;
    aioc__slab calls;

    const aioc__backend *backend;
    int epfd;
    int wakefd;

    aioc_loop *handle;               /* what other threads see: src/remote.c */
    size_t external_waits;           /* tasks waiting on other threads (futures) */
    bool sigint;                     /* this loop handles SIGINT (src/signal.c) */
    aioc__list leftovers;            /* aioc__leftover records, released at the end */
    struct aioc__local *loop_locals; /* aioc_loop_local_set's values */
    void *chunks;                    /* spare stream buffers (src/stream.c) */
    unsigned nchunks;
    aioc__list before_poll; /* aioc__deferred records due this turn */
};

/* initial-exec: a plain %fs-relative load, not a __tls_get_addr call, on
 * every suspending call */
extern _Thread_local aioc__loop *aioc__loop_tls __attribute__((tls_model("initial-exec")));

static inline aioc__loop *aioc__loop_get(void) { return aioc__loop_tls; }

void aioc__clock_update(aioc__loop *loop);
uint64_t aioc__seconds_to_ns(double seconds); /* clamps: <=0 -> 0, huge -> never */

/* src/remote.c: the thread-facing part of a loop */
aioc_loop *aioc__remote_open(aioc__loop *loop);
bool aioc__remote_pending(aioc_loop *h);
bool aioc__remote_referenced(aioc_loop *h);
bool aioc__remote_prepare_sleep(aioc_loop *h);
void aioc__remote_awake(aioc_loop *h);
size_t aioc__remote_run(aioc_loop *h);
void aioc__remote_close(aioc_loop *h);

/* src/signal.c */
int aioc__signals_start(aioc__loop *loop, const aioc_run_opts *opts);
bool aioc__sigint_pending(aioc__loop *loop);
void aioc__signals_stop(aioc__loop *loop, bool interrupted);

/* src/thread.c: a loop starts (applies opts->threads) and ends; when the
 * last running loop ends, the pools' idle threads end and are joined */
void aioc__pools_enter(const aioc_run_opts *opts);
void aioc__pools_leave(void);
/* src/net.c: Happy Eyeballs over a resolved list (tests use it directly) */
struct addrinfo;
int aioc__connect_any(struct addrinfo *res);
/* A Unix socket address from a path, or "@name" in the abstract namespace:
 * 0, -EINVAL or -ENAMETOOLONG (src/net.c) */
struct sockaddr_un;
int aioc__unix_address(const char *path, struct sockaddr_un *addr, unsigned *len);
/* aioc_to_thread_with on the resolver pool (src/net.c) */
int aioc__resolve_on_pool(aioc_fn fn, void *arg, void **result, aioc_cleanup cleanup);

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

/* Checks the calling context: the running task, or NULL with *err set. */
aioc__task *aioc__running(aioc__loop **loopp, int *err);

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
    t->parked_at = loop->now;
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
}

int aioc__interrupted_error(const aioc__task *t);

/* Waiting on a primitive's FIFO list of tasks (linked through t->link):
 * parks the running task at the back of `waiters` and returns the waker's
 * value (0 or a negative error) or, if interrupted, the interruption's
 * error; the task is off the list either way. */
static inline int aioc__wait_on(aioc__loop *loop, aioc__task *t, aioc__list *waiters,
                                const void *obj) {
    int err = aioc__interruption(t);
    if (err)
        return err;
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
