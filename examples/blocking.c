/* The watchdog at work: a task that blocks the loop.
 *
 * A ticker prints every 50 ms while `resize` blocks the loop for 300 ms
 * in a C call that never yields (a stand-in for a slow parser, a large
 * qsort, a synchronous DNS lookup). Run with AIOC_DEBUG=1 (or
 * AIOC_WATCHDOG_MS=N) and the watchdog names it while it blocks, with its
 * backtrace, then says when it yielded; the ticker shows the gap:
 *
 *     AIOC_DEBUG=1 ./blocking
 *
 * In asyncio, debug mode logs "Executing <Task ...> took 0.300 seconds"
 * only after the fact. */
#define _GNU_SOURCE /* usleep */
#include <aioc.h>
#include <stdio.h>
#include <unistd.h>

static void *ticker(void *arg) {
    (void)arg;
    double start = aioc_now();
    for (int i = 0; i < 8; i++) {
        fprintf(stderr, "tick %.2f s\n", aioc_now() - start);
        aioc_sleep(0.05);
    }
    return NULL;
}

/* Exported (not static), so that the report can name it. */
void resize_images(void);
static volatile int resized;
__attribute__((noinline)) void resize_images(void) {
    usleep(300 * 1000); /* blocks the whole loop: nothing else runs */
    resized++;
}

static void *resize(void *arg) {
    (void)arg;
    aioc_sleep(0.12);
    resize_images();
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    aioc_task tasks[2] = {aioc_spawn_with(ticker, NULL, &(aioc_spawn_opts){.name = "ticker"}),
                          aioc_spawn_with(resize, NULL, &(aioc_spawn_opts){.name = "resize"})};
    return (void *)(long)aioc_gather(tasks, 2, NULL);
}

int main(void) { return aioc_run(main_task, NULL, NULL) ? 1 : 0; }
