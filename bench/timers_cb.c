/* timers_cb (aioc): the timers benchmark with plain callbacks instead of
 * tasks: N aioc_call_later calls with the shared 0..1000 ms delays. Reports
 * the wall time until the last one fired and the worst lateness (actual
 * fire - intended fire, intended = clock when scheduled + delay) and the
 * lateness of the last callback to fire; sched_s is the time the N
 * aioc_call_later calls took. */
#include "bench_aioc.h" /* first: it sets _GNU_SOURCE */

static uint64_t *due; /* intended fire time of each callback, ns */
static size_t fired, total;
static int64_t max_late_ns, last_late_ns;
static aioc_event all_fired = AIOC_EVENT_INIT;

static void on_timer(void *arg) {
    last_late_ns = (int64_t)(bench_now_ns() - due[(size_t)arg]);
    if (last_late_ns > max_late_ns)
        max_late_ns = last_late_ns;
    if (++fired == total)
        aioc_event_set(&all_fired); /* callbacks may set events */
}

static void *run(void *arg) {
    size_t n = total = (size_t)arg;
    uint32_t *delays = bench_delays_ms(n);
    due = malloc(n * sizeof *due);
    if (!delays || !due)
        bench_fail("out of memory");
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        if (!aioc_call_later(delays[i] / 1000.0, on_timer, (void *)i).id)
            bench_fail("aioc_call_later failed");
        /* call_later has just read the clock into the loop's cache: the
         * deadline it armed, without a second clock read of our own */
        due[i] = aioc_now_ns() + (uint64_t)delays[i] * 1000000u;
    }
    uint64_t scheduled = bench_now_ns();
    int err = aioc_event_wait(&all_fired);
    if (err)
        bench_fail(aioc_strerror(err));
    uint64_t t1 = bench_now_ns();
    printf("RESULT name=timers_cb impl=aioc n=%zu wall_s=%.3f max_late_ms=%.2f "
           "last_late_ms=%.2f sched_s=%.3f peak_rss_kb=%ld\n",
           n, (double)(t1 - t0) / 1e9, (double)max_late_ns / 1e6, (double)last_late_ns / 1e6,
           (double)(scheduled - t0) / 1e9, bench_peak_rss_kb());
    free(delays);
    free(due);
    return NULL;
}

int main(int argc, char **argv) { return bench_aioc_main(argc, argv, 1000000, run); }
