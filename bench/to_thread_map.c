/* to_thread_map (aioc): one task runs a trivial function (x + 1) over N
 * items (default 1,000,000) on the thread pool, B at a time (default 100):
 * one aioc_to_thread_map call per batch, so one hand-off out and one
 * wake-up back per batch, the items shared among the pool threads that
 * can take part. The figures are ns per item and per batch.
 * to_thread_map_pthread.c does the same over a bare pthread pool,
 * to_thread_map.py with asyncio.to_thread of a function that runs a whole
 * batch (Python's way to batch pool work).
 *
 *   to_thread_map_aioc [N [B]]    N is rounded up to a multiple of B
 *
 * One untimed batch first: it starts the pool's threads, as the bare
 * program's workers exist before its clock starts. */
#include "bench_aioc.h" /* first: it sets _GNU_SOURCE */

static size_t batch = 100;

static int bump(void *item, void **result) {
    *result = (void *)((uintptr_t)item + 1);
    return 0;
}

static void *run(void *arg) {
    size_t n = (size_t)arg, b = batch;
    n = (n + b - 1) / b * b;
    void **items = calloc(b, sizeof *items), **results = calloc(b, sizeof *results);
    if (!items || !results)
        bench_fail("out of memory");
    for (size_t i = 0; i < b; i++)
        items[i] = (void *)i;
    int err = aioc_to_thread_map(bump, items, b, results, NULL);
    if (err)
        bench_fail(aioc_strerror(err));
    uint64_t t0 = bench_now_ns();
    for (size_t start = 0; start < n; start += b) {
        for (size_t i = 0; i < b; i++)
            items[i] = (void *)(start + i);
        if ((err = aioc_to_thread_map(bump, items, b, results, NULL)))
            bench_fail(aioc_strerror(err));
        for (size_t i = 0; i < b; i++)
            if ((uintptr_t)results[i] != start + i + 1)
                bench_fail("wrong result");
    }
    uint64_t t1 = bench_now_ns();
    printf("RESULT name=to_thread_map impl=aioc n=%zu batch=%zu ns_per_item=%.1f "
           "ns_per_batch=%.1f wall_s=%.3f\n",
           n, b, (double)(t1 - t0) / (double)n, (double)(t1 - t0) / (double)(n / b),
           (double)(t1 - t0) / 1e9);
    free(items);
    free(results);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 2 && strtol(argv[2], NULL, 10) > 0)
        batch = (size_t)strtol(argv[2], NULL, 10);
    return bench_aioc_main(argc, argv, 1000000, run);
}
