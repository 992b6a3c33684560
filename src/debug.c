/* aioc_dump_tasks: every task, its state, what it waits on, for how long;
 * printed from a snapshot (aioc_tasks, src/inspect.c). */
#include <stdlib.h>

#include "loops.h"
#include "scheduler.h"

/* The line above the tasks: how many, and the loop's clock. */
static void print_header(FILE *out, const aioc__loop *loop) {
    fprintf(out, "aioc: %zu live task(s), clock %.6f s\n", loop->live_tasks,
            (double)loop->now / 1e9);
}

int aioc_dump_tasks(FILE *out) {
    aioc__loop *loop = aioc__loop_get();
    if (!loop)
        return AIOC_ENOLOOP;
    return loop->run ? aioc__loops_dump(loop, out) : aioc__dump_loop(loop, out);
}

/* `loop` is the calling thread's own: aioc_tasks reads that one. */
int aioc__dump_loop(aioc__loop *loop, FILE *out) {
    size_t n;
    int err;
    aioc_task_info *tasks = aioc_tasks(&n, &err); /* also updates the clock */
    if (!tasks)
        return err;
    print_header(out, loop);
    int count = aioc_tasks_print(out, tasks, n);
    aioc_tasks_free(tasks);
    return count;
}
