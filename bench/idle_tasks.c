/* idle_tasks (aioc): N tasks sleep 1 s all at once. Measures what an idle
 * task costs in memory (its stack's touched page, its struct, its timer)
 * and how long the loop takes to start, time and join them all. */
#include "bench.h" /* first: it sets _GNU_SOURCE */

#include <aioc.h>

static void *sleeper(void *arg) {
    (void)arg;
    int err = aioc_sleep(1.0);
    return err ? aioc_fail(err) : NULL;
}

static void *run(void *arg) {
    size_t n = (size_t)arg;
    aioc_task *ts = malloc(n * sizeof *ts);
    if (!ts)
        bench_fail("out of memory");
    long base_kb = bench_rss_kb();
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        ts[i] = aioc_spawn(sleeper, NULL);
    int err = aioc_gather(ts, n, NULL);
    uint64_t t1 = bench_now_ns();
    if (err)
        bench_fail(aioc_strerror(err));
    long peak_kb = bench_peak_rss_kb();
    /* alive=n: no task runs before the spawning task parks in gather */
    printf("RESULT name=idle_tasks impl=aioc n=%zu wall_s=%.3f "
           "rss_per_task_b=%.0f peak_rss_kb=%ld alive=%zu\n",
           n, (double)(t1 - t0) / 1e9, (double)(peak_kb - base_kb) * 1024.0 / (double)n, peak_kb,
           n);
    free(ts);
    return NULL;
}

int main(int argc, char **argv) {
    size_t n = (size_t)bench_count(argc, argv, 1000000);
    int err = aioc_run(run, (void *)n, NULL);
    if (err)
        bench_fail(aioc_strerror(err));
    return 0;
}
