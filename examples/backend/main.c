/* A back end: a small notes service, an HTTP JSON API on the aioc HTTP
 * server with its data in an SQLite file or on a PostgreSQL server.
 *
 *   backend [--db FILE | --db postgres://...] [--host H] [--port N] [--db-delay S]
 *           [--cache redis://HOST:PORT[/DB]] [--loops N]
 *   backend --demo [--db postgres://...] [--cache redis://...]
 *
 * One idea per file:
 *   api.c           the HTTP JSON API: routes, requests, replies (the list
 *                   of routes and errors is at its top)
 *   store.h         what the API asks of a database: create, get, list,
 *                   replace, patch, delete a note, each suspending
 *   store_sqlite.c  an SQLite file (the default, notes.db): SQLite blocks,
 *                   so its calls run on aioc's thread pool; WAL, one
 *                   writer and four readers
 *   store_pg.c      PostgreSQL (--db postgres://USER@HOST/DB, postgresql://
 *                   or a conninfo string "host=... dbname=..."): aioc_pg,
 *                   libpq awaited on the loop, no threads; a pool of
 *                   connections, pipelined, prepared statements
 *   store.c         which of the two --db names
 *   store_cache.c   --cache redis://HOST:PORT: a Redis cache in front of
 *                   either (where the aioc_redis adapter is built), the
 *                   same method table over the inner store: GET
 *                   /notes/:id reads "note:<id>" (the note's JSON, 60 s
 *                   TTL) first and fills it on a miss; writes go to the
 *                   database, then DEL the key; lists are not cached.
 *                   Redis down: reads go to the database (a line on
 *                   stderr per outage), no request fails for it; Redis
 *                   unreachable at start: an error, as for the database
 * and this one: the command line, the server, the demo. With --loops N the
 * server runs on N loops (aioc_run_opts.loops), a thread each: every loop
 * opens its own store (its own SQLite connections, or PostgreSQL pool)
 * and listens on the same port (SO_REUSEPORT); SQLite's WAL and busy
 * timeout arbitrate between the loops' writers as between processes.
 * Loops (or processes) starting at once on a new database make its table
 * once: SQLite's open starts again when the other's switch to WAL mode
 * holds the file, PostgreSQL's creation holds an advisory lock
 * (tests/check_backend.sh loops, pg_loops).
 * Both stores give the same JSON (ids never given out twice, timestamps in UTC to the
 * millisecond); the table is made if missing. A 500 carries the
 * database's message ("database: ..."), a 503 says the database cannot be
 * reached (PostgreSQL down: the store connects again once it is back).
 * Without the aioc_pg adapter (no libpq at build time) --db postgres://
 * says so and exits; without aioc_redis (no hiredis), so does --cache.
 *
 * --port 0 takes any free port; "listening on http://HOST:PORT" says when
 * it is ready. --db-delay is a demonstration and test aid: every query
 * first waits S seconds in the database's place (SQLite: a sleep on its
 * thread; PostgreSQL: pg_sleep on the server), to show that the loop goes
 * on serving (GET /health) meanwhile.
 *
 * --demo serves on a free loopback port and runs a scripted client
 * (libcurl, aioc_curl_fetch) in the same loop: a tour of the API. Its
 * database is a temporary SQLite file, or the PostgreSQL server --db names
 * (whose notes table should be empty, for the tour's ids). Ctrl-C (the
 * first) cancels the main task: the server closes, giving requests in
 * progress GRACE seconds, the store is closed (SQLite: when the queries
 * still running on its threads end; PostgreSQL: queries of requests cut
 * off are cancelled on the server), and the process exits with status
 * 130. */
#define _POSIX_C_SOURCE 200809L
#include "api.h"
#include "store.h"

#include <aioc.h>
#include <aioc_curl.h>
#include <aioc_http.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BODY (64 << 10) /* request bodies over this get 413 */
#define GRACE 3.0           /* seconds requests in progress get at shutdown */

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
static int tour(int port, const char *where) {
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
    printf("backend --demo: the notes API on a free loopback port, %s\n"
           "three clients at once (ids go by the order the writes reach the database):\n",
           where);
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
    const char *db, *host, *port, *cache;
    double delay;
    unsigned loops; /* --loops: each loop its own store and listener */
    bool demo;
    char *demo_dir; /* --demo on SQLite: the temporary directory of the database */
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
    struct api api = {NULL, 0};
    char msg[320];
    int err = store_open(a->db, a->delay, &api.store, msg, sizeof msg);
    if (!err && a->cache && (err = store_cache(a->cache, &api.store, msg, sizeof msg))) {
        store_close(api.store);
        api.store = NULL;
    }
    if (err) {
        fprintf(stderr, "backend: %s\n", msg);
        if (a->demo_dir)
            remove_demo_files(a->demo_dir);
        return aioc_fail(err);
    }
    aioc_http_router *r = api_routes(&api);
    aioc_http_server *srv = NULL;
    err = -ENOMEM;
    if (r)
        srv = aioc_http_serve(a->host, a->port, aioc_http_router_handle, r,
                              &(aioc_http_opts){.max_body_bytes = MAX_BODY,
                                                .server.reuse_port = aioc_loop_count() > 1},
                              &err);
    if (!srv) {
        fprintf(stderr, "backend: cannot serve on %s port %s: %s\n", a->host, a->port,
                aioc_strerror(err));
    } else if (a->demo) {
        err = tour(aioc_http_server_port(srv),
                   a->demo_dir ? "SQLite in a temporary file" : "on PostgreSQL");
    } else {
        bool v6 = strchr(a->host, ':');
        char loop[32] = ""; /* every loop says so: all listen once all have */
        if (aioc_loop_count() > 1)
            snprintf(loop, sizeof loop, "loop %u: ", aioc_loop_index());
        /* one call, so that the loops' lines never mix (stdio locks per call) */
        printf("%slistening on http://%s%s%s:%d\n", loop, v6 ? "[" : "", a->host, v6 ? "]" : "",
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
    store_close(api.store);
    if (a->demo_dir) { /* here: after Ctrl-C, aioc_run does not return */
        remove_demo_files(a->demo_dir);
    } else if (err == -ECANCELED && aioc_loop_count() > 1) {
        printf("backend: loop %u interrupted; its database connections are closed\n",
               aioc_loop_index());
        fflush(stdout);
    } else if (err == -ECANCELED) {
        printf("backend: interrupted; the database is closed\n");
        fflush(stdout); /* the process ends by SIGINT, not exit() */
    }
    aioc_scope_exit(&shield);
    return err ? aioc_fail(err) : NULL;
}

static int usage(void) {
    fprintf(stderr, "usage: backend [--db FILE | --db postgres://...] [--host H] [--port N]\n"
                    "               [--db-delay S] [--cache redis://HOST:PORT] [--loops N]\n"
                    "       backend --demo [--db postgres://...] [--cache redis://...]\n"
                    "  --db FILE     SQLite (default notes.db); postgres://, postgresql:// or\n"
                    "                \"host=... dbname=...\": PostgreSQL\n"
                    "  --cache ADDR  a Redis cache of single notes (GET /notes/:id)\n"
                    "  --db-delay S  a demonstration aid: each query waits S seconds first\n"
                    "  --loops N     serve on N loops (\"auto\": one per CPU), a thread each,\n"
                    "                each with its own database connections, all on PORT\n"
                    "                (SO_REUSEPORT; PORT must not be 0)\n");
    return 2;
}

int main(int argc, char **argv) {
    struct args a = {.db = "notes.db", .host = "127.0.0.1", .port = "8080"};
    char demo_dir[256], demo_db[300];
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = "";
        if (!strcmp(o, "--demo"))
            a.demo = true;
        else if (!strcmp(o, "--db") && next)
            a.db = argv[++i];
        else if (!strcmp(o, "--cache") && next)
            a.cache = argv[++i];
        else if (!strcmp(o, "--host") && next)
            a.host = argv[++i];
        else if (!strcmp(o, "--port") && next && strtol(next, &end, 10) >= 0 && !*end && *next)
            a.port = argv[++i];
        else if (!strcmp(o, "--loops") && next)
            a.loops = !strcmp(argv[++i], "auto") ? AIOC_LOOPS_AUTO : (unsigned)atoi(argv[i]);
        else if (!strcmp(o, "--db-delay") && next && (a.delay = strtod(next, &end)) >= 0 &&
                 a.delay <= 3600 && !*end && *next)
            i++;
        else
            return usage();
    }
    if (a.loops > 1 && (a.demo || !strcmp(a.port, "0"))) {
        fprintf(stderr, "backend: --loops needs a fixed --port, and no --demo\n");
        return 2;
    }
    if (a.demo && !store_is_pg(a.db)) { /* a temporary SQLite file */
        a.demo_dir = demo_dir;
        const char *tmp = getenv("TMPDIR");
        snprintf(demo_dir, sizeof demo_dir, "%s/aioc-backend-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(demo_dir)) {
            perror("backend: mkdtemp");
            return 1;
        }
        snprintf(demo_db, sizeof demo_db, "%s/notes.db", demo_dir);
        a.db = demo_db;
    }
    if (a.demo) {
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
    int status =
        aioc_run_with(run, &a, NULL, &(aioc_run_opts){.main_name = "backend", .loops = a.loops});
    curl_global_cleanup();
    return status ? 1 : 0;
}
