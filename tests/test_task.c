/* Tasks: spawn, await, detach, names, failures, locals, misuse. */
#include "test.h"

static void *identity(void *arg) { return arg; }

static char order[16];
static int order_len;

static void *record(void *arg) {
    order[order_len++] = (char)I(arg);
    return NULL;
}

TASK_TEST_VIRTUAL(spawn_runs_tasks_in_fifo_order) {
    order_len = 0;
    aioc_task t[3] = {aioc_spawn(record, P('a')), aioc_spawn(record, P('b')),
                      aioc_spawn(record, P('c'))};
    CHECK_EQ(order_len, 0); /* spawned tasks start at the loop's next turn */
    CHECK_ERR(aioc_gather(t, 3, NULL), 0);
    CHECK(memcmp(order, "abc", 3) == 0);
    return NULL;
}

TASK_TEST_VIRTUAL(await_returns_result) {
    aioc_task a = aioc_spawn(identity, P(7));
    aioc_task b = aioc_spawn(identity, P(8));
    void *r = NULL;
    CHECK_ERR(aioc_await(b, &r), 0);
    CHECK_EQ(I(r), 8);
    CHECK(aioc_task_done(a)); /* a ran first and is waiting to be awaited */
    CHECK_ERR(aioc_await(a, &r), 0);
    CHECK_EQ(I(r), 7);
    return NULL;
}

TASK_TEST_VIRTUAL(await_twice_is_estale) {
    aioc_task t = aioc_spawn(identity, P(1));
    CHECK_ERR(aioc_await(t, NULL), 0);
    CHECK_ERR(aioc_await(t, NULL), AIOC_ESTALE);
    CHECK_ERR(aioc_cancel(t), AIOC_ESTALE);
    CHECK_ERR(aioc_detach(t), AIOC_ESTALE);
    CHECK(aioc_task_name(t) == NULL);
    /* a new task reusing the slot is not reachable through the old handle */
    aioc_task u = aioc_spawn(identity, P(2));
    CHECK_ERR(aioc_await(t, NULL), AIOC_ESTALE);
    CHECK_ERR(aioc_await(u, NULL), 0);
    aioc_task bogus = {12345};
    CHECK_ERR(aioc_await(bogus, NULL), AIOC_ESTALE);
    return NULL;
}

static void *sleeps_a_while(void *arg) {
    aioc_sleep(I(arg));
    return P(5);
}

static void *second_awaiter(void *arg) {
    aioc_task t = *(aioc_task *)arg;
    return P(aioc_await(t, NULL));
}

TASK_TEST_VIRTUAL(await_while_another_awaits_is_eawaited) {
    static aioc_task slow;
    slow = aioc_spawn(sleeps_a_while, P(1));
    aioc_task other = aioc_spawn(second_awaiter, &slow);
    aioc_yield(); /* let `other` start awaiting */
    CHECK_ERR(aioc_await(slow, NULL), AIOC_EAWAITED);
    void *r;
    CHECK_ERR(aioc_await(other, &r), 0);
    CHECK_ERR(I(r), 0); /* the first awaiter got the result */
    return NULL;
}

TASK_TEST_VIRTUAL(await_self_is_edeadlk) {
    CHECK_ERR(aioc_await(aioc_current(), NULL), -EDEADLK);
    return NULL;
}

static void *fails(void *arg) {
    aioc_sleep(0.01);
    return aioc_fail(I(arg));
}

TASK_TEST_VIRTUAL(await_reports_task_failure) {
    void *r = P(1);
    CHECK_ERR(aioc_await(aioc_spawn(fails, P(-EIO)), &r), -EIO);
    CHECK(r == NULL);
    return NULL;
}

static int reported_err;
static char reported_name[64];
static int reports;

static void on_failure(const char *name, int err, void *data) {
    CHECK_EQ(I(data), 99);
    reported_err = err;
    snprintf(reported_name, sizeof reported_name, "%s", name);
    reports++;
}

static void *detached_failure(void *arg) {
    (void)arg;
    CHECK_ERR(aioc_set_failure_handler(on_failure, P(99)), 0);
    aioc_spawn_opts o = {.name = "fetcher"};
    CHECK_ERR(aioc_detach(aioc_spawn_with(fails, P(-ECONNRESET), &o)), 0);
    CHECK_EQ(reports, 0);
    aioc_sleep(0.02);
    /* reported when it ended, not at some later cleanup */
    CHECK_EQ(reports, 1);
    CHECK_ERR(reported_err, -ECONNRESET);
    CHECK(strcmp(reported_name, "fetcher") == 0);
    return NULL;
}

TEST(detached_failure_is_reported_when_it_ends) {
    reports = 0;
    run_virtual(detached_failure, NULL);
    CHECK_EQ(reports, 1);
}

static void *unawaited_failure(void *arg) {
    (void)arg;
    aioc_set_failure_handler(on_failure, P(99));
    aioc_spawn(fails, P(-EPIPE)); /* never awaited */
    aioc_spawn(identity, NULL);   /* succeeds: never reported */
    aioc_sleep(0.05);
    CHECK_EQ(reports, 0);
    return NULL;
}

TEST(unawaited_failure_is_reported_at_loop_end) {
    reports = 0;
    run_virtual(unawaited_failure, NULL);
    CHECK_EQ(reports, 1);
    CHECK_ERR(reported_err, -EPIPE);
}

static int detached_ran;

static void *detached_work(void *arg) {
    (void)arg;
    aioc_sleep(0.01);
    detached_ran = 1;
    return NULL;
}

TASK_TEST_VIRTUAL(detached_task_runs_to_completion) {
    aioc_task t = aioc_spawn(detached_work, NULL);
    CHECK_ERR(aioc_detach(t), 0);
    CHECK_ERR(aioc_await(t, NULL), AIOC_ESTALE);
    aioc_sleep(0.1);
    CHECK_EQ(detached_ran, 1);
    return NULL;
}

TASK_TEST_VIRTUAL(task_names_and_done) {
    char name[32];
    strcpy(name, "worker-1");
    aioc_spawn_opts o = {.name = name};
    aioc_task t = aioc_spawn_with(identity, NULL, &o);
    strcpy(name, "changed"); /* the name was copied */
    CHECK(strcmp(aioc_task_name(t), "worker-1") == 0);
    CHECK(strcmp(aioc_task_name(aioc_current()), "main") == 0);
    CHECK(!aioc_task_done(t));
    aioc_yield();
    CHECK(aioc_task_done(t));
    CHECK_ERR(aioc_await(t, NULL), 0);
    return NULL;
}

TASK_TEST_VIRTUAL(spawn_checks_stack_size) {
    aioc_spawn_opts tiny = {.stack_size = 1024};
    CHECK_ERR(aioc_task_error(aioc_spawn_with(identity, NULL, &tiny)), -EINVAL);
    aioc_spawn_opts huge = {.stack_size = (size_t)4 << 30};
    CHECK_ERR(aioc_task_error(aioc_spawn_with(identity, NULL, &huge)), -EINVAL);
    CHECK_ERR(aioc_task_error(aioc_spawn(NULL, NULL)), -EINVAL);
    aioc_spawn_opts big = {.stack_size = 8u << 20};
    CHECK_ERR(aioc_await(aioc_spawn_with(identity, NULL, &big), NULL), 0);
    return NULL;
}

static void *deep(void *arg) {
    /* uses most of a 1 MiB stack: fine with a custom size */
    volatile char buf[900 * 1024];
    buf[0] = 1;
    buf[sizeof buf - 1] = (char)I(arg);
    aioc_yield();
    return P(buf[0] + buf[sizeof buf - 1]);
}

TASK_TEST_VIRTUAL(spawn_with_large_stack) {
    aioc_spawn_opts o = {.stack_size = 1u << 20};
    void *r;
    CHECK_ERR(aioc_await(aioc_spawn_with(deep, P(2), &o), &r), 0);
    CHECK_EQ(I(r), 3);
    return NULL;
}

static aioc_local_key request_id = {NULL};
static int destroyed;
static void count_destroy(void *v) { destroyed += I(v); }
static aioc_local_key with_destructor = {count_destroy};

static void *uses_locals(void *arg) {
    CHECK(aioc_local_get(&request_id) == NULL);
    CHECK_ERR(aioc_local_set(&request_id, arg), 0);
    CHECK_ERR(aioc_local_set(&with_destructor, P(10)), 0);
    aioc_sleep(0.01); /* others set theirs meanwhile */
    CHECK(aioc_local_get(&request_id) == arg);
    return aioc_local_get(&request_id);
}

TASK_TEST_VIRTUAL(task_locals_are_per_task) {
    destroyed = 0;
    aioc_task t[3] = {aioc_spawn(uses_locals, P(1)), aioc_spawn(uses_locals, P(2)),
                      aioc_spawn(uses_locals, P(3))};
    void *r[3];
    CHECK_ERR(aioc_gather(t, 3, r), 0);
    CHECK_EQ(I(r[0]) * 100 + I(r[1]) * 10 + I(r[2]), 123);
    CHECK_EQ(destroyed, 30);
    CHECK(aioc_local_get(&request_id) == NULL);
    return NULL;
}

TEST(local_outside_task_is_enotask) {
    CHECK_ERR(aioc_local_set(&request_id, P(1)), AIOC_ENOTASK);
    CHECK(aioc_local_get(&request_id) == NULL);
}

static void *fail_then_clear(void *arg) {
    (void)arg;
    aioc_fail(-EIO);
    aioc_fail(0);
    return P(3);
}

TASK_TEST_VIRTUAL(fail_zero_clears_failure) {
    void *r;
    CHECK_ERR(aioc_await(aioc_spawn(fail_then_clear, NULL), &r), 0);
    CHECK_EQ(I(r), 3);
    return NULL;
}

static void *spawn_many(void *arg) {
    size_t n = (size_t)I(arg);
    aioc_task *t = calloc(n, sizeof *t);
    void **r = calloc(n, sizeof *r);
    CHECK(t && r);
    for (size_t i = 0; i < n; i++)
        t[i] = aioc_spawn(identity, P(i));
    CHECK_ERR(aioc_gather(t, n, r), 0);
    long long sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += I(r[i]);
    CHECK_EQ(sum, (long long)(n * (n - 1) / 2));
    free(t);
    free(r);
    return NULL;
}

TEST(hundred_thousand_tasks_spawned_and_joined) { run_virtual(spawn_many, P(100000)); }
