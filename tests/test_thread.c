/* Threads: to_thread, to_thread_map, futures, calls between loops, signals. */
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static void *square(void *arg) { return P(I(arg) * I(arg)); }

static void *slow_square(void *arg) {
    usleep(50000);
    return square(arg);
}

TASK_TEST(to_thread_returns_result) {
    void *r = NULL;
    CHECK_ERR(aioc_to_thread(square, P(7), &r), 0);
    CHECK_EQ(I(r), 49);
    CHECK_ERR(aioc_to_thread(NULL, NULL, &r), -EINVAL);
    return NULL;
}

/* When the last loop ends, the pool's idle threads end and are joined: a
 * program back from aioc_run has no thread of ours left (which Valgrind
 * would report as possibly lost), and the next loop starts them again. */
static int threads_in_process(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* pthread_join returns once the kernel has cleared the thread's id, a
 * moment before the thread leaves the process's count (at once natively,
 * later under qemu-user): wait for the count, for 30 s at most. */
static int threads_settle_at(int want) {
    int n = threads_in_process();
    for (int i = 0; i < 30000 && n != want; i++) {
        usleep(1000);
        n = threads_in_process();
    }
    return n;
}

static void *square_on_a_thread(void *arg) {
    void *r = NULL;
    CHECK_ERR(aioc_to_thread(slow_square, arg, &r), 0);
    CHECK_EQ(I(r), I(arg) * I(arg));
    return NULL;
}

static void *squares_on_threads(void *arg) {
    aioc_task t[4];
    for (int i = 0; i < 4; i++)
        t[i] = aioc_spawn(square_on_a_thread, P(i + 2));
    CHECK_ERR(aioc_gather(t, 4, NULL), 0);
    struct addrinfo *ai = NULL; /* and the resolver pool */
    CHECK_ERR(aioc_getaddrinfo("localhost", "80", NULL, &ai), 0);
    freeaddrinfo(ai);
    CHECK(threads_in_process() > *(int *)arg);
    return NULL;
}

TEST(pool_threads_end_with_the_last_loop) {
    int before = threads_in_process(); /* the runner's (a sanitizer may add some) */
    CHECK(before >= 1);
    CHECK_ERR(aioc_run(squares_on_threads, &before, NULL), 0);
    CHECK_EQ(threads_settle_at(before), before);
    CHECK_ERR(aioc_run(squares_on_threads, &before, NULL), 0); /* and again */
    CHECK_EQ(threads_settle_at(before), before);
}

/* The user's check: a program that used aioc_to_thread is clean under a
 * standard Valgrind run, every leak kind counted (the test above, run
 * under Valgrind). Registered only where Valgrind can run this binary
 * (tag runs_valgrind: installed, native, no sanitizers). */
TEST(to_thread_program_is_clean_under_valgrind) {
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(len > 0);
    self[len] = 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("valgrind", "valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=all",
               "--error-exitcode=99", self, "pool_threads_end_with_the_last_loop", (char *)NULL);
        _exit(127);
    }
    int ws;
    CHECK(waitpid(pid, &ws, 0) == pid);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

static void *one_job(void *arg) {
    void *r;
    CHECK_ERR(aioc_to_thread(slow_square, arg, &r), 0);
    return r;
}

static void *many_jobs(void *arg) {
    (void)arg;
    enum { N = 64 };
    aioc_task t[N];
    for (int i = 0; i < N; i++)
        t[i] = aioc_spawn(one_job, P(i));
    void *r[N];
    CHECK_ERR(aioc_gather(t, N, r), 0);
    for (int i = 0; i < N; i++)
        CHECK_EQ(I(r[i]), i * i);
    return NULL;
}

TEST(to_thread_many_at_once) {
    aioc_run_opts o = {.threads = 8};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_ERR(aioc_run_with(many_jobs, NULL, NULL, &o), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    /* 64 jobs of 50 ms on up to 8 threads: well under 64 x 50 ms */
    CHECK(b.tv_sec - a.tv_sec < 3);
    CHECK_EQ(aioc_thread_pool_size(0), 8);
}

static int cleaned;
static pthread_mutex_t cleaned_lock = PTHREAD_MUTEX_INITIALIZER;

static void free_late(void *result, void *arg) {
    CHECK_EQ(I(arg), 3);
    free(result);
    pthread_mutex_lock(&cleaned_lock);
    cleaned++;
    pthread_mutex_unlock(&cleaned_lock);
}

static atomic_bool job_may_end, job_ended;

/* Ends only once the task has given up on it (or after 60 s, should the
 * task wrongly wait for it: the check after the wait then fails). */
static void *allocates_slowly(void *arg) {
    (void)arg;
    for (int i = 0; i < 60000 && !atomic_load(&job_may_end); i++)
        usleep(1000);
    atomic_store(&job_ended, true);
    return malloc(100); /* freed by the cleanup: ASan would see a leak */
}

static void *gives_up(void *arg) {
    (void)arg;
    atomic_store(&job_may_end, false);
    atomic_store(&job_ended, false);
    aioc_scope s;
    aioc_scope_enter(&s, 0.01);
    void *r = P(1);
    CHECK_ERR(aioc_to_thread_with(allocates_slowly, P(3), &r, free_late), -ETIMEDOUT);
    CHECK(!atomic_load(&job_ended)); /* returned at once, not after the job */
    atomic_store(&job_may_end, true);
    aioc_scope_exit(&s);
    CHECK(r == P(1)); /* untouched */
    return NULL;
}

TEST(to_thread_cancelled_result_goes_to_cleanup) {
    cleaned = 0;
    CHECK_ERR(aioc_run(gives_up, NULL, NULL), 0);
    for (int i = 0; i < 6000; i++) { /* the job finishes on its own (a bound: 60 s) */
        pthread_mutex_lock(&cleaned_lock);
        int c = cleaned;
        pthread_mutex_unlock(&cleaned_lock);
        if (c)
            break;
        usleep(10000);
    }
    CHECK_EQ(cleaned, 1);
}

static aioc_future *fut;

static void *completer(void *arg) {
    usleep(20000);
    CHECK_ERR(aioc_future_complete(fut, arg, 0), 0);
    return NULL;
}

TASK_TEST(future_completed_by_a_plain_thread) {
    fut = aioc_future_new(NULL, NULL);
    CHECK(fut);
    pthread_t th;
    pthread_create(&th, NULL, completer, P(99));
    void *r;
    CHECK_ERR(aioc_future_wait(fut, &r), 0);
    CHECK_EQ(I(r), 99);
    pthread_join(th, NULL);
    /* completed before the wait, with an error */
    fut = aioc_future_new(NULL, NULL);
    CHECK_ERR(aioc_future_complete(fut, NULL, -EIO), 0);
    CHECK_ERR(aioc_future_wait(fut, &r), -EIO);
    return NULL;
}

TASK_TEST(future_abandoned_by_its_waiter) {
    cleaned = 0;
    aioc_future *f = aioc_future_new(free_late, P(3));
    aioc_scope s;
    aioc_scope_enter(&s, 0.01);
    CHECK_ERR(aioc_future_wait(f, NULL), -ETIMEDOUT);
    aioc_scope_exit(&s);
    CHECK_ERR(aioc_future_complete(f, malloc(10), 0), 0); /* cleaned up, not leaked */
    CHECK_EQ(cleaned, 1);
    return NULL;
}

TEST(future_complete_twice_is_ealready) {
    aioc_future *f = aioc_future_new(NULL, NULL);
    CHECK_ERR(aioc_future_complete(f, NULL, 0), 0);
    CHECK_ERR(aioc_future_complete(f, NULL, 0), -EALREADY);
    CHECK_ERR(aioc_future_wait(f, NULL), AIOC_ENOTASK); /* drops nothing */
    aioc_future_cancel(f); /* the waiter's reference, without waiting */
}

TEST(future_cancelled_before_completion_cleans_up) {
    cleaned = 0;
    aioc_future *f = aioc_future_new(free_late, P(3));
    aioc_future_cancel(f);
    CHECK_ERR(aioc_future_complete(f, malloc(8), 0), 0);
    CHECK_EQ(cleaned, 1);
}

/* Several loops in several threads pass a token around a ring, each hop
 * an aioc_loop_call that spawns a task on the next loop. */
enum { LOOPS = 4, HOPS = 20000 };
static aioc_loop *ring[LOOPS];
static pthread_barrier_t ring_ready;
static int hops_done;
static pthread_mutex_t hops_lock = PTHREAD_MUTEX_INITIALIZER;
static aioc_event ring_stop[LOOPS];

static void pass_token(void *arg);

static void *hop(void *arg) {
    intptr_t n = (intptr_t)arg;
    aioc_yield(); /* a little work on this loop */
    int me = -1;
    for (int i = 0; i < LOOPS; i++)
        if (ring[i] == aioc_loop_current())
            me = i;
    CHECK(me >= 0);
    if (n == HOPS) {
        for (int i = 0; i < LOOPS; i++)
            aioc_loop_call(ring[i], (aioc_callback)aioc_event_set, &ring_stop[i]);
        return NULL;
    }
    pthread_mutex_lock(&hops_lock);
    hops_done++;
    pthread_mutex_unlock(&hops_lock);
    CHECK_ERR(aioc_loop_call(ring[(me + 1) % LOOPS], pass_token, P(n + 1)), 0);
    return NULL;
}

static void pass_token(void *arg) { aioc_detach(aioc_spawn(hop, arg)); }

static void *ring_main(void *arg) {
    int i = I(arg);
    aioc_event_init(&ring_stop[i]);
    ring[i] = aioc_loop_ref(aioc_loop_current());
    pthread_barrier_wait(&ring_ready);
    if (i == 0)
        pass_token(P(0));
    aioc_event_wait(&ring_stop[i]);
    return NULL;
}

static void *ring_thread(void *arg) {
    aioc_run_opts o = {.keep_sigint = 1};
    return P(aioc_run_with(ring_main, arg, NULL, &o));
}

TEST(loops_in_threads_hand_work_around_a_ring) {
    hops_done = 0;
    pthread_barrier_init(&ring_ready, NULL, LOOPS);
    pthread_t th[LOOPS];
    for (intptr_t i = 0; i < LOOPS; i++)
        pthread_create(&th[i], NULL, ring_thread, P(i));
    for (int i = 0; i < LOOPS; i++) {
        void *r;
        pthread_join(th[i], &r);
        CHECK_ERR(I(r), 0);
    }
    CHECK_EQ(hops_done, HOPS);
    /* the loops have ended: calls fail cleanly through the references */
    for (int i = 0; i < LOOPS; i++) {
        CHECK_ERR(aioc_loop_call(ring[i], pass_token, NULL), -ESHUTDOWN);
        aioc_loop_unref(ring[i]);
    }
    pthread_barrier_destroy(&ring_ready);
}

static void raise_usr1(void *arg) {
    (void)arg;
    kill(getpid(), SIGUSR1);
}

TASK_TEST(signal_wait_receives_signals) {
    int sigs[] = {SIGUSR1};
    aioc_call_later(0.05, raise_usr1, NULL);
    CHECK_EQ(aioc_signal_wait(sigs, 1), SIGUSR1);
    CHECK_ERR(aioc_signal_wait(sigs, 0), -EINVAL);
    aioc_scope s;
    aioc_scope_enter(&s, 0.05);
    CHECK_ERR(aioc_signal_wait(sigs, 1), -ETIMEDOUT);
    aioc_scope_exit(&s);
    /* blocked first, as a program does before it starts threads: a signal
     * that arrives before the wait stays pending and is received by it */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    kill(getpid(), SIGUSR2);
    int two[] = {SIGUSR1, SIGUSR2};
    CHECK_EQ(aioc_signal_wait(two, 2), SIGUSR2);
    return NULL;
}

/* Ctrl-C: the child's main task is cancelled, cleans up, and the process
 * then dies of SIGINT, its stdio flushed; a second Ctrl-C kills at once.
 * With return_on_sigint, aioc_run returns -ECANCELED instead. */
static int ready_fd;

enum { STUBBORN = 1, NO_FLUSH = 2, RETURNS = 4 };

static void *interruptible(void *arg) {
    int mode = I(arg);
    ssize_t w = write(ready_fd, "r", 1);
    (void)w;
    if (mode & STUBBORN) {
        aioc_scope shield;
        aioc_shield_enter(&shield);
        aioc_sleep(60); /* ignores the first Ctrl-C */
        aioc_scope_exit(&shield);
    }
    int err = aioc_sleep(60);
    printf("main: %s, cleaning up\n", aioc_err_name(err)); /* stdout: a pipe, fully buffered */
    if (!(mode & NO_FLUSH))
        fflush(stdout);
    return NULL;
}

/* Waits (up to 10 s) until signal `sig` is no longer pending in `pid`. */
static void wait_until_taken(pid_t pid, int sig) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    for (int tries = 0; tries < 10000; tries++) {
        FILE *f = fopen(path, "r");
        if (!f)
            return; /* gone already */
        unsigned long long mask = 0, m;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "SigPnd: %llx", &m) == 1 || sscanf(line, "ShdPnd: %llx", &m) == 1)
                mask |= m;
        fclose(f);
        if (!(mask & (1ull << (sig - 1))))
            return;
        usleep(1000);
    }
    CHECK(!"the signal was never taken");
}

static int run_and_interrupt(int mode, int signals, char *out, size_t cap) {
    int ready[2], output[2];
    CHECK(pipe(ready) == 0 && pipe(output) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(output[1], 1);
        ready_fd = ready[1];
        aioc_run_opts opts = {.return_on_sigint = mode & RETURNS};
        int status = aioc_run_with(interruptible, P(mode), NULL, &opts);
        printf("after aioc_run: %s\n", aioc_err_name(status));
        fflush(stdout);
        _exit(3); /* reached after a Ctrl-C only with return_on_sigint */
    }
    close(ready[1]);
    close(output[1]);
    char c;
    CHECK(read(ready[0], &c, 1) == 1);
    for (int i = 0; i < signals; i++) {
        kill(pid, SIGINT);
        /* two SIGINTs pending at once would merge into one: send the next
         * only once the handler has taken this one */
        if (i + 1 < signals)
            wait_until_taken(pid, SIGINT);
    }
    int ws;
    CHECK(waitpid(pid, &ws, 0) == pid);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(output[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = 0;
    close(ready[0]);
    close(output[0]);
    return ws;
}

TEST(ctrl_c_cancels_main_then_exits_130) {
    char out[256];
    int ws = run_and_interrupt(0, 1, out, sizeof out);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGINT); /* a shell shows 130 */
    CHECK(strstr(out, "main: ECANCELED, cleaning up"));
}

TEST(second_ctrl_c_exits_at_once) {
    char out[256];
    int ws = run_and_interrupt(STUBBORN, 2, out, sizeof out);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGINT);
    CHECK(!strstr(out, "cleaning up")); /* it did not wait for the shield */
}

TEST(ctrl_c_flushes_stdio_before_exiting) {
    char out[256];
    int ws = run_and_interrupt(NO_FLUSH, 1, out, sizeof out);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGINT);
    CHECK(strstr(out, "main: ECANCELED, cleaning up")); /* not lost in stdout's buffer */
    CHECK(!strstr(out, "after aioc_run"));
}

TEST(ctrl_c_can_make_run_return_ecanceled) {
    char out[256];
    int ws = run_and_interrupt(RETURNS | NO_FLUSH, 1, out, sizeof out);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 3); /* the program exits as it likes */
    CHECK(strstr(out, "main: ECANCELED, cleaning up\nafter aioc_run: ECANCELED\n"));
}

TASK_TEST(sigpipe_never_kills) {
    int p[2];
    CHECK(pipe(p) == 0);
    close(p[0]);
    CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE); /* not a SIGPIPE death */
    close(p[1]);
    return NULL;
}

static volatile sig_atomic_t usr1_taken;
static void on_usr1(int sig) {
    (void)sig;
    usr1_taken++;
}

/* Sleeps 0.3 s on a pool thread; returns 1 if a signal cut the sleep short. */
static void *sleeps_on_a_pool_thread(void *arg) {
    (void)arg;
    struct timespec ts = {0, 300 * 1000 * 1000};
    return P(nanosleep(&ts, NULL) != 0 && errno == EINTR);
}

/* A task that runs that job and returns what it did. */
static void *sleep_job(void *arg) {
    (void)arg;
    void *interrupted = P(-1);
    CHECK_ERR(aioc_to_thread(sleeps_on_a_pool_thread, NULL, &interrupted), 0);
    return interrupted;
}

static void *signals_skip_pool_threads(void *arg) {
    (void)arg;
    aioc_task t = aioc_spawn(sleep_job, NULL);
    aioc_sleep(0.05); /* the job is asleep on a pool thread */
    /* Now the loop's thread blocks SIGUSR1 for a while: a signal sent to
     * the process can only go to a thread that does not, and pool threads
     * must not take it (it would cut a job's blocking call short). */
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old);
    for (int i = 0; i < 5; i++)
        kill(getpid(), SIGUSR1);
    void *interrupted;
    CHECK_ERR(aioc_await(t, &interrupted), 0);
    CHECK_EQ(I(interrupted), 0);
    CHECK_EQ(usr1_taken, 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL); /* now the loop's thread takes it */
    CHECK_EQ(usr1_taken, 1);
    return NULL;
}

TEST(pool_threads_take_no_signals) {
    struct sigaction sa = {.sa_handler = on_usr1};
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    CHECK_ERR(aioc_run(signals_skip_pool_threads, NULL, NULL), 0);
}

TASK_TEST(waiting_on_a_thread_is_not_a_deadlock) {
    void *r;
    /* not a deadlock: a pool thread will finish */
    CHECK_ERR(aioc_to_thread(slow_square, P(3), &r), 0);
    CHECK_EQ(I(r), 9);
    return NULL;
}

static int cleanup_calls;
static void *cleanup_arg_seen, *cleanup_result_seen;

static void record_cleanup(void *result, void *arg) {
    cleanup_calls++;
    cleanup_result_seen = result;
    cleanup_arg_seen = arg;
}

static int ran;
static void *mark_ran(void *arg) {
    ran = 1;
    return arg;
}

static void *already_cancelled(void *arg) {
    (void)arg;
    aioc_cancel(aioc_current());
    cleanup_calls = ran = 0;
    static int token;
    CHECK_ERR(aioc_to_thread_with(mark_ran, &token, NULL, record_cleanup), -ECANCELED);
    CHECK_EQ(cleanup_calls, 1); /* at once: fn never ran, arg handed back */
    CHECK(cleanup_arg_seen == &token && cleanup_result_seen == NULL);
    usleep(50000);
    CHECK_EQ(ran, 0);
    return NULL;
}

TEST(to_thread_when_already_cancelled_hands_arg_to_cleanup) {
    CHECK_ERR(aioc_run(already_cancelled, NULL, NULL), -ECANCELED);
}

TEST(thread_pool_size_from_environment) {
    setenv("AIOC_THREADS", "3", 1);
    CHECK_EQ(aioc_thread_pool_size(0), 3); /* read when the pool starts */
    CHECK_EQ(aioc_thread_pool_size(5), 3);
    CHECK_EQ(aioc_thread_pool_size(0), 5);
    unsetenv("AIOC_THREADS");
}

/* ------------------------------------------------- aioc_to_thread_map -- */

/* item -> item * item; odd items above `fail_from` fail with -EIO, items
 * that are multiples of 7 above it with -EPERM */
static intptr_t fail_from = INTPTR_MAX;

static int square_item(void *item, void **result) {
    intptr_t x = (intptr_t)item;
    if (x >= fail_from && x % 7 == 0)
        return -EPERM;
    if (x >= fail_from && x % 2 == 1)
        return -EIO;
    *result = P(x * x);
    return 0;
}

static void *map_in_order(void *arg) {
    size_t n = (size_t)(uintptr_t)arg;
    void **items = calloc(n, sizeof *items), **results = calloc(n, sizeof *results);
    int *errors = calloc(n, sizeof *errors);
    CHECK(items && results && errors);
    for (size_t i = 0; i < n; i++) {
        items[i] = P(i % 30000);
        results[i] = P(-1);
        errors[i] = 1;
    }
    CHECK_ERR(aioc_to_thread_map(square_item, items, n, results, errors), 0);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ((intptr_t)results[i], (intptr_t)(i % 30000) * (intptr_t)(i % 30000));
        CHECK_EQ(errors[i], 0);
    }
    /* results in place of the items, no statuses */
    CHECK_ERR(aioc_to_thread_map(square_item, items, n, items, NULL), 0);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ((intptr_t)items[i], (intptr_t)(i % 30000) * (intptr_t)(i % 30000));
    free(items);
    free(results);
    free(errors);
    return NULL;
}

TEST(to_thread_map_results_in_order) {
    aioc_run_opts one = {.threads = 1}; /* a single thread: no helpers */
    CHECK_ERR(aioc_run_with(map_in_order, P(1000), NULL, &one), 0);
    aioc_run_opts o = {.threads = 4};
    CHECK_ERR(aioc_run_with(map_in_order, P(1000), NULL, &o), 0);
    CHECK_ERR(aioc_run_with(map_in_order, P(1), NULL, &o), 0);
    CHECK_ERR(aioc_run_with(map_in_order, P(3), NULL, &o), 0);
}

/* Several tasks map at once on a pool smaller than their number. */
static void *map_concurrently(void *arg) {
    size_t n = (size_t)(uintptr_t)arg;
    enum { CALLERS = 6 };
    aioc_task t[CALLERS];
    for (int i = 0; i < CALLERS; i++)
        t[i] = aioc_spawn(map_in_order, P(n / CALLERS + (size_t)i));
    CHECK_ERR(aioc_gather(t, CALLERS, NULL), 0);
    return NULL;
}

TEST(to_thread_map_large_n) {
    aioc_run_opts o = {.threads = 3};
    CHECK_ERR(aioc_run_with(map_in_order, P(200000), NULL, &o), 0);
    CHECK_ERR(aioc_run_with(map_concurrently, P(60000), NULL, &o), 0);
}

static int map_cleanups;
static void count_map_cleanup(void *result, void *item) {
    (void)result;
    (void)item;
    map_cleanups++;
}

TASK_TEST(to_thread_map_errors_per_item) {
    enum { N = 100 };
    void *items[N], *results[N];
    int errors[N];
    for (int i = 0; i < N; i++)
        items[i] = P(i);
    fail_from = 10; /* 11 fails with -EIO first, 14 with -EPERM, ... */
    CHECK_ERR(aioc_to_thread_map(square_item, items, N, results, errors), -EIO);
    for (int i = 0; i < N; i++) {
        if (i >= 10 && i % 7 == 0) {
            CHECK_ERR(errors[i], -EPERM);
            CHECK(results[i] == NULL);
        } else if (i >= 10 && i % 2 == 1) {
            CHECK_ERR(errors[i], -EIO);
            CHECK(results[i] == NULL);
        } else { /* the others ran all the same */
            CHECK_ERR(errors[i], 0);
            CHECK_EQ(I(results[i]), i * i);
        }
    }
    fail_from = 14; /* the first failure is item 14's */
    CHECK_ERR(aioc_to_thread_map(square_item, items, N, NULL, NULL), -EPERM);
    /* an item's error is not the call's: no cleanup, results delivered */
    map_cleanups = 0;
    CHECK_ERR(aioc_to_thread_map_with(square_item, items, N, results, NULL, count_map_cleanup),
              -EPERM);
    CHECK_EQ(map_cleanups, 0);
    CHECK_EQ(I(results[12]), 144);
    fail_from = INTPTR_MAX;
    return NULL;
}

static void *map_empty(void *arg) {
    (void)arg;
    void *results[1] = {P(5)};
    int errors[1] = {5};
    CHECK_ERR(aioc_to_thread_map(square_item, NULL, 0, results, errors), 0);
    CHECK(results[0] == P(5) && errors[0] == 5); /* untouched */
    void *items[1] = {P(2)};
    CHECK_ERR(aioc_to_thread_map(NULL, items, 1, results, NULL), -EINVAL);
    CHECK_ERR(aioc_to_thread_map(square_item, NULL, 1, results, NULL), -EINVAL);
    map_cleanups = 0;
    CHECK_ERR(aioc_to_thread_map_with(NULL, items, 1, NULL, NULL, count_map_cleanup), -EINVAL);
    CHECK_EQ(map_cleanups, 0); /* the items are still the caller's */
    /* a cancellation point even with nothing to do */
    aioc_scope s;
    aioc_scope_enter(&s, 0);
    CHECK_ERR(aioc_to_thread_map(square_item, NULL, 0, NULL, NULL), -ETIMEDOUT);
    aioc_scope_exit(&s);
    return NULL;
}

TEST(to_thread_map_empty_input_and_bad_arguments) {
    CHECK_ERR(aioc_to_thread_map(square_item, NULL, 0, NULL, NULL), AIOC_ENOTASK);
    CHECK_ERR(aioc_run(map_empty, NULL, NULL), 0);
}

/* Cancellation while items run. Each item is a struct of its own; the
 * second half of them block on a gate, so that when the caller is
 * cancelled some items are done (and reported), one or more are running,
 * some claimed and not started, some never claimed. The caller's arrays
 * are freed as soon as the call returns (ASan and Valgrind see any late
 * write); every item must then reach the cleanup exactly once: the ones
 * that ran with their result, the others with NULL, and none of those may
 * ever run. */
enum { GATED = 64 };
struct gated {
    int ran, cleaned;
    bool cleaned_with_result;
};
static struct gated gated[GATED];
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int gated_started, gated_cleaned, gated_cleaned_with_result;

static int gated_item(void *item, void **result) {
    struct gated *g = item;
    pthread_mutex_lock(&gate_lock);
    g->ran++;
    gated_started++;
    while (!gate_open && g - gated >= GATED / 2)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    *result = malloc(16); /* the cleanup frees it: a leak otherwise */
    return 0;
}

static void gated_cleanup(void *result, void *item) {
    struct gated *g = item;
    pthread_mutex_lock(&gate_lock);
    g->cleaned++;
    g->cleaned_with_result = result != NULL;
    gated_cleaned++;
    gated_cleaned_with_result += result != NULL;
    pthread_mutex_unlock(&gate_lock);
    free(result);
}

static int gated_count(int *counter) {
    pthread_mutex_lock(&gate_lock);
    int n = *counter;
    pthread_mutex_unlock(&gate_lock);
    return n;
}

static void *gated_caller(void *arg) {
    (void)arg;
    void **items = calloc(GATED, sizeof *items), **results = calloc(GATED, sizeof *results);
    int *errors = calloc(GATED, sizeof *errors);
    CHECK(items && results && errors);
    for (int i = 0; i < GATED; i++)
        items[i] = &gated[i];
    int err = aioc_to_thread_map_with(gated_item, items, GATED, results, errors, gated_cleanup);
    free(items); /* a pool thread touching them now is a use after free */
    free(results);
    free(errors);
    return aioc_fail(err);
}

static void *cancel_while_items_run(void *arg) {
    (void)arg;
    aioc_task t = aioc_spawn(gated_caller, NULL);
    /* The first half has run, the first gated item is running: the runs
     * before it are reported (a run is at most half of what is left). */
    while (gated_count(&gated_started) <= GATED / 2)
        CHECK_ERR(aioc_sleep(0.001), 0);
    aioc_cancel(t);
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
    /* What the caller could account for went to the cleanup before it
     * returned: items reported (with their results) and items unclaimed,
     * not the running item nor the rest of its run. */
    int at_once = gated_count(&gated_cleaned);
    CHECK(at_once <= GATED - 1);
    CHECK(gated_count(&gated_cleaned_with_result) >= 1);
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    /* The rest come from the pool threads: no timing assumed, but this is
     * a test, so give up after a minute. */
    for (int tries = 0; gated_count(&gated_cleaned) < GATED && tries < 60000; tries++)
        CHECK_ERR(aioc_sleep(0.001), 0);
    CHECK_EQ(gated_count(&gated_cleaned), GATED);
    int ran_total = 0;
    for (int i = 0; i < GATED; i++) {
        CHECK_EQ(gated[i].cleaned, 1);
        CHECK(gated[i].ran <= 1);
        CHECK_EQ(gated[i].cleaned_with_result, gated[i].ran == 1); /* none ran late */
        ran_total += gated[i].ran;
    }
    CHECK(ran_total > GATED / 2 && ran_total == gated_started);
    return NULL;
}

TEST(to_thread_map_cancelled_while_items_run) {
    aioc_run_opts o = {.threads = 2};
    CHECK_ERR(aioc_run_with(cancel_while_items_run, NULL, NULL, &o), 0);
    usleep(10000); /* nothing more comes (Valgrind and ASan would see it) */
    for (int i = 0; i < GATED; i++)
        CHECK_EQ(gated[i].cleaned, 1);
}

static void *map_already_cancelled(void *arg) {
    (void)arg;
    aioc_cancel(aioc_current());
    for (int i = 0; i < GATED; i++)
        gated[i] = (struct gated){0};
    void *items[GATED];
    for (int i = 0; i < GATED; i++)
        items[i] = &gated[i];
    CHECK_ERR(aioc_to_thread_map_with(gated_item, items, GATED, NULL, NULL, gated_cleanup),
              -ECANCELED);
    for (int i = 0; i < GATED; i++) /* at once, and none ran */
        CHECK(gated[i].cleaned == 1 && !gated[i].ran && !gated[i].cleaned_with_result);
    return NULL;
}

TEST(to_thread_map_when_already_cancelled_hands_items_to_cleanup) {
    CHECK_ERR(aioc_run(map_already_cancelled, NULL, NULL), -ECANCELED);
}
