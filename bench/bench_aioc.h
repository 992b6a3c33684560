/* Helpers for the aioc benchmark programs. They live apart from bench.h
 * because the libuv program includes bench.h and does not link aioc.
 * Include this header first, in place of bench.h. */
#ifndef BENCH_AIOC_H
#define BENCH_AIOC_H

#include "bench.h" /* first: it sets _GNU_SOURCE */

#include <aioc.h>

/* Spawns fn((void *)i) for i in 0..n-1 into ts, gathers them all (into
 * results, which may be NULL) and returns the ns this took: the timed part
 * of the task benchmarks, so they all measure the same span. */
static inline uint64_t bench_spawn_gather_ns(aioc_task *ts, size_t n, aioc_fn fn, void **results) {
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        ts[i] = aioc_spawn(fn, (void *)i);
    int err = aioc_gather(ts, n, results);
    uint64_t t1 = bench_now_ns();
    if (err)
        bench_fail(aioc_strerror(err));
    return t1 - t0;
}

/* The whole of every aioc program's main: runs run((void *)n) on the loop,
 * n being the count from the command line (default def). */
static inline int bench_aioc_main(int argc, char **argv, long def, aioc_fn run) {
    size_t n = (size_t)bench_count(argc, argv, def);
    int err = aioc_run(run, (void *)n, NULL);
    if (err)
        bench_fail(aioc_strerror(err));
    return 0;
}

#endif
