/* The small things: version, error names, sleep_until, events, the
 * default failure report. */
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

TEST(version_and_switch_method) {
    CHECK(strcmp(aioc_version(), "0.1.0") == 0);
    const char *m = aioc_switch_method();
    CHECK(!strcmp(m, "x86_64-asm") || !strcmp(m, "aarch64-asm") || !strcmp(m, "ucontext"));
}

TEST(error_names_and_messages) {
    CHECK(strcmp(aioc_err_name(-ECANCELED), "ECANCELED") == 0);
    CHECK(strcmp(aioc_err_name(-ETIMEDOUT), "ETIMEDOUT") == 0);
    CHECK(strcmp(aioc_err_name(AIOC_ESTALE), "AIOC_ESTALE") == 0);
    CHECK(strcmp(aioc_err_name(AIOC_EOF), "AIOC_EOF") == 0);
    CHECK(strcmp(aioc_err_name(0), "0") == 0);
    CHECK(strcmp(aioc_err_name(-123456), "EUNKNOWN") == 0);
    CHECK(strcmp(aioc_strerror(-ETIMEDOUT), strerror(ETIMEDOUT)) == 0);
    CHECK(strstr(aioc_strerror(AIOC_ENOTASK), "inside a task"));
    CHECK(strstr(aioc_strerror(AIOC_EAWAITED), "awaited"));
    CHECK(strcmp(aioc_strerror(0), "success") == 0);
    CHECK(aioc_strerror(-99999) != NULL);
}

TASK_TEST_VIRTUAL(sleep_until_absolute_time) {
    double target = aioc_now() + 5;
    CHECK_ERR(aioc_sleep_until(target), 0);
    CHECK(aioc_now() >= target);
    CHECK_ERR(aioc_sleep_until(target - 10), 0); /* in the past: returns at once */
    CHECK(aioc_now() - target < 0.25);
    return NULL;
}

static void *waiter(void *arg) { return P(aioc_event_wait(arg)); }

TASK_TEST_VIRTUAL(event_set_clear_wait) {
    aioc_event ev;
    aioc_event_init(&ev);
    CHECK(!aioc_event_is_set(&ev));
    aioc_task t[3] = {aioc_spawn(waiter, &ev), aioc_spawn(waiter, &ev), aioc_spawn(waiter, &ev)};
    aioc_sleep(1);
    CHECK(!aioc_task_done(t[0]));
    aioc_event_set(&ev); /* wakes all */
    CHECK(aioc_event_is_set(&ev));
    void *r[3];
    CHECK_ERR(aioc_gather(t, 3, r), 0);
    CHECK_ERR(I(r[0]) | I(r[1]) | I(r[2]), 0);
    CHECK_ERR(aioc_event_wait(&ev), 0); /* already set: no wait */
    aioc_event_clear(&ev);
    CHECK(!aioc_event_is_set(&ev));
    aioc_scope s;
    aioc_scope_enter(&s, 1);
    CHECK_ERR(aioc_event_wait(&ev), -ETIMEDOUT);
    aioc_scope_exit(&s);
    return NULL;
}

TEST(event_outside_task_is_enotask) {
    aioc_event ev = AIOC_EVENT_INIT;
    CHECK_ERR(aioc_event_wait(&ev), AIOC_ENOTASK);
    aioc_event_set(&ev); /* no waiters, no loop: just sets */
    CHECK(aioc_event_is_set(&ev));
}

static void *fails_eio(void *arg) {
    (void)arg;
    return aioc_fail(-EIO);
}

static void *detach_failing(void *arg) {
    (void)arg;
    aioc_spawn_opts o = {.name = "uploader"};
    aioc_detach(aioc_spawn_with(fails_eio, NULL, &o));
    aioc_sleep(0.01);
    return NULL;
}

TEST(default_failure_handler_prints_name_and_error) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        aioc_run_opts o = {.virtual_time = 1};
        _exit(aioc_run_with(detach_failing, NULL, NULL, &o) == 0 ? 0 : 1);
    }
    close(fds[1]);
    char buf[512] = {0};
    size_t len = 0;
    ssize_t r;
    while (len + 1 < sizeof buf && (r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    close(fds[0]);
    int ws;
    waitpid(pid, &ws, 0);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    if (!strstr(buf, "task 'uploader' failed") || !strstr(buf, "EIO")) {
        fprintf(stderr, "stderr was: %s\n", buf);
        CHECK(!"no failure report");
    }
}

/* Loop-local storage: shared by the loop's tasks, destroyed when aioc_run
 * ends (after the tasks), absent outside a loop. */
static int loop_values_destroyed;
static void destroy_loop_value(void *v) {
    CHECK_EQ(*(int *)v, 42);
    loop_values_destroyed++;
    free(v);
}
static aioc_local_key loop_key = {destroy_loop_value};

static void *reads_loop_local(void *arg) {
    (void)arg;
    CHECK(aioc_loop_local_get(&loop_key) != NULL);
    return aioc_loop_local_get(&loop_key);
}

static void *sets_loop_local(void *arg) {
    (void)arg;
    int *v = malloc(sizeof *v);
    *v = 42;
    CHECK(aioc_loop_local_get(&loop_key) == NULL);
    CHECK_ERR(aioc_loop_local_set(&loop_key, v), 0);
    void *seen;
    CHECK_ERR(aioc_await(aioc_spawn(reads_loop_local, NULL), &seen), 0);
    CHECK(seen == v);
    CHECK_EQ(loop_values_destroyed, I(arg)); /* not while the loop runs */
    return NULL;
}

TEST(loop_local_storage) {
    CHECK(aioc_loop_local_get(&loop_key) == NULL);
    CHECK_ERR(aioc_loop_local_set(&loop_key, NULL), AIOC_ENOLOOP);
    CHECK_ERR(aioc_run(sets_loop_local, P(0), NULL), 0);
    CHECK_EQ(loop_values_destroyed, 1);
    CHECK_ERR(aioc_run(sets_loop_local, P(1), NULL), 0); /* a new loop starts empty */
    CHECK_EQ(loop_values_destroyed, 2);
}
