/* Debug mode's checks besides the watchdog: a lock, or a semaphore's
 * permit, held longer than ten watchdog thresholds (reported when it is
 * released), a
 * stream the program never closed (reported when the loop ends), and a
 * loop's object used from another thread (reported and refused). They
 * cost nothing but a branch when debug mode is off. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug_checks.h"

/* "task 'NAME' (id N, spawned at FILE:LINE)" for `t`, or "no task". */
static void describe(char *buf, size_t n, const aioc__task *t) {
    if (!t) {
        snprintf(buf, n, "no task (a callback)");
        return;
    }
    char name[64];
    aioc__task_display_name(t, name, sizeof name);
    if (t->spawn_site)
        snprintf(buf, n, "task '%s' (id %u, spawned at %s:%d)", name, (uint32_t)t->id,
                 t->spawn_site->file, t->spawn_site->line);
    else
        snprintf(buf, n, "task '%s' (id %u)", name, (uint32_t)t->id);
}

/* ------------------------------------------------------------ locks -- */

void aioc__debug_lock_released_slow(aioc__loop *loop, const void *lock, uint64_t acquired_at) {
    uint64_t limit = aioc__watchdog_threshold_ns() * AIOC__LOCK_HELD_THRESHOLDS;
    aioc__clock_update(loop);
    if (!acquired_at || loop->now - acquired_at < limit)
        return;
    char who[512];
    describe(who, sizeof who, loop->current);
    fprintf(stderr, "aioc debug: lock %p was held %.3f s by %s\n", lock,
            (double)(loop->now - acquired_at) / 1e9, who);
}

/* ------------------------------------------------------- semaphores -- */

/* A semaphore has no owner: a permit taken by one task may be given back
 * by another. So each thread keeps the permits its loop's tasks took, in
 * the order taken, and a release gives back the releasing task's own
 * oldest permit of that semaphore, else the semaphore's oldest. A permit
 * never given back (a semaphore used as a signal) stays until the table is
 * full, when the oldest is forgotten: MAX_HOLDS bounds the memory. */
typedef struct sem_hold {
    const void *sem;
    uint64_t task; /* the task that took it; 0: a callback */
    uint64_t at;   /* the loop's clock then */
} sem_hold;

#define MAX_HOLDS 1024u

static _Thread_local sem_hold *holds; /* MAX_HOLDS, allocated on first use */
static _Thread_local unsigned nholds;

static void forget_hold(unsigned i) {
    memmove(&holds[i], &holds[i + 1], (nholds - i - 1) * sizeof *holds);
    nholds--;
}

void aioc__debug_sem_acquired_slow(aioc__loop *loop, const void *s, uint64_t task) {
    if (!loop)
        return; /* refused already, or debug mode is another loop's */
    if (!holds && !(holds = malloc(MAX_HOLDS * sizeof *holds)))
        return; /* a debugging aid: the semaphore works without */
    if (nholds == MAX_HOLDS)
        forget_hold(0);
    aioc__clock_update(loop);
    holds[nholds++] = (sem_hold){.sem = s, .task = task, .at = loop->now};
}

void aioc__debug_sem_released_slow(aioc__loop *loop, const void *s) {
    if (!loop)
        return;
    uint64_t me = loop->current ? loop->current->id : 0;
    unsigned found = nholds;
    for (unsigned i = 0; i < nholds && (found == nholds || holds[found].task != me); i++)
        if (holds[i].sem == s && (found == nholds || holds[i].task == me))
            found = i;
    if (found == nholds)
        return; /* taken before debug mode, or forgotten */
    sem_hold h = holds[found];
    forget_hold(found);
    uint64_t limit = aioc__watchdog_threshold_ns() * AIOC__LOCK_HELD_THRESHOLDS;
    aioc__clock_update(loop);
    if (loop->now - h.at < limit)
        return;
    char taker[512], giver[512];
    aioc__task *t = h.task ? aioc__handle_get(&loop->handles, h.task, AIOC__H_TASK) : NULL;
    if (t)
        describe(taker, sizeof taker, t);
    else if (h.task)
        snprintf(taker, sizeof taker, "task id %u, ended since", (uint32_t)h.task);
    else
        describe(taker, sizeof taker, NULL);
    describe(giver, sizeof giver, loop->current);
    fprintf(stderr,
            "aioc debug: a permit of semaphore %p was held %.3f s, taken by %s, given back by %s\n",
            s, (double)(loop->now - h.at) / 1e9, taker, giver);
}

/* ---------------------------------------------------------- streams -- */

struct aioc__debug_stream {
    aioc__list link;
    aioc__debug_stream **slot; /* the stream's pointer to this record */
    char creator[512];
};

/* This thread's open streams, created while debug mode was on. */
static _Thread_local aioc__list open_streams;

void aioc__debug_stream_opened(aioc__debug_stream **slot) {
    *slot = NULL;
    if (!aioc__watchdog_tls)
        return;
    aioc__debug_stream *r = malloc(sizeof *r);
    if (!r)
        return; /* a debugging aid: the stream works without */
    aioc__loop *loop = aioc__loop_get();
    describe(r->creator, sizeof r->creator, loop ? loop->current : NULL);
    r->slot = slot;
    aioc__list_push_back(aioc__lazy_list(&open_streams), &r->link);
    *slot = r;
}

void aioc__debug_stream_closed(aioc__debug_stream **slot) {
    aioc__debug_stream *r = *slot;
    if (!r)
        return;
    aioc__list_remove(&r->link);
    *slot = NULL;
    free(r);
}

/* --------------------------------------------- objects of one loop -- */

/* The owners, in a table shared by every thread (a loop's objects are
 * judged from other threads): chained buckets under one mutex. Debug mode
 * only, so simplicity wins over speed; each thread keeps the last objects
 * it found its own in a small cache, so a hand-off does not take the mutex.
 * A cache entry may outlive its object's owner (destroyed in another
 * thread, its memory reused by another loop): a report is then missed,
 * never made wrongly. */
typedef struct owner_rec {
    struct owner_rec *next;
    const void *obj;
    const aioc__loop *loop;
    bool reported;
} owner_rec;

#define OWNER_BUCKETS 1024u
#define CACHE_SLOTS 64u

static pthread_mutex_t owners_mu = PTHREAD_MUTEX_INITIALIZER;
static owner_rec *owners[OWNER_BUCKETS];
static atomic_size_t owners_count; /* read without the mutex: 0, nothing to check */
static _Thread_local const void *mine[CACHE_SLOTS] __attribute__((tls_model("initial-exec")));

static size_t slot_of(const void *obj, size_t n) {
    uintptr_t a = (uintptr_t)obj;
    return (size_t)((a >> 4) ^ (a >> 14)) & (n - 1);
}

/* The record of `obj`, and where the pointer to it is; owners_mu held. */
static owner_rec **find(const void *obj) {
    owner_rec **p = &owners[slot_of(obj, OWNER_BUCKETS)];
    while (*p && (*p)->obj != obj)
        p = &(*p)->next;
    return p;
}

static void report(const char *kind, const void *obj, const owner_rec *r, aioc__loop *loop) {
    char who[512];
    if (loop)
        describe(who, sizeof who, loop->current);
    fprintf(stderr,
            "aioc debug: %s %p of loop %p used from %s (%s); loop objects are not "
            "thread-safe: hand work over with aioc_loop_call\n",
            kind, obj, (const void *)r->loop,
            loop ? "another thread's loop" : "a thread with no loop", loop ? who : "no task");
}

/* The owner of `obj` from the table, claimed by `loop` if it has none. */
static __attribute__((noinline)) int claim(aioc__loop *loop, const void *obj, const char *kind,
                                           size_t c) {
    if (!loop && atomic_load_explicit(&owners_count, memory_order_relaxed) == 0)
        return 0; /* no loop in debug mode has claimed anything */
    int err = 0;
    pthread_mutex_lock(&owners_mu);
    owner_rec **p = find(obj), *r = *p;
    if (!r && loop && (r = malloc(sizeof *r))) { /* memory short: unchecked */
        *r = (owner_rec){.obj = obj, .loop = loop};
        *p = r;
        atomic_fetch_add_explicit(&owners_count, 1, memory_order_relaxed);
    }
    if (r && r->loop != loop) {
        err = loop ? -EXDEV : AIOC_ENOLOOP;
        if (!r->reported) {
            r->reported = true;
            report(kind, obj, r, loop);
        }
    }
    pthread_mutex_unlock(&owners_mu);
    if (!err && loop)
        mine[c] = obj;
    return err;
}

int aioc__debug_owned_slow(aioc__loop *loop, const void *obj, const char *kind) {
    size_t c = slot_of(obj, CACHE_SLOTS);
    if (loop && mine[c] == obj)
        return 0; /* the hand-off's case: one of this loop's own */
    return claim(loop, obj, kind, c);
}

void aioc__debug_forget_slow(const void *obj) {
    size_t c = slot_of(obj, CACHE_SLOTS);
    if (mine[c] == obj)
        mine[c] = NULL;
    pthread_mutex_lock(&owners_mu);
    owner_rec **p = find(obj), *r = *p;
    if (r) {
        *p = r->next;
        free(r);
        atomic_fetch_sub_explicit(&owners_count, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&owners_mu);
}

void aioc__debug_foreign_handle(aioc__loop *loop, uint64_t id) {
    if (!aioc__watchdog_tls)
        return;
    char who[512];
    describe(who, sizeof who, loop->current);
    fprintf(stderr,
            "aioc debug: a task handle (id %u) of another loop used from %s; task handles are "
            "not thread-safe: hand work over with aioc_loop_call\n",
            (uint32_t)id, who);
}

/* The loop ends: its objects are free to be claimed by others. */
static void forget_loop(const aioc__loop *loop) {
    for (size_t c = 0; c < CACHE_SLOTS; c++)
        mine[c] = NULL;
    pthread_mutex_lock(&owners_mu);
    for (size_t b = 0; b < OWNER_BUCKETS; b++) {
        for (owner_rec **p = &owners[b]; *p;) {
            owner_rec *r = *p;
            if (r->loop != loop) {
                p = &r->next;
                continue;
            }
            *p = r->next;
            free(r);
            atomic_fetch_sub_explicit(&owners_count, 1, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&owners_mu);
}

/* ------------------------------------------------------- loop's end -- */

void aioc__debug_streams_report(void) {
    forget_loop(aioc__loop_get());
    free(holds);
    holds = NULL;
    nholds = 0;
    for (aioc__list *n; (n = aioc__list_pop_front(aioc__lazy_list(&open_streams)));) {
        aioc__debug_stream *r = aioc__container_of(n, aioc__debug_stream, link);
        fprintf(stderr, "aioc debug: a stream created by %s was never closed\n", r->creator);
        *r->slot = NULL; /* the stream may still be closed later */
        free(r);
    }
}
