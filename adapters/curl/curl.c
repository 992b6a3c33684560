/* libcurl's multi-socket interface driven by an aioc loop.
 *
 * One multi handle per loop, made on first use and kept in loop-local
 * storage; its destructor cleans it up when aioc_run ends, after every
 * task has ended. A task calling aioc_curl_perform adds its easy handle and
 * waits on an event of its own; whoever drives the multi handle and reads
 * a CURLMSG_DONE removes the handle, stores the result and sets the event.
 *
 * Sockets. CURLMOPT_SOCKETFUNCTION tells which descriptors libcurl wants
 * watched and for what. Each such socket gets up to two small watcher
 * tasks, one per direction, spawned the first time that direction is
 * wanted and kept until libcurl says CURL_POLL_REMOVE. A watcher waits
 * with aioc_wait_readable / aioc_wait_writable inside a cancel scope while
 * its direction is wanted, and on a never-set event while it is not; a
 * change of interest cancels the scope, so it waits again for the new one.
 * Both waits ask poll(2) first, so readiness is level-triggered in effect:
 * data libcurl left unread makes the next wait return at once, and no edge
 * is lost. When ready, the watcher calls curl_multi_socket_action for its
 * socket and direction and then collects completed transfers.
 *
 * aioc registers a descriptor with epoll once and caches that per number,
 * so a socket closed with a plain close(2) would leave a stale registration
 * for the next socket to get the number. Sockets libcurl opens for
 * transfers are made by our CURLOPT_OPENSOCKETFUNCTION and closed by our
 * CURLOPT_CLOSESOCKETFUNCTION, through aioc_close. Any other socket libcurl
 * asks us to watch (the threaded resolver's wake-up pair, which it closes
 * itself) is watched through a duplicate descriptor that we own and close
 * with aioc_close on CURL_POLL_REMOVE: its readiness is the original's, and
 * libcurl's close(2) of the original cannot reach our registration.
 *
 * Timer. CURLMOPT_TIMERFUNCTION arms one aioc_call_later callback (-1
 * cancels it); a 0 ms timeout thus runs at the loop's next turn, never
 * inside libcurl's call. The callback calls curl_multi_socket_action with
 * CURL_SOCKET_TIMEOUT.
 *
 * Nothing here suspends while inside libcurl, which is why libcurl's own
 * callbacks must not suspend either: two tasks inside one multi handle at
 * once is something libcurl refuses. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aioc_curl.h"

typedef struct sock sock;
typedef struct state state;

/* One direction of a socket's watch. */
typedef struct watch {
    sock *s;
    int dir;      /* 0: readable, 1: writable */
    int running;  /* the task exists (it may not have started yet) */
    int in_scope; /* it waits inside `scope`, which a change cancels */
    aioc_scope scope;
    aioc_event never; /* waited on while the direction is not wanted */
} watch;

struct sock {
    sock *next, **prev;
    state *st;
    curl_socket_t fd; /* libcurl's descriptor */
    int wfd;          /* the one we wait on: fd, or our duplicate of it */
    int want;         /* CURL_POLL_IN / CURL_POLL_OUT bits */
    int retired;      /* libcurl no longer watches it */
    watch w[2];
};

/* A transfer whose task waits in aioc_curl_perform. */
typedef struct xfer {
    struct xfer *next;
    CURL *easy;
    CURLcode result;
    int done;
    aioc_event ev;
} xfer;

struct state {
    CURLM *multi;
    sock *socks;
    xfer *xfers;
    aioc_call timer;
    int closing;         /* the loop is ending: watch nothing new */
    unsigned char *ours; /* ours[fd]: opened by open_socket */
    size_t nours;
    long in_flight, most; /* transfers now, and the most at once */
};

static void state_free(void *p);
static aioc_local_key key = {state_free};

/* ------------------------------------------------------- error codes -- */

int aioc_curl_error(CURLcode code) {
    switch (code) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    default:
        if ((int)code < 0 || (int)code > AIOC_CURL_EMAX_CODE)
            return AIOC_CURL_EBASE - AIOC_CURL_EMAX_CODE;
        return AIOC_CURL_EBASE - (int)code;
    }
}

int aioc_curl_code(int err) {
    if (err <= AIOC_CURL_EBASE && err >= AIOC_CURL_EBASE - AIOC_CURL_EMAX_CODE)
        return AIOC_CURL_EBASE - err;
    return -1;
}

const char *aioc_curl_strerror(int err) {
    int code = aioc_curl_code(err);
    return code >= 0 ? curl_easy_strerror((CURLcode)code) : aioc_strerror(err);
}

/* ----------------------------------------------------- owned sockets -- */

static state *current_state(void) { return aioc_loop_local_get(&key); }

static void mark_ours(state *st, int fd, int on) {
    if (!st || fd < 0)
        return;
    if ((size_t)fd >= st->nours) {
        if (!on)
            return;
        size_t n = st->nours ? st->nours : 64;
        while (n <= (size_t)fd)
            n *= 2;
        unsigned char *p = realloc(st->ours, n);
        if (!p)
            return; /* then it is watched through a duplicate: still right */
        memset(p + st->nours, 0, n - st->nours);
        st->ours = p;
        st->nours = n;
    }
    st->ours[fd] = (unsigned char)on;
}

static int is_ours(state *st, int fd) { return fd >= 0 && (size_t)fd < st->nours && st->ours[fd]; }

/* The state is looked up, not passed as clientp: the easy handle keeps
 * these callbacks after the loop has ended, and then they are plain. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
    (void)clientp;
    (void)purpose;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    mark_ours(current_state(), fd, 1);
    return fd;
}

static int close_socket(void *clientp, curl_socket_t fd) {
    (void)clientp;
    mark_ours(current_state(), fd, 0);
    return aioc_close(fd) ? 1 : 0;
}

/* ----------------------------------------------------------- driving -- */

/* Hands every finished transfer back to its task. */
static void collect(state *st) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(st->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode result = m->data.result;
        xfer **pp = &st->xfers;
        while (*pp && (*pp)->easy != easy)
            pp = &(*pp)->next;
        curl_multi_remove_handle(st->multi, easy); /* frees `m` */
        if (*pp) {
            xfer *x = *pp;
            *pp = x->next;
            x->result = result;
            x->done = 1;
            aioc_event_set(&x->ev);
        }
    }
}

static void drive(state *st, curl_socket_t fd, int events) {
    int running;
    curl_multi_socket_action(st->multi, fd, events, &running);
    collect(st);
}

static void on_timeout(void *arg) {
    state *st = arg;
    st->timer.id = 0;
    drive(st, CURL_SOCKET_TIMEOUT, 0);
}

static int on_timer(CURLM *multi, long ms, void *userp) {
    (void)multi;
    state *st = userp;
    if (st->timer.id)
        aioc_call_cancel(st->timer);
    st->timer.id = 0;
    if (ms < 0 || st->closing)
        return 0;
    st->timer = aioc_call_later((double)ms / 1000.0, on_timeout, st);
    if (aioc_call_error(st->timer)) {
        st->timer.id = 0;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- watchers -- */

static void sock_free(sock *s) {
    if ((*s->prev = s->next))
        s->next->prev = s->prev;
    if (s->wfd != s->fd && s->wfd >= 0)
        aioc_close(s->wfd);
    aioc_event_destroy(&s->w[0].never);
    aioc_event_destroy(&s->w[1].never);
    free(s);
}

static void poke(watch *w) {
    if (w->running && w->in_scope)
        aioc_scope_cancel(w->scope);
}

static void *watcher(void *arg) {
    watch *w = arg;
    sock *s = w->s;
    int bit = w->dir ? CURL_POLL_OUT : CURL_POLL_IN;
    while (!s->retired) {
        if (aioc_scope_enter(&w->scope, INFINITY))
            break;
        w->in_scope = 1;
        int err;
        if (!(s->want & bit))
            err = aioc_event_wait(&w->never);
        else if (w->dir)
            err = aioc_wait_writable(s->wfd);
        else
            err = aioc_wait_readable(s->wfd);
        w->in_scope = 0;
        int serr = aioc_scope_exit(&w->scope);
        if (s->retired)
            break;
        if (!err) {
            if (s->want & bit)
                drive(s->st, s->fd, w->dir ? CURL_CSELECT_OUT : CURL_CSELECT_IN);
            continue;
        }
        if (err == -ECANCELED && serr == -ECANCELED)
            continue;          /* poked: the interest changed */
        if (err != -ECANCELED) /* the descriptor failed under us */
            drive(s->st, s->fd, CURL_CSELECT_ERR);
        break; /* or the task itself is cancelled: the loop is ending */
    }
    w->running = 0;
    if (s->retired && !s->w[0].running && !s->w[1].running)
        sock_free(s);
    return NULL;
}

static sock *sock_new(state *st, curl_socket_t fd) {
    sock *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->st = st;
    s->fd = fd;
    s->wfd = fd;
    if (!is_ours(st, fd)) {
        s->wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (s->wfd < 0) {
            free(s);
            return NULL;
        }
    }
    for (int d = 0; d < 2; d++) {
        s->w[d].s = s;
        s->w[d].dir = d;
        aioc_event_init(&s->w[d].never);
    }
    if ((s->next = st->socks))
        s->next->prev = &s->next;
    s->prev = &st->socks;
    st->socks = s;
    return s;
}

static void retire(sock *s) {
    s->retired = 1;
    s->want = 0;
    poke(&s->w[0]);
    poke(&s->w[1]);
    if (!s->w[0].running && !s->w[1].running)
        sock_free(s);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    state *st = userp;
    sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(st->multi, fd, NULL);
            retire(s);
        }
        return 0;
    }
    if (st->closing)
        return 0;
    if (!s) {
        if (!(s = sock_new(st, fd)))
            return -1;
        curl_multi_assign(st->multi, fd, s);
    }
    int old = s->want;
    s->want = what & (CURL_POLL_IN | CURL_POLL_OUT);
    for (int d = 0; d < 2; d++) {
        watch *w = &s->w[d];
        int bit = d ? CURL_POLL_OUT : CURL_POLL_IN;
        if ((s->want & bit) && !w->running) {
            aioc_spawn_opts o = {.name = d ? "curl-write" : "curl-read"};
            aioc_task t = aioc_spawn_with(watcher, w, &o);
            if (aioc_task_error(t))
                return -1;
            w->running = 1;
            aioc_detach(t);
        } else if ((s->want ^ old) & bit) {
            poke(w);
        }
    }
    return 0;
}

/* ------------------------------------------------------------- state -- */

static void state_free(void *p) {
    state *st = p;
    st->closing = 1;
    if (st->timer.id)
        aioc_call_cancel(st->timer);
    st->timer.id = 0;
    curl_multi_cleanup(st->multi); /* closes the cached connections */
    while (st->socks)
        sock_free(st->socks);
    free(st->ours);
    free(st);
    curl_global_cleanup();
}

static state *get_state(int *err) {
    state *st = current_state();
    if (st)
        return st;
    *err = -ENOMEM;
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return NULL;
    if (!(st = calloc(1, sizeof *st)) || !(st->multi = curl_multi_init())) {
        free(st);
        curl_global_cleanup();
        return NULL;
    }
    curl_multi_setopt(st->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(st->multi, CURLMOPT_SOCKETDATA, st);
    curl_multi_setopt(st->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(st->multi, CURLMOPT_TIMERDATA, st);
    if ((*err = aioc_loop_local_set(&key, st))) {
        curl_multi_cleanup(st->multi);
        free(st);
        curl_global_cleanup();
        return NULL;
    }
    return st;
}

CURLM *aioc_curl_multi(void) {
    int err;
    if (!aioc_loop_current())
        return NULL;
    state *st = get_state(&err);
    return st ? st->multi : NULL;
}

/* ----------------------------------------------------------- perform -- */

/* CURLE_COULDNT_CONNECT carries the system's reason: give that. */
static int result_error(CURL *easy, CURLcode code) {
    if (code == CURLE_COULDNT_CONNECT) {
        long os = 0;
        if (curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os) == CURLE_OK && os > 0 && os < 4096)
            return -(int)os;
    }
    return aioc_curl_error(code);
}

int aioc_curl_perform(CURL *easy) {
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    if (!easy)
        return -EINVAL;
    int err;
    state *st = get_state(&err);
    if (!st)
        return err;
    xfer x = {.easy = easy};
    CURLMcode mc = curl_multi_add_handle(st->multi, easy);
    if (mc != CURLM_OK)
        return mc == CURLM_ADDED_ALREADY ? -EBUSY : mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
    /* libcurl sizes its connection cache at 4 connections per handle added
     * at the moment, and each transfer here adds and removes its own: size
     * it by the most transfers run at once instead, or a burst's
     * connections are closed and made again for the next (10x the connects
     * measured with 100 in flight). */
    if (++st->in_flight > st->most) {
        st->most = st->in_flight;
        curl_multi_setopt(st->multi, CURLMOPT_MAXCONNECTS, 4 * st->most);
    }
    /* Set once it is ours (not while another transfer runs it), before
     * the loop's next turn starts it: a connection takes them when made. */
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, NULL);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, NULL);
    aioc_event_init(&x.ev);
    x.next = st->xfers;
    st->xfers = &x;
    /* Adding armed a 0 ms timer: the loop starts the transfer. */
    err = aioc_event_wait(&x.ev);
    st->in_flight--;
    if (!x.done) {
        xfer **pp = &st->xfers;
        while (*pp != &x)
            pp = &(*pp)->next;
        *pp = x.next;
        curl_multi_remove_handle(st->multi, easy);
        aioc_event_destroy(&x.ev);
        return err ? err : -ECANCELED;
    }
    aioc_event_destroy(&x.ev);
    return result_error(easy, x.result);
}
