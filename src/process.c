/* Subprocesses (asyncio.create_subprocess_exec): spawn, wait, kill,
 * communicate.
 *
 * Spawning works as posix_spawn does inside glibc: clone(CLONE_VM |
 * CLONE_VFORK) on a small stack of its own, so nothing is copied however
 * large the parent is, and the parent thread resumes only once the child
 * has called execve or died. Between the clone and the exec the child makes
 * only async-signal-safe system calls: it shares our memory, so it must not
 * take a lock, allocate, or run a signal handler of ours (every signal is
 * blocked around the clone and the child resets handlers to the default
 * before unblocking). Whatever the child needs (the candidate paths of the
 * program, the descriptors to install) is prepared by the parent. We do not
 * call posix_spawn itself because it learns of a failed exec through that
 * shared memory, which Valgrind (it runs such a clone as a fork) breaks: a
 * missing program would then look like a child exiting with 127. The child
 * here writes its errno to a close-on-exec pipe instead, which works either
 * way.
 *
 * Tracking: a pidfd from pidfd_open(2), taken as soon as the clone returns.
 * Nothing can reap the child before we do (we never wait for "any child"
 * and install no SIGCHLD handler), so its pid cannot be reused in between:
 * that gives what clone3's CLONE_PIDFD would, without raw clone3, which
 * glibc does not wrap and which with CLONE_VM needs assembly to move the
 * child onto its stack. The pidfd turns readable when the child exits;
 * waiting is aioc_wait_readable on it, then waitid(P_PIDFD) reaps, and
 * signals go through pidfd_send_signal. Where the kernel lacks pidfds
 * (before 5.3, some seccomp sandboxes, Valgrind 3.19) the wait polls
 * waitid(WNOHANG) with a back-off from 1 to 50 ms and kill(2) is used:
 * still safe from pid reuse, since only we reap the child.
 *
 * The parent ends of the pipes are non-blocking and close-on-exec, and are
 * wrapped in descriptor streams (src/fd_stream.c) that end writing by
 * closing the pipe (shutdown(2) does not work on pipes). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd_stream.h"
#include "scheduler.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#define ID_PIDFD ((idtype_t)3) /* P_PIDFD (Linux 5.4), missing from older headers */

#define CHILD_STACK (64u * 1024u) /* the child's stack until execve */
#define POLL_MIN 0.001            /* without a pidfd: first and last poll delay */
#define POLL_MAX 0.05

extern char **environ;

/* Tests set this to exercise the path taken where pidfds are missing. */
bool aioc__process_no_pidfd;
/* Set once pidfd_open has said ENOSYS (or EPERM, from a seccomp filter),
 * so that it is not asked again for every child. */
static atomic_bool pidfd_missing;

/* ------------------------------------------------------- the child itself -- */

typedef struct child {
    pid_t pid;
    int pidfd;   /* -1: no pidfd on this system */
    bool reaped; /* status (or error) is final */
    int status;  /* exit code, or -signal */
    int error;   /* -ECHILD if somebody else reaped it */
} child;

/* Reaps the child if it has ended: 1, or 0 if it still runs. */
static int child_poll(child *c) {
    if (c->reaped)
        return 1;
    siginfo_t si;
    int r;
    do {
        memset(&si, 0, sizeof si);
        r = c->pidfd >= 0 ? waitid(ID_PIDFD, (id_t)c->pidfd, &si, WEXITED | WNOHANG)
                          : waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG);
        if (r < 0 && errno == EINVAL && c->pidfd >= 0) /* Linux 5.3: no P_PIDFD */
            r = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r < 0) { /* ECHILD: SIGCHLD is ignored, or the program waited for it */
        c->reaped = true;
        c->error = -errno;
        return 1;
    }
    if (si.si_pid == 0)
        return 0;
    c->reaped = true;
    c->status = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
    return 1;
}

/* Suspends until the child has ended and reaps it. Returns 0 or the
 * interruption's error (or AIOC_ENOTASK). */
static int child_wait(child *c) {
    double delay = POLL_MIN;
    while (!child_poll(c)) {
        int err;
        if (c->pidfd >= 0) {
            err = aioc_wait_readable(c->pidfd);
        } else {
            err = aioc_sleep(delay);
            delay = delay * 2 < POLL_MAX ? delay * 2 : POLL_MAX;
        }
        if (err)
            return err;
    }
    return 0;
}

static int child_kill(child *c, int sig) {
    if (c->reaped)
        return -ESRCH;
    long r = c->pidfd >= 0 ? syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0)
                           : kill(c->pid, sig); /* unreaped: the pid is still ours */
    return r == 0 ? 0 : -errno;
}

/* Kills and reaps at once, blocking the thread: a SIGKILLed child is gone
 * within a fraction of a millisecond, unless it is stuck in an
 * uninterruptible kernel wait. */
static void child_destroy(child *c) {
    if (!child_poll(c)) {
        child_kill(c, SIGKILL);
        siginfo_t si;
        while (waitid(P_PID, (id_t)c->pid, &si, WEXITED) < 0 && errno == EINTR) {
        }
        c->reaped = true;
    }
    if (c->pidfd >= 0)
        aioc_close(c->pidfd);
    c->pidfd = -1;
}

/* ------------------------------------------------------ the process object -- */

struct aioc_process {
    child child;
    aioc_stream *streams[3]; /* stdin, stdout, stderr; NULL where not a pipe */
    aioc__leftover leftover; /* freed by aioc_run if the program did not */
};

/* aioc_run ends with the process object never freed: kill and reap. */
static void release_process(aioc__leftover *l) {
    aioc_process_free(aioc__container_of(l, aioc_process, leftover));
}

int aioc_process_pid(const aioc_process *p) { return (int)p->child.pid; }

aioc_stream *aioc_process_stdin(aioc_process *p) { return p->streams[0]; }
aioc_stream *aioc_process_stdout(aioc_process *p) { return p->streams[1]; }
aioc_stream *aioc_process_stderr(aioc_process *p) { return p->streams[2]; }

/* ------------------------------------------------------------- spawning -- */

/* What the child needs, all prepared by the parent. */
typedef struct plan {
    char *const *argv;
    char *const *envp;
    const char *cwd;
    char **paths; /* candidate paths of the program, NULL-terminated */
    int stdio[3]; /* descriptor to install as 0, 1, 2; -1: leave it */
    int err_pipe; /* write end: the child's errno if the exec fails */
    sigset_t empty;
} plan;

/* Runs in the child, on its own stack, sharing the parent's memory: only
 * async-signal-safe calls, no sanitizer instrumentation (its stack is
 * unknown to AddressSanitizer), and never a return. */
__attribute__((no_sanitize("address", "undefined"))) static int child_main(void *arg) {
    const plan *pl = arg;
    int err = 0;
    /* A handler of ours must not run here. SIGPIPE, ignored by aioc_run,
     * gets its default action back; other ignored signals stay ignored,
     * as a shell's background jobs expect. */
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) != 0)
            continue;
        if (sa.sa_handler != SIG_DFL && (sa.sa_handler != SIG_IGN || sig == SIGPIPE)) {
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_DFL;
            sigaction(sig, &sa, NULL);
        }
    }
    /* sources are >= 3 (or 1 for stderr into stdout, installed just
     * before), so no dup2 clobbers the source of another */
    for (int i = 0; i < 3 && !err; i++)
        if (pl->stdio[i] >= 0 && dup2(pl->stdio[i], i) < 0)
            err = errno;
    if (!err && pl->cwd && chdir(pl->cwd) != 0)
        err = errno;
    if (!err) {
        /* a fresh mask: signals the parent blocks (aioc_signal_wait) are
         * not the child's business */
        sigprocmask(SIG_SETMASK, &pl->empty, NULL);
        /* as execvp: try each directory of PATH; remember a more telling
         * error than ENOENT (EACCES) but keep looking */
        err = ENOENT;
        for (char **path = pl->paths; *path; path++) {
            execve(*path, pl->argv, pl->envp);
            int e = errno;
            if (e != ENOENT && e != ENOTDIR)
                err = e;
            if (e != ENOENT && e != ENOTDIR && e != EACCES)
                break;
        }
    }
    while (write(pl->err_pipe, &err, sizeof err) < 0 && errno == EINTR) {
    }
    _exit(127);
}

/* The paths to try for `file`: itself if it names a path, else one per
 * directory of the caller's PATH (an empty entry is the current one). */
static char **candidates(const char *file) {
    const char *dirs = strchr(file, '/') ? "" : getenv("PATH");
    if (!dirs)
        dirs = "/bin:/usr/bin";
    size_t n = 1, flen = strlen(file);
    for (const char *s = dirs; *s; s++)
        n += *s == ':';
    /* each entry: its directory (or "."), '/', the file, NUL */
    char **paths = malloc((n + 1) * sizeof *paths + strlen(dirs) + n * (flen + 3));
    if (!paths)
        return NULL;
    char *out = (char *)(paths + n + 1);
    size_t i = 0;
    for (const char *d = dirs;; d++) {
        const char *end = strchrnul(d, ':');
        paths[i++] = out;
        if (strchr(file, '/')) {
            memcpy(out, file, flen + 1);
        } else {
            size_t dlen = (size_t)(end - d);
            memcpy(out, dlen ? d : ".", dlen ? dlen : 1);
            out += dlen ? dlen : 1;
            *out++ = '/';
            memcpy(out, file, flen + 1);
        }
        out += strlen(out) + 1;
        if (!*end)
            break;
        d = end;
    }
    paths[i] = NULL;
    return paths;
}

/* A close-on-exec descriptor numbered 3 or above in place of `fd`, so that
 * installing one child descriptor as 0, 1 or 2 never clobbers another. */
static int above_stdio(int fd) {
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int saved = errno;
    close(fd);
    errno = saved;
    return moved;
}

static void close_fd(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Creates the pipe for stdio slot `i` and the stream over the parent's
 * end; the child's end goes to *theirs. */
static int make_pipe(aioc_process *p, int i, int *theirs) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    int mine = i == 0 ? fds[1] : fds[0];
    *theirs = above_stdio(i == 0 ? fds[0] : fds[1]);
    int err = *theirs < 0 || fcntl(mine, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
    if (!err)
        p->streams[i] = aioc__fd_stream_new(mine, true, NULL);
    if (!p->streams[i]) {
        close(mine);
        return err ? err : -ENOMEM;
    }
    return 0;
}

/* Clones the child and learns whether its exec worked: 0, or the child's
 * error (the child is then reaped). */
static int start_child(aioc_process *p, plan *pl) {
    int errp[2];
    if (pipe2(errp, O_CLOEXEC) < 0)
        return -errno;
    if ((errp[1] = above_stdio(errp[1])) < 0) { /* not replaced by a dup2 */
        int err = -errno;
        close(errp[0]);
        return err;
    }
    pl->err_pipe = errp[1];
    long page = sysconf(_SC_PAGESIZE);
    char *stack = mmap(NULL, CHILD_STACK + (size_t)page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        int err = -errno;
        close(errp[0]);
        close(errp[1]);
        return err;
    }
    mprotect(stack, (size_t)page, PROT_NONE); /* guard page */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid =
        clone(child_main, stack + CHILD_STACK + (size_t)page, CLONE_VM | CLONE_VFORK | SIGCHLD, pl);
    int err = pid < 0 ? -errno : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, CHILD_STACK + (size_t)page);
    close(errp[1]);
    if (!err) {
        /* the child has exec'd (end of file) or written its errno; under a
         * fork-style emulation of the clone (Valgrind) this read waits
         * for that */
        int child_err = 0;
        ssize_t n;
        while ((n = read(errp[0], &child_err, sizeof child_err)) < 0 && errno == EINTR) {
        }
        p->child.pid = pid;
        if (n == (ssize_t)sizeof child_err) {
            err = -child_err;
            siginfo_t si;
            while (waitid(P_PID, (id_t)pid, &si, WEXITED) < 0 && errno == EINTR) {
            }
            p->child.reaped = true;
        }
    }
    close(errp[0]);
    return err;
}

static bool valid_mode(int mode, bool is_stderr) {
    return mode == AIOC_STDIO_INHERIT || mode == AIOC_STDIO_PIPE || mode == AIOC_STDIO_DEVNULL ||
           (is_stderr && mode == AIOC_STDIO_STDOUT);
}

aioc_process *aioc_process_spawn(const char *const *argv, const aioc_process_opts *opts,
                                 int *errp) {
    static const aioc_process_opts defaults;
    int dummy;
    if (!errp)
        errp = &dummy;
    if (!opts)
        opts = &defaults;
    int modes[3] = {opts->stdin_mode, opts->stdout_mode, opts->stderr_mode};
    if (!argv || !argv[0] || !argv[0][0] || !valid_mode(modes[0], false) ||
        !valid_mode(modes[1], false) || !valid_mode(modes[2], true)) {
        *errp = -EINVAL;
        return NULL;
    }
    aioc_process *p = calloc(1, sizeof *p);
    /* execve takes char *const[] for historical reasons and changes
     * nothing: dropping the const through uintptr_t says so on purpose */
    plan pl = {.argv = (char *const *)(uintptr_t)argv,
               .envp = opts->envp ? (char *const *)(uintptr_t)opts->envp : environ,
               .cwd = opts->cwd,
               .stdio = {-1, -1, -1}};
    int devnull = -1, err = 0;
    if (!p || !(pl.paths = candidates(argv[0]))) {
        free(p);
        *errp = -ENOMEM;
        return NULL;
    }
    p->child.pidfd = -1;
    aioc__list_init(&p->leftover.link);
    sigemptyset(&pl.empty);
    for (int i = 0; i < 3 && !err; i++) {
        if (modes[i] == AIOC_STDIO_PIPE) {
            err = make_pipe(p, i, &pl.stdio[i]);
        } else if (modes[i] == AIOC_STDIO_DEVNULL) {
            if (devnull < 0 && (devnull = above_stdio(open("/dev/null", O_RDWR | O_CLOEXEC))) < 0)
                err = -errno;
            pl.stdio[i] = devnull;
        } else if (modes[i] == AIOC_STDIO_STDOUT) {
            pl.stdio[i] = 1; /* after stdout is in place: dup2(1, 2) */
        }
    }
    if (!err)
        err = start_child(p, &pl);
    for (int i = 0; i < 3; i++)
        if (pl.stdio[i] != devnull && pl.stdio[i] > 2)
            close(pl.stdio[i]);
    close_fd(&devnull);
    free(pl.paths);
    if (!err && !aioc__process_no_pidfd && !atomic_load(&pidfd_missing)) {
        p->child.pidfd = (int)syscall(SYS_pidfd_open, p->child.pid, 0);
        if (p->child.pidfd < 0 && (errno == ENOSYS || errno == EPERM))
            atomic_store(&pidfd_missing, true);
        else if (p->child.pidfd < 0)
            err = -errno; /* EMFILE and the like */
    }
    if (err) {
        if (p->child.pid > 0)
            child_destroy(&p->child);
        p->child.reaped = true;
        aioc_process_free(p);
        *errp = err;
        return NULL;
    }
    if (aioc__loop_get())
        aioc__leftover_add(aioc__loop_get(), &p->leftover, release_process);
    *errp = 0;
    return p;
}

/* ------------------------------------------------------ waiting, signals -- */

int aioc_process_wait(aioc_process *p, int *status) {
    int err = child_wait(&p->child);
    if (!err && !(err = p->child.error) && status)
        *status = p->child.status;
    return err;
}

int aioc_process_poll(aioc_process *p, int *status) {
    if (!child_poll(&p->child))
        return -EAGAIN;
    if (p->child.error)
        return p->child.error;
    if (status)
        *status = p->child.status;
    return 0;
}

int aioc_process_kill(aioc_process *p, int sig) { return child_kill(&p->child, sig); }

/* ---------------------------------------------------------- communicate -- */

typedef struct collector {
    aioc_stream *s;
    char *buf;
    size_t len, cap;
} collector;

/* Reads a stream to its end into a growing buffer (kept NUL-terminated). */
static void *collect(void *arg) {
    collector *c = arg;
    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t cap = c->cap ? c->cap * 2 : 16384;
            char *buf = realloc(c->buf, cap);
            if (!buf)
                return aioc_fail(-ENOMEM);
            c->buf = buf;
            c->cap = cap;
        }
        long n = aioc_stream_read(c->s, c->buf + c->len, c->cap - c->len - 1);
        if (n < 0)
            return aioc_fail((int)n);
        c->buf[c->len += (size_t)n] = '\0';
        if (n == 0)
            return NULL;
    }
}

typedef struct feeder {
    aioc_process *p;
    const void *data;
    size_t n;
} feeder;

/* Writes the input, then closes stdin. What the stream still holds goes
 * first; the input itself goes straight to the pipe, not through the
 * stream's buffer (no copy, nothing left behind for the stream to flush
 * later). A child that stops reading is not an error (asyncio ignores
 * BrokenPipeError there too). */
static void *feed(void *arg) {
    feeder *f = arg;
    aioc_stream *in = f->p->streams[0];
    int err = aioc_stream_drain(in);
    if (!err && f->n > 0) {
        long r = aioc_write(aioc__fd_stream_fd(in), f->data, f->n);
        err = r < 0 ? (int)r : 0;
    }
    if (!err || err == -EPIPE) /* the child sees the end of its input */
        err = aioc__fd_stream_end_writing(in);
    return err ? aioc_fail(err) : NULL;
}

static void hand_out(collector *c, char **buf, size_t *len) {
    if (buf && c->buf && c->cap > c->len + 1) { /* give back the slack */
        char *fit = realloc(c->buf, c->len + 1);
        if (fit)
            c->buf = fit;
    }
    if (buf)
        *buf = c->buf;
    else
        free(c->buf);
    if (len)
        *len = c->len;
}

int aioc_process_communicate(aioc_process *p, const void *input, size_t n, char **out,
                             size_t *out_len, char **errout, size_t *errout_len) {
    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (errout)
        *errout = NULL;
    if (errout_len)
        *errout_len = 0;
    if (n > 0 && (!p->streams[0] || aioc__fd_stream_fd(p->streams[0]) < 0))
        return p->streams[0] ? -EPIPE : -EINVAL; /* stdin is closed, or no pipe */
    aioc_group g;
    int err = aioc_group_init(&g);
    if (err)
        return err;
    feeder f = {p, input, n};
    collector c[2] = {{p->streams[1], NULL, 0, 0}, {p->streams[2], NULL, 0, 0}};
    aioc_task tasks[3];
    size_t nt = 0;
    if (p->streams[0] && aioc__fd_stream_fd(p->streams[0]) >= 0)
        tasks[nt++] = aioc_group_spawn(g, feed, &f, NULL);
    for (int i = 0; i < 2; i++)
        if (c[i].s)
            tasks[nt++] = aioc_group_spawn(g, collect, &c[i], NULL);
    int spawn_err = 0;
    for (size_t i = 0; i < nt && !spawn_err; i++)
        spawn_err = aioc_task_error(tasks[i]);
    if (spawn_err)
        aioc_group_cancel(g);
    err = aioc_group_wait(g); /* if we are cancelled, so are the helpers */
    if (spawn_err)
        err = spawn_err;
    if (!err)
        err = aioc_process_wait(p, NULL);
    if (err) { /* nothing is handed out; the child is left as it is */
        free(c[0].buf);
        free(c[1].buf);
        return err;
    }
    hand_out(&c[0], out, out_len);
    hand_out(&c[1], errout, errout_len);
    return 0;
}

/* ---------------------------------------------------------------- freeing -- */

void aioc_process_free(aioc_process *p) {
    if (!p)
        return;
    for (int i = 0; i < 3; i++)
        if (p->streams[i])
            aioc_stream_abort(p->streams[i]); /* closes the pipe */
    child_destroy(&p->child);
    aioc__leftover_remove(&p->leftover);
    free(p);
}
