/* The epoll backend. Its state (the epoll descriptor and the eventfd that
 * other threads and signal handlers write to wake the loop) is its own, in
 * loop->backend_data. Two kinds of registration, told apart by the event
 * data: NULL for the eventfd, and fd << 2 | 2 for a descriptor of the I/O
 * layer (src/io.c), registered once, edge-triggered, for its lifetime. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../scheduler.h"
#include "backend.h"

#define MAX_EVENTS 256

typedef struct epoll_state {
    int epfd;
    int wakefd; /* eventfd: a write makes epoll_wait return */
} epoll_state;

static epoll_state *state(aioc__loop *loop) { return loop->backend_data; }

static int epoll_init(aioc__loop *loop) {
    epoll_state *st = malloc(sizeof *st);
    if (!st)
        return -ENOMEM;
    st->wakefd = -1;
    loop->backend_data = st;
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd < 0)
        return -errno;
    st->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (st->wakefd < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, st->wakefd, &ev) < 0)
        return -errno;
    return 0;
}

static void epoll_close(aioc__loop *loop) {
    epoll_state *st = state(loop);
    if (!st)
        return;
    if (st->wakefd >= 0)
        close(st->wakefd);
    if (st->epfd >= 0)
        close(st->epfd);
    free(st);
    loop->backend_data = NULL;
}

/* epoll_pwait2 (Linux 5.11) takes a nanosecond timeout; where it is
 * missing (older kernels, Valgrind 3.19) epoll_wait's milliseconds are
 * rounded up, so a timer is never polled for too early. */
static _Atomic int no_pwait2;

static int wait_events(int epfd, struct epoll_event *events, int64_t timeout_ns) {
    if (!no_pwait2) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / (int64_t)AIOC__NS;
            ts.tv_nsec = timeout_ns % (int64_t)AIOC__NS;
            tsp = &ts;
        }
        int n = epoll_pwait2(epfd, events, MAX_EVENTS, tsp, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = 1;
    }
    int ms = timeout_ns < 0                               ? -1
             : timeout_ns >= (int64_t)INT32_MAX * 1000000 ? INT32_MAX
                                                          : (int)((timeout_ns + 999999) / 1000000);
    return epoll_wait(epfd, events, MAX_EVENTS, ms);
}

/* epoll's bits in aioc's terms (backend.h): a hang-up or an error ends
 * both directions, so it wakes readers and writers alike. */
static unsigned io_events(uint32_t e) {
    unsigned r = 0;
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        r |= AIOC__IO_READ;
    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        r |= AIOC__IO_WRITE;
    if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        r |= AIOC__IO_END;
    return r;
}

static int epoll_poll(aioc__loop *loop, int64_t timeout_ns) {
    epoll_state *st = state(loop);
    struct epoll_event events[MAX_EVENTS];
    int n = wait_events(st->epfd, events, timeout_ns);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        void *tag = events[i].data.ptr;
        if (tag == NULL) {
            uint64_t v;
            ssize_t r = read(st->wakefd, &v, sizeof v);
            (void)r; /* EAGAIN: another read drained it; nothing is lost */
        } else {     /* a registered descriptor (epoll_add): fd << 2 | 2 */
            aioc__fd_ready(loop, (int)(events[i].data.u64 >> 2), io_events(events[i].events));
        }
    }
    return n;
}

/* write(2) only: safe from other threads and from signal handlers. */
static void epoll_wakeup(aioc__loop *loop) {
    uint64_t one = 1;
    ssize_t r = write(state(loop)->wakefd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is saturated, so a wake-up is pending */
}

static int epoll_add(aioc__loop *loop, int fd) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)fd << 2 | 2};
    return epoll_ctl(state(loop)->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

static void epoll_del(aioc__loop *loop, int fd) {
    epoll_ctl(state(loop)->epfd, EPOLL_CTL_DEL, fd, NULL);
}

const aioc__backend aioc__backend_epoll = {
    .name = "epoll",
    .init = epoll_init,
    .close = epoll_close,
    .poll = epoll_poll,
    .wakeup = epoll_wakeup,
    .add = epoll_add,
    .del = epoll_del,
};
