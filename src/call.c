/* Callbacks on the loop: call_soon, call_later, call_at. A callback record
 * sits in the ready queue (FIFO with tasks) or, until its time comes, in
 * the timer heap. Records are recycled through a free list. */
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "scheduler.h"

static aioc__call_rec *call_new(aioc__loop *loop, aioc_callback fn, void *arg) {
    aioc__call_rec *c = aioc__slab_alloc(&loop->calls);
    if (!c)
        return NULL;
    memset(c, 0, sizeof *c);
    c->id = aioc__handle_new(&loop->handles, AIOC__H_CALL, c);
    if (!c->id) {
        aioc__slab_free(&loop->calls, c);
        return NULL;
    }
    aioc__list_init(&c->link);
    c->kind = AIOC__RUN_CALL;
    c->fn = fn;
    c->arg = arg;
    c->timer.index = AIOC__TIMER_IDLE;
    c->timer.kind = AIOC__TIMER_CALL;
    return c;
}

static void call_free(aioc__loop *loop, aioc__call_rec *c) {
    aioc__handle_free(&loop->handles, c->id);
    aioc__slab_free(&loop->calls, c);
}

void aioc__call_fire(aioc__loop *loop, aioc__call_rec *c) {
    c->queued = 1;
    aioc__ready_push(loop, &c->link);
}

void aioc__call_run(aioc__loop *loop, aioc__call_rec *c) {
    aioc_callback fn = c->fn;
    void *arg = c->arg;
    call_free(loop, c); /* first, so the callback may schedule itself again */
    AIOC__TRACE(loop, aioc__trace_call(loop, 1));
    fn(arg);
    AIOC__TRACE(loop, aioc__trace_call(loop, 0));
}

static aioc_call error_handle(int err) { return (aioc_call){aioc__error_id(err)}; }

static aioc_call schedule(aioc_callback fn, void *arg, uint64_t when, bool timed) {
    aioc__loop *loop = aioc__loop_get();
    if (!loop)
        return error_handle(AIOC_ENOLOOP);
    if (!fn)
        return error_handle(-EINVAL);
    aioc__call_rec *c = call_new(loop, fn, arg);
    if (!c)
        return error_handle(-ENOMEM);
    if (!timed || when <= loop->now)
        aioc__call_fire(loop, c);
    else if (aioc__timer_arm(&loop->timers, &c->timer, when)) {
        call_free(loop, c);
        return error_handle(-ENOMEM);
    }
    return (aioc_call){c->id};
}

aioc_call aioc_call_soon(aioc_callback fn, void *arg) { return schedule(fn, arg, 0, false); }

aioc_call aioc_call_later(double seconds, aioc_callback fn, void *arg) {
    aioc__loop *loop = aioc__loop_get();
    if (!loop)
        return error_handle(AIOC_ENOLOOP);
    aioc__clock_update(loop);
    return schedule(fn, arg, loop->now + aioc__seconds_to_ns(seconds), true);
}

aioc_call aioc_call_at(double when, aioc_callback fn, void *arg) {
    return schedule(fn, arg, aioc__seconds_to_ns(when), true);
}

int aioc_call_error(aioc_call c) { return aioc__id_error(c.id); }

int aioc_call_cancel(aioc_call h) {
    aioc__loop *loop = aioc__loop_get();
    aioc__call_rec *c = loop ? aioc__handle_get(&loop->handles, h.id, AIOC__H_CALL) : NULL;
    if (!c)
        return AIOC_ESTALE;
    aioc__timer_disarm(&loop->timers, &c->timer);
    aioc__list_remove(&c->link);
    call_free(loop, c);
    return 0;
}

/* Drops a callback that never ran (the loop is ending; asyncio's loop
 * close drops them too). */
void aioc__call_drop(aioc__loop *loop, aioc__call_rec *c) {
    aioc__timer_disarm(&loop->timers, &c->timer);
    aioc__list_remove(&c->link);
    call_free(loop, c);
}
