/* Futures, the thread pool and aioc_to_thread.
 *
 * A future carries one result from any thread to one waiting task. It has
 * two references, the waiter's and the producer's, and a mutex; whichever
 * side learns that the other gave up owns the result and hands it to the
 * cleanup function, so a result is delivered or cleaned up exactly once.
 * The producer wakes the waiter by queuing a call on the waiter's loop
 * (aioc_loop_call), never by touching the loop directly.
 *
 * The pool is process-wide: a FIFO of jobs, threads started on demand up
 * to a limit and kept for reuse while a loop runs. When the last running
 * loop ends, the idle threads are told to end and are joined, so that a
 * program that has returned from aioc_run holds no thread of ours that
 * is not working (Valgrind would report their stacks as possibly lost);
 * the next loop starts threads afresh. aioc_to_thread is a job whose completion
 * is a future; aioc_to_thread_map hands many items to the pool at once
 * and is woken once, when the last is done. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scheduler.h"
#include "thread.h"

/* ------------------------------------------------------------ futures -- */

struct aioc_future {
    pthread_mutex_t lock;
    unsigned refs;
    bool done;      /* completed: result and err are set */
    bool abandoned; /* the waiter gave up */
    void *result;
    int err;
    aioc_cleanup cleanup;
    void *cleanup_arg;
    aioc__task *waiter; /* set while a task waits (its loop's thread only) */
    aioc_loop *loop;    /* the waiter's loop, referenced while it waits */
};

aioc_future *aioc_future_new(aioc_cleanup cleanup, void *arg) {
    aioc_future *f = calloc(1, sizeof *f);
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&f->lock, NULL);
    f->refs = 2;
    f->cleanup = cleanup;
    f->cleanup_arg = arg;
    return f;
}

static void future_unref(aioc_future *f) {
    pthread_mutex_lock(&f->lock);
    unsigned left = --f->refs;
    pthread_mutex_unlock(&f->lock);
    if (left)
        return;
    if (f->loop)
        aioc_loop_unref(f->loop);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* On the waiter's loop: the result is in; wake the waiter if it is still
 * there. Holds the producer's reference, dropped here. */
static void future_deliver(void *arg) {
    aioc_future *f = arg;
    pthread_mutex_lock(&f->lock);
    aioc__task *t = f->abandoned ? NULL : f->waiter;
    pthread_mutex_unlock(&f->lock);
    if (t)
        aioc__wake(aioc__loop_get(), t, AIOC__WOKEN);
    future_unref(f);
}

int aioc_future_complete(aioc_future *f, void *result, int err) {
    pthread_mutex_lock(&f->lock);
    if (f->done) {
        pthread_mutex_unlock(&f->lock);
        return -EALREADY;
    }
    f->done = true;
    f->result = result;
    f->err = err;
    bool abandoned = f->abandoned;
    aioc_loop *loop = f->waiter ? f->loop : NULL;
    pthread_mutex_unlock(&f->lock);
    if (abandoned) { /* nobody will take it */
        if (f->cleanup)
            f->cleanup(result, f->cleanup_arg);
    } else if (loop && aioc_loop_call(loop, future_deliver, f) == 0) {
        return 0; /* future_deliver drops our reference */
    }
    future_unref(f);
    return 0;
}

int aioc_future_wait(aioc_future *f, void **result) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    if (!t)
        return err;
    err = 0;
    pthread_mutex_lock(&f->lock);
    if (!f->done && !(err = aioc__interruption(t))) {
        f->waiter = t;
        if (!f->loop)
            f->loop = aioc_loop_ref(loop->handle);
        pthread_mutex_unlock(&f->lock);
        loop->external_waits++;
        int wake = aioc__park(loop, AIOC__WAIT_THREAD, f);
        loop->external_waits--;
        pthread_mutex_lock(&f->lock);
        f->waiter = NULL;
        if (wake == AIOC__INTERRUPTED && !f->done) {
            err = aioc__interruption(t);
            if (!err)
                err = -ECANCELED;
        }
    }
    void *value = NULL;
    bool cleanup_now = false;
    if (err) { /* gave up (now, or interrupted before waiting) */
        f->abandoned = true;
        cleanup_now = f->done; /* it came meanwhile: ours to clean up */
        value = f->result;
    } else {
        value = f->result;
        err = f->err;
        if (result)
            *result = value;
    }
    pthread_mutex_unlock(&f->lock);
    if (cleanup_now && f->cleanup)
        f->cleanup(value, f->cleanup_arg);
    future_unref(f);
    return err;
}

void aioc_future_cancel(aioc_future *f) {
    pthread_mutex_lock(&f->lock);
    f->abandoned = true;
    bool cleanup_now = f->done;
    void *value = f->result;
    pthread_mutex_unlock(&f->lock);
    if (cleanup_now && f->cleanup)
        f->cleanup(value, f->cleanup_arg);
    future_unref(f);
}

/* --------------------------------------------------------------- pool -- */

typedef struct pool pool;

/* A unit of work on a pool. A worker calls run(j, p) and gives it `j`:
 * run frees it or hands it on, and calls pool_job_done(p) once, before it
 * wakes anybody (see worker). */
typedef struct job {
    struct job *next;
    void (*run)(struct job *j, pool *p);
    uint64_t queued_at; /* monotonic ns, for the pool's wait time */
} job;

/* A pool of threads: jobs in FIFO order, threads started on demand up to
 * `max` and kept. Two exist: one for aioc_to_thread, and a smaller one for
 * name resolution, so that slow lookups never starve file or CPU work (and
 * the reverse), as they do in libuv's single pool. */
typedef struct worker_rec {
    pthread_t thread;
    pool *p;
    struct worker_rec *next; /* on p->ended */
} worker_rec;

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t retired; /* a thread told to end has ended, or took a job */
    job *head, *tail;
    unsigned threads, queued, max;
    /* Changed under `lock`, but for the increment of a worker that ends a
     * job (pool_job_done), which is atomic so as not to take the lock
     * that every submission and pickup takes: read it with idle_now(). */
    unsigned idle;
    unsigned retiring; /* idle threads told to end that have not yet */
    worker_rec *ended; /* threads that ended, to be joined */
    uint64_t started;  /* jobs taken by a thread so far */
    uint64_t wait_ns;  /* the time they spent queued, in total (atomic) */
};

/* The pool's lock is adaptive (glibc's: it spins a little before it
 * sleeps in the kernel): every submission and every pickup takes it for a
 * few instructions, and with more workers than CPUs a plain mutex sent the
 * losers to sleep and back (a futex wait and wake each) on most jobs. Random
 * 4 KiB reads from the page cache with 64 in flight on 6 workers: CPU per
 * read 3.3-4.1 us against 4.6-5.1, and as many reads per second as
 * libuv's pool (BENCHMARKS.md, "Files"). */
#define POOL_INIT                                                                                  \
    {                                                                                              \
        .lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP, .wake = PTHREAD_COND_INITIALIZER,           \
        .retired = PTHREAD_COND_INITIALIZER                                                        \
    }
static pool workers = POOL_INIT;
static pool resolvers = POOL_INIT;
static pthread_once_t pools_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t loops_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned loops_running; /* guarded by loops_lock */

void aioc__pool_stats(unsigned *threads, unsigned *queued, uint64_t *jobs, uint64_t *wait_ns) {
    pthread_mutex_lock(&workers.lock);
    *threads = workers.threads;
    *queued = workers.queued;
    *jobs = workers.started;
    *wait_ns = __atomic_load_n(&workers.wait_ns, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&workers.lock);
}

static void reset(pool *p) {
    pthread_mutexattr_t adaptive;
    pthread_mutexattr_init(&adaptive);
    pthread_mutexattr_settype(&adaptive, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&p->lock, &adaptive);
    pthread_mutexattr_destroy(&adaptive);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->retired, NULL);
    p->head = p->tail = NULL;
    p->threads = p->idle = p->queued = p->retiring = 0;
    p->started = p->wait_ns = 0;
    p->ended = NULL; /* (their records are the parent's) */
}

/* In a forked child the pools' threads do not exist, nor its parent's
 * loops: start afresh. */
static void pools_after_fork(void) {
    reset(&workers);
    reset(&resolvers);
    pthread_mutex_init(&loops_lock, NULL);
    loops_running = 0;
}

static unsigned env_count(const char *name, unsigned fallback) {
    const char *env = getenv(name);
    long n = env ? strtol(env, NULL, 10) : 0;
    return n > 0 ? (unsigned)n : fallback;
}

static void pools_init(void) {
    pthread_atfork(NULL, NULL, pools_after_fork);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned dflt = (unsigned)((cpus > 0 ? cpus : 1) + 4);
    pthread_mutex_lock(&workers.lock);
    if (!workers.max)
        workers.max = env_count("AIOC_THREADS", dflt > 32 ? 32 : dflt);
    pthread_mutex_unlock(&workers.lock);
    pthread_mutex_lock(&resolvers.lock);
    if (!resolvers.max)
        resolvers.max = env_count("AIOC_RESOLVERS", 4);
    pthread_mutex_unlock(&resolvers.lock);
}

unsigned aioc_thread_pool_size(unsigned max_threads) {
    pthread_once(&pools_once, pools_init);
    pthread_mutex_lock(&workers.lock);
    unsigned old = workers.max;
    if (max_threads)
        workers.max = max_threads;
    pthread_mutex_unlock(&workers.lock);
    return old;
}

void aioc__pools_enter(const aioc_run_opts *opts) {
    pthread_mutex_lock(&loops_lock);
    loops_running++;
    pthread_mutex_unlock(&loops_lock);
    if (opts && opts->threads)
        aioc_thread_pool_size(opts->threads);
}

static unsigned idle_now(const pool *p) { return __atomic_load_n(&p->idle, __ATOMIC_ACQUIRE); }
static void idle_add(pool *p, int d) {
    __atomic_add_fetch(&p->idle, (unsigned)d, __ATOMIC_RELEASE);
}

/* Tells the idle threads of `p` to end and joins them. Threads running a
 * job (one whose caller gave up, or another loop's) go on and stay. */
static void stop_idle(pool *p) {
    pthread_mutex_lock(&p->lock);
    unsigned idle = idle_now(p);
    p->retiring = idle > p->queued ? idle - p->queued : 0;
    pthread_cond_broadcast(&p->wake);
    /* until they have ended, or the ones left took jobs (a loop that
     * started meanwhile) */
    while (p->retiring && idle_now(p) > p->queued)
        pthread_cond_wait(&p->retired, &p->lock);
    p->retiring = 0;
    worker_rec *ended = p->ended;
    p->ended = NULL;
    pthread_mutex_unlock(&p->lock);
    while (ended) {
        worker_rec *w = ended;
        ended = w->next;
        pthread_join(w->thread, NULL);
        free(w);
    }
}

void aioc__pools_leave(void) {
    pthread_mutex_lock(&loops_lock);
    bool last = --loops_running == 0;
    pthread_mutex_unlock(&loops_lock);
    if (last) {
        stop_idle(&workers);
        stop_idle(&resolvers);
    }
}

/* A job's run function calls this once its work is done and before it
 * wakes the task that waits for it: the worker counts as idle from then
 * on, so a task that submits again as soon as it is woken finds it
 * available instead of starting another thread (as Python's
 * ThreadPoolExecutor counts them). */
static void pool_job_done(pool *p) { idle_add(p, 1); }

/* `idle` counts workers not running a job, including one just started
 * and one that has just finished and is about to look for the next.
 * `queued` jobs are spoken for. */
static void *worker(void *arg) {
    worker_rec *self = arg;
    pool *p = self->p;
    pthread_mutex_lock(&p->lock); /* counted idle from its start (start_worker) */
    for (;;) {
        while (!p->head && !p->retiring)
            pthread_cond_wait(&p->wake, &p->lock);
        if (!p->head) { /* told to end: the last loop has ended */
            p->retiring--;
            idle_add(p, -1);
            p->threads--;
            self->next = p->ended;
            p->ended = self;
            pthread_cond_broadcast(&p->retired);
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        if (p->retiring) /* a job instead: stop_idle must not wait for us */
            pthread_cond_broadcast(&p->retired);
        job *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        p->started++;
        idle_add(p, -1);
        pthread_mutex_unlock(&p->lock);
        /* the clock is read outside the lock, which every submission and
         * pickup takes: a read costs tens of ns on some virtual machines */
        __atomic_add_fetch(&p->wait_ns, aioc__monotonic_ns() - j->queued_at, __ATOMIC_RELAXED);
        j->run(j, p); /* calls pool_job_done */
        pthread_mutex_lock(&p->lock);
    }
    return NULL;
}

/* Starts one more worker; p->lock is held. Returns 0 or the error. */
static int start_worker(pool *p) {
    worker_rec *w = malloc(sizeof *w);
    if (!w)
        return ENOMEM;
    w->p = p;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* Pool threads take no asynchronous signals: a Ctrl-C is for the
     * loop's thread (its handler, or a signalfd), and a signal taken
     * here would cut a job's blocking call short with EINTR. The
     * thread inherits the mask it is created with. */
    sigset_t all, old;
    sigfillset(&all);
    int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&all, faults[i]); /* a job's own faults stay deliverable */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int failed = pthread_create(&w->thread, &attr, worker, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (failed) {
        free(w);
        return failed;
    }
    p->threads++;
    idle_add(p, 1); /* already: a stop_idle before it runs must count it */
    return 0;
}

/* Queues `j`, starting a thread first if none is idle and the limit
 * allows. Returns 1; -EAGAIN if no thread runs and none can be started.
 * A job that may be left out (`optional`, a map's extra helper) is queued
 * only if a thread can take it at once; else the call returns 0. */
static int pool_submit(pool *p, job *j, bool optional) {
    pthread_once(&pools_once, pools_init);
    j->queued_at = aioc__monotonic_ns(); /* before the lock, as in worker */
    pthread_mutex_lock(&p->lock);
    if (idle_now(p) <= p->queued) { /* every idle thread is spoken for */
        if (p->threads >= p->max || start_worker(p) != 0) {
            if (optional || p->threads == 0) {
                pthread_mutex_unlock(&p->lock);
                return optional ? 0 : -EAGAIN; /* -EAGAIN: nobody would run it */
            }
        }
    }
    j->next = NULL;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return 1;
}

/* ---------------------------------------------------------- to_thread -- */

typedef struct call_job {
    job base;
    aioc_fn fn;
    void *arg;
    aioc_future *future;
} call_job;

static void run_call(job *base, pool *p) {
    call_job *j = (call_job *)base;
    aioc_future *f = j->future;
    /* a job whose caller gave up before it started is not run */
    pthread_mutex_lock(&f->lock);
    bool wanted = !f->abandoned;
    pthread_mutex_unlock(&f->lock);
    void *result = wanted ? j->fn(j->arg) : NULL;
    free(j);
    pool_job_done(p);
    aioc_future_complete(f, result, 0); /* gave up: cleanup(result, arg) */
}

/* Runs fn(arg) on pool `p` and waits; see aioc_to_thread_with. */
static int run_on(pool *p, aioc_fn fn, void *arg, void **result, aioc_cleanup cleanup) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    if (!t)
        return err;
    if (!fn)
        return -EINVAL;
    /* On every failure, cleanup gets `arg` back exactly once: here if fn
     * will not run, from the pool once it has run or been skipped. */
    call_job *j = NULL;
    aioc_future *f = NULL;
    if (!(err = aioc__interruption(t))) {
        j = malloc(sizeof *j);
        f = aioc_future_new(cleanup, arg);
        err = j && f ? 0 : -ENOMEM;
    }
    if (!err) {
        *j = (call_job){.base.run = run_call, .fn = fn, .arg = arg, .future = f};
        err = pool_submit(p, &j->base, false);
        if (err > 0)
            return aioc_future_wait(f, result);
    }
    free(j);
    if (f) {
        pthread_mutex_destroy(&f->lock);
        free(f);
    }
    if (cleanup)
        cleanup(NULL, arg);
    return err;
}

int aioc_to_thread_with(aioc_fn fn, void *arg, void **result, aioc_cleanup cleanup) {
    return run_on(&workers, fn, arg, result, cleanup);
}

int aioc_to_thread(aioc_fn fn, void *arg, void **result) {
    return aioc_to_thread_with(fn, arg, result, NULL);
}

int aioc__resolve_on_pool(aioc_fn fn, void *arg, void **result, aioc_cleanup cleanup) {
    return run_on(&resolvers, fn, arg, result, cleanup);
}

/* ---------------------------------------------------------------- map -- */

/* aioc_to_thread_map: one job holds a copy of the items and room for their
 * results and statuses. The caller queues one ticket; the thread that runs
 * a ticket claims runs of items until none are left. Each time a thread
 * has worked on the job for another HELP_AFTER_NS (about what waking a
 * sleeping thread costs, checked between items) while items are still
 * unclaimed, it queues one more ticket, if an idle thread can take it at
 * once (or one can be started). Long items spread over every free thread
 * in a few steps, doubling the helpers at each item; short ones are done
 * by one thread before waking another would have paid off. Claims are guided
 * self-scheduling: each takes a share of what is left (1 / (2 x the most
 * helpers)), so they are few and large at first and small towards the
 * end, where they even out the threads' finishing times. A thread reports
 * a run under the job's lock; the one that reports the last item
 * completes the future the caller waits on. One hand-off out, one wake-up
 * back, whatever n is; helpers are woken by pool threads, off the loop's
 * thread.
 *
 * A caller that gives up (cancelled, deadline) marks the job abandoned
 * under its lock and returns at once. It hands to the cleanup what it can
 * account for: items reported before (with their results) and items no
 * thread claimed (never run). A thread reporting a run after that skips
 * what it had not started and hands the run to the cleanup itself. The
 * job is freed with the last reference, the caller's or a ticket's, so no
 * thread touches the caller's arrays once the call has returned. */

#define HELP_AFTER_NS 20000

typedef struct map_job map_job;

typedef struct ticket {
    job base;
    map_job *m;
} ticket;

struct map_job {
    pthread_mutex_t lock; /* guards abandoned's writes, done, completed */
    unsigned refs;        /* atomic: the caller's, and one per ticket */
    unsigned helpers;     /* atomic: tickets queued so far */
    unsigned max_helpers; /* min(n, the pool's limit at the call) */
    size_t next;          /* atomic: the first item not yet claimed */
    bool abandoned;       /* the caller gave up (read without the lock) */
    bool completed;       /* the future was completed */
    size_t n, done;       /* items; items reported */
    aioc_map_fn fn;
    aioc_cleanup cleanup;
    aioc_future *future;
    void **items, **results;
    int *status;
    unsigned char *delivered; /* item i was reported: results[i] is valid */
    ticket first;             /* the caller's ticket; helpers' are allocated */
};

/* A job for n items, in one allocation; NULL if it cannot be had (or its
 * size would overflow). */
static map_job *map_new(size_t n) {
    size_t head = (sizeof(map_job) + 15) / 16 * 16;
    size_t per_item = 2 * sizeof(void *) + sizeof(int) + 1;
    if (n > (SIZE_MAX - head) / per_item)
        return NULL;
    map_job *m = malloc(head + n * per_item);
    if (!m)
        return NULL;
    *m = (map_job){.n = n};
    pthread_mutex_init(&m->lock, NULL);
    m->items = (void **)((char *)m + head);
    m->results = m->items + n;
    m->status = (int *)(m->results + n);
    m->delivered = (unsigned char *)(m->status + n);
    memset(m->delivered, 0, n);
    return m;
}

static void map_unref(map_job *m) {
    if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (!m->completed) /* given up on: drop the producer's reference */
        aioc_future_complete(m->future, NULL, 0);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Claims the next run of items, [*from, *to); false when none are left. */
static bool map_claim(map_job *m, size_t *from, size_t *to) {
    size_t cur = __atomic_load_n(&m->next, __ATOMIC_RELAXED), end;
    do {
        if (cur >= m->n)
            return false;
        size_t take = (m->n - cur) / (2 * (size_t)m->max_helpers);
        end = cur + (take ? take : 1);
    } while (!__atomic_compare_exchange_n(&m->next, &cur, end, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    *from = cur;
    *to = end;
    return true;
}

static void run_ticket(job *base, pool *p);

/* Queues one more ticket if the limit allows and a thread can take it at
 * once. */
static void map_add_helper(map_job *m, pool *p) {
    unsigned h = __atomic_load_n(&m->helpers, __ATOMIC_RELAXED);
    do {
        if (h >= m->max_helpers)
            return;
    } while (!__atomic_compare_exchange_n(&m->helpers, &h, h + 1, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    ticket *t = malloc(sizeof *t);
    if (t) {
        *t = (ticket){.base.run = run_ticket, .m = m};
        __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED); /* we hold one: not 0 */
        if (pool_submit(p, &t->base, true) > 0)
            return;
        __atomic_sub_fetch(&m->refs, 1, __ATOMIC_RELAXED);
        free(t);
    }
    __atomic_sub_fetch(&m->helpers, 1, __ATOMIC_RELAXED);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void run_ticket(job *base, pool *p) {
    ticket *t = (ticket *)base;
    map_job *m = t->m;
    bool last = false;
    uint64_t help_at = now_ns() + HELP_AFTER_NS;
    unsigned ran = 0;
    size_t from, to;
    while (map_claim(m, &from, &to)) {
        size_t i = from; /* items before i have run */
        for (; i < to && !__atomic_load_n(&m->abandoned, __ATOMIC_RELAXED); i++, ran++) {
            /* the clock before each of the first items, then every 8th */
            uint64_t now;
            if ((ran < 8 || ran % 8 == 0) && (now = now_ns()) >= help_at) {
                if (__atomic_load_n(&m->next, __ATOMIC_RELAXED) < m->n)
                    map_add_helper(m, p);
                help_at = now + HELP_AFTER_NS;
            }
            m->results[i] = NULL;
            m->status[i] = m->fn(m->items[i], &m->results[i]);
        }
        pthread_mutex_lock(&m->lock);
        bool gone = m->abandoned;
        if (!gone) {
            memset(m->delivered + from, 1, to - from);
            m->done += to - from;
            last = m->completed = m->done == m->n;
        }
        pthread_mutex_unlock(&m->lock);
        if (gone && m->cleanup) /* the caller has returned: ours to hand over */
            for (size_t k = from; k < to; k++)
                m->cleanup(k < i ? m->results[k] : NULL, m->items[k]);
    }
    if (t != &m->first)
        free(t);
    pool_job_done(p);
    if (last)
        aioc_future_complete(m->future, NULL, 0);
    map_unref(m);
}

/* The caller gives up: see the comment at the top of this section. */
static void map_abandon(map_job *m) {
    pthread_mutex_lock(&m->lock);
    __atomic_store_n(&m->abandoned, true, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&m->lock);
    /* From here on no thread reports a run: delivered[] is final. */
    size_t unclaimed = __atomic_exchange_n(&m->next, m->n, __ATOMIC_RELAXED);
    if (!m->cleanup)
        return;
    for (size_t i = 0; i < unclaimed; i++)
        if (m->delivered[i])
            m->cleanup(m->results[i], m->items[i]);
    for (size_t i = unclaimed; i < m->n; i++)
        m->cleanup(NULL, m->items[i]);
}

static unsigned pool_limit(pool *p) {
    pthread_once(&pools_once, pools_init);
    pthread_mutex_lock(&p->lock);
    unsigned max = p->max;
    pthread_mutex_unlock(&p->lock);
    return max;
}

int aioc_to_thread_map_with(aioc_map_fn fn, void *const *items, size_t n, void **results,
                            int *errors, aioc_cleanup cleanup) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    if (!t)
        return err;
    if (!fn || (n && !items))
        return -EINVAL;
    map_job *m = NULL;
    aioc_future *f = NULL;
    if (!(err = aioc__interruption(t)) && n) {
        m = map_new(n);
        f = aioc_future_new(NULL, NULL);
        err = m && f ? 0 : -ENOMEM;
    }
    if (!err && n) {
        memcpy(m->items, items, n * sizeof *items);
        m->fn = fn;
        m->cleanup = cleanup;
        m->future = f;
        m->refs = 2; /* the caller's and the first ticket's */
        m->helpers = 1;
        unsigned limit = pool_limit(&workers);
        m->max_helpers = n < limit ? (unsigned)n : limit;
        m->first = (ticket){.base.run = run_ticket, .m = m};
        err = pool_submit(&workers, &m->first.base, false);
        if (err > 0) {
            err = aioc_future_wait(f, NULL);
            if (err) {
                map_abandon(m);
            } else {
                for (size_t i = 0; i < n; i++)
                    if (m->status[i] && !err)
                        err = m->status[i];
                if (results)
                    memcpy(results, m->results, n * sizeof *results);
                if (errors)
                    memcpy(errors, m->status, n * sizeof *errors);
            }
            map_unref(m);
            return err;
        }
    }
    /* Nothing was handed out: every item goes back to the cleanup now. */
    if (m) {
        pthread_mutex_destroy(&m->lock);
        free(m);
    }
    if (f) {
        pthread_mutex_destroy(&f->lock);
        free(f);
    }
    for (size_t i = 0; err && cleanup && i < n; i++)
        cleanup(NULL, items[i]);
    return err;
}

int aioc_to_thread_map(aioc_map_fn fn, void *const *items, size_t n, void **results, int *errors) {
    return aioc_to_thread_map_with(fn, items, n, results, errors, NULL);
}
