/* Task groups: joining, failure propagation, cancel, owner cancellation. */
#include "test.h"

static int finished, cancelled;

static void *child(void *arg) {
    int err = aioc_sleep(I(arg));
    if (err == -ECANCELED) {
        cancelled++;
        return NULL;
    }
    finished++;
    return NULL;
}

static void *child_fails(void *arg) {
    aioc_sleep(I(arg));
    return aioc_fail(-EPROTO);
}

static void reset(void) { finished = cancelled = 0; }

static void *group_all_succeed(void *arg) {
    (void)arg;
    aioc_group g;
    CHECK_ERR(aioc_group_init(&g), 0);
    for (int i = 1; i <= 5; i++)
        CHECK_ERR(aioc_task_error(aioc_group_spawn(g, child, P(i), NULL)), 0);
    double t0 = aioc_now();
    CHECK_ERR(aioc_group_wait(g), 0);
    CHECK(aioc_now() - t0 >= 5);
    CHECK_EQ(finished, 5);
    CHECK_ERR(aioc_group_wait(g), AIOC_ESTALE); /* freed */
    return NULL;
}

TEST(group_waits_for_all_children) {
    reset();
    run_virtual(group_all_succeed, NULL);
}

static void *group_failure(void *arg) {
    (void)arg;
    aioc_group g;
    aioc_group_init(&g);
    aioc_group_spawn(g, child, P(10), NULL);
    aioc_group_spawn(g, child_fails, P(1), NULL);
    aioc_group_spawn(g, child, P(20), NULL);
    aioc_group_spawn(g, child_fails, P(2), NULL); /* cancelled before it fails */
    double t0 = aioc_now();
    CHECK_ERR(aioc_group_wait(g), -EPROTO);
    CHECK(aioc_now() - t0 < 1.25); /* siblings were cancelled at the failure */
    CHECK_EQ(cancelled, 2);
    CHECK_EQ(finished, 0);
    return NULL;
}

TEST(group_first_failure_cancels_siblings) {
    reset();
    run_virtual(group_failure, NULL);
}

TASK_TEST_VIRTUAL(group_refuses_spawn_after_failure) {
    aioc_group g;
    aioc_group_init(&g);
    aioc_group_spawn(g, child_fails, P(0), NULL);
    aioc_sleep(1);
    aioc_task late = aioc_group_spawn(g, child, P(1), NULL);
    CHECK_ERR(aioc_task_error(late), -ECANCELED);
    CHECK_ERR(aioc_group_wait(g), -EPROTO);
    return NULL;
}

static void *canceller(void *arg) {
    aioc_sleep(1);
    CHECK_ERR(aioc_group_cancel(*(aioc_group *)arg), 0);
    return NULL;
}

static void *group_cancelled(void *arg) {
    (void)arg;
    static aioc_group g;
    aioc_group_init(&g);
    for (int i = 0; i < 3; i++)
        aioc_group_spawn(g, child, P(100), NULL);
    aioc_task c = aioc_spawn(canceller, &g);
    CHECK_ERR(aioc_group_wait(g), -ECANCELED);
    CHECK_EQ(cancelled, 3);
    CHECK_ERR(aioc_await(c, NULL), 0);
    CHECK_ERR(aioc_group_cancel(g), AIOC_ESTALE);
    return NULL;
}

TEST(group_cancel_from_another_task) {
    reset();
    run_virtual(group_cancelled, NULL);
}

static void *owner(void *arg) {
    (void)arg;
    aioc_group g;
    aioc_group_init(&g);
    aioc_group_spawn(g, child, P(100), NULL);
    aioc_group_spawn(g, child, P(100), NULL);
    return P(aioc_group_wait(g));
}

static void *owner_cancelled(void *arg) {
    (void)arg;
    aioc_task t = aioc_spawn(owner, NULL);
    aioc_sleep(1);
    aioc_cancel(t);
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
    CHECK_EQ(cancelled, 2); /* the children did not outlive the owner's wait */
    return NULL;
}

TEST(group_owner_cancel_cancels_children) {
    reset();
    run_virtual(owner_cancelled, NULL);
}

static void *owner_times_out(void *arg) {
    (void)arg;
    aioc_scope s;
    aioc_scope_enter(&s, 2);
    int err = (int)(intptr_t)owner(NULL);
    CHECK_ERR(err, -ETIMEDOUT);
    CHECK_ERR(aioc_scope_exit(&s), -ETIMEDOUT);
    CHECK_EQ(cancelled, 2);
    return NULL;
}

TEST(group_wait_under_deadline) {
    reset();
    run_virtual(owner_times_out, NULL);
}

static void *not_the_owner(void *arg) { return P(aioc_group_wait(*(aioc_group *)arg)); }

TASK_TEST_VIRTUAL(group_misuse_is_reported) {
    static aioc_group g;
    aioc_group_init(&g);
    aioc_task child_task = aioc_group_spawn(g, child, P(1), NULL);
    CHECK_ERR(aioc_await(child_task, NULL), AIOC_ESTALE); /* the group owns it */
    CHECK_ERR(aioc_detach(child_task), AIOC_ESTALE);
    void *r;
    CHECK_ERR(aioc_await(aioc_spawn(not_the_owner, &g), &r), 0);
    CHECK_ERR(I(r), -EPERM);
    CHECK_ERR(aioc_group_wait(g), 0);
    aioc_group bogus = {777};
    CHECK_ERR(aioc_task_error(aioc_group_spawn(bogus, child, NULL, NULL)), AIOC_ESTALE);
    return NULL;
}

static void *cancel_one_child(void *arg) {
    aioc_sleep(1);
    aioc_cancel(*(aioc_task *)arg);
    return NULL;
}

static void *child_cancelled_alone(void *arg) {
    (void)arg;
    aioc_group g;
    aioc_group_init(&g);
    static aioc_task victim;
    victim = aioc_group_spawn(g, child, P(10), NULL);
    aioc_group_spawn(g, child, P(2), NULL);
    aioc_group_spawn(g, cancel_one_child, &victim, NULL);
    CHECK_ERR(aioc_group_wait(g), 0); /* not a failure of the group */
    CHECK_EQ(cancelled, 1);
    CHECK_EQ(finished, 1);
    return NULL;
}

TEST(group_ignores_a_child_cancelled_alone) {
    reset();
    run_virtual(child_cancelled_alone, NULL);
}
