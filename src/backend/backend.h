/* The I/O backend seam: what the loop asks of a poller, and what a poller
 * reports back. One file per backend (src/backend/epoll.c); the loop picks
 * one when it starts (AIOC_BACKEND) and knows it only through this table.
 *
 * A backend keeps its own state (its descriptors, its wake-up) in
 * loop->backend_data, which it allocates in init and frees in close, as
 * redis's ae keeps its poller's in `apidata`. Nothing outside the backend
 * reads that state or the poller's own event bits: readiness reaches the
 * I/O layer as AIOC__IO_* bits through aioc__fd_ready, a direct call. */
#ifndef AIOC_BACKEND_H
#define AIOC_BACKEND_H

#include <stdint.h>

typedef struct aioc__loop aioc__loop;

/* Readiness, in aioc's own terms. A backend translates its events:
 * READ   a read may make progress (data, the end of the stream, or an error);
 * WRITE  a write may make progress (room, or an error);
 * END    the peer closed its side or the descriptor failed: no further
 *        edge will come for reading. */
enum aioc__io_events {
    AIOC__IO_READ = 1u << 0,
    AIOC__IO_WRITE = 1u << 1,
    AIOC__IO_END = 1u << 2,
};

typedef struct aioc__backend {
    const char *name;
    /* Sets up loop->backend_data (the poller and its wake-up). 0 or a
     * negative errno; close is called either way. */
    int (*init)(aioc__loop *loop);
    void (*close)(aioc__loop *loop);
    /* Waits up to timeout_ns (-1: forever) and hands each event on a
     * registered descriptor to aioc__fd_ready. Returns the number of
     * events, or a negative errno. */
    int (*poll)(aioc__loop *loop, int64_t timeout_ns);
    /* Makes a poll in progress (or the next one) return. Any thread may
     * call it, and a signal handler too: it must be async-signal-safe. */
    void (*wakeup)(aioc__loop *loop);
    /* Registers `fd` for its lifetime, both directions, edge-triggered
     * (each change of readiness is reported once). del undoes it. */
    int (*add)(aioc__loop *loop, int fd);
    void (*del)(aioc__loop *loop, int fd);
} aioc__backend;

/* src/io.c: wakes the tasks waiting on `fd` for what `events`
 * (AIOC__IO_*) says. Called by the backend's poll, on the loop's thread. */
void aioc__fd_ready(aioc__loop *loop, int fd, unsigned events);

/* The backends there are (loop.c lists them for AIOC_BACKEND). */
extern const aioc__backend aioc__backend_epoll;

#endif
