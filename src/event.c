/* Events (asyncio.Event). The waiter list is the event's own: each waiting
 * task links its `link` node into it, so waiting never allocates. The
 * opaque public struct holds the list head and the flag; the layout is
 * checked below. */
#include "internal.h"

typedef struct event {
    aioc__list waiters; /* zeroed (AIOC_EVENT_INIT) means empty */
    uintptr_t set;
} event;

_Static_assert(sizeof(event) <= sizeof(aioc_event), "aioc_event too small");

static event *ev_of(aioc_event *ev) {
    event *e = (event *)ev;
    if (!e->waiters.next)
        aioc__list_init(&e->waiters);
    return e;
}

void aioc_event_init(aioc_event *ev) {
    event *e = (event *)ev;
    aioc__list_init(&e->waiters);
    e->set = 0;
}

void aioc_event_set(aioc_event *ev) {
    event *e = ev_of(ev);
    e->set = 1;
    aioc__loop *loop = aioc__loop_get();
    aioc__list *n;
    while ((n = aioc__list_pop_front(&e->waiters)))
        aioc__wake(loop, aioc__container_of(n, aioc__task, link), AIOC__WOKEN);
}

void aioc_event_clear(aioc_event *ev) { ev_of(ev)->set = 0; }

int aioc_event_is_set(const aioc_event *ev) { return ((const event *)ev)->set != 0; }

int aioc_event_wait(aioc_event *ev) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    if (!t)
        return err;
    event *e = ev_of(ev);
    if ((err = aioc__interruption(t)))
        return err;
    if (e->set)
        return 0;
    aioc__list_push_back(&e->waiters, &t->link);
    if (aioc__park(loop, AIOC__WAIT_PRIMITIVE, ev) == AIOC__INTERRUPTED) {
        err = aioc__interruption(t);
        return err ? err : -ECANCELED;
    }
    return 0;
}
