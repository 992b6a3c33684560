/* timers_cb (libuv): the callback-timer benchmark on libuv's uv_timer, for
 * comparison with aioc_call_later. Same delays, same measure. libuv caches
 * its clock per loop turn, so uv_update_time runs before each start: the
 * timers are then relative to the moment each is scheduled, as they are in
 * aioc and asyncio (which read the clock in every call_later). */
#include "bench.h" /* first: it sets _GNU_SOURCE */

#include <uv.h>

static uint64_t *due;
static size_t fired;
static int64_t max_late_ns, last_late_ns;

static void on_timer(uv_timer_t *t) {
    last_late_ns = (int64_t)(bench_now_ns() - due[(size_t)t->data]);
    if (last_late_ns > max_late_ns)
        max_late_ns = last_late_ns;
    fired++;
}

int main(int argc, char **argv) {
    size_t n = (size_t)bench_count(argc, argv, 1000000);
    uint32_t *delays = bench_delays_ms(n);
    uv_timer_t *timers = malloc(n * sizeof *timers);
    due = malloc(n * sizeof *due);
    if (!delays || !timers || !due)
        bench_fail("out of memory");
    uv_loop_t loop;
    if (uv_loop_init(&loop))
        bench_fail("uv_loop_init failed");

    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        uv_timer_init(&loop, &timers[i]);
        timers[i].data = (void *)i;
        uv_update_time(&loop);
        due[i] = bench_now_ns() + (uint64_t)delays[i] * 1000000u;
        uv_timer_start(&timers[i], on_timer, delays[i], 0);
    }
    uint64_t scheduled = bench_now_ns();
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once no timer is active */
    uint64_t t1 = bench_now_ns();
    if (fired != n)
        bench_fail("not every timer fired");
    printf("RESULT name=timers_cb impl=libuv n=%zu wall_s=%.3f max_late_ms=%.2f "
           "last_late_ms=%.2f sched_s=%.3f peak_rss_kb=%ld\n",
           n, (double)(t1 - t0) / 1e9, (double)max_late_ns / 1e6, (double)last_late_ns / 1e6,
           (double)(scheduled - t0) / 1e9, bench_peak_rss_kb());
    /* Outside the timing: close every handle so the loop can be closed
     * and the memory freed (sanitizer builds check for leaks). */
    for (size_t i = 0; i < n; i++)
        uv_close((uv_handle_t *)&timers[i], NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop))
        bench_fail("uv_loop_close failed");
    free(timers);
    free(due);
    free(delays);
    return 0;
}
