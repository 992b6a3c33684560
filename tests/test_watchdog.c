/* The watchdog: a task that runs too long without yielding is reported
 * while it still runs, by name, with a backtrace that names what blocks,
 * and again when it yields.
 *
 * Each test captures stderr in a pipe; the blocking task itself looks for
 * the report between short stretches of blocking, so a test waits for the
 * report (up to a generous bound, for Valgrind), never for a time. The
 * functions a backtrace must name are exported (the test program links
 * with -rdynamic) and kept out of line. */
#include <fcntl.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "capture_stderr.h"
#include "sanitizer.h"
#include "test.h"

#define REPORTED "without yielding"

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The bound on waiting for a report: far above the threshold, for slow
 * machines and Valgrind. */
#define GIVE_UP_AFTER 20.0

/* Runs `fn` as a task named `name` under a 50 ms watchdog, and checks the
 * report: named, with a backtrace holding `frame`, then its end. */
static void *run_blocking(void *arg) {
    aioc_fn fn = (aioc_fn)(uintptr_t)arg;
    aioc_task t = aioc_spawn_with(fn, NULL, &(aioc_spawn_opts){.name = "blocker"});
    void *seen = NULL;
    CHECK_ERR(aioc_await(t, &seen), 0);
    CHECK(seen != NULL); /* the task saw the report before it yielded */
    return NULL;
}

static void check_watchdog(aioc_fn fn, const char *frame) {
    unsetenv("AIOC_WATCHDOG_MS");
    capture_start();
    aioc_run_opts opts = {.watchdog_ms = 50};
    int err = aioc_run_with(run_blocking, (void *)(uintptr_t)fn, NULL, &opts);
    capture_stop();
    CHECK_ERR(err, 0);
    const char *report = strstr(captured, "aioc watchdog: task 'blocker' (id ");
    CHECK(report);
    CHECK(strstr(report, REPORTED "; its stack"));
    CHECK(strstr(report, "test_watchdog.c:")); /* where aioc_spawn_with was called */
    const char *end = strstr(report, "aioc watchdog: task 'blocker'");
    end = strstr(end + 1, "aioc watchdog: task 'blocker'");
    CHECK(end && strstr(end, " yielded after ")); /* its end comes after it */
    const char *at = strstr(report, frame);
    CHECK(at && at < end); /* the backtrace names the blocking function */
}

/* ------------------------------------------------------- sleeping -- */

/* Sleeps (blocking the loop) in short stretches until the report is seen. */
__attribute__((noinline)) bool watchdog_test_sleep(void);
__attribute__((noinline)) bool watchdog_test_sleep(void) {
    double start = seconds();
    while (seconds() - start < GIVE_UP_AFTER) {
        usleep(20 * 1000);
        if (captured_has(REPORTED))
            return true;
    }
    return false;
}

static void *sleeper(void *arg) {
    (void)arg;
    return watchdog_test_sleep() ? P(1) : NULL;
}

TEST(watchdog_reports_a_task_in_usleep_while_it_sleeps) {
    check_watchdog(sleeper, "watchdog_test_sleep");
}

/* ------------------------------------------------------- spinning -- */

static volatile uint64_t sink;

__attribute__((noinline)) bool watchdog_test_spin(void);
__attribute__((noinline)) bool watchdog_test_spin(void) {
    double start = seconds();
    while (seconds() - start < GIVE_UP_AFTER) {
        for (int i = 0; i < 100000; i++)
            sink = sink * 31 + (uint64_t)i;
        if (captured_has(REPORTED))
            return true;
    }
    return false;
}

static void *spinner(void *arg) {
    (void)arg;
    return watchdog_test_spin() ? P(1) : NULL;
}

TEST(watchdog_reports_a_spinning_task_while_it_spins) {
    check_watchdog(spinner, "watchdog_test_spin");
}

/* --------------------------------------------- inside a C library -- */

static bool qsort_saw_report;
static double qsort_start;

/* Slow until the report is out, then fast: qsort runs until it is seen. */
__attribute__((noinline)) int watchdog_test_compare(const void *a, const void *b);
__attribute__((noinline)) int watchdog_test_compare(const void *a, const void *b) {
    if (!qsort_saw_report && seconds() - qsort_start < GIVE_UP_AFTER) {
        for (int i = 0; i < 100000; i++)
            sink = sink * 31 + (uint64_t)i;
        qsort_saw_report = captured_has(REPORTED);
    }
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void *sorter(void *arg) {
    (void)arg;
    int v[256];
    for (int i = 0; i < 256; i++)
        v[i] = (i * 7919) % 256;
    qsort_saw_report = false;
    qsort_start = seconds();
    qsort(v, 256, sizeof *v, watchdog_test_compare);
    for (int i = 0; i < 256; i++)
        CHECK_EQ(v[i], i);
    return qsort_saw_report ? P(1) : NULL;
}

TEST(watchdog_reports_a_task_inside_qsort) {
    check_watchdog(sorter, "watchdog_test_compare");
#ifndef AIOC__ASAN /* ASan's qsort interceptor hides libc's frames from the unwinder */
    const char *end = strstr(captured, " yielded after ");
    const char *at = strstr(captured, "qsort");
    CHECK(at && at < end);
#endif
}

/* ------------------------------------------------------ callbacks -- */

static bool callback_saw_report;

static void spinning_callback(void *arg) {
    (void)arg;
    callback_saw_report = watchdog_test_spin();
}

static void *run_callback(void *arg) {
    (void)arg;
    callback_saw_report = false;
    aioc_call_soon(spinning_callback, NULL);
    CHECK_ERR(aioc_sleep(0.001), 0); /* the callback runs meanwhile */
    CHECK(callback_saw_report);
    return NULL;
}

/* A loop callback that blocks is reported too (it has no task). */
TEST(watchdog_reports_a_blocking_callback) {
    capture_start();
    aioc_run_opts opts = {.watchdog_ms = 50};
    int err = aioc_run_with(run_callback, NULL, NULL, &opts);
    capture_stop();
    CHECK_ERR(err, 0);
    const char *report = strstr(captured, "aioc watchdog: a callback (no task) has run ");
    CHECK(report && strstr(report, "watchdog_test_spin"));
    CHECK(strstr(report, "aioc watchdog: a callback (no task) yielded after "));
}

/* ------------------------------------------------------------ off -- */

static void *brief_block(void *arg) {
    (void)arg;
    usleep(200 * 1000);
    return NULL;
}

TEST(watchdog_is_off_by_default) {
    unsetenv("AIOC_DEBUG");
    unsetenv("AIOC_WATCHDOG_MS");
    capture_start();
    int err = aioc_run(brief_block, NULL, NULL);
    capture_stop();
    CHECK_ERR(err, 0);
    CHECK(!strstr(captured, "aioc watchdog"));
}

/* AIOC_DEBUG=1 turns it on (100 ms); AIOC_WATCHDOG_MS=0 turns it off. */
TEST(watchdog_follows_the_environment) {
    unsetenv("AIOC_WATCHDOG_MS");
    setenv("AIOC_DEBUG", "1", 1);
    capture_start();
    int err = aioc_run(sleeper, NULL, NULL);
    capture_stop();
    CHECK_ERR(err, 0);
    CHECK(strstr(captured, "aioc watchdog: task 'main' (id 1)")); /* no spawn site */
    setenv("AIOC_WATCHDOG_MS", "0", 1);
    capture_start();
    err = aioc_run(brief_block, NULL, NULL);
    capture_stop();
    unsetenv("AIOC_DEBUG");
    unsetenv("AIOC_WATCHDOG_MS");
    CHECK_ERR(err, 0);
    CHECK(!strstr(captured, "aioc watchdog"));
}

/* ---------------------------------------------------- spawn sites -- */

static void *returns_arg(void *arg) { return arg; }

/* aioc_spawn is a macro that records the call site; the function of the
 * same name still exists, for a program that takes its address. */
TASK_TEST(spawn_function_still_exists_behind_the_macro) {
    aioc_task (*spawn)(aioc_fn, void *) = aioc_spawn;
    aioc_task (*spawn_with)(aioc_fn, void *, const aioc_spawn_opts *) = aioc_spawn_with;
    void *r = NULL;
    CHECK_ERR(aioc_await(spawn(returns_arg, P(7)), &r), 0);
    CHECK_EQ(I(r), 7);
    CHECK_ERR(aioc_await(spawn_with(returns_arg, P(8), NULL), &r), 0);
    CHECK_EQ(I(r), 8);
    /* the macro's arguments may hold commas (a compound literal) */
    aioc_task t =
        aioc_spawn_with(returns_arg, P(9), &(aioc_spawn_opts){.name = "x", .stack_size = 0});
    CHECK_ERR(aioc_await(t, &r), 0);
    CHECK_EQ(I(r), 9);
    return NULL;
}

/* ------------------------------------------- debug mode's other checks -- */

static aioc_lock long_held = AIOC_LOCK_INIT;

static void *hold_lock(void *arg) {
    CHECK_ERR(aioc_lock_acquire(&long_held), 0);
    CHECK_ERR(aioc_sleep(*(double *)arg), 0);
    CHECK_ERR(aioc_lock_release(&long_held), 0);
    return NULL;
}

static void *hold_locks(void *arg) {
    (void)arg;
    double brief = 0.1, long_ = 5;
    aioc_task t = aioc_spawn_with(hold_lock, &brief, &(aioc_spawn_opts){.name = "brief"});
    CHECK_ERR(aioc_await(t, NULL), 0);
    t = aioc_spawn_with(hold_lock, &long_, &(aioc_spawn_opts){.name = "holder"});
    CHECK_ERR(aioc_await(t, NULL), 0);
    return NULL;
}

/* Ten thresholds (here 10 x 200 ms, on the loop's clock): a lock held 5 s
 * is reported by its holder when it lets go; one held 0.1 s is not. The
 * loop's clock counts the real time of the steps around a virtual sleep
 * too (half a second under Valgrind on a busy machine): hence a threshold
 * well above the brief hold. */
TEST(debug_mode_reports_a_lock_held_long) {
    capture_start();
    aioc_run_opts opts = {.watchdog_ms = 200, .virtual_time = 1};
    int err = aioc_run_with(hold_locks, NULL, NULL, &opts);
    capture_stop();
    CHECK_ERR(err, 0);
    const char *report = strstr(captured, "aioc debug: lock ");
    CHECK(report && strstr(report, " was held 5.0"));
    CHECK(strstr(report, "by task 'holder' (id "));
    CHECK(strstr(report, "test_watchdog.c:"));
    CHECK(!strstr(captured, "'brief'"));
}

static aioc_sem permits = AIOC_SEM_INIT(1);

static void *hold_permit(void *arg) {
    CHECK_ERR(aioc_sem_acquire(&permits), 0);
    CHECK_ERR(aioc_sleep(*(double *)arg), 0);
    CHECK_ERR(aioc_sem_release(&permits), 0);
    return NULL;
}

static void *take_permit(void *arg) {
    (void)arg;
    CHECK_ERR(aioc_sem_try_acquire(&permits), 0);
    return NULL;
}

static void *give_permit_back(void *arg) {
    CHECK_ERR(aioc_sleep(*(double *)arg), 0);
    CHECK_ERR(aioc_sem_release(&permits), 0);
    return NULL;
}

static void *hold_permits(void *arg) {
    (void)arg;
    double brief = 0.1, long_ = 5, longer = 7;
    /* "brief" holds the one permit while "holder" waits: it is handed
     * over on release, and "holder" keeps it 5 s */
    aioc_task ts[2] = {
        aioc_spawn_with(hold_permit, &brief, &(aioc_spawn_opts){.name = "brief"}),
        aioc_spawn_with(hold_permit, &long_, &(aioc_spawn_opts){.name = "holder"}),
    };
    CHECK_ERR(aioc_gather(ts, 2, NULL), 0);
    /* taken by one task, given back by another 7 s later */
    aioc_task taker = aioc_spawn_with(take_permit, NULL, &(aioc_spawn_opts){.name = "taker"});
    CHECK_ERR(aioc_await(taker, NULL), 0);
    aioc_task giver =
        aioc_spawn_with(give_permit_back, &longer, &(aioc_spawn_opts){.name = "giver"});
    CHECK_ERR(aioc_await(giver, NULL), 0);
    CHECK_EQ(aioc_sem_value(&permits), 1);
    return NULL;
}

/* A semaphore's permit held ten thresholds is reported when it is given
 * back, by whichever task gives it back; a brief hold is not. */
TEST(debug_mode_reports_a_semaphore_permit_held_long) {
    aioc_sem_init(&permits, 1);
    capture_start();
    aioc_run_opts opts = {.watchdog_ms = 200, .virtual_time = 1};
    int err = aioc_run_with(hold_permits, NULL, NULL, &opts);
    capture_stop();
    CHECK_ERR(err, 0);
    char head[128];
    snprintf(head, sizeof head, "aioc debug: a permit of semaphore %p was held ", (void *)&permits);
    const char *first = strstr(captured, head);
    CHECK(first && strstr(first, " was held 5.0"));
    CHECK(strstr(first, "taken by task 'holder' (id ")); /* handed over to it */
    CHECK(strstr(first, "given back by task 'holder' (id "));
    const char *second = strstr(first + 1, head);
    CHECK(second && strstr(second, " was held 7.0"));
    CHECK(strstr(second, ", ended since, given back by task 'giver' (id "));
    CHECK(!strstr(captured, "'brief'"));
}

static aioc_stream *left_open;

static void *open_streams(void *arg) {
    (void)arg;
    int p[2];
    CHECK(pipe(p) == 0);
    aioc_stream *closed = aioc_stream_new(p[0], NULL);
    left_open = aioc_stream_new(p[1], NULL);
    CHECK(closed && left_open);
    CHECK_ERR(aioc_stream_close(closed), 0);
    return NULL;
}

static void *run_opener(void *arg) {
    aioc_task t = aioc_spawn_with(open_streams, arg, &(aioc_spawn_opts){.name = "opener"});
    CHECK_ERR(aioc_await(t, NULL), 0);
    return NULL;
}

TEST(debug_mode_reports_a_stream_never_closed) {
    capture_start();
    aioc_run_opts opts = {.watchdog_ms = 50};
    int err = aioc_run_with(run_opener, NULL, NULL, &opts);
    capture_stop();
    CHECK_ERR(err, 0);
    const char *report = strstr(captured, "aioc debug: a stream created by task 'opener' (id ");
    CHECK(report && strstr(report, "test_watchdog.c:"));
    CHECK(strstr(report, "was never closed"));
    CHECK(!strstr(report + 1, "aioc debug: a stream")); /* the closed one is not */
    aioc_stream_abort(left_open);                       /* frees it, outside the loop */
}
