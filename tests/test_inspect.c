/* Seeing inside a running program: tasks as data (aioc_tasks), the loop's
 * counters, debug mode's run time, the dump signal, and the inspection
 * socket read by tools/aioc-ps from another process. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* The entry for task `id` in a snapshot (the test fails without one). */
static const aioc_task_info *entry(const aioc_task_info *v, size_t n, uint64_t id) {
    for (size_t i = 0; i < n; i++)
        if (v[i].id == id)
            return &v[i];
    fprintf(stderr, "task %" PRIu64 " not in the snapshot\n", id);
    exit(1);
}

static void *gets_from_queue(void *q) {
    void *item;
    return aioc_fail(aioc_queue_get(q, &item));
}

static void *sleeps_long(void *arg) {
    (void)arg;
    aioc_sleep(3600);
    return NULL;
}

static void *reads_pipe(void *arg) {
    char c;
    long r = aioc_read(I(arg), &c, 1);
    return aioc_fail(r < 0 ? (int)r : 0);
}

static aioc_task child_of_parent;

static void *awaits_its_child(void *arg) {
    (void)arg;
    aioc_spawn_opts o = {.name = "child"};
    child_of_parent = aioc_spawn_with(sleeps_long, NULL, &o);
    return aioc_fail(aioc_await(child_of_parent, NULL));
}

TASK_TEST(tasks_snapshot_shows_what_each_waits_on) {
    aioc_queue *q = aioc_queue_new(AIOC_QUEUE_FIFO, 0, NULL);
    int fds[2];
    CHECK(pipe(fds) == 0);
    aioc_spawn_opts o1 = {.name = "getter"}, o2 = {.name = "sleeper"}, o3 = {.name = "reader"},
                    o4 = {.name = "parent"};
    int getter_line = __LINE__ + 1; /* where the getter is spawned */
    aioc_task getter = aioc_spawn_with(gets_from_queue, q, &o1);
    aioc_task sleeper = aioc_spawn_with(sleeps_long, NULL, &o2);
    aioc_task reader = aioc_spawn_with(reads_pipe, P(fds[0]), &o3);
    aioc_task parent = aioc_spawn_with(awaits_its_child, NULL, &o4);
    for (int i = 0; i < 4; i++) /* every task runs until it waits */
        aioc_yield();

    size_t n = 0;
    int err = 1;
    aioc_task_info *v = aioc_tasks(&n, &err);
    CHECK(v != NULL);
    CHECK_ERR(err, 0);
    CHECK_EQ(n, 6); /* main, four, and the parent's child */
    double now = aioc_now();

    const aioc_task_info *m = entry(v, n, aioc_current().id);
    CHECK_EQ(m->state, AIOC_TASK_RUNNING);
    CHECK(strcmp(m->name, "main") == 0);
    CHECK_EQ(m->parent, 0);

    const aioc_task_info *g = entry(v, n, getter.id);
    CHECK(strcmp(g->name, "getter") == 0);
    CHECK_EQ(g->state, AIOC_TASK_WAITING);
    CHECK_EQ(g->wait, AIOC_WAITS_ON_PRIMITIVE);
    CHECK(g->wait_object == q);
    CHECK_EQ(g->primitive, AIOC_PRIMITIVE_QUEUE_GET);
    CHECK_EQ(g->parent, 0); /* known in debug mode only */
    CHECK(g->age >= 0 && g->waiting >= 0);
    CHECK(g->run_time == -1); /* not timed outside debug mode */
    /* its spawn site, from aioc_spawn_with's macro; main has none */
    CHECK(g->spawn_file && strstr(g->spawn_file, "test_inspect.c"));
    CHECK_EQ(g->spawn_line, getter_line);
    CHECK(m->spawn_file == NULL && m->spawn_line == 0);

    const aioc_task_info *s = entry(v, n, sleeper.id);
    CHECK_EQ(s->wait, AIOC_WAITS_ON_SLEEP);
    CHECK(s->deadline > now + 3500 && s->deadline <= now + 3600);

    const aioc_task_info *r = entry(v, n, reader.id);
    CHECK_EQ(r->wait, AIOC_WAITS_ON_FD);
    CHECK_EQ(r->fd, fds[0]);
    CHECK_EQ(r->fd_write, 0);

    const aioc_task_info *p = entry(v, n, parent.id);
    CHECK_EQ(p->wait, AIOC_WAITS_ON_TASK);
    CHECK_EQ(p->wait_task, child_of_parent.id);
    const aioc_task_info *c = entry(v, n, child_of_parent.id);
    CHECK(strcmp(c->name, "child") == 0);
    CHECK_EQ(c->wait, AIOC_WAITS_ON_SLEEP);
    CHECK_EQ(g->fd, -1);

    /* the printed form, as aioc_dump_tasks prints it */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK_EQ(aioc_tasks_print(out, v, n), 6);
    fclose(out);
    CHECK(strstr(text, "getter") && strstr(text, "waits on primitive") &&
          strstr(text, "(queue get)"));
    CHECK(strstr(text, "reader") && strstr(text, "waits on fd"));
    CHECK(strstr(text, "parent") && strstr(text, "waits on task 'child'"));
    CHECK(strstr(text, "sleeper") && strstr(text, "waits on sleep (wakes in 3"));
    CHECK(!strstr(text, " ran ")); /* no run time outside debug mode */
    free(text);
    aioc_tasks_free(v);

    CHECK_ERR(aioc_queue_try_put(q, P(1)), 0);
    CHECK_ERR(aioc_await(getter, NULL), 0);
    CHECK(write(fds[1], "x", 1) == 1);
    CHECK_ERR(aioc_await(reader, NULL), 0);
    aioc_cancel(sleeper);
    aioc_cancel(parent);
    CHECK_ERR(aioc_await(sleeper, NULL), -ECANCELED);
    CHECK_ERR(aioc_await(parent, NULL), -ECANCELED);
    aioc_queue_free(q, NULL, NULL);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

TEST(tasks_outside_a_loop_is_enoloop) {
    size_t n = 7;
    int err = 0;
    CHECK(aioc_tasks(&n, &err) == NULL);
    CHECK_ERR(err, AIOC_ENOLOOP);
    CHECK_EQ(n, 0);
    aioc_loop_stats st;
    CHECK_ERR(aioc_loop_stats_get(NULL, &st), AIOC_ENOLOOP);
    aioc_tasks_free(NULL);
}

/* Spins for `ns` nanoseconds of the monotonic clock without yielding. */
static void spin_ns(uint64_t ns) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u + (uint64_t)b.tv_nsec -
               (uint64_t)a.tv_nsec <
           ns);
}

static void *spins_twice(void *arg) {
    (void)arg;
    spin_ns(20000000); /* 20 ms, then let main look */
    aioc_yield();
    spin_ns(20000000);
    aioc_yield();
    return NULL;
}

static double run_time_of(aioc_task t) {
    size_t n;
    aioc_task_info *v = aioc_tasks(&n, NULL);
    CHECK(v != NULL);
    double r = entry(v, n, t.id)->run_time;
    aioc_tasks_free(v);
    return r;
}

static void *debug_main(void *arg) {
    (void)arg;
    aioc_spawn_opts o = {.name = "spinner"};
    aioc_task t = aioc_spawn_with(spins_twice, NULL, &o);
    CHECK(run_time_of(t) == 0); /* not started yet */
    aioc_yield();               /* it spins 20 ms, then main runs */
    double first = run_time_of(t);
    CHECK(first >= 0.020);
    /* debug mode also keeps who spawned whom */
    size_t n;
    aioc_task_info *v = aioc_tasks(&n, NULL);
    CHECK(v != NULL);
    CHECK_EQ(entry(v, n, t.id)->parent, aioc_current().id);
    CHECK_EQ(entry(v, n, aioc_current().id)->parent, 0);
    aioc_tasks_free(v);
    aioc_yield(); /* 20 ms more */
    double second = run_time_of(t);
    CHECK(second >= first + 0.020);
    /* the dump shows it */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    aioc_dump_tasks(out);
    fclose(out);
    CHECK(strstr(text, "spinner") && strstr(text, " ran 0.0"));
    free(text);
    CHECK_ERR(aioc_await(t, NULL), 0);
    return NULL;
}

TEST(tasks_run_time_grows_in_debug_mode) {
    aioc_run_opts opts = {.debug = 1};
    CHECK_ERR(aioc_run_with(debug_main, NULL, NULL, &opts), 0);
}

static void *yields_once(void *arg) {
    (void)arg;
    aioc_yield();
    return NULL;
}

static void *returns_arg(void *arg) { return arg; }

static aioc_loop *other_loop;

static void *other_loop_main(void *arg) {
    (void)arg;
    other_loop = aioc_loop_ref(aioc_loop_current());
    return NULL;
}

static void *other_thread(void *arg) {
    (void)arg;
    CHECK_ERR(aioc_run(other_loop_main, NULL, NULL), 0);
    return NULL;
}

TASK_TEST(loop_stats_counters_move) {
    aioc_loop_stats a, b;
    CHECK_ERR(aioc_loop_stats_get(NULL, &a), 0);
    CHECK_EQ(a.tasks_spawned, 1); /* main */
    CHECK_EQ(a.tasks_alive, 1);
    CHECK(a.steps >= 1);

    aioc_task ts[10];
    for (int i = 0; i < 10; i++)
        ts[i] = aioc_spawn(yields_once, NULL);
    CHECK_ERR(aioc_loop_stats_get(aioc_loop_current(), &b), 0);
    CHECK_EQ(b.tasks_spawned, 11);
    CHECK_EQ(b.tasks_alive, 11);
    CHECK_EQ(b.ready, 10);
    CHECK_ERR(aioc_gather(ts, 10, NULL), 0);
    CHECK_ERR(aioc_loop_stats_get(NULL, &b), 0);
    CHECK_EQ(b.tasks_alive, 1);
    CHECK(b.steps >= a.steps + 20); /* each ran twice */

    /* a sleeper's timer, a reader's descriptor */
    int fds[2];
    CHECK(pipe(fds) == 0);
    aioc_task s = aioc_spawn(sleeps_long, NULL);
    aioc_task r = aioc_spawn(reads_pipe, P(fds[0]));
    aioc_yield();
    aioc_yield();
    CHECK_ERR(aioc_loop_stats_get(NULL, &b), 0);
    CHECK_EQ(b.timers, 1);
    CHECK_EQ(b.fd_waiters, 1);
    CHECK(b.fds_watched >= 1);
    uint64_t polls = b.polls;
    CHECK_ERR(aioc_sleep(0.001), 0); /* the loop must poll to wake us */
    CHECK_ERR(aioc_loop_stats_get(NULL, &b), 0);
    CHECK(b.polls > polls);
    CHECK(write(fds[1], "x", 1) == 1);
    CHECK_ERR(aioc_await(r, NULL), 0);
    aioc_cancel(s);
    aioc_await(s, NULL);
    aioc_close(fds[0]);
    close(fds[1]);

    /* the thread pool's jobs */
    uint64_t jobs = b.pool_jobs;
    void *res;
    CHECK_ERR(aioc_to_thread(returns_arg, P(5), &res), 0);
    CHECK_ERR(aioc_loop_stats_get(NULL, &b), 0);
    CHECK(b.pool_jobs == jobs + 1);
    CHECK(b.pool_threads >= 1 && b.pool_wait >= 0);

    /* misuse */
    CHECK_ERR(aioc_loop_stats_get(NULL, NULL), -EINVAL);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, other_thread, NULL) == 0);
    pthread_join(th, NULL);
    CHECK_ERR(aioc_loop_stats_get(other_loop, &b), -EINVAL);
    aioc_loop_unref(other_loop);
    return NULL;
}

/* ------------------------------------------------ from another process -- */

/* Reads from `fd` until `text` has been seen or 10 s pass; what was read
 * is appended to `buf` (`cap` bytes). True if seen. */
static bool read_until(int fd, const char *text, char *buf, size_t cap) {
    size_t len = strlen(buf);
    for (int waited = 0; waited < 10000 && !strstr(buf, text);) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, 100);
        if (n == 0) {
            waited += 100;
            continue;
        }
        long r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
    }
    return strstr(buf, text) != NULL;
}

/* The child's program: a named sleeper, then "ready\n" on `ready`, then it
 * runs until a byte arrives on `quit`. */
static int child_ready_fd, child_quit_fd;

static void *child_main(void *arg) {
    (void)arg;
    aioc_spawn_opts o = {.name = "napping-worker"};
    aioc_task t = aioc_spawn_with(sleeps_long, NULL, &o);
    aioc_yield();
    if (write(child_ready_fd, "ready\n", 6) != 6)
        return aioc_fail(-EIO);
    char c;
    long r = aioc_read(child_quit_fd, &c, 1);
    aioc_cancel(t);
    aioc_await(t, NULL);
    return aioc_fail(r == 1 ? 0 : -EIO);
}

typedef struct child {
    pid_t pid;
    int ready; /* the child's stdout... "ready" */
    int err;   /* ... and its stderr */
    int quit;  /* a byte here ends it */
} child;

/* Forks a process that runs child_main with `opts`. */
static child start_child(const aioc_run_opts *opts) {
    int ready[2], err[2], quit[2];
    CHECK(pipe(ready) == 0 && pipe(err) == 0 && pipe(quit) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(err[1], 2);
        close(ready[0]);
        close(err[0]);
        close(quit[1]);
        child_ready_fd = ready[1];
        child_quit_fd = quit[0];
        _exit(aioc_run_with(child_main, NULL, NULL, opts) == 0 ? 0 : 1);
    }
    close(ready[1]);
    close(err[1]);
    close(quit[0]);
    return (child){pid, ready[0], err[0], quit[1]};
}

/* Ends the child and checks that it exited by itself, with status 0. */
static void stop_child(child *c) {
    CHECK(write(c->quit, "q", 1) == 1);
    int ws;
    CHECK(waitpid(c->pid, &ws, 0) == c->pid);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    close(c->ready);
    close(c->err);
    close(c->quit);
}

TEST(dump_signal_prints_tasks_and_the_program_goes_on) {
    aioc_run_opts opts = {.dump_signal = SIGUSR1};
    child c = start_child(&opts);
    char buf[8192] = "";
    CHECK(read_until(c.ready, "ready", buf, sizeof buf));
    char err[16384] = "";
    for (int round = 0; round < 2; round++) { /* and again: it still runs */
        err[0] = '\0';
        CHECK(kill(c.pid, SIGUSR1) == 0);
        CHECK(read_until(c.err, "napping-worker", err, sizeof err));
        CHECK(strstr(err, "live task(s)") && strstr(err, "waits on sleep"));
    }
    stop_child(&c);
}

TEST(dump_signal_the_program_handles_is_ebusy) {
    struct sigaction sa = {.sa_handler = SIG_IGN}, old;
    CHECK(sigaction(SIGUSR2, &sa, &old) == 0);
    aioc_run_opts opts = {.dump_signal = SIGUSR2};
    CHECK_ERR(aioc_run_with(yields_once, NULL, NULL, &opts), -EBUSY);
    opts.dump_signal = SIGKILL;
    CHECK_ERR(aioc_run_with(yields_once, NULL, NULL, &opts), -EINVAL);
    sigaction(SIGUSR2, &old, NULL);
}

/* Runs `command` and returns its output (to free), or NULL. */
static char *output_of(const char *command) {
    FILE *p = popen(command, "r");
    CHECK(p != NULL);
    char *text = calloc(1, 65536);
    size_t len = fread(text, 1, 65535, p);
    text[len] = '\0';
    int status = pclose(p);
    if (status != 0) {
        fprintf(stderr, "%s: status %d, output:\n%s\n", command, status, text);
        free(text);
        return NULL;
    }
    return text;
}

TEST(aioc_ps_reads_the_tasks_of_a_running_program) {
    char dir[] = "/tmp/aioc-inspect-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    setenv("XDG_RUNTIME_DIR", dir, 1); /* the child's default socket is there */
    aioc_run_opts opts = {.inspect_path = ""};
    child c = start_child(&opts);
    char buf[256] = "";
    CHECK(read_until(c.ready, "ready", buf, sizeof buf));

    char socket[128], command[512];
    snprintf(socket, sizeof socket, "%s/aioc-%ld.sock", dir, (long)c.pid);
    struct stat sb;
    CHECK(stat(socket, &sb) == 0 && S_ISSOCK(sb.st_mode) && (sb.st_mode & 077) == 0);

    snprintf(command, sizeof command, "%s %ld", AIOC_PS, (long)c.pid); /* by pid */
    char *text = output_of(command);
    CHECK(text != NULL);
    CHECK(strstr(text, "main") && strstr(text, "napping-worker") &&
          strstr(text, "waits on sleep") && strstr(text, "aioc-inspect"));
    free(text);

    snprintf(command, sizeof command, "%s -s %s stats", AIOC_PS, socket); /* by path */
    text = output_of(command);
    CHECK(text != NULL);
    CHECK(strstr(text, "tasks_alive 3\n") && strstr(text, "timers 1\n"));
    free(text);

    stop_child(&c);
    CHECK(stat(socket, &sb) != 0); /* removed when the loop ended */
    snprintf(command, sizeof command, "%s %ld 2>/dev/null", AIOC_PS, (long)c.pid);
    CHECK(output_of(command) == NULL); /* nobody serves: it fails */
    unsetenv("XDG_RUNTIME_DIR");
    rmdir(dir);
}
