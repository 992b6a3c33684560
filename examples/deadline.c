/* Cancellation and deadlines.
 *
 * A "download" that takes 3 s is given 1 s by a deadline scope (asyncio:
 * `async with asyncio.timeout(1)`), then another is given 1 s by
 * aioc_wait_for (asyncio.wait_for), and a heartbeat task is cancelled by
 * main (task.cancel()) and cleans up in a shielded scope. */
#include <aioc.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

/* A plain function that suspends: called directly it is `await download()`,
 * and it reports failure through its return value, like any C function. */
static int download(const char *what) {
    printf("  %s: started\n", what);
    int err = aioc_sleep(3);
    if (err) {
        printf("  %s: interrupted (%s)\n", what, aioc_err_name(err));
        return err;
    }
    printf("  %s: done\n", what);
    return 0;
}

/* The same as a task body: a task's failure is its status, set with
 * aioc_fail where the task function returns. */
static void *download_task(void *arg) {
    int err = download(arg);
    return err ? aioc_fail(err) : arg;
}

static void *heartbeat(void *arg) {
    (void)arg;
    for (int beat = 1;; beat++) {
        if (aioc_sleep(0.4) == -ECANCELED)
            break;
        printf("  heartbeat %d\n", beat);
    }
    /* Cancelled: every suspending call now fails, except inside a shield. */
    aioc_scope shield;
    aioc_shield_enter(&shield);
    aioc_sleep(0.1); /* e.g. flush a log, say goodbye to a peer */
    printf("  heartbeat: cleaned up after cancellation\n");
    aioc_scope_exit(&shield);
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    aioc_task beat = aioc_spawn(heartbeat, NULL);

    printf("1. a deadline scope of 1 s around a 3 s download\n");
    aioc_scope scope;
    aioc_scope_enter(&scope, 1.0);
    int err = download("download A");
    if (aioc_scope_exit(&scope) == -ETIMEDOUT && err == -ETIMEDOUT)
        printf("   the scope expired after %.1f s\n", 1.0);

    printf("2. wait_for: 1 s for a download task\n");
    err = aioc_wait_for(aioc_spawn(download_task, "download B"), 1.0, NULL);
    printf("   wait_for returned %s\n", aioc_err_name(err));

    printf("3. cancelling the heartbeat\n");
    aioc_cancel(beat);
    err = aioc_await(beat, NULL);
    printf("   heartbeat ended with %s\n", aioc_err_name(err));
    return NULL;
}

int main(void) { return aioc_run(main_task, NULL, NULL) ? 1 : 0; }
