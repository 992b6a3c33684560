/* idle_tasks (aioc): N tasks sleep 1 s all at once. Measures what an idle
 * task costs in memory (its stack's touched page, its struct, its timer)
 * and how long the loop takes to start, time and join them all. */
#include "bench_aioc.h" /* first: it sets _GNU_SOURCE */

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
    uint64_t ns = bench_spawn_gather_ns(ts, n, sleeper, NULL);
    long peak_kb = bench_peak_rss_kb();
    /* alive=n: no task runs before the spawning task parks in gather */
    printf("RESULT name=idle_tasks impl=aioc n=%zu wall_s=%.3f "
           "rss_per_task_b=%.0f peak_rss_kb=%ld alive=%zu\n",
           n, (double)ns / 1e9, (double)(peak_kb - base_kb) * 1024.0 / (double)n, peak_kb, n);
    free(ts);
    return NULL;
}

int main(int argc, char **argv) { return bench_aioc_main(argc, argv, 1000000, run); }
