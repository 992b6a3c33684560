/* The notes' store: what the HTTP API (api.c) asks of a database, and
 * nothing about which one. Two implementations sit behind it:
 *   store_sqlite.c  an SQLite file, its blocking calls on aioc's thread
 *                   pool (one writer, READERS readers, WAL);
 *   store_pg.c      PostgreSQL through aioc_pg: a pool of connections,
 *                   pipelined, prepared statements, libpq awaited on the
 *                   loop (no thread pool);
 * and one may sit in front of either (--cache):
 *   store_cache.c   a Redis cache of single notes through aioc_redis,
 *                   invalidated on writes, bypassed while Redis is down.
 * Both give the same notes in the same JSON, with the same ids (never
 * given out twice) and the same timestamps ("2026-12-05T08:10:11.123Z",
 * UTC, milliseconds).
 *
 * A note is a JSON object {"id", "title", "body", "created_at",
 * "updated_at"}. Every operation suspends the calling task until the
 * database has answered, and returns 0 with its result in `r->note` (the
 * caller owns it: json_decref), or a negative code:
 *   STORE_ENOTFOUND  no note with that id
 *   STORE_EINPUT     the database refused the input (r->msg says why)
 *   STORE_EDB        the database failed: r->msg is its message
 *   STORE_EDOWN      the database cannot be reached now: r->msg says why;
 *                    the store tries again at the next call
 *   -ECANCELED, -ETIMEDOUT  the caller was cancelled or ran out of time
 *                    (the operation may or may not have happened)
 *   -ENOMEM
 * Calls come from tasks of the loop the store was opened in, any number
 * at once. */
#ifndef BACKEND_STORE_H
#define BACKEND_STORE_H

#include <errno.h>
#include <jansson.h>
#include <stddef.h>

#define STORE_ENOTFOUND (-ENOENT)
#define STORE_EINPUT (-EINVAL)
#define STORE_EDB (-EIO)
#define STORE_EDOWN (-ENOTCONN)

typedef struct store_reply {
    json_t *note; /* the note; for store_list {"notes": [note...]} */
    char msg[200];
} store_reply;

/* A note's fields as the request gave them: borrowed, UTF-8, without NUL
 * characters (jansson refuses them); NULL for a field PATCH leaves as it
 * is. */
typedef struct note_fields {
    const char *title, *body;
    size_t title_len, body_len;
} note_fields;

typedef struct store store;

/* The method table of an implementation. */
struct store_ops {
    const char *name; /* "SQLite", "PostgreSQL" */
    int (*create)(store *s, const note_fields *in, store_reply *r);
    int (*get)(store *s, long long id, store_reply *r);
    int (*list)(store *s, long long limit, long long offset, store_reply *r);
    /* replace (both fields given) and patch (NULL fields kept) */
    int (*update)(store *s, long long id, const note_fields *in, store_reply *r);
    int (*remove)(store *s, long long id, store_reply *r); /* r->note stays NULL */
    void (*close)(store *s);
};

struct store {
    const struct store_ops *ops;
};

/* Opens the store `db` names: an SQLite file, or a PostgreSQL server
 * (store_is_pg). `delay` (seconds) is --db-delay: every query first waits
 * that long in the database's place (a thread of the pool for SQLite,
 * pg_sleep on the server for PostgreSQL), standing in for a slow one.
 * The schema is made if missing. Suspends. Returns 0 and `*out`, or
 * STORE_EDB / STORE_EDOWN with the reason in `msg` (of `n` bytes). */
int store_open(const char *db, double delay, store **out, char *msg, size_t n);

/* Whether `db` names a PostgreSQL server: a postgres:// or postgresql://
 * URL or a conninfo string ("host=... dbname=..."). */
int store_is_pg(const char *db);

/* Puts a Redis cache (store_cache.c) at `addr` (redis://HOST:PORT[/DB],
 * or what aioc_redis_connect takes) in front of `*s`, connecting to it
 * now. Suspends. Returns 0 with `*s` the cache, which owns the store it
 * wraps (store_close closes both); else `*s` is unchanged (the caller
 * still closes it) and the error is STORE_EDOWN (Redis cannot be reached
 * or the address is not one; the reason in `msg`), STORE_EDB (this
 * backend was built without the aioc_redis adapter), -ECANCELED, -ENOMEM. */
int store_cache(const char *addr, store **s, char *msg, size_t n);

int store_sqlite_open(const char *path, double delay, store **out, char *msg, size_t n);
int store_pg_open(const char *conninfo, double delay, store **out, char *msg, size_t n);
int store_cache_open(const char *addr, store **s, char *msg, size_t n);

/* The operations, through the method table. */
static inline int store_create(store *s, const note_fields *in, store_reply *r) {
    return s->ops->create(s, in, r);
}
static inline int store_get(store *s, long long id, store_reply *r) {
    return s->ops->get(s, id, r);
}
static inline int store_list(store *s, long long limit, long long offset, store_reply *r) {
    return s->ops->list(s, limit, offset, r);
}
static inline int store_replace(store *s, long long id, const note_fields *in, store_reply *r) {
    return s->ops->update(s, id, in, r);
}
static inline int store_patch(store *s, long long id, const note_fields *in, store_reply *r) {
    return s->ops->update(s, id, in, r);
}
static inline int store_delete(store *s, long long id, store_reply *r) {
    return s->ops->remove(s, id, r);
}
/* Waits for what is still running (queries given up on) and closes the
 * store, whatever happens to the caller. Suspends. */
static inline void store_close(store *s) {
    if (s)
        s->ops->close(s);
}

#endif
