/* to_thread (pthread-condvar): the baseline for aioc_to_thread, with no
 * event loop at all. One worker thread waits on a one-job slot guarded by a
 * mutex; the main thread posts a job (function and argument), signals the
 * worker, and blocks on a second condition variable until the result is
 * back. N round trips in a row (default 100,000), ns per round trip.
 *
 * This is the least a thread pool built on mutexes and condition variables
 * can do per job: two wake-ups across threads. The worker runs the
 * function with the mutex released, as a pool must (a job may take long),
 * which costs one more unlock/lock pair on its side. */
#include "bench.h" /* first: it sets _GNU_SOURCE */

#include <pthread.h>

typedef void *(*job_fn)(void *);

enum { EMPTY, POSTED, DONE, QUIT };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t posted; /* worker waits: a job is in the slot */
    pthread_cond_t done;   /* poster waits: the result is in the slot */
    int state;
    job_fn fn;
    void *arg, *result;
} slot = {.mu = PTHREAD_MUTEX_INITIALIZER,
          .posted = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER,
          .state = EMPTY};

static void *worker(void *unused) {
    (void)unused;
    pthread_mutex_lock(&slot.mu);
    for (;;) {
        while (slot.state != POSTED && slot.state != QUIT)
            pthread_cond_wait(&slot.posted, &slot.mu);
        if (slot.state == QUIT)
            break;
        job_fn fn = slot.fn;
        void *arg = slot.arg;
        pthread_mutex_unlock(&slot.mu);
        void *result = fn(arg);
        pthread_mutex_lock(&slot.mu);
        slot.result = result;
        slot.state = DONE;
        pthread_cond_signal(&slot.done);
    }
    pthread_mutex_unlock(&slot.mu);
    return NULL;
}

/* Runs fn(arg) on the worker and waits for its result. */
static void *to_thread(job_fn fn, void *arg) {
    pthread_mutex_lock(&slot.mu);
    slot.fn = fn;
    slot.arg = arg;
    slot.state = POSTED;
    pthread_cond_signal(&slot.posted);
    while (slot.state != DONE)
        pthread_cond_wait(&slot.done, &slot.mu);
    void *result = slot.result;
    slot.state = EMPTY;
    pthread_mutex_unlock(&slot.mu);
    return result;
}

static void *bump(void *arg) { return (void *)((uintptr_t)arg + 1); }

int main(int argc, char **argv) {
    size_t n = (size_t)bench_count(argc, argv, 100000);
    pthread_t th;
    if (pthread_create(&th, NULL, worker, NULL))
        bench_fail("pthread_create failed");
    to_thread(bump, (void *)0); /* untimed: the worker is up and waiting */

    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        if ((uintptr_t)to_thread(bump, (void *)i) != i + 1)
            bench_fail("wrong result");
    uint64_t t1 = bench_now_ns();

    pthread_mutex_lock(&slot.mu);
    slot.state = QUIT;
    pthread_cond_signal(&slot.posted);
    pthread_mutex_unlock(&slot.mu);
    pthread_join(th, NULL);
    printf("RESULT name=to_thread impl=pthread-condvar n=%zu ns_per_op=%.1f wall_s=%.3f\n", n,
           (double)(t1 - t0) / (double)n, (double)(t1 - t0) / 1e9);
    return 0;
}
