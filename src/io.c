/* File-descriptor operations that suspend the task instead of blocking.
 *
 * Every operation tries its system call first. Only on EAGAIN is the
 * descriptor registered with the backend, once, edge-triggered for both
 * directions, and the task parked on that descriptor's list of readers or
 * writers; an event wakes the whole list and each task retries. While the
 * descriptor stays registered a wait costs no system call beyond the
 * operation's own. The loop polls only while no task runs, so an edge can
 * never slip in between a task's EAGAIN and its park.
 *
 * One readiness mark is kept: a read on a stream socket that got less
 * than it asked for has emptied the socket's buffer, so the next read
 * waits for the edge at once instead of first failing with EAGAIN (one
 * system call less per message; a ping-pong server would pay it every
 * time). Every new arrival raises an edge, and any event clears the mark;
 * once the peer has closed (or failed) no edge will come, so no mark.
 * Datagram and seqpacket sockets, pipes and terminals don't get it: a
 * short read there says nothing about what is left.
 *
 * A task whose calls keep completing at once (its socket always has data,
 * or room) yields every AIOC__IO_BUDGET calls, so it cannot starve the
 * other tasks, the timers, or the poll.
 *
 * Per-descriptor state lives in a table of fixed chunks indexed by the
 * descriptor number; chunks never move, because waiting tasks are linked
 * into the lists inside them.
 *
 * O_NONBLOCK belongs to the open file description, which a descriptor may
 * share with other processes (a terminal's stdin, a pipe the shell made):
 * where aioc set it itself, it clears it again when aioc_close closes the
 * descriptor or, for descriptors still open, when the loop ends (if the
 * number still names the same file). Regular files are left alone: the
 * flag means nothing to them, they block the loop anyway. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend/backend.h"
#include "io.h"
#include "scheduler.h"

#define FDS_PER_CHUNK 1024

typedef struct aioc__fd {
    aioc__list readers, writers; /* zeroed: empty (lazily initialised) */
    uint8_t registered;          /* in the backend's interest list */
    uint8_t nonblocking;         /* O_NONBLOCK has been set */
    uint8_t stream_socket;       /* SOCK_STREAM: a short read empties it */
    uint8_t drained;             /* nothing to read until the next event */
    uint8_t read_end;            /* the peer closed or failed: no more edges */
    uint32_t restore;            /* aioc set O_NONBLOCK: 1 + index in `set_by_us` */
} aioc__fd;

/* The descriptors whose O_NONBLOCK this thread's loop set, with what they
 * were then, so that the flag is cleared on the same file only. */
typedef struct nonblock_rec {
    int fd;
    dev_t dev;
    ino_t ino;
} nonblock_rec;

static _Thread_local struct {
    nonblock_rec *v;
    size_t n, cap;
} set_by_us;

/* Clears O_NONBLOCK on `r`'s descriptor if it still names the same file
 * (a number closed behind the loop's back may name another one now). */
static void clear_nonblock(const nonblock_rec *r) {
    struct stat sb;
    if (fstat(r->fd, &sb) < 0 || sb.st_dev != r->dev || sb.st_ino != r->ino)
        return;
    int fd = r->fd;
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK))
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

/* Makes `fd` non-blocking unless it is already (or is a regular file), and
 * remembers that it did. Returns 0 or a negative errno. */
static int make_nonblocking(aioc__fd *st, int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -errno;
    if (flags & O_NONBLOCK)
        return 0;
    struct stat sb;
    if (fstat(fd, &sb) < 0)
        return -errno;
    if (S_ISREG(sb.st_mode))
        return 0;
    if (set_by_us.n == set_by_us.cap) {
        size_t cap = set_by_us.cap ? 2 * set_by_us.cap : 8;
        nonblock_rec *v = realloc(set_by_us.v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        set_by_us.v = v;
        set_by_us.cap = cap;
    }
    if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    set_by_us.v[set_by_us.n++] = (nonblock_rec){fd, sb.st_dev, sb.st_ino};
    st->restore = (uint32_t)set_by_us.n;
    return 0;
}

static aioc__fd *fd_state(aioc__loop *loop, int fd);

/* aioc_close: gives `fd` its blocking mode back before it is closed. */
static void restore_one(aioc__loop *loop, aioc__fd *st) {
    size_t i = st->restore - 1;
    st->restore = 0;
    clear_nonblock(&set_by_us.v[i]);
    set_by_us.v[i] = set_by_us.v[--set_by_us.n];
    if (i < set_by_us.n) /* the last record moved into its place */
        fd_state(loop, set_by_us.v[i].fd)->restore = (uint32_t)i + 1;
}

/* The loop ends: descriptors still open get their blocking mode back. */
static void restore_all(void) {
    for (size_t i = 0; i < set_by_us.n; i++)
        clear_nonblock(&set_by_us.v[i]);
    free(set_by_us.v);
    set_by_us.v = NULL;
    set_by_us.n = set_by_us.cap = 0;
}

static aioc__fd *fd_state(aioc__loop *loop, int fd) {
    if (fd < 0)
        return NULL;
    size_t c = (size_t)fd / FDS_PER_CHUNK;
    if (c >= loop->nfdchunks) {
        size_t n = c + 1;
        aioc__fd **chunks = realloc(loop->fdchunks, n * sizeof *chunks);
        if (!chunks)
            return NULL;
        for (size_t i = loop->nfdchunks; i < n; i++)
            chunks[i] = NULL;
        loop->fdchunks = chunks;
        loop->nfdchunks = n;
    }
    if (!loop->fdchunks[c] && !(loop->fdchunks[c] = calloc(FDS_PER_CHUNK, sizeof(aioc__fd))))
        return NULL;
    aioc__fd *st = &loop->fdchunks[c][fd % FDS_PER_CHUNK];
    aioc__lazy_list(&st->readers);
    aioc__lazy_list(&st->writers);
    return st;
}

void aioc__fds_free(aioc__loop *loop) {
    restore_all();
    for (size_t i = 0; i < loop->nfdchunks; i++)
        free(loop->fdchunks[i]);
    free(loop->fdchunks);
    loop->fdchunks = NULL;
    loop->nfdchunks = 0;
}

size_t aioc__fds_watched(const aioc__loop *loop) {
    size_t n = 0;
    for (size_t c = 0; c < loop->nfdchunks; c++)
        for (size_t i = 0; loop->fdchunks[c] && i < FDS_PER_CHUNK; i++)
            n += loop->fdchunks[c][i].registered;
    return n;
}

/* Called by the backend for an event on a registered descriptor. */
void aioc__fd_ready(aioc__loop *loop, int fd, unsigned events) {
    if ((size_t)fd / FDS_PER_CHUNK >= loop->nfdchunks || !loop->fdchunks[fd / FDS_PER_CHUNK])
        return;
    aioc__fd *st = &loop->fdchunks[fd / FDS_PER_CHUNK][fd % FDS_PER_CHUNK];
    st->drained = 0;
    if (events & AIOC__IO_END)
        st->read_end = 1;
    if (events & AIOC__IO_READ)
        loop->fd_waiters -= (size_t)aioc__wake_all(loop, &st->readers, AIOC__WOKEN);
    if (events & AIOC__IO_WRITE)
        loop->fd_waiters -= (size_t)aioc__wake_all(loop, &st->writers, AIOC__WOKEN);
}

/* The prologue of every operation: the running task and its loop, with
 * `fd` made non-blocking on first use (and its kind noted; `*stp`, if not
 * NULL, gets its state), and, with `budget`, the I/O budget's yield (which
 * polls). A wait for the next edge after the caller's own EAGAIN must not
 * poll before it parks: an edge that poll took would be waited for in vain. */
static aioc__task *prepare_state(aioc__loop **loopp, int fd, int *err, aioc__fd **stp,
                                 bool budget) {
    aioc__task *t = aioc__suspension_point(loopp, err);
    if (!t)
        return NULL;
    aioc__fd *st = fd_state(*loopp, fd);
    if (!st) {
        *err = fd < 0 ? -EBADF : -ENOMEM;
        return NULL;
    }
    if (!st->nonblocking) {
        if ((*err = make_nonblocking(st, fd)))
            return NULL;
        int type = 0;
        socklen_t len = sizeof type;
        st->stream_socket =
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
        st->drained = st->read_end = 0;
        st->nonblocking = 1;
    }
    if (stp)
        *stp = st;
    if (budget && (*err = aioc__io_budget(*loopp, t)))
        return NULL;
    return t;
}

static aioc__task *prepare(aioc__loop **loopp, int fd, int *err) {
    return prepare_state(loopp, fd, err, NULL, true);
}

/* Registers `fd` with the backend for its lifetime, the first time. */
static int ensure_registered(aioc__loop *loop, aioc__fd *st, int fd) {
    if (st->registered)
        return 0;
    int err = loop->backend->add(loop, fd);
    if (err)
        return err;
    st->registered = 1;
    loop->fd_registrations++;
    return 0;
}

/* Parks `t` until `fd` may be ready for reading (or writing). Returns 0 to
 * retry, -EBADF if the descriptor was closed through aioc_close, or an
 * interruption's error. */
static int wait_fd(aioc__loop *loop, aioc__task *t, int fd, bool write) {
    aioc__fd *st = fd_state(loop, fd);
    if (!st)
        return -ENOMEM;
    int err = ensure_registered(loop, st, fd);
    if (err)
        return err;
    t->wait_data = (uintptr_t)fd; /* for dumps */
    t->io_streak = 0;
    aioc__list_push_back(write ? &st->writers : &st->readers, &t->link);
    loop->fd_waiters++;
    int wake = aioc__park(loop, AIOC__WAIT_FD, write ? "write" : "read");
    if (wake == AIOC__INTERRUPTED) {
        loop->fd_waiters--; /* the waker did not count us off */
        return aioc__interrupted_error(t);
    }
    return wake;
}

/* The retry loop every operation shares; it ends the enclosing function.
 * `call` (a system call: -1 and errno on failure) is made again after
 * EINTR, and after EAGAIN once `fd` may be ready (wait_fd); the function
 * returns its result, -errno for any other failure, or the wait's error
 * (-EBADF, an interruption). */
#define RETRY(loop, t, fd, write, call)                                                            \
    for (;;) {                                                                                     \
        long r_ = (long)(call);                                                                    \
        if (r_ >= 0)                                                                               \
            return r_;                                                                             \
        if (errno == EINTR)                                                                        \
            continue;                                                                              \
        if (errno != EAGAIN && errno != EWOULDBLOCK)                                               \
            return -errno;                                                                         \
        int e_ = wait_fd((loop), (t), (fd), (write));                                              \
        if (e_)                                                                                    \
            return e_;                                                                             \
    }

/* A whole operation: the prologue, then RETRY. */
#define FD_OP(fd, write, call)                                                                     \
    aioc__loop *loop;                                                                              \
    int err;                                                                                       \
    aioc__task *t = prepare(&loop, (fd), &err);                                                    \
    if (!t)                                                                                        \
        return err;                                                                                \
    RETRY(loop, t, (fd), (write), call)

/* Marks a stream socket drained. The mark needs the edge that new data
 * raises, so the socket is registered now if it is not yet: the one
 * epoll_ctl that the EAGAIN it saves would have cost anyway. */
static void mark_drained(aioc__loop *loop, aioc__fd *st, int fd) {
    if (ensure_registered(loop, st, fd) == 0)
        st->drained = 1;
}

/* read(2) or recv(2) with the readiness mark (see the top of the file). */
static long read_marked(int fd, void *buf, size_t n, int flags, bool use_recv) {
    aioc__loop *loop;
    aioc__fd *st;
    int err;
    aioc__task *t = prepare_state(&loop, fd, &err, &st, true);
    if (!t)
        return err;
    if (st->drained && (err = wait_fd(loop, t, fd, false)))
        return err;
    for (;;) {
        ssize_t r = use_recv ? recv(fd, buf, n, flags) : read(fd, buf, n);
        if (r >= 0) {
            if (r > 0 && (size_t)r < n && st->stream_socket && !st->read_end)
                mark_drained(loop, st, fd);
            return r;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        if ((err = wait_fd(loop, t, fd, false)))
            return err;
    }
}

long aioc_read(int fd, void *buf, size_t n) { return read_marked(fd, buf, n, 0, false); }

bool aioc__fd_drained(int fd) {
    aioc__loop *loop = aioc__loop_get();
    aioc__fd *st = loop ? fd_state(loop, fd) : NULL;
    return st && st->drained;
}

static int wait_edge(int fd, bool write) {
    aioc__loop *loop;
    int err;
    aioc__task *t = prepare_state(&loop, fd, &err, NULL, false); /* it parks anyway */
    return t ? wait_fd(loop, t, fd, write) : err;
}

int aioc_wait_readable_after_eagain(int fd) { return wait_edge(fd, false); }

int aioc_wait_writable_after_eagain(int fd) { return wait_edge(fd, true); }

long aioc_write_some(int fd, const void *buf, size_t n) { FD_OP(fd, true, write(fd, buf, n)); }

long aioc_write(int fd, const void *buf, size_t n) {
    size_t done = 0;
    do {
        long r = aioc_write_some(fd, (const char *)buf + done, n - done);
        if (r < 0)
            return r;
        done += (size_t)r;
    } while (done < n);
    return (long)done;
}

long aioc_readv(int fd, const struct iovec *iov, int cnt) { FD_OP(fd, false, readv(fd, iov, cnt)); }

long aioc_writev(int fd, const struct iovec *iov, int cnt) {
    FD_OP(fd, true, writev(fd, iov, cnt));
}

long aioc_recv(int fd, void *buf, size_t n, int flags) {
    if (flags == 0) /* a peek or a wait-all says nothing about what is left */
        return read_marked(fd, buf, n, 0, true);
    FD_OP(fd, false, recv(fd, buf, n, flags));
}

long aioc__send_some(int fd, const void *buf, size_t n, int flags) {
    FD_OP(fd, true, send(fd, buf, n, flags | MSG_NOSIGNAL));
}

long aioc_send(int fd, const void *buf, size_t n, int flags) {
    size_t done = 0;
    do {
        long r = aioc__send_some(fd, (const char *)buf + done, n - done, flags);
        if (r < 0)
            return r;
        done += (size_t)r;
    } while (done < n);
    return (long)done;
}

long aioc_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                   unsigned *addrlen) {
    FD_OP(fd, false, recvfrom(fd, buf, n, flags, addr, (socklen_t *)addrlen));
}

long aioc_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
                 unsigned addrlen) {
    FD_OP(fd, true, sendto(fd, buf, n, flags | MSG_NOSIGNAL, addr, addrlen));
}

int aioc_accept(int fd, struct sockaddr *addr, unsigned *addrlen) {
    aioc__loop *loop;
    int err;
    aioc__task *t = prepare(&loop, fd, &err);
    if (!t)
        return err;
    for (;;) {
        int s = accept4(fd, addr, (socklen_t *)addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (s >= 0)
            return s;
        if (errno == EINTR || errno == ECONNABORTED)
            continue; /* a connection that died in the queue: take the next */
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        if ((err = wait_fd(loop, t, fd, false)))
            return err;
    }
}

int aioc_connect(int fd, const struct sockaddr *addr, unsigned addrlen) {
    aioc__loop *loop;
    int err;
    aioc__task *t = prepare(&loop, fd, &err);
    if (!t)
        return err;
    if (connect(fd, addr, addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return -errno;
    /* in progress: writable means done, one way or the other */
    for (;;) {
        if ((err = wait_fd(loop, t, fd, true)))
            return err;
        int so = 0;
        socklen_t len = sizeof so;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len) < 0)
            return -errno;
        if (so != EINPROGRESS && so != EALREADY)
            return -so;
    }
}

long aioc_sendfile(int out_fd, int in_fd, long *offset, size_t n) {
    aioc__loop *loop;
    int err;
    aioc__task *t = prepare(&loop, out_fd, &err);
    if (!t)
        return err;
    off_t off = offset ? (off_t)*offset : 0;
    size_t done = 0;
    while (done < n) {
        ssize_t r = sendfile(out_fd, in_fd, offset ? &off : NULL, n - done);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r == 0)
            break; /* end of the input file */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            err = -errno;
            break;
        }
        if ((err = wait_fd(loop, t, out_fd, true)))
            break;
    }
    if (offset)
        *offset = (long)off;
    return done > 0 || !err ? (long)done : err;
}

/* Waits for readiness without an operation: since edges are only reported
 * on change, ask poll(2) first whether the descriptor is ready already;
 * if not, the next edge is the readiness waited for. */
static int wait_ready(int fd, short what, bool write) {
    aioc__loop *loop;
    int err;
    aioc__task *t = prepare(&loop, fd, &err);
    if (!t)
        return err;
    struct pollfd p = {.fd = fd, .events = what};
    int n;
    while ((n = poll(&p, 1, 0)) < 0 && errno == EINTR) {
    }
    if (n < 0)
        return -errno;
    if (n > 0)
        return p.revents & POLLNVAL ? -EBADF : 0;
    return wait_fd(loop, t, fd, write);
}

int aioc_wait_readable(int fd) { return wait_ready(fd, POLLIN, false); }

int aioc_wait_writable(int fd) { return wait_ready(fd, POLLOUT, true); }

int aioc_close(int fd) {
    aioc__loop *loop = aioc__loop_get();
    if (loop && fd >= 0 && (size_t)fd / FDS_PER_CHUNK < loop->nfdchunks &&
        loop->fdchunks[fd / FDS_PER_CHUNK]) {
        aioc__fd *st = &loop->fdchunks[fd / FDS_PER_CHUNK][fd % FDS_PER_CHUNK];
        if (st->readers.next) {
            loop->fd_waiters -= (size_t)aioc__wake_all(loop, &st->readers, -EBADF);
            loop->fd_waiters -= (size_t)aioc__wake_all(loop, &st->writers, -EBADF);
        }
        if (st->registered)
            loop->backend->del(loop, fd);
        if (st->restore)
            restore_one(loop, st);
        st->registered = 0;
        st->nonblocking = 0;
        st->drained = st->read_end = 0;
    }
    return close(fd) == 0 ? 0 : -errno;
}
