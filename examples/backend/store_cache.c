/* A Redis cache in front of another store (see store.h): the same method
 * table, over an inner store (SQLite or PostgreSQL), through aioc_redis.
 *
 * Reads: GET /notes/:id asks Redis for "note:<id>" first, which holds the
 * note's JSON text with a TTL (TTL seconds); on a miss it reads the inner
 * store and SETs the key (SET ... EX). A missing note (404) is not cached,
 * so a note that comes to be needs no invalidation. Lists are not cached:
 * every write would change every page from its id on, and invalidating
 * them would mean tracking which pages exist (or a version key read before
 * each list) for little gain over one indexed query.
 *
 * Writes: create, replace, patch and delete write the inner store first,
 * then DEL the key, once the write has committed: a reader after the DEL
 * misses and reads the new row. (create DELs its new id too: a Redis that
 * outlived the database may hold an old note under it.) The DEL runs in a
 * shield, so a request cancelled after its write still invalidates.
 *
 * The race that remains: a reader that read the old row before the write
 * committed, and SETs it after the write's DEL, caches the old note. In
 * this process a write generation closes it: a read does not SET what it
 * read if a write was in progress when it began or began while it ran
 * (the check and the SET are in the same loop turn, and every command goes
 * down one connection in order, so no DEL of this process can slip in
 * between). Across processes sharing one Redis (several back ends) the
 * race stays; the short TTL bounds how long a stale note can be served
 * (a version in the value, compared by a Lua script at SET time, would
 * close it at the cost of a script per miss).
 *
 * Redis down, slow or refusing: the cache is bypassed, never a failed
 * request. Every command has CACHE_TIMEOUT seconds; any failure sends the
 * read to the inner store (one line on stderr when an outage begins, one
 * when it ends). A write whose DEL failed may have left a stale note in a
 * Redis that comes back with its data, so after a lost invalidation the
 * cache is not read, nor filled, for TTL seconds: by then every key set
 * before it has expired. aioc_redis reconnects on its own, with a backoff,
 * so a Redis down costs the reads next to nothing.
 *
 * One aioc_redis connection is shared by every request: GET, SET and DEL
 * do not hold a connection, so the adapter pipelines the commands of
 * concurrent requests onto it (a pool lends a connection to one task at a
 * time, which suits WATCH or BLPOP, not this). */
#define _POSIX_C_SOURCE 200809L
#include "store.h"

#include <aioc.h>
#include <aioc_redis.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TTL 60            /* seconds a cached note lives */
#define CACHE_TIMEOUT 1.0 /* seconds a Redis command (and a reconnect) may take */
#define CACHE_FAILED 1    /* cache_call: Redis failed, bypass it */

struct cache_store {
    store base;
    store *inner;
    aioc_redis *redis;
    char addr[128];        /* for the log lines, without a password */
    bool down;             /* an outage was logged and has not ended */
    double bypass_until;   /* after a lost invalidation: aioc_now() until when */
    unsigned long writes;  /* writes begun: the generation */
    unsigned long writing; /* writes in progress (before their DEL) */
};

static void log_line(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("backend: cache: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* One Redis command within CACHE_TIMEOUT. Returns 0 with the reply in
 * `*reply` (the caller frees it), the caller's own -ECANCELED /
 * -ETIMEDOUT, or CACHE_FAILED (Redis failed, timed out or answered an
 * error: logged at the start of an outage). Suspends. */
static int cache_call(struct cache_store *st, redisReply **reply, const char *fmt, ...) {
    aioc_scope scope;
    *reply = NULL;
    if (aioc_scope_enter(&scope, CACHE_TIMEOUT))
        return CACHE_FAILED;
    va_list ap;
    va_start(ap, fmt);
    int err = aioc_redis_vcommand(st->redis, reply, fmt, ap);
    va_end(ap);
    bool expired = aioc_scope_exit(&scope) == -ETIMEDOUT; /* ours, not the caller's */
    if ((err == -ECANCELED || err == -ETIMEDOUT) && !expired)
        return err;
    if (err == AIOC_REDIS_ESERVER && *reply) {
        if (!st->down)
            log_line("%s answered \"%.*s\"; reading the database directly", st->addr,
                     (int)(*reply)->len, (*reply)->str);
        aioc_redis_reply_free(*reply);
        *reply = NULL;
    } else if (err && !st->down) {
        log_line("%s: %s; reading the database directly until it is back", st->addr,
                 aioc_redis_strerror(err));
    }
    if (err) {
        st->down = true;
        return CACHE_FAILED;
    }
    if (st->down)
        log_line("%s is back", st->addr);
    st->down = false;
    return 0;
}

static bool bypassed(const struct cache_store *st) { return aioc_now() < st->bypass_until; }

/* After a write, whatever its outcome (a failed or cut-off write may have
 * happened all the same): DEL the note's key, shielded, so that a request
 * cancelled now still invalidates (CACHE_TIMEOUT still bounds it). */
static void invalidate(struct cache_store *st, long long id) {
    aioc_scope shield;
    aioc_shield_enter(&shield);
    redisReply *reply;
    if (cache_call(st, &reply, "DEL note:%lld", id))
        st->bypass_until = aioc_now() + TTL; /* a stale note may be left: see the top */
    aioc_redis_reply_free(reply);
    aioc_scope_exit(&shield);
}

static int cache_get(store *s, long long id, store_reply *r) {
    struct cache_store *st = (struct cache_store *)s;
    redisReply *reply = NULL;
    bool use = !bypassed(st);
    if (use) {
        int err = cache_call(st, &reply, "GET note:%lld", id);
        if (err < 0)
            return err; /* the caller was cancelled */
        use = !err;     /* Redis failed: nor will it be filled */
        if (reply && reply->type == REDIS_REPLY_STRING) {
            r->note = json_loadb(reply->str, reply->len, 0, NULL);
            if (json_is_object(r->note)) {
                aioc_redis_reply_free(reply);
                return 0; /* a hit */
            }
            json_decref(r->note); /* not a note: read the store (and set it right) */
            r->note = NULL;
        }
        aioc_redis_reply_free(reply);
    }
    unsigned long generation = st->writes;
    bool quiet = !st->writing; /* no write in progress as the read begins */
    int err = st->inner->ops->get(st->inner, id, r);
    if (err || !use || !quiet || generation != st->writes || bypassed(st))
        return err;
    char *text = json_dumps(r->note, JSON_COMPACT);
    if (text) {
        /* the request waits for the SET: its reply says whether Redis is
         * there, and the next read of the note is a hit */
        if (cache_call(st, &reply, "SET note:%lld %s EX %d", id, text, TTL) == 0)
            aioc_redis_reply_free(reply);
        free(text);
    }
    return 0; /* whatever became of the SET: the caller's cancellation comes later */
}

static int cache_list(store *s, long long limit, long long offset, store_reply *r) {
    struct cache_store *st = (struct cache_store *)s;
    return st->inner->ops->list(st->inner, limit, offset, r); /* not cached: see the top */
}

static int cache_create(store *s, const note_fields *in, store_reply *r) {
    struct cache_store *st = (struct cache_store *)s;
    st->writes++;
    st->writing++;
    int err = st->inner->ops->create(st->inner, in, r);
    if (!err)
        invalidate(st, (long long)json_integer_value(json_object_get(r->note, "id")));
    st->writing--;
    return err;
}

static int cache_update(store *s, long long id, const note_fields *in, store_reply *r) {
    struct cache_store *st = (struct cache_store *)s;
    st->writes++;
    st->writing++;
    int err = st->inner->ops->update(st->inner, id, in, r);
    invalidate(st, id);
    st->writing--;
    return err;
}

static int cache_remove(store *s, long long id, store_reply *r) {
    struct cache_store *st = (struct cache_store *)s;
    st->writes++;
    st->writing++;
    int err = st->inner->ops->remove(st->inner, id, r);
    invalidate(st, id);
    st->writing--;
    return err;
}

/* The HTTP server has ended every request: no command waits on Redis. */
static void cache_close(store *s) {
    struct cache_store *st = (struct cache_store *)s;
    store_close(st->inner);
    aioc_redis_close(st->redis);
    free(st);
}

static const struct store_ops cache_ops = {
    "Redis cache", cache_create, cache_get, cache_list, cache_update, cache_remove, cache_close,
};

int store_cache_open(const char *addr, store **s, char *msg, size_t n) {
    struct cache_store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(msg, n, "out of memory");
        return -ENOMEM;
    }
    /* connected now, for a clear message if Redis is not there (as
     * store_pg.c does); later outages are bypassed */
    aioc_redis_opts o = {.connect_timeout = CACHE_TIMEOUT};
    int err;
    if (!(st->redis = aioc_redis_connect(addr, &o, &err))) {
        snprintf(msg, n, "--cache: cannot reach Redis at %s: %s", addr, aioc_redis_strerror(err));
        free(st);
        return err == -ECANCELED ? err : STORE_EDOWN;
    }
    const char *at = strrchr(addr, '@'); /* redis://user:password@host: not in the logs */
    snprintf(st->addr, sizeof st->addr, "%s%s", at ? "redis://...@" : "", at ? at + 1 : addr);
    st->base.ops = &cache_ops;
    st->inner = *s;
    *s = &st->base;
    return 0;
}
