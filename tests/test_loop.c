/* Callbacks, virtual time, the clock, dumps and cross-thread wake-ups. */
#include <pthread.h>
#include <unistd.h>

#include "test.h"

static char trace[32];
static int trace_len;

static void note(void *arg) { trace[trace_len++] = (char)I(arg); }

static void *note_task(void *arg) {
    note(arg);
    return NULL;
}

TASK_TEST_VIRTUAL(callbacks_run_in_order) {
    trace_len = 0;
    aioc_call_soon(note, P('a'));
    aioc_task t = aioc_spawn(note_task, P('b'));
    aioc_call_soon(note, P('c'));
    aioc_call_later(2, note, P('e'));
    aioc_call_later(1, note, P('d'));
    aioc_call_at(aioc_now() + 3, note, P('f'));
    aioc_call drop = aioc_call_later(1.5, note, P('X'));
    aioc_call drop_soon = aioc_call_soon(note, P('Y'));
    CHECK_ERR(aioc_call_cancel(drop), 0);
    CHECK_ERR(aioc_call_cancel(drop_soon), 0);
    CHECK_ERR(aioc_call_cancel(drop), AIOC_ESTALE);
    aioc_sleep(0.5);
    CHECK_EQ(trace_len, 3);
    CHECK(memcmp(trace, "abc", 3) == 0); /* FIFO with tasks */
    aioc_sleep(5);
    CHECK_EQ(trace_len, 6);
    CHECK(memcmp(trace, "abcdef", 6) == 0);
    CHECK_ERR(aioc_await(t, NULL), 0);
    return NULL;
}

static int callback_checked;

static void callback_context(void *arg) {
    (void)arg;
    CHECK_ERR(aioc_sleep(1), AIOC_ENOTASK); /* callbacks cannot suspend */
    CHECK_EQ(aioc_current().id, 0);
    aioc_detach(aioc_spawn(note_task, P('z'))); /* but may spawn */
    callback_checked = 1;
}

TASK_TEST_VIRTUAL(callbacks_cannot_suspend_but_can_spawn) {
    trace_len = 0;
    aioc_call_soon(callback_context, NULL);
    aioc_sleep(0.1);
    CHECK_EQ(callback_checked, 1);
    CHECK_EQ(trace_len, 1);
    CHECK_EQ(trace[0], 'z');
    return NULL;
}

TEST(call_outside_loop_fails) {
    aioc_call failed = aioc_call_soon(note, NULL);
    CHECK_ERR(aioc_call_error(failed), AIOC_ENOLOOP);
    CHECK_ERR(aioc_call_error(aioc_call_later(1, note, NULL)), AIOC_ENOLOOP);
    CHECK_ERR(aioc_call_cancel(failed), AIOC_ESTALE);
    aioc_call bogus = {5};
    CHECK_ERR(aioc_call_error(bogus), 0);
    CHECK_ERR(aioc_call_cancel(bogus), AIOC_ESTALE);
}

static void *pending_at_exit(void *arg) {
    (void)arg;
    trace_len = 0;
    aioc_call_later(100, note, P('n'));
    return NULL;
}

TEST(pending_callbacks_dropped_at_loop_end) {
    run_virtual(pending_at_exit, NULL);
    CHECK_EQ(trace_len, 0);
}

static void *hour_long_sleep(void *arg) {
    (void)arg;
    double t0 = aioc_now();
    CHECK_ERR(aioc_sleep(3600), 0);
    double slept = aioc_now() - t0;
    CHECK(slept >= 3600 && slept < 3600.25);
    return NULL;
}

TEST(virtual_time_skips_sleeps) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    run_virtual(hour_long_sleep, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double real = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    CHECK(real < 30); /* generous: it takes milliseconds */
}

TASK_TEST(real_sleep_is_never_early) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    double t0 = aioc_now();
    CHECK_ERR(aioc_sleep(0.05), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double real = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    CHECK(real >= 0.05); /* never early */
    CHECK(aioc_now() - t0 >= 0.05);
    return NULL;
}

TASK_TEST(clock_is_monotonic) {
    double last = aioc_now();
    CHECK(last > 0);
    CHECK_EQ(aioc_now_ns() / 1000000000ull, (uint64_t)last);
    for (int i = 0; i < 100; i++) {
        aioc_sleep(0.001 * (i % 3));
        CHECK(aioc_now() >= last);
        last = aioc_now();
    }
    return NULL;
}

TEST(clock_outside_loop_is_zero) {
    CHECK(aioc_now() == 0);
    CHECK_EQ(aioc_now_ns(), 0);
}

static int yields_seen;

static void *yielder(void *arg) {
    for (int i = 0; i < 3; i++) {
        trace[trace_len++] = (char)I(arg);
        aioc_yield();
    }
    return NULL;
}

TASK_TEST_VIRTUAL(yield_lets_others_run) {
    trace_len = 0;
    aioc_task t[2] = {aioc_spawn(yielder, P('x')), aioc_spawn(yielder, P('y'))};
    CHECK_ERR(aioc_gather(t, 2, NULL), 0);
    CHECK(memcmp(trace, "xyxyxy", 6) == 0);
    yields_seen = 1;
    return NULL;
}

static void *waits_on_event(void *arg) {
    aioc_event_wait(arg);
    return NULL;
}

static void *sleeps_long(void *arg) {
    (void)arg;
    aioc_sleep(3600);
    return NULL;
}

TASK_TEST_VIRTUAL(dump_shows_states_and_wait_reasons) {
    static aioc_event ev = AIOC_EVENT_INIT;
    aioc_spawn_opts o1 = {.name = "sleepy"}, o2 = {.name = "waiter"};
    static aioc_task sleepy;
    sleepy = aioc_spawn_with(sleeps_long, NULL, &o1);
    aioc_task waiter = aioc_spawn_with(waits_on_event, &ev, &o2);
    aioc_sleep(2);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int n = aioc_dump_tasks(out);
    fclose(out);
    CHECK_EQ(n, 3);
    CHECK(strstr(text, "main") && strstr(text, "running"));
    CHECK(strstr(text, "sleepy") && strstr(text, "waits on sleep"));
    CHECK(strstr(text, "waiter") && strstr(text, "waits on primitive"));
    CHECK(strstr(text, "for 2.0"));
    free(text);
    aioc_event_set(&ev);
    CHECK_ERR(aioc_await(waiter, NULL), 0);
    aioc_cancel(sleepy);
    aioc_await(sleepy, NULL);
    return NULL;
}

/* A thread posts a callback into a loop that sleeps in epoll. */
static aioc_loop *target_loop;
static aioc_event posted = AIOC_EVENT_INIT;

static void on_posted(void *arg) {
    CHECK_EQ(I(arg), 77);
    aioc_event_set(&posted);
}

static void *poster(void *arg) {
    (void)arg;
    usleep(20000);
    CHECK_ERR(aioc_loop_call(target_loop, on_posted, P(77)), 0);
    return NULL;
}

TASK_TEST(other_thread_wakes_the_loop) {
    target_loop = aioc_loop_current();
    aioc_call_later(60, note, NULL); /* keeps the loop from being "stuck" */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, poster, NULL), 0);
    double t0 = aioc_now();
    CHECK_ERR(aioc_event_wait(&posted), 0);
    aioc_sleep(0.001);
    CHECK(aioc_now() - t0 < 30); /* woken by the eventfd, not the 60 s timer */
    pthread_join(th, NULL);
    return NULL;
}

static char sched_trace[64];
static int sched_len;

static void *step(void *arg) {
    for (int i = 0; i < 3; i++) {
        sched_trace[sched_len++] = (char)I(arg);
        aioc_yield();
    }
    return NULL;
}

static void *interleave(void *arg) {
    (void)arg;
    sched_len = 0;
    aioc_task t[6];
    for (int i = 0; i < 6; i++)
        t[i] = aioc_spawn(step, P('a' + i));
    CHECK_ERR(aioc_gather(t, 6, NULL), 0);
    sched_trace[sched_len] = 0;
    return NULL;
}

static void trace_with_seed(uint64_t seed, char *out) {
    aioc_run_opts o = {.virtual_time = 1, .seed = seed};
    CHECK_ERR(aioc_run_with(interleave, NULL, NULL, &o), 0);
    strcpy(out, sched_trace);
}

TEST(seeded_schedule_varies_and_replays) {
    char fifo[64], a[64], again[64], other[64];
    trace_with_seed(0, fifo);
    CHECK(strcmp(fifo, "abcdefabcdefabcdef") == 0);
    trace_with_seed(12345, a);
    trace_with_seed(12345, again);
    CHECK(strcmp(a, again) == 0); /* the same seed replays the same order */
    int differs = strcmp(a, fifo) != 0;
    for (uint64_t s = 1; s < 20 && !differs; s++) {
        trace_with_seed(s, other);
        differs = strcmp(other, fifo) != 0;
    }
    CHECK(differs); /* seeds do perturb the order */
    setenv("AIOC_SEED", "12345", 1);
    trace_with_seed(0, other); /* the environment variable works too */
    unsetenv("AIOC_SEED");
    CHECK(strcmp(other, a) == 0);
}
