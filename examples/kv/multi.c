/* Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH
 * (https://redis.io/docs/latest/develop/interact/transactions/).
 *
 * After MULTI a client's commands are checked (name, arity) and queued,
 * each a copy of its arguments, and answered +QUEUED; EXEC runs them one
 * after the other, with no other client's command in between (handlers
 * never suspend), and answers an array of their replies. A command that
 * could not be queued makes EXEC answer EXECABORT and run nothing; a
 * command that fails as it runs fails alone, as in Redis.
 *
 * WATCH key...: EXEC answers a nil array, and runs nothing, if another
 * command wrote one of the keys since. `watchers` maps each watched key to
 * the clients watching it; commands.c calls multi_touch for the keys a
 * writing command wrote (see command_exec). FLUSHALL touches every
 * watched key. Keys that expire are not counted as written. */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

typedef struct queued {
    const command *cmd;
    size_t argc;
    kv_arg *argv; /* one allocation: the array, then the bytes */
} queued;

/* The clients watching a key. */
typedef struct watch_list {
    size_t n, cap;
    client **clients;
} watch_list;

static dict watchers; /* key -> watch_list */

static void *must_alloc(void *p) {
    if (!p)
        abort();
    return p;
}

static void queue_clear(client *c) {
    for (size_t i = 0; i < c->nqueued; i++)
        free(c->queued[i].argv);
    free(c->queued);
    c->queued = NULL;
    c->nqueued = c->qcap = 0;
    c->multi = c->multi_failed = 0;
}

static void unwatch_all(client *c) {
    for (dict_entry *k = c->watching.first; k; k = k->after) {
        dict_entry *e = dict_find(&watchers, k->key, k->klen);
        watch_list *w = e ? e->val : NULL;
        for (size_t i = 0; w && i < w->n; i++)
            if (w->clients[i] == c) {
                w->clients[i] = w->clients[--w->n];
                break;
            }
        if (w && w->n == 0) {
            free(w->clients);
            free(w);
            dict_delete(&watchers, e);
        }
    }
    dict_clear(&c->watching);
    c->watch_dirty = 0;
}

void multi_leave(client *c) {
    queue_clear(c);
    unwatch_all(c);
}

int multi_watching(void) { return watchers.count > 0; }

void multi_touch(const char *key, size_t klen) {
    dict_entry *e = watchers.count ? dict_find(&watchers, key, klen) : NULL;
    watch_list *w = e ? e->val : NULL;
    for (size_t i = 0; w && i < w->n; i++)
        w->clients[i]->watch_dirty = 1;
}

void multi_touch_all(void) {
    for (dict_entry *e = watchers.first; e; e = e->after) {
        watch_list *w = e->val;
        for (size_t i = 0; i < w->n; i++)
            w->clients[i]->watch_dirty = 1;
    }
}

void multi_queue(client *c, const command *cmd) {
    size_t bytes = c->argc * sizeof(kv_arg);
    for (size_t i = 0; i < c->argc; i++)
        bytes += c->argv[i].len;
    kv_arg *argv = must_alloc(malloc(bytes ? bytes : 1));
    char *p = (char *)(argv + c->argc);
    for (size_t i = 0; i < c->argc; i++) {
        memcpy(p, c->argv[i].p, c->argv[i].len);
        argv[i] = (kv_arg){p, c->argv[i].len};
        p += c->argv[i].len;
    }
    if (c->nqueued == c->qcap) {
        c->qcap = c->qcap ? 2 * c->qcap : 8;
        c->queued = must_alloc(realloc(c->queued, c->qcap * sizeof *c->queued));
    }
    c->queued[c->nqueued++] = (queued){cmd, c->argc, argv};
    reply_simple(&c->out, "QUEUED");
}

void cmd_multi(client *c) {
    if (c->multi) {
        reply_error(&c->out, "ERR MULTI calls can not be nested");
        return;
    }
    c->multi = 1;
    reply_ok(&c->out);
}

void cmd_discard(client *c) {
    if (!c->multi) {
        reply_error(&c->out, "ERR DISCARD without MULTI");
        return;
    }
    multi_leave(c);
    reply_ok(&c->out);
}

void cmd_exec(client *c) {
    if (!c->multi) {
        reply_error(&c->out, "ERR EXEC without MULTI");
        return;
    }
    if (c->multi_failed) {
        reply_error(&c->out, "EXECABORT Transaction discarded because of previous errors.");
    } else if (c->watch_dirty) {
        reply_array(&c->out, -1);
    } else {
        /* run the copies in place of the request (EXEC's own argv) */
        kv_arg *argv = c->argv;
        size_t argc = c->argc;
        reply_array(&c->out, (long)c->nqueued);
        for (size_t i = 0; i < c->nqueued; i++) {
            c->argv = c->queued[i].argv;
            c->argc = c->queued[i].argc;
            command_exec(c, c->queued[i].cmd);
        }
        c->argv = argv;
        c->argc = argc;
    }
    multi_leave(c);
}

void cmd_watch(client *c) {
    if (c->multi) {
        reply_error(&c->out, "ERR WATCH inside MULTI is not allowed");
        return;
    }
    for (size_t i = 1; i < c->argc; i++) {
        const char *key = c->argv[i].p;
        size_t klen = c->argv[i].len;
        if (dict_find(&c->watching, key, klen))
            continue;
        dict_add(&c->watching, key, klen, NULL);
        dict_entry *e = dict_find(&watchers, key, klen);
        if (!e)
            e = dict_add(&watchers, key, klen, must_alloc(calloc(1, sizeof(watch_list))));
        watch_list *w = e->val;
        if (w->n == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 4;
            w->clients = must_alloc(realloc(w->clients, w->cap * sizeof *w->clients));
        }
        w->clients[w->n++] = c;
    }
    reply_ok(&c->out);
}

void cmd_unwatch(client *c) {
    unwatch_all(c);
    reply_ok(&c->out);
}
