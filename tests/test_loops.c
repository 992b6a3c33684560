/* aioc_run on N loops (aioc_run_opts.loops): main once per loop, the
 * loop's index and siblings, the first failure, calls between loops, the
 * deadlock rule across loops, dumps, Ctrl-C, AIOC_LOOPS, and servers that
 * spread connections over the loops. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

enum { MAX_LOOPS = 8 };

/* ------------------------------------------------------ main per loop -- */

static atomic_uint seen_mask;
static atomic_uint seen_count;

static void *record_loop(void *arg) {
    unsigned i = aioc_loop_index(), n = aioc_loop_count();
    CHECK(i < n && n <= MAX_LOOPS);
    CHECK(aioc_loop_at(i) == aioc_loop_current());
    for (unsigned k = 0; k < n; k++)
        CHECK(aioc_loop_at(k) != NULL);
    CHECK(aioc_loop_at(n) == NULL);
    atomic_fetch_or(&seen_mask, 1u << i);
    atomic_store(&seen_count, n);
    return i == 0 ? arg : NULL;
}

TEST(loops_run_main_once_per_loop) {
    CHECK_EQ(aioc_loop_count(), 0); /* outside any loop */
    aioc_run_opts opts = {.loops = 3};
    void *result = NULL;
    CHECK_ERR(aioc_run_with(record_loop, P(42), &result, &opts), 0);
    CHECK_EQ(atomic_load(&seen_mask), 7);
    CHECK_EQ(atomic_load(&seen_count), 3);
    CHECK_EQ(I(result), 42); /* loop 0's main's value */
}

TEST(one_loop_is_index_0_of_1) {
    atomic_store(&seen_mask, 0);
    CHECK_ERR(aioc_run(record_loop, NULL, NULL), 0);
    CHECK_EQ(atomic_load(&seen_mask), 1);
    CHECK_EQ(atomic_load(&seen_count), 1);
}

/* ------------------------------------------------------------ failure -- */

static void *loop_1_fails(void *arg) {
    (void)arg;
    if (aioc_loop_index() == 1)
        return aioc_fail(-EPIPE);
    return P(7);
}

TEST(loops_return_the_failure_and_loop_0s_result) {
    aioc_run_opts opts = {.loops = 3};
    void *result = NULL;
    CHECK_ERR(aioc_run_with(loop_1_fails, NULL, &result, &opts), -EPIPE);
    CHECK_EQ(I(result), 7);
}

static void *run_inside(void *arg) {
    (void)arg;
    aioc_run_opts opts = {.loops = 2};
    CHECK_ERR(aioc_run_with(record_loop, NULL, NULL, &opts), -EBUSY);
    return NULL;
}

TEST(loops_inside_a_loop_is_ebusy) { CHECK_ERR(aioc_run(run_inside, NULL, NULL), 0); }

/* ------------------------------------------- a counter owned by loop 0 -- */

enum { CALLS_PER_LOOP = 200 };

static long counter;         /* touched by loop 0 only */
static aioc_event all_added; /* loop 0's */

static void add_one(void *arg) {
    (void)arg;
    if (++counter == (long)(aioc_loop_count() - 1) * CALLS_PER_LOOP)
        aioc_event_set(&all_added);
}

static void *count_on_loop_0(void *arg) {
    (void)arg;
    if (aioc_loop_index() == 0) {
        /* every task of loop 0 waits, and nothing of loop 0's own can wake
         * it: only its siblings' calls can, which is not a deadlock */
        CHECK_ERR(aioc_event_wait(&all_added), 0);
        return P(counter);
    }
    for (int k = 0; k < CALLS_PER_LOOP; k++) {
        CHECK_ERR(aioc_loop_call(aioc_loop_at(0), add_one, NULL), 0);
        if (k % 16 == 0)
            aioc_yield();
    }
    return NULL;
}

TEST(loops_share_a_counter_by_calls) {
    aioc_event_init(&all_added);
    aioc_run_opts opts = {.loops = 4};
    void *result = NULL;
    CHECK_ERR(aioc_run_with(count_on_loop_0, NULL, &result, &opts), 0);
    CHECK_EQ((long)(intptr_t)result, 3 * CALLS_PER_LOOP);
}

/* A loop whose main has ended still takes calls while a sibling runs. */
static void *call_after_loop_0_ended(void *arg) {
    (void)arg;
    if (aioc_loop_index() == 0)
        return NULL; /* ends at once */
    CHECK_ERR(aioc_sleep(0.02), 0);
    CHECK_ERR(aioc_loop_call(aioc_loop_at(0), add_one, NULL), 0);
    return NULL;
}

TEST(a_finished_loop_still_takes_calls_until_the_run_ends) {
    counter = 0;
    aioc_event_init(&all_added);
    aioc_run_opts opts = {.loops = 2};
    CHECK_ERR(aioc_run_with(call_after_loop_0_ended, NULL, NULL, &opts), 0);
    CHECK_EQ(counter, 1);
}

/* ----------------------------------------------------------- deadlock -- */

static aioc_event per_loop_event[MAX_LOOPS];

static void set_my_event(void *arg) {
    (void)arg;
    aioc_event_set(&per_loop_event[aioc_loop_index()]);
}

/* Loop 1 waits for an event that only loop 0 sets, later, by a call. */
static void *woken_by_sibling(void *arg) {
    (void)arg;
    if (aioc_loop_index() == 1)
        return P(aioc_event_wait(&per_loop_event[1]));
    CHECK_ERR(aioc_sleep(0.05), 0);
    CHECK_ERR(aioc_loop_call(aioc_loop_at(1), set_my_event, NULL), 0);
    return NULL;
}

TEST(a_loop_a_sibling_can_wake_is_not_deadlocked) {
    for (int i = 0; i < MAX_LOOPS; i++)
        aioc_event_init(&per_loop_event[i]);
    aioc_run_opts opts = {.loops = 2};
    CHECK_ERR(aioc_run_with(woken_by_sibling, NULL, NULL, &opts), 0);
}

/* Runs `fn` on `loops` loops with stderr in a temporary file; returns
 * aioc_run's status and what was printed (freed by the caller). */
static int run_capturing_stderr(aioc_fn fn, unsigned loops, char **text) {
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    CHECK(saved >= 0 && tmp);
    dup2(fileno(tmp), 2);
    aioc_run_opts opts = {.loops = loops};
    int status = aioc_run_with(fn, NULL, NULL, &opts);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long len = ftell(tmp);
    CHECK(len >= 0);
    *text = calloc(1, (size_t)len + 1);
    rewind(tmp);
    CHECK(fread(*text, 1, (size_t)len, tmp) == (size_t)len);
    fclose(tmp);
    return status;
}

/* Loop 1 waits for an event nobody sets; loop 0 ends at once. */
static void *loop_1_waits_forever(void *arg) {
    (void)arg;
    if (aioc_loop_index() == 1)
        aioc_event_wait(&per_loop_event[1]);
    return NULL;
}

TEST(a_loop_is_deadlocked_once_no_sibling_can_wake_it) {
    aioc_event_init(&per_loop_event[1]);
    char *err;
    CHECK_ERR(run_capturing_stderr(loop_1_waits_forever, 2, &err), -EDEADLK);
    CHECK(strstr(err, "aioc: loop 1 of 2: deadlock"));
    CHECK(!strstr(err, "loop 0 of 2: deadlock"));
    free(err);
}

/* Every loop waits on its own event: the run is stuck as a whole. */
static void *each_waits_forever(void *arg) {
    (void)arg;
    aioc_event_wait(&per_loop_event[aioc_loop_index()]);
    return NULL;
}

TEST(every_loop_stuck_is_reported_by_each) {
    for (int i = 0; i < MAX_LOOPS; i++)
        aioc_event_init(&per_loop_event[i]);
    char *err;
    CHECK_ERR(run_capturing_stderr(each_waits_forever, 3, &err), -EDEADLK);
    CHECK(strstr(err, "aioc: loop 0 of 3: deadlock"));
    CHECK(strstr(err, "aioc: loop 1 of 3: deadlock"));
    CHECK(strstr(err, "aioc: loop 2 of 3: deadlock"));
    free(err);
}

/* --------------------------------------------------------------- dump -- */

static aioc_event sibling_ready; /* loop 0's */

static void mark_sibling_ready(void *arg) {
    (void)arg;
    aioc_event_set(&sibling_ready);
}

static void *sleeper(void *arg) {
    (void)arg;
    aioc_sleep(60);
    return NULL;
}

static void *dump_both(void *arg) {
    (void)arg;
    if (aioc_loop_index() == 1) {
        aioc_spawn_opts so = {.name = "sleeper-on-loop-1"};
        aioc_task t = aioc_spawn_with(sleeper, NULL, &so);
        aioc_yield(); /* it parks in its sleep */
        CHECK_ERR(aioc_loop_call(aioc_loop_at(0), mark_sibling_ready, NULL), 0);
        CHECK_ERR(aioc_event_wait(&per_loop_event[1]), 0);
        aioc_cancel(t);
        return NULL;
    }
    CHECK_ERR(aioc_event_wait(&sibling_ready), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int n = aioc_dump_tasks(f);
    fclose(f);
    CHECK(n >= 3); /* main here, main and the sleeper there */
    CHECK(strstr(text, "aioc: loop 0 of 2 (this one)"));
    CHECK(strstr(text, "aioc: loop 1 of 2\n"));
    CHECK(strstr(text, "sleeper-on-loop-1"));
    CHECK(strstr(text, "sleeper-on-loop-1") > strstr(text, "loop 1 of 2"));
    free(text);
    CHECK_ERR(aioc_loop_call(aioc_loop_at(1), set_my_event, NULL), 0);
    return NULL;
}

TEST(dump_shows_every_loop) {
    aioc_event_init(&sibling_ready);
    aioc_event_init(&per_loop_event[1]);
    aioc_run_opts opts = {.loops = 2};
    CHECK_ERR(aioc_run_with(dump_both, NULL, NULL, &opts), 0);
}

/* ------------------------------------------------------------- Ctrl-C -- */

static int ready_fd;

static void *sleep_until_interrupted(void *arg) {
    (void)arg;
    ssize_t w = write(ready_fd, "r", 1);
    (void)w;
    int err = aioc_sleep(60);
    printf("loop %u: %s\n", aioc_loop_index(), aioc_err_name(err));
    fflush(stdout);
    return NULL;
}

TEST(ctrl_c_cancels_main_on_every_loop) {
    int ready[2], output[2];
    CHECK(pipe(ready) == 0 && pipe(output) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(output[1], 1);
        ready_fd = ready[1];
        aioc_run_opts opts = {.loops = 3, .return_on_sigint = 1};
        int status = aioc_run_with(sleep_until_interrupted, NULL, NULL, &opts);
        printf("after aioc_run: %s\n", aioc_err_name(status));
        fflush(stdout);
        _exit(3);
    }
    close(ready[1]);
    close(output[1]);
    char c;
    for (int i = 0; i < 3; i++) /* every main is in its sleep, or about to be */
        CHECK(read(ready[0], &c, 1) == 1);
    kill(pid, SIGINT);
    int ws;
    CHECK(waitpid(pid, &ws, 0) == pid);
    char out[512];
    size_t len = 0;
    ssize_t r;
    while (len + 1 < sizeof out && (r = read(output[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = 0;
    close(ready[0]);
    close(output[0]);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 3);
    CHECK(strstr(out, "loop 0: ECANCELED\n"));
    CHECK(strstr(out, "loop 1: ECANCELED\n"));
    CHECK(strstr(out, "loop 2: ECANCELED\n"));
    CHECK(strstr(out, "after aioc_run: ECANCELED\n"));
}

/* --------------------------------------------------------- AIOC_LOOPS -- */

static void *return_count(void *arg) {
    (void)arg;
    return P(aioc_loop_count());
}

static unsigned count_with_env(const char *value, const aioc_run_opts *opts) {
    setenv("AIOC_LOOPS", value, 1);
    void *result = NULL;
    CHECK_ERR(aioc_run_with(return_count, NULL, &result, opts), 0);
    unsetenv("AIOC_LOOPS");
    return (unsigned)I(result);
}

TEST(aioc_loops_environment_variable) {
    CHECK_EQ(count_with_env("2", NULL), 2);
    CHECK_EQ(count_with_env("1", NULL), 1);
    cpu_set_t set;
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    unsigned cpus = (unsigned)CPU_COUNT(&set);
    CHECK_EQ(count_with_env("auto", NULL), cpus < AIOC_LOOPS_MAX ? cpus : AIOC_LOOPS_MAX);
    aioc_run_opts three = {.loops = 3}; /* the field wins over the variable */
    CHECK_EQ(count_with_env("2", &three), 3);
    aioc_run_opts autos = {.loops = AIOC_LOOPS_AUTO};
    CHECK_EQ(count_with_env("1", &autos), cpus < AIOC_LOOPS_MAX ? cpus : AIOC_LOOPS_MAX);
    setenv("AIOC_LOOPS", "many", 1);
    CHECK_ERR(aioc_run(return_count, NULL, NULL), -EINVAL);
    setenv("AIOC_LOOPS", "100000", 1);
    CHECK_ERR(aioc_run(return_count, NULL, NULL), -EINVAL);
    unsetenv("AIOC_LOOPS");
    aioc_run_opts too_many = {.loops = AIOC_LOOPS_MAX + 1};
    CHECK_ERR(aioc_run_with(return_count, NULL, NULL, &too_many), -EINVAL);
}

/* ------------------------------------------------------ start failure -- */

static atomic_int mains_run;

static void *count_main(void *arg) {
    (void)arg;
    atomic_fetch_add(&mains_run, 1);
    return NULL;
}

TEST(no_main_runs_unless_every_loop_is_set_up) {
    setenv("AIOC_BACKEND", "bogus", 1); /* every loop fails */
    aioc_run_opts opts = {.loops = 3};
    CHECK_ERR(aioc_run_with(count_main, NULL, NULL, &opts), -EINVAL);
    unsetenv("AIOC_BACKEND");
    CHECK_EQ(atomic_load(&mains_run), 0);
    /* descriptors for one loop only: the first set up waits for the
     * others, which fail, and then gives up too */
    struct rlimit saved, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    int probe = dup(0);
    CHECK(probe >= 0);
    close(probe);
    low = saved;
    low.rlim_cur = (rlim_t)probe + 2; /* an epoll and an eventfd */
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    int status = aioc_run_with(count_main, NULL, NULL, &opts);
    CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    CHECK_ERR(status, -EMFILE);
    CHECK_EQ(atomic_load(&mains_run), 0);
    CHECK_ERR(aioc_run_with(count_main, NULL, NULL, &opts), 0); /* and all is well again */
    CHECK_EQ(atomic_load(&mains_run), 3);
}

/* ------------------------------------- servers spreading connections -- */

/* aioc_server_opts.spread: loop 0 accepts, each connection is served on
 * the loop with the fewest open. Each handler tells its client which loop
 * runs it, then holds the connection until the client closes. */

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void *nothing(void *arg) { return arg; }

/* Descriptors open after a run, once the process-wide ones are: the
 * stacks' pidfd (src/stack.c) is opened by the first run that makes them. */
static int count_fds_after_a_run(void) {
    CHECK_ERR(aioc_run(nothing, NULL, NULL), 0);
    return count_fds();
}

static void tell_loop_index(aioc_stream *conn, void *arg) {
    (void)arg;
    char c = (char)('0' + aioc_loop_index());
    if (aioc_stream_write(conn, &c, 1) || aioc_stream_drain(conn))
        return;
    char buf[16];
    while (aioc_stream_read(conn, buf, sizeof buf) > 0)
        ;
}

static char spread_port[16];

/* Connects to the spread server: the loop that serves the connection (0
 * to 9), or -1 if the server closed it, with the stream in `*out`. */
static int connect_to_spread(aioc_stream **out) {
    int fd = aioc_tcp_connect("127.0.0.1", spread_port);
    CHECK(fd >= 0);
    aioc_stream *s = aioc_stream_new(fd, NULL);
    CHECK(s != NULL);
    char c;
    long n = aioc_stream_read(s, &c, 1);
    *out = s;
    return n == 1 ? c - '0' : -1;
}

/* Siblings wait for loop 0 to say they are done (per_loop_event). */
static void stop_siblings(void) {
    for (unsigned i = 1; i < aioc_loop_count(); i++)
        CHECK_ERR(aioc_loop_call(aioc_loop_at(i), set_my_event, NULL), 0);
}

static aioc_server *serve_spread(void) {
    aioc_server_opts opts = {.spread = 1};
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", tell_loop_index, NULL, &opts, &err);
    CHECK(srv != NULL);
    snprintf(spread_port, sizeof spread_port, "%d", aioc_server_port(srv));
    return srv;
}

/* Waits (bounded) until the server counts `n` connections: the count
 * drops as the serving loop sees its peer close. */
static void wait_for_connections(aioc_server *srv, size_t n) {
    for (int i = 0; i < 5000 && aioc_server_connections(srv) != n; i++)
        CHECK_ERR(aioc_sleep(0.001), 0);
    CHECK_EQ(aioc_server_connections(srv), n);
}

enum { SPREAD_CONNS = 9 };

static void *spread_to_the_least_loaded(void *arg) {
    (void)arg;
    if (aioc_loop_index() != 0)
        return aioc_event_wait(&per_loop_event[aioc_loop_index()]) ? P(-1) : NULL;
    aioc_server *srv = serve_spread();
    aioc_stream *conns[SPREAD_CONNS + 1];
    /* one at a time, each left open: 0, 1, 2, 0, 1, 2, ... */
    for (int i = 0; i < SPREAD_CONNS; i++)
        CHECK_EQ(connect_to_spread(&conns[i]), i % 3);
    CHECK_EQ(aioc_server_connections(srv), SPREAD_CONNS);
    /* loop 1 loses one: it is the least loaded, and gets the next */
    CHECK_ERR(aioc_stream_close(conns[4]), 0);
    wait_for_connections(srv, SPREAD_CONNS - 1);
    CHECK_EQ(connect_to_spread(&conns[4]), 1);
    /* then the rule goes round again from loop 0 */
    CHECK_EQ(connect_to_spread(&conns[SPREAD_CONNS]), 0);
    for (int i = 0; i <= SPREAD_CONNS; i++)
        CHECK_ERR(aioc_stream_close(conns[i]), 0);
    wait_for_connections(srv, 0);
    CHECK_ERR(aioc_server_close(srv, 1.0), 0);
    stop_siblings();
    return NULL;
}

TEST(spread_server_hands_connections_to_the_least_loaded_loop) {
    for (int i = 0; i < MAX_LOOPS; i++)
        aioc_event_init(&per_loop_event[i]);
    int fds = count_fds_after_a_run();
    aioc_run_opts opts = {.loops = 3};
    CHECK_ERR(aioc_run_with(spread_to_the_least_loaded, NULL, NULL, &opts), 0);
    CHECK_EQ(count_fds(), fds);
}

/* Loop 1 ends at once. Loop 0 learns it has (a call there can no longer
 * spawn), then the connection the rule gives loop 1 is closed there, and
 * loop 1 gets no more. */
static atomic_int sibling_spawn_result; /* 1: spawned, -1: could not */

static void note_spawn(void *arg) {
    (void)arg;
    aioc_task t = aioc_spawn(nothing, NULL);
    int err = aioc_task_error(t);
    if (!err)
        aioc_detach(t);
    atomic_store(&sibling_spawn_result, err ? -1 : 1);
}

static void *spread_past_an_ended_loop(void *arg) {
    (void)arg;
    if (aioc_loop_index() != 0)
        return NULL; /* ends its tasks at once */
    aioc_server *srv = serve_spread();
    for (int i = 0; i < 5000; i++) { /* until loop 1 has ended its tasks */
        atomic_store(&sibling_spawn_result, 0);
        CHECK_ERR(aioc_loop_call(aioc_loop_at(1), note_spawn, NULL), 0);
        while (atomic_load(&sibling_spawn_result) == 0)
            CHECK_ERR(aioc_sleep(0.001), 0);
        if (atomic_load(&sibling_spawn_result) < 0)
            break;
    }
    CHECK_EQ(atomic_load(&sibling_spawn_result), -1);
    aioc_stream *a, *b, *c;
    CHECK_EQ(connect_to_spread(&a), 0);
    CHECK_EQ(connect_to_spread(&b), -1); /* given to loop 1: closed there */
    CHECK_EQ(connect_to_spread(&c), 0);  /* loop 1 is gone: loop 0 again */
    CHECK_EQ(aioc_server_connections(srv), 2);
    aioc_stream_abort(b);
    CHECK_ERR(aioc_stream_close(a), 0);
    CHECK_ERR(aioc_stream_close(c), 0);
    CHECK_ERR(aioc_server_close(srv, 1.0), 0);
    return NULL;
}

TEST(spread_server_closes_what_an_ended_loop_cannot_serve) {
    int fds = count_fds_after_a_run();
    aioc_run_opts opts = {.loops = 2};
    CHECK_ERR(aioc_run_with(spread_past_an_ended_loop, NULL, NULL, &opts), 0);
    CHECK_EQ(count_fds(), fds);
}

/* The run ends with connections open on every loop: each loop's are
 * cancelled with its tasks, the server is closed by aioc_run, nothing
 * leaks. */
static void *spread_then_end(void *arg) {
    (void)arg;
    if (aioc_loop_index() != 0)
        return aioc_event_wait(&per_loop_event[aioc_loop_index()]) ? P(-1) : NULL;
    serve_spread(); /* left open: aioc_run closes it */
    aioc_stream *conns[6];
    for (int i = 0; i < 6; i++)
        CHECK_EQ(connect_to_spread(&conns[i]), i % 3);
    stop_siblings(); /* siblings end with their connections still open */
    for (int i = 0; i < 6; i++)
        aioc_stream_abort(conns[i]);
    return NULL;
}

TEST(spread_server_connections_end_with_their_loops) {
    for (int i = 0; i < MAX_LOOPS; i++)
        aioc_event_init(&per_loop_event[i]);
    int fds = count_fds_after_a_run();
    aioc_run_opts opts = {.loops = 3};
    CHECK_ERR(aioc_run_with(spread_then_end, NULL, NULL, &opts), 0);
    CHECK_EQ(count_fds(), fds);
}
