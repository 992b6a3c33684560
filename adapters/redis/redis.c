/* aioc_redis: hiredis's RESP parser over an aioc stream, one reader task
 * per connection, replies matched to waiting tasks in FIFO order (see
 * aioc_redis.h and docs/architecture.md, "Redis").
 *
 * A connection (aioc_redis) holds its address and a `link`: one socket's
 * stream, parser, queue of waiters and reader task. When the socket breaks
 * the link dies (every waiter fails with its error) and the next command
 * opens a new link; the old one is freed when the last task that still
 * holds it lets go. Waiters are `node`s owned by the link, not by the
 * waiting task's stack: a task that gives up leaves its node behind,
 * marked abandoned, and the reader drops the reply when it comes. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "aioc_redis.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ errors -- */

const char *aioc_redis_strerror(int err) {
    switch (err) {
    case AIOC_REDIS_ESERVER:
        return "the Redis server answered with an error";
    case AIOC_REDIS_EPROTO:
        return "the Redis server's answer is not RESP";
    case AIOC_REDIS_EABORTED:
        return "the transaction was aborted (a WATCHed key changed)";
    case AIOC_REDIS_EADDRESS:
        return "not a Redis address (redis://host:port/db, host:port, unix:/path)";
    case AIOC_REDIS_ERESUBSCRIBED:
        return "the pub/sub connection broke and was made again: messages published "
               "meanwhile were lost";
    default:
        return aioc_strerror(err);
    }
}

void aioc_redis_reply_free(redisReply *reply) {
    if (reply)
        freeReplyObject(reply);
}

/* ----------------------------------------------------------- address -- */

typedef struct cfg {
    char *host, *port, *path; /* path: a Unix socket */
    char *user, *password;
    int db;
    double timeout, backoff_min, backoff_max;
    size_t pubsub_buffer;
    int resubscribe;
} cfg;

static void cfg_free(cfg *c) {
    free(c->host);
    free(c->port);
    free(c->path);
    free(c->user);
    free(c->password);
    memset(c, 0, sizeof *c);
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A malloc'd copy of [p, p+n), %-decoded if `decode`; NULL on a bad
 * escape (errno EINVAL) or no memory. */
static char *dup_span(const char *p, size_t n, int decode) {
    char *s = malloc(n + 1), *o = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (decode && p[i] == '%') {
            if (i + 2 >= n || hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0) {
                free(s);
                errno = EINVAL;
                return NULL;
            }
            *o++ = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
            i += 2;
        } else {
            *o++ = p[i];
        }
    }
    *o = '\0';
    return s;
}

/* host[:port] or [v6]:port at [p, end) into c->host and c->port. */
static int parse_hostport(cfg *c, const char *p, const char *end) {
    const char *hs = p, *he, *colon = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close)
            return AIOC_REDIS_EADDRESS;
        hs = p + 1;
        he = close;
        if (close + 1 < end) {
            if (close[1] != ':')
                return AIOC_REDIS_EADDRESS;
            colon = close + 1;
        }
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        he = colon ? colon : end;
    }
    if (he == hs)
        return AIOC_REDIS_EADDRESS;
    const char *ps = colon ? colon + 1 : "6379";
    const char *pe = colon ? end : ps + 4;
    if (pe == ps || pe - ps > 5)
        return AIOC_REDIS_EADDRESS;
    for (const char *q = ps; q < pe; q++)
        if (*q < '0' || *q > '9')
            return AIOC_REDIS_EADDRESS;
    if (!(c->host = dup_span(hs, (size_t)(he - hs), 0)) ||
        !(c->port = dup_span(ps, (size_t)(pe - ps), 0)))
        return -ENOMEM;
    return 0;
}

static int parse_addr(cfg *c, const char *addr) {
    if (!addr || !*addr)
        return AIOC_REDIS_EADDRESS;
    if (strncmp(addr, "unix:", 5) == 0 || addr[0] == '/') {
        const char *path = addr[0] == '/' ? addr : addr + 5;
        if (strncmp(path, "//", 2) == 0) /* unix:///path */
            path += 2;
        if (!*path)
            return AIOC_REDIS_EADDRESS;
        return (c->path = strdup(path)) ? 0 : -ENOMEM;
    }
    if (strncmp(addr, "redis://", 8) != 0)
        return parse_hostport(c, addr, addr + strlen(addr));
    const char *p = addr + 8, *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) { /* [user]:password@ or password@ */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (colon > p && !(c->user = dup_span(p, (size_t)(colon - p), 1)))
                return errno == EINVAL ? AIOC_REDIS_EADDRESS : -ENOMEM;
            if (!(c->password = dup_span(colon + 1, (size_t)(at - colon - 1), 1)))
                return errno == EINVAL ? AIOC_REDIS_EADDRESS : -ENOMEM;
        } else if (at > p && !(c->password = dup_span(p, (size_t)(at - p), 1))) {
            return errno == EINVAL ? AIOC_REDIS_EADDRESS : -ENOMEM;
        }
        p = at + 1;
    }
    int err = parse_hostport(c, p, end);
    if (err)
        return err;
    if (*end == '/' && end[1] && end[1] != '?' && end[1] != '#') {
        char *stop;
        long db = strtol(end + 1, &stop, 10);
        if (stop == end + 1 || db < 0 || db > 1000000 || (*stop && *stop != '?' && *stop != '#'))
            return AIOC_REDIS_EADDRESS;
        c->db = (int)db;
    }
    return 0;
}

static int cfg_make(cfg *c, const char *addr, const aioc_redis_opts *opts) {
    memset(c, 0, sizeof *c);
    int err = parse_addr(c, addr);
    if (!err && opts && opts->password) {
        free(c->password);
        if (!(c->password = strdup(opts->password)))
            err = -ENOMEM;
    }
    if (!err && opts && opts->username) {
        free(c->user);
        if (!(c->user = strdup(opts->username)))
            err = -ENOMEM;
    }
    if (err) {
        cfg_free(c);
        return err;
    }
    if (opts && opts->db > 0)
        c->db = opts->db;
    c->timeout = opts && opts->connect_timeout != 0 ? opts->connect_timeout : 10.0;
    c->backoff_min = opts && opts->backoff_min > 0 ? opts->backoff_min : 0.05;
    c->backoff_max = opts && opts->backoff_max > 0 ? opts->backoff_max : 2.0;
    if (c->backoff_max < c->backoff_min)
        c->backoff_max = c->backoff_min;
    c->pubsub_buffer = opts && opts->pubsub_buffer ? opts->pubsub_buffer : 1024;
    c->resubscribe = opts && opts->resubscribe;
    return 0;
}

static int cfg_copy(cfg *to, const cfg *from) {
    *to = *from;
    to->host = to->port = to->path = to->user = to->password = NULL;
#define COPY(f)                                                                                    \
    if (from->f && !(to->f = strdup(from->f)))                                                     \
        goto fail;
    COPY(host)
    COPY(port)
    COPY(path)
    COPY(user)
    COPY(password)
#undef COPY
    return 0;
fail:
    cfg_free(to);
    return -ENOMEM;
}

/* --------------------------------------------------------- formatting -- */

/* RESP for one command: "*argc\r\n" then "$len\r\narg\r\n" per argument,
 * appended to the growable buffer `*buf` (`*len` used, `*cap` allocated). */
typedef struct buf {
    char *data;
    size_t len, cap;
    char *stack; /* data's first home, not malloc'd (or NULL) */
} buf;

static int buf_reserve(buf *b, size_t more) {
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    char *d = b->data == b->stack ? malloc(cap) : realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    if (b->data == b->stack && b->len)
        memcpy(d, b->data, b->len);
    b->data = d;
    b->cap = cap;
    return 0;
}

static void buf_free(buf *b) {
    if (b->data != b->stack)
        free(b->data);
}

static int buf_add(buf *b, const void *p, size_t n) {
    if (buf_reserve(b, n))
        return -ENOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* Writes c, then `n` in decimal, then CR LF at `p`; returns the end. */
static char *put_header(char *p, char c, size_t n) {
    char digits[24];
    int k = 0;
    do
        digits[k++] = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    *p++ = c;
    while (k)
        *p++ = digits[--k];
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

static int format_argv(buf *b, int argc, const char *const *argv, const size_t *argvlen) {
    if (argc < 1 || !argv)
        return -EINVAL;
    size_t need = 16;
    for (int i = 0; i < argc; i++) {
        if (!argv[i])
            return -EINVAL;
        need += 24 + (argvlen ? argvlen[i] : strlen(argv[i]));
    }
    if (buf_reserve(b, need))
        return -ENOMEM;
    char *p = put_header(b->data + b->len, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        p = put_header(p, '$', n);
        memcpy(p, argv[i], n);
        p += n;
        *p++ = '\r';
        *p++ = '\n';
    }
    b->len = (size_t)(p - b->data);
    return 0;
}

static int format_fmt(buf *b, const char *fmt, va_list ap) {
    char *cmd = NULL;
    int n = fmt ? redisvFormatCommand(&cmd, fmt, ap) : -2;
    if (n < 0 || !cmd) /* hiredis 0.14 says -1 for a bad format and no memory alike */
        return -EINVAL;
    int err = buf_add(b, cmd, (size_t)n);
    free(cmd);
    return err;
}

/* -------------------------------------------------------------- links -- */

enum { NODE_CMD, NODE_TX, NODE_SUB };
#ifndef FLUSH_EVERY
#define FLUSH_EVERY 16
#endif

/* A task waiting for replies: `expect` more are due to it. */
typedef struct node {
    struct node *next;
    aioc_event ev;
    redisReply *reply; /* the result so far */
    int err;
    int kind;
    unsigned expect;
    int done, abandoned;
} node;

typedef struct link {
    aioc_stream *s;
    int fd; /* the stream's socket, which the reader reads */
    redisReader *rd;
    aioc_lock send; /* a write and its node's place in the queue go together */
    node *head, *tail, *spare;
    int refs;
    int dead, err;
    aioc_task reader;
    /* pub/sub only */
    int pubsub;
    aioc_redis_message **ring;
    size_t cap, first, count;
    long long subs; /* the server's count of our subscriptions */
    unsigned since_flush;
    aioc_event not_empty, not_full;
    char in[16384];
} link;

static node *node_get(link *l) {
    node *n = l->spare;
    if (n)
        l->spare = n->next;
    else if ((n = malloc(sizeof *n)))
        aioc_event_init(&n->ev);
    else
        return NULL;
    aioc_event_clear(&n->ev);
    n->next = NULL;
    n->reply = NULL;
    n->err = 0;
    n->done = n->abandoned = 0;
    return n;
}

static void node_put(link *l, node *n) {
    aioc_redis_reply_free(n->reply);
    n->reply = NULL;
    n->next = l->spare;
    l->spare = n;
}

static void link_free(link *l) {
    aioc_stream_abort(l->s);
    if (l->rd)
        redisReaderFree(l->rd);
    node *lists[2] = {l->head, l->spare};
    for (int i = 0; i < 2; i++)
        for (node *n = lists[i], *next; n; n = next) {
            next = n->next;
            aioc_redis_reply_free(n->reply);
            aioc_event_destroy(&n->ev);
            free(n);
        }
    for (size_t i = 0; i < l->count; i++)
        aioc_redis_message_free(l->ring[(l->first + i) % l->cap]);
    free(l->ring);
    aioc_lock_destroy(&l->send);
    aioc_event_destroy(&l->not_empty);
    aioc_event_destroy(&l->not_full);
    free(l);
}

static void link_unref(link *l) {
    if (--l->refs == 0)
        link_free(l);
}

/* Hands the finished node to its task, or recycles it if the task gave up. */
static void node_complete(link *l, node *n) {
    if (n->abandoned) {
        node_put(l, n);
        return;
    }
    n->done = 1;
    aioc_event_set(&n->ev);
}

/* The link is broken (or closed): every waiter gets `err`, the reader
 * stops, and later calls fail with `err` at once. Idempotent. */
static void link_fail(link *l, int err) {
    if (l->dead)
        return;
    l->dead = 1;
    l->err = err;
    node *n = l->head;
    l->head = l->tail = NULL;
    while (n) {
        node *next = n->next;
        aioc_redis_reply_free(n->reply);
        n->reply = NULL;
        n->err = err;
        node_complete(l, n);
        n = next;
    }
    aioc_event_set(&l->not_empty);
    aioc_event_set(&l->not_full);
    if (aioc_current().id != l->reader.id)
        aioc_cancel(l->reader);
}

static int is_str(const redisReply *r, const char *s) {
    size_t n = strlen(s);
    return r->type == REDIS_REPLY_STRING && r->len == n && memcmp(r->str, s, n) == 0;
}

/* Gives one reply to the node at the head of the queue; 1 once the node
 * has all it expects. */
static int node_take(node *n, redisReply *rep) {
    int error = rep->type == REDIS_REPLY_ERROR;
    if (n->kind == NODE_TX && n->expect > 1) { /* MULTI's +OK, each +QUEUED */
        if (error && !n->reply)
            n->reply = rep; /* the first refusal explains the EXECABORT */
        else
            aioc_redis_reply_free(rep);
        n->expect--;
        return 0;
    }
    if (n->kind == NODE_TX) { /* EXEC's answer */
        if (rep->type == REDIS_REPLY_ARRAY) {
            aioc_redis_reply_free(n->reply);
            n->reply = rep;
        } else if (rep->type == REDIS_REPLY_NIL) {
            aioc_redis_reply_free(n->reply);
            n->reply = NULL;
            aioc_redis_reply_free(rep);
            n->err = AIOC_REDIS_EABORTED;
        } else {
            if (!n->reply && error)
                n->reply = rep;
            else
                aioc_redis_reply_free(rep);
            n->err = AIOC_REDIS_ESERVER;
        }
        n->expect = 0;
        return 1;
    }
    if (n->kind == NODE_SUB && !error) { /* one confirmation each */
        aioc_redis_reply_free(rep);
        return --n->expect == 0;
    }
    aioc_redis_reply_free(n->reply); /* a command's reply; a refusal */
    n->reply = rep;
    n->err = error ? AIOC_REDIS_ESERVER : 0;
    n->expect = 0;
    return 1;
}

/* A pub/sub push: a message for the ring, or a (un)subscribe confirmation
 * for the head waiter. 1 if it was one (taken), 0 if not, or an error. */
static int pubsub_push(link *l, redisReply *rep) {
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    redisReply **e = rep->element;
    int pmessage = is_str(e[0], "pmessage") && rep->elements == 4;
    if (pmessage || (is_str(e[0], "message") && rep->elements == 3)) {
        aioc_redis_message *m = calloc(1, sizeof *m);
        if (!m)
            return -ENOMEM;
        redisReply *ch = e[pmessage ? 2 : 1], *payload = e[pmessage ? 3 : 2];
        m->channel = ch->str;
        m->channel_len = ch->len;
        if (pmessage) {
            m->pattern = e[1]->str;
            m->pattern_len = e[1]->len;
        }
        m->payload = payload->str;
        m->payload_len = payload->len;
        m->reply = rep;
        while (l->count == l->cap && !l->dead) { /* full: stop reading */
            aioc_event_clear(&l->not_full);
            int err = aioc_event_wait(&l->not_full);
            if (err) {
                m->reply = NULL;
                free(m);
                return err;
            }
        }
        if (l->dead) {
            aioc_redis_message_free(m);
            return 1;
        }
        l->ring[(l->first + l->count++) % l->cap] = m;
        aioc_event_set(&l->not_empty);
        return 1;
    }
    if ((is_str(e[0], "subscribe") || is_str(e[0], "psubscribe") || is_str(e[0], "unsubscribe") ||
         is_str(e[0], "punsubscribe")) &&
        e[2]->type == REDIS_REPLY_INTEGER) {
        l->subs = e[2]->integer;
        return 0; /* the head waiter takes it */
    }
    return 0;
}

/* One reply from the server. Returns 0 or an error that breaks the link. */
static int dispatch(link *l, redisReply *rep) {
    if (l->pubsub) {
        int taken = pubsub_push(l, rep);
        if (taken < 0) {
            aioc_redis_reply_free(rep);
            return taken;
        }
        if (taken)
            return 0;
    }
    node *n = l->head;
    if (!n) { /* a reply nobody asked for */
        aioc_redis_reply_free(rep);
        return AIOC_REDIS_EPROTO;
    }
    if (node_take(n, rep)) {
        if (!(l->head = n->next))
            l->tail = NULL;
        node_complete(l, n);
        if (l->pubsub && l->subs == 0 && !l->head)
            aioc_event_set(&l->not_empty); /* the iteration's end */
    }
    return 0;
}

/* Reads the socket itself, not through the stream: a stream read flushes
 * what is buffered first (unless another task is flushing) and may wait
 * for that, and the reader must never wait on the writing side: a server
 * that stops reading while its answers to us go unread would wait for us
 * as we wait for it. This way it cannot happen at all. */
static void *reader_main(void *arg) {
    link *l = arg;
    int err = 0;
    while (!err && !l->dead) {
        long n = aioc_read(l->fd, l->in, sizeof l->in);
        if (n <= 0) {
            err = n == 0 ? -ECONNRESET : (int)n;
            break;
        }
        if (redisReaderFeed(l->rd, l->in, (size_t)n) != REDIS_OK) {
            err = -ENOMEM;
            break;
        }
        for (;;) {
            void *rep = NULL;
            if (redisReaderGetReply(l->rd, &rep) != REDIS_OK) {
                err = l->rd->err == REDIS_ERR_OOM ? -ENOMEM : AIOC_REDIS_EPROTO;
                break;
            }
            if (!rep || (err = dispatch(l, rep)) != 0)
                break;
        }
    }
    link_fail(l, err);
    link_unref(l);
    return NULL;
}

/* Sends `len` bytes of `cmd` as one write and queues a node expecting
 * `expect` replies of `kind`; waits for them. Returns the node's status,
 * with its reply moved to `*reply` (freed if `reply` is NULL). */
static int link_call(link *l, const char *cmd, size_t len, int kind, unsigned expect,
                     redisReply **reply) {
    if (reply)
        *reply = NULL;
    l->refs++;
    int err = aioc_lock_acquire(&l->send);
    if (err)
        goto out;
    node *n = NULL;
    if (l->dead)
        err = l->err;
    else if (!(n = node_get(l)))
        err = -ENOMEM;
    else if ((err = aioc_stream_write(l->s, cmd, len)) == 0 && l->dead)
        err = l->err;
    if (err) {
        if (n)
            node_put(l, n);
        aioc_lock_release(&l->send);
        if (err != -ECANCELED && err != -ETIMEDOUT && err != -ENOMEM)
            link_fail(l, err); /* the socket's error: the link is done */
        goto out;
    }
    n->kind = kind;
    n->expect = expect;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
    aioc_lock_release(&l->send);
    if (++l->since_flush >= FLUSH_EVERY) {
        /* Every 16th command goes out now with those before it, not at the
         * end of the turn: when a burst of replies has woken many tasks,
         * the first ones' next commands reach the server while the others
         * still run, and several batches stay in flight on the connection.
         * Only this task waits if the socket is full. */
        l->since_flush = 0;
        int werr = aioc_stream_drain(l->s);
        if (werr && werr != -ECANCELED && werr != -ETIMEDOUT)
            link_fail(l, werr);
    }

    err = aioc_event_wait(&n->ev);
    if (n->done) { /* even if cancelled meanwhile: the answer came */
        err = n->err;
        if (reply && (err == 0 || err == AIOC_REDIS_ESERVER)) {
            *reply = n->reply;
            n->reply = NULL;
        }
        node_put(l, n);
    } else {
        n->abandoned = 1; /* the reader drops its replies */
    }
out:
    link_unref(l);
    return err;
}

/* Opens a connection and says hello (AUTH, SELECT) within cfg's timeout. */
static int link_open(const cfg *c, int pubsub, link **out) {
    *out = NULL;
    aioc_scope scope;
    int err = aioc_scope_enter(&scope, c->timeout);
    if (err)
        return err;
    link *l = NULL;
    int fd = c->path ? aioc_unix_connect(c->path) : aioc_tcp_connect(c->host, c->port);
    if (fd < 0) {
        err = fd;
        goto out;
    }
    aioc_stream *s = aioc_stream_new(fd, NULL);
    if (!s) {
        aioc_close(fd);
        err = -ENOMEM;
        goto out;
    }
    if (!(l = calloc(1, sizeof *l))) {
        aioc_stream_abort(s);
        err = -ENOMEM;
        goto out;
    }
    l->s = s;
    l->fd = fd;
    l->refs = 1;
    aioc_lock_init(&l->send);
    aioc_event_init(&l->not_empty);
    aioc_event_init(&l->not_full);
    l->pubsub = pubsub;
    l->cap = c->pubsub_buffer;
    if (!(l->rd = redisReaderCreate()) ||
        (pubsub && !(l->ring = malloc(l->cap * sizeof *l->ring)))) {
        err = -ENOMEM;
        goto out;
    }
    aioc_spawn_opts so = {.name = pubsub ? "redis-pubsub-reader" : "redis-reader",
                          .stack_size = 64 << 10};
    l->reader = aioc_spawn_with(reader_main, l, &so);
    if ((err = aioc_task_error(l->reader)) != 0)
        goto out;
    l->refs++; /* the reader's */
    aioc_detach(l->reader);

    buf b = {0};
    if (c->password) {
        const char *argv[3] = {"AUTH", c->user ? c->user : c->password, c->password};
        err = format_argv(&b, c->user ? 3 : 2, argv, NULL);
        if (!err)
            err = link_call(l, b.data, b.len, NODE_CMD, 1, NULL);
        b.len = 0;
    }
    if (!err && c->db > 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", c->db);
        const char *argv[2] = {"SELECT", db};
        err = format_argv(&b, 2, argv, NULL);
        if (!err)
            err = link_call(l, b.data, b.len, NODE_CMD, 1, NULL);
    }
    free(b.data);
out:;
    int expired = aioc_scope_exit(&scope);
    if (err == -ETIMEDOUT || (err && expired == -ETIMEDOUT))
        err = -ETIMEDOUT;
    if (err && l) {
        link_fail(l, err);
        link_unref(l);
        l = NULL;
    }
    *out = l;
    return err;
}

/* -------------------------------------------------------- connections -- */

struct aioc_redis {
    cfg cfg;
    link *link;
    aioc_lock connecting;
    double retry_at, backoff; /* after a failed reconnect */
    int last_err;
};

static void conn_free(aioc_redis *r) {
    cfg_free(&r->cfg);
    aioc_lock_destroy(&r->connecting);
    free(r);
}

static int conn_open(const cfg *c, aioc_redis **out) {
    *out = NULL;
    aioc_redis *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    aioc_lock_init(&r->connecting);
    int err = cfg_copy(&r->cfg, c);
    if (!err)
        err = link_open(&r->cfg, 0, &r->link);
    if (err) {
        conn_free(r);
        return err;
    }
    *out = r;
    return 0;
}

aioc_redis *aioc_redis_connect(const char *addr, const aioc_redis_opts *opts, int *err) {
    aioc_redis *r = NULL;
    cfg c;
    int e = cfg_make(&c, addr, opts);
    if (!e) {
        e = conn_open(&c, &r);
        cfg_free(&c);
    }
    if (err)
        *err = e;
    return e ? NULL : r;
}

int aioc_redis_connected(const aioc_redis *r) { return r && r->link && !r->link->dead; }

static void link_close(link *l) {
    link_fail(l, -ECANCELED);
    link_unref(l);
}

void aioc_redis_close(aioc_redis *r) {
    if (!r)
        return;
    if (r->link)
        link_close(r->link);
    conn_free(r);
}

/* The connection's live link, reconnecting if it died (one task connects,
 * the others wait for it), unless the last attempt failed within the
 * backoff. */
static int conn_link(aioc_redis *r, link **out) {
    if (r->link && !r->link->dead) {
        *out = r->link;
        return 0;
    }
    int err = aioc_lock_acquire(&r->connecting);
    if (err)
        return err;
    if (r->link && r->link->dead) { /* let its socket go now */
        link_unref(r->link);
        r->link = NULL;
    }
    if (!r->link) {
        if (r->retry_at > aioc_now()) {
            err = r->last_err;
        } else {
            link *l;
            err = link_open(&r->cfg, 0, &l);
            if (!err) {
                r->link = l;
                r->backoff = 0;
                r->retry_at = 0;
            } else if (err != -ECANCELED) {
                r->backoff = r->backoff ? r->backoff * 2 : r->cfg.backoff_min;
                if (r->backoff > r->cfg.backoff_max)
                    r->backoff = r->cfg.backoff_max;
                r->retry_at = aioc_now() + r->backoff;
                r->last_err = err;
            }
        }
    }
    aioc_lock_release(&r->connecting);
    if (!err)
        *out = r->link;
    return err;
}

static int conn_call(aioc_redis *r, buf *b, int kind, unsigned expect, redisReply **reply) {
    link *l;
    int err = conn_link(r, &l);
    if (err) {
        if (reply)
            *reply = NULL;
        return err;
    }
    return link_call(l, b->data, b->len, kind, expect, reply);
}

int aioc_redis_command_argv(aioc_redis *r, int argc, const char *const *argv, const size_t *argvlen,
                            redisReply **reply) {
    if (reply)
        *reply = NULL;
    char stack[512];
    buf b = {stack, 0, sizeof stack, stack};
    int err = format_argv(&b, argc, argv, argvlen);
    if (!err)
        err = conn_call(r, &b, NODE_CMD, 1, reply);
    buf_free(&b);
    return err;
}

int aioc_redis_vcommand(aioc_redis *r, redisReply **reply, const char *fmt, va_list ap) {
    if (reply)
        *reply = NULL;
    buf b = {0};
    int err = format_fmt(&b, fmt, ap);
    if (!err)
        err = conn_call(r, &b, NODE_CMD, 1, reply);
    free(b.data);
    return err;
}

int aioc_redis_command(aioc_redis *r, redisReply **reply, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int err = aioc_redis_vcommand(r, reply, fmt, ap);
    va_end(ap);
    return err;
}

/* ------------------------------------------------------- transactions -- */

static const char multi_cmd[] = "*1\r\n$5\r\nMULTI\r\n";
static const char exec_cmd[] = "*1\r\n$4\r\nEXEC\r\n";

struct aioc_redis_tx {
    buf b; /* MULTI and the commands */
    unsigned n;
};

aioc_redis_tx *aioc_redis_tx_new(void) {
    aioc_redis_tx *tx = calloc(1, sizeof *tx);
    if (!tx || buf_add(&tx->b, multi_cmd, sizeof multi_cmd - 1)) {
        free(tx);
        errno = ENOMEM;
        return NULL;
    }
    return tx;
}

int aioc_redis_tx_add_argv(aioc_redis_tx *tx, int argc, const char *const *argv,
                           const size_t *argvlen) {
    if (!tx)
        return -EINVAL;
    size_t before = tx->b.len;
    int err = format_argv(&tx->b, argc, argv, argvlen);
    if (err)
        tx->b.len = before;
    else
        tx->n++;
    return err;
}

int aioc_redis_tx_add(aioc_redis_tx *tx, const char *fmt, ...) {
    if (!tx)
        return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    int err = format_fmt(&tx->b, fmt, ap);
    va_end(ap);
    if (!err)
        tx->n++;
    return err;
}

int aioc_redis_tx_exec(aioc_redis *r, aioc_redis_tx *tx, redisReply **reply) {
    if (reply)
        *reply = NULL;
    if (!tx || tx->n == 0)
        return -EINVAL;
    size_t before = tx->b.len;
    if (buf_add(&tx->b, exec_cmd, sizeof exec_cmd - 1))
        return -ENOMEM;
    int err = conn_call(r, &tx->b, NODE_TX, tx->n + 2, reply);
    tx->b.len = before;
    return err;
}

void aioc_redis_tx_free(aioc_redis_tx *tx) {
    if (!tx)
        return;
    free(tx->b.data);
    free(tx);
}

/* ------------------------------------------------------------ pub/sub -- */

/* A set of names (channels or patterns), kept in the order first asked. */
typedef struct name_set {
    char **v;
    size_t n, cap;
} name_set;

static int names_has(const name_set *set, const char *name) {
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->v[i], name) == 0)
            return 1;
    return 0;
}

static int names_add(name_set *set, const char *const *add, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (names_has(set, add[i]))
            continue;
        if (set->n == set->cap) {
            size_t cap = set->cap ? 2 * set->cap : 8;
            char **v = realloc(set->v, cap * sizeof *v);
            if (!v)
                return -ENOMEM;
            set->v = v;
            set->cap = cap;
        }
        if (!(set->v[set->n] = strdup(add[i])))
            return -ENOMEM;
        set->n++;
    }
    return 0;
}

static void names_remove(name_set *set, const char *const *gone, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < set->n; j++)
            if (strcmp(set->v[j], gone[i]) == 0) {
                free(set->v[j]);
                memmove(set->v + j, set->v + j + 1, (set->n - j - 1) * sizeof *set->v);
                set->n--;
                break;
            }
}

static void names_free(name_set *set) {
    for (size_t i = 0; i < set->n; i++)
        free(set->v[i]);
    free(set->v);
}

struct aioc_redis_pubsub {
    link *link;
    /* with opts->resubscribe: what to connect to again, what was asked
     * for (made again on the new connection), the wait before the next
     * attempt */
    cfg cfg;
    name_set channels, patterns;
    double backoff;
};

aioc_redis_pubsub *aioc_redis_pubsub_connect(const char *addr, const aioc_redis_opts *opts,
                                             int *err) {
    aioc_redis_pubsub *ps = calloc(1, sizeof *ps);
    int e = ps ? cfg_make(&ps->cfg, addr, opts) : -ENOMEM;
    if (!e && (e = link_open(&ps->cfg, 1, &ps->link)) != 0)
        cfg_free(&ps->cfg);
    if (e) {
        free(ps);
        ps = NULL;
    }
    if (err)
        *err = e;
    return ps;
}

/* Sends VERB with `n` names on `l` and waits for the confirmations. */
static int link_subscribe(link *l, const char *verb, const char *const *names, size_t n) {
    const char **argv = malloc((n + 1) * sizeof *argv);
    if (!argv)
        return -ENOMEM;
    argv[0] = verb;
    memcpy(argv + 1, names, n * sizeof *names);
    buf b = {0};
    int err = format_argv(&b, (int)n + 1, argv, NULL);
    free(argv);
    if (!err)
        err = link_call(l, b.data, b.len, NODE_SUB, (unsigned)n, NULL);
    free(b.data);
    return err;
}

/* (un)subscribes, and with resubscribe keeps the set of what is asked for
 * up to date first: a subscription that the broken connection did not
 * take is made on the next one. */
static int pubsub_cmd(aioc_redis_pubsub *ps, const char *verb, const char *const *names, size_t n) {
    if (!ps || n == 0 || n > 100000 || !names)
        return -EINVAL;
    if (ps->cfg.resubscribe) {
        int pattern = verb[0] == 'P'; /* PSUBSCRIBE, PUNSUBSCRIBE */
        name_set *set = pattern ? &ps->patterns : &ps->channels;
        if (verb[pattern] == 'U') {
            names_remove(set, names, n);
        } else {
            int err = names_add(set, names, n);
            if (err)
                return err;
        }
    }
    return link_subscribe(ps->link, verb, names, n);
}

int aioc_redis_subscribe(aioc_redis_pubsub *ps, const char *const *channels, size_t n) {
    return pubsub_cmd(ps, "SUBSCRIBE", channels, n);
}

int aioc_redis_psubscribe(aioc_redis_pubsub *ps, const char *const *patterns, size_t n) {
    return pubsub_cmd(ps, "PSUBSCRIBE", patterns, n);
}

int aioc_redis_unsubscribe(aioc_redis_pubsub *ps, const char *const *channels, size_t n) {
    return pubsub_cmd(ps, "UNSUBSCRIBE", channels, n);
}

int aioc_redis_punsubscribe(aioc_redis_pubsub *ps, const char *const *patterns, size_t n) {
    return pubsub_cmd(ps, "PUNSUBSCRIBE", patterns, n);
}

/* After the connection broke (with resubscribe): waits out the backoff,
 * connects again and subscribes to every channel and pattern asked for.
 * Returns 0 (the new connection replaced the broken one) or the attempt's
 * error (the next waits twice as long, up to backoff_max). */
static int pubsub_reconnect(aioc_redis_pubsub *ps) {
    int err = ps->backoff > 0 ? aioc_sleep(ps->backoff) : 0;
    if (err)
        return err;
    link *l = NULL;
    err = link_open(&ps->cfg, 1, &l);
    if (!err && ps->channels.n)
        err = link_subscribe(l, "SUBSCRIBE", (const char *const *)ps->channels.v, ps->channels.n);
    if (!err && ps->patterns.n)
        err = link_subscribe(l, "PSUBSCRIBE", (const char *const *)ps->patterns.v, ps->patterns.n);
    if (err) {
        if (l)
            link_close(l);
        if (err != -ECANCELED && err != -ETIMEDOUT)
            ps->backoff = ps->backoff == 0                        ? ps->cfg.backoff_min
                          : 2 * ps->backoff > ps->cfg.backoff_max ? ps->cfg.backoff_max
                                                                  : 2 * ps->backoff;
        return err;
    }
    link_close(ps->link);
    ps->link = l;
    ps->backoff = 0;
    return 0;
}

int aioc_redis_pubsub_next(aioc_redis_pubsub *ps, aioc_redis_message **msg) {
    if (msg)
        *msg = NULL;
    if (!ps || !msg)
        return -EINVAL;
    link *l = ps->link;
    for (;;) {
        if (l->count) {
            int was_full = l->count == l->cap;
            *msg = l->ring[l->first];
            l->first = (l->first + 1) % l->cap;
            l->count--;
            if (was_full)
                aioc_event_set(&l->not_full);
            return 0;
        }
        if (l->dead) {
            if (!ps->cfg.resubscribe)
                return l->err;
            int err = pubsub_reconnect(ps);
            if (err)
                return err;
            return AIOC_REDIS_ERESUBSCRIBED;
        }
        if (l->subs == 0 && !l->head)
            return AIOC_EOF;
        aioc_event_clear(&l->not_empty);
        int err = aioc_event_wait(&l->not_empty);
        if (err)
            return err;
    }
}

void aioc_redis_message_free(aioc_redis_message *msg) {
    if (!msg)
        return;
    aioc_redis_reply_free(msg->reply);
    free(msg);
}

void aioc_redis_pubsub_close(aioc_redis_pubsub *ps) {
    if (!ps)
        return;
    link_close(ps->link);
    cfg_free(&ps->cfg);
    names_free(&ps->channels);
    names_free(&ps->patterns);
    free(ps);
}

/* -------------------------------------------------------------- pools -- */

struct aioc_redis_pool {
    cfg cfg;
    aioc_sem permits;
    aioc_redis **idle;
    size_t nidle, open, max;
    double retry_at, backoff;
    int last_err;
};

static int pool_new(const char *addr, const aioc_redis_opts *opts, size_t max_size,
                    aioc_redis_pool **out) {
    *out = NULL;
    if (max_size == 0 || max_size > 1u << 20)
        return -EINVAL;
    aioc_redis_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    int err = cfg_make(&p->cfg, addr, opts);
    if (err) {
        free(p);
        return err;
    }
    if (!(p->idle = malloc(max_size * sizeof *p->idle))) {
        cfg_free(&p->cfg);
        free(p);
        return -ENOMEM;
    }
    p->max = max_size;
    aioc_sem_init(&p->permits, (unsigned)max_size);
    *out = p;
    return 0;
}

aioc_redis_pool *aioc_redis_pool_new(const char *addr, const aioc_redis_opts *opts, size_t max_size,
                                     int *err) {
    aioc_redis_pool *p;
    int e = pool_new(addr, opts, max_size, &p);
    if (err)
        *err = e;
    return p;
}

int aioc_redis_pool_acquire(aioc_redis_pool *p, aioc_redis **out) {
    *out = NULL;
    int err = aioc_sem_acquire(&p->permits);
    if (err)
        return err;
    while (p->nidle) {
        aioc_redis *r = p->idle[--p->nidle];
        if (aioc_redis_connected(r)) {
            *out = r;
            return 0;
        }
        aioc_redis_close(r); /* broke while idle: replaced */
        p->open--;
    }
    if (p->retry_at > aioc_now()) {
        err = p->last_err;
    } else {
        p->open++;
        err = conn_open(&p->cfg, out);
        if (err) {
            p->open--;
            if (err != -ECANCELED) {
                p->backoff = p->backoff ? p->backoff * 2 : p->cfg.backoff_min;
                if (p->backoff > p->cfg.backoff_max)
                    p->backoff = p->cfg.backoff_max;
                p->retry_at = aioc_now() + p->backoff;
                p->last_err = err;
            }
        } else {
            p->backoff = p->retry_at = 0;
        }
    }
    if (err)
        aioc_sem_release(&p->permits);
    return err;
}

void aioc_redis_pool_release(aioc_redis_pool *p, aioc_redis *r) {
    if (!r)
        return;
    if (aioc_redis_connected(r)) {
        p->idle[p->nidle++] = r;
    } else {
        aioc_redis_close(r);
        p->open--;
    }
    aioc_sem_release(&p->permits);
}

int aioc_redis_pool_command_argv(aioc_redis_pool *p, int argc, const char *const *argv,
                                 const size_t *argvlen, redisReply **reply) {
    aioc_redis *r;
    if (reply)
        *reply = NULL;
    int err = aioc_redis_pool_acquire(p, &r);
    if (err)
        return err;
    err = aioc_redis_command_argv(r, argc, argv, argvlen, reply);
    aioc_redis_pool_release(p, r);
    return err;
}

int aioc_redis_pool_command(aioc_redis_pool *p, redisReply **reply, const char *fmt, ...) {
    aioc_redis *r;
    if (reply)
        *reply = NULL;
    int err = aioc_redis_pool_acquire(p, &r);
    if (err)
        return err;
    va_list ap;
    va_start(ap, fmt);
    err = aioc_redis_vcommand(r, reply, fmt, ap);
    va_end(ap);
    aioc_redis_pool_release(p, r);
    return err;
}

size_t aioc_redis_pool_size(const aioc_redis_pool *p) { return p ? p->open : 0; }

void aioc_redis_pool_free(aioc_redis_pool *p) {
    if (!p)
        return;
    while (p->nidle)
        aioc_redis_close(p->idle[--p->nidle]);
    free(p->idle);
    aioc_sem_destroy(&p->permits);
    cfg_free(&p->cfg);
    free(p);
}
