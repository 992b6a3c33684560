/* Tasks as data (aioc_tasks, asyncio's all_tasks) and the loop's counters
 * (aioc_loop_stats_get).
 *
 * A snapshot is one allocation: the array of entries, then the names they
 * point to, so that aioc_tasks_free is one free() and the snapshot stays
 * valid after the tasks it describes have ended. It reads what the
 * scheduler keeps anyway for dumps (state, wait reason and object, park
 * time); the only cost added to the hot path is the spawn time, stored at
 * spawn in what was padding, and a test of the debug flag at spawn and per
 * switch (scheduler.h). The parent and the run time are debug mode's: kept
 * outside the task struct (aioc__task_extra), timed with one counter
 * reading per hand-off. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "debug_mode.h"
#include "io.h"
#include "scheduler.h"
#include "thread.h"

/* Steps are timed with the CPU's counter (rdtsc, cntvct_el0: a few ns to
 * read, where clock_gettime takes 20 or more) when the kernel keeps its
 * own clock with it, which says that the counter runs at a constant rate
 * and agrees across CPUs; else with CLOCK_MONOTONIC. Ticks become ns at a
 * snapshot, by the ratio of the clock to the counter since the loop began. */
bool aioc__counter_trusted(void) {
#if defined(__x86_64__)
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    char name[32] = "";
    if (f) {
        if (!fgets(name, sizeof name, f))
            name[0] = '\0';
        fclose(f);
    }
    return strcmp(name, "tsc\n") == 0;
#elif defined(__aarch64__)
    return true; /* the architected counter: constant rate, system-wide */
#else
    return false;
#endif
}

void aioc__debug_start(aioc__loop *loop) {
    loop->debug = true;
    loop->step_tsc = aioc__counter_trusted();
    loop->ns0 = aioc__monotonic_ns();
    loop->tick0 = aioc__step_ticks(loop);
}

void aioc__debug_spawned(aioc__loop *loop, aioc__task *t) {
    uint32_t i = (uint32_t)t->id - 1;
    if (i >= loop->nextras) {
        uint32_t n = loop->nextras ? loop->nextras : 64;
        while (n <= i)
            n *= 2;
        aioc__task_extra *v = realloc(loop->extras, n * sizeof *v);
        if (!v)
            return; /* this task goes without: its run time reads 0 */
        memset(v + loop->nextras, 0, (n - loop->nextras) * sizeof *v);
        loop->extras = v;
        loop->nextras = n;
    }
    loop->extras[i] = (aioc__task_extra){
        .id = t->id, .parent = loop->current ? loop->current->id : 0, .run_ticks = 0};
}

uint64_t aioc__run_time_ns(const aioc__loop *loop, const aioc__task *t) {
    aioc__task_extra *x = aioc__task_extra_of(loop, t);
    if (!x)
        return 0;
    if (!loop->step_tsc)
        return x->run_ticks;
    uint64_t ticks = aioc__step_ticks(loop) - loop->tick0;
    uint64_t ns = aioc__monotonic_ns() - loop->ns0;
    return ticks ? (uint64_t)((double)x->run_ticks * ((double)ns / (double)ticks)) : 0;
}

bool aioc__debug_requested(const aioc_run_opts *opts) {
    if (opts && opts->debug)
        return true;
    const char *env = getenv("AIOC_DEBUG");
    return env && *env && strcmp(env, "0") != 0;
}

static double seconds(uint64_t ns) { return (double)ns / 1e9; }

static aioc_task_state state_of(const aioc__task *t) {
    switch (t->state) {
    case AIOC__NEW:
        return AIOC_TASK_NEW;
    case AIOC__READY:
        return AIOC_TASK_READY;
    case AIOC__RUNNING:
        return AIOC_TASK_RUNNING;
    case AIOC__PARKED:
        return AIOC_TASK_WAITING;
    default:
        return AIOC_TASK_DONE;
    }
}

/* The wait reasons of scheduler.h and the public kinds are in the same
 * order; this keeps them so. */
_Static_assert(AIOC__WAIT_THREAD == (int)AIOC_WAITS_ON_THREAD &&
                   AIOC__WAIT_FD == (int)AIOC_WAITS_ON_FD,
               "aioc_wait_kind follows enum aioc__wait_reason");

/* Fills `e` from `t`, all but the name. */
static void describe(aioc__loop *loop, const aioc__task *t, aioc_task_info *e) {
    memset(e, 0, sizeof *e);
    e->id = t->id;
    e->state = state_of(t);
    e->fd = -1;
    aioc__task_extra *x = aioc__task_extra_of(loop, t);
    e->parent = x ? x->parent : 0;
    e->age = seconds((uint64_t)(aioc__clock_ms(loop->now) - t->created_at) << 20);
    e->run_time = aioc__debug_enabled(loop) ? seconds(aioc__run_time_ns(loop, t)) : -1;
    e->cancels = t->cancels;
    e->taken_at = seconds(loop->now);
    e->spawn_file = t->spawn_site ? t->spawn_site->file : NULL;
    e->spawn_line = t->spawn_site ? t->spawn_site->line : 0;
    if (t->state == AIOC__DONE) {
        e->status = t->status;
    } else if (t->state == AIOC__PARKED) {
        e->wait = (aioc_wait_kind)t->wait_reason;
        e->waiting = seconds((uint64_t)(aioc__clock_ms(loop->now) - t->parked_at) << 20);
        switch (t->wait_reason) {
        case AIOC__WAIT_FD: /* io.c parks with wait_data = fd, obj "read"/"write" */
            e->fd = (int)t->wait_data;
            e->fd_write = t->wait_obj && *(const char *)t->wait_obj == 'w';
            break;
        case AIOC__WAIT_SLEEP:
            e->deadline = seconds(t->timer.when);
            break;
        case AIOC__WAIT_TASK:
            e->wait_object = t->wait_obj;
            e->wait_task = ((const aioc__task *)t->wait_obj)->id;
            break;
        case AIOC__WAIT_PRIMITIVE:
            e->wait_object = t->wait_obj;
            e->primitive = (aioc_primitive)t->wait_primitive;
            break;
        default:
            e->wait_object = t->wait_obj;
            break;
        }
    }
}

aioc_task_info *aioc_tasks(size_t *count, int *err) {
    int ignored;
    if (!err)
        err = &ignored;
    aioc__loop *loop = aioc__loop_get();
    if (count)
        *count = 0;
    if (!loop) {
        *err = AIOC_ENOLOOP;
        return NULL;
    }
    aioc__clock_update(loop);
    /* first pass: how many, and room for their names */
    size_t n = 0, names = 0;
    char name[64];
    for (uint32_t i = 0; i < loop->handles.used; i++) {
        aioc__slot *s = aioc__handle_slot(&loop->handles, i);
        if (s->type != AIOC__H_TASK)
            continue;
        n++;
        names += strlen(aioc__task_display_name(s->obj, name, sizeof name)) + 1;
    }
    aioc_task_info *v = malloc(n * sizeof *v + names + 1);
    if (!v) {
        *err = -ENOMEM;
        return NULL;
    }
    char *text = (char *)(v + n);
    size_t k = 0;
    for (uint32_t i = 0; i < loop->handles.used && k < n; i++) {
        aioc__slot *s = aioc__handle_slot(&loop->handles, i);
        if (s->type != AIOC__H_TASK)
            continue;
        describe(loop, s->obj, &v[k]);
        size_t len = strlen(aioc__task_display_name(s->obj, name, sizeof name));
        memcpy(text, name, len + 1);
        v[k++].name = text;
        text += len + 1;
    }
    if (count)
        *count = k;
    *err = 0;
    return v;
}

void aioc_tasks_free(aioc_task_info *tasks) { free(tasks); }

static const char *state_name(aioc_task_state s) {
    static const char *names[] = {"new", "ready", "running", "parked", "done"};
    return (unsigned)s <= AIOC_TASK_DONE ? names[s] : "?";
}

static const char *wait_name(aioc_wait_kind w) {
    static const char *names[] = {"-",     "yield", "sleep", "task",      "tasks",
                                  "group", "scope", "fd",    "primitive", "thread"};
    return (unsigned)w <= AIOC_WAITS_ON_THREAD ? names[w] : "?";
}

static const char *primitive_name(aioc_primitive p) {
    static const char *names[] = {"?",       "event",     "lock",      "condition", "semaphore",
                                  "barrier", "queue put", "queue get", "queue join"};
    return (unsigned)p <= AIOC_PRIMITIVE_QUEUE_JOIN ? names[p] : "?";
}

/* The name of the task `id` in the snapshot, or NULL. */
static const char *name_of(const aioc_task_info *tasks, size_t n, uint64_t id) {
    for (size_t i = 0; i < n; i++)
        if (tasks[i].id == id)
            return tasks[i].name;
    return NULL;
}

int aioc_tasks_print(FILE *out, const aioc_task_info *tasks, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const aioc_task_info *t = &tasks[i];
        fprintf(out, "  #%-6u %-20s %-7s", (uint32_t)t->id, t->name, state_name(t->state));
        if (t->state == AIOC_TASK_WAITING) {
            fprintf(out, " waits on %s", wait_name(t->wait));
            if (t->wait == AIOC_WAITS_ON_TASK) {
                const char *other = name_of(tasks, n, t->wait_task);
                if (other)
                    fprintf(out, " '%s'", other);
                else
                    fprintf(out, " 'task-%u'", (uint32_t)t->wait_task);
            } else if (t->wait == AIOC_WAITS_ON_PRIMITIVE) {
                fprintf(out, " %p (%s)", t->wait_object, primitive_name(t->primitive));
            } else if (t->wait == AIOC_WAITS_ON_THREAD) {
                fprintf(out, " %p", t->wait_object);
            } else if (t->wait == AIOC_WAITS_ON_FD) {
                fprintf(out, " %d", t->fd);
            } else if (t->wait == AIOC_WAITS_ON_SLEEP) {
                fprintf(out, " (wakes in %.3f s)", t->deadline - t->taken_at);
            }
            fprintf(out, " for %.3f s", t->waiting);
        } else if (t->state == AIOC_TASK_DONE) {
            fprintf(out, " status %s", aioc_err_name(t->status));
        }
        if (t->cancels)
            fprintf(out, " [cancel requested x%u]", t->cancels);
        if (t->run_time >= 0)
            fprintf(out, " ran %.6f s", t->run_time);
        fputc('\n', out);
    }
    return (int)n;
}

int aioc_loop_stats_get(aioc_loop *handle, aioc_loop_stats *stats) {
    aioc__loop *loop = aioc__loop_get();
    if (!loop)
        return AIOC_ENOLOOP;
    if (!stats || (handle && handle != loop->handle))
        return -EINVAL;
    memset(stats, 0, sizeof *stats);
    stats->tasks_spawned = loop->spawned;
    stats->tasks_alive = loop->live_tasks;
    stats->steps = loop->steps + loop->since_poll;
    stats->polls = loop->polls;
    stats->fds_watched = aioc__fds_watched(loop);
    stats->fd_waiters = loop->fd_waiters;
    stats->timers = loop->timers.len;
    for (aioc__list *l = loop->ready.next; l != &loop->ready; l = l->next)
        stats->ready++;
    uint64_t wait_ns;
    aioc__pool_stats(&stats->pool_threads, &stats->pool_queued, &stats->pool_jobs, &wait_ns);
    stats->pool_wait = seconds(wait_ns);
    return 0;
}
