/* to_thread (aioc): one task runs a trivial function on the thread pool
 * with aioc_to_thread and waits for its result, N times in a row (default
 * 100,000). A round trip is: hand the job to a pool thread, wake it, run
 * the function there, hand the result back to the loop, wake the loop,
 * resume the task. The figure is ns per round trip; to_thread_condvar.c is
 * the same hand-off done with nothing but a mutex and two condition
 * variables, the floor for any thread pool built on them.
 *
 * One untimed call first: it starts the pool's thread, which every later
 * call reuses, as the bare program's worker exists before its clock starts. */
#include "bench_aioc.h" /* first: it sets _GNU_SOURCE */

static void *bump(void *arg) { return (void *)((uintptr_t)arg + 1); }

static void *run(void *arg) {
    size_t n = (size_t)arg;
    void *r = NULL;
    int err = aioc_to_thread(bump, (void *)0, &r);
    if (err)
        bench_fail(aioc_strerror(err));
    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        if ((err = aioc_to_thread(bump, (void *)i, &r)))
            bench_fail(aioc_strerror(err));
        if ((uintptr_t)r != i + 1)
            bench_fail("wrong result");
    }
    uint64_t t1 = bench_now_ns();
    printf("RESULT name=to_thread impl=aioc n=%zu ns_per_op=%.1f wall_s=%.3f\n", n,
           (double)(t1 - t0) / (double)n, (double)(t1 - t0) / 1e9);
    return NULL;
}

int main(int argc, char **argv) { return bench_aioc_main(argc, argv, 100000, run); }
