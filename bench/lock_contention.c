/* lock_contention (aioc): 1,000 tasks share one lock; each, N / 1,000
 * times, acquires it, increments a shared counter, releases it and yields,
 * so that every task gets its turn between two of its own acquisitions.
 * N acquisitions in all; the figure is ns per acquisition (acquire,
 * increment, release, yield), from the first spawn to the last task's end.
 *
 * One loop runs one task at a time and nobody holds the lock across a
 * suspension, so no acquisition ever waits here: this is the uncontended
 * path plus a scheduler turn, which is what asyncio code pays for a lock
 * that guards a short section. */
#include "bench_aioc.h" /* first: it sets _GNU_SOURCE */

#define TASKS 1000

static aioc_lock lock = AIOC_LOCK_INIT;
static uint64_t counter; /* the critical section's state */
static size_t each;      /* acquisitions per task */

static void *worker(void *arg) {
    (void)arg; /* the task's index, from bench_spawn_gather_ns */
    for (size_t i = 0; i < each; i++) {
        int err = aioc_lock_acquire(&lock);
        if (err)
            return aioc_fail(err);
        counter++;
        if ((err = aioc_lock_release(&lock)) || (err = aioc_yield()))
            return aioc_fail(err);
    }
    return NULL;
}

static void *run(void *arg) {
    size_t n = (size_t)arg;
    each = n / TASKS ? n / TASKS : 1;
    n = each * TASKS; /* what actually runs, when N is not a multiple */
    aioc_task ts[TASKS];
    uint64_t ns = bench_spawn_gather_ns(ts, TASKS, worker, NULL);
    if (counter != n)
        bench_fail("wrong counter");
    printf("RESULT name=lock_contention impl=aioc n=%zu tasks=%d ns_per_op=%.1f "
           "acq_per_s=%.0f wall_s=%.3f\n",
           n, TASKS, (double)ns / (double)n, (double)n * 1e9 / (double)ns, (double)ns / 1e9);
    return NULL;
}

int main(int argc, char **argv) { return bench_aioc_main(argc, argv, 1000000, run); }
