/* The epoll backend. Two kinds of registration, told apart by the event
 * data: NULL for the loop's eventfd (other threads' wake-ups), and
 * fd << 2 | 2 for a descriptor of the I/O layer (src/io.c), registered
 * once, edge-triggered, for its lifetime. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../internal.h"

#define MAX_EVENTS 256

static int epoll_init(aioc__loop *loop) {
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        return -errno;
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wakefd < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0)
        return -errno;
    return 0;
}

static void epoll_close(aioc__loop *loop) {
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    if (loop->epfd >= 0)
        close(loop->epfd);
    loop->wakefd = loop->epfd = -1;
}

/* epoll_pwait2 (Linux 5.11) takes a nanosecond timeout; where it is
 * missing (older kernels, Valgrind 3.19) epoll_wait's milliseconds are
 * rounded up, so a timer is never polled for too early. */
static _Atomic int no_pwait2;

static int wait_events(aioc__loop *loop, struct epoll_event *events, int64_t timeout_ns) {
    if (!no_pwait2) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / (int64_t)AIOC__NS;
            ts.tv_nsec = timeout_ns % (int64_t)AIOC__NS;
            tsp = &ts;
        }
        int n = epoll_pwait2(loop->epfd, events, MAX_EVENTS, tsp, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = 1;
    }
    int ms = timeout_ns < 0                               ? -1
             : timeout_ns >= (int64_t)INT32_MAX * 1000000 ? INT32_MAX
                                                          : (int)((timeout_ns + 999999) / 1000000);
    return epoll_wait(loop->epfd, events, MAX_EVENTS, ms);
}

static int epoll_poll(aioc__loop *loop, int64_t timeout_ns) {
    struct epoll_event events[MAX_EVENTS];
    int n = wait_events(loop, events, timeout_ns);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        void *tag = events[i].data.ptr;
        if (tag == NULL) {
            uint64_t v;
            ssize_t r = read(loop->wakefd, &v, sizeof v);
            (void)r; /* EAGAIN: another read drained it; nothing is lost */
        } else {     /* a registered descriptor (epoll_add): fd << 2 | 2 */
            aioc__fd_ready(loop, (int)(events[i].data.u64 >> 2), events[i].events);
        }
    }
    return n;
}

static void epoll_wakeup(aioc__loop *loop) {
    uint64_t one = 1;
    ssize_t r = write(loop->wakefd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is saturated, so a wake-up is pending */
}

static int epoll_add(aioc__loop *loop, int fd) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)fd << 2 | 2};
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

static void epoll_del(aioc__loop *loop, int fd) { epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL); }

const aioc__backend aioc__backend_epoll = {
    .name = "epoll",
    .init = epoll_init,
    .close = epoll_close,
    .poll = epoll_poll,
    .wakeup = epoll_wakeup,
    .add = epoll_add,
    .del = epoll_del,
};
