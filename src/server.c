/* Stream servers (asyncio.start_server, start_unix_server): listening
 * sockets (TCP, or one Unix socket), an accepting task per socket, and a
 * handler task per connection.
 *
 * The server record lives on the heap and keeps every connection on a list,
 * so that closing can stop accepting first, then wait for the handlers
 * (with a grace period), then cancel the rest. When accept runs out of
 * descriptors (EMFILE, ENFILE) the accepting task sleeps, backing off, and
 * tries again: the connections already open keep being served, and nothing
 * spins. A server the program never closed is closed when aioc_run ends.
 *
 * A spread server (aioc_server_opts.spread, in a run of several loops)
 * accepts on its own loop only and hands each connection to the loop of
 * the run with the fewest of its connections open: the descriptor travels
 * by a loop call, and that loop makes the stream and the handler task.
 * The counts and what a sibling needs to serve (handler, options) are in
 * a record of their own (spread), shared by reference with the
 * connections, since these may outlive the server. A loop that turns out
 * to have ended (the call fails, or the task cannot be spawned there) is
 * marked gone and chosen no more; the connection in hand is closed. */
#define _GNU_SOURCE
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net.h"
#include "scheduler.h"

#define MAX_LISTENERS 4

/* A spread server's state shared by the loops of the run. Every field but
 * the atomics is constant once made. */
typedef struct spread {
    unsigned refs; /* atomic: the server's, and one per connection */
    unsigned count;
    aioc_stream_handler fn;
    void *arg;
    size_t stack_size;
    aioc_stream_opts stream_opts;
    struct {
        unsigned live; /* atomic: connections open on that loop */
        bool gone;     /* atomic: that loop has ended its tasks */
    } loops[];
} spread;

typedef struct conn {
    aioc__list link;
    aioc_server *srv; /* NULL: served for a sibling's spread server */
    spread *shared;   /* a spread server's: counted in shared->loops[loop] */
    unsigned loop;
    aioc_stream_handler fn;
    void *arg;
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
    aioc_stream_opts stream_opts;
    int fds[MAX_LISTENERS];
    listener listeners[MAX_LISTENERS]; /* what each accepting task serves */
    aioc_task acceptors[MAX_LISTENERS];
    int nfds, port;
    aioc__list conns;
    size_t nconns;
    aioc_event idle; /* set while no connection is open */
    spread *shared;  /* non-NULL: hand connections to the least-loaded loop */
    bool closing;
    bool tcp;                /* TCP_NODELAY for its connections */
    aioc__leftover leftover; /* closed by aioc_run if the program did not */
    char *unix_path;         /* a Unix socket's file, removed on close */
    dev_t unix_dev;          /* ... if it is still the file we bound */
    ino_t unix_ino;
};

static void *serve_conn(void *arg) {
    conn *c = arg;
    c->fn(c->stream, c->arg);
    /* flush what the handler left, unless we are being cancelled */
    aioc_scope shield;
    int shielded = aioc_shield_enter(&shield) == 0;
    if (aioc_cancelling())
        aioc_stream_abort(c->stream);
    else
        aioc_stream_close(c->stream);
    c->stream = NULL;
    if (shielded)
        aioc_scope_exit(&shield);
    return NULL; /* conn_ended does the rest */
}

static void spread_left(struct spread *sp, unsigned loop);

/* Runs when a connection's task ends, however it ends: also for a task
 * cancelled before it started (the loop shutting down), whose stream is
 * still open. */
static void conn_ended(void *arg) {
    conn *c = arg;
    if (c->stream)
        aioc_stream_abort(c->stream);
    aioc_server *srv = c->srv;
    if (c->shared)
        spread_left(c->shared, c->loop);
    if (srv)
        aioc__list_remove(&c->link);
    free(c);
    if (!srv)
        return;
    if (--srv->nconns == 0)
        aioc_event_set(&srv->idle);
}

static aioc_local_key conn_key = {conn_ended};

/* A connection that could not start on `loop` (`err`): its count in
 * `shared` is dropped, and the loop marked gone if it has ended its tasks,
 * before the caller closes the socket, so that a peer who sees the close
 * finds the server's counts without it already. */
static void conn_refused(spread *shared, unsigned loop, int err) {
    if (!shared)
        return;
    if (err == -ESHUTDOWN)
        __atomic_store_n(&shared->loops[loop].gone, true, __ATOMIC_RELAXED);
    spread_left(shared, loop);
}

/* Starts a connection's handler task on this loop, for `srv` (NULL: a
 * sibling's spread server). Owns `s` and, when `shared`, a reference and a
 * count in it: on failure drops the others and closes the one (a loop
 * that has ended its tasks, -ESHUTDOWN, is marked gone first). Returns 0,
 * or the error. */
static int start_conn(aioc_server *srv, spread *shared, unsigned loop, aioc_stream_handler fn,
                      void *arg, size_t stack_size, const aioc_stream_opts *stream_opts, int s) {
    conn *c = calloc(1, sizeof *c);
    aioc_stream *st = c ? aioc_stream_new(s, stream_opts) : NULL;
    if (!st) {
        free(c);
        conn_refused(shared, loop, -ENOMEM);
        aioc_close(s);
        return -ENOMEM;
    }
    *c = (conn){.srv = srv, .shared = shared, .loop = loop, .fn = fn, .arg = arg, .stream = st};
    aioc_spawn_opts o = {.name = "conn", .stack_size = stack_size};
    c->task = aioc_spawn_with(serve_conn, c, &o);
    int err = aioc_task_error(c->task);
    if (err || (err = aioc__local_set_for(c->task, &conn_key, c))) {
        if (aioc_task_error(c->task) == 0) {
            aioc_cancel(c->task); /* not started: it ends without running */
            aioc_detach(c->task);
        }
        conn_refused(shared, loop, err);
        aioc_stream_abort(st);
        free(c);
        return err;
    }
    aioc_detach(c->task);
    if (srv) {
        aioc__list_push_back(&srv->conns, &c->link);
        if (srv->nconns++ == 0)
            aioc_event_clear(&srv->idle);
    }
    return 0;
}

/* ------------------------------------------------ spreading connections -- */

static spread *spread_new(aioc_stream_handler fn, void *arg, const aioc_server_opts *opts,
                          unsigned count) {
    spread *sp = calloc(1, sizeof *sp + count * sizeof sp->loops[0]);
    if (!sp)
        return NULL;
    sp->refs = 1;
    sp->count = count;
    sp->fn = fn;
    sp->arg = arg;
    sp->stack_size = opts->stack_size;
    sp->stream_opts = opts->stream;
    return sp;
}

static void spread_unref(spread *sp) {
    if (sp && __atomic_sub_fetch(&sp->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(sp);
}

/* A connection counted on `loop` has ended (or never started). */
static void spread_left(spread *sp, unsigned loop) {
    __atomic_sub_fetch(&sp->loops[loop].live, 1, __ATOMIC_RELAXED);
    spread_unref(sp);
}

/* The loop with the fewest connections open, of those not gone (`self`,
 * which runs this, is not); the lowest index on a tie. */
static unsigned least_loaded(const spread *sp, unsigned self) {
    unsigned best = self, best_live = __atomic_load_n(&sp->loops[self].live, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < sp->count; i++) {
        if (i == self || __atomic_load_n(&sp->loops[i].gone, __ATOMIC_RELAXED))
            continue;
        unsigned live = __atomic_load_n(&sp->loops[i].live, __ATOMIC_RELAXED);
        if (live < best_live || (live == best_live && i < best)) {
            best = i;
            best_live = live;
        }
    }
    return best;
}

/* A connection on its way to a sibling loop, with a reference to `sp` and
 * a count on `loop`. */
typedef struct handoff {
    spread *sp;
    unsigned loop;
    int fd;
} handoff;

/* On the chosen loop: serve the connection here. A loop that has ended its
 * tasks cannot: the loop is marked gone, and the connection closed. */
static void adopt(void *arg) {
    handoff *h = arg;
    spread *sp = h->sp;
    unsigned loop = h->loop;
    int fd = h->fd;
    free(h);
    start_conn(NULL, sp, loop, sp->fn, sp->arg, sp->stack_size, &sp->stream_opts, fd);
}

/* Gives accepted connection `s` to the least-loaded loop: to a sibling by
 * a loop call, or to this loop's server. */
static void spread_conn(aioc_server *srv, int s) {
    spread *sp = srv->shared;
    unsigned self = aioc_loop_index();
    for (;;) {
        unsigned to = least_loaded(sp, self);
        __atomic_add_fetch(&sp->loops[to].live, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&sp->refs, 1, __ATOMIC_RELAXED);
        if (to == self) {
            start_conn(srv, sp, to, srv->fn, srv->arg, srv->stack_size, &srv->stream_opts, s);
            return;
        }
        handoff *h = malloc(sizeof *h);
        int err = -ENOMEM;
        if (h) {
            *h = (handoff){sp, to, s};
            err = aioc_loop_call(aioc_loop_at(to), adopt, h);
        }
        if (err == 0)
            return;
        free(h);
        spread_left(sp, to);
        if (err != -ESHUTDOWN) { /* out of memory: serve it here */
            __atomic_add_fetch(&sp->loops[self].live, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&sp->refs, 1, __ATOMIC_RELAXED);
            start_conn(srv, sp, self, srv->fn, srv->arg, srv->stack_size, &srv->stream_opts, s);
            return;
        }
        __atomic_store_n(&sp->loops[to].gone, true, __ATOMIC_RELAXED); /* try another */
    }
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
        if (srv->tcp) { /* as asyncio and Go: small writes go out at once */
            int one = 1;
            setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        if (srv->shared)
            spread_conn(srv, s);
        else
            start_conn(srv, NULL, 0, srv->fn, srv->arg, srv->stack_size, &srv->stream_opts, s);
    }
    return NULL;
}

static int listen_on(int family, const struct sockaddr *addr, socklen_t len,
                     const aioc_server_opts *opts) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family != AF_UNIX && opts && opts->reuse_port)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (family == AF_INET6) /* one socket per family */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int backlog = opts && opts->backlog > 0 ? opts->backlog : 511;
    if (bind(fd, addr, len) < 0 || listen(fd, backlog) < 0) {
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

/* Frees the record once no task uses it: listeners closed, acceptors and
 * connection tasks gone. */
static void server_free(aioc_server *srv) {
    close_listeners(srv);
    if (srv->unix_path) {
        struct stat st; /* remove the socket file unless someone replaced it */
        if (stat(srv->unix_path, &st) == 0 && st.st_dev == srv->unix_dev &&
            st.st_ino == srv->unix_ino)
            unlink(srv->unix_path);
        free(srv->unix_path);
    }
    aioc__leftover_remove(&srv->leftover);
    spread_unref(srv->shared);
    free(srv);
}

/* aioc_run ends with the server still open: every task is gone already. */
static void release_server(aioc__leftover *l) {
    server_free(aioc__container_of(l, aioc_server, leftover));
}

static aioc_server *server_new(aioc_stream_handler fn, void *arg, const aioc_server_opts *opts) {
    aioc_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->fn = fn;
    srv->arg = arg;
    srv->stack_size = opts ? opts->stack_size : 0;
    if (opts)
        srv->stream_opts = opts->stream;
    aioc__list_init(&srv->conns);
    aioc__list_init(&srv->leftover.link);
    aioc_event_init(&srv->idle);
    aioc_event_set(&srv->idle);
    if (opts && opts->spread && aioc_loop_count() > 1 &&
        !(srv->shared = spread_new(fn, arg, opts, aioc_loop_count()))) {
        free(srv);
        return NULL;
    }
    return srv;
}

/* Starts an accepting task per listening socket; on failure, stops those
 * started and returns the error (the caller frees the server). */
static int server_start(aioc_server *srv) {
    for (int i = 0; i < srv->nfds; i++) {
        srv->listeners[i] = (listener){srv, srv->fds[i]};
        aioc_spawn_opts o = {.name = "accept"};
        srv->acceptors[i] = aioc_spawn_with(accept_loop, &srv->listeners[i], &o);
        int err = aioc_task_error(srv->acceptors[i]);
        if (err) {
            while (i-- > 0) {
                aioc_cancel(srv->acceptors[i]);
                aioc_await(srv->acceptors[i], NULL);
            }
            return err;
        }
    }
    aioc__leftover_add(aioc__loop_get(), &srv->leftover, release_server);
    return 0;
}

aioc_server *aioc_tcp_serve(const char *host, const char *port, aioc_stream_handler fn, void *arg,
                            const aioc_server_opts *opts, int *errp) {
    int err = 0;
    aioc_server *srv = NULL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *res = NULL;
    if (!fn)
        err = -EINVAL;
    else
        err = aioc_getaddrinfo(host, port, &hints, &res);
    if (!err && !(srv = server_new(fn, arg, opts)))
        err = -ENOMEM;
    if (err)
        goto out;
    srv->tcp = true;
    for (struct addrinfo *a = res; a && srv->nfds < MAX_LISTENERS; a = a->ai_next) {
        int fd = listen_on(a->ai_family, a->ai_addr, a->ai_addrlen, opts);
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
    if (srv->nfds > 0)
        err = server_start(srv);
out:
    if (res)
        freeaddrinfo(res);
    if (err && srv) {
        server_free(srv);
        srv = NULL;
    }
    if (errp)
        *errp = err;
    return srv;
}

/* Is a server listening at this Unix address? A socket file nobody
 * listens on is left over from a process that died: refused. */
static bool unix_in_use(const struct sockaddr_un *addr, socklen_t len) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true;
    bool in_use = connect(fd, (const struct sockaddr *)addr, len) == 0 ||
                  (errno != ECONNREFUSED && errno != ENOENT);
    close(fd);
    return in_use;
}

aioc_server *aioc_unix_serve(const char *path, aioc_stream_handler fn, void *arg,
                             const aioc_server_opts *opts, int *errp) {
    struct sockaddr_un addr;
    socklen_t len;
    int err = aioc__unix_address(path, &addr, &len);
    aioc_server *srv = NULL;
    if (!err && !fn)
        err = -EINVAL;
    if (!err && aioc_current().id == 0)
        err = AIOC_ENOTASK;
    if (!err && !(srv = server_new(fn, arg, opts)))
        err = -ENOMEM;
    if (err)
        goto out;
    bool file = path[0] != '@';
    if (file && !unix_in_use(&addr, len))
        unlink(path); /* stale: its server is gone */
    int fd = listen_on(AF_UNIX, (struct sockaddr *)&addr, len, opts);
    if (fd < 0) {
        err = fd;
        goto out;
    }
    srv->fds[srv->nfds++] = fd;
    struct stat st;
    if (file && fstat(fd, &st) == 0 && stat(path, &st) == 0) {
        srv->unix_dev = st.st_dev;
        srv->unix_ino = st.st_ino;
        if (!(srv->unix_path = strdup(path)))
            err = -ENOMEM;
    }
    if (!err)
        err = server_start(srv);
out:
    if (err && srv) {
        server_free(srv);
        srv = NULL;
    }
    if (errp)
        *errp = err;
    return srv;
}

int aioc_server_port(const aioc_server *srv) { return srv->port; }

size_t aioc_server_connections(const aioc_server *srv) {
    if (!srv->shared)
        return srv->nconns;
    size_t n = 0;
    for (unsigned i = 0; i < srv->shared->count; i++)
        n += __atomic_load_n(&srv->shared->loops[i].live, __ATOMIC_RELAXED);
    return n;
}

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
    server_free(srv);
    return result;
}
