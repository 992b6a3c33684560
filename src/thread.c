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

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job *head, *tail;
    unsigned threads, idle, queued, max;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0, 0};

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* In a forked child the pool's threads do not exist: start afresh. */
static void pool_after_fork(void) {
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pool.head = pool.tail = NULL;
    pool.threads = pool.idle = pool.queued = 0;
}

static unsigned default_max(void) {
    const char *env = getenv("AIOC_THREADS");
    long n = env ? strtol(env, NULL, 10) : 0;
    if (n > 0)
        return (unsigned)n;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    n = (cpus > 0 ? cpus : 1) + 4;
    return n > 32 ? 32 : (unsigned)n;
}

static void pool_init(void) {
    pthread_atfork(NULL, NULL, pool_after_fork);
    pthread_mutex_lock(&pool.lock);
    if (!pool.max)
        pool.max = default_max();
    pthread_mutex_unlock(&pool.lock);
}

unsigned aioc_thread_pool_size(unsigned max_threads) {
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool.lock);
    unsigned old = pool.max;
    if (max_threads)
        pool.max = max_threads;
    pthread_mutex_unlock(&pool.lock);
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
static void *worker(void *unused) {
    (void)unused;
    pthread_mutex_lock(&pool.lock);
    pool.idle++;
    for (;;) {
        while (!pool.head)
            pthread_cond_wait(&pool.wake, &pool.lock);
        job *j = pool.head;
        pool.head = j->next;
        if (!pool.head)
            pool.tail = NULL;
        pool.queued--;
        pool.idle--;
        pthread_mutex_unlock(&pool.lock);
        aioc_future *f = j->future;
        /* a job whose caller gave up before it started is not run */
        pthread_mutex_lock(&f->lock);
        bool wanted = !f->abandoned;
        pthread_mutex_unlock(&f->lock);
        void *result = wanted ? j->fn(j->arg) : NULL;
        free(j);
        pthread_mutex_lock(&pool.lock);
        pool.idle++;
        pthread_mutex_unlock(&pool.lock);
        aioc_future_complete(f, result, 0); /* gave up: cleanup(result, arg) */
        pthread_mutex_lock(&pool.lock);
    }
    return NULL;
}

/* Queues a job; starts a thread first if none is idle and the limit
 * allows. Fails only if no thread runs at all and none can be started. */
static int pool_submit(job *j) {
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool.lock);
    if (pool.idle <= pool.queued && pool.threads < pool.max) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&th, &attr, worker, NULL);
        pthread_attr_destroy(&attr);
        if (!failed)
            pool.threads++;
        else if (pool.threads == 0) {
            pthread_mutex_unlock(&pool.lock);
            return -EAGAIN; /* nobody would ever run it */
        }
    }
    j->next = NULL;
    if (pool.tail)
        pool.tail->next = j;
    else
        pool.head = j;
    pool.tail = j;
    pool.queued++;
    pthread_cond_signal(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    return 0;
}

int aioc_to_thread_with(aioc_fn fn, void *arg, void **result, aioc_cleanup cleanup) {
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
        err = pool_submit(j);
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

int aioc_to_thread(aioc_fn fn, void *arg, void **result) {
    return aioc_to_thread_with(fn, arg, result, NULL);
}
