/* Task groups (asyncio.TaskGroup, Trio's nurseries): children cannot
 * outlive the group's wait, and the first failure cancels the siblings.
 * The record lives on the loop's heap; children are released as soon as
 * they end, since nobody else holds their handles. */
#include <stdlib.h>

#include "group.h"
#include "scheduler.h"

static aioc__group_rec *group_get(aioc__loop *loop, aioc_group g) {
    return loop ? aioc__handle_get(&loop->handles, g.id, AIOC__H_GROUP) : NULL;
}

static void cancel_children(aioc__loop *loop, aioc__group_rec *g) {
    for (aioc__list *n = g->children.next; n != &g->children; n = n->next) {
        aioc__task *t = aioc__container_of(n, aioc__task, group_link);
        t->cancels++;
        aioc__interrupt(loop, t);
    }
}

int aioc_group_init(aioc_group *h) {
    h->id = 0;
    aioc__loop *loop;
    int err;
    aioc__task *self = aioc__running(&loop, &err);
    if (!self)
        return err;
    aioc__group_rec *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->id = aioc__handle_new(&loop->handles, AIOC__H_GROUP, g);
    if (!g->id) {
        free(g);
        return -ENOMEM;
    }
    aioc__list_init(&g->children);
    g->owner = self;
    h->id = g->id;
    return 0;
}

aioc_task aioc_group_spawn(aioc_group h, aioc_fn fn, void *arg, const aioc_spawn_opts *opts) {
    aioc__loop *loop = aioc__loop_get();
    aioc__group_rec *g = group_get(loop, h);
    int err = !loop ? AIOC_ENOLOOP : !g ? AIOC_ESTALE : g->error ? -ECANCELED : 0;
    aioc__task *t = err ? NULL : aioc__task_spawn(loop, fn, arg, opts, &err);
    if (!t)
        return (aioc_task){aioc__error_id(err)};
    t->flags |= AIOC__F_GROUPED;
    t->group = g;
    aioc__list_push_back(&g->children, &t->group_link);
    g->live++;
    return (aioc_task){t->id};
}

void aioc__group_child_done(aioc__loop *loop, aioc__task *t) {
    aioc__group_rec *g = t->group;
    aioc__list_remove(&t->group_link);
    g->live--;
    /* A child cancelled on its own (by a handle holder, not by the group)
     * is not a failure of the group, as in asyncio's TaskGroup. */
    if (t->status != 0 && t->status != -ECANCELED && g->error == 0) {
        g->error = t->status;
        cancel_children(loop, g);
    }
    if (g->live == 0 && g->waiting)
        aioc__wake(loop, g->owner, AIOC__WOKEN);
}

int aioc_group_cancel(aioc_group h) {
    aioc__loop *loop = aioc__loop_get();
    aioc__group_rec *g = group_get(loop, h);
    if (!g)
        return AIOC_ESTALE;
    if (g->error == 0)
        g->error = -ECANCELED;
    cancel_children(loop, g);
    return 0;
}

int aioc_group_wait(aioc_group h) {
    aioc__loop *loop;
    int err;
    aioc__task *self = aioc__running(&loop, &err);
    if (!self)
        return err;
    aioc__group_rec *g = group_get(loop, h);
    if (!g)
        return AIOC_ESTALE;
    if (g->owner != self)
        return -EPERM;
    int interrupted = 0;
    while (g->live) {
        int why = aioc__interruption(self);
        if (why && !interrupted) {
            /* we are cancelled or out of time: so are the children, but
             * they may not outlive us, so keep waiting for them */
            interrupted = why;
            cancel_children(loop, g);
        }
        g->waiting = 1;
        aioc__park(loop, AIOC__WAIT_GROUP, g);
        g->waiting = 0;
    }
    int result = interrupted ? interrupted : g->error;
    aioc__handle_free(&loop->handles, g->id);
    free(g);
    return result;
}
