/* PostgreSQL connections through libpq's asynchronous API, pipelined.
 *
 * Connecting. The conninfo (key=value or URL) is parsed by libpq; each
 * host name is resolved with aioc_getaddrinfo and passed as `hostaddr`, so
 * libpq never does a blocking lookup; PQconnectStartParams and
 * PQconnectPoll then run with the task waiting on the socket that
 * PQconnectPoll asks for (it may change between attempts).
 *
 * The socket. libpq owns its descriptor and closes it with close(2), but
 * aioc registers a descriptor with epoll once and caches that by number.
 * So we wait on a duplicate (dup(2)) that we own and close with aioc_close:
 * its readiness is the original's (one open file description), and libpq's
 * close of the original cannot leave a stale registration behind.
 *
 * Pipelining. After connecting, the connection enters pipeline mode and
 * stays in it. A task's query is put into libpq's output from the task
 * (PQsendQueryParams), and a request for it joins the connection's FIFO of
 * queries sent; the flusher task closes each loop turn's batch with one
 * PQpipelineSync, which sends it. One reader task per connection reads
 * replies as they come (PQconsumeInput, then PQgetResult while not busy)
 * and hands each to its request: its results, and the NULL after each
 * statement; PGRES_PIPELINE_SYNC completes the batch and wakes its tasks.
 * A failed batch's other queries are sent again, each alone (pipe.c), so
 * that an error aborts nothing but its own query. When libpq could not
 * send everything at once, the flusher waits for room and flushes, while
 * the reader goes on reading (a server blocked writing to us would
 * otherwise never read what we send).
 *
 * Cancelling. A request whose task gave up stays in the FIFO, marked
 * abandoned: the reader reads its reply and drops it. When it is at the
 * head (the query the server runs now), a detached task sends PQcancel
 * from the thread pool (libpq 15 has no non-blocking cancel), so that a
 * long query does not hold up the ones behind it.
 *
 * Lifetimes. A request is malloc'd; the task that waits frees it, unless
 * it gave up, and then the reader (or aioc_pg_close) does. A woken task
 * never touches the connection again, so aioc_pg_close may free it as soon
 * as every request is completed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aioc_pg.h"
#include "pg_internal.h"

/* ------------------------------------------------------------ errors -- */

const char *aioc_pg_strerror(int err) {
    switch (err) {
    case AIOC_PG_ESERVER:
        return "PostgreSQL server error (see the result's SQLSTATE and message)";
    case AIOC_PG_ECONNECT:
        return "could not connect to the PostgreSQL server";
    case AIOC_PG_EBROKEN:
        return "PostgreSQL connection broken or closed";
    case AIOC_PG_EPROTOCOL:
        return "unexpected reply from the PostgreSQL server";
    default:
        return aioc_strerror(err);
    }
}

static void set_msg(char *buf, size_t n, const char *msg) {
    if (!buf || !n)
        return;
    size_t len = strlen(msg);
    while (len && msg[len - 1] == '\n')
        len--; /* libpq's messages end with a newline */
    if (len >= n)
        len = n - 1;
    memcpy(buf, msg, len);
    buf[len] = 0;
}

/* -------------------------------------------------------- connecting -- */

/* Resolves each host of `host` (a comma-separated list, as libpq takes)
 * that is a name into a hostaddr list of as many entries (libpq requires
 * the same count), numeric; an entry stays empty for a Unix socket
 * directory or an empty host, which libpq handles without a lookup. The
 * port does not matter to the address, so none is asked for. */
static int resolve_hosts(const char *host, char **out) {
    size_t cap = 1, len = 0;
    for (const char *p = host; *p; p++)
        cap += *p == ',' ? NI_MAXHOST + 1 : 0;
    cap += NI_MAXHOST + 1;
    char *addrs = malloc(cap);
    if (!addrs)
        return -ENOMEM;
    addrs[0] = 0;
    const char *h = host;
    for (;;) {
        const char *end = strchr(h, ',');
        size_t n = end ? (size_t)(end - h) : strlen(h);
        char name[NI_MAXHOST], one[NI_MAXHOST] = "";
        if (n >= sizeof name) {
            free(addrs);
            return AIOC_EAI_BASE + EAI_NONAME;
        }
        memcpy(name, h, n);
        name[n] = 0;
        if (name[0] && name[0] != '/' && name[0] != '@') {
            struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
            int err = aioc_getaddrinfo(name, "5432", &hints, &res);
            if (err) {
                free(addrs);
                return err;
            }
            /* numeric: getnameinfo does no lookup */
            if (getnameinfo(res->ai_addr, res->ai_addrlen, one, sizeof one, NULL, 0,
                            NI_NUMERICHOST))
                one[0] = 0;
            freeaddrinfo(res);
        }
        len += (size_t)snprintf(addrs + len, cap - len, "%s%s", h == host ? "" : ",", one);
        if (!end)
            break;
        h = end + 1;
    }
    *out = addrs;
    return 0;
}

/* Points c->wfd at a duplicate of libpq's current socket. */
static int watch_socket(aioc_pg_conn *c) {
    int fd = PQsocket(c->pg);
    if (fd == c->pgfd && c->wfd >= 0)
        return 0;
    if (c->wfd >= 0)
        aioc_close(c->wfd);
    c->wfd = -1;
    c->pgfd = fd;
    if (fd < 0)
        return 0;
    c->wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return c->wfd < 0 ? -errno : 0;
}

static void conn_free(aioc_pg_conn *c) {
    if (c->wfd >= 0)
        aioc_close(c->wfd);
    if (c->pg)
        PQfinish(c->pg);
    pg__stmt_cache_free(c);
    if (c->notifies) {
        void *n;
        while (aioc_queue_try_get(c->notifies, &n) == 0)
            PQfreemem(n);
        aioc_queue_free(c->notifies, NULL, NULL);
    }
    free(c);
}

static int pg_connect(const char *conninfo, aioc_pg_conn **out, char *errbuf, size_t errlen) {
    *out = NULL;
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &perr);
    if (!opts) {
        set_msg(errbuf, errlen, perr ? perr : "out of memory");
        int err = perr ? -EINVAL : -ENOMEM;
        PQfreemem(perr);
        return err;
    }
    size_t n = 0;
    const char *host = NULL, *hostaddr = NULL;
    double timeout = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        n++;
        if (!o->val)
            continue;
        if (!strcmp(o->keyword, "host"))
            host = o->val;
        else if (!strcmp(o->keyword, "hostaddr"))
            hostaddr = o->val;
        else if (!strcmp(o->keyword, "connect_timeout"))
            timeout = atof(o->val);
    }
    char *addrs = NULL;
    int err = 0;
    if (host && *host && !(hostaddr && *hostaddr))
        err = resolve_hosts(host, &addrs);
    const char **keys = calloc(n + 2, sizeof *keys);
    const char **vals = calloc(n + 2, sizeof *vals);
    aioc_pg_conn *c = calloc(1, sizeof *c);
    if (!err && (!keys || !vals || !c))
        err = -ENOMEM;
    if (err) {
        if (err != -ENOMEM)
            set_msg(errbuf, errlen, aioc_strerror(err));
        goto out;
    }
    size_t k = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || (addrs && !strcmp(o->keyword, "hostaddr")))
            continue;
        keys[k] = o->keyword;
        vals[k++] = o->val;
    }
    if (addrs && *addrs && strspn(addrs, ",") != strlen(addrs)) {
        keys[k] = "hostaddr";
        vals[k++] = addrs;
    }
    c->wfd = c->pgfd = -1;
    c->pg = PQconnectStartParams(keys, vals, 0);
    if (!c->pg) {
        err = -ENOMEM;
        goto out;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    if (PQstatus(c->pg) == CONNECTION_BAD)
        st = PGRES_POLLING_FAILED;
    /* connect_timeout is libpq's blocking loop's, not PQconnectPoll's: a
     * deadline of ours for each address tried (a new socket), at least 2 s
     * as libpq has it */
    aioc_scope scope;
    int scoped = timeout > 0 && aioc_scope_enter(&scope, timeout < 2 ? 2 : timeout) == 0;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int fd = c->pgfd;
        err = watch_socket(c);
        if (!err && scoped && c->pgfd != fd)
            aioc_scope_reschedule(scope, timeout < 2 ? 2 : timeout);
        if (!err)
            err = st == PGRES_POLLING_READING ? aioc_wait_readable(c->wfd)
                                              : aioc_wait_writable(c->wfd);
        if (err)
            break;
        st = PQconnectPoll(c->pg);
    }
    if (scoped) {
        int e = aioc_scope_exit(&scope);
        if (!err && e)
            err = e;
    }
    if (!err && st == PGRES_POLLING_FAILED)
        err = AIOC_PG_ECONNECT;
    if (!err)
        err = watch_socket(c);
    if (!err && (PQsetnonblocking(c->pg, 1) || !PQenterPipelineMode(c->pg)))
        err = AIOC_PG_ECONNECT;
    if (err == AIOC_PG_ECONNECT)
        set_msg(errbuf, errlen, PQerrorMessage(c->pg));
    else if (err)
        set_msg(errbuf, errlen, aioc_strerror(err));
    if (!err)
        err = pg__conn_start(c);
out:
    free(keys);
    free(vals);
    free(addrs);
    PQconninfoFree(opts);
    if (err) {
        if (c)
            conn_free(c);
        return err;
    }
    *out = c;
    return 0;
}

aioc_pg_conn *aioc_pg_connect(const char *conninfo, char *errbuf, size_t errlen, int *err) {
    aioc_pg_conn *c;
    int e = pg_connect(conninfo, &c, errbuf, errlen);
    if (err)
        *err = e;
    return c;
}

PGconn *aioc_pg_pgconn(aioc_pg_conn *c) { return c ? c->pg : NULL; }

int aioc_pg_ok(const aioc_pg_conn *c) {
    return c && !c->broken && !c->closing && PQstatus(c->pg) == CONNECTION_OK;
}

const char *aioc_pg_conn_message(const aioc_pg_conn *c) {
    return c && c->pg ? PQerrorMessage(c->pg) : "";
}

size_t aioc_pg_in_flight(const aioc_pg_conn *c) { return c ? c->in_flight : 0; }

void aioc_pg_close(aioc_pg_conn *c) {
    if (!c)
        return;
    aioc_scope shield;
    int shielded = aioc_shield_enter(&shield) == 0;
    c->closing = 1;
    pg__fail_all(c, AIOC_PG_EBROKEN);
    pg__conn_stop(c);
    if (shielded)
        aioc_scope_exit(&shield);
    conn_free(c);
}
