/* Cancellation at every kind of suspension point, cancel counts, shields. */
#include "test.h"

static aioc_event never = AIOC_EVENT_INIT;

static void *blocked_task(void *arg) {
    (void)arg;
    return aioc_sleep(3600) ? NULL : P(1);
}

/* Each kind of suspension point, run in a task that gets cancelled. */
enum point { SLEEP, YIELD_LOOP, AWAIT, GATHER, WAIT_ANY, COMPLETION, GROUP_WAIT, EVENT };

static void *suspend_at(void *arg) {
    int err = 0;
    switch (I(arg)) {
    case SLEEP:
        err = aioc_sleep(3600);
        break;
    case YIELD_LOOP:
        while ((err = aioc_yield()) == 0)
            ;
        break;
    case AWAIT: {
        aioc_task t = aioc_spawn(blocked_task, NULL);
        err = aioc_await(t, NULL);
        CHECK_ERR(aioc_cancel(t), 0);
        CHECK_ERR(aioc_await(t, NULL), -ECANCELED); /* shielded? no: already cancelled */
        break;
    }
    case GATHER: {
        aioc_task t[2] = {aioc_spawn(blocked_task, NULL), aioc_spawn(blocked_task, NULL)};
        err = aioc_gather(t, 2, NULL); /* cancels and reaps both */
        break;
    }
    case WAIT_ANY: {
        aioc_task t = aioc_spawn(blocked_task, NULL);
        err = (int)aioc_wait(&t, 1, AIOC_WAIT_ANY);
        aioc_cancel(t);
        break;
    }
    case COMPLETION: {
        aioc_task t = aioc_spawn(blocked_task, NULL);
        aioc_completion *c = aioc_completion_new(&t, 1);
        CHECK(c);
        err = (int)aioc_completion_next(c);
        aioc_completion_free(c);
        aioc_cancel(t);
        break;
    }
    case GROUP_WAIT: {
        aioc_group g;
        CHECK_ERR(aioc_group_init(&g), 0);
        aioc_group_spawn(g, blocked_task, NULL, NULL);
        err = aioc_group_wait(g); /* cancels the child and waits for it */
        break;
    }
    case EVENT:
        err = aioc_event_wait(&never);
        break;
    }
    return P(err);
}

static void *cancel_each_point(void *arg) {
    (void)arg;
    for (int p = SLEEP; p <= EVENT; p++) {
        aioc_task t = aioc_spawn(suspend_at, P(p));
        CHECK_ERR(aioc_sleep(1), 0);
        CHECK(!aioc_task_done(t));
        CHECK_ERR(aioc_cancel(t), 0);
        void *r = P(1);
        CHECK_ERR(aioc_await(t, &r), -ECANCELED);
        CHECK(r == NULL); /* a cancelled task has no result */
    }
    return NULL;
}

/* The task returns what its suspending call returned; since it was
 * cancelled its status is -ECANCELED and the call's error is lost, so also
 * check the calls themselves in a variant that reports through a global. */
static int seen[EVENT + 1];

static void *suspend_and_record(void *arg) {
    seen[I(arg)] = I(suspend_at(arg));
    return NULL;
}

static void *cancel_each_point_returns_ecanceled(void *arg) {
    (void)arg;
    for (int p = SLEEP; p <= EVENT; p++) {
        aioc_task t = aioc_spawn(suspend_and_record, P(p));
        aioc_sleep(1);
        aioc_cancel(t);
        aioc_await(t, NULL);
        CHECK_ERR(seen[p], -ECANCELED);
    }
    return NULL;
}

TEST(cancel_at_every_suspension_point) {
    run_virtual(cancel_each_point, NULL);
    run_virtual(cancel_each_point_returns_ecanceled, NULL);
}

static int started;

static void *mark_started(void *arg) {
    (void)arg;
    started = 1;
    return NULL;
}

TASK_TEST_VIRTUAL(cancel_before_start_never_runs) {
    started = 0;
    aioc_task t = aioc_spawn(mark_started, NULL);
    CHECK_ERR(aioc_cancel(t), 0);
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
    CHECK_EQ(started, 0);
    return NULL;
}

TASK_TEST_VIRTUAL(cancel_after_end_changes_nothing) {
    aioc_task t = aioc_spawn(mark_started, NULL);
    aioc_yield();
    CHECK(aioc_task_done(t));
    CHECK_ERR(aioc_cancel(t), 0); /* nothing to do */
    CHECK_ERR(aioc_await(t, NULL), 0);
    return NULL;
}

static void *counts_cancels(void *arg) {
    (void)arg;
    CHECK_ERR(aioc_sleep(10), -ECANCELED);
    CHECK_EQ(aioc_cancelling(), 2);
    CHECK_ERR(aioc_sleep(1), -ECANCELED); /* cancellation is sticky */
    CHECK_EQ(aioc_uncancel(), 1);
    CHECK_ERR(aioc_yield(), -ECANCELED);
    CHECK_EQ(aioc_uncancel(), 0);
    CHECK_ERR(aioc_sleep(1), 0); /* withdrawn: works again */
    return P(8);
}

TASK_TEST_VIRTUAL(cancel_count_and_uncancel) {
    aioc_task t = aioc_spawn(counts_cancels, NULL);
    aioc_sleep(1);
    aioc_cancel(t);
    aioc_cancel(t);
    void *r;
    CHECK_ERR(aioc_await(t, &r), 0); /* it withdrew both and returned normally */
    CHECK_EQ(I(r), 8);
    CHECK_EQ(aioc_cancelling(), 0);
    CHECK_EQ(aioc_uncancel(), 0);
    return NULL;
}

static int cleanup_done;

static void *shielded_cleanup(void *arg) {
    (void)arg;
    CHECK_ERR(aioc_sleep(3600), -ECANCELED);
    aioc_scope shield;
    CHECK_ERR(aioc_shield_enter(&shield), 0);
    double t0 = aioc_now();
    CHECK_ERR(aioc_sleep(5), 0); /* not interrupted inside the shield */
    CHECK(aioc_now() - t0 >= 5);
    CHECK_ERR(aioc_scope_exit(&shield), 0);
    CHECK_ERR(aioc_sleep(1), -ECANCELED); /* delivered again after it */
    cleanup_done = 1;
    return NULL;
}

TASK_TEST_VIRTUAL(shield_defers_cancellation) {
    cleanup_done = 0;
    aioc_task t = aioc_spawn(shielded_cleanup, NULL);
    aioc_sleep(1);
    aioc_cancel(t);
    aioc_sleep(1);
    aioc_cancel(t); /* a second cancel during the shield is held too */
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
    CHECK_EQ(cleanup_done, 1);
    return NULL;
}

static void *cancel_main_from_child(void *arg) {
    aioc_cancel(*(aioc_task *)arg);
    return NULL;
}

static void *main_gets_cancelled(void *arg) {
    (void)arg;
    static aioc_task self;
    self = aioc_current();
    aioc_spawn(cancel_main_from_child, &self);
    CHECK_ERR(aioc_sleep(10), -ECANCELED);
    return P(1);
}

TEST(run_returns_ecanceled_when_main_is_cancelled) {
    aioc_run_opts o = {.virtual_time = 1};
    void *r = P(5);
    CHECK_ERR(aioc_run_with(main_gets_cancelled, NULL, &r, &o), -ECANCELED);
    CHECK(r == NULL);
}
