/* The notes on a PostgreSQL server (see store.h), through aioc_pg.
 *
 * No thread pool here: libpq runs in its non-blocking mode and the
 * request's task waits on the connection's socket, on the loop. The store
 * is an aioc_pg pool (up to POOL connections, made on demand): the queries
 * of concurrent requests are pipelined onto its connections, and each
 * statement is prepared once per connection, through the adapter's
 * statement cache, with its values as parameters ($1, $2...), never in the
 * SQL text. Each query is a transaction of its own (autocommit): one
 * statement does each operation, as in store_sqlite.c (RETURNING gives the
 * note back). PostgreSQL has no single-writer rule: writes run side by side,
 * each row locked by its own statement.
 *
 * When the server goes away, the queries on its connections fail
 * (AIOC_PG_EBROKEN) and new connections cannot be made (AIOC_PG_ECONNECT):
 * both are STORE_EDOWN. The pool drops broken connections and connects
 * again at the next query, so the store recovers once the server is back.
 * A request given up on (Ctrl-C past the grace period) cancels its query
 * on the server (PQcancel): nothing runs on after the store is closed. */
#define _POSIX_C_SOURCE 200809L
#include "store.h"

#include <aioc_pg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL 8 /* connections at most */

/* The timestamps as SQLite's strftime('%Y-%m-%dT%H:%M:%fZ') writes them */
#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define COLUMNS "id, title, body, " ISO("created") ", " ISO("updated")

/* an identity column never gives an id twice, even after deletes; now()
 * is one value per transaction, so a new note's two times are equal.
 * Several loops (--loops) or processes may start at once, and two
 * CREATE TABLE IF NOT EXISTS at once can both find no table, the second
 * then failing on the catalog's unique index: the creation holds an
 * advisory lock (the transaction's, so the DO block's) until it commits. */
static const char schema[] = "DO $$ BEGIN PERFORM pg_advisory_xact_lock(7236966244);"
                             " CREATE TABLE IF NOT EXISTS notes ("
                             " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                             " title text NOT NULL, body text NOT NULL,"
                             " created timestamptz NOT NULL, updated timestamptz NOT NULL);"
                             " END $$";

static const char sql_list[] = "SELECT " COLUMNS " FROM notes ORDER BY id LIMIT $1 OFFSET $2";
static const char sql_get[] = "SELECT " COLUMNS " FROM notes WHERE id = $1";
static const char sql_create[] = "INSERT INTO notes (title, body, created, updated) "
                                 "VALUES ($1, $2, now(), now()) RETURNING " COLUMNS;
/* a NULL parameter keeps the field (PATCH) */
static const char sql_update[] = "UPDATE notes SET title = coalesce($2, title), "
                                 "body = coalesce($3, body), updated = now() "
                                 "WHERE id = $1 RETURNING " COLUMNS;
static const char sql_delete[] = "DELETE FROM notes WHERE id = $1 RETURNING id";

struct pg_store {
    store base;
    aioc_pg_pool *pool;
    char delay[32]; /* --db-delay, seconds as text; "" for none */
};

/* The reason of a failed query, in `r->msg`, and the store's code for it. */
static int failed(int err, const PGresult *res, store_reply *r) {
    switch (err) {
    case AIOC_PG_ESERVER: {
        const char *state = aioc_pg_sqlstate(res), *msg = aioc_pg_error_message(res);
        snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "server error");
        if (state && !strncmp(state, "22", 2)) /* data exception: the value, not the database */
            return STORE_EINPUT;
        /* connection exception; shutting down, crashed, starting up */
        if (state && (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3)))
            return STORE_EDOWN;
        return STORE_EDB;
    }
    case AIOC_PG_ECONNECT:
    case AIOC_PG_EBROKEN:
        snprintf(r->msg, sizeof r->msg, "%s", aioc_pg_strerror(err));
        return STORE_EDOWN;
    case -ECANCELED:
    case -ETIMEDOUT:
    case -ENOMEM:
        return err;
    default: /* a resolver's error and the like: not reachable now */
        snprintf(r->msg, sizeof r->msg, "%s", aioc_pg_strerror(err));
        return STORE_EDOWN;
    }
}

/* Runs `sql` with `n` text parameters (lengths given: no NUL in them),
 * prepared, after --db-delay's pg_sleep if any. Returns 0 and `*res`, or
 * the store's code with the reason in `r`. Suspends. */
static int query(struct pg_store *st, const char *sql, int n, const char *const *values,
                 const int *lengths, PGresult **res, store_reply *r) {
    int err;
    *res = NULL;
    if (st->delay[0]) {
        const char *d[] = {st->delay};
        const aioc_pg_params p = {.n = 1, .values = d, .prepare = 1};
        err = aioc_pg_pool_exec(st->pool, "SELECT pg_sleep($1)", &p, res);
        if (err) {
            err = failed(err, *res, r);
            PQclear(*res);
            *res = NULL;
            return err;
        }
        PQclear(*res);
    }
    const aioc_pg_params p = {.n = n, .values = values, .lengths = lengths, .prepare = 1};
    err = aioc_pg_pool_exec(st->pool, sql, &p, res);
    if (err) {
        err = failed(err, *res, r);
        PQclear(*res);
        *res = NULL;
    }
    return err;
}

static json_t *row_note(const PGresult *res, int row) {
    int64_t id = 0;
    const char *text[4];
    size_t len[4];
    aioc_pg_int(res, row, 0, &id);
    for (int i = 0; i < 4; i++)
        text[i] = aioc_pg_bytes(res, row, i + 1, &len[i]);
    return json_pack("{s:I, s:s%, s:s%, s:s%, s:s%}", "id", (json_int_t)id, "title", text[0],
                     len[0], "body", text[1], len[1], "created_at", text[2], len[2], "updated_at",
                     text[3], len[3]);
}

/* The note a one-row result holds, or STORE_ENOTFOUND for none. Frees it. */
static int one_note(PGresult *res, store_reply *r) {
    int err = 0;
    if (aioc_pg_rows(res) < 1)
        err = STORE_ENOTFOUND;
    else if (!(r->note = row_note(res, 0)))
        err = -ENOMEM;
    PQclear(res);
    return err;
}

static void id_text(char *buf, size_t n, long long id) { snprintf(buf, n, "%lld", id); }

static int pg_create(store *s, const note_fields *in, store_reply *r) {
    /* text parameters end at a NUL: copies that have one */
    char *title = strndup(in->title, in->title_len), *body = strndup(in->body, in->body_len);
    const char *v[] = {title, body};
    PGresult *res;
    int err =
        title && body ? query((struct pg_store *)s, sql_create, 2, v, NULL, &res, r) : -ENOMEM;
    free(title);
    free(body);
    return err ? err : one_note(res, r);
}

static int pg_get(store *s, long long id, store_reply *r) {
    char ids[24];
    id_text(ids, sizeof ids, id);
    const char *v[] = {ids};
    PGresult *res;
    int err = query((struct pg_store *)s, sql_get, 1, v, NULL, &res, r);
    return err ? err : one_note(res, r);
}

static int pg_list(store *s, long long limit, long long offset, store_reply *r) {
    char l[24], o[24];
    id_text(l, sizeof l, limit);
    id_text(o, sizeof o, offset);
    const char *v[] = {l, o};
    PGresult *res;
    int err = query((struct pg_store *)s, sql_list, 2, v, NULL, &res, r);
    if (err)
        return err;
    json_t *notes = json_array(), *note;
    for (int i = 0; notes && i < aioc_pg_rows(res); i++)
        if (!(note = row_note(res, i)) || json_array_append_new(notes, note)) {
            json_decref(notes);
            notes = NULL;
        }
    PQclear(res);
    return notes && (r->note = json_pack("{s:o}", "notes", notes)) ? 0 : -ENOMEM;
}

static int pg_update(store *s, long long id, const note_fields *in, store_reply *r) {
    char ids[24];
    id_text(ids, sizeof ids, id);
    char *title = in->title ? strndup(in->title, in->title_len) : NULL;
    char *body = in->body ? strndup(in->body, in->body_len) : NULL;
    const char *v[] = {ids, title, body}; /* NULL: SQL NULL, the field is kept */
    PGresult *res = NULL;
    int err = (in->title && !title) || (in->body && !body)
                  ? -ENOMEM
                  : query((struct pg_store *)s, sql_update, 3, v, NULL, &res, r);
    free(title);
    free(body);
    return err ? err : one_note(res, r);
}

static int pg_remove(store *s, long long id, store_reply *r) {
    char ids[24];
    id_text(ids, sizeof ids, id);
    const char *v[] = {ids};
    PGresult *res;
    int err = query((struct pg_store *)s, sql_delete, 1, v, NULL, &res, r);
    if (err)
        return err;
    err = aioc_pg_rows(res) ? 0 : STORE_ENOTFOUND;
    PQclear(res);
    return err;
}

/* The HTTP server has ended every request (or cut it off, which cancelled
 * its query): no query waits on the pool any more. */
static void pg_close(store *s) {
    struct pg_store *st = (struct pg_store *)s;
    aioc_scope shield;
    aioc_shield_enter(&shield);
    aioc_pg_pool_free(st->pool);
    aioc_scope_exit(&shield);
    free(st);
}

static const struct store_ops pg_ops = {
    "PostgreSQL", pg_create, pg_get, pg_list, pg_update, pg_remove, pg_close,
};

static void no_notice(void *arg, const char *msg) { /* "relation already exists, skipping" */
    (void)arg;
    (void)msg;
}

/* Connects once on its own, for a clear message if that fails (libpq's),
 * and makes the table; then the pool connects on demand. */
int store_pg_open(const char *conninfo, double delay, store **out, char *msg, size_t n) {
    char why[256] = "";
    int err;
    aioc_pg_conn *c = aioc_pg_connect(conninfo, why, sizeof why, &err);
    if (!c) {
        size_t len = strlen(why);
        while (len && (why[len - 1] == '\n' || why[len - 1] == ' '))
            why[--len] = '\0'; /* libpq's messages end in a newline */
        snprintf(msg, n, "%s: %s", conninfo, why[0] ? why : aioc_pg_strerror(err));
        return err == -ECANCELED ? err : STORE_EDOWN;
    }
    PQsetNoticeProcessor(aioc_pg_pgconn(c), no_notice, NULL);
    PGresult *res = NULL;
    err = aioc_pg_exec(c, schema, NULL, &res);
    if (err) {
        snprintf(msg, n, "%s: %s", conninfo,
                 err == AIOC_PG_ESERVER ? aioc_pg_error_message(res) : aioc_pg_strerror(err));
        err = err == -ECANCELED ? err : STORE_EDB;
    }
    PQclear(res);
    aioc_pg_close(c);
    struct pg_store *st = err ? NULL : calloc(1, sizeof *st);
    if (!err && st)
        st->pool = aioc_pg_pool_new(conninfo, &(aioc_pg_pool_opts){.max_size = POOL});
    if (!err && (!st || !st->pool)) {
        free(st);
        snprintf(msg, n, "out of memory");
        err = -ENOMEM;
    }
    if (err)
        return err;
    st->base.ops = &pg_ops;
    if (delay > 0)
        snprintf(st->delay, sizeof st->delay, "%.3f", delay);
    *out = &st->base;
    return 0;
}
