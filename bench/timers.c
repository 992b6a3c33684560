/* timers (aioc): N tasks each sleep a pseudo-random 0..1000 ms (the shared
 * xorshift sequence). Reports the wall time to run them all and the worst
 * lateness: the largest (actual wake - intended wake) over all tasks, where
 * intended = the task's clock reading just before it slept + its delay; and
 * the lateness of the task that woke last. */
#include "bench_aioc.h" /* first: it sets _GNU_SOURCE */

static uint32_t *delays;
static int64_t max_late_ns, last_late_ns;

static void *sleeper(void *arg) {
    uint32_t ms = delays[(size_t)arg];
    uint64_t due = bench_now_ns() + (uint64_t)ms * 1000000u;
    int err = aioc_sleep(ms / 1000.0);
    if (err)
        return aioc_fail(err);
    /* one loop thread: the last task to get here is the last to wake */
    last_late_ns = (int64_t)(bench_now_ns() - due);
    if (last_late_ns > max_late_ns)
        max_late_ns = last_late_ns;
    return NULL;
}

static void *run(void *arg) {
    size_t n = (size_t)arg;
    aioc_task *ts = malloc(n * sizeof *ts);
    delays = bench_delays_ms(n);
    if (!ts || !delays)
        bench_fail("out of memory");
    uint64_t ns = bench_spawn_gather_ns(ts, n, sleeper, NULL);
    printf("RESULT name=timers impl=aioc n=%zu wall_s=%.3f max_late_ms=%.2f "
           "last_late_ms=%.2f peak_rss_kb=%ld\n",
           n, (double)ns / 1e9, (double)max_late_ns / 1e6, (double)last_late_ns / 1e6,
           bench_peak_rss_kb());
    free(ts);
    free(delays);
    return NULL;
}

int main(int argc, char **argv) { return bench_aioc_main(argc, argv, 1000000, run); }
