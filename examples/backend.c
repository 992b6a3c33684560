/* A back end: a small notes service, an HTTP JSON API on the aioc HTTP
 * server with its data in an SQLite file.
 *
 *   backend [--db FILE] [--host H] [--port N] [--db-delay S]
 *   backend --demo
 *
 *   POST   /notes          {"title": str, "body": str}: 201, the note, Location
 *   GET    /notes          ?limit=N (1-1000, default 100) &offset=N: {"notes": [...]}
 *   GET    /notes/:id      the note: {"id", "title", "body", "created_at", "updated_at"}
 *   PUT    /notes/:id      replaces title and body (both required): 200, the note
 *   PATCH  /notes/:id      changes the fields given: 200, the note
 *   DELETE /notes/:id      204
 *   GET    /health         {"status": "ok", "queries": N}, without waiting for the database
 *
 * Errors are JSON too, {"error": "..."}: 400 for a body that is not JSON,
 * not an object, has a field of the wrong type, an unknown or a missing
 * one; 404 for an unknown or non-numeric id and unknown paths; 405 (with
 * Allow) for a wrong method; 500 with SQLite's message when the database
 * fails. Bodies over 64 KiB get the server's 413. The database defaults to
 * notes.db; --port 0 takes any free port; "listening on http://HOST:PORT"
 * says when it is ready. --db-delay is a demonstration and test aid: every
 * query first sleeps S seconds on its thread, standing in for a slow
 * database, to show that the loop goes on serving (GET /health) meanwhile.
 *
 * The database and the loop. SQLite blocks, so every SQLite call runs on
 * aioc's thread pool (aioc_to_thread_with) while the request's task
 * suspends. The database is in WAL mode, where readers never wait for the
 * writer nor it for them, and SQLite allows one writer at a time. So there
 * is one write connection and READERS read connections, each with its
 * statements prepared once; a connection is used by one thread at a time,
 * handed out on the loop side from a free list counted by a semaphore (a
 * pool of 1 for the writer, so writes queue in FIFO order on the loop, not
 * on SQLite's lock, and busy_timeout only matters for other processes).
 * A semaphore, not a lock: when a request's task is cancelled while its
 * query runs (at shutdown, past the grace period), the query cannot be
 * stopped, so the connection is returned when it ends, from a loop
 * callback, which can release a semaphore but not a lock owned by a task
 * that has moved on; shutdown waits for every connection to come back.
 *
 * --demo serves on a free loopback port with a temporary database and runs
 * a scripted client (libcurl, aioc_curl_fetch) in the same loop: a tour of
 * the API. Ctrl-C (the first) cancels the main task: the server closes,
 * giving requests in progress GRACE seconds, the connections come back and
 * are closed, and the process exits with status 130. */
#define _POSIX_C_SOURCE 200809L
#include <aioc.h>
#include <aioc_curl.h>
#include <aioc_http.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define READERS 4           /* read connections: reads run this many at once */
#define MAX_BODY (64 << 10) /* request bodies over this get 413 */
#define GRACE 3.0           /* seconds requests in progress get at shutdown */

/* ---------------------------------------------------------- database -- */

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

struct store {
    const char *path;
    double delay; /* --db-delay */
    int queries;  /* requests waiting for a query or running one */
    aioc_loop *loop;
    struct pool writer, readers;
    struct conn conn[1 + READERS]; /* conn[0] writes */
    char msg[256];                 /* why opening failed */
};

/* One query, handed to a pool thread with its connection. */
struct job {
    struct store *store;
    struct conn *conn;
    enum op op;
    long long id, limit, offset;
    json_t *in; /* the request's note: "title", "body" */
    /* the outcome */
    int status;  /* 200, 201, 204, 404 or 500 */
    json_t *out; /* the note, {"notes": [...]}, or NULL */
    char msg[200];
};

static struct job *job_new(enum op op, json_t *in) { /* takes `in` */
    struct job *j = calloc(1, sizeof *j);
    if (j) {
        j->op = op;
        j->in = in;
    } else {
        json_decref(in);
    }
    return j;
}

static void job_free(struct job *j) {
    json_decref(j->in);
    json_decref(j->out);
    free(j);
}

/* - on a pool thread - */

static int check_wal(void *wal, int n, char **values, char **names) {
    (void)names;
    *(bool *)wal = n == 1 && values[0] && !strcmp(values[0], "wal");
    return 0;
}

static int conn_open(struct store *st, struct conn *c, bool writer) {
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

static void *open_all(void *arg) {
    struct store *st = arg; /* the writer first: it makes the table */
    for (int i = 0; i <= READERS && conn_open(st, &st->conn[i], i == 0) == SQLITE_OK; i++)
        ;
    return NULL;
}

static void *close_all(void *arg) {
    struct store *st = arg; /* the last to close checkpoints the WAL */
    for (int i = 0; i <= READERS; i++) {
        for (int op = 0; op < NOPS; op++)
            sqlite3_finalize(st->conn[i].stmt[op]);
        sqlite3_close(st->conn[i].db);
    }
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

static void bind_text(sqlite3_stmt *s, const char *name, json_t *value) {
    int i = sqlite3_bind_parameter_index(s, name);
    if (i && value) /* `value` lives in j->in until the statement is reset */
        sqlite3_bind_text(s, i, json_string_value(value), (int)json_string_length(value),
                          SQLITE_STATIC);
}

static void *run_job(void *arg) {
    struct job *j = arg;
    if (j->store->delay > 0) { /* --db-delay: a slow database */
        double whole = floor(j->store->delay);
        struct timespec t = {(time_t)whole, (long)((j->store->delay - whole) * 1e9)};
        while (nanosleep(&t, &t) && errno == EINTR) /* Ctrl-C may land on this thread */
            ;
    }
    sqlite3 *db = j->conn->db;
    sqlite3_stmt *s = j->conn->stmt[j->op];
    /* parameters a statement lacks have index 0, which SQLite refuses */
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":id"), j->id);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":limit"), j->limit);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":offset"), j->offset);
    bind_text(s, ":title", json_object_get(j->in, "title"));
    bind_text(s, ":body", json_object_get(j->in, "body"));
    json_t *rows = json_array(), *note = NULL;
    int rc = rows ? SQLITE_OK : SQLITE_NOMEM;
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
        rc = (note = row_note(s)) && !json_array_append_new(rows, note) ? SQLITE_OK : SQLITE_NOMEM;
    if (rc == SQLITE_DONE && j->op == LIST && !(j->out = json_pack("{s:O}", "notes", rows)))
        rc = SQLITE_NOMEM;
    if (rc != SQLITE_DONE) {
        j->status = 500;
        snprintf(j->msg, sizeof j->msg, "database: %s",
                 rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(db));
    } else if (j->op == LIST) {
        j->status = 200;
    } else if (j->op == DELETE) {
        j->status = sqlite3_changes(db) ? 204 : 404;
    } else if ((j->out = json_incref(json_array_get(rows, 0)))) { /* RETURNING */
        j->status = j->op == CREATE ? 201 : 200;
    } else {
        j->status = 404;
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
 * holds a reference, and store_close waits for every connection. */
static void job_abandoned(void *result, void *arg) {
    (void)result;
    struct job *j = arg;
    while (aioc_loop_call(j->store->loop, job_return, j) == -ENOMEM)
        nanosleep(&(struct timespec){0, 1000000}, NULL); /* it must get back */
}

/* Runs job `j` on a connection of the right pool, on a pool thread, and
 * waits. Takes `j`: returns 0 with it filled in (the caller frees it), or
 * an error, -ECANCELED above all, with the job freed or (if its query is
 * running) left to job_abandoned. Suspends. */
static int db_call(struct store *st, struct job *j) {
    struct pool *p = j->op >= CREATE ? &st->writer : &st->readers;
    st->queries++;
    int err = aioc_sem_acquire(&p->free);
    if (!err) {
        j->store = st;
        j->conn = p->list;
        p->list = j->conn->next;
        err = aioc_to_thread_with(run_job, j, NULL, job_abandoned);
        if (!err)
            conn_put(j->conn);
    } else {
        job_free(j);
    }
    st->queries--;
    return err;
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

static int store_open(struct store *st) {
    aioc_sem_init(&st->writer.free, 0);
    aioc_sem_init(&st->readers.free, 0);
    on_pool(open_all, st);
    if (st->msg[0]) {
        on_pool(close_all, st);
        return -EIO;
    }
    for (int i = 0; i <= READERS; i++) {
        st->conn[i].pool = i ? &st->readers : &st->writer;
        conn_put(&st->conn[i]);
    }
    /* a job given up on calls back from its thread: the loop must not
     * take the wait for it as a deadlock (see aioc_loop_ref) */
    st->loop = aioc_loop_ref(aioc_loop_current());
    return 0;
}

/* Takes every connection back (from requests still running, and from
 * queries given up on that have not ended yet), then closes them. */
static void store_close(struct store *st) {
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
}

/* ------------------------------------------------------------- HTTP -- */

static int reply(aioc_http_response *res, int status, json_t *body) { /* takes `body` */
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    int err = text ? aioc_http_response_json(res, status, text) : -ENOMEM;
    free(text);
    return err;
}

static int reply_error(aioc_http_response *res, int status, const char *msg) {
    json_t *body = json_pack("{s:s}", "error", msg);
    if (!body) /* not UTF-8: a piece of a bad request, cut short */
        body = json_pack("{s:s}", "error", "bad request");
    return reply(res, status, body);
}

/* Runs the job and answers with its outcome. */
static int query(aioc_http_response *res, struct store *st, struct job *j) {
    if (!j)
        return -ENOMEM; /* the server answers 500 */
    int err = db_call(st, j);
    if (err == -ECANCELED || err == -ETIMEDOUT)
        return err; /* the connection is being dropped: nobody to answer */
    if (err)
        return reply_error(res, 500, aioc_strerror(err));
    char location[48];
    switch (j->status) {
    case 204:
        err = aioc_http_response_status(res, 204);
        break;
    case 404:
        err = reply_error(res, 404, "no such note");
        break;
    case 500:
        err = reply_error(res, 500, j->msg);
        break;
    case 201:
        snprintf(location, sizeof location, "/notes/%lld",
                 (long long)json_integer_value(json_object_get(j->out, "id")));
        if ((err = aioc_http_response_header(res, "Location", location)))
            break;
        /* fall through */
    default:
        err = reply(res, j->status, json_incref(j->out));
    }
    job_free(j);
    return err;
}

/* The note in a request's body: an object with string fields "title" (not
 * empty) and "body", nothing else, both required unless `partial`. Returns
 * it, or NULL with the reason in `why`. */
static json_t *read_note(aioc_http_request *req, bool partial, char *why, size_t n) {
    size_t len;
    const char *text = aioc_http_request_body(req, &len);
    json_error_t e;
    json_t *note = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e), *v;
    const char *key;
    *why = '\0';
    if (!note)
        snprintf(why, n, "malformed JSON: %.100s", e.text);
    else if (!json_is_object(note))
        snprintf(why, n, "expected a JSON object");
    else {
        json_object_foreach(note, key, v) {
            if (strcmp(key, "title") && strcmp(key, "body"))
                snprintf(why, n, "unknown field \"%.40s\"", key);
            else if (!json_is_string(v))
                snprintf(why, n, "\"%.40s\" must be a string", key);
            else if (!strcmp(key, "title") && !json_string_length(v))
                snprintf(why, n, "\"title\" must not be empty");
            if (*why)
                break;
        }
    }
    size_t fields = note ? json_object_size(note) : 0;
    if (!*why && !partial && fields < 2)
        snprintf(why, n, "\"title\" and \"body\" are required");
    if (!*why && !fields)
        snprintf(why, n, "nothing to change");
    if (*why) {
        json_decref(note);
        return NULL;
    }
    return note;
}

/* The :id of the path: a positive number, else there is no such note. */
static bool note_id(aioc_http_request *req, long long *id) {
    const char *s = aioc_http_request_param(req, "id");
    size_t n = strspn(s, "0123456789");
    *id = n && !s[n] && n <= 18 ? strtoll(s, NULL, 10) : 0;
    return *id > 0;
}

/* NAME=N in the query string, if there ("limit=10&offset=20"). False if
 * N is not a number from `lo` to `hi`. */
static bool query_number(aioc_http_request *req, const char *name, long long lo, long long hi,
                         long long *v) {
    char value[16];
    long n = aioc_http_request_query_get(req, name, value, sizeof value);
    if (n == -ENOENT)
        return true; /* absent: the default stands */
    if (n <= 0 || n > 9 || strspn(value, "0123456789") != (size_t)n)
        return false;
    *v = strtoll(value, NULL, 10);
    return *v >= lo && *v <= hi;
}

static int notes_list(aioc_http_request *req, aioc_http_response *res, void *arg) {
    long long limit = 100, offset = 0;
    if (!query_number(req, "limit", 1, 1000, &limit))
        return reply_error(res, 400, "limit must be a number from 1 to 1000");
    if (!query_number(req, "offset", 0, 999999999, &offset))
        return reply_error(res, 400, "offset must be a number");
    struct job *j = job_new(LIST, NULL);
    if (j) {
        j->limit = limit;
        j->offset = offset;
    }
    return query(res, arg, j);
}

static int note_create(aioc_http_request *req, aioc_http_response *res, void *arg) {
    char why[160];
    json_t *note = read_note(req, false, why, sizeof why);
    return note ? query(res, arg, job_new(CREATE, note)) : reply_error(res, 400, why);
}

/* GET, PUT, PATCH and DELETE of /notes/:id */
static int note_by_id(aioc_http_request *req, aioc_http_response *res, void *arg) {
    const char *method = aioc_http_request_method(req);
    long long id;
    if (!note_id(req, &id))
        return reply_error(res, 404, "no such note");
    bool put = !strcmp(method, "PUT"), patch = !strcmp(method, "PATCH");
    enum op op = put || patch ? UPDATE : !strcmp(method, "DELETE") ? DELETE : GET;
    json_t *note = NULL;
    char why[160];
    if (op == UPDATE && !(note = read_note(req, patch, why, sizeof why)))
        return reply_error(res, 400, why);
    struct job *j = job_new(op, note);
    if (j)
        j->id = id;
    return query(res, arg, j);
}

/* Answers at once, whatever the database is doing; says how many
 * requests wait for it. */
static int health(aioc_http_request *req, aioc_http_response *res, void *arg) {
    struct store *st = arg;
    char json[64];
    (void)req;
    snprintf(json, sizeof json, "{\"status\":\"ok\",\"queries\":%d}", st->queries);
    return aioc_http_response_json(res, 200, json);
}

/* What no route takes: the router has set 404, or 405 and the Allow
 * header; the body is JSON like every other error. */
static int no_route(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req;
    (void)arg;
    int status = aioc_http_response_get_status(res);
    return reply_error(res, status, status == 405 ? "method not allowed" : "not found");
}

static aioc_http_router *routes(struct store *st) {
    aioc_http_router *r = aioc_http_router_new();
    int err = r ? 0 : -ENOMEM;
    err = err ? err : aioc_http_route(r, "GET", "/health", health, st);
    err = err ? err : aioc_http_route(r, "GET", "/notes", notes_list, st);
    err = err ? err : aioc_http_route(r, "POST", "/notes", note_create, st);
    const char *const by_id[] = {"GET", "PUT", "PATCH", "DELETE"};
    for (int i = 0; i < 4; i++)
        err = err ? err : aioc_http_route(r, by_id[i], "/notes/:id", note_by_id, st);
    if (err) {
        aioc_http_router_free(r);
        return NULL;
    }
    aioc_http_router_fallback(r, no_route, NULL);
    return r;
}

/* ------------------------------------------------------------- demo -- */

struct exchange {
    const char *base, *method, *path, *body;
    long expect, status;
    json_t *reply;
    int err;
};

static void *perform(void *arg) {
    struct exchange *x = arg;
    char url[128];
    snprintf(url, sizeof url, "%s%s", x->base, x->path);
    const char *headers[] = {"Content-Type: application/json"};
    aioc_curl_fetch_opts o = {.method = x->method,
                              .headers = headers,
                              .nheaders = 1,
                              .body = x->body,
                              .body_len = x->body ? strlen(x->body) : 0,
                              .timeout = 10};
    aioc_curl_response r;
    if (!(x->err = aioc_curl_fetch(url, &o, &r))) { /* suspends */
        x->status = r.status;
        x->reply = json_loadb(r.body, r.body_len, 0, NULL); /* NULL if none */
        aioc_curl_response_free(&r);
    }
    return NULL;
}

/* Prints the exchange on one line, leaving out what changes from run to
 * run (timestamps; the ids of notes created at once). Returns 1 if it did
 * not go as expected. */
static int show(const struct exchange *x) {
    printf("%s %s%s%s -> ", x->method, x->path, x->body ? " " : "", x->body ? x->body : "");
    if (x->err) {
        printf("%s\n", aioc_curl_strerror(x->err));
        return 1;
    }
    printf("%ld", x->status);
    json_t *notes = json_object_get(x->reply, "notes"), *shown = json_deep_copy(x->reply), *note;
    size_t i;
    if (notes) {
        printf(" %zu notes, ids", json_array_size(notes));
        json_array_foreach(notes, i, note)
            printf(" %lld", (long long)json_integer_value(json_object_get(note, "id")));
    } else if (shown) {
        json_object_del(shown, "created_at");
        json_object_del(shown, "updated_at");
        if (x->status == 201)
            json_object_del(shown, "id");
        char *text = json_dumps(shown, JSON_COMPACT);
        printf(" %s", text ? text : "?");
        free(text);
    }
    json_decref(shown);
    printf(x->status == x->expect ? "\n" : "  (expected %ld)\n", x->expect);
    return x->status != x->expect;
}

/* The tour: three notes created at once, then one request after another. */
static int tour(int port) {
    char base[48];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
#define X(method, path, body, expect)                                                              \
    { base, method, path, body, expect, 0, NULL, 0 }
    struct exchange x[] = {
        X("POST", "/notes", "{\"title\":\"milk\",\"body\":\"two litres\"}", 201),
        X("POST", "/notes", "{\"title\":\"bread\",\"body\":\"rye\"}", 201),
        X("POST", "/notes", "{\"title\":\"call Ada\",\"body\":\"about Friday\"}", 201),
        X("GET", "/notes", NULL, 200),
        X("PUT", "/notes/2", "{\"title\":\"shopping\",\"body\":\"milk, bread\"}", 200),
        X("PATCH", "/notes/2", "{\"body\":\"milk, rye bread\"}", 200),
        X("GET", "/notes/2", NULL, 200),
        X("DELETE", "/notes/3", NULL, 204),
        X("GET", "/notes/3", NULL, 404),
        X("DELETE", "/notes/3", NULL, 404),
        X("POST", "/notes", "{\"title\":42,\"body\":\"x\"}", 400),
        X("POST", "/notes", "{\"title\":\"oops\"", 400),
        X("DELETE", "/notes", NULL, 405),
        X("GET", "/notes?limit=10", NULL, 200),
    };
#undef X
    const size_t n = sizeof x / sizeof x[0];
    printf("backend --demo: the notes API on a free loopback port, SQLite in a temporary file\n"
           "three clients at once (ids go by the order the writes reach the database):\n");
    aioc_task creates[3];
    for (int i = 0; i < 3; i++)
        creates[i] = aioc_spawn(perform, &x[i]);
    int err = aioc_gather(creates, 3, NULL), failures = 0;
    for (size_t i = 0; i < n && !err; i++) {
        if (i >= 3)
            perform(&x[i]);
        failures += show(&x[i]);
        if (i == 2)
            printf("then one at a time:\n");
    }
    for (size_t i = 0; i < n; i++)
        json_decref(x[i].reply);
    if (!err)
        printf("%zu requests, %s\n", n, failures ? "NOT all as expected" : "all as expected");
    return err ? err : failures ? -EPROTO : 0;
}

/* -------------------------------------------------------------- main -- */

struct args {
    const char *db, *host, *port;
    double delay;
    char *demo_dir; /* --demo: the temporary directory of the database */
};

static void remove_demo_files(const char *dir) {
    char path[320];
    const char *const files[] = {"notes.db", "notes.db-wal", "notes.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void *run(void *arg) {
    struct args *a = arg;
    struct store st = {.path = a->db, .delay = a->delay};
    int err = store_open(&st);
    if (err) {
        fprintf(stderr, "backend: %s\n", st.msg);
        if (a->demo_dir)
            remove_demo_files(a->demo_dir);
        return aioc_fail(err);
    }
    aioc_http_router *r = routes(&st);
    aioc_http_server *srv = NULL;
    err = -ENOMEM;
    if (r)
        srv = aioc_http_serve(a->host, a->port, aioc_http_router_handle, r,
                              &(aioc_http_opts){.max_body_bytes = MAX_BODY}, &err);
    if (!srv) {
        fprintf(stderr, "backend: cannot serve on %s port %s: %s\n", a->host, a->port,
                aioc_strerror(err));
    } else if (a->demo_dir) {
        err = tour(aioc_http_server_port(srv));
    } else {
        bool v6 = strchr(a->host, ':');
        printf("listening on http://%s%s%s:%d\n", v6 ? "[" : "", a->host, v6 ? "]" : "",
               aioc_http_server_port(srv));
        fflush(stdout);
        aioc_event never = AIOC_EVENT_INIT;
        err = aioc_event_wait(&never); /* until Ctrl-C */
    }
    /* Cleanup, which a second cancel must not cut short. */
    aioc_scope shield;
    aioc_shield_enter(&shield);
    aioc_http_server_close(srv, GRACE);
    aioc_http_router_free(r);
    store_close(&st);
    if (a->demo_dir) { /* here: after Ctrl-C, aioc_run does not return */
        remove_demo_files(a->demo_dir);
    } else if (err == -ECANCELED) {
        printf("backend: interrupted; the database is closed\n");
        fflush(stdout); /* the process ends by SIGINT, not exit() */
    }
    aioc_scope_exit(&shield);
    return err ? aioc_fail(err) : NULL;
}

static int usage(void) {
    fprintf(stderr, "usage: backend [--db FILE] [--host H] [--port N] [--db-delay S]\n"
                    "       backend --demo\n"
                    "  --db-delay S  a demonstration aid: each query sleeps S seconds first\n");
    return 2;
}

int main(int argc, char **argv) {
    struct args a = {.db = "notes.db", .host = "127.0.0.1", .port = "8080"};
    char demo_dir[256], demo_db[300];
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = "";
        if (!strcmp(o, "--demo"))
            a.demo_dir = demo_dir;
        else if (!strcmp(o, "--db") && next)
            a.db = argv[++i];
        else if (!strcmp(o, "--host") && next)
            a.host = argv[++i];
        else if (!strcmp(o, "--port") && next && strtol(next, &end, 10) >= 0 && !*end && *next)
            a.port = argv[++i];
        else if (!strcmp(o, "--db-delay") && next && (a.delay = strtod(next, &end)) >= 0 &&
                 a.delay <= 3600 && !*end && *next)
            i++;
        else
            return usage();
    }
    if (a.demo_dir) {
        const char *tmp = getenv("TMPDIR");
        snprintf(demo_dir, sizeof demo_dir, "%s/aioc-backend-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(demo_dir)) {
            perror("backend: mkdtemp");
            return 1;
        }
        snprintf(demo_db, sizeof demo_db, "%s/notes.db", demo_dir);
        a.db = demo_db;
        a.host = "127.0.0.1";
        a.port = "0";
    }
    json_object_seed(0); /* now, before threads make objects */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "backend: libcurl failed to start\n");
        return 1;
    }
    /* With the default options, the first Ctrl-C cancels run(); once it
     * has closed everything, the process dies of SIGINT (status 130). */
    int status = aioc_run_with(run, &a, NULL, &(aioc_run_opts){.main_name = "backend"});
    curl_global_cleanup();
    return status ? 1 : 0;
}
