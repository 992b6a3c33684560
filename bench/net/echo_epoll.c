/* echo_epoll: a minimal hand-written epoll echo server in C, the practical
 * limit for one thread: level-triggered, one read per readiness event into
 * a shared 64 KiB buffer, written straight back. A response the socket
 * does not take at once (never for 64 bytes) is kept per descriptor and
 * sent on EPOLLOUT, reading paused meanwhile. Per connection it keeps
 * nothing else in user space.
 *
 *   echo_epoll [PORT]     listen on 127.0.0.1:PORT (default 0: any)
 *
 * Prints "READY port=P pid=N" once it listens and serves until killed;
 * drive it with loadgen as in echo_aioc_stream.c. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct pending {
    size_t len, off;
    char data[];
} pending;

static pending **unsent; /* by descriptor; NULL when all is sent */
static int ep;

static void drop(int fd) {
    free(unsent[fd]);
    unsent[fd] = NULL;
    close(fd); /* also leaves the epoll set */
}

static void want(int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Sends what is left of fd's response; resumes reading once it is out. */
static void flush(int fd) {
    pending *p = unsent[fd];
    ssize_t w = send(fd, p->data + p->off, p->len - p->off, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) {
        drop(fd);
    } else if (w > 0 && (p->off += (size_t)w) == p->len) {
        free(p);
        unsent[fd] = NULL;
        want(fd, EPOLLIN);
    }
}

/* One read, written straight back; what the socket refuses waits. */
static void echo(int fd) {
    static char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EAGAIN)
        return;
    ssize_t w = n > 0 ? send(fd, buf, (size_t)n, MSG_NOSIGNAL) : -1;
    if (w == n)
        return;
    if (w < 0 && (n <= 0 || errno != EAGAIN)) { /* end, or an error */
        drop(fd);
        return;
    }
    size_t off = w > 0 ? (size_t)w : 0;
    pending *p = malloc(sizeof *p + (size_t)n - off);
    if (!p) {
        drop(fd);
        return;
    }
    p->len = (size_t)n - off;
    p->off = 0;
    memcpy(p->data, buf + off, p->len);
    unsent[fd] = p;
    want(fd, EPOLLOUT);
}

int main(int argc, char **argv) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    unsent = calloc(rl.rlim_cur, sizeof *unsent);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)(argc > 1 ? atoi(argv[1]) : 0)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!unsent || ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 511) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &len) < 0 ||
        (ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        perror("echo_epoll");
        return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    printf("READY port=%d pid=%ld\n", ntohs(a.sin_port), (long)getpid());
    fflush(stdout);
    struct epoll_event evs[512];
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd != ls) {
                if (unsent[fd])
                    flush(fd);
                else
                    echo(fd);
                continue;
            }
            int c;
            while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                if ((size_t)c >= rl.rlim_cur || epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
                    close(c);
            }
        }
    }
}
