/* What the server's files share: a client, and the calls between them.
 *
 *   kv.c        the server: a task per connection reads requests, runs
 *               them and writes the replies (main is here)
 *   resp.c      the protocol: parsing requests, writing replies
 *   commands.c  the command table, and every command but pub/sub's
 *   store.c     the keyspace, with expiry     (dict.c: the hash table)
 *   pubsub.c    channels and patterns: SUBSCRIBE, PUBLISH...
 *   multi.c     transactions: MULTI, EXEC, DISCARD, WATCH
 *   loops.c     --loops N: connections on every loop, commands on loop 0
 */
#ifndef KV_KV_H
#define KV_KV_H

#include "dict.h"
#include "resp.h"

#include <aioc.h>

/* An argument of the request being run: bytes in the input buffer. */
typedef struct kv_arg {
    const char *p;
    size_t len;
} kv_arg;

typedef struct client {
    aioc_stream *conn;
    aioc_task task; /* the one that reads its requests */
    kv_buf in;      /* bytes read and not yet handled */
    resp_parser parser;
    kv_arg *argv; /* the request being run */
    size_t argc, argcap;
    kv_buf out; /* replies not yet handed to the stream */
    int quit;   /* QUIT: close after this reply */

    /* Pub/sub. Once the client has subscribed, other clients' PUBLISH
     * adds messages to `out` at any time, so a writer task of its own
     * sends `out` (woken by `wake`) instead of the reading task; if `out`
     * grows past the limit, the client reads too slowly: it is dropped. */
    dict channels, patterns; /* what it is subscribed to (vals unused) */
    aioc_task writer;
    int has_writer;
    aioc_event wake;
    int dropped;

    /* Transactions (multi.c): the commands queued since MULTI, and the
     * keys WATCH watches. */
    int multi;             /* between MULTI and EXEC/DISCARD */
    int multi_failed;      /* a command could not be queued: EXEC aborts */
    int watch_dirty;       /* a watched key was written: EXEC aborts */
    struct queued *queued; /* multi.c's */
    size_t nqueued, qcap;
    dict watching; /* the keys it watches (vals unused) */

    /* Several loops (loops.c): a client whose connection another loop
     * serves is a proxy on loop 0, with no stream: its replies go back
     * to that loop by loop calls. */
    struct remote *remote;    /* its connection's side (NULL: conn is here);
                                 loop 0 only hands the pointer back */
    unsigned loop;            /* the loop its connection is on */
    unsigned long long id;    /* CLIENT INFO's */
    struct client *next_push; /* in loops.c's list of proxies to flush */
    int push_pending;         /* in that list */
} client;

/* A command of the table (commands.c). */
typedef struct command {
    const char *name; /* lower case */
    void (*run)(struct client *c);
    int arity;      /* arguments with the name; -N: at least N (Redis's convention) */
    int subscribed; /* allowed while subscribed (RESP2's "subscribed mode") */
    int writes;     /* the keys it writes, for WATCH: 0 none, KEY1, KEYS (all
                       arguments), KEYPAIRS (every other one, from the first) */
} command;
enum { KEY1 = 1, KEYS, KEYPAIRS };

/* A client's largest input buffer: one request (Redis's query buffer limit). */
#define IN_LIMIT (1024L * 1024 * 1024)

/* Limits, set by flags in kv.c. */
extern size_t pubsub_limit; /* bytes queued for a subscriber before it is dropped */

/* commands.c: builds the command table; runs c->argv (replies into c->out). */
void commands_init(void);
void command_run(client *c);
/* Runs `cmd` (already checked) on c->argv, and tells WATCH of its writes. */
void command_exec(client *c, const command *cmd);

/* kv.c: the replies in c->out are ready to go (wakes its writer, if it has
 * one, and drops the client if too much is queued). */
void client_output_ready(client *c);
/* kv.c: runs every complete request in c->in, replies into c->out.
 * Returns 0, or -1 if the client must be closed. */
int run_requests(client *c);
/* kv.c: a new client id (unique in the process). */
unsigned long long client_new_id(void);

/* loops.c: with several loops, loop 0 runs every command: */
void remote_serve(aioc_stream *conn);    /* a connection on another loop */
void remote_send(client *c, int pushed); /* hands a proxy's c->out back home */
void remote_output_ready(client *c);     /* PUBLISH gave a proxy output */

/* pubsub.c */
void cmd_subscribe(client *c);
void cmd_unsubscribe(client *c);
void cmd_psubscribe(client *c);
void cmd_punsubscribe(client *c);
void cmd_publish(client *c);
size_t pubsub_count(const client *c); /* channels + patterns it has */
void pubsub_leave(client *c);         /* unsubscribes from everything, quietly */

/* multi.c */
void cmd_multi(client *c);
void cmd_exec(client *c);
void cmd_discard(client *c);
void cmd_watch(client *c);
void cmd_unwatch(client *c);
void multi_queue(client *c, const command *cmd); /* queues c->argv, +QUEUED */
void multi_touch(const char *key, size_t klen);  /* a command wrote `key` */
void multi_touch_all(void);                      /* FLUSHALL */
int multi_watching(void);                        /* does any client WATCH? */
void multi_leave(client *c);                     /* the client goes: its queue and watches too */

/* Redis's glob-style match (*, ?, [a-z], [^a], \x), for PSUBSCRIBE and
 * CONFIG GET. */
int glob_match(const char *pat, size_t plen, const char *s, size_t slen);

#endif
