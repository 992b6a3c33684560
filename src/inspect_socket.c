/* The inspection socket (aioc_run_opts.inspect_path, AIOC_INSPECT): a Unix
 * socket on which another process (tools/aioc-ps.c) asks for the task list
 * of a running program, as `python -m asyncio ps PID` does.
 *
 * A task of the first loop that asks, named "aioc-inspect", accepts one
 * connection at a time and answers one line of a tiny text protocol, then
 * closes the connection:
 *
 *   tasks\n   the dump, as aioc_dump_tasks prints it
 *   stats\n   the loop's counters, one "name value" line each
 *
 * anything else gets "error: unknown command\n". A client gets one second
 * to send its line, so a silent one cannot hold the inspector. The task is
 * detached: it ends when aioc_run cancels what is left after main (maybe
 * before it ever ran); the socket is a leftover of the loop (scheduler.h),
 * closed and its file removed once every task has ended. The socket is made readable by its owner
 * only (chmod 0600 after bind); under $XDG_RUNTIME_DIR (a 0700 directory)
 * nobody else can even reach it. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "inspect_socket.h"

static atomic_bool claimed; /* one loop of the process serves */

typedef struct inspector {
    aioc__leftover leftover; /* closes the socket when the loop ends */
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} inspector;

/* The socket's path: `opts->inspect_path`, else AIOC_INSPECT; "" or "1"
 * the default one. False if inspection is not asked for or the path does
 * not fit. */
static bool socket_path(const aioc_run_opts *opts, char *buf, size_t n) {
    const char *want = opts ? opts->inspect_path : NULL;
    if (!want)
        want = getenv("AIOC_INSPECT");
    if (!want || strcmp(want, "0") == 0)
        return false;
    int len;
    if (!*want || strcmp(want, "1") == 0) {
        const char *dir = getenv("XDG_RUNTIME_DIR");
        len = snprintf(buf, n, "%s/aioc-%ld.sock", dir && *dir ? dir : "/tmp", (long)getpid());
    } else {
        len = snprintf(buf, n, "%s", want);
    }
    return len > 0 && (size_t)len < n;
}

/* Writes all of `text` to the client; errors end the answer quietly. */
static void reply(int fd, const char *text, size_t len) {
    while (len) {
        long w = aioc_write(fd, text, len);
        if (w <= 0)
            return;
        text += w;
        len -= (size_t)w;
    }
}

static void answer_stats(FILE *out) {
    aioc_loop_stats st;
    if (aioc_loop_stats_get(NULL, &st) != 0)
        return;
    fprintf(out,
            "tasks_spawned %" PRIu64 "\ntasks_alive %zu\nsteps %" PRIu64 "\npolls %" PRIu64
            "\nfds_watched %zu\nfd_waiters %zu\ntimers %zu\nready %zu\npool_threads %u\n"
            "pool_queued %u\npool_jobs %" PRIu64 "\npool_wait %.6f\n",
            st.tasks_spawned, st.tasks_alive, st.steps, st.polls, st.fds_watched, st.fd_waiters,
            st.timers, st.ready, st.pool_threads, st.pool_queued, st.pool_jobs, st.pool_wait);
}

/* Reads one command line from `fd` (within a second) and answers it. */
static void serve_one(int fd) {
    char line[64];
    size_t got = 0;
    aioc_scope scope;
    if (aioc_scope_enter(&scope, 1.0) != 0)
        return;
    while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
        long r = aioc_read(fd, line + got, sizeof line - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    aioc_scope_exit(&scope);
    line[got] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return;
    if (strcmp(line, "tasks") == 0)
        aioc_dump_tasks(out);
    else if (strcmp(line, "stats") == 0)
        answer_stats(out);
    else
        fputs("error: unknown command (try: tasks, stats)\n", out);
    fclose(out);
    reply(fd, text, len);
    free(text);
}

static void *inspect_task(void *arg) {
    inspector *in = arg;
    for (;;) {
        int c = aioc_accept(in->fd, NULL, NULL);
        if (c == -ECANCELED || c == -EBADF)
            break;
        if (c < 0) { /* out of descriptors, say: try again shortly */
            if (aioc_sleep(0.1) == -ECANCELED)
                break;
            continue;
        }
        serve_one(c);
        aioc_close(c);
    }
    return NULL;
}

static void release(aioc__leftover *l) {
    inspector *in = aioc__container_of(l, inspector, leftover);
    aioc_close(in->fd);
    unlink(in->path);
    free(in);
    atomic_store(&claimed, false);
}

/* A listening socket at `path`, or -errno. A file left there by a process
 * that died (nobody accepts) is replaced. */
static int listen_at(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int bound = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    if (bound < 0 && errno == EADDRINUSE) {
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            close(fd);
            return -EADDRINUSE;
        }
        unlink(path);
        bound = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    }
    if (bound < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

void aioc__inspect_socket_start(aioc__loop *loop, const aioc_run_opts *opts) {
    char path[sizeof(((inspector *)0)->path)];
    if (!socket_path(opts, path, sizeof path) || atomic_exchange(&claimed, true))
        return;
    int err = 0;
    inspector *in = malloc(sizeof *in);
    int fd = in ? listen_at(path) : -ENOMEM;
    aioc__task *t = NULL;
    if (fd >= 0) {
        in->fd = fd;
        memcpy(in->path, path, sizeof path);
        aioc_spawn_opts o = {.name = "aioc-inspect", .stack_size = 64 * 1024};
        t = aioc__task_spawn(loop, inspect_task, in, &o, &err);
    } else {
        err = fd;
    }
    if (t) {
        t->flags |= AIOC__F_DETACHED;
        aioc__leftover_add(loop, &in->leftover, release);
        return;
    }
    fprintf(stderr, "aioc: inspection socket %s: %s\n", path, aioc_strerror(err));
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    free(in);
    atomic_store(&claimed, false);
}
