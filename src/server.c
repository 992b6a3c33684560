/* TCP servers (asyncio.start_server): listening sockets, an accepting task
 * per socket, and a handler task per connection.
 *
 * The server record lives on the heap and keeps every connection on a list,
 * so that closing can stop accepting first, then wait for the handlers
 * (with a grace period), then cancel the rest. When accept runs out of
 * descriptors (EMFILE, ENFILE) the accepting task sleeps, backing off, and
 * tries again: the connections already open keep being served, and nothing
 * spins. */
#define _GNU_SOURCE
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define MAX_LISTENERS 4

typedef struct conn {
    aioc__list link;
    aioc_server *srv;
    aioc_stream *stream;
    aioc_task task;
} conn;

typedef struct listener {
    aioc_server *srv;
    int fd;
} listener;

struct aioc_server {
    aioc_stream_handler fn;
    void *arg;
    size_t stack_size;
    int fds[MAX_LISTENERS];
    listener listeners[MAX_LISTENERS]; /* what each accepting task serves */
    aioc_task acceptors[MAX_LISTENERS];
    int nfds, port;
    aioc__list conns;
    size_t nconns;
    aioc_event idle; /* set while no connection is open */
    bool closing;
};

static void *serve_conn(void *arg) {
    conn *c = arg;
    c->srv->fn(c->stream, c->srv->arg);
    /* flush what the handler left, unless we are being cancelled */
    aioc_scope shield;
    int shielded = aioc_shield_enter(&shield) == 0;
    if (aioc_cancelling())
        aioc_stream_abort(c->stream);
    else
        aioc_stream_close(c->stream);
    if (shielded)
        aioc_scope_exit(&shield);
    aioc_server *srv = c->srv;
    aioc__list_remove(&c->link);
    free(c);
    if (--srv->nconns == 0)
        aioc_event_set(&srv->idle);
    return NULL;
}

static void *accept_loop(void *arg) {
    aioc_server *srv = ((listener *)arg)->srv;
    int fd = ((listener *)arg)->fd;
    double backoff = 0.01;
    while (!srv->closing) {
        int s = aioc_accept(fd, NULL, NULL);
        if (s == -EMFILE || s == -ENFILE || s == -ENOBUFS || s == -ENOMEM) {
            if (aioc_sleep(backoff))
                break; /* out of descriptors: wait, the others go on */
            backoff = backoff < 0.5 ? backoff * 2 : 1.0;
            continue;
        }
        if (s < 0)
            break; /* cancelled (closing), or the socket is gone */
        backoff = 0.01;
        conn *c = calloc(1, sizeof *c);
        aioc_stream *st = c ? aioc_stream_new(s, NULL) : NULL;
        if (!st) {
            free(c);
            aioc_close(s);
            continue;
        }
        c->srv = srv;
        c->stream = st;
        aioc_spawn_opts o = {.name = "conn", .stack_size = srv->stack_size};
        c->task = aioc_spawn_with(serve_conn, c, &o);
        if (aioc_task_error(c->task)) {
            aioc_stream_abort(st);
            free(c);
            continue;
        }
        aioc_detach(c->task);
        aioc__list_push_back(&srv->conns, &c->link);
        if (srv->nconns++ == 0)
            aioc_event_clear(&srv->idle);
    }
    return NULL;
}

static int listen_on(const struct addrinfo *ai, const aioc_server_opts *opts) {
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (opts && opts->reuse_port)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (ai->ai_family == AF_INET6) /* one socket per family */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int backlog = opts && opts->backlog > 0 ? opts->backlog : 511;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static int bound_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

static void close_listeners(aioc_server *srv) {
    for (int i = 0; i < srv->nfds; i++)
        aioc_close(srv->fds[i]);
    srv->nfds = 0;
}

aioc_server *aioc_tcp_serve(const char *host, const char *port, aioc_stream_handler fn,
                            void *arg, const aioc_server_opts *opts, int *errp) {
    int err = 0;
    aioc_server *srv = NULL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *res = NULL;
    if (!fn)
        err = -EINVAL;
    else
        err = aioc_getaddrinfo(host, port, &hints, &res);
    if (!err && !(srv = calloc(1, sizeof *srv)))
        err = -ENOMEM;
    if (err)
        goto out;
    srv->fn = fn;
    srv->arg = arg;
    srv->stack_size = opts ? opts->stack_size : 0;
    aioc__list_init(&srv->conns);
    aioc_event_init(&srv->idle);
    aioc_event_set(&srv->idle);
    for (struct addrinfo *a = res; a && srv->nfds < MAX_LISTENERS; a = a->ai_next) {
        int fd = listen_on(a, opts);
        if (fd < 0) {
            err = fd;
            continue; /* e.g. no IPv6 here: serve on what works */
        }
        srv->fds[srv->nfds++] = fd;
        /* port "0": every family on the port the first one got */
        if (srv->nfds == 1 && (srv->port = bound_port(fd)) > 0 && port && !strcmp(port, "0")) {
            for (struct addrinfo *b = a->ai_next; b; b = b->ai_next) {
                if (b->ai_family == AF_INET)
                    ((struct sockaddr_in *)b->ai_addr)->sin_port = htons((uint16_t)srv->port);
                else if (b->ai_family == AF_INET6)
                    ((struct sockaddr_in6 *)b->ai_addr)->sin6_port = htons((uint16_t)srv->port);
            }
        }
    }
    if (srv->nfds == 0)
        goto out;
    err = 0;
    for (int i = 0; i < srv->nfds; i++) {
        srv->listeners[i] = (listener){srv, srv->fds[i]};
        aioc_spawn_opts o = {.name = "accept"};
        srv->acceptors[i] = aioc_spawn_with(accept_loop, &srv->listeners[i], &o);
        if ((err = aioc_task_error(srv->acceptors[i])))
            break;
    }
out:
    if (res)
        freeaddrinfo(res);
    if (err && srv) {
        for (int i = 0; i < srv->nfds; i++)
            if (aioc_task_error(srv->acceptors[i]) == 0 && srv->acceptors[i].id) {
                aioc_cancel(srv->acceptors[i]);
                aioc_await(srv->acceptors[i], NULL);
            }
        close_listeners(srv);
        free(srv);
        srv = NULL;
    }
    if (errp)
        *errp = err;
    return srv;
}

int aioc_server_port(const aioc_server *srv) { return srv->port; }

size_t aioc_server_connections(const aioc_server *srv) { return srv->nconns; }

int aioc_server_close(aioc_server *srv, double grace) {
    srv->closing = true;
    aioc_scope shield; /* closing must finish, even for a cancelled caller */
    int shielded = aioc_shield_enter(&shield) == 0;
    for (int i = 0; i < srv->nfds; i++) {
        aioc_cancel(srv->acceptors[i]);
        aioc_await(srv->acceptors[i], NULL);
    }
    close_listeners(srv);
    int result = 0;
    aioc_scope wait;
    if (srv->nconns && aioc_scope_enter(&wait, grace) == 0) {
        aioc_event_wait(&srv->idle);
        aioc_scope_exit(&wait);
    }
    if (srv->nconns) { /* out of grace: cancel the rest and wait for them */
        result = -ETIMEDOUT;
        for (aioc__list *n = srv->conns.next; n != &srv->conns; n = n->next)
            aioc_cancel(aioc__container_of(n, conn, link)->task);
        aioc_event_wait(&srv->idle);
    }
    if (shielded)
        aioc_scope_exit(&shield);
    free(srv);
    return result;
}
