/* aioc_dump_tasks: every task, its state, what it waits on, for how long. */
#include "loops.h"
#include "scheduler.h"

static const char *state_name(int s) {
    static const char *names[] = {"new", "ready", "running", "parked", "done"};
    return s >= 0 && s <= AIOC__DONE ? names[s] : "?";
}

static const char *reason_name(int r) {
    static const char *names[] = {"-",     "yield", "sleep", "task",      "tasks",
                                  "group", "scope", "fd",    "primitive", "thread"};
    return r >= 0 && r <= AIOC__WAIT_THREAD ? names[r] : "?";
}

int aioc_dump_tasks(FILE *out) {
    aioc__loop *loop = aioc__loop_get();
    if (!loop)
        return AIOC_ENOLOOP;
    return loop->run ? aioc__loops_dump(loop, out) : aioc__dump_loop(loop, out);
}

int aioc__dump_loop(aioc__loop *loop, FILE *out) {
    int count = 0;
    aioc__clock_update(loop);
    fprintf(out, "aioc: %zu live task(s), clock %.6f s\n", loop->live_tasks,
            (double)loop->now / 1e9);
    for (uint32_t i = 0; i < loop->handles.used; i++) {
        aioc__slot *s = aioc__handle_slot(&loop->handles, i);
        if (s->type != AIOC__H_TASK)
            continue;
        aioc__task *t = s->obj;
        char name[64];
        aioc__task_display_name(t, name, sizeof name);
        fprintf(out, "  #%-6u %-20s %-7s", (uint32_t)t->id, name, state_name(t->state));
        if (t->state == AIOC__PARKED) {
            fprintf(out, " waits on %s", reason_name(t->wait_reason));
            if (t->wait_reason == AIOC__WAIT_TASK) {
                char other[64];
                aioc__task_display_name(t->wait_obj, other, sizeof other);
                fprintf(out, " '%s'", other);
            } else if (t->wait_reason == AIOC__WAIT_PRIMITIVE ||
                       t->wait_reason == AIOC__WAIT_THREAD) {
                fprintf(out, " %p", t->wait_obj);
            } else if (t->wait_reason == AIOC__WAIT_FD) {
                fprintf(out, " %d", (int)t->wait_data);
            } else if (t->wait_reason == AIOC__WAIT_SLEEP) {
                fprintf(out, " (wakes in %.3f s)",
                        ((double)t->timer.when - (double)loop->now) / 1e9);
            }
            fprintf(out, " for %.3f s", (double)(loop->now - t->parked_at) / 1e9);
        } else if (t->state == AIOC__DONE) {
            fprintf(out, " status %s", aioc_err_name(t->status));
        }
        if (t->cancels)
            fprintf(out, " [cancel requested x%u]", t->cancels);
        fputc('\n', out);
        count++;
    }
    return count;
}
