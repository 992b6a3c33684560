/* The part of a loop that other threads touch (struct aioc_loop): a
 * mutex-guarded queue of calls, and the loop's wake-up.
 *
 * It is reference-counted apart from the loop itself: the loop holds one
 * reference while it runs, and threads that want to call into it later
 * take their own. When the loop ends it marks the handle closed (under the
 * mutex, so no call is half-made), runs what was queued, and drops its
 * reference; calls after that get -ESHUTDOWN instead of touching freed
 * memory. */
#include <stdlib.h>

#include "backend/backend.h"
#include "remote.h"
#include "scheduler.h"

/* A call queued by another thread. */
typedef struct aioc__remote_call {
    struct aioc__remote_call *next;
    aioc_callback fn;
    void *arg;
} aioc__remote_call;

struct aioc_loop {
    pthread_mutex_t lock;     /* guards everything below but refs */
    unsigned refs;            /* atomic */
    unsigned quiet_refs;      /* of them, held by the loop's run: not callers */
    aioc__remote_call *calls; /* newest first; peeked at without the lock */
    aioc__loop *loop;         /* NULL once closed */
    bool sleeping;            /* the loop blocks in its poll: wake it */
};

aioc_loop *aioc__remote_open(aioc__loop *loop) {
    aioc_loop *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_mutex_init(&h->lock, NULL);
    h->refs = 1;
    h->loop = loop;
    return h;
}

aioc_loop *aioc_loop_current(void) {
    aioc__loop *loop = aioc__loop_get();
    return loop ? loop->handle : NULL;
}

aioc_loop *aioc_loop_ref(aioc_loop *h) {
    if (h)
        __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
    return h;
}

void aioc_loop_unref(aioc_loop *h) {
    if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    while (h->calls) { /* cannot happen: closing runs them */
        aioc__remote_call *next = h->calls->next;
        free(h->calls);
        h->calls = next;
    }
    pthread_mutex_destroy(&h->lock);
    free(h);
}

int aioc_loop_call(aioc_loop *h, aioc_callback fn, void *arg) {
    if (!h || !fn)
        return -EINVAL;
    aioc__remote_call *rc = malloc(sizeof *rc);
    if (!rc)
        return -ENOMEM;
    rc->fn = fn;
    rc->arg = arg;
    pthread_mutex_lock(&h->lock);
    if (!h->loop) {
        pthread_mutex_unlock(&h->lock);
        free(rc);
        return -ESHUTDOWN;
    }
    rc->next = h->calls;
    __atomic_store_n(&h->calls, rc, __ATOMIC_RELEASE);
    if (h->sleeping) {
        h->sleeping = false;
        h->loop->backend->wakeup(h->loop); /* under the lock: the loop is alive */
    }
    pthread_mutex_unlock(&h->lock);
    return 0;
}

/* A reference held by the loop's run (src/loops.c), which keeps the handle
 * valid for aioc_loop_at: the run itself never calls in, its loops' calls
 * are accounted for by the run's own deadlock rule. Taken before the loop
 * runs tasks. */
aioc_loop *aioc__remote_hold_quiet(aioc_loop *h) {
    __atomic_add_fetch(&h->quiet_refs, 1, __ATOMIC_RELAXED);
    return aioc_loop_ref(h);
}

/* Whether a thread other than the loop's may still call in. */
bool aioc__remote_referenced(aioc_loop *h) {
    return __atomic_load_n(&h->refs, __ATOMIC_ACQUIRE) >
           1 + __atomic_load_n(&h->quiet_refs, __ATOMIC_RELAXED);
}

bool aioc__remote_pending(aioc_loop *h) {
    return __atomic_load_n(&h->calls, __ATOMIC_ACQUIRE) != NULL;
}

bool aioc__remote_prepare_sleep(aioc_loop *h) {
    pthread_mutex_lock(&h->lock);
    bool idle = h->calls == NULL;
    h->sleeping = idle;
    pthread_mutex_unlock(&h->lock);
    return idle;
}

void aioc__remote_awake(aioc_loop *h) {
    pthread_mutex_lock(&h->lock);
    h->sleeping = false;
    pthread_mutex_unlock(&h->lock);
}

/* Runs the queued calls in the order they were made; returns how many. */
size_t aioc__remote_run(aioc_loop *h) {
    pthread_mutex_lock(&h->lock);
    aioc__remote_call *list = h->calls;
    __atomic_store_n(&h->calls, NULL, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->lock);
    aioc__remote_call *fifo = NULL; /* the list is newest first: reverse it */
    while (list) {
        aioc__remote_call *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    size_t n = 0;
    while (fifo) {
        aioc__remote_call *next = fifo->next;
        fifo->fn(fifo->arg);
        free(fifo);
        fifo = next;
        n++;
    }
    return n;
}

void aioc__remote_close(aioc_loop *h) {
    aioc__remote_run(h);
    pthread_mutex_lock(&h->lock);
    h->loop = NULL; /* from here on calls fail with -ESHUTDOWN */
    pthread_mutex_unlock(&h->lock);
    aioc__remote_run(h); /* what came in meanwhile, with the loop still whole */
    aioc_loop_unref(h);
}
