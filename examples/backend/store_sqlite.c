/* The notes in an SQLite file (see store.h).
 *
 * SQLite blocks, so every SQLite call runs on aioc's thread pool
 * (aioc_to_thread_with) while the request's task suspends. The database is
 * in WAL mode, where readers never wait for the writer nor it for them,
 * and SQLite allows one writer at a time. So there is one write connection
 * and READERS read connections, each with its statements prepared once; a
 * connection is used by one thread at a time, handed out on the loop side
 * from a free list counted by a semaphore (a pool of 1 for the writer, so
 * writes queue in FIFO order on the loop, not on SQLite's lock, and
 * busy_timeout only matters for other processes). A semaphore, not a
 * lock: when a request's task is cancelled while its query runs (at
 * shutdown, past the grace period), the query cannot be stopped, so the
 * connection is returned when it ends, from a loop callback, which can
 * release a semaphore but not a lock owned by a task that has moved on;
 * closing waits for every connection to come back. */
#define _POSIX_C_SOURCE 200809L
#include "store.h"

#include <aioc.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READERS 4 /* read connections: reads run this many at once */

enum op { LIST, GET, CREATE, UPDATE, DELETE, NOPS }; /* CREATE and on write */

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')" /* one value per statement */
#define COLUMNS "id, title, body, created, updated"

static const char *const sql[NOPS] = {
    [LIST] = "SELECT " COLUMNS " FROM notes ORDER BY id LIMIT :limit OFFSET :offset",
    [GET] = "SELECT " COLUMNS " FROM notes WHERE id = :id",
    [CREATE] = "INSERT INTO notes (title, body, created, updated) "
               "VALUES (:title, :body, " NOW ", " NOW ") RETURNING " COLUMNS,
    /* a NULL parameter keeps the field (PATCH) */
    [UPDATE] = "UPDATE notes SET title = coalesce(:title, title), body = coalesce(:body, body), "
               "updated = " NOW " WHERE id = :id RETURNING " COLUMNS,
    [DELETE] = "DELETE FROM notes WHERE id = :id",
};

/* AUTOINCREMENT: an id is never given out twice, even after deletes */
static const char schema[] = "PRAGMA journal_mode = WAL;"   /* answers "wal" */
                             "PRAGMA synchronous = NORMAL;" /* safe in WAL mode */
                             "CREATE TABLE IF NOT EXISTS notes ("
                             " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                             " title TEXT NOT NULL, body TEXT NOT NULL,"
                             " created TEXT NOT NULL, updated TEXT NOT NULL)";

struct conn {
    struct conn *next; /* in its pool's free list */
    struct pool *pool;
    sqlite3 *db;
    sqlite3_stmt *stmt[NOPS]; /* the writer's write ops, a reader's reads */
};

struct pool {      /* loop side only */
    aioc_sem free; /* counts the connections in `list` */
    struct conn *list;
};

struct sqlite_store {
    store base;
    const char *path;
    double delay; /* --db-delay */
    aioc_loop *loop;
    struct pool writer, readers;
    struct conn conn[1 + READERS]; /* conn[0] writes */
    char msg[256];                 /* why opening failed */
};

/* One query, handed to a pool thread with its connection. It owns copies
 * of its inputs: a query given up on runs on after its caller returned. */
struct job {
    struct sqlite_store *st;
    struct conn *conn;
    enum op op;
    long long id, limit, offset;
    char *title, *body; /* NULL: not given */
    int title_len, body_len;
    /* the outcome */
    int err;     /* 0, STORE_ENOTFOUND or STORE_EDB */
    json_t *out; /* the note, {"notes": [...]}, or NULL */
    char msg[200];
};

static void job_free(struct job *j) {
    free(j->title);
    free(j->body);
    json_decref(j->out);
    free(j);
}

static char *copy(const char *s, size_t n, int *len) {
    char *c = s ? malloc(n + 1) : NULL;
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
        *len = (int)n; /* bodies are at most 64 KiB */
    }
    return c;
}

static struct job *job_new(enum op op, long long id, const note_fields *in) {
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->op = op;
    j->id = id;
    if (in && ((in->title && !(j->title = copy(in->title, in->title_len, &j->title_len))) ||
               (in->body && !(j->body = copy(in->body, in->body_len, &j->body_len))))) {
        job_free(j);
        return NULL;
    }
    return j;
}

/* - on a pool thread - */

static int check_wal(void *wal, int n, char **values, char **names) {
    (void)names;
    *(bool *)wal = n == 1 && values[0] && !strcmp(values[0], "wal");
    return 0;
}

static int conn_open(struct sqlite_store *st, struct conn *c, bool writer) {
    bool wal = false;
    /* NOMUTEX: a connection is used by one thread at a time */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(st->path, &c->db, flags, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(c->db, 5000);
    if (rc == SQLITE_OK && writer &&
        (rc = sqlite3_exec(c->db, schema, check_wal, &wal, NULL)) == SQLITE_OK && !wal) {
        snprintf(st->msg, sizeof st->msg, "%s: WAL mode is not available", st->path);
        return SQLITE_ERROR;
    }
    if (rc == SQLITE_OK && !writer)
        rc = sqlite3_exec(c->db, "PRAGMA query_only = ON", NULL, NULL, NULL);
    for (int op = 0; op < NOPS && rc == SQLITE_OK; op++)
        if ((op >= CREATE) == writer)
            rc = sqlite3_prepare_v3(c->db, sql[op], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[op],
                                    NULL);
    if (rc != SQLITE_OK)
        snprintf(st->msg, sizeof st->msg, "%s: %s", st->path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    return rc;
}

static void conn_close(struct conn *c) {
    for (int op = 0; op < NOPS; op++)
        sqlite3_finalize(c->stmt[op]);
    sqlite3_close(c->db);
    *c = (struct conn){0};
}

/* Several loops (--loops) or processes may open a new file at once, and
 * one's switch to WAL mode then meets the other's lock with SQLITE_BUSY,
 * which SQLite returns there without waiting (its busy timeout does not
 * wait where waiting could deadlock): an open that fails so starts again,
 * for up to 5 s. */
static void *open_all(void *arg) {
    struct sqlite_store *st = arg; /* the writer first: it makes the table */
    for (int i = 0; i <= READERS; i++) {
        int rc, tries = 0;
        while ((rc = conn_open(st, &st->conn[i], i == 0)) != SQLITE_OK &&
               (rc & 0xff) == SQLITE_BUSY && tries++ < 250) {
            conn_close(&st->conn[i]);
            st->msg[0] = '\0';
            nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
        }
        if (rc != SQLITE_OK)
            break;
    }
    return NULL;
}

static void *close_all(void *arg) {
    struct sqlite_store *st = arg; /* the last to close checkpoints the WAL */
    for (int i = 0; i <= READERS; i++)
        conn_close(&st->conn[i]);
    return NULL;
}

static json_t *row_note(sqlite3_stmt *s) {
    const char *text[4];
    size_t len[4];
    for (int i = 0; i < 4; i++) { /* the text first, then its length */
        text[i] = (const char *)sqlite3_column_text(s, i + 1);
        len[i] = (size_t)sqlite3_column_bytes(s, i + 1);
    }
    return json_pack("{s:I, s:s%, s:s%, s:s%, s:s%}", "id", (json_int_t)sqlite3_column_int64(s, 0),
                     "title", text[0], len[0], "body", text[1], len[1], "created_at", text[2],
                     len[2], "updated_at", text[3], len[3]);
}

static void bind_text(sqlite3_stmt *s, const char *name, const char *text, int len) {
    int i = sqlite3_bind_parameter_index(s, name);
    if (i && text) /* `text` lives in the job until the statement is reset */
        sqlite3_bind_text(s, i, text, len, SQLITE_STATIC);
}

static void *run_job(void *arg) {
    struct job *j = arg;
    if (j->st->delay > 0) { /* --db-delay: a slow database */
        double whole = floor(j->st->delay);
        struct timespec t = {(time_t)whole, (long)((j->st->delay - whole) * 1e9)};
        while (nanosleep(&t, &t) && errno == EINTR) /* Ctrl-C may land on this thread */
            ;
    }
    sqlite3 *db = j->conn->db;
    sqlite3_stmt *s = j->conn->stmt[j->op];
    /* parameters a statement lacks have index 0, which SQLite refuses */
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":id"), j->id);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":limit"), j->limit);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":offset"), j->offset);
    bind_text(s, ":title", j->title, j->title_len);
    bind_text(s, ":body", j->body, j->body_len);
    json_t *rows = json_array(), *note = NULL;
    int rc = rows ? SQLITE_OK : SQLITE_NOMEM;
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
        rc = (note = row_note(s)) && !json_array_append_new(rows, note) ? SQLITE_OK : SQLITE_NOMEM;
    if (rc == SQLITE_DONE && j->op == LIST && !(j->out = json_pack("{s:O}", "notes", rows)))
        rc = SQLITE_NOMEM;
    if (rc != SQLITE_DONE) {
        j->err = STORE_EDB;
        snprintf(j->msg, sizeof j->msg, "%s",
                 rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(db));
    } else if (j->op == LIST) {
        j->err = 0;
    } else if (j->op == DELETE) {
        j->err = sqlite3_changes(db) ? 0 : STORE_ENOTFOUND;
    } else if ((j->out = json_incref(json_array_get(rows, 0)))) { /* RETURNING */
        j->err = 0;
    } else {
        j->err = STORE_ENOTFOUND;
    }
    json_decref(rows);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return NULL;
}

/* - on the loop - */

static void conn_put(struct conn *c) {
    c->next = c->pool->list;
    c->pool->list = c;
    aioc_sem_release(&c->pool->free);
}

/* The job of a request that gave up is returned here, in a loop callback. */
static void job_return(void *arg) {
    struct job *j = arg;
    conn_put(j->conn);
    job_free(j);
}

/* aioc_to_thread_with's cleanup: called exactly once for a job its task
 * gave up on, when the query has ended (on its pool thread) or if it never
 * started (at once). The connection and the free list belong to the loop,
 * so the job goes back through it. The loop is still there: the store
 * holds a reference, and closing waits for every connection. */
static void job_abandoned(void *result, void *arg) {
    (void)result;
    struct job *j = arg;
    while (aioc_loop_call(j->st->loop, job_return, j) == -ENOMEM)
        nanosleep(&(struct timespec){0, 1000000}, NULL); /* it must get back */
}

/* Runs job `j` on a connection of the right pool, on a pool thread, and
 * waits; hands its outcome to `r`. Takes `j`: it is freed here, or (if
 * its query is running when the caller gives up) left to job_abandoned.
 * Suspends. */
static int run(struct sqlite_store *st, struct job *j, store_reply *r) {
    if (!j)
        return -ENOMEM;
    struct pool *p = j->op >= CREATE ? &st->writer : &st->readers;
    int err = aioc_sem_acquire(&p->free);
    if (err) {
        job_free(j);
        return err;
    }
    j->st = st;
    j->conn = p->list;
    p->list = j->conn->next;
    err = aioc_to_thread_with(run_job, j, NULL, job_abandoned);
    if (err)
        return err; /* the job is job_abandoned's */
    conn_put(j->conn);
    if (!(err = j->err)) {
        r->note = j->out;
        j->out = NULL;
    } else if (err == STORE_EDB) {
        memcpy(r->msg, j->msg, sizeof r->msg);
    }
    job_free(j);
    return err;
}

static int sq_create(store *s, const note_fields *in, store_reply *r) {
    return run((struct sqlite_store *)s, job_new(CREATE, 0, in), r);
}

static int sq_get(store *s, long long id, store_reply *r) {
    return run((struct sqlite_store *)s, job_new(GET, id, NULL), r);
}

static int sq_list(store *s, long long limit, long long offset, store_reply *r) {
    struct job *j = job_new(LIST, 0, NULL);
    if (j) {
        j->limit = limit;
        j->offset = offset;
    }
    return run((struct sqlite_store *)s, j, r);
}

static int sq_update(store *s, long long id, const note_fields *in, store_reply *r) {
    return run((struct sqlite_store *)s, job_new(UPDATE, id, in), r);
}

static int sq_remove(store *s, long long id, store_reply *r) {
    return run((struct sqlite_store *)s, job_new(DELETE, id, NULL), r);
}

/* fn(arg) on the pool, to its end whatever happens to the caller: for
 * opening and closing. Should no thread start, it runs here (blocking the
 * loop) rather than leave a file open. */
static void on_pool(aioc_fn fn, void *arg) {
    aioc_scope shield;
    aioc_shield_enter(&shield);
    if (aioc_to_thread(fn, arg, NULL))
        fn(arg);
    aioc_scope_exit(&shield);
}

/* Takes every connection back (from requests still running, and from
 * queries given up on that have not ended yet), then closes them. */
static void sq_close(store *s) {
    struct sqlite_store *st = (struct sqlite_store *)s;
    aioc_scope shield;
    aioc_shield_enter(&shield);
    for (int i = 0; i < READERS; i++)
        aioc_sem_acquire(&st->readers.free);
    aioc_sem_acquire(&st->writer.free);
    aioc_scope_exit(&shield);
    on_pool(close_all, st);
    aioc_loop_unref(st->loop);
    aioc_sem_destroy(&st->writer.free);
    aioc_sem_destroy(&st->readers.free);
    free(st);
}

static const struct store_ops sqlite_ops = {
    "SQLite", sq_create, sq_get, sq_list, sq_update, sq_remove, sq_close,
};

int store_sqlite_open(const char *path, double delay, store **out, char *msg, size_t n) {
    struct sqlite_store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(msg, n, "out of memory");
        return -ENOMEM;
    }
    st->base.ops = &sqlite_ops;
    st->path = path;
    st->delay = delay;
    aioc_sem_init(&st->writer.free, 0);
    aioc_sem_init(&st->readers.free, 0);
    on_pool(open_all, st);
    if (st->msg[0]) {
        snprintf(msg, n, "%s", st->msg);
        on_pool(close_all, st);
        aioc_sem_destroy(&st->writer.free);
        aioc_sem_destroy(&st->readers.free);
        free(st);
        return STORE_EDB;
    }
    for (int i = 0; i <= READERS; i++) {
        st->conn[i].pool = i ? &st->readers : &st->writer;
        conn_put(&st->conn[i]);
    }
    /* a job given up on calls back from its thread: the loop must not
     * take the wait for it as a deadlock (see aioc_loop_ref) */
    st->loop = aioc_loop_ref(aioc_loop_current());
    *out = &st->base;
    return 0;
}
