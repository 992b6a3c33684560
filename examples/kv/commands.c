/* The commands: a table of names, arities and handlers, and the handlers
 * (pub/sub's are in pubsub.c). Replies and errors follow the Redis
 * documentation (https://redis.io/docs/latest/commands/), word for word
 * where a client might look at them.
 *
 * A handler runs with the request in c->argv (argv[0] is the command's
 * name) and writes its reply into c->out. Handlers never suspend: a
 * command runs from start to end without another client's in between,
 * which is what makes every command atomic, as in Redis. */
#define _POSIX_C_SOURCE 200809L
#include "kv.h"
#include "store.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ARG(i) c->argv[i].p, c->argv[i].len

static const char WRONGTYPE[] = "WRONGTYPE Operation against a key holding the wrong kind of value";
static const char NOT_INTEGER[] = "ERR value is not an integer or out of range";

static int arg_is(const client *c, size_t i, const char *word) {
    return c->argv[i].len == strlen(word) && strncasecmp(c->argv[i].p, word, c->argv[i].len) == 0;
}

/* The argument as an integer, or an error reply (`why`, or NOT_INTEGER). */
static int arg_ll(client *c, size_t i, long long *v, const char *why) {
    if (str_to_ll(ARG(i), v))
        return 1;
    reply_error(&c->out, "%s", why ? why : NOT_INTEGER);
    return 0;
}

/* The key's value if it is of `type` (NULL, and nothing replied, if there
 * is no such key); on a key of another type, replies WRONGTYPE and sets
 * *wrong. */
static dict_entry *lookup(client *c, size_t i, kv_type type, int *wrong) {
    dict_entry *e = store_find(ARG(i));
    *wrong = e && ((kv_obj *)e->val)->type != type;
    if (*wrong) {
        reply_error(&c->out, WRONGTYPE);
        return NULL;
    }
    return e;
}

#define OBJ(e) ((kv_obj *)(e)->val)

/* ------------------------------------------------------------- strings -- */

static void cmd_get(client *c) {
    int wrong;
    dict_entry *e = lookup(c, 1, KV_STRING, &wrong);
    if (e)
        reply_bulk(&c->out, OBJ(e)->data, OBJ(e)->len);
    else if (!wrong)
        reply_nil(&c->out);
}

/* SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL] */
static void cmd_set(client *c) {
    int nx = 0, xx = 0, get = 0, keepttl = 0;
    size_t ttl_arg = 0;
    const char *unit = NULL;
    for (size_t i = 3; i < c->argc; i++) {
        int has_expiry = unit || keepttl;
        if (arg_is(c, i, "NX") && !xx)
            nx = 1;
        else if (arg_is(c, i, "XX") && !nx)
            xx = 1;
        else if (arg_is(c, i, "GET"))
            get = 1;
        else if (arg_is(c, i, "KEEPTTL") && !has_expiry)
            keepttl = 1;
        else if ((arg_is(c, i, "EX") || arg_is(c, i, "PX") || arg_is(c, i, "EXAT") ||
                  arg_is(c, i, "PXAT")) &&
                 !has_expiry && i + 1 < c->argc) {
            unit = c->argv[i].p;
            ttl_arg = ++i;
        } else {
            reply_error(&c->out, "ERR syntax error");
            return;
        }
    }
    int64_t expire = 0;
    if (unit) {
        long long v;
        if (!arg_ll(c, ttl_arg, &v, NULL))
            return;
        int ms = unit[0] == 'p' || unit[0] == 'P';
        int at = c->argv[ttl_arg - 1].len == 4;
        if (v <= 0 || (!ms && v > LLONG_MAX / 1000)) {
            reply_error(&c->out, "ERR invalid expire time in 'set' command");
            return;
        }
        if (!ms)
            v *= 1000;
        if (at) { /* a Unix time: turned into one on our clock */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            v -= (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        }
        if (v > LLONG_MAX - now_ms()) {
            reply_error(&c->out, "ERR invalid expire time in 'set' command");
            return;
        }
        expire = now_ms() + v;
        if (expire < 1)
            expire = 1; /* already past (EXAT): expires at once */
    }
    dict_entry *e = store_find(ARG(1));
    if (get) {
        if (e && OBJ(e)->type != KV_STRING) {
            reply_error(&c->out, WRONGTYPE);
            return;
        }
        if (e)
            reply_bulk(&c->out, OBJ(e)->data, OBJ(e)->len);
        else
            reply_nil(&c->out);
    }
    if ((nx && e) || (xx && !e)) {
        if (!get)
            reply_nil(&c->out);
        return;
    }
    e = store_set(ARG(1), ARG(2), keepttl);
    if (expire)
        store_expire(e, expire);
    if (!get)
        reply_ok(&c->out);
}

static void cmd_mget(client *c) {
    reply_array(&c->out, (long)c->argc - 1);
    for (size_t i = 1; i < c->argc; i++) {
        dict_entry *e = store_find(ARG(i));
        if (e && OBJ(e)->type == KV_STRING)
            reply_bulk(&c->out, OBJ(e)->data, OBJ(e)->len);
        else
            reply_nil(&c->out); /* no error for other types: nil, as Redis */
    }
}

static void cmd_mset(client *c) {
    if (c->argc % 2 == 0) {
        reply_error(&c->out, "ERR wrong number of arguments for 'mset' command");
        return;
    }
    for (size_t i = 1; i < c->argc; i += 2)
        store_set(ARG(i), ARG(i + 1), 0);
    reply_ok(&c->out);
}

static void cmd_append(client *c) {
    int wrong;
    dict_entry *e = lookup(c, 1, KV_STRING, &wrong);
    if (wrong)
        return;
    if (e)
        reply_int(&c->out, (long long)store_append(e, ARG(2)));
    else
        reply_int(&c->out, (long long)OBJ(store_set(ARG(1), ARG(2), 0))->len);
}

static void cmd_strlen(client *c) {
    int wrong;
    dict_entry *e = lookup(c, 1, KV_STRING, &wrong);
    if (!wrong)
        reply_int(&c->out, e ? (long long)OBJ(e)->len : 0);
}

/* INCR, DECR, INCRBY, DECRBY: the value as a 64-bit integer, plus `by`. */
static void incr_by(client *c, long long by) {
    int wrong;
    dict_entry *e = lookup(c, 1, KV_STRING, &wrong);
    if (wrong)
        return;
    long long v = 0;
    if (e && !str_to_ll(OBJ(e)->data, OBJ(e)->len, &v)) {
        reply_error(&c->out, NOT_INTEGER);
        return;
    }
    if ((by > 0 && v > LLONG_MAX - by) || (by < 0 && v < LLONG_MIN - by)) {
        reply_error(&c->out, "ERR increment or decrement would overflow");
        return;
    }
    v += by;
    char text[24];
    store_set(ARG(1), text, (size_t)ll_to_str(v, text), 1); /* its TTL stays */
    reply_int(&c->out, v);
}

static void cmd_incr(client *c) { incr_by(c, 1); }
static void cmd_decr(client *c) { incr_by(c, -1); }

static void cmd_incrby(client *c) {
    long long by;
    if (arg_ll(c, 2, &by, NULL))
        incr_by(c, by);
}

static void cmd_decrby(client *c) {
    long long by;
    if (!arg_ll(c, 2, &by, NULL))
        return;
    if (by == LLONG_MIN)
        reply_error(&c->out, "ERR decrement would overflow");
    else
        incr_by(c, -by);
}

/* ---------------------------------------------------------------- keys -- */

static void cmd_del(client *c) {
    long long n = 0;
    for (size_t i = 1; i < c->argc; i++) {
        dict_entry *e = store_find(ARG(i));
        if (e) {
            store_delete(e);
            n++;
        }
    }
    reply_int(&c->out, n);
}

static void cmd_exists(client *c) {
    long long n = 0;
    for (size_t i = 1; i < c->argc; i++)
        n += store_find(ARG(i)) != NULL;
    reply_int(&c->out, n);
}

static void cmd_type(client *c) {
    static const char *names[] = {"string", "list", "hash"};
    dict_entry *e = store_find(ARG(1));
    reply_simple(&c->out, e ? names[OBJ(e)->type] : "none");
}

/* EXPIRE / PEXPIRE key time [NX | XX | GT | LT] */
static void expire_generic(client *c, int64_t unit_ms, const char *name) {
    int nx = 0, xx = 0, gt = 0, lt = 0;
    for (size_t i = 3; i < c->argc; i++) {
        if (arg_is(c, i, "NX"))
            nx = 1;
        else if (arg_is(c, i, "XX"))
            xx = 1;
        else if (arg_is(c, i, "GT"))
            gt = 1;
        else if (arg_is(c, i, "LT"))
            lt = 1;
        else {
            reply_error(&c->out, "ERR Unsupported option %.*s", (int)c->argv[i].len, c->argv[i].p);
            return;
        }
    }
    if (nx && (xx || gt || lt)) {
        reply_error(&c->out, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if (gt && lt) {
        reply_error(&c->out, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    long long v;
    if (!arg_ll(c, 2, &v, NULL))
        return;
    if ((v > 0 && v > LLONG_MAX / unit_ms) || (v < 0 && v < LLONG_MIN / unit_ms) ||
        (v *= unit_ms, v > 0 && v > LLONG_MAX - now_ms())) {
        reply_error(&c->out, "ERR invalid expire time in '%s' command", name);
        return;
    }
    dict_entry *e = store_find(ARG(1));
    if (!e) {
        reply_int(&c->out, 0);
        return;
    }
    int64_t at = now_ms() + v, old = OBJ(e)->expire_ms;
    if ((nx && old) || (xx && !old) || (gt && (!old || at <= old)) || (lt && old && at >= old)) {
        reply_int(&c->out, 0);
        return;
    }
    if (v <= 0)
        store_delete(e); /* a time in the past: the key goes now */
    else
        store_expire(e, at);
    reply_int(&c->out, 1);
}

static void cmd_expire(client *c) { expire_generic(c, 1000, "expire"); }
static void cmd_pexpire(client *c) { expire_generic(c, 1, "pexpire"); }

/* TTL / PTTL: -2 for no key, -1 for no time to live. */
static void ttl_generic(client *c, int ms) {
    dict_entry *e = store_find(ARG(1));
    if (!e || !OBJ(e)->expire_ms) {
        reply_int(&c->out, e ? -1 : -2);
        return;
    }
    long long left = OBJ(e)->expire_ms - now_ms();
    if (left < 0)
        left = 0;
    reply_int(&c->out, ms ? left : (left + 500) / 1000);
}

static void cmd_ttl(client *c) { ttl_generic(c, 0); }
static void cmd_pttl(client *c) { ttl_generic(c, 1); }

static void cmd_persist(client *c) {
    dict_entry *e = store_find(ARG(1));
    int had = e && OBJ(e)->expire_ms;
    if (had)
        store_expire(e, 0);
    reply_int(&c->out, had);
}

/* --------------------------------------------------------------- lists -- */

static void push(client *c, int left) {
    int wrong;
    dict_entry *e = lookup(c, 1, KV_LIST, &wrong);
    if (wrong)
        return;
    if (!e)
        e = store_add(ARG(1), KV_LIST);
    for (size_t i = 2; i < c->argc; i++)
        list_push(&OBJ(e)->list, str_new(ARG(i)), left);
    reply_int(&c->out, (long long)OBJ(e)->list.len);
}

static void cmd_lpush(client *c) { push(c, 1); }
static void cmd_rpush(client *c) { push(c, 0); }

/* LPOP / RPOP key [count] */
static void pop(client *c, int left) {
    long long count = 1;
    if (c->argc > 3) {
        reply_error(&c->out, "ERR syntax error");
        return;
    }
    if (c->argc == 3 && (!str_to_ll(ARG(2), &count) || count < 0)) {
        reply_error(&c->out, "ERR value is out of range, must be positive");
        return;
    }
    int wrong;
    dict_entry *e = lookup(c, 1, KV_LIST, &wrong);
    if (wrong)
        return;
    if (!e) {
        if (c->argc == 3)
            reply_array(&c->out, -1);
        else
            reply_nil(&c->out);
        return;
    }
    kv_list *l = &OBJ(e)->list;
    if (c->argc == 3)
        reply_array(&c->out, count < (long long)l->len ? (long)count : (long)l->len);
    while (count-- > 0 && l->len) {
        kv_str *s = list_pop(l, left);
        reply_bulk(&c->out, s->data, s->len);
        free(s);
    }
    if (l->len == 0)
        store_delete(e); /* an empty list is no key */
}

static void cmd_lpop(client *c) { pop(c, 1); }
static void cmd_rpop(client *c) { pop(c, 0); }

static void cmd_llen(client *c) {
    int wrong;
    dict_entry *e = lookup(c, 1, KV_LIST, &wrong);
    if (!wrong)
        reply_int(&c->out, e ? (long long)OBJ(e)->list.len : 0);
}

/* LRANGE key start stop: indexes from 0, negative ones from the end. */
static void cmd_lrange(client *c) {
    long long start, stop;
    if (!arg_ll(c, 2, &start, NULL) || !arg_ll(c, 3, &stop, NULL))
        return;
    int wrong;
    dict_entry *e = lookup(c, 1, KV_LIST, &wrong);
    if (wrong)
        return;
    long long len = e ? (long long)OBJ(e)->list.len : 0;
    if (start < 0)
        start = len + start < 0 ? 0 : len + start;
    if (stop < 0)
        stop = len + stop;
    if (stop >= len)
        stop = len - 1;
    if (start > stop || start >= len) {
        reply_array(&c->out, 0);
        return;
    }
    reply_array(&c->out, (long)(stop - start + 1));
    for (long long i = start; i <= stop; i++) {
        kv_str *s = list_at(&OBJ(e)->list, (size_t)i);
        reply_bulk(&c->out, s->data, s->len);
    }
}

/* -------------------------------------------------------------- hashes -- */

static void cmd_hset(client *c) {
    if (c->argc % 2 == 1) {
        reply_error(&c->out, "ERR wrong number of arguments for 'hset' command");
        return;
    }
    int wrong;
    dict_entry *e = lookup(c, 1, KV_HASH, &wrong);
    if (wrong)
        return;
    if (!e)
        e = store_add(ARG(1), KV_HASH);
    long long added = 0;
    for (size_t i = 2; i < c->argc; i += 2) {
        dict_entry *f = dict_find(&OBJ(e)->hash, ARG(i));
        if (f) {
            free(f->val);
            f->val = str_new(ARG(i + 1));
        } else {
            dict_add(&OBJ(e)->hash, ARG(i), str_new(ARG(i + 1)));
            added++;
        }
    }
    reply_int(&c->out, added);
}

static void cmd_hget(client *c) {
    int wrong;
    dict_entry *e = lookup(c, 1, KV_HASH, &wrong);
    dict_entry *f = e ? dict_find(&OBJ(e)->hash, ARG(2)) : NULL;
    if (f)
        reply_bulk(&c->out, ((kv_str *)f->val)->data, ((kv_str *)f->val)->len);
    else if (!wrong)
        reply_nil(&c->out);
}

static void cmd_hdel(client *c) {
    int wrong;
    dict_entry *e = lookup(c, 1, KV_HASH, &wrong);
    if (wrong)
        return;
    long long n = 0;
    for (size_t i = 2; e && i < c->argc; i++) {
        dict_entry *f = dict_find(&OBJ(e)->hash, ARG(i));
        if (f) {
            free(f->val);
            dict_delete(&OBJ(e)->hash, f);
            n++;
        }
    }
    if (e && OBJ(e)->hash.count == 0)
        store_delete(e);
    reply_int(&c->out, n);
}

static void cmd_hgetall(client *c) {
    int wrong;
    dict_entry *e = lookup(c, 1, KV_HASH, &wrong);
    if (wrong)
        return;
    reply_array(&c->out, e ? (long)OBJ(e)->hash.count * 2 : 0);
    for (dict_entry *f = e ? OBJ(e)->hash.first : NULL; f; f = f->after) {
        reply_bulk(&c->out, f->key, f->klen);
        reply_bulk(&c->out, ((kv_str *)f->val)->data, ((kv_str *)f->val)->len);
    }
}

static void cmd_hlen(client *c) {
    int wrong;
    dict_entry *e = lookup(c, 1, KV_HASH, &wrong);
    if (!wrong)
        reply_int(&c->out, e ? (long long)OBJ(e)->hash.count : 0);
}

/* -------------------------------------------------------------- server -- */

static void cmd_ping(client *c) {
    if (c->argc > 2) {
        reply_error(&c->out, "ERR wrong number of arguments for 'ping' command");
    } else if (pubsub_count(c)) { /* in subscribed mode, a reply of its own */
        reply_array(&c->out, 2);
        reply_bulk(&c->out, "pong", 4);
        reply_bulk(&c->out, c->argc == 2 ? c->argv[1].p : "", c->argc == 2 ? c->argv[1].len : 0);
    } else if (c->argc == 2) {
        reply_bulk(&c->out, ARG(1));
    } else {
        buf_append(&c->out, "+PONG\r\n", 7);
    }
}

static void cmd_echo(client *c) { reply_bulk(&c->out, ARG(1)); }

static void cmd_quit(client *c) {
    reply_ok(&c->out);
    c->quit = 1;
}

static void cmd_flushall(client *c) {
    if (c->argc > 2 || (c->argc == 2 && !arg_is(c, 1, "SYNC") && !arg_is(c, 1, "ASYNC"))) {
        reply_error(&c->out, "ERR syntax error");
        return;
    }
    store_flush();
    multi_touch_all();
    reply_ok(&c->out);
}

static void cmd_dbsize(client *c) { reply_int(&c->out, (long long)store_size()); }

static void cmd_select(client *c) {
    long long db;
    if (!arg_ll(c, 1, &db, NULL))
        return;
    if (db != 0) /* one database, as Redis Cluster */
        reply_error(&c->out, "ERR DB index is out of range");
    else
        reply_ok(&c->out);
}

/* CONFIG GET pattern...: the few settings clients ask for on connecting
 * (redis-benchmark: "save", "appendonly"). CONFIG SET is accepted and
 * ignored, CONFIG RESETSTAT does nothing. */
static void cmd_config(client *c) {
    static const char *settings[][2] = {
        {"save", ""}, {"appendonly", "no"}, {"databases", "1"}, {"maxmemory", "0"}};
    const size_t nsettings = sizeof settings / sizeof settings[0];
    if (arg_is(c, 1, "GET")) {
        if (c->argc < 3) {
            reply_error(&c->out, "ERR wrong number of arguments for 'config|get' command");
            return;
        }
        size_t n = 0;
        int hit[sizeof settings / sizeof settings[0]] = {0};
        for (size_t i = 2; i < c->argc; i++)
            for (size_t s = 0; s < nsettings; s++)
                if (!hit[s] && glob_match(ARG(i), settings[s][0], strlen(settings[s][0])))
                    hit[s] = 1, n++;
        reply_array(&c->out, (long)n * 2);
        for (size_t s = 0; s < nsettings; s++)
            if (hit[s]) {
                reply_bulk_str(&c->out, settings[s][0]);
                reply_bulk_str(&c->out, settings[s][1]);
            }
    } else if (arg_is(c, 1, "SET") || arg_is(c, 1, "RESETSTAT")) {
        reply_ok(&c->out);
    } else {
        reply_error(&c->out, "ERR unknown subcommand '%.*s'. Try CONFIG HELP.", (int)c->argv[1].len,
                    c->argv[1].p);
    }
}

/* CLIENT SETNAME / SETINFO (which client libraries send): accepted.
 * CLIENT ID, and CLIENT INFO: the client's id, and (kv's own field) the
 * loop its connection is on (--loops). */
static void cmd_client(client *c) {
    if (arg_is(c, 1, "SETNAME") || arg_is(c, 1, "SETINFO")) {
        reply_ok(&c->out);
    } else if (arg_is(c, 1, "ID") && c->argc == 2) {
        reply_int(&c->out, (long long)c->id);
    } else if (arg_is(c, 1, "INFO") && c->argc == 2) {
        char info[64];
        int n = snprintf(info, sizeof info, "id=%llu db=0 loop=%u\n", c->id, c->loop);
        reply_bulk(&c->out, info, (size_t)n);
    } else {
        reply_error(&c->out, "ERR unknown subcommand '%.*s'. Try CLIENT HELP.", (int)c->argv[1].len,
                    c->argv[1].p);
    }
}

static void cmd_command(client *c);

/* ---------------------------------------------------------------- table -- */

static command table[] = {
    /* not const: the dict below holds pointers into it */
    {"get", cmd_get, 2, 0, 0},
    {"set", cmd_set, -3, 0, KEY1},
    {"mget", cmd_mget, -2, 0, 0},
    {"mset", cmd_mset, -3, 0, KEYPAIRS},
    {"append", cmd_append, 3, 0, KEY1},
    {"strlen", cmd_strlen, 2, 0, 0},
    {"incr", cmd_incr, 2, 0, KEY1},
    {"decr", cmd_decr, 2, 0, KEY1},
    {"incrby", cmd_incrby, 3, 0, KEY1},
    {"decrby", cmd_decrby, 3, 0, KEY1},
    {"del", cmd_del, -2, 0, KEYS},
    {"exists", cmd_exists, -2, 0, 0},
    {"type", cmd_type, 2, 0, 0},
    {"expire", cmd_expire, -3, 0, KEY1},
    {"pexpire", cmd_pexpire, -3, 0, KEY1},
    {"ttl", cmd_ttl, 2, 0, 0},
    {"pttl", cmd_pttl, 2, 0, 0},
    {"persist", cmd_persist, 2, 0, KEY1},
    {"lpush", cmd_lpush, -3, 0, KEY1},
    {"rpush", cmd_rpush, -3, 0, KEY1},
    {"lpop", cmd_lpop, -2, 0, KEY1},
    {"rpop", cmd_rpop, -2, 0, KEY1},
    {"llen", cmd_llen, 2, 0, 0},
    {"lrange", cmd_lrange, 4, 0, 0},
    {"hset", cmd_hset, -4, 0, KEY1},
    {"hget", cmd_hget, 3, 0, 0},
    {"hdel", cmd_hdel, -3, 0, KEY1},
    {"hgetall", cmd_hgetall, 2, 0, 0},
    {"hlen", cmd_hlen, 2, 0, 0},
    {"publish", cmd_publish, 3, 0, 0},
    {"subscribe", cmd_subscribe, -2, 1, 0},
    {"unsubscribe", cmd_unsubscribe, -1, 1, 0},
    {"psubscribe", cmd_psubscribe, -2, 1, 0},
    {"punsubscribe", cmd_punsubscribe, -1, 1, 0},
    {"ping", cmd_ping, -1, 1, 0},
    {"echo", cmd_echo, 2, 0, 0},
    {"quit", cmd_quit, -1, 1, 0},
    {"flushall", cmd_flushall, -1, 0, 0},
    {"flushdb", cmd_flushall, -1, 0, 0},
    {"dbsize", cmd_dbsize, 1, 0, 0},
    {"select", cmd_select, 2, 0, 0},
    {"config", cmd_config, -2, 0, 0},
    {"client", cmd_client, -2, 0, 0},
    {"command", cmd_command, -1, 0, 0},
    {"multi", cmd_multi, 1, 0, 0},
    {"exec", cmd_exec, 1, 0, 0},
    {"discard", cmd_discard, 1, 0, 0},
    {"watch", cmd_watch, -2, 0, 0},
    {"unwatch", cmd_unwatch, 1, 0, 0},
};
#define NCOMMANDS (sizeof table / sizeof table[0])

static dict names; /* name -> its command in the table */

void commands_init(void) {
    for (size_t i = 0; i < NCOMMANDS; i++)
        dict_add(&names, table[i].name, strlen(table[i].name), &table[i]);
}

/* COMMAND [COUNT | DOCS | INFO]: what redis-cli asks on connecting. The
 * list gives each command's name, arity, flags and key positions (the
 * first six of the fields Redis gives); DOCS has no docs to give. */
static void cmd_command(client *c) {
    if (c->argc >= 2 && arg_is(c, 1, "COUNT")) {
        reply_int(&c->out, (long long)NCOMMANDS);
    } else if (c->argc >= 2 && arg_is(c, 1, "DOCS")) {
        reply_array(&c->out, 0);
    } else if (c->argc == 1) {
        reply_array(&c->out, (long)NCOMMANDS);
        for (size_t i = 0; i < NCOMMANDS; i++) {
            int keyed = table[i].arity < -1 || table[i].arity > 1;
            reply_array(&c->out, 6);
            reply_bulk_str(&c->out, table[i].name);
            reply_int(&c->out, table[i].arity);
            reply_array(&c->out, 0);
            reply_int(&c->out, keyed);
            reply_int(&c->out, keyed);
            reply_int(&c->out, keyed);
        }
    } else {
        reply_error(&c->out, "ERR unknown subcommand '%.*s'. Try COMMAND HELP.",
                    (int)c->argv[1].len, c->argv[1].p);
    }
}

void command_run(client *c) {
    char name[32];
    const command *cmd = NULL;
    if (c->argv[0].len < sizeof name) { /* names are case-insensitive */
        for (size_t i = 0; i < c->argv[0].len; i++) {
            char ch = c->argv[0].p[i];
            name[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
        }
        dict_entry *e = dict_find(&names, name, c->argv[0].len);
        cmd = e ? e->val : NULL;
    }
    if (!cmd) { /* as Redis words it: the name and up to 128 bytes of arguments */
        char args[160];
        size_t n = 0;
        args[0] = '\0';
        for (size_t i = 1; i < c->argc && n < 128; i++) {
            int w =
                snprintf(args + n, sizeof args - n, "'%.*s' ",
                         (int)(c->argv[i].len < 128 - n ? c->argv[i].len : 128 - n), c->argv[i].p);
            if (w < 0)
                break;
            n += (size_t)w < sizeof args - n ? (size_t)w : sizeof args - n - 1;
        }
        reply_error(&c->out, "ERR unknown command '%.*s', with args beginning with: %s",
                    (int)(c->argv[0].len < 128 ? c->argv[0].len : 128), c->argv[0].p, args);
        c->multi_failed = c->multi; /* in MULTI: EXEC will abort */
        return;
    }
    if ((cmd->arity > 0 && c->argc != (size_t)cmd->arity) ||
        (cmd->arity < 0 && c->argc < (size_t)-cmd->arity)) {
        reply_error(&c->out, "ERR wrong number of arguments for '%s' command", cmd->name);
        c->multi_failed = c->multi;
        return;
    }
    if (c->multi && cmd->run != cmd_exec && cmd->run != cmd_discard && cmd->run != cmd_multi &&
        cmd->run != cmd_watch) {
        if (cmd->run == cmd_subscribe || cmd->run == cmd_psubscribe) {
            reply_error(&c->out, "ERR Command not allowed inside a transaction");
            c->multi_failed = 1;
        } else {
            multi_queue(c, cmd);
        }
        return;
    }
    if (pubsub_count(c) && !cmd->subscribed) {
        reply_error(&c->out,
                    "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                    "QUIT / RESET are allowed in this context",
                    cmd->name);
        return;
    }
    command_exec(c, cmd);
}

/* Runs the command; if a client WATCHes anything, also tells multi.c of
 * the keys it wrote: those it names that were there before or are there
 * after, unless it answered an error. (So DEL of a missing key writes
 * nothing, as in Redis; a command that leaves an existing key as it was,
 * e.g. SET NX, still counts: a needless abort, never a missed one.) */
void command_exec(client *c, const command *cmd) {
    if (!cmd->writes || !multi_watching()) {
        cmd->run(c);
        return;
    }
    size_t step = cmd->writes == KEYPAIRS ? 2 : 1;
    size_t last = cmd->writes == KEY1 ? 1 : c->argc - 1;
    char *before = calloc(c->argc, 1);
    if (!before)
        abort();
    for (size_t i = 1; i <= last; i += step)
        before[i] = store_find(ARG(i)) != NULL;
    size_t mark = c->out.len;
    cmd->run(c);
    if (c->out.len == mark || c->out.data[mark] != '-')
        for (size_t i = 1; i <= last; i += step)
            if (before[i] || store_find(ARG(i)))
                multi_touch(ARG(i));
    free(before);
}
