/* pingpong (aioc): two tasks hand a token back and forth through two
 * events. A hand-off is one transfer of the token from one task to the
 * other: set the peer's event, park on our own, and the peer resumes.
 * N hand-offs in total; the figure is ns per hand-off. */
#include "bench_aioc.h" /* first: it sets _GNU_SOURCE */

static aioc_event turn[2] = {AIOC_EVENT_INIT, AIOC_EVENT_INIT};
static long left; /* hand-offs still to make */
static long made; /* hand-offs made, checked at the end */

static void *player(void *arg) {
    int me = (int)(intptr_t)arg;
    for (;;) {
        int err = aioc_event_wait(&turn[me]);
        if (err)
            return aioc_fail(err);
        aioc_event_clear(&turn[me]);
        if (left == 0) {
            aioc_event_set(&turn[!me]); /* let the peer see the end too */
            return NULL;
        }
        left--;
        made++;
        aioc_event_set(&turn[!me]);
    }
}

static void *run(void *arg) {
    long n = (long)(intptr_t)arg;
    left = n;
    aioc_task ts[2] = {aioc_spawn(player, (void *)0), aioc_spawn(player, (void *)1)};
    uint64_t t0 = bench_now_ns();
    aioc_event_set(&turn[0]);
    int err = aioc_gather(ts, 2, NULL);
    uint64_t t1 = bench_now_ns();
    if (err)
        bench_fail(aioc_strerror(err));
    if (made != n)
        bench_fail("wrong hand-off count");
    printf("RESULT name=pingpong impl=aioc n=%ld ns_per_op=%.1f "
           "peak_rss_kb=%ld wall_s=%.3f\n",
           n, (double)(t1 - t0) / (double)n, bench_peak_rss_kb(), (double)(t1 - t0) / 1e9);
    return NULL;
}

int main(int argc, char **argv) { return bench_aioc_main(argc, argv, 1000000, run); }
