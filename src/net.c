/* Name resolution, TCP connect with Happy Eyeballs (RFC 8305), and Unix
 * socket addresses and connect.
 *
 * getaddrinfo blocks, so names are looked up on the resolver pool; a
 * caller that gives up returns at once and the late answer is freed by the
 * job's cleanup. Numeric addresses skip the pool.
 *
 * Connecting: each address gets an attempt task. Attempts start one by
 * one, the next when the previous fails or 250 ms after it began, with
 * address families interleaved, so a dead IPv6 route costs 250 ms, not a
 * connect timeout. The first to connect wins; the rest are cancelled and
 * reaped, closing any socket that connected too late. */
#define _GNU_SOURCE
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net.h"
#include "scheduler.h"
#include "thread.h"

/* RFC 8305's recommended Connection Attempt Delay (a variable so that a
 * test can lengthen it to tell a refusal's short cut from a wait) */
double aioc__attempt_delay = 0.25;

typedef struct lookup {
    char *host, *service;
    struct addrinfo hints;
    bool has_hints;
    int status; /* getaddrinfo's */
    struct addrinfo *res;
} lookup;

static void lookup_free(lookup *l) {
    if (l->res)
        freeaddrinfo(l->res);
    free(l->host);
    free(l->service);
    free(l);
}

static void *run_lookup(void *arg) {
    lookup *l = arg;
    l->status = getaddrinfo(l->host, l->service, l->has_hints ? &l->hints : NULL, &l->res);
    return l;
}

static void drop_lookup(void *result, void *arg) {
    (void)result;
    lookup_free(arg);
}

static int eai_error(int status) {
    if (status == EAI_SYSTEM)
        return errno ? -errno : -EIO;
    return AIOC_EAI_BASE + status;
}

int aioc_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                     struct addrinfo **res) {
    aioc__loop *loop;
    int err;
    if (!aioc__suspension_point(&loop, &err))
        return err;
    /* a numeric host needs no lookup: answer here, without a thread */
    struct addrinfo numeric = hints ? *hints : (struct addrinfo){0};
    numeric.ai_flags |= AI_NUMERICHOST;
    int status = getaddrinfo(host, service, &numeric, res);
    if (status == 0)
        return 0;
    if (status != EAI_NONAME || !host)
        return eai_error(status);
    lookup *l = calloc(1, sizeof *l);
    if (!l || !(l->host = strdup(host)) || (service && !(l->service = strdup(service)))) {
        if (l)
            lookup_free(l);
        return -ENOMEM;
    }
    if (hints) {
        l->hints = *hints;
        l->has_hints = true;
    }
    if ((err = aioc__resolve_on_pool(run_lookup, l, NULL, drop_lookup)))
        return err; /* drop_lookup has it */
    status = l->status;
    *res = l->res;
    l->res = NULL;
    lookup_free(l);
    return status ? eai_error(status) : 0;
}

/* ---------------------------------------------------- Happy Eyeballs -- */

static void *attempt(void *arg) {
    const struct addrinfo *ai = arg;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return aioc_fail(-errno);
    int err = aioc_connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (!err && aioc_cancelling())
        err = -ECANCELED; /* connected, but the race is already over */
    if (err) {
        aioc_close(fd);
        return aioc_fail(err);
    }
    return (void *)(intptr_t)(fd + 1); /* + 1: descriptor 0 is not NULL */
}

/* Puts the `n` addresses of `res` into `out` with families interleaved,
 * starting with the first one's family (RFC 8305, section 4): the first
 * family's in their order at even places while the other family lasts. */
static void interleave(struct addrinfo *res, struct addrinfo **out, size_t n) {
    size_t ours = 0, theirs = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        ours += a->ai_family == res->ai_family;
    theirs = n - ours;
    size_t i = 0, j = 0; /* next slot for ours, for theirs */
    size_t paired = ours < theirs ? ours : theirs;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family == res->ai_family) {
            out[i < paired ? 2 * i : paired + i] = a;
            i++;
        } else {
            out[j < paired ? 2 * j + 1 : paired + j] = a;
            j++;
        }
    }
}

/* Cancels and reaps the attempts still running, closing any socket one of
 * them connected before it saw the cancel. */
static void reap(aioc_task *running, size_t n) {
    for (size_t i = 0; i < n; i++)
        aioc_cancel(running[i]);
    aioc_scope shield;
    int shielded = aioc_shield_enter(&shield) == 0;
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        if (aioc_await(running[i], &r) == 0 && r)
            aioc_close((int)(intptr_t)r - 1);
    }
    if (shielded)
        aioc_scope_exit(&shield);
}

int aioc_tcp_connect(const char *host, const char *port) {
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int err = aioc_getaddrinfo(host, port, &hints, &res);
    if (err)
        return err;
    int fd = aioc__connect_any(res);
    freeaddrinfo(res);
    if (fd >= 0) { /* as asyncio and Go: small writes go out at once */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

int aioc__connect_any(struct addrinfo *res) {
    int err;
    size_t n = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        n++;
    struct addrinfo **order = calloc(n, sizeof *order);
    aioc_task *running = calloc(n, sizeof *running);
    if (!order || !running) {
        free(order);
        free(running);
        return -ENOMEM;
    }
    interleave(res, order, n);
    size_t next = 0, nrun = 0;
    int fd = -1, last = -ECONNREFUSED;
    err = 0;
    while (fd < 0 && !err) {
        if (next < n) {
            running[nrun] = aioc_spawn(attempt, order[next++]);
            if ((err = aioc_task_error(running[nrun])))
                break;
            nrun++;
        }
        if (nrun == 0)
            break; /* every address failed */
        aioc_scope delay;
        bool more = next < n;
        if (more && (err = aioc_scope_enter(&delay, aioc__attempt_delay)))
            break;
        long idx = aioc_wait(running, nrun, AIOC_WAIT_ANY);
        int expired = more ? aioc_scope_exit(&delay) : 0;
        if (idx >= 0) {
            void *r = NULL;
            int status = aioc_await(running[idx], &r);
            running[idx] = running[--nrun];
            if (status == 0)
                fd = (int)(intptr_t)r - 1;
            else
                last = status;
        } else if (!(idx == -ETIMEDOUT && expired == -ETIMEDOUT)) {
            err = (int)idx; /* our own cancellation or deadline */
        }                   /* else: 250 ms passed; start the next attempt alongside */
    }
    reap(running, nrun);
    free(order);
    free(running);
    return fd >= 0 ? fd : err ? err : last;
}

int aioc__unix_address(const char *path, struct sockaddr_un *addr, socklen_t *len) {
    if (!path || !path[0] || (path[0] == '@' && !path[1]))
        return -EINVAL;
    size_t n = strlen(path);
    if (n >= sizeof addr->sun_path)
        return -ENAMETOOLONG;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, n);
    if (path[0] == '@') { /* the abstract namespace: no file, no NUL at the end */
        addr->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int aioc_unix_connect(const char *path) {
    struct sockaddr_un addr;
    socklen_t len;
    int err = aioc__unix_address(path, &addr, &len);
    if (err)
        return err;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* A full backlog refuses a non-blocking Unix connect with EAGAIN and
     * nothing signals when it has room: try again, backing off. */
    for (double pause = 0.001; (err = aioc_connect(fd, (struct sockaddr *)&addr, len)) == -EAGAIN;
         pause = pause < 0.05 ? pause * 2 : 0.1)
        if ((err = aioc_sleep(pause)))
            break;
    if (err) {
        aioc_close(fd);
        return err;
    }
    return fd;
}
