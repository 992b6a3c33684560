/* to_thread_map (pthread-pool): the baseline for aioc_to_thread_map, with
 * no event loop at all. One worker pthread per CPU; the main thread posts
 * a batch of B items (default 100) under a mutex, wakes every worker with
 * one broadcast, and blocks on a second condition variable until the
 * batch is done. The workers claim runs of items with a compare-and-swap
 * (a share of what is left, as aioc does), run the function with the mutex
 * released, and the one that finishes the batch wakes the main thread.
 * N items in all (default 1,000,000, rounded up to a multiple of B); ns per
 * item and per batch.
 *
 *   to_thread_map_pthread [N [B]] */
#include "bench.h" /* first: it sets _GNU_SOURCE */

#include <pthread.h>
#include <stdbool.h>

typedef void *(*item_fn)(void *);

static struct {
    pthread_mutex_t mu;
    pthread_cond_t posted; /* workers wait: a new batch (gen changed) */
    pthread_cond_t done;   /* the poster waits: every item ran */
    unsigned long gen;     /* batches posted so far */
    bool quit;
    item_fn fn;
    void **items, **results;
    size_t n, finished; /* items in the batch, items run (under mu) */
    size_t next;        /* atomic: the first item not claimed */
    unsigned workers;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
          .posted = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

static bool claim(size_t n, size_t *from, size_t *to) {
    size_t cur = __atomic_load_n(&pool.next, __ATOMIC_RELAXED), end;
    do {
        if (cur >= n)
            return false;
        size_t take = (n - cur) / (2 * pool.workers);
        end = cur + (take ? take : 1);
    } while (!__atomic_compare_exchange_n(&pool.next, &cur, end, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    *from = cur;
    *to = end;
    return true;
}

static void *worker(void *unused) {
    (void)unused;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.gen == seen && !pool.quit)
            pthread_cond_wait(&pool.posted, &pool.mu);
        if (pool.quit)
            break;
        seen = pool.gen;
        size_t n = pool.n; /* the batch stays until every item ran */
        item_fn fn = pool.fn;
        void **items = pool.items, **results = pool.results;
        pthread_mutex_unlock(&pool.mu);
        size_t mine = 0, from, to;
        while (claim(n, &from, &to)) {
            for (size_t i = from; i < to; i++)
                results[i] = fn(items[i]);
            mine += to - from;
        }
        pthread_mutex_lock(&pool.mu);
        pool.finished += mine;
        if (mine && pool.finished == pool.n)
            pthread_cond_signal(&pool.done);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

/* Runs fn over the batch on the workers and waits until every item ran. */
static void map(item_fn fn, void **items, void **results, size_t n) {
    pthread_mutex_lock(&pool.mu);
    pool.fn = fn;
    pool.items = items;
    pool.results = results;
    pool.n = n;
    pool.finished = 0;
    __atomic_store_n(&pool.next, 0, __ATOMIC_RELAXED);
    pool.gen++;
    pthread_cond_broadcast(&pool.posted);
    while (pool.finished < n)
        pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
}

static void *bump(void *arg) { return (void *)((uintptr_t)arg + 1); }

int main(int argc, char **argv) {
    size_t n = (size_t)bench_count(argc, argv, 1000000), b = 100;
    if (argc > 2 && strtol(argv[2], NULL, 10) > 0)
        b = (size_t)strtol(argv[2], NULL, 10);
    n = (n + b - 1) / b * b;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    pool.workers = cpus > 0 ? (unsigned)cpus : 1;
    pthread_t th[64];
    if (pool.workers > 64)
        pool.workers = 64;
    for (unsigned i = 0; i < pool.workers; i++)
        if (pthread_create(&th[i], NULL, worker, NULL))
            bench_fail("pthread_create failed");
    void **items = calloc(b, sizeof *items), **results = calloc(b, sizeof *results);
    if (!items || !results)
        bench_fail("out of memory");
    for (size_t i = 0; i < b; i++)
        items[i] = (void *)i;
    map(bump, items, results, b); /* untimed: the workers are up */

    uint64_t t0 = bench_now_ns();
    for (size_t start = 0; start < n; start += b) {
        for (size_t i = 0; i < b; i++)
            items[i] = (void *)(start + i);
        map(bump, items, results, b);
        for (size_t i = 0; i < b; i++)
            if ((uintptr_t)results[i] != start + i + 1)
                bench_fail("wrong result");
    }
    uint64_t t1 = bench_now_ns();

    pthread_mutex_lock(&pool.mu);
    pool.quit = true;
    pthread_cond_broadcast(&pool.posted);
    pthread_mutex_unlock(&pool.mu);
    for (unsigned i = 0; i < pool.workers; i++)
        pthread_join(th[i], NULL);
    printf("RESULT name=to_thread_map impl=pthread-pool n=%zu batch=%zu ns_per_item=%.1f "
           "ns_per_batch=%.1f wall_s=%.3f\n",
           n, b, (double)(t1 - t0) / (double)n, (double)(t1 - t0) / (double)(n / b),
           (double)(t1 - t0) / 1e9);
    free(items);
    free(results);
    return 0;
}
