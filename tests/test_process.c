/* Subprocesses: streams to and from a child, exit statuses, spawn errors,
 * signals, communicate with more than a pipe holds, deadlines and
 * cancellation without leaks, many children at once, and the path taken
 * where pidfds are missing. Only programs every Debian has: sh, cat,
 * sleep, true, false. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* src/process.c: take the path used where the kernel has no pidfds */
extern bool aioc__process_no_pidfd;

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static aioc_process *spawn(const char *const *argv, int in, int out, int err) {
    aioc_process_opts o = {.stdin_mode = in, .stdout_mode = out, .stderr_mode = err};
    int e = 1;
    aioc_process *p = aioc_process_spawn(argv, &o, &e);
    if (!p)
        fprintf(stderr, "spawn %s: %s\n", argv[0], aioc_err_name(e));
    CHECK(p);
    CHECK_ERR(e, 0);
    return p;
}

/* Spawns argv (stdin from /dev/null, output inherited) and returns its status. */
static int status_of(const char *const *argv) {
    aioc_process *p = spawn(argv, AIOC_STDIO_DEVNULL, AIOC_STDIO_INHERIT, AIOC_STDIO_INHERIT);
    int status = 1000;
    CHECK_ERR(aioc_process_wait(p, &status), 0);
    aioc_process_free(p);
    return status;
}

/* ---------------------------------------------------- streams, statuses -- */

TASK_TEST(process_cat_echoes_through_streams) {
    const char *argv[] = {"cat", NULL};
    aioc_process *p = spawn(argv, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE, AIOC_STDIO_INHERIT);
    CHECK(aioc_process_pid(p) > 0);
    CHECK(aioc_process_stderr(p) == NULL);
    aioc_stream *in = aioc_process_stdin(p), *out = aioc_process_stdout(p);
    CHECK(in && out);
    for (int i = 0; i < 200; i++) {
        char line[32];
        int len = snprintf(line, sizeof line, "line %d\n", i);
        CHECK_ERR(aioc_stream_write(in, line, (size_t)len), 0);
        CHECK_ERR(aioc_stream_drain(in), 0);
        const char *got;
        CHECK_EQ(aioc_stream_readline(out, &got), len);
        CHECK(memcmp(got, line, (size_t)len) == 0);
    }
    CHECK_ERR(aioc_process_poll(p, NULL), -EAGAIN); /* cat waits for more */
    CHECK_ERR(aioc_stream_write_eof(in), 0);        /* closes the pipe */
    char c;
    CHECK_EQ(aioc_stream_read(out, &c, 1), 0); /* so cat ends */
    int status = -1;
    CHECK_ERR(aioc_process_wait(p, &status), 0);
    CHECK_EQ(status, 0);
    status = -1;
    CHECK_ERR(aioc_process_wait(p, &status), 0); /* the same, at once */
    CHECK_EQ(status, 0);
    CHECK_ERR(aioc_stream_write(in, "x", 1), -EPIPE);
    struct sockaddr_storage addr;
    unsigned len;
    CHECK_ERR(aioc_stream_peername(out, &addr, &len), -ENOTSOCK); /* a pipe */
    CHECK_ERR(aioc_stream_peername(in, &addr, &len), -ENOTSOCK);  /* closed, still a pipe */
    CHECK_ERR(aioc_stream_release_fd(out), -EINVAL);              /* the process's */
    aioc_process_free(p);
    return NULL;
}

TASK_TEST(process_exit_status_and_signalled_status) {
    CHECK_EQ(status_of((const char *[]){"true", NULL}), 0);
    CHECK_EQ(status_of((const char *[]){"false", NULL}), 1);
    CHECK_EQ(status_of((const char *[]){"sh", "-c", "exit 42", NULL}), 42);
    CHECK_EQ(status_of((const char *[]){"sh", "-c", "exit 255", NULL}), 255);
    CHECK_EQ(status_of((const char *[]){"sh", "-c", "kill -TERM $$", NULL}), -SIGTERM);
    CHECK_EQ(status_of((const char *[]){"sh", "-c", "kill -KILL $$", NULL}), -SIGKILL);
    CHECK_EQ(status_of((const char *[]){"/bin/sh", "-c", "exit 7", NULL}), 7); /* a path */
    return NULL;
}

TASK_TEST(process_spawn_of_a_missing_program_is_enoent) {
    int before = count_fds();
    aioc_process_opts pipes = {.stdin_mode = AIOC_STDIO_PIPE,
                               .stdout_mode = AIOC_STDIO_PIPE,
                               .stderr_mode = AIOC_STDIO_PIPE};
    const char *missing[] = {"aioc-no-such-program", NULL};
    int err = 0;
    CHECK(!aioc_process_spawn(missing, &pipes, &err));
    CHECK_ERR(err, -ENOENT);
    const char *missing_path[] = {"/nonexistent/aioc", NULL};
    CHECK(!aioc_process_spawn(missing_path, NULL, &err));
    CHECK_ERR(err, -ENOENT);
    const char *not_executable[] = {"/dev/null", NULL};
    CHECK(!aioc_process_spawn(not_executable, &pipes, &err));
    CHECK_ERR(err, -EACCES);
    const char *sh[] = {"sh", "-c", "exit 0", NULL};
    aioc_process_opts bad_cwd = {.cwd = "/nonexistent/aioc"};
    CHECK(!aioc_process_spawn(sh, &bad_cwd, &err));
    CHECK_ERR(err, -ENOENT);
    const char *empty[] = {NULL};
    CHECK(!aioc_process_spawn(empty, NULL, &err));
    CHECK_ERR(err, -EINVAL);
    aioc_process_opts merged_stdin = {.stdin_mode = AIOC_STDIO_STDOUT};
    CHECK(!aioc_process_spawn(sh, &merged_stdin, &err));
    CHECK_ERR(err, -EINVAL);
    aioc_process_opts bad_mode = {.stderr_mode = 99};
    CHECK(!aioc_process_spawn(sh, &bad_mode, &err));
    CHECK_ERR(err, -EINVAL);
    CHECK(!aioc_process_spawn(missing, NULL, NULL)); /* err may be NULL */
    CHECK_EQ(count_fds(), before);                   /* no pipe left open */
    /* no child was left behind either: none remains to be reaped */
    CHECK(waitid(P_ALL, 0, &(siginfo_t){0}, WEXITED | WNOHANG) < 0 && errno == ECHILD);
    return NULL;
}

TASK_TEST(process_kill_and_wait) {
    const char *argv[] = {"sleep", "10", NULL};
    aioc_process *p = spawn(argv, AIOC_STDIO_DEVNULL, AIOC_STDIO_DEVNULL, AIOC_STDIO_DEVNULL);
    CHECK(!aioc_process_stdin(p) && !aioc_process_stdout(p) && !aioc_process_stderr(p));
    int status = 1000;
    CHECK_ERR(aioc_process_poll(p, &status), -EAGAIN);
    CHECK_EQ(status, 1000);
    CHECK_ERR(aioc_process_kill(p, 0), 0); /* it exists */
    CHECK_ERR(aioc_process_kill(p, -1), -EINVAL);
    double t0 = aioc_now();
    CHECK_ERR(aioc_process_kill(p, SIGTERM), 0);
    CHECK_ERR(aioc_process_wait(p, &status), 0);
    CHECK_EQ(status, -SIGTERM);
    CHECK(aioc_now() - t0 < 5);
    CHECK_ERR(aioc_process_kill(p, SIGTERM), -ESRCH); /* reaped: nobody to signal */
    status = 0;
    CHECK_ERR(aioc_process_poll(p, &status), 0);
    CHECK_EQ(status, -SIGTERM);
    aioc_process_free(p);
    return NULL;
}

/* ---------------------------------------------------------- communicate -- */

enum { BIG = 4 << 20 };

static char *pattern(size_t n, unsigned seed) {
    char *b = malloc(n);
    CHECK(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + (i * seed + i / 4093) % 26);
    return b;
}

TASK_TEST(process_communicate_4mib_through_cat) {
    const char *argv[] = {"cat", NULL};
    aioc_process *p = spawn(argv, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE);
    char *input = pattern(BIG, 7);
    char *out = NULL, *err = NULL;
    size_t out_len = 0, err_len = 1;
    CHECK_ERR(aioc_process_communicate(p, input, BIG, &out, &out_len, &err, &err_len), 0);
    CHECK_EQ(out_len, BIG);
    CHECK(memcmp(out, input, BIG) == 0);
    CHECK_EQ(out[BIG], '\0');
    CHECK(err && err_len == 0 && err[0] == '\0');
    int status = -1;
    CHECK_ERR(aioc_process_wait(p, &status), 0);
    CHECK_EQ(status, 0);
    /* stdin is closed now; the output streams are at their end */
    CHECK_ERR(aioc_process_communicate(p, "x", 1, NULL, NULL, NULL, NULL), -EPIPE);
    CHECK_ERR(aioc_process_communicate(p, NULL, 0, NULL, NULL, NULL, NULL), 0);
    free(out);
    free(err);
    free(input);
    aioc_process_free(p);
    return NULL;
}

/* The child floods stderr before it reads any input, then copies the
 * input to stdout, then floods stdout: reading one pipe at a time, or
 * writing before reading, would deadlock. */
TASK_TEST(process_communicate_floods_stdout_and_stderr) {
    char path[] = "/tmp/aioc-process-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    size_t file_len = 2 << 20;
    char *file = pattern(file_len, 11);
    CHECK_EQ(write(fd, file, file_len), (long)file_len);
    close(fd);
    const char *argv[] = {"sh", "-c", "cat \"$0\" >&2; cat; cat \"$0\"", path, NULL};
    aioc_process *p = spawn(argv, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE);
    char *input = pattern(BIG, 3);
    char *out, *err;
    size_t out_len, err_len;
    CHECK_ERR(aioc_process_communicate(p, input, BIG, &out, &out_len, &err, &err_len), 0);
    unlink(path);
    CHECK_EQ(err_len, file_len);
    CHECK(memcmp(err, file, file_len) == 0);
    CHECK_EQ(out_len, BIG + file_len);
    CHECK(memcmp(out, input, BIG) == 0);
    CHECK(memcmp(out + BIG, file, file_len) == 0);
    int status = -1;
    CHECK_ERR(aioc_process_poll(p, &status), 0); /* communicate waited for it */
    CHECK_EQ(status, 0);
    free(out);
    free(err);
    free(input);
    free(file);
    aioc_process_free(p);
    return NULL;
}

TASK_TEST(process_stderr_merged_into_stdout) {
    const char *argv[] = {"sh", "-c", "printf out1; printf err1 >&2; printf out2", NULL};
    aioc_process *p = spawn(argv, AIOC_STDIO_DEVNULL, AIOC_STDIO_PIPE, AIOC_STDIO_STDOUT);
    CHECK(!aioc_process_stderr(p) && !aioc_process_stdin(p));
    char *out, *err = (char *)1;
    size_t len, err_len = 1;
    CHECK_ERR(aioc_process_communicate(p, NULL, 0, &out, &len, &err, &err_len), 0);
    CHECK(strcmp(out, "out1err1out2") == 0);
    CHECK(err == NULL && err_len == 0); /* not a pipe */
    free(out);
    CHECK_ERR(aioc_process_communicate(p, "x", 1, NULL, NULL, NULL, NULL), -EINVAL);
    aioc_process_free(p);

    /* stdin from /dev/null ends at once; stderr into /dev/null is gone */
    const char *argv2[] = {"sh", "-c", "cat; printf gone >&2; printf kept", NULL};
    p = spawn(argv2, AIOC_STDIO_DEVNULL, AIOC_STDIO_PIPE, AIOC_STDIO_DEVNULL);
    CHECK_ERR(aioc_process_communicate(p, NULL, 0, &out, &len, NULL, NULL), 0);
    CHECK(strcmp(out, "kept") == 0);
    free(out);
    aioc_process_free(p);

    /* both into /dev/null */
    p = spawn(argv, AIOC_STDIO_DEVNULL, AIOC_STDIO_DEVNULL, AIOC_STDIO_STDOUT);
    out = (char *)1;
    CHECK_ERR(aioc_process_communicate(p, NULL, 0, &out, &len, NULL, NULL), 0);
    CHECK(out == NULL && len == 0);
    aioc_process_free(p);
    return NULL;
}

TASK_TEST(process_environment_and_working_directory) {
    const char *argv[] = {"sh", "-c", "printf '%s %s' \"$AIOC_X\" \"$(pwd)\"", NULL};
    const char *envp[] = {"AIOC_X=42", NULL};
    aioc_process_opts o = {.envp = envp, .cwd = "/", .stdout_mode = AIOC_STDIO_PIPE};
    int err;
    aioc_process *p = aioc_process_spawn(argv, &o, &err);
    CHECK(p);
    char *out;
    CHECK_ERR(aioc_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL), 0);
    CHECK(strcmp(out, "42 /") == 0);
    free(out);
    aioc_process_free(p);
    return NULL;
}

/* ------------------------------------------ deadlines and cancellation -- */

TASK_TEST(process_wait_deadline_then_kill) {
    const char *argv[] = {"sleep", "10", NULL};
    aioc_process *p = spawn(argv, AIOC_STDIO_DEVNULL, AIOC_STDIO_DEVNULL, AIOC_STDIO_DEVNULL);
    double t0 = aioc_now();
    aioc_scope s;
    CHECK_ERR(aioc_scope_enter(&s, 0.2), 0);
    int status = 1000;
    CHECK_ERR(aioc_process_wait(p, &status), -ETIMEDOUT);
    CHECK_ERR(aioc_scope_exit(&s), -ETIMEDOUT);
    CHECK_EQ(status, 1000);
    CHECK(aioc_now() - t0 >= 0.2);
    CHECK_ERR(aioc_process_poll(p, NULL), -EAGAIN); /* still running */
    CHECK_ERR(aioc_process_kill(p, SIGKILL), 0);
    CHECK_ERR(aioc_process_wait(p, &status), 0);
    CHECK_EQ(status, -SIGKILL);
    CHECK(aioc_now() - t0 < 5); /* not the child's 10 s */
    aioc_process_free(p);
    return NULL;
}

static void *communicate_task(void *arg) {
    aioc_process *p = arg;
    size_t n = 1 << 20; /* more than the pipe holds: the child never reads */
    char *input = pattern(n, 5);
    char *out = (char *)1, *err = (char *)1;
    size_t out_len = 1, err_len = 1;
    int r = aioc_process_communicate(p, input, n, &out, &out_len, &err, &err_len);
    CHECK(out == NULL && err == NULL && out_len == 0 && err_len == 0);
    free(input);
    return aioc_fail(r);
}

static void *cancelled_communicate(void *arg) {
    (void)arg;
    /* a deadline while reading: the child wrote a little, then sleeps */
    const char *argv[] = {"sh", "-c", "printf hello; printf oops >&2; exec sleep 10", NULL};
    aioc_process *p = spawn(argv, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE);
    aioc_scope s;
    CHECK_ERR(aioc_scope_enter(&s, 0.2), 0);
    char *out = (char *)1;
    size_t len = 1;
    CHECK_ERR(aioc_process_communicate(p, "in", 2, &out, &len, NULL, NULL), -ETIMEDOUT);
    CHECK_ERR(aioc_scope_exit(&s), -ETIMEDOUT);
    CHECK(out == NULL && len == 0);
    CHECK_ERR(aioc_process_poll(p, NULL), -EAGAIN); /* the child is left running */
    CHECK_ERR(aioc_process_kill(p, SIGKILL), 0);
    int status;
    CHECK_ERR(aioc_process_wait(p, &status), 0);
    CHECK_EQ(status, -SIGKILL);
    aioc_process_free(p);

    /* cancelled from another task while writing to a child that never
     * reads, and freed with the child still running */
    const char *sleeper[] = {"sleep", "10", NULL};
    p = spawn(sleeper, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE);
    aioc_task t = aioc_spawn(communicate_task, p);
    CHECK_ERR(aioc_sleep(0.05), 0);
    CHECK_ERR(aioc_cancel(t), 0);
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
    CHECK_ERR(aioc_process_poll(p, NULL), -EAGAIN);
    aioc_process_free(p);
    return NULL;
}

static void *nothing(void *arg) { return arg; }

TEST(process_cancelled_communicate_leaks_nothing) {
    CHECK_ERR(aioc_run(nothing, NULL, NULL), 0); /* what a first loop keeps open */
    int before = count_fds();
    CHECK_ERR(aioc_run(cancelled_communicate, NULL, NULL), 0);
    CHECK_EQ(count_fds(), before);
    CHECK(waitid(P_ALL, 0, &(siginfo_t){0}, WEXITED | WNOHANG) < 0 && errno == ECHILD);
}

TASK_TEST(process_free_kills_and_reaps) {
    const char *argv[] = {"sleep", "10", NULL};
    aioc_process *p = spawn(argv, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE, AIOC_STDIO_INHERIT);
    pid_t pid = aioc_process_pid(p);
    double t0 = mono();
    aioc_process_free(p); /* kills and reaps */
    CHECK(waitid(P_PID, (id_t)pid, &(siginfo_t){0}, WEXITED | WNOHANG) < 0 && errno == ECHILD);
    CHECK(mono() - t0 < 5);
    return NULL;
}

static void *forgets_to_free(void *arg) {
    const char *argv[] = {"sleep", "10", NULL};
    aioc_process *p = spawn(argv, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE, AIOC_STDIO_INHERIT);
    *(pid_t *)arg = aioc_process_pid(p);
    return NULL; /* p is never freed */
}

TEST(process_never_freed_is_reaped_when_run_ends) {
    pid_t pid = 0;
    double t0 = mono();
    CHECK_ERR(aioc_run(forgets_to_free, &pid, NULL), 0);
    CHECK(pid > 0);
    CHECK(waitid(P_PID, (id_t)pid, &(siginfo_t){0}, WEXITED | WNOHANG) < 0 && errno == ECHILD);
    CHECK(mono() - t0 < 5); /* killed, not waited for */
}

/* ------------------------------------------------------------ isolation -- */

/* Marks the pipes open in this process (descriptors below 1024). */
static void find_pipes(bool is_pipe[1024]) {
    for (int fd = 0; fd < 1024; fd++) {
        char link[64], target[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        is_pipe[fd] = n > 5 && memcmp(target, "pipe:", 5) == 0;
    }
}

TASK_TEST(process_children_inherit_no_other_pipes) {
    static bool before[1024], after[1024];
    find_pipes(before);
    const char *cat[] = {"cat", NULL};
    aioc_process *a = spawn(cat, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE);
    find_pipes(after);
    int mine = 0;
    for (int fd = 0; fd < 1024; fd++) {
        if (!after[fd] || before[fd])
            continue;
        mine++; /* our end of one of a's pipes */
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
    }
    CHECK_EQ(mine, 3); /* the child's ends are closed in the parent */
    /* b must not hold a's stdin open, or cat would never see its end */
    const char *sleeper[] = {"sleep", "10", NULL};
    aioc_process *b = spawn(sleeper, AIOC_STDIO_INHERIT, AIOC_STDIO_INHERIT, AIOC_STDIO_INHERIT);
    char *out;
    size_t len;
    CHECK_ERR(aioc_process_communicate(a, "abc", 3, &out, &len, NULL, NULL), 0);
    CHECK(len == 3 && memcmp(out, "abc", 3) == 0);
    free(out);
    aioc_process_free(a);
    aioc_process_free(b);
    return NULL;
}

TASK_TEST(process_child_gets_default_signal_state) {
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old); /* as aioc_signal_wait would */
    const char *argv[] = {"sh", "-c",
                          "while read -r k v; do case $k in SigBlk:|SigIgn:) "
                          "printf '%s %s\\n' \"$k\" \"$v\";; esac; done < /proc/self/status",
                          NULL};
    aioc_process *p = spawn(argv, AIOC_STDIO_DEVNULL, AIOC_STDIO_PIPE, AIOC_STDIO_INHERIT);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    char *out;
    CHECK_ERR(aioc_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL), 0);
    unsigned long long blocked = 1, ignored = 1;
    CHECK(sscanf(out, "SigBlk: %llx\nSigIgn: %llx", &blocked, &ignored) == 2);
    CHECK_EQ(blocked, 0);                           /* a fresh mask */
    CHECK_EQ(ignored & (1ull << (SIGPIPE - 1)), 0); /* SIGPIPE back to default */
    free(out);
    aioc_process_free(p);
    return NULL;
}

/* ------------------------------------------------------------ many -- */

enum { CHILDREN = 100 };

static aioc_process *kids[CHILDREN];

static void *talk_to(void *arg) {
    int i = I(arg);
    char input[64];
    int n = snprintf(input, sizeof input, "child %d\n", i);
    char *out;
    size_t len;
    CHECK_ERR(aioc_process_communicate(kids[i], input, (size_t)n, &out, &len, NULL, NULL), 0);
    CHECK(len == (size_t)n && memcmp(out, input, len) == 0);
    free(out);
    int status = -1;
    CHECK_ERR(aioc_process_wait(kids[i], &status), 0);
    CHECK_EQ(status, i % 7);
    return NULL;
}

TASK_TEST(process_hundred_children_from_one_loop) {
    /* all alive at once: each waits for its input */
    for (int i = 0; i < CHILDREN; i++) {
        char code[8];
        snprintf(code, sizeof code, "%d", i % 7);
        const char *argv[] = {"sh", "-c", "cat; exit \"$0\"", code, NULL};
        kids[i] = spawn(argv, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE, AIOC_STDIO_INHERIT);
    }
    aioc_task tasks[CHILDREN];
    for (int i = 0; i < CHILDREN; i++)
        tasks[i] = aioc_spawn(talk_to, P(i));
    CHECK_ERR(aioc_gather(tasks, CHILDREN, NULL), 0);
    for (int i = 0; i < CHILDREN; i++)
        aioc_process_free(kids[i]);
    return NULL;
}

/* --------------------------------------------------------- no pidfds -- */

TASK_TEST(process_works_without_pidfds) {
    aioc__process_no_pidfd = true;
    CHECK_EQ(status_of((const char *[]){"sh", "-c", "exit 3", NULL}), 3);
    const char *cat[] = {"cat", NULL};
    aioc_process *p = spawn(cat, AIOC_STDIO_PIPE, AIOC_STDIO_PIPE, AIOC_STDIO_INHERIT);
    char *out;
    CHECK_ERR(aioc_process_communicate(p, "hi", 2, &out, NULL, NULL, NULL), 0);
    CHECK(strcmp(out, "hi") == 0);
    free(out);
    aioc_process_free(p);
    const char *sleeper[] = {"sleep", "10", NULL};
    p = spawn(sleeper, AIOC_STDIO_DEVNULL, AIOC_STDIO_DEVNULL, AIOC_STDIO_DEVNULL);
    aioc_scope s;
    CHECK_ERR(aioc_scope_enter(&s, 0.1), 0);
    CHECK_ERR(aioc_process_wait(p, NULL), -ETIMEDOUT);
    aioc_scope_exit(&s);
    CHECK_ERR(aioc_process_kill(p, SIGKILL), 0);
    int status;
    CHECK_ERR(aioc_process_wait(p, &status), 0);
    CHECK_EQ(status, -SIGKILL);
    CHECK_ERR(aioc_process_kill(p, SIGKILL), -ESRCH);
    aioc_process_free(p);
    p = spawn(sleeper, AIOC_STDIO_DEVNULL, AIOC_STDIO_DEVNULL, AIOC_STDIO_DEVNULL);
    aioc_process_free(p); /* kills and reaps without a pidfd too */
    CHECK(waitid(P_ALL, 0, &(siginfo_t){0}, WEXITED | WNOHANG) < 0 && errno == ECHILD);
    aioc__process_no_pidfd = false;
    return NULL;
}
