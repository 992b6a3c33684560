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
 * to a limit and kept for reuse. aioc_to_thread is a job whose completion
 * is a future. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

/* ------------------------------------------------------------ futures -- */

struct aioc_future {
    pthread_mutex_t lock;
    unsigned refs;
    bool done;        /* completed: result and err are set */
    bool abandoned;   /* the waiter gave up */
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
    if (err) {             /* gave up (now, or interrupted before waiting) */
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

typedef struct job {
    struct job *next;
    aioc_fn fn;
    void *arg;
    aioc_future *future;
} job;

/* A pool of threads: jobs in FIFO order, threads started on demand up to
 * `max` and kept. Two exist: one for aioc_to_thread, and a smaller one for
 * name resolution, so that slow lookups never starve file or CPU work (and
 * the reverse), as they do in libuv's single pool. */
typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job *head, *tail;
    unsigned threads, idle, queued, max;
} pool;

static pool workers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0, 0};
static pool resolvers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0, 0};
static pthread_once_t pools_once = PTHREAD_ONCE_INIT;

static void reset(pool *p) {
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->head = p->tail = NULL;
    p->threads = p->idle = p->queued = 0;
}

/* In a forked child the pools' threads do not exist: start afresh. */
static void pools_after_fork(void) {
    reset(&workers);
    reset(&resolvers);
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

void aioc__pool_configure(const aioc_run_opts *opts) {
    if (opts && opts->threads)
        aioc_thread_pool_size(opts->threads);
}

/* `idle` counts workers not running a job, including one that has just
 * finished and is about to look for the next: it becomes idle before it
 * completes the future, so a task that submits again as soon as it is
 * woken finds it available instead of starting another thread (as
 * Python's ThreadPoolExecutor counts them). `queued` jobs are spoken for. */
static void *worker(void *arg) {
    pool *p = arg;
    pthread_mutex_lock(&p->lock);
    p->idle++;
    for (;;) {
        while (!p->head)
            pthread_cond_wait(&p->wake, &p->lock);
        job *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        p->idle--;
        pthread_mutex_unlock(&p->lock);
        aioc_future *f = j->future;
        /* a job whose caller gave up before it started is not run */
        pthread_mutex_lock(&f->lock);
        bool wanted = !f->abandoned;
        pthread_mutex_unlock(&f->lock);
        void *result = wanted ? j->fn(j->arg) : NULL;
        free(j);
        pthread_mutex_lock(&p->lock);
        p->idle++;
        pthread_mutex_unlock(&p->lock);
        aioc_future_complete(f, result, 0); /* gave up: cleanup(result, arg) */
        pthread_mutex_lock(&p->lock);
    }
    return NULL;
}

/* Queues a job; starts a thread first if none is idle and the limit
 * allows. Fails only if no thread runs at all and none can be started. */
static int pool_submit(pool *p, job *j) {
    pthread_once(&pools_once, pools_init);
    pthread_mutex_lock(&p->lock);
    if (p->idle <= p->queued && p->threads < p->max) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
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
        int failed = pthread_create(&th, &attr, worker, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (!failed)
            p->threads++;
        else if (p->threads == 0) {
            pthread_mutex_unlock(&p->lock);
            return -EAGAIN; /* nobody would ever run it */
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
    return 0;
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
    job *j = NULL;
    aioc_future *f = NULL;
    if (!(err = aioc__interruption(t))) {
        j = malloc(sizeof *j);
        f = aioc_future_new(cleanup, arg);
        err = j && f ? 0 : -ENOMEM;
    }
    if (!err) {
        *j = (job){.fn = fn, .arg = arg, .future = f};
        err = pool_submit(p, j);
        if (!err)
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
