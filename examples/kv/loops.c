/* kv on several loops (--loops N): connections on every loop, commands on
 * loop 0.
 *
 * The keyspace, the channels and the transactions stay what they are with
 * one loop: plain structures that only loop 0's thread touches, so no lock
 * guards them and every command still runs from start to end without
 * another in between. INCR is atomic, MULTI/EXEC is atomic, WATCH sees
 * every write, expiry (lazy and the sweep) works, MGET/MSET/DEL over any
 * keys need nothing special, and PUBLISH reaches every subscriber: all of
 * it is loop 0's. (Sharding the keys by hash over the loops would spread
 * the commands too, but every multi-key command, transaction and WATCH
 * would then have to coordinate owners: not worth it in an example.)
 *
 * What the other loops take off loop 0 is the connections: every loop
 * listens on the port (SO_REUSEPORT: the kernel spreads connections over
 * them, with no hand-off; all loops serve alike, so aioc_server_opts.spread
 * would only add a loop call per connection), reads its connections'
 * requests, and writes their replies. A connection on loop 0 runs its
 * commands in place, as with one loop; one on loop K has a proxy client on
 * loop 0 (the `client` of kv.h, without a stream), which holds its parser,
 * subscriptions and transaction state:
 *
 *   loop K: read what has arrived -> one loop call takes the bytes to
 *   loop 0, which parses them and runs every complete request into the
 *   proxy's output -> one loop call brings the replies back -> loop K's
 *   writer task sends them -> read again
 *
 * so a pipelined batch costs two loop calls, whatever its size, and the
 * replies keep the order of the requests: a connection has one batch out
 * at a time, loop 0 runs it in order, and the calls from one loop to
 * another run in the order they were made. The next read waits until the
 * batch's replies are handed to the stream, as with one loop, so a client
 * that sends without reading is slowed down (TCP's back-pressure) instead
 * of filling our memory.
 *
 * PUBLISH to a subscriber on loop K adds to its proxy's output; the
 * proxies that got some are sent home once per loop turn (a loop call
 * each, however many messages), in order with the replies. Loop K counts
 * what waits for the subscriber's socket and drops it past --pubsub-limit.
 *
 * When the connection ends, loop K says goodbye to loop 0, which takes
 * the proxy out of the channels and watches, frees it, and acknowledges;
 * every call loop 0 made for that connection arrives before the
 * acknowledgement, so loop K frees its side only then. At Ctrl-C each
 * loop closes its server and tells loop 0 once its connections are gone;
 * loop 0 frees the keyspace only after all have. */
#define _POSIX_C_SOURCE 200809L
#include "kv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_SIZE (16 * 1024) /* bytes read at a time on a connection's loop */
#define LINGER 2.0            /* seconds a leaving client has to take its last replies */

/* ------------------------------------------ the connection's loop (K) -- */

/* A connection's side on its own loop. */
typedef struct remote {
    aioc_stream *conn;
    client *proxy;    /* loop 0's: only handed back to it */
    kv_buf out;       /* replies and messages not yet given to the stream */
    size_t arrived;   /* bytes that came back from loop 0, in all */
    size_t sent;      /* bytes the writer gave to the stream, in all */
    size_t batch_end; /* `arrived` when the last batch's replies were in */
    int batch_done;   /* loop 0 has run the last batch */
    int closing;      /* QUIT, a protocol error: no more requests */
    int bye;          /* loop 0 has forgotten the proxy */
    int dropped;      /* it reads its messages too slowly */
    int finishing;    /* the writer sends what is left, then ends */
    aioc_event news;  /* the reader's: any of the above changed */
    aioc_event wake;  /* the writer's: `out` has bytes, or `finishing` */
    aioc_task reader, writer;
} remote;

/* What loop 0 sends home: replies (or messages), and what happened. */
enum { BATCH_DONE = 1, CLOSE = 2, BYE = 4, PUSHED = 8 };
typedef struct going_home {
    remote *r;
    int flags;
    size_t len;
    char data[];
} going_home;

/* What a connection's loop sends to loop 0: bytes read, or goodbye. */
typedef struct to_owner {
    client *proxy;
    int bye;
    size_t len;
    char data[];
} to_owner;

static void owner_run(void *arg);

/* On the connection's loop: what loop 0 sent. */
static void arrive(void *arg) {
    going_home *m = arg;
    remote *r = m->r;
    if (m->len && !r->dropped && !r->finishing) {
        buf_append(&r->out, m->data, m->len);
        aioc_event_set(&r->wake);
    }
    r->arrived += m->len;
    if ((m->flags & PUSHED) && !r->dropped) {
        size_t queued = r->out.len + aioc_stream_write_buffered(r->conn);
        if (queued > pubsub_limit) { /* as kv.c's client_output_ready */
            printf("kv: dropped a client that read too slowly (%zu bytes queued)\n", queued);
            fflush(stdout);
            r->dropped = 1;
            buf_free(&r->out);
            aioc_cancel(r->writer);
            aioc_cancel(r->reader);
        }
    }
    if (m->flags & BATCH_DONE) {
        r->batch_end = r->arrived;
        r->batch_done = 1;
    }
    if (m->flags & CLOSE)
        r->closing = 1;
    if (m->flags & BYE)
        r->bye = 1;
    aioc_event_set(&r->news);
    free(m);
}

/* The connection's writer task: sends what arrives, in order. */
static void *remote_writer(void *arg) {
    remote *r = arg;
    kv_buf sending = {0};
    for (;;) {
        if (r->out.len == 0) {
            if (r->finishing)
                break;
            aioc_event_clear(&r->wake);
            if (aioc_event_wait(&r->wake))
                break; /* cancelled */
            continue;
        }
        kv_buf take = r->out; /* take it all, leave an empty one */
        r->out = sending;
        sending = take;
        int err = aioc_stream_write(r->conn, sending.data, sending.len);
        r->sent += sending.len;
        sending.len = 0;
        if (sending.cap > 1024 * 1024)
            buf_free(&sending); /* after a burst: give the memory back */
        aioc_event_set(&r->news);
        if (err) {
            aioc_cancel(r->reader); /* the peer is gone: stop reading it too */
            break;
        }
    }
    buf_free(&sending);
    return NULL;
}

/* Waits until `*flag` is set (by arrive). Returns 0 or -ECANCELED. */
static int wait_flag(remote *r, const int *flag) {
    while (!*flag) {
        aioc_event_clear(&r->news);
        int err = aioc_event_wait(&r->news);
        if (err)
            return err;
    }
    return 0;
}

/* Hands `len` bytes (or goodbye) to loop 0. Returns 0 or -ESHUTDOWN. */
static int to_loop0(remote *r, const char *data, size_t len, int bye) {
    to_owner *m = malloc(sizeof *m + len);
    if (!m)
        return -ENOMEM;
    m->proxy = r->proxy;
    m->bye = bye;
    m->len = len;
    if (len)
        memcpy(m->data, data, len);
    int err = aioc_loop_call(aioc_loop_at(0), owner_run, m);
    if (err)
        free(m);
    return err;
}

/* Reads requests until the client leaves, each batch run on loop 0;
 * returns when the connection is done with. */
static void read_requests(remote *r) {
    char buf[READ_SIZE];
    long n;
    while (!r->closing && (n = aioc_stream_read(r->conn, buf, sizeof buf)) > 0) {
        r->batch_done = 0;
        if (to_loop0(r, buf, (size_t)n, 0) || wait_flag(r, &r->batch_done))
            return;
        while (r->sent < r->batch_end && !r->dropped) { /* back-pressure */
            aioc_event_clear(&r->news);
            if (aioc_event_wait(&r->news))
                return;
        }
    }
}

void remote_serve(aioc_stream *conn) {
    remote *r = calloc(1, sizeof *r);
    client *proxy = calloc(1, sizeof *proxy);
    if (!r || !proxy) {
        free(r);
        free(proxy);
        aioc_cancel(aioc_current());
        return;
    }
    /* made here, loop 0's from the first call on */
    proxy->parser.want = -1;
    proxy->remote = r;
    proxy->loop = aioc_loop_index();
    proxy->id = client_new_id();
    r->conn = conn;
    r->proxy = proxy;
    r->reader = aioc_current();
    aioc_event_init(&r->news);
    aioc_event_init(&r->wake);
    r->writer = aioc_spawn(remote_writer, r);
    int started = aioc_task_error(r->writer) == 0;
    if (started)
        read_requests(r);

    /* Goodbye: loop 0 forgets the proxy, then nothing more comes. Even if
     * this task was cancelled (Ctrl-C), it waits for the acknowledgement:
     * loop 0 runs calls as long as any loop of the run does. */
    aioc_scope shield;
    aioc_shield_enter(&shield);
    int cancelled = aioc_cancelling() > 0; /* Ctrl-C, or dropped: no lingering */
    if (to_loop0(r, NULL, 0, 1) == 0)
        wait_flag(r, &r->bye);
    aioc_scope_exit(&shield);
    if (started) {
        /* The writer sends what is left, within LINGER seconds, unless the
         * client was dropped or the server closes: then it stops at once. */
        int err = 0;
        r->finishing = 1;
        aioc_event_set(&r->wake);
        if (!r->dropped && !cancelled) {
            aioc_scope linger;
            aioc_scope_enter(&linger, LINGER);
            err = aioc_await(r->writer, NULL);
            aioc_scope_exit(&linger);
        }
        if (r->dropped || cancelled || err) {
            aioc_cancel(r->writer);
            aioc_shield_enter(&shield);
            aioc_await(r->writer, NULL);
            aioc_scope_exit(&shield);
            r->dropped = 1;
        }
    }
    int dropped = r->dropped || !started;
    buf_free(&r->out);
    free(r);
    if (dropped)
        aioc_cancel(aioc_current()); /* so the server drops the connection, unflushed */
}

/* ----------------------------------------------------------- loop 0 -- */

static client *push_list; /* proxies with pushed output to send home */
static int push_scheduled;

/* Sends the proxy's output home (replies so far, or what PUBLISH gave it),
 * with `flags`. */
static void send_home(client *c, int flags) {
    going_home *m = malloc(sizeof *m + c->out.len);
    if (!m)
        abort(); /* as the rest of kv on out of memory */
    m->r = c->remote;
    m->flags = flags;
    m->len = c->out.len;
    if (c->out.len)
        memcpy(m->data, c->out.data, c->out.len);
    c->out.len = 0;
    if (c->out.cap > 1024 * 1024)
        buf_free(&c->out);
    if (aioc_loop_call(aioc_loop_at(c->loop), arrive, m))
        free(m); /* that loop has ended: nobody to tell */
}

void remote_send(client *c, int pushed) {
    if (c->out.len)
        send_home(c, pushed ? PUSHED : 0);
}

/* Once per loop turn: every proxy PUBLISH wrote to goes home in one call. */
static void push_all(void *arg) {
    (void)arg;
    push_scheduled = 0;
    while (push_list) {
        client *c = push_list;
        push_list = c->next_push;
        c->push_pending = 0;
        remote_send(c, 1);
    }
}

void remote_output_ready(client *c) {
    if (c->push_pending)
        return;
    c->push_pending = 1;
    c->next_push = push_list;
    push_list = c;
    if (push_scheduled)
        return;
    if (aioc_call_error(aioc_call_soon(push_all, NULL)) == 0)
        push_scheduled = 1;
    else
        push_all(NULL); /* cannot wait for the turn's end: send it now */
}

/* Loop 0 forgets a proxy whose connection has ended. */
static void forget(client *c) {
    for (client **p = &push_list; *p; p = &(*p)->next_push)
        if (*p == c) {
            *p = c->next_push;
            break;
        }
    pubsub_leave(c); /* PUBLISH no longer finds it */
    multi_leave(c);  /* nor a write to a key it watched */
    c->out.len = 0;
    send_home(c, BYE);
    dict_clear(&c->channels);
    dict_clear(&c->patterns);
    resp_parser_free(&c->parser);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c->argv);
    free(c);
}

/* On loop 0: a batch of a connection on another loop, or its goodbye. */
static void owner_run(void *arg) {
    to_owner *m = arg;
    client *c = m->proxy;
    if (m->bye) {
        forget(c);
    } else if (c->in.len + m->len > IN_LIMIT) {
        reply_error(&c->out, "ERR Protocol error: request too big");
        send_home(c, BATCH_DONE | CLOSE);
    } else {
        buf_append(&c->in, m->data, m->len);
        int close = run_requests(c);
        send_home(c, BATCH_DONE | (close ? CLOSE : 0));
    }
    free(m);
}
