/* Streams over descriptors: the one descriptor transport, for sockets,
 * pipes and terminals alike (aioc_stream_new, the servers' connections,
 * the pipes of subprocesses), and taking the descriptor back out of a
 * stream (aioc_stream_release_fd, for STARTTLS).
 *
 * The transport's state, the descriptor and two facts about it, lives in
 * the stream's own allocation (aioc__stream_new_with_state), so such a
 * stream costs one allocation and is freed as one. Writes go through
 * send(2) with MSG_NOSIGNAL, so that a peer gone raises no SIGPIPE; a
 * descriptor that is no socket (a terminal, a pipe given to
 * aioc_stream_new) says ENOTSOCK once, and write(2) is used from then on.
 * Subprocess pipes are known for pipes from the start, and end writing by
 * closing, since shutdown(2) works on sockets only.
 *
 * io.c's readiness mark (a read emptied the stream socket, so the next one
 * can only wait for the next edge) is offered to the stream as the
 * transport's `drained` call: the stream then waits for input through
 * `wait_readable` without holding a read buffer, so an idle connection
 * holds none.
 *
 * A descriptor of -1 is one closed by a pipe's write_eof or given back by
 * aioc_stream_release_fd: reads give -EBADF, writes -EPIPE (the stream
 * itself answers -EBADF after a release), and close closes nothing. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd_stream.h"
#include "io.h"
#include "stream.h"

typedef struct fd_transport {
    int fd;          /* -1 once closed by write_eof (a pipe), or released */
    bool pipe;       /* write_eof closes it; no socket */
    bool not_socket; /* send(2) said ENOTSOCK: write(2) from now on */
} fd_transport;

static long fd_read(void *ctx, void *buf, size_t n) {
    int fd = ((fd_transport *)ctx)->fd;
    return fd < 0 ? -EBADF : aioc_read(fd, buf, n);
}

/* All `n` bytes, waiting for room as often as need be, so that a stream's
 * flush empties its buffer in one call and its next large write can go
 * out without a copy. An error (a cancel, a deadline) after some bytes
 * went out reports those bytes instead: the stream counts them as sent and
 * does not send them again, and the error comes back with the next call. */
static long fd_write(void *ctx, const void *buf, size_t n) {
    fd_transport *t = ctx;
    if (t->fd < 0)
        return -EPIPE;
    size_t done = 0;
    while (done < n) {
        const char *at = (const char *)buf + done;
        long r = t->not_socket ? aioc_write_some(t->fd, at, n - done)
                               : aioc__send_some(t->fd, at, n - done, 0); /* no SIGPIPE */
        if (r == -ENOTSOCK && !t->not_socket) {
            t->not_socket = true;
            continue;
        }
        if (r < 0)
            return done ? (long)done : r;
        done += (size_t)r;
    }
    return (long)done;
}

static long fd_try_write(void *ctx, const void *buf, size_t n) {
    fd_transport *t = ctx;
    if (t->fd < 0)
        return -EPIPE;
    ssize_t r = 0;
    if (!t->not_socket && (r = send(t->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 &&
        errno == ENOTSOCK)
        t->not_socket = true;
    if (t->not_socket)
        r = write(t->fd, buf, n); /* made non-blocking on first use */
    return r >= 0 ? r : errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

static int fd_close(void *ctx) {
    fd_transport *t = ctx;
    int fd = t->fd;
    t->fd = -1;
    return fd < 0 ? 0 : aioc_close(fd);
}

static int fd_write_eof(void *ctx) {
    fd_transport *t = ctx;
    if (t->pipe)
        return fd_close(ctx); /* the reader sees the end once no writer is left */
    return shutdown(t->fd, SHUT_WR) == 0 ? 0 : -errno;
}

static int fd_socket(void *ctx) {
    fd_transport *t = ctx;
    return t->pipe || t->not_socket ? -ENOTSOCK : t->fd < 0 ? -EBADF : t->fd;
}

static int fd_drained(void *ctx) {
    fd_transport *t = ctx;
    return !t->pipe && t->fd >= 0 && aioc__fd_drained(t->fd);
}

static int fd_wait_readable(void *ctx) {
    return aioc_wait_readable_after_eagain(((fd_transport *)ctx)->fd);
}

static const aioc_transport fd_ops = {
    .read = fd_read,
    .write = fd_write,
    .try_write = fd_try_write,
    .write_eof = fd_write_eof,
    .close = fd_close,
    .socket = fd_socket,
    .drained = fd_drained,
    .wait_readable = fd_wait_readable,
};

aioc_stream *aioc__fd_stream_new(int fd, bool pipe, const aioc_stream_opts *opts) {
    void *ctx;
    aioc_stream *s = aioc__stream_new_with_state(&fd_ops, sizeof(fd_transport), &ctx, opts);
    if (s)
        *(fd_transport *)ctx = (fd_transport){.fd = fd, .pipe = pipe, .not_socket = pipe};
    return s;
}

aioc_stream *aioc_stream_new(int fd, const aioc_stream_opts *opts) {
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    return aioc__fd_stream_new(fd, false, opts);
}

int aioc__fd_stream_fd(const aioc_stream *s) {
    fd_transport *t = aioc_stream_transport_ctx(s, &fd_ops);
    return t ? t->fd : -1;
}

int aioc__fd_stream_end_writing(aioc_stream *s) {
    fd_transport *t = aioc_stream_transport_ctx(s, &fd_ops);
    return t ? fd_write_eof(t) : -EINVAL;
}

/* The stream lets go of everything it holds first (aioc__stream_hand_over:
 * -EBUSY while a call is in progress or a byte is buffered); the transport
 * then forgets its descriptor, so that the stream, still its owner's to
 * close, reads -EBADF and closes nothing. */
int aioc_stream_release_fd(aioc_stream *s) {
    fd_transport *t = aioc_stream_transport_ctx(s, &fd_ops);
    if (!t || t->pipe || t->fd < 0)
        return -EINVAL; /* not a stream of aioc_stream_new's, or released already */
    int err = aioc__stream_hand_over(s);
    if (err)
        return err;
    int fd = t->fd;
    t->fd = -1;
    return fd;
}
