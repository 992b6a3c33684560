/* spawn_gather (aioc): spawn N trivial tasks that return their index,
 * gather them all, check the sum. Measures the whole life of a short task:
 * spawn, first switch in, return, release, and the gather bookkeeping. */
#include "bench_aioc.h" /* first: it sets _GNU_SOURCE */

static void *trivial(void *arg) { return arg; }

/* One round: spawn n, gather, check the sum. Returns the elapsed ns. */
static uint64_t round_ns(size_t n, aioc_task *ts, void **results) {
    uint64_t ns = bench_spawn_gather_ns(ts, n, trivial, results);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (uintptr_t)results[i];
    if (sum != (uint64_t)n * (n - 1) / 2)
        bench_fail("wrong sum");
    return ns;
}

static void *run(void *arg) {
    size_t n = (size_t)arg;
    aioc_task *ts = malloc(n * sizeof *ts);
    void **results = malloc(n * sizeof *results);
    if (!ts || !results)
        bench_fail("out of memory");
    /* The first round is the figure. A second round, with every page
     * already touched and the runtime's free lists full, shows how much of
     * the first was the kernel handing out fresh memory. */
    uint64_t cold = round_ns(n, ts, results);
    uint64_t warm = round_ns(n, ts, results);
    printf("RESULT name=spawn_gather impl=aioc n=%zu ns_per_op=%.1f "
           "warm_ns_per_op=%.1f peak_rss_kb=%ld wall_s=%.3f\n",
           n, (double)cold / (double)n, (double)warm / (double)n, bench_peak_rss_kb(),
           (double)cold / 1e9);
    free(ts);
    free(results);
    return NULL;
}

int main(int argc, char **argv) { return bench_aioc_main(argc, argv, 1000000, run); }
