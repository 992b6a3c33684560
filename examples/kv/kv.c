/* kv: a Redis-compatible key-value server (Tokio's "mini-redis", in aioc).
 *
 *     kv [--host HOST] [--pubsub-limit BYTES] [--loops N] [PORT]
 *
 * It serves on 127.0.0.1 port 6379 unless told otherwise (PORT 0: any
 * free port), prints "listening on HOST:PORT" once it is ready, and stops
 * on Ctrl-C. Any Redis client talks to it: `redis-cli -p PORT`,
 * redis-benchmark, redis-py, or telnet (inline commands: "PING").
 *
 * Commands: strings (GET, SET with NX/XX/GET/EX/PX/EXAT/PXAT/KEEPTTL, MGET,
 * MSET, APPEND, STRLEN, INCR, DECR, INCRBY, DECRBY), keys (DEL, EXISTS,
 * TYPE, EXPIRE, PEXPIRE, TTL, PTTL, PERSIST), lists (LPUSH, RPUSH, LPOP,
 * RPOP, LLEN, LRANGE), hashes (HSET, HGET, HDEL, HGETALL, HLEN), pub/sub
 * (PUBLISH, SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE), and PING,
 * ECHO, QUIT, DBSIZE, FLUSHALL, FLUSHDB, SELECT 0, and what clients ask on
 * connecting (CONFIG GET, COMMAND, COMMAND DOCS, CLIENT SETNAME), CLIENT
 * ID and CLIENT INFO. There is no persistence: the data lives as long as
 * the process.
 *
 * The shape is Redis's own: one thread, one loop, and the data in plain
 * structures that no lock guards, because only one command runs at a
 * time. Where Redis has a callback per readable socket, aioc has a task
 * per connection (serve, below) whose code reads like a blocking server:
 *
 *     read what has arrived -> run every complete request in it -> write
 *     all their replies at once -> read again
 *
 * so a client that pipelines 100 requests gets its 100 replies in one
 * send. Files: kv.h says which file holds what.
 *
 * With --loops N (a number or "auto": one per CPU) it runs N loops, a
 * thread each, every one listening on the port (SO_REUSEPORT), and stays
 * one keyspace: loop 0 owns all the data and runs every command, the
 * other loops read their connections' requests and write the replies,
 * handing each batch to loop 0 and back by two loop calls (loops.c says
 * how, and why not shards). CLIENT INFO's "loop=" names a connection's
 * loop. */
#define _POSIX_C_SOURCE 200809L
#include "kv.h"
#include "store.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define IN_FIRST (16 * 1024)  /* a client's first input buffer */
#define OUT_FLUSH (64 * 1024) /* replies held back while a batch runs */
#define SWEEP_EVERY 0.1       /* seconds between active expiry sweeps */
#define SWEEP_BUDGET 10.0     /* milliseconds a sweep may take */
#define LINGER 2.0            /* seconds a leaving client has to take its last replies */

size_t pubsub_limit = 32 * 1024 * 1024; /* Redis's client-output-buffer-limit pubsub, hard */

/* ------------------------------------------------------------- writing -- */

/* A subscriber's writer task: sends what collects in c->out, which other
 * clients' PUBLISH fill while this task waits for a slow reader. It ends
 * when cancelled, when sending fails, or when the client is closing and
 * everything has been sent. */
static void *writer(void *arg) {
    client *c = arg;
    kv_buf sending = {0};
    for (;;) {
        if (c->out.len == 0) {
            if (c->quit)
                break;
            aioc_event_clear(&c->wake);
            if (aioc_event_wait(&c->wake))
                break; /* cancelled */
            continue;
        }
        /* take the whole buffer, and leave an empty one for publishers */
        kv_buf take = c->out;
        c->out = sending;
        sending = take;
        int err = aioc_stream_write(c->conn, sending.data, sending.len);
        sending.len = 0;
        if (sending.cap > 1024 * 1024)
            buf_free(&sending); /* after a burst: give the memory back */
        if (err) {
            aioc_cancel(c->task); /* the peer is gone: stop reading it too */
            break;
        }
    }
    buf_free(&sending);
    return NULL;
}

void client_output_ready(client *c) {
    if (c->remote) {
        remote_output_ready(c);
        return;
    }
    if (!c->has_writer || c->dropped)
        return; /* the reading task sends it at the end of its batch */
    size_t queued = c->out.len + aioc_stream_write_buffered(c->conn);
    if (queued > pubsub_limit) {
        /* it does not read what it is sent: drop it, as Redis does when a
         * client passes its output buffer limit, rather than let one slow
         * reader hold ever more of our memory */
        printf("kv: dropped a client that read too slowly (%zu bytes queued)\n", queued);
        fflush(stdout);
        c->dropped = 1;
        buf_free(&c->out);
        aioc_cancel(c->writer);
        aioc_cancel(c->task);
        return;
    }
    aioc_event_set(&c->wake);
}

/* Hands the replies of a batch to the stream (which sends what it is given
 * within a loop turn in one system call), or to the client's writer task
 * once it has subscribed. Returns 0, or an error: the client is gone. */
static int send_replies(client *c) {
    if (c->remote) { /* a proxy on loop 0: the replies go home */
        remote_send(c, 0);
        return 0;
    }
    if (!c->has_writer && pubsub_count(c)) {
        /* from now on PUBLISH may add to c->out at any time */
        c->writer = aioc_spawn(writer, c);
        if (aioc_task_error(c->writer))
            return aioc_task_error(c->writer);
        c->has_writer = 1;
    }
    if (c->has_writer) {
        client_output_ready(c);
        return c->dropped ? -ECONNABORTED : 0;
    }
    if (c->out.len == 0)
        return 0;
    int err = aioc_stream_write(c->conn, c->out.data, c->out.len);
    c->out.len = 0;
    if (c->out.cap > 1024 * 1024)
        buf_free(&c->out); /* a huge reply: give the memory back */
    return err;
}

/* ------------------------------------------------------------- reading -- */

/* Reads what has arrived into c->in, making room first. Returns the count,
 * 0 at the end of the stream, or a negative error. */
static long read_more(client *c) {
    kv_buf *in = &c->in;
    if (in->cap - in->len < IN_FIRST / 4) { /* too little room: double it */
        if (in->cap >= IN_LIMIT) {
            reply_error(&c->out, "ERR Protocol error: request too big");
            return -EMSGSIZE;
        }
        buf_reserve(in, in->cap ? in->cap : IN_FIRST);
    }
    /* a read of 4 KiB or more into an empty stream goes straight into our
     * buffer: no copy */
    long n = aioc_stream_read(c->conn, in->data + in->len, in->cap - in->len);
    if (n > 0)
        in->len += (size_t)n;
    return n;
}

/* Runs every complete request in c->in, replies into c->out. Returns 0,
 * or -1 if the client must be closed (QUIT, a protocol error, a reply
 * that could not be sent). */
int run_requests(client *c) {
    resp_parser *p = &c->parser;
    int r;
    while ((r = resp_parse(p, c->in.data, c->in.len)) == RESP_REQUEST) {
        if (p->argc == 0)
            continue; /* an empty inline line */
        if (c->argcap < p->argc) {
            c->argcap = p->argc;
            c->argv = realloc(c->argv, c->argcap * sizeof *c->argv);
            if (!c->argv)
                abort();
        }
        for (size_t i = 0; i < p->argc; i++)
            c->argv[i] = (kv_arg){c->in.data + p->argv[i].off, p->argv[i].len};
        c->argc = p->argc;
        command_run(c);
        if (c->quit || c->dropped)
            return -1;
        if (c->out.len >= OUT_FLUSH && send_replies(c))
            return -1; /* a long batch: its replies so far go now */
    }
    if (r == RESP_ERROR) { /* Redis answers so, then closes */
        reply_error(&c->out, "ERR Protocol error: %s", p->error);
        return -1;
    }
    /* keep the start of the request still incomplete, at the front */
    size_t done = p->start;
    if (done) {
        memmove(c->in.data, c->in.data + done, c->in.len - done);
        c->in.len -= done;
        resp_shift(p, done);
    }
    if (c->in.len == 0 && c->in.cap > 4 * IN_FIRST)
        buf_free(&c->in); /* after a big request: give the memory back */
    return 0;
}

unsigned long long client_new_id(void) {
    static _Thread_local unsigned long long made; /* by this loop */
    unsigned loops = aioc_loop_count() ? aioc_loop_count() : 1;
    return ++made * loops + aioc_loop_index();
}

/* One connection, in a task of its own (the server's handler). */
static void serve(aioc_stream *conn, void *arg) {
    (void)arg;
    if (aioc_loop_index() != 0) {
        remote_serve(conn); /* its commands run on loop 0 */
        return;
    }
    client c = {.conn = conn, .task = aioc_current(), .parser = {.want = -1}};
    c.id = client_new_id();
    aioc_event_init(&c.wake);
    int alive = 1;
    while (alive) {
        alive = read_more(&c) > 0 && run_requests(&c) == 0;
        if (send_replies(&c)) /* the last ones too: QUIT's +OK, a protocol error */
            alive = 0;
    }
    pubsub_leave(&c); /* PUBLISH no longer finds it */
    multi_leave(&c);  /* nor a write to a key it watched */
    if (c.has_writer) {
        /* Let the writer send what is left, for up to LINGER seconds,
         * unless the client was dropped or the server is closing (this
         * task is cancelled): then it stops at once. Either way it ends
         * before `c`, on this stack, does. */
        int err = 0;
        c.quit = 1;
        aioc_event_set(&c.wake);
        if (!c.dropped) {
            aioc_scope linger;
            aioc_scope_enter(&linger, LINGER);
            err = aioc_await(c.writer, NULL); /* its own status is 0 */
            aioc_scope_exit(&linger);
        }
        if (c.dropped || err) {
            aioc_scope shield;
            aioc_cancel(c.writer);
            aioc_shield_enter(&shield);
            aioc_await(c.writer, NULL);
            aioc_scope_exit(&shield);
        }
    } else if (!c.dropped) {
        /* The server flushes the stream as it closes it; a peer that has
         * not taken the last replies within LINGER seconds is not waited
         * for (cancelled, the handler's stream is aborted instead). */
        aioc_scope linger;
        aioc_scope_enter(&linger, LINGER);
        int err = aioc_stream_drain(conn);
        aioc_scope_exit(&linger);
        if (err == -ETIMEDOUT)
            c.dropped = 1;
    }
    if (c.dropped)
        aioc_cancel(aioc_current()); /* so the server drops the connection, unflushed */
    dict_clear(&c.channels);
    dict_clear(&c.patterns);
    resp_parser_free(&c.parser);
    buf_free(&c.in);
    buf_free(&c.out);
    free(c.argv);
}

/* -------------------------------------------------------------- server -- */

/* Active expiry: a few times a second, free the memory of expired keys
 * nobody has looked up (a lookup deletes an expired key itself). */
static void *sweeper(void *arg) {
    (void)arg;
    while (aioc_sleep(SWEEP_EVERY) == 0)
        store_sweep(SWEEP_BUDGET);
    return NULL;
}

struct config {
    const char *host, *port;
};

/* Several loops: loop 0 binds first (port 0 picks the port there) and
 * hands the port to the others; each tells loop 0 once it listens (or
 * could not), and, at the end, once its connections are all closed.
 * Every field is touched by its own loop only: the calls carry the news. */
static struct {
    char port[16];       /* a sibling's: the port to share ("": give up) */
    aioc_event port_set; /* a sibling's: port is set */
    aioc_event stop;     /* a sibling's: loop 0 gave up */
} sibling[AIOC_LOOPS_MAX];
static unsigned listening, siblings_done; /* loop 0's */
static int sibling_error;                 /* loop 0's: the first sibling that failed */
static aioc_event all_listening = AIOC_EVENT_INIT, all_siblings_done = AIOC_EVENT_INIT;

static void take_port(void *arg) {
    (void)arg;
    aioc_event_set(&sibling[aioc_loop_index()].port_set);
}

static void stop_here(void *arg) {
    (void)arg;
    aioc_event_set(&sibling[aioc_loop_index()].stop);
}

static void one_more_listening(void *arg) { /* on loop 0 */
    int err = (int)(intptr_t)arg;
    if (err && !sibling_error)
        sibling_error = err;
    if (++listening == aioc_loop_count())
        aioc_event_set(&all_listening);
}

static void one_more_done(void *arg) { /* on loop 0 */
    (void)arg;
    if (++siblings_done == aioc_loop_count() - 1)
        aioc_event_set(&all_siblings_done);
}

/* Loop 0 shares the port with the others (NULL: it could not listen),
 * waits until they listen, and returns 0 or the first one's error. */
static int share_port(aioc_server *srv) {
    unsigned loops = aioc_loop_count();
    for (unsigned i = 1; i < loops; i++) {
        if (srv)
            snprintf(sibling[i].port, sizeof sibling[i].port, "%d", aioc_server_port(srv));
        aioc_loop_call(aioc_loop_at(i), take_port, NULL);
    }
    if (!srv)
        return 0;
    listening++;
    if (listening < loops && aioc_event_wait(&all_listening))
        return -ECANCELED;
    if (sibling_error)
        for (unsigned i = 1; i < loops; i++)
            aioc_loop_call(aioc_loop_at(i), stop_here, NULL);
    return sibling_error;
}

static void *server(void *arg) {
    struct config *cfg = arg;
    unsigned index = aioc_loop_index(), loops = aioc_loop_count();
    const char *port = cfg->port;
    if (index > 0) { /* the port loop 0 picked, or nothing if it gave up */
        if (aioc_event_wait(&sibling[index].port_set) || !sibling[index].port[0])
            return NULL;
        port = sibling[index].port;
    }
    aioc_server_opts opts = {.reuse_port = loops > 1};
    int err;
    aioc_server *srv = aioc_tcp_serve(cfg->host, port, serve, NULL, &opts, &err);
    if (!srv)
        fprintf(stderr, "kv: cannot listen on %s port %s: %s\n", cfg->host, port,
                aioc_strerror(err));
    if (index > 0) {
        aioc_loop_call(aioc_loop_at(0), one_more_listening, (void *)(intptr_t)(srv ? 0 : err));
        if (!srv)
            return aioc_fail(err);
        aioc_event_wait(&sibling[index].stop); /* until Ctrl-C, or loop 0 gives up */
        aioc_scope shield;                     /* then close properly, even though cancelled */
        aioc_shield_enter(&shield);
        aioc_server_close(srv, 1.0);
        aioc_loop_call(aioc_loop_at(0), one_more_done, NULL); /* its proxies are gone */
        aioc_scope_exit(&shield);
        return NULL;
    }
    int shared = loops > 1 ? share_port(srv) : 0; /* (siblings give up if !srv) */
    if (!srv)
        return aioc_fail(err);
    if (shared) {
        aioc_server_close(srv, 0);
        return aioc_fail(shared);
    }
    printf("listening on %s:%d\n", cfg->host, aioc_server_port(srv));
    fflush(stdout);
    aioc_task sweep = aioc_spawn(sweeper, NULL);
    aioc_event forever = AIOC_EVENT_INIT;
    aioc_event_wait(&forever); /* until Ctrl-C cancels us */
    aioc_scope shield;         /* then close properly, even though cancelled */
    aioc_shield_enter(&shield);
    aioc_cancel(sweep);
    aioc_await(sweep, NULL);
    aioc_server_close(srv, 1.0);
    if (loops > 1 && siblings_done < loops - 1)
        aioc_event_wait(&all_siblings_done); /* their clients' last commands run here */
    store_flush();
    aioc_scope_exit(&shield);
    return NULL;
}

/* A connection is a descriptor: allow as many as the system lets us. */
static void raise_descriptor_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int usage(void) {
    fprintf(stderr, "usage: kv [--host HOST] [--pubsub-limit BYTES] [--loops N] [PORT]\n");
    return 2;
}

int main(int argc, char **argv) {
    struct config cfg = {"127.0.0.1", "6379"};
    aioc_run_opts opts = {.loops = 1};
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--host") == 0) {
            cfg.host = argv[i + 1];
        } else if (strcmp(argv[i], "--pubsub-limit") == 0) {
            char *end;
            pubsub_limit = strtoull(argv[i + 1], &end, 10);
            if (*end || !pubsub_limit)
                return usage();
        } else if (strcmp(argv[i], "--loops") == 0) {
            const char *n = argv[i + 1];
            opts.loops = strcmp(n, "auto") == 0 ? AIOC_LOOPS_AUTO : (unsigned)atoi(n);
            if (!opts.loops || (opts.loops > AIOC_LOOPS_MAX && opts.loops != AIOC_LOOPS_AUTO)) {
                fprintf(stderr, "kv: --loops: 1 to %u, or auto\n", AIOC_LOOPS_MAX);
                return 2;
            }
        } else {
            return usage();
        }
    }
    if (i < argc)
        cfg.port = argv[i++];
    if (i < argc)
        return usage();
    raise_descriptor_limit();
    commands_init();
    for (unsigned l = 0; l < AIOC_LOOPS_MAX; l++) {
        aioc_event_init(&sibling[l].port_set);
        aioc_event_init(&sibling[l].stop);
    }
    return aioc_run_with(server, &cfg, NULL, &opts) ? 1 : 0;
}
