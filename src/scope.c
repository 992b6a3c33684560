/* Deadline and cancel scopes (Trio's cancel scopes; asyncio.timeout),
 * shields, and wait_for built on them.
 *
 * A task's open scopes form a chain from the innermost outwards
 * (task->scope). The records live in the task's loop, never on the task's
 * stack: the scope's timer fires, and other tasks cancel it, while the
 * owner is parked. Interruption is level-triggered: once a scope has
 * expired or been cancelled, every suspending call inside it fails until
 * it is exited. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler.h"
#include "scope.h"

int aioc__interruption_slow(const aioc__task *t) {
    /* Walk outwards and let the outermost cause win, so that an outer
     * cancel is never reported as an inner scope's -ETIMEDOUT. A shield
     * hides everything outside it. */
    int err = 0;
    for (const aioc__scope_rec *s = t->scope; s; s = s->outer) {
        if (s->cancelled)
            err = -ECANCELED;
        else if (s->expired)
            err = -ETIMEDOUT;
        if (s->shield)
            return err;
    }
    return t->cancels ? -ECANCELED : err;
}

void aioc__scope_expire(aioc__loop *loop, aioc__scope_rec *s) {
    s->expired = 1;
    aioc__interrupt(loop, s->owner);
}

static void scope_free(aioc__loop *loop, aioc__scope_rec *s) {
    aioc__timer_disarm(&loop->timers, &s->timer);
    aioc__handle_free(&loop->handles, s->id);
    aioc__slab_free(&loop->scopes, s);
}

void aioc__scopes_unwind(aioc__loop *loop, aioc__task *t) {
    while (t->scope) {
        aioc__scope_rec *s = t->scope;
        t->scope = s->outer;
        scope_free(loop, s);
    }
}

/* deadline: loop-clock ns, UINT64_MAX for none */
static int enter(aioc_scope *h, uint64_t deadline, bool shield) {
    h->id = 0;
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    if (!t)
        return err;
    aioc__scope_rec *s = aioc__slab_alloc(&loop->scopes);
    if (!s)
        return -ENOMEM;
    memset(s, 0, sizeof *s);
    s->id = aioc__handle_new(&loop->handles, AIOC__H_SCOPE, s);
    if (!s->id) {
        aioc__slab_free(&loop->scopes, s);
        return -ENOMEM;
    }
    s->owner = t;
    s->shield = shield;
    s->timer.index = AIOC__TIMER_IDLE;
    s->timer.kind = AIOC__TIMER_SCOPE;
    if (deadline != UINT64_MAX) {
        if (deadline <= loop->now)
            s->expired = 1;
        else if ((err = aioc__timer_arm(&loop->timers, &s->timer, deadline))) {
            scope_free(loop, s);
            return err;
        }
    }
    s->outer = t->scope;
    t->scope = s;
    h->id = s->id;
    return 0;
}

/* As asyncio: only +INFINITY (AIOC_NO_TIMEOUT) means no deadline. Zero, a
 * negative time (a remaining time computed too late) and NaN expire at
 * once, so that a timeout is never switched off by accident. */
static uint64_t deadline_in(aioc__loop *loop, double seconds) {
    if (seconds == INFINITY)
        return UINT64_MAX;
    aioc__clock_update(loop);
    return loop->now + aioc__seconds_to_ns(seconds); /* <= 0 and NaN: 0 */
}

int aioc_scope_enter(aioc_scope *s, double seconds) {
    aioc__loop *loop = aioc__loop_get();
    return enter(s, loop ? deadline_in(loop, seconds) : UINT64_MAX, false);
}

int aioc_scope_enter_at(aioc_scope *s, double deadline) {
    uint64_t ns = deadline == INFINITY ? UINT64_MAX : aioc__seconds_to_ns(deadline);
    return enter(s, ns, false);
}

int aioc_shield_enter(aioc_scope *s) { return enter(s, UINT64_MAX, true); }

int aioc_scope_exit(aioc_scope *h) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    if (!t)
        return err;
    aioc__scope_rec *s = aioc__handle_get(&loop->handles, h->id, AIOC__H_SCOPE);
    if (!s || s != t->scope)
        return AIOC_ESTALE;
    int result = s->cancelled ? -ECANCELED : s->expired ? -ETIMEDOUT : 0;
    t->scope = s->outer;
    scope_free(loop, s);
    h->id = 0;
    return result;
}

int aioc_scope_cancel(aioc_scope h) {
    aioc__loop *loop = aioc__loop_get();
    aioc__scope_rec *s = loop ? aioc__handle_get(&loop->handles, h.id, AIOC__H_SCOPE) : NULL;
    if (!s)
        return AIOC_ESTALE;
    s->cancelled = 1;
    aioc__interrupt(loop, s->owner);
    return 0;
}

int aioc_scope_reschedule(aioc_scope h, double seconds) {
    aioc__loop *loop = aioc__loop_get();
    aioc__scope_rec *s = loop ? aioc__handle_get(&loop->handles, h.id, AIOC__H_SCOPE) : NULL;
    if (!s)
        return AIOC_ESTALE;
    if (s->expired)
        return -EALREADY;
    uint64_t deadline = deadline_in(loop, seconds);
    if (deadline == UINT64_MAX) {
        aioc__timer_disarm(&loop->timers, &s->timer);
        return 0;
    }
    if (deadline <= loop->now) {
        aioc__timer_disarm(&loop->timers, &s->timer);
        aioc__scope_expire(loop, s);
        return 0;
    }
    return aioc__timer_arm(&loop->timers, &s->timer, deadline);
}

int aioc_wait_for(aioc_task h, double seconds, void **result) {
    if (result)
        *result = NULL;
    aioc_scope scope;
    int err = aioc_scope_enter(&scope, seconds);
    if (err)
        return err;
    int status = aioc_await(h, result);
    int expired = aioc_scope_exit(&scope);
    aioc__loop *loop = aioc__loop_get();
    if (!aioc__task_from_handle(loop, h) || status == AIOC_EAWAITED)
        return status; /* consumed, or never ours to wait for */
    /* Our wait was interrupted and the task still runs: cancel it and wait
     * for its end, shielded so that the wait itself cannot be cut short. */
    aioc_cancel(h);
    aioc_scope shield;
    aioc_shield_enter(&shield);
    aioc_await(h, NULL);
    aioc_scope_exit(&shield);
    return status == -ETIMEDOUT && expired == -ETIMEDOUT ? -ETIMEDOUT : status;
}
