/* gather, gather_all, wait (any / all / first failure), as-completed. */
#include "test.h"

static void *after(void *arg) {
    if (aioc_sleep(I(arg) / 10.0))
        return NULL;
    return P(I(arg));
}

static void *fail_after(void *arg) {
    aioc_sleep(I(arg) / 10.0);
    return aioc_fail(-EIO);
}

static int cancelled;

static void *long_runner(void *arg) {
    (void)arg;
    if (aioc_sleep(100) == -ECANCELED)
        cancelled++;
    return P(1);
}

TASK_TEST_VIRTUAL(gather_returns_results_in_order) {
    aioc_task t[4] = {aioc_spawn(after, P(30)), aioc_spawn(after, P(10)), aioc_spawn(after, P(40)),
                      aioc_spawn(after, P(20))};
    void *r[4];
    CHECK_ERR(aioc_gather(t, 4, r), 0);
    CHECK_EQ(I(r[0]), 30);
    CHECK_EQ(I(r[1]), 10);
    CHECK_EQ(I(r[2]), 40);
    CHECK_EQ(I(r[3]), 20);
    CHECK_ERR(aioc_await(t[0], NULL), AIOC_ESTALE); /* consumed */
    CHECK_ERR(aioc_gather(t, 0, NULL), 0);
    return NULL;
}

TASK_TEST_VIRTUAL(gather_fails_fast_and_cancels_siblings) {
    cancelled = 0;
    aioc_task t[3] = {aioc_spawn(long_runner, NULL), aioc_spawn(fail_after, P(5)),
                      aioc_spawn(long_runner, NULL)};
    void *r[3];
    double t0 = aioc_now();
    CHECK_ERR(aioc_gather(t, 3, r), -EIO);
    CHECK(aioc_now() - t0 < 1);
    CHECK_EQ(cancelled, 2); /* siblings did not keep running (asyncio's trap) */
    CHECK(r[0] == NULL && r[1] == NULL);
    return NULL;
}

TASK_TEST_VIRTUAL(gather_all_keeps_each_status) {
    aioc_task t[3] = {aioc_spawn(after, P(5)), aioc_spawn(fail_after, P(1)),
                      aioc_spawn(after, P(9))};
    void *r[3];
    int st[3];
    CHECK_ERR(aioc_gather_all(t, 3, r, st), 0);
    CHECK_ERR(st[0], 0);
    CHECK_ERR(st[1], -EIO);
    CHECK_ERR(st[2], 0);
    CHECK_EQ(I(r[0]), 5);
    CHECK(r[1] == NULL);
    CHECK_EQ(I(r[2]), 9);
    return NULL;
}

TASK_TEST_VIRTUAL(gather_counts_failed_spawns) {
    aioc_spawn_opts bad = {.stack_size = 1};
    aioc_task t[2] = {aioc_spawn(after, P(1)), aioc_spawn_with(after, NULL, &bad)};
    int st[2];
    CHECK_ERR(aioc_gather_all(t, 2, NULL, st), 0);
    CHECK_ERR(st[0], 0);
    CHECK_ERR(st[1], -EINVAL);
    aioc_task u[2] = {aioc_spawn(long_runner, NULL), aioc_spawn_with(after, NULL, &bad)};
    CHECK_ERR(aioc_gather(u, 2, NULL), -EINVAL);
    return NULL;
}

TASK_TEST_VIRTUAL(gather_refuses_duplicates_and_stale_handles) {
    aioc_task a = aioc_spawn(after, P(1));
    aioc_task dup[2] = {a, a};
    CHECK_ERR(aioc_gather(dup, 2, NULL), AIOC_EAWAITED);
    aioc_task stale[2] = {a, {999}};
    CHECK_ERR(aioc_gather(stale, 2, NULL), AIOC_ESTALE);
    CHECK_ERR(aioc_await(a, NULL), 0); /* nothing was consumed by the refusals */
    return NULL;
}

TASK_TEST_VIRTUAL(wait_any_all_first_failure) {
    aioc_task t[3] = {aioc_spawn(after, P(30)), aioc_spawn(after, P(10)),
                      aioc_spawn(fail_after, P(20))};
    CHECK_EQ(aioc_wait(t, 3, AIOC_WAIT_ANY), 1);
    CHECK(aioc_task_done(t[1]) && !aioc_task_done(t[0]));
    CHECK_EQ(aioc_wait(t, 3, AIOC_WAIT_FIRST_FAILURE), 2);
    CHECK(!aioc_task_done(t[0]));
    CHECK_EQ(aioc_wait(t, 3, AIOC_WAIT_ALL), 3);
    CHECK(aioc_task_done(t[0]));
    /* handles were not consumed */
    CHECK_ERR(aioc_await(t[0], NULL), 0);
    CHECK_ERR(aioc_await(t[1], NULL), 0);
    CHECK_ERR(aioc_await(t[2], NULL), -EIO);
    aioc_task ok[2] = {aioc_spawn(after, P(1)), aioc_spawn(after, P(2))};
    CHECK_EQ(aioc_wait(ok, 2, AIOC_WAIT_FIRST_FAILURE), 2); /* none failed */
    CHECK_EQ(aioc_wait(ok, 2, 99), -EINVAL);
    CHECK_EQ(aioc_wait(ok, 0, AIOC_WAIT_ANY), -EINVAL);
    CHECK_ERR(aioc_gather(ok, 2, NULL), 0);
    return NULL;
}

TASK_TEST_VIRTUAL(completion_iterates_in_end_order) {
    aioc_task t[4] = {aioc_spawn(after, P(40)), aioc_spawn(after, P(10)), aioc_spawn(after, P(30)),
                      aioc_spawn(after, P(20))};
    aioc_completion *c = aioc_completion_new(t, 4);
    CHECK(c);
    long expect[4] = {1, 3, 2, 0};
    for (int i = 0; i < 4; i++)
        CHECK_EQ(aioc_completion_next(c), expect[i]);
    CHECK_EQ(aioc_completion_next(c), AIOC_EOF);
    aioc_completion_free(c);
    CHECK_ERR(aioc_gather(t, 4, NULL), 0);
    return NULL;
}

TASK_TEST_VIRTUAL(completion_honours_deadlines) {
    aioc_task t[2] = {aioc_spawn(after, P(10)), aioc_spawn(after, P(50))};
    aioc_completion *c = aioc_completion_new(t, 2);
    aioc_scope s;
    aioc_scope_enter(&s, 2);
    CHECK_EQ(aioc_completion_next(c), 0);
    CHECK_EQ(aioc_completion_next(c), -ETIMEDOUT);
    aioc_scope_exit(&s);
    CHECK_EQ(aioc_completion_next(c), 1);
    aioc_completion_free(c);
    CHECK_ERR(aioc_gather(t, 2, NULL), 0);
    return NULL;
}
