/* AIOC_TRACE=FILE: the loop's timeline as Chrome trace-event JSON (see
 * trace.h). Recording appends 24-byte records; this file also turns them
 * into events when the loop ends:
 *   - each task step is an X (complete) event named after the task on its
 *     loop's thread, each callback one named "callback";
 *   - each wait between two steps of a task is an async span (b/e, one
 *     track per task) named after what it waited on: sleep, await, ...;
 *   - each wake-up is an instant event, and when a step or callback made
 *     it, a flow arrow (s/f) from that slice to the woken task's next step.
 *     A wake-up made inside a slice is stamped with the slice's end, which
 *     spares a clock read per wake-up;
 *   - counters: ready tasks and live tasks, at each turn of the loop where
 *     they changed;
 *   - metadata events name the process and each loop's thread. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "debug_mode.h"
#include "scheduler.h"
#include "trace.h"

enum rec_kind { REC_STEP, REC_CALL, REC_IDLE, REC_WAKE, REC_NAME, REC_COUNT, REC_JUMP };

typedef struct rec {
    uint64_t ts; /* ticks(loop); 0 for a wake-up inside a slice */
    uint64_t a;  /* STEP, WAKE, NAME: the task's id; COUNT: ready tasks;
                    JUMP: the loop's virtual-time offset from now on, ns */
    uint32_t kind;
    uint32_t b; /* STEP, CALL, IDLE: how the previous step ended (end_code);
                   NAME: the name's length (its bytes fill the records that
                   follow); COUNT: live tasks */
} rec;

/* Records a loop buffers before writing them to its spill file: 1.5 MiB.
 * AIOC_TRACE_BUFFER changes it (tests make it small to exercise the spill). */
#define REC_CAP 65536
#define REC_CAP_MIN 64
#define NAME_MAX_LEN 200

struct aioc__trace {
    rec *buf;
    size_t len, cap;
    FILE *spill;   /* full buffers, in order; NULL until one fills */
    bool lost;     /* the spill file could not be written */
    bool in_slice; /* a step or callback runs */
    uint64_t last_ready, last_alive, last_offset;
    pid_t tid;
    unsigned index, count; /* the loop's place in a run of several */
    /* ticks(loop) against the trace clock at start and stop: ticks are turned
     * into ns by the line through these two points */
    uint64_t tick0, ns0, tick1, ns1;
};

/* The trace file, shared by every loop of the process. */
static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static char *file_path;      /* NULL until the first loop starts tracing */
static bool file_failed;     /* it could not be written: trace nothing */
static uint64_t file_events; /* events written so far */
static uint64_t clock_zero;  /* CLOCK_MONOTONIC at the first start, ns */
static uint64_t next_flow = 1;

/* What follows the last event; rewritten after each loop's events so the
 * file is always whole. */
static const char tail[] = "\n],\"displayTimeUnit\":\"ns\"}\n";

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * AIOC__NS + (uint64_t)ts.tv_nsec;
}

/* Records are stamped with aioc__step_ticks (scheduler.h): the CPU's
 * counter where the kernel trusts it, a third of a vDSO clock_gettime's
 * cost, which is most of a task switch's; else the monotonic clock. In
 * debug mode a step's start has just been read for its run time, and the
 * trace takes that reading. */
static uint64_t ticks(const aioc__loop *loop) { return aioc__step_ticks(loop); }

/* ------------------------------------------------------ recording -- */

static void spill(aioc__trace *tr) {
    if (!tr->spill && !tr->lost)
        tr->spill = tmpfile();
    if (!tr->spill || fwrite(tr->buf, sizeof(rec), tr->len, tr->spill) != tr->len)
        tr->lost = true; /* reported when the loop ends */
    tr->len = 0;
}

static rec *push(aioc__trace *tr) {
    if (tr->len == tr->cap)
        spill(tr);
    return &tr->buf[tr->len++];
}

/* How a task's step ended: its state, and what it waits on if parked. */
static uint32_t end_code(const aioc__task *t) {
    return t ? (uint32_t)t->state << 8 | t->wait_reason : 0;
}

void aioc__trace_step(aioc__loop *loop, const aioc__task *from, const aioc__task *to) {
    aioc__trace *tr = loop->trace;
    rec *r = push(tr);
    *r = (rec){.ts = loop->debug ? loop->step_start : ticks(loop),
               .a = to ? to->id : 0,
               .kind = to ? REC_STEP : REC_IDLE,
               .b = end_code(from)};
    tr->in_slice = to != NULL;
}

void aioc__trace_call(aioc__loop *loop, int begin) {
    aioc__trace *tr = loop->trace;
    *push(tr) = (rec){.ts = ticks(loop), .kind = begin ? REC_CALL : REC_IDLE};
    tr->in_slice = begin;
}

void aioc__trace_wake(aioc__loop *loop, const aioc__task *t) {
    aioc__trace *tr = loop->trace;
    *push(tr) = (rec){.ts = tr->in_slice ? 0 : ticks(loop), .a = t->id, .kind = REC_WAKE};
}

void aioc__trace_spawn(aioc__loop *loop, const aioc__task *t) {
    if (!t->name)
        return; /* shown as task-N, from its id */
    aioc__trace *tr = loop->trace;
    size_t len = strnlen(t->name, NAME_MAX_LEN);
    *push(tr) = (rec){.a = t->id, .kind = REC_NAME, .b = (uint32_t)len};
    for (size_t at = 0; at < len; at += sizeof(rec)) {
        rec *r = push(tr);
        memset(r, 0, sizeof *r);
        memcpy(r, t->name + at, len - at < sizeof(rec) ? len - at : sizeof(rec));
    }
}

void aioc__trace_turn(aioc__loop *loop) {
    aioc__trace *tr = loop->trace;
    if (loop->clock_offset != tr->last_offset) { /* virtual time jumped */
        tr->last_offset = loop->clock_offset;
        *push(tr) = (rec){.a = loop->clock_offset, .kind = REC_JUMP};
    }
    uint64_t ready = 0;
    for (aioc__list *n = loop->ready.next; n != &loop->ready; n = n->next)
        ready++;
    if (ready == tr->last_ready && loop->live_tasks == tr->last_alive)
        return;
    tr->last_ready = ready;
    tr->last_alive = loop->live_tasks;
    *push(tr) =
        (rec){.ts = ticks(loop), .a = ready, .kind = REC_COUNT, .b = (uint32_t)loop->live_tasks};
}

/* -------------------------------------------------- the JSON file -- */

/* Opens the trace file (written whole by the first start) for more
 * events, over its tail. NULL on failure. */
static FILE *file_reopen(void) {
    FILE *f = fopen(file_path, "r+");
    if (f && fseek(f, -(long)(sizeof tail - 1), SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    return f;
}

/* Starts the next event (the comma between events). */
static FILE *event(FILE *f) {
    fputs(file_events++ ? ",\n" : "\n", f);
    return f;
}

static void put_string(FILE *f, const char *s, size_t len) {
    putc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            putc(c, f);
    }
    putc('"', f);
}

/* A timestamp in µs, to the ns, as the format wants. */
static void put_ts(FILE *f, const char *key, uint64_t ns) {
    fprintf(f, ",\"%s\":%" PRIu64 ".%03u", key, ns / 1000, (unsigned)(ns % 1000));
}

/* What the converter knows of a task: its name, and what is pending for
 * its next step (an open wait span, a flow arrow to end). */
typedef struct task_note {
    uint64_t id; /* 0: free slot */
    char *name;
    uint64_t flow;   /* a wake-up's arrow ends at the next step, or 0 */
    uint8_t waiting; /* 1 + the wait reason of an open span, or 0 */
} task_note;

typedef struct notes {
    task_note *slot;
    size_t cap, used;
} notes;

static task_note *note_of(notes *ns, uint64_t id) {
    if (ns->used * 2 >= ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 256;
        task_note *slot = calloc(cap, sizeof *slot);
        if (!slot)
            return NULL;
        for (size_t i = 0; i < ns->cap; i++) {
            if (!ns->slot[i].id)
                continue;
            size_t j = ns->slot[i].id & (cap - 1);
            while (slot[j].id)
                j = (j + 1) & (cap - 1);
            slot[j] = ns->slot[i];
        }
        free(ns->slot);
        ns->slot = slot;
        ns->cap = cap;
    }
    size_t j = id & (ns->cap - 1);
    while (ns->slot[j].id && ns->slot[j].id != id)
        j = (j + 1) & (ns->cap - 1);
    if (!ns->slot[j].id) {
        ns->slot[j].id = id;
        ns->used++;
    }
    return &ns->slot[j];
}

static const char *wait_name(unsigned reason) {
    static const char *names[] = {"wait",  "yield", "sleep", "await task", "await tasks",
                                  "group", "scope", "fd",    "wait",       "thread"};
    return reason < sizeof names / sizeof *names ? names[reason] : "wait";
}

/* The running conversion of one loop's records. */
typedef struct convert {
    FILE *f;
    int pid, tid;
    const aioc__trace *tr;
    double ns_per_tick;
    uint64_t offset; /* virtual time's jumps so far, ns */
    notes tasks;
    uint64_t slice_task; /* the open slice: a task's id, or 0 */
    bool slice_open;
    uint64_t slice_ts;
    uint64_t *woken; /* tasks woken inside the open slice */
    size_t nwoken, capwoken;
    uint64_t name_id; /* a NAME record's task, whose name is being read */
    size_t name_len, name_at;
    char name_buf[NAME_MAX_LEN + 1];
} convert;

static void put_head(convert *c, const char *ph, const char *cat, uint64_t ts) {
    fprintf(event(c->f), "{\"ph\":\"%s\",\"cat\":\"%s\",\"pid\":%d,\"tid\":%d", ph, cat, c->pid,
            c->tid);
    put_ts(c->f, "ts", ts);
}

static void put_task_name(convert *c, uint64_t id) {
    task_note *n = note_of(&c->tasks, id);
    if (n && n->name) {
        put_string(c->f, n->name, strlen(n->name));
    } else {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "task-%u", (uint32_t)id);
        put_string(c->f, buf, (size_t)len);
    }
}

static void wake_event(convert *c, uint64_t id, uint64_t ts, bool from_slice) {
    put_head(c, "i", "wake", ts);
    fputs(",\"s\":\"t\",\"name\":\"wake\",\"args\":{\"task\":", c->f);
    put_task_name(c, id);
    fputs("}}", c->f);
    task_note *n = note_of(&c->tasks, id);
    if (!from_slice || !n)
        return;
    n->flow = next_flow++;
    put_head(c, "s", "wake", ts);
    fprintf(c->f, ",\"name\":\"wake\",\"id\":%" PRIu64 "}", n->flow);
}

/* Closes the open slice at `end`, with the wake-ups made inside it, and
 * opens the wait span of the task whose step ended (`code`: end_code). */
static void close_slice(convert *c, uint64_t end, uint32_t code) {
    if (!c->slice_open)
        return;
    uint64_t dur = end - c->slice_ts;
    put_head(c, "X", c->slice_task ? "task" : "callback", c->slice_ts);
    put_ts(c->f, "dur", dur);
    fputs(",\"name\":", c->f);
    if (c->slice_task) {
        put_task_name(c, c->slice_task);
        fprintf(c->f, ",\"args\":{\"id\":%" PRIu64 "}}", c->slice_task);
    } else {
        fputs("\"callback\"}", c->f);
    }
    /* inside the slice, at its last ns */
    uint64_t wake_ts = dur ? end - 1 : end;
    for (size_t i = 0; i < c->nwoken; i++)
        wake_event(c, c->woken[i], wake_ts, true);
    c->nwoken = 0;
    if (c->slice_task && code >> 8 == AIOC__PARKED) {
        task_note *n = note_of(&c->tasks, c->slice_task);
        if (n) {
            n->waiting = (uint8_t)(1 + (code & 0xff));
            put_head(c, "b", "wait", end);
            fprintf(c->f, ",\"name\":\"%s\",\"id\":%" PRIu64 "}", wait_name(code & 0xff),
                    c->slice_task);
        }
    }
    c->slice_open = false;
}

static void open_slice(convert *c, uint64_t ts, uint64_t task) {
    c->slice_open = true;
    c->slice_ts = ts;
    c->slice_task = task;
    task_note *n = task ? note_of(&c->tasks, task) : NULL;
    if (!n)
        return;
    if (n->waiting) {
        put_head(c, "e", "wait", ts);
        fprintf(c->f, ",\"name\":\"%s\",\"id\":%" PRIu64 "}", wait_name(n->waiting - 1u), task);
        n->waiting = 0;
    }
    if (n->flow) {
        put_head(c, "f", "wake", ts);
        fprintf(c->f, ",\"bp\":\"e\",\"name\":\"wake\",\"id\":%" PRIu64 "}", n->flow);
        n->flow = 0;
    }
}

/* A record's ticks on the trace clock, in ns. */
static uint64_t ns_of(const convert *c, uint64_t tick) {
    return c->tr->ns0 + (uint64_t)((double)(tick - c->tr->tick0) * c->ns_per_tick) + c->offset;
}

static void convert_rec(convert *c, const rec *r) {
    if (c->name_at < c->name_len) { /* bytes of a name */
        size_t n = c->name_len - c->name_at < sizeof *r ? c->name_len - c->name_at : sizeof *r;
        memcpy(c->name_buf + c->name_at, r, n);
        c->name_at += n;
        if (c->name_at == c->name_len) {
            c->name_buf[c->name_len] = '\0';
            task_note *note = note_of(&c->tasks, c->name_id);
            if (note) {
                free(note->name);
                note->name = strdup(c->name_buf);
            }
        }
        return;
    }
    uint64_t ts = r->ts ? ns_of(c, r->ts) : 0;
    switch (r->kind) {
    case REC_STEP:
    case REC_CALL:
    case REC_IDLE:
        close_slice(c, ts, r->b);
        if (r->kind != REC_IDLE)
            open_slice(c, ts, r->kind == REC_STEP ? r->a : 0);
        break;
    case REC_WAKE:
        if (ts == 0 && c->slice_open) {
            if (c->nwoken == c->capwoken) {
                size_t cap = c->capwoken ? c->capwoken * 2 : 64;
                uint64_t *w = realloc(c->woken, cap * sizeof *w);
                if (!w)
                    break;
                c->woken = w;
                c->capwoken = cap;
            }
            c->woken[c->nwoken++] = r->a;
        } else {
            wake_event(c, r->a, ts, false);
        }
        break;
    case REC_NAME:
        c->name_id = r->a;
        c->name_len = r->b;
        c->name_at = 0;
        break;
    case REC_COUNT:
        put_head(c, "C", "loop", ts);
        fprintf(c->f,
                ",\"name\":\"tasks (thread %d)\",\"args\":{\"ready\":%" PRIu64 ",\"alive\":%u}}",
                c->tid, r->a, r->b);
        break;
    case REC_JUMP:
        c->offset = r->a;
        break;
    }
}

/* Appends the events of `tr` (spilled records first, then the buffer). */
static void convert_all(FILE *f, aioc__trace *tr) {
    convert c = {.f = f, .pid = (int)getpid(), .tid = (int)tr->tid, .tr = tr, .ns_per_tick = 1};
    if (tr->tick1 > tr->tick0)
        c.ns_per_tick = (double)(tr->ns1 - tr->ns0) / (double)(tr->tick1 - tr->tick0);
    char name[64];
    if (tr->count > 1)
        snprintf(name, sizeof name, "aioc loop %u of %u (thread %d)", tr->index, tr->count, c.tid);
    else
        snprintf(name, sizeof name, "aioc loop (thread %d)", c.tid);
    fprintf(event(f),
            "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":",
            c.pid, c.tid);
    put_string(f, name, strlen(name));
    fputs("}}", f);
    fprintf(event(f),
            "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":%d,\"tid\":%d,"
            "\"args\":{\"sort_index\":%u}}",
            c.pid, c.tid, tr->index);
    if (tr->spill) {
        rewind(tr->spill);
        rec chunk[1024];
        size_t n;
        while ((n = fread(chunk, sizeof(rec), sizeof chunk / sizeof *chunk, tr->spill)) > 0)
            for (size_t i = 0; i < n; i++)
                convert_rec(&c, &chunk[i]);
    }
    for (size_t i = 0; i < tr->len; i++)
        convert_rec(&c, &tr->buf[i]);
    uint64_t end = tr->ns1 + c.offset;
    close_slice(&c, end, 0);
    for (size_t i = 0; i < c.tasks.cap; i++) {
        task_note *n = &c.tasks.slot[i];
        if (n->id && n->waiting) { /* still waiting when the loop ended */
            put_head(&c, "e", "wait", end);
            fprintf(f, ",\"name\":\"%s\",\"id\":%" PRIu64 "}", wait_name(n->waiting - 1u), n->id);
        }
        free(n->name);
    }
    free(c.tasks.slot);
    free(c.woken);
}

/* ---------------------------------------------------- start, stop -- */

void aioc__trace_start(aioc__loop *loop) {
    const char *path = getenv("AIOC_TRACE");
    if (!path || !*path)
        return;
    pthread_mutex_lock(&file_lock);
    bool first = !file_path && !file_failed;
    if (first) {
        clock_zero = monotonic_ns();
        file_path = strdup(path);
        FILE *f = file_path ? fopen(file_path, "w") : NULL;
        if (f) { /* whole from the start: a header, the process's name, the tail */
            fputs("{\"traceEvents\":[", f);
            char name[64] = "aioc";
            FILE *comm = fopen("/proc/self/comm", "r");
            if (comm) {
                if (fgets(name, sizeof name, comm))
                    name[strcspn(name, "\n")] = '\0';
                fclose(comm);
            }
            fprintf(event(f),
                    "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"args\":{\"name\":",
                    (int)getpid());
            put_string(f, name, strlen(name));
            fputs("}}", f);
            fputs(tail, f);
        }
        if (!f || fclose(f) != 0) {
            fprintf(stderr, "aioc: AIOC_TRACE=%s: cannot write the trace: %m\n", path);
            file_failed = true;
        }
    }
    bool traced = !file_failed;
    pthread_mutex_unlock(&file_lock);
    if (!traced)
        return;
    const char *env = getenv("AIOC_TRACE_BUFFER");
    size_t cap = env ? strtoul(env, NULL, 10) : REC_CAP;
    if (cap < REC_CAP_MIN)
        cap = REC_CAP_MIN;
    aioc__trace *tr = calloc(1, sizeof *tr);
    if (tr) {
        tr->cap = cap;
        tr->buf = calloc(cap, sizeof(rec));
    }
    if (!tr || !tr->buf) {
        free(tr);
        fprintf(stderr, "aioc: AIOC_TRACE: out of memory, not tracing this loop\n");
        return;
    }
    tr->tid = (pid_t)syscall(SYS_gettid);
    tr->index = aioc_loop_index(); /* the loop is this thread's already */
    tr->count = aioc_loop_count();
    if (!loop->debug) /* debug mode has decided already */
        loop->step_tsc = aioc__counter_trusted();
    tr->ns0 = monotonic_ns() - clock_zero;
    tr->tick0 = ticks(loop);
    tr->last_ready = UINT64_MAX;
    loop->trace = tr;
}

void aioc__trace_stop(aioc__loop *loop) {
    aioc__trace *tr = loop->trace;
    if (!tr)
        return;
    loop->trace = NULL;
    tr->tick1 = ticks(loop);
    tr->ns1 = monotonic_ns() - clock_zero;
    pthread_mutex_lock(&file_lock);
    FILE *f = file_reopen();
    if (f) {
        convert_all(f, tr);
        fputs(tail, f);
    }
    if (!f || fclose(f) != 0)
        fprintf(stderr, "aioc: AIOC_TRACE=%s: cannot write the trace: %m\n", file_path);
    if (tr->lost)
        fprintf(stderr, "aioc: AIOC_TRACE: the spill file failed, the trace misses events\n");
    pthread_mutex_unlock(&file_lock);
    if (tr->spill)
        fclose(tr->spill);
    free(tr->buf);
    free(tr);
}
