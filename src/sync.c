/* Events, locks, conditions, semaphores and barriers.
 *
 * Each primitive keeps a FIFO list of the tasks waiting on it, linked
 * through the tasks' own nodes, so waiting never allocates. Whatever a
 * wait is for (the lock, a permit, a notify) is handed to the first waiter
 * at the moment it becomes free, before that waiter runs: a waiter that is
 * cancelled after the hand-over still gets it (and returns 0), and one
 * cancelled before it is off the list, so the next waiter gets it. No
 * wake-up or permit is lost either way.
 *
 * The public structs are opaque arrays; the layouts below are checked
 * against them. A zeroed list head (the AIOC_*_INIT macros) means empty. */
#include "debug_checks.h"
#include "scheduler.h"

/* ------------------------------------------------------------- event -- */

typedef struct event {
    aioc__list waiters;
    uintptr_t set;
} event;
_Static_assert(sizeof(event) <= sizeof(aioc_event), "aioc_event too small");

void aioc_event_init(aioc_event *ev) {
    event *e = (event *)ev;
    aioc__list_init(&e->waiters);
    e->set = 0;
    aioc__debug_forget(ev);
}

int aioc_event_destroy(aioc_event *ev) {
    event *e = (event *)ev;
    if (!aioc__list_empty(aioc__lazy_list(&e->waiters)))
        return -EBUSY;
    aioc__debug_forget(ev);
    return 0;
}

void aioc_event_set(aioc_event *ev) {
    aioc__loop *loop = aioc__loop_get();
    if (aioc__debug_owned(loop, ev, "event"))
        return; /* debug mode: another thread's event, left alone */
    event *e = (event *)ev;
    e->set = 1;
    aioc__wake_all(loop, aioc__lazy_list(&e->waiters), AIOC__WOKEN);
}

void aioc_event_clear(aioc_event *ev) { ((event *)ev)->set = 0; }

int aioc_event_is_set(const aioc_event *ev) { return ((const event *)ev)->set != 0; }

int aioc_event_wait(aioc_event *ev) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__suspension_point(&loop, &err);
    if (!t)
        return err;
    if ((err = aioc__debug_owned_here(loop, ev, "event")))
        return err;
    event *e = (event *)ev;
    if (e->set)
        return 0;
    return aioc__wait_on(loop, t, aioc__lazy_list(&e->waiters), ev, AIOC_PRIMITIVE_EVENT);
}

/* -------------------------------------------------------------- lock -- */

typedef struct lock {
    aioc__list waiters;
    uint64_t owner; /* the holder's task id; 0 when free */
    /* the loop's clock when the holder got it (debug mode's check) */
    uint64_t acquired_at;
} lock;
_Static_assert(sizeof(lock) <= sizeof(aioc_lock), "aioc_lock too small");

void aioc_lock_init(aioc_lock *l) {
    lock *k = (lock *)l;
    aioc__list_init(&k->waiters);
    k->owner = 0;
    aioc__debug_forget(l);
}

int aioc_lock_destroy(aioc_lock *l) {
    lock *k = (lock *)l;
    if (k->owner || !aioc__list_empty(aioc__lazy_list(&k->waiters)))
        return -EBUSY;
    aioc__debug_forget(l);
    return 0;
}

int aioc_lock_try_acquire(aioc_lock *l) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    if (!t)
        return err;
    if ((err = aioc__debug_owned_here(loop, l, "lock")))
        return err;
    lock *k = (lock *)l;
    if (k->owner == t->id)
        return -EDEADLK;
    if (k->owner || !aioc__list_empty(aioc__lazy_list(&k->waiters)))
        return -EBUSY;
    k->owner = t->id;
    k->acquired_at = loop->now;
    return 0;
}

int aioc_lock_acquire(aioc_lock *l) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__suspension_point(&loop, &err);
    if (!t)
        return err;
    if ((err = aioc__debug_owned_here(loop, l, "lock")))
        return err;
    lock *k = (lock *)l;
    if (k->owner == t->id)
        return -EDEADLK;
    aioc__list *waiters = aioc__lazy_list(&k->waiters);
    if (!k->owner && aioc__list_empty(waiters)) {
        k->owner = t->id;
        k->acquired_at = loop->now;
        return 0;
    }
    /* on success the releaser has already made us the owner */
    return aioc__wait_on(loop, t, waiters, l, AIOC_PRIMITIVE_LOCK);
}

int aioc_lock_release(aioc_lock *l) {
    aioc__loop *loop = aioc__loop_get();
    int err = aioc__debug_owned(loop, l, "lock");
    if (err)
        return err;
    lock *k = (lock *)l;
    if (!loop || !loop->current || !k->owner || k->owner != loop->current->id)
        return -EPERM;
    aioc__debug_lock_released(loop, l, k->acquired_at);
    aioc__task *next = aioc__wake_first(loop, aioc__lazy_list(&k->waiters), AIOC__WOKEN);
    k->owner = next ? next->id : 0;
    k->acquired_at = loop->now;
    return 0;
}

int aioc_lock_locked(const aioc_lock *l) { return ((const lock *)l)->owner != 0; }

/* --------------------------------------------------------- condition -- */

typedef struct cond {
    aioc__list waiters;
} cond;
_Static_assert(sizeof(cond) <= sizeof(aioc_cond), "aioc_cond too small");

void aioc_cond_init(aioc_cond *c) {
    aioc__list_init(&((cond *)c)->waiters);
    aioc__debug_forget(c);
}

int aioc_cond_destroy(aioc_cond *c) {
    if (!aioc__list_empty(aioc__lazy_list(&((cond *)c)->waiters)))
        return -EBUSY;
    aioc__debug_forget(c);
    return 0;
}

int aioc_cond_wait(aioc_cond *c, aioc_lock *l) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    if (!t)
        return err;
    if ((err = aioc__debug_owned_here(loop, c, "condition")))
        return err;
    if (((lock *)l)->owner != t->id)
        return -EPERM;
    aioc_lock_release(l);
    err =
        aioc__wait_on(loop, t, aioc__lazy_list(&((cond *)c)->waiters), c, AIOC_PRIMITIVE_CONDITION);
    /* Take the lock back whatever happened, shielded, so that a cancelled
     * or timed-out waiter still returns holding it, as the caller expects. */
    aioc_scope shield;
    int shielded = aioc_shield_enter(&shield) == 0;
    int again = aioc_lock_acquire(l);
    if (shielded)
        aioc_scope_exit(&shield);
    return err ? err : again;
}

int aioc_cond_notify(aioc_cond *c, int n) {
    aioc__loop *loop = aioc__loop_get();
    int err = aioc__debug_owned(loop, c, "condition");
    if (err)
        return err;
    aioc__list *waiters = aioc__lazy_list(&((cond *)c)->waiters);
    int woken = 0;
    while (woken < n && aioc__wake_first(loop, waiters, AIOC__WOKEN))
        woken++;
    return woken;
}

int aioc_cond_notify_all(aioc_cond *c) {
    aioc__loop *loop = aioc__loop_get();
    int err = aioc__debug_owned(loop, c, "condition");
    if (err)
        return err;
    return aioc__wake_all(loop, aioc__lazy_list(&((cond *)c)->waiters), AIOC__WOKEN);
}

/* --------------------------------------------------------- semaphore -- */

typedef struct sem {
    aioc__list waiters;
    uintptr_t value;
    uintptr_t bound_plus_one; /* 0: unbounded */
} sem;
_Static_assert(sizeof(sem) <= sizeof(aioc_sem), "aioc_sem too small");

void aioc_sem_init(aioc_sem *s, unsigned value) {
    sem *m = (sem *)s;
    aioc__list_init(&m->waiters);
    m->value = value;
    m->bound_plus_one = 0;
    aioc__debug_forget(s);
}

void aioc_sem_init_bounded(aioc_sem *s, unsigned value) {
    aioc_sem_init(s, value);
    ((sem *)s)->bound_plus_one = (uintptr_t)value + 1;
}

int aioc_sem_destroy(aioc_sem *s) {
    if (!aioc__list_empty(aioc__lazy_list(&((sem *)s)->waiters)))
        return -EBUSY;
    aioc__debug_forget(s);
    return 0;
}

int aioc_sem_try_acquire(aioc_sem *s) {
    aioc__loop *loop = aioc__loop_get();
    int err = aioc__debug_owned(loop, s, "semaphore");
    if (err)
        return err;
    sem *m = (sem *)s;
    if (m->value == 0 || !aioc__list_empty(aioc__lazy_list(&m->waiters)))
        return -EAGAIN;
    m->value--;
    aioc__debug_sem_acquired(loop, s, loop && loop->current ? loop->current->id : 0);
    return 0;
}

int aioc_sem_acquire(aioc_sem *s) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__suspension_point(&loop, &err);
    if (!t)
        return err;
    if ((err = aioc__debug_owned_here(loop, s, "semaphore")))
        return err;
    sem *m = (sem *)s;
    aioc__list *waiters = aioc__lazy_list(&m->waiters);
    if (m->value > 0 && aioc__list_empty(waiters)) {
        m->value--;
        aioc__debug_sem_acquired(loop, s, t->id);
        return 0;
    }
    /* on success the releaser handed its permit straight to us */
    return aioc__wait_on(loop, t, waiters, s, AIOC_PRIMITIVE_SEMAPHORE);
}

int aioc_sem_release(aioc_sem *s) {
    aioc__loop *loop = aioc__loop_get();
    int err = aioc__debug_owned(loop, s, "semaphore");
    if (err)
        return err;
    sem *m = (sem *)s;
    aioc__debug_sem_released(loop, s);
    aioc__task *next = aioc__wake_first(loop, aioc__lazy_list(&m->waiters), AIOC__WOKEN);
    if (next) {
        aioc__debug_sem_acquired(loop, s, next->id); /* handed over */
        return 0;
    }
    if (m->bound_plus_one && m->value + 1 >= m->bound_plus_one)
        return -EOVERFLOW;
    m->value++;
    return 0;
}

unsigned aioc_sem_value(const aioc_sem *s) { return (unsigned)((const sem *)s)->value; }

/* ----------------------------------------------------------- barrier -- */

typedef struct barrier {
    aioc__list waiters;
    uintptr_t parties;
    uintptr_t count; /* waiting now */
    uintptr_t broken;
} barrier;
_Static_assert(sizeof(barrier) <= sizeof(aioc_barrier), "aioc_barrier too small");

void aioc_barrier_init(aioc_barrier *b, unsigned parties) {
    barrier *r = (barrier *)b;
    aioc__list_init(&r->waiters);
    r->parties = parties ? parties : 1;
    r->count = 0;
    r->broken = 0;
    aioc__debug_forget(b);
}

int aioc_barrier_destroy(aioc_barrier *b) {
    if (!aioc__list_empty(aioc__lazy_list(&((barrier *)b)->waiters)))
        return -EBUSY;
    aioc__debug_forget(b);
    return 0;
}

int aioc_barrier_wait(aioc_barrier *b) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__suspension_point(&loop, &err);
    if (!t)
        return err;
    if ((err = aioc__debug_owned_here(loop, b, "barrier")))
        return err;
    barrier *r = (barrier *)b;
    if (r->broken)
        return AIOC_EBROKEN;
    aioc__list *waiters = aioc__lazy_list(&r->waiters);
    if (r->count + 1 >= (r->parties ? r->parties : 1)) {
        /* the last one: indices go by arrival order, counting only those
         * still waiting (one that gave up left no gap) */
        uintptr_t index = 0;
        aioc__list *n;
        while ((n = aioc__list_pop_front(waiters))) {
            aioc__task *w = aioc__container_of(n, aioc__task, link);
            w->wait_data = index++;
            aioc__wake(loop, w, AIOC__WOKEN);
        }
        r->count = 0;
        return (int)index;
    }
    r->count++;
    err = aioc__wait_on(loop, t, waiters, b, AIOC_PRIMITIVE_BARRIER);
    if (err == 0)
        return (int)t->wait_data;
    if (err != AIOC_EBROKEN)
        r->count--; /* gave up: no longer counts */
    return err;
}

static void break_waiters(aioc__loop *loop, barrier *r) {
    aioc__wake_all(loop, aioc__lazy_list(&r->waiters), AIOC_EBROKEN);
    r->count = 0;
}

void aioc_barrier_abort(aioc_barrier *b) {
    aioc__loop *loop = aioc__loop_get();
    if (aioc__debug_owned(loop, b, "barrier"))
        return; /* debug mode: another thread's barrier, left alone */
    barrier *r = (barrier *)b;
    r->broken = 1;
    break_waiters(loop, r);
}

void aioc_barrier_reset(aioc_barrier *b) {
    aioc__loop *loop = aioc__loop_get();
    if (aioc__debug_owned(loop, b, "barrier"))
        return;
    barrier *r = (barrier *)b;
    break_waiters(loop, r);
    r->broken = 0;
}

unsigned aioc_barrier_waiting(const aioc_barrier *b) {
    return (unsigned)((const barrier *)b)->count;
}
