/* aioc_run: results, statuses, re-runs, threads, shutdown of leftovers. */
#include <pthread.h>

#include "test.h"

static void *return_arg(void *arg) { return arg; }

TEST(run_returns_main_result) {
    void *result = NULL;
    CHECK_ERR(aioc_run(return_arg, P(42), &result), 0);
    CHECK_EQ(I(result), 42);
}

static void *fail_eio(void *arg) {
    (void)arg;
    return aioc_fail(-EIO);
}

TEST(run_returns_main_failure) {
    void *result = P(1);
    CHECK_ERR(aioc_run(fail_eio, NULL, &result), -EIO);
    CHECK(result == NULL);
}

TEST(run_twice_in_one_thread) {
    for (int i = 0; i < 3; i++) {
        void *result = NULL;
        CHECK_ERR(aioc_run(return_arg, P(i), &result), 0);
        CHECK_EQ(I(result), i);
    }
}

TASK_TEST(run_inside_a_loop_is_ebusy) {
    CHECK_ERR(aioc_run(return_arg, NULL, NULL), -EBUSY);
    return NULL;
}

TEST(run_rejects_null_main) { CHECK_ERR(aioc_run(NULL, NULL, NULL), -EINVAL); }

static void *sleeper_sum(void *arg) {
    intptr_t n = (intptr_t)arg, sum = 0;
    for (intptr_t i = 0; i < 50; i++) {
        CHECK_ERR(aioc_sleep(0.001), 0);
        sum += i + n;
    }
    return (void *)sum;
}

static void *thread_main(void *arg) {
    void *result = NULL;
    int status = aioc_run(sleeper_sum, arg, &result);
    return status ? NULL : result;
}

TEST(run_in_several_threads_at_once) {
    pthread_t th[4];
    for (intptr_t i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, thread_main, P(i)), 0);
    for (intptr_t i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        CHECK_EQ((intptr_t)r, 1225 + 50 * i);
    }
}

static int leftover_cleaned;

static void *leftover(void *arg) {
    (void)arg;
    int err = aioc_sleep(3600);
    CHECK_ERR(err, -ECANCELED);
    leftover_cleaned++;
    return NULL;
}

static void *main_leaves_tasks(void *arg) {
    (void)arg;
    for (int i = 0; i < 10; i++)
        aioc_spawn(leftover, NULL);
    aioc_detach(aioc_spawn(leftover, NULL));
    CHECK_ERR(aioc_sleep(0.01), 0);
    return NULL;
}

TEST(run_cancels_and_joins_leftover_tasks) {
    leftover_cleaned = 0;
    CHECK_ERR(aioc_run(main_leaves_tasks, NULL, NULL), 0);
    CHECK_EQ(leftover_cleaned, 11);
}

static void *spawn_in_cleanup(void *arg) {
    (void)arg;
    aioc_sleep(3600);
    aioc_task t = aioc_spawn(return_arg, NULL);
    CHECK_ERR(aioc_task_error(t), -ESHUTDOWN);
    CHECK_ERR(aioc_await(t, NULL), -ESHUTDOWN);
    return NULL;
}

TASK_TEST(spawn_during_shutdown_is_eshutdown) {
    aioc_spawn(spawn_in_cleanup, NULL);
    aioc_yield();
    return NULL;
}

TEST(spawn_outside_a_loop_is_enoloop) {
    aioc_task t = aioc_spawn(return_arg, NULL);
    CHECK_ERR(aioc_task_error(t), AIOC_ENOLOOP);
    CHECK_ERR(aioc_await(t, NULL), AIOC_ENOLOOP);
    /* and after a loop has come and gone */
    CHECK_ERR(aioc_run(return_arg, NULL, NULL), 0);
    CHECK_ERR(aioc_task_error(aioc_spawn(return_arg, NULL)), AIOC_ENOLOOP);
}

TEST(suspending_calls_outside_a_task_are_enotask) {
    aioc_task none = {0};
    CHECK_ERR(aioc_await(none, NULL), AIOC_ENOTASK);
    CHECK_ERR(aioc_sleep(0.1), AIOC_ENOTASK);
    CHECK_ERR(aioc_yield(), AIOC_ENOTASK);
    aioc_scope s;
    CHECK_ERR(aioc_scope_enter(&s, 1), AIOC_ENOTASK);
    aioc_group g;
    CHECK_ERR(aioc_group_init(&g), AIOC_ENOTASK);
    CHECK_EQ(aioc_current().id, 0);
    CHECK_ERR(aioc_dump_tasks(stderr), AIOC_ENOLOOP);
}

static void *waits_for_main(void *arg) {
    aioc_task main_task = *(aioc_task *)arg;
    aioc_await(main_task, NULL);
    return NULL;
}

static void *deadlocks(void *arg) {
    (void)arg;
    aioc_task self = aioc_current();
    aioc_task child = aioc_spawn(waits_for_main, &self);
    aioc_await(child, NULL); /* child awaits us: nobody can ever wake either */
    return NULL;
}

TEST(run_reports_deadlock) { CHECK_ERR(aioc_run(deadlocks, NULL, NULL), -EDEADLK); }

TEST(run_rejects_unknown_backend) {
    setenv("AIOC_BACKEND", "bogus", 1);
    CHECK_ERR(aioc_run(return_arg, NULL, NULL), -EINVAL);
    setenv("AIOC_BACKEND", "epoll", 1);
    CHECK_ERR(aioc_run(return_arg, NULL, NULL), 0);
    unsetenv("AIOC_BACKEND");
}
