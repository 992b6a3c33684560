/* aioc_pg against the suite's PostgreSQL server (pgserver.sh, started
 * once per tree as a ctest fixture; AIOC_PG_SERVER names the file that
 * says where it is). `aioc_pg_tests NAME` runs one test (pg-list.h). */
#include <aioc.h>
#include <aioc_pg.h>
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define AIOC_TEST_ERR_NAME aioc_pg_strerror
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLOW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOW 1
#endif
#endif
#ifndef SLOW
#define SLOW 0
#endif

/* Under Valgrind or a sanitizer everything is slower: smaller sizes. */
static int slow(void) {
    if (SLOW)
        return 1;
    const char *p = getenv("LD_PRELOAD");
    return (p && strstr(p, "valgrind")) || getenv("AIOC_PG_SMALL");
}

/* ---------------------------------------------------- the server info -- */

static char info_tcp[256], info_unix[512], info_url[256], info_data[512], info_bin[256];
static int info_port;

static void read_info(void) {
    if (info_tcp[0])
        return;
    const char *path = getenv("AIOC_PG_SERVER");
    if (!path) {
        fprintf(stderr, "AIOC_PG_SERVER is not set: run through ctest (the pg_server "
                        "fixture), or `pgserver.sh start FILE` and set it to FILE\n");
        exit(1);
    }
    FILE *f = fopen(path, "r");
    CHECK(f);
    char line[600];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        const char *v = eq + 1;
        if (!strcmp(line, "tcp"))
            snprintf(info_tcp, sizeof info_tcp, "%s", v);
        else if (!strcmp(line, "unix"))
            snprintf(info_unix, sizeof info_unix, "%s", v);
        else if (!strcmp(line, "url"))
            snprintf(info_url, sizeof info_url, "%s", v);
        else if (!strcmp(line, "data"))
            snprintf(info_data, sizeof info_data, "%s", v);
        else if (!strcmp(line, "bin"))
            snprintf(info_bin, sizeof info_bin, "%s", v);
        else if (!strcmp(line, "port"))
            info_port = atoi(v);
    }
    fclose(f);
    CHECK(info_tcp[0] && info_port);
}

static void run_pg(aioc_fn fn, int virtual_time) {
    (void)virtual_time;
    read_info();
    int status = aioc_run(fn, NULL, NULL);
    if (status) {
        fprintf(stderr, "main failed: %s\n", aioc_pg_strerror(status));
        exit(1);
    }
}
#undef AIOC_TEST_RUN
#define AIOC_TEST_RUN run_pg

/* aioc_pg_connect as an out-parameter call for CHECK_ERR; checks the
 * convention: the connection, or NULL with the error set, never both. */
static int pg_connect(const char *conninfo, aioc_pg_conn **out, char *msg, size_t n) {
    int err = 1;
    *out = aioc_pg_connect(conninfo, msg, n, &err);
    CHECK(err <= 0 && (*out != NULL) == (err == 0));
    return err;
}

static aioc_pg_conn *connect_ok(const char *conninfo) {
    aioc_pg_conn *c = NULL;
    char msg[256] = "";
    int err = pg_connect(conninfo, &c, msg, sizeof msg);
    if (err)
        fprintf(stderr, "connect '%s': %s: %s\n", conninfo, aioc_pg_strerror(err), msg);
    CHECK_ERR(err, 0);
    CHECK(c);
    return c;
}

/* Runs `sql` (no parameters) and checks it succeeded. */
static void exec_ok(aioc_pg_conn *c, const char *sql) {
    PGresult *r;
    int err = aioc_pg_exec(c, sql, NULL, &r);
    if (err)
        fprintf(stderr, "%s: %s %s\n", sql, aioc_pg_strerror(err),
                r ? aioc_pg_error_message(r) : aioc_pg_conn_message(c));
    CHECK_ERR(err, 0);
    PQclear(r);
}

static int64_t query_int(aioc_pg_conn *c, const char *sql) {
    PGresult *r;
    CHECK_ERR(aioc_pg_exec(c, sql, NULL, &r), 0);
    int64_t v = -1;
    CHECK_ERR(aioc_pg_int(r, 0, 0, &v), 0);
    PQclear(r);
    return v;
}

/* ------------------------------------------------------- connecting -- */

/* A loopback TCP port nobody listens on: bound (so nobody else takes it)
 * but not listening, so connections to it are refused. `*fd` keeps it. */
static int refusing_port(int *fd) {
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(*fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK_EQ(bind(*fd, (struct sockaddr *)&a, len), 0);
    CHECK_EQ(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

TASK_TEST(connect_tcp_unix_url) {
    const char *infos[] = {info_tcp, info_unix, info_url};
    for (int i = 0; i < 3; i++) {
        aioc_pg_conn *c = connect_ok(infos[i]);
        CHECK(aioc_pg_ok(c));
        CHECK(PQserverVersion(aioc_pg_pgconn(c)) >= 140000);
        CHECK_EQ(query_int(c, "SELECT 6 * 7"), 42);
        aioc_pg_close(c);
    }
    /* the URL names "localhost": it was resolved by aioc, and the name
     * kept as host (libpq reports it back) */
    aioc_pg_conn *c = connect_ok(info_url);
    CHECK(!strcmp(PQhost(aioc_pg_pgconn(c)), "localhost"));
    CHECK(PQhostaddr(aioc_pg_pgconn(c)) && PQhostaddr(aioc_pg_pgconn(c))[0]);
    aioc_pg_close(c);
    /* several hosts: the first attempt fails (no such socket directory),
     * libpq moves on to the next with a new socket, which is waited on */
    char conninfo[400];
    snprintf(conninfo, sizeof conninfo,
             "host=/nonexistent,no-such-host.invalid,localhost port=%d user=postgres "
             "dbname=postgres",
             info_port);
    CHECK_ERR(pg_connect(conninfo, &c, NULL, 0), AIOC_EAI_BASE + EAI_NONAME);
    snprintf(conninfo, sizeof conninfo,
             "host=/nonexistent,localhost,127.0.0.1 port=%d,%d,1 user=postgres dbname=postgres",
             info_port, info_port);
    c = connect_ok(conninfo);
    CHECK(!strcmp(PQhost(aioc_pg_pgconn(c)), "localhost"));
    CHECK_EQ(query_int(c, "SELECT 8"), 8);
    aioc_pg_close(c);
    /* sslmode passes through: this server has no TLS, so "require" fails */
    snprintf(conninfo, sizeof conninfo, "%s sslmode=require", info_tcp);
    char msg[256] = "";
    CHECK_ERR(pg_connect(conninfo, &c, msg, sizeof msg), AIOC_PG_ECONNECT);
    CHECK(strstr(msg, "SSL"));
    snprintf(conninfo, sizeof conninfo, "%s sslmode=prefer", info_tcp);
    c = connect_ok(conninfo);
    aioc_pg_close(c);
    return NULL;
}

TASK_TEST(connect_errors) {
    aioc_pg_conn *c = (aioc_pg_conn *)1;
    char msg[256] = "";
    /* nobody listens on the port */
    int fd;
    int port = refusing_port(&fd);
    char conninfo[400];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=postgres", port);
    CHECK_ERR(pg_connect(conninfo, &c, msg, sizeof msg), AIOC_PG_ECONNECT);
    CHECK(c == NULL);
    if (!strstr(msg, "refused"))
        fprintf(stderr, "message: %s\n", msg);
    CHECK(strstr(msg, "refused"));
    close(fd);
    /* a database that does not exist */
    snprintf(conninfo, sizeof conninfo, "%s dbname=nosuchdb", info_tcp);
    CHECK_ERR(pg_connect(conninfo, &c, msg, sizeof msg), AIOC_PG_ECONNECT);
    CHECK(strstr(msg, "nosuchdb"));
    /* not a conninfo */
    CHECK_ERR(pg_connect("nonsense without equals", &c, msg, sizeof msg), -EINVAL);
    CHECK(msg[0]);
    CHECK(aioc_pg_connect("nonsense without equals", NULL, 0, NULL) == NULL); /* err may be NULL */
    /* a name that does not resolve: aioc's resolver error */
    int err = pg_connect("host=no-such-host.invalid user=postgres", &c, msg, sizeof msg);
    CHECK(err <= AIOC_EAI_BASE + 0 && err > AIOC_EAI_BASE - 100);
    /* a server that never answers (a listening socket nobody accepts on):
     * connect_timeout, which libpq keeps only in its blocking connect, is
     * kept here too */
    port = refusing_port(&fd);
    CHECK_EQ(listen(fd, 8), 0);
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d connect_timeout=1", port);
    double t0 = aioc_now();
    CHECK_ERR(pg_connect(conninfo, &c, msg, sizeof msg), -ETIMEDOUT);
    CHECK(aioc_now() - t0 >= 1.9); /* at least 2 s, as libpq counts it */
    close(fd);
    /* a deadline that has passed: the attempt is abandoned */
    aioc_scope s;
    aioc_scope_enter(&s, 0.0);
    err = pg_connect(info_tcp, &c, msg, sizeof msg);
    aioc_scope_exit(&s);
    CHECK_ERR(err, -ETIMEDOUT);
    CHECK(c == NULL);
    return NULL;
}

/* ----------------------------------------------------------- queries -- */

TASK_TEST(query_values) {
    aioc_pg_conn *c = connect_ok(info_tcp);
    PGresult *r;
    const char *args[] = {"20", NULL, "it's"};
    CHECK_ERR(
        aioc_pg_query(c, "SELECT $1::int4 + 1, $2::text IS NULL, $3::text, NULL::int", 3, args, &r),
        0);
    CHECK_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
    CHECK_EQ(aioc_pg_rows(r), 1);
    CHECK_EQ(aioc_pg_cols(r), 4);
    CHECK(!strcmp(aioc_pg_text(r, 0, 0), "21"));
    int64_t v;
    CHECK_ERR(aioc_pg_int(r, 0, 1, &v), 0);
    CHECK_EQ(v, 1);
    CHECK(!strcmp(aioc_pg_text(r, 0, 2), "it's"));
    CHECK(aioc_pg_text(r, 0, 3) == NULL);
    CHECK_ERR(aioc_pg_int(r, 0, 3, &v), -ENOENT);
    CHECK_ERR(aioc_pg_int(r, 1, 0, &v), -ERANGE);
    CHECK_ERR(aioc_pg_int(r, 0, 2, &v), -EINVAL);
    aioc_pg_result_free(r);

    /* many rows, a command */
    exec_ok(c, "CREATE TEMP TABLE t (id int primary key, name text)");
    CHECK_ERR(aioc_pg_exec(c, "INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 1000) g",
                           NULL, &r),
              0);
    CHECK_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
    CHECK(!strcmp(PQcmdTuples(r), "1000"));
    PQclear(r);
    CHECK_ERR(aioc_pg_exec(c, "SELECT id, name FROM t ORDER BY id", NULL, &r), 0);
    CHECK_EQ(aioc_pg_rows(r), 1000);
    for (int i = 0; i < 1000; i++) {
        char want[16];
        snprintf(want, sizeof want, "n%d", i + 1);
        CHECK_ERR(aioc_pg_int(r, i, 0, &v), 0);
        CHECK_EQ(v, i + 1);
        CHECK(!strcmp(aioc_pg_text(r, i, 1), want));
    }
    PQclear(r);
    CHECK_EQ(aioc_pg_in_flight(c), 0);
    aioc_pg_close(c);
    return NULL;
}

TASK_TEST(binary_values) {
    aioc_pg_conn *c = connect_ok(info_unix);
    /* binary parameters: an int4 and a bytea with a zero byte inside */
    uint32_t be = htobe32((uint32_t)-7);
    const char bytes[] = {'a', 0, 'b', (char)0xff};
    const char *values[] = {(const char *)&be, bytes};
    int lengths[] = {4, 4}, formats[] = {1, 1};
    Oid types[] = {23, 17};
    aioc_pg_params p = {.n = 2,
                        .values = values,
                        .lengths = lengths,
                        .formats = formats,
                        .types = types,
                        .binary_results = 1};
    PGresult *r;
    CHECK_ERR(aioc_pg_exec(c,
                           "SELECT $1, $1::int8 * 1000000000000, 2.5::float8, true, $2, "
                           "1.25::float4, 3::int2",
                           &p, &r),
              0);
    int64_t v;
    double d;
    CHECK_ERR(aioc_pg_int(r, 0, 0, &v), 0);
    CHECK_EQ(v, -7);
    CHECK_ERR(aioc_pg_int(r, 0, 1, &v), 0);
    CHECK_EQ(v, -7000000000000LL);
    CHECK_ERR(aioc_pg_double(r, 0, 2, &d), 0);
    CHECK(d == 2.5);
    CHECK_ERR(aioc_pg_int(r, 0, 3, &v), 0);
    CHECK_EQ(v, 1);
    size_t len;
    const char *b = aioc_pg_bytes(r, 0, 4, &len);
    CHECK_EQ(len, 4);
    CHECK(!memcmp(b, bytes, 4));
    CHECK_ERR(aioc_pg_double(r, 0, 5, &d), 0);
    CHECK(d == 1.25);
    CHECK_ERR(aioc_pg_int(r, 0, 6, &v), 0);
    CHECK_EQ(v, 3);
    CHECK_ERR(aioc_pg_int(r, 0, 2, &v), -EINVAL); /* a float is no integer */
    PQclear(r);
    /* text results of the same, through the same helpers */
    CHECK_ERR(aioc_pg_exec(c, "SELECT 2.5::float8, false", NULL, &r), 0);
    CHECK_ERR(aioc_pg_double(r, 0, 0, &d), 0);
    CHECK(d == 2.5);
    CHECK_ERR(aioc_pg_int(r, 0, 1, &v), 0);
    CHECK_EQ(v, 0);
    PQclear(r);
    aioc_pg_close(c);
    return NULL;
}

TASK_TEST(sqlstate) {
    aioc_pg_conn *c = connect_ok(info_tcp);
    PGresult *r;
    CHECK_ERR(aioc_pg_exec(c, "SELECT 1 / 0", NULL, &r), AIOC_PG_ESERVER);
    CHECK(r);
    CHECK(!strcmp(aioc_pg_sqlstate(r), "22012"));
    CHECK(strstr(aioc_pg_error_message(r), "division by zero"));
    PQclear(r);
    CHECK_ERR(aioc_pg_exec(c, "SELEC 1", NULL, &r), AIOC_PG_ESERVER);
    CHECK(!strcmp(aioc_pg_sqlstate(r), "42601"));
    PQclear(r);
    CHECK_ERR(aioc_pg_exec(c, "SELECT * FROM no_such_table", NULL, &r), AIOC_PG_ESERVER);
    CHECK(!strcmp(aioc_pg_sqlstate(r), "42P01"));
    PQclear(r);
    exec_ok(c, "CREATE TEMP TABLE u (k int primary key)");
    exec_ok(c, "INSERT INTO u VALUES (1)");
    CHECK_ERR(aioc_pg_exec(c, "INSERT INTO u VALUES (1)", NULL, &r), AIOC_PG_ESERVER);
    CHECK(!strcmp(aioc_pg_sqlstate(r), "23505"));
    CHECK(strstr(aioc_pg_error_message(r), "duplicate key"));
    CHECK(aioc_pg_sqlstate(NULL) == NULL);
    PQclear(r);
    /* RAISE with a SQLSTATE of our own */
    CHECK_ERR(aioc_pg_exec(c, "DO $$ BEGIN RAISE EXCEPTION 'mine' USING ERRCODE = 'P0042'; END $$",
                           NULL, &r),
              AIOC_PG_ESERVER);
    CHECK(!strcmp(aioc_pg_sqlstate(r), "P0042"));
    CHECK(!strcmp(aioc_pg_error_message(r), "mine"));
    PQclear(r);
    /* the connection goes on */
    CHECK_EQ(query_int(c, "SELECT 1"), 1);
    aioc_pg_close(c);
    return NULL;
}

/* ---------------------------------------------------------- pipeline -- */

typedef struct job {
    aioc_pg_conn *c;
    aioc_pg_pool *pool;
    int i, err, prepare;
    char state[6];
    const char *sql; /* run_sql's */
} job;

static void *double_it(void *arg) {
    job *j = arg;
    char v[16];
    snprintf(v, sizeof v, "%d", j->i);
    const char *args[] = {v};
    PGresult *r;
    j->err = j->pool ? aioc_pg_pool_query(j->pool, "SELECT $1::int4 * 2", 1, args, &r)
                     : aioc_pg_query(j->c, "SELECT $1::int4 * 2", 1, args, &r);
    if (j->err)
        return aioc_fail(j->err);
    int64_t got = -1;
    CHECK_ERR(aioc_pg_int(r, 0, 0, &got), 0);
    CHECK_EQ(got, 2 * j->i);
    PQclear(r);
    return NULL;
}

TASK_TEST(pipeline_values) {
    aioc_pg_conn *c = connect_ok(info_tcp);
    enum { N = 500 };
    static job jobs[N];
    static aioc_task t[N];
    size_t most = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            jobs[i] = (job){.c = c, .i = round * N + i};
            t[i] = aioc_spawn(double_it, &jobs[i]);
        }
        /* once they have all sent, every query is in flight at once */
        aioc_yield();
        if (aioc_pg_in_flight(c) > most)
            most = aioc_pg_in_flight(c);
        CHECK_ERR(aioc_gather(t, N, NULL), 0);
    }
    CHECK_EQ(most, N); /* pipelined: none waited for another's reply */
    CHECK_EQ(aioc_pg_in_flight(c), 0);
    aioc_pg_close(c);
    return NULL;
}

static void *insert_or_fail(void *arg) {
    job *j = arg;
    char v[16];
    snprintf(v, sizeof v, "%d", j->i);
    const char *args[] = {v};
    PGresult *r;
    aioc_pg_params p = {.n = 1, .values = args, .prepare = j->prepare};
    /* task 50 divides by zero; every other one inserts its number */
    j->err = aioc_pg_exec(j->c,
                          j->i == 50 ? "INSERT INTO p VALUES (1 / ($1::int4 - 50))"
                                     : "INSERT INTO p VALUES ($1::int4)",
                          &p, &r);
    if (j->err == AIOC_PG_ESERVER)
        snprintf(j->state, sizeof j->state, "%s", aioc_pg_sqlstate(r));
    PQclear(r);
    return NULL;
}

/* Queries sent together share a Sync (a batch, one implicit transaction
 * on the server); an error in one must still fail no other: the others of
 * its batch are sent again, each alone. With and without prepared
 * statements (a Parse skipped with its batch is sent again too). */
TASK_TEST(pipeline_error_middle) {
    aioc_pg_conn *c = connect_ok(info_tcp);
    exec_ok(c, "CREATE TEMP TABLE p (v int)");
    enum { N = 100 };
    static job jobs[N];
    aioc_task t[N];
    for (int prepare = 0; prepare < 2; prepare++) {
        exec_ok(c, "TRUNCATE p");
        for (int i = 0; i < N; i++) {
            jobs[i] = (job){.c = c, .i = i, .prepare = prepare};
            t[i] = aioc_spawn(insert_or_fail, &jobs[i]);
        }
        aioc_yield();
        CHECK_EQ(aioc_pg_in_flight(c), N); /* all in one pipeline */
        CHECK_ERR(aioc_gather(t, N, NULL), 0);
        for (int i = 0; i < N; i++) {
            if (i == 50) {
                CHECK_ERR(jobs[i].err, AIOC_PG_ESERVER);
                CHECK(!strcmp(jobs[i].state, "22012"));
            } else {
                CHECK_ERR(jobs[i].err, 0);
            }
        }
        /* the others' rows stayed, each once */
        CHECK_EQ(query_int(c, "SELECT count(*) FROM p"), N - 1);
        CHECK_EQ(query_int(c, "SELECT count(DISTINCT v) FROM p"), N - 1);
        CHECK_EQ(query_int(c, "SELECT sum(v) FROM p"), N * (N - 1) / 2 - 50);
    }
    aioc_pg_close(c);
    return NULL;
}

static void *run_sql(void *arg) {
    job *j = arg;
    PGresult *r;
    j->err = aioc_pg_query(j->c, j->sql, 0, NULL, &r);
    if (j->err == AIOC_PG_ESERVER)
        snprintf(j->state, sizeof j->state, "%s", aioc_pg_sqlstate(r));
    PQclear(r);
    return NULL;
}

/* Runs `n` statements at once on `c`, one task each; returns how many
 * failed (their SQLSTATEs in jobs[i].state). */
static int run_together(aioc_pg_conn *c, const char *const *sql, int n, job *jobs) {
    aioc_task t[16];
    CHECK(n <= 16);
    for (int i = 0; i < n; i++) {
        jobs[i] = (job){.c = c, .i = i, .sql = sql[i]};
        t[i] = aioc_spawn(run_sql, &jobs[i]);
    }
    CHECK_ERR(aioc_gather(t, (size_t)n, NULL), 0);
    int failed = 0;
    for (int i = 0; i < n; i++)
        failed += jobs[i].err != 0;
    return failed;
}

/* Queries sent in one turn of the loop travel in one batch: the server
 * sees one transaction (so one transaction_timestamp) per batch of up to
 * 64, not one per query; and a statement that cannot run inside a
 * transaction block (VACUUM), sent among others, still runs. */
TASK_TEST(pipeline_batches) {
    aioc_pg_conn *c = connect_ok(info_tcp);
    exec_ok(c, "CREATE TEMP TABLE stamps (t text)");
    enum { N = 100 };
    static job jobs[N];
    aioc_task t[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){.c = c, .sql = "INSERT INTO stamps VALUES (transaction_timestamp()::text)"};
        t[i] = aioc_spawn(run_sql, &jobs[i]);
    }
    CHECK_ERR(aioc_gather(t, N, NULL), 0);
    for (int i = 0; i < N; i++)
        CHECK_ERR(jobs[i].err, 0);
    CHECK_EQ(query_int(c, "SELECT count(*) FROM stamps"), N);
    int64_t batches = query_int(c, "SELECT count(DISTINCT t) FROM stamps");
    CHECK(batches >= 2 && batches <= 3); /* 64 + 36 */

    const char *mixed[] = {"SELECT 1", "SELECT 2", "VACUUM stamps", "SELECT 3", "SELECT 4"};
    CHECK_EQ(run_together(c, mixed, 5, jobs), 0);
    aioc_pg_close(c);
    return NULL;
}

/* Inside an explicit transaction the statements are one unit anyway: the
 * failing one reports its own error, the others of its batch report that
 * the transaction is aborted (25P02) and nothing is committed. */
TASK_TEST(pipeline_transaction_error) {
    aioc_pg_conn *c = connect_ok(info_tcp);
    exec_ok(c, "CREATE TEMP TABLE tx (v int)");
    exec_ok(c, "BEGIN");
    const char *sql[] = {"INSERT INTO tx VALUES (1)", "INSERT INTO tx VALUES (2)",
                         "INSERT INTO tx VALUES (1 / 0)", "INSERT INTO tx VALUES (4)"};
    job jobs[4];
    CHECK_EQ(run_together(c, sql, 4, jobs), 4);
    CHECK(!strcmp(jobs[2].state, "22012"));
    CHECK(!strcmp(jobs[0].state, "25P02") && !strcmp(jobs[1].state, "25P02"));
    CHECK(!strcmp(jobs[3].state, "25P02"));
    PGresult *r;
    CHECK_ERR(aioc_pg_query(c, "COMMIT", 0, NULL, &r), 0);
    CHECK(!strcmp(PQcmdStatus(r), "ROLLBACK"));
    PQclear(r);
    CHECK_EQ(query_int(c, "SELECT count(*) FROM tx"), 0);
    aioc_pg_close(c);
    return NULL;
}

/* Two connections whose batches take the same row locks in opposite
 * orders deadlock on the server (locks are held to a batch's end); one
 * query is chosen as the victim (40P01) and, being a casualty of
 * batching, is sent again alone: every statement succeeds. */
TASK_TEST(pipeline_batch_deadlock) {
    aioc_pg_conn *a = connect_ok(info_tcp), *b = connect_ok(info_tcp);
    exec_ok(a, "DROP TABLE IF EXISTS dl");
    exec_ok(a, "CREATE TABLE dl (id int PRIMARY KEY, n int)");
    exec_ok(a, "INSERT INTO dl VALUES (1, 0), (2, 0)");
    const char *ab[] = {"UPDATE dl SET n = n + 1 WHERE id = 1", "SELECT pg_sleep(0.3)",
                        "UPDATE dl SET n = n + 1 WHERE id = 2"};
    const char *ba[] = {"UPDATE dl SET n = n + 1 WHERE id = 2", "SELECT pg_sleep(0.3)",
                        "UPDATE dl SET n = n + 1 WHERE id = 1"};
    static job jobs[6];
    aioc_task t[6];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (job){.c = a, .sql = ab[i]};
        jobs[3 + i] = (job){.c = b, .sql = ba[i]};
    }
    for (int i = 0; i < 6; i++)
        t[i] = aioc_spawn(run_sql, &jobs[i]);
    CHECK_ERR(aioc_gather(t, 6, NULL), 0);
    for (int i = 0; i < 6; i++)
        CHECK_ERR(jobs[i].err, 0);
    CHECK_EQ(query_int(a, "SELECT sum(n) FROM dl"), 4);
    exec_ok(a, "DROP TABLE dl");
    aioc_pg_close(a);
    aioc_pg_close(b);
    return NULL;
}

TASK_TEST(prepared_cache) {
    aioc_pg_conn *c = connect_ok(info_tcp);
    aioc_pg_params p = {.n = 1, .prepare = 1};
    for (int i = 0; i < 20; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *args[] = {v};
        p.values = args;
        PGresult *r;
        CHECK_ERR(aioc_pg_exec(c, "SELECT $1::int4 + 100", &p, &r), 0);
        int64_t got;
        CHECK_ERR(aioc_pg_int(r, 0, 0, &got), 0);
        CHECK_EQ(got, i + 100);
        PQclear(r);
    }
    /* prepared once: the server has one statement of ours */
    CHECK_EQ(query_int(c, "SELECT count(*) FROM pg_prepared_statements"), 1);
    /* a statement that does not prepare fails, and is not cached */
    PGresult *r;
    p.n = 0;
    for (int i = 0; i < 2; i++) {
        CHECK_ERR(aioc_pg_exec(c, "SELECT nope FROM nowhere", &p, &r), AIOC_PG_ESERVER);
        CHECK(!strcmp(aioc_pg_sqlstate(r), "42P01"));
        PQclear(r);
    }
    exec_ok(c, "CREATE TEMP TABLE nowhere (nope int)");
    exec_ok(c, "INSERT INTO nowhere VALUES (5)");
    CHECK_ERR(aioc_pg_exec(c, "SELECT nope FROM nowhere", &p, &r), 0);
    CHECK(!strcmp(aioc_pg_text(r, 0, 0), "5"));
    PQclear(r);
    /* an error while executing keeps the statement */
    CHECK_ERR(aioc_pg_exec(c, "SELECT 1 / (nope - 5) FROM nowhere", &p, &r), AIOC_PG_ESERVER);
    PQclear(r);
    CHECK_EQ(query_int(c, "SELECT count(*) FROM pg_prepared_statements"), 3);
    /* the table changes under a cached statement: the server refuses the
     * old plan once (0A000), and the next call prepares it again */
    CHECK_ERR(aioc_pg_exec(c, "SELECT * FROM nowhere", &p, &r), 0);
    CHECK_EQ(aioc_pg_cols(r), 1);
    PQclear(r);
    exec_ok(c, "ALTER TABLE nowhere ADD COLUMN more int DEFAULT 7");
    CHECK_ERR(aioc_pg_exec(c, "SELECT * FROM nowhere", &p, &r), AIOC_PG_ESERVER);
    CHECK(!strcmp(aioc_pg_sqlstate(r), "0A000"));
    PQclear(r);
    CHECK_ERR(aioc_pg_exec(c, "SELECT * FROM nowhere", &p, &r), 0);
    CHECK_EQ(aioc_pg_cols(r), 2);
    CHECK(!strcmp(aioc_pg_text(r, 0, 1), "7"));
    PQclear(r);
    /* the old one was deallocated on the server */
    CHECK_EQ(query_int(c, "SELECT count(*) FROM pg_prepared_statements"), 4);
    /* the cache keeps at most 256 statements; more run unprepared */
    for (int i = 0; i < 300; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT %d + 0", i);
        CHECK_ERR(aioc_pg_exec(c, sql, &p, &r), 0);
        CHECK_EQ(atoi(aioc_pg_text(r, 0, 0)), i);
        PQclear(r);
    }
    CHECK_EQ(query_int(c, "SELECT count(*) FROM pg_prepared_statements"), 256);
    aioc_pg_close(c);
    return NULL;
}

/* ----------------------------------------------------- transactions -- */

typedef struct tx_state {
    aioc_pg_pool *pool;
    int in_tx;      /* the transaction is open */
    long seen, bad; /* the others' reads, and those that saw its rows */
} tx_state;

static void *count_rows(void *arg) {
    tx_state *s = arg;
    while (s->in_tx) {
        PGresult *r;
        CHECK_ERR(aioc_pg_pool_exec(s->pool, "SELECT count(*) FROM tx", NULL, &r), 0);
        int64_t n;
        CHECK_ERR(aioc_pg_int(r, 0, 0, &n), 0);
        PQclear(r);
        s->seen++;
        if (n != 0 && s->in_tx)
            s->bad++;
    }
    return NULL;
}

TASK_TEST(transaction) {
    aioc_pg_pool *pool = aioc_pg_pool_new(info_tcp, &(aioc_pg_pool_opts){.max_size = 2});
    CHECK(pool);
    PGresult *r;
    CHECK_ERR(aioc_pg_pool_exec(pool, "DROP TABLE IF EXISTS tx", NULL, &r), 0);
    PQclear(r);
    CHECK_ERR(aioc_pg_pool_exec(pool, "CREATE TABLE tx (v int)", NULL, &r), 0);
    PQclear(r);
    tx_state st = {.pool = pool, .in_tx = 1};
    aioc_task readers[4];
    for (int i = 0; i < 4; i++)
        readers[i] = aioc_spawn(count_rows, &st);

    /* rolled back: nobody ever sees it; the readers' queries never land
     * inside the transaction, though they share the pool */
    aioc_pg_conn *c;
    CHECK_ERR(aioc_pg_pool_acquire(pool, &c), 0);
    CHECK_ERR(aioc_pg_begin(c), 0);
    for (int i = 0; i < 10; i++) {
        exec_ok(c, "INSERT INTO tx VALUES (1)");
        aioc_sleep(0.005);
    }
    CHECK_EQ(query_int(c, "SELECT count(*) FROM tx"), 10);
    CHECK_ERR(aioc_pg_rollback(c), 0);
    aioc_pg_pool_release(pool, c);
    long before = st.seen;
    while (st.seen < before + 20)
        aioc_sleep(0.001);
    /* an error inside: the rest of the transaction is refused (25P02) */
    CHECK_ERR(aioc_pg_pool_acquire(pool, &c), 0);
    CHECK_ERR(aioc_pg_begin(c), 0);
    exec_ok(c, "INSERT INTO tx VALUES (2)");
    CHECK_ERR(aioc_pg_exec(c, "SELECT 1 / 0", NULL, &r), AIOC_PG_ESERVER);
    PQclear(r);
    CHECK_ERR(aioc_pg_exec(c, "INSERT INTO tx VALUES (3)", NULL, &r), AIOC_PG_ESERVER);
    CHECK(!strcmp(aioc_pg_sqlstate(r), "25P02"));
    PQclear(r);
    CHECK_ERR(aioc_pg_rollback(c), 0);
    aioc_pg_pool_release(pool, c);
    /* committed: visible */
    st.in_tx = 0;
    CHECK_ERR(aioc_gather(readers, 4, NULL), 0);
    CHECK(st.seen > 20);
    CHECK_EQ(st.bad, 0);
    CHECK_ERR(aioc_pg_pool_acquire(pool, &c), 0);
    CHECK_ERR(aioc_pg_begin(c), 0);
    exec_ok(c, "INSERT INTO tx VALUES (4)");
    CHECK_ERR(aioc_pg_commit(c), 0);
    aioc_pg_pool_release(pool, c);
    CHECK_ERR(aioc_pg_pool_exec(pool, "SELECT sum(v) FROM tx", NULL, &r), 0);
    CHECK(!strcmp(aioc_pg_text(r, 0, 0), "4"));
    PQclear(r);
    /* released inside a transaction: closed, not reused */
    CHECK_ERR(aioc_pg_pool_acquire(pool, &c), 0);
    CHECK_ERR(aioc_pg_begin(c), 0);
    aioc_pg_pool_release(pool, c);
    CHECK_ERR(aioc_pg_pool_exec(pool, "DROP TABLE tx", NULL, &r), 0);
    PQclear(r);
    aioc_pg_pool_free(pool);
    return NULL;
}

static int add_two(aioc_pg_conn *c, void *arg) {
    int *fail = arg;
    PGresult *r;
    int err = aioc_pg_exec(c, "INSERT INTO txf VALUES (1)", NULL, &r);
    PQclear(r);
    if (!err)
        err = aioc_pg_exec(c, "INSERT INTO txf VALUES (2)", NULL, &r);
    PQclear(r);
    if (!err && *fail == 1)
        err = -EIO; /* the body's own failure */
    if (!err && *fail == 2)
        err = aioc_sleep(30); /* cancelled from outside */
    return err;
}

static void *run_tx(void *arg) {
    job *j = arg;
    j->err = aioc_pg_pool_transaction(j->pool, add_two, &j->i);
    return NULL;
}

TASK_TEST(pool_transaction_helper) {
    aioc_pg_pool *pool = aioc_pg_pool_new(info_tcp, &(aioc_pg_pool_opts){.max_size = 2});
    PGresult *r;
    CHECK_ERR(aioc_pg_pool_exec(pool, "DROP TABLE IF EXISTS txf", NULL, &r), 0);
    PQclear(r);
    CHECK_ERR(aioc_pg_pool_exec(pool, "CREATE TABLE txf (v int)", NULL, &r), 0);
    PQclear(r);
    int fail = 0;
    CHECK_ERR(aioc_pg_pool_transaction(pool, add_two, &fail), 0);
    fail = 1;
    CHECK_ERR(aioc_pg_pool_transaction(pool, add_two, &fail), -EIO);
    /* cancelled inside: rolled back all the same */
    job j = {.pool = pool, .i = 2};
    aioc_task t = aioc_spawn(run_tx, &j);
    aioc_sleep(0.1);
    aioc_cancel(t);
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
    CHECK_ERR(j.err, -ECANCELED);
    CHECK_ERR(aioc_pg_pool_exec(pool, "SELECT count(*), sum(v) FROM txf", NULL, &r), 0);
    CHECK(!strcmp(aioc_pg_text(r, 0, 0), "2")); /* only the committed one */
    CHECK(!strcmp(aioc_pg_text(r, 0, 1), "3"));
    PQclear(r);
    CHECK_ERR(aioc_pg_pool_exec(pool, "DROP TABLE txf", NULL, &r), 0);
    PQclear(r);
    aioc_pg_pool_free(pool);
    return NULL;
}

/* ------------------------------------------------------ cancelling -- */

static void *sleep_query(void *arg) {
    job *j = arg;
    PGresult *r;
    j->err = j->pool ? aioc_pg_pool_exec(j->pool, "SELECT pg_sleep(30)", NULL, &r)
                     : aioc_pg_exec(j->c, "SELECT pg_sleep(30)", NULL, &r);
    PQclear(r);
    return NULL;
}

TASK_TEST(cancel_long_query) {
    aioc_pg_conn *c = connect_ok(info_tcp);
    /* a deadline: the caller gets -ETIMEDOUT at once */
    aioc_scope s;
    aioc_scope_enter(&s, 0.2);
    PGresult *r;
    int err = aioc_pg_exec(c, "SELECT pg_sleep(30)", NULL, &r);
    aioc_scope_exit(&s);
    CHECK_ERR(err, -ETIMEDOUT);
    CHECK(r == NULL);
    /* the server's query was cancelled: the next one is answered long
     * before the 30 s the first would take (the bound is generous; it
     * fails only if the cancel did not happen) */
    double t0 = aioc_now();
    aioc_scope_enter(&s, 20);
    CHECK_EQ(query_int(c, "SELECT 5"), 5);
    CHECK_ERR(aioc_scope_exit(&s), 0);
    CHECK(aioc_now() - t0 < 20);
    CHECK(aioc_pg_ok(c));
    /* a cancelled task, through aioc_wait_for */
    job j = {.c = c};
    aioc_task t = aioc_spawn(sleep_query, &j);
    CHECK_ERR(aioc_wait_for(t, 0.2, NULL), -ETIMEDOUT);
    aioc_scope_enter(&s, 20);
    CHECK_EQ(query_int(c, "SELECT 6"), 6);
    CHECK_ERR(aioc_scope_exit(&s), 0);
    CHECK_EQ(aioc_pg_in_flight(c), 0);
    /* a caller whose deadline has passed sends nothing at all */
    aioc_scope_enter(&s, 0);
    CHECK_ERR(aioc_pg_exec(c, "SELECT pg_sleep(30)", NULL, &r), -ETIMEDOUT);
    CHECK_EQ(aioc_pg_in_flight(c), 0);
    aioc_scope_exit(&s);
    aioc_pg_close(c);
    return NULL;
}

TASK_TEST(cancel_queued_query) {
    /* a query queued behind others is dropped, not cancelled on the
     * server: the one running then is not touched */
    aioc_pg_conn *c = connect_ok(info_tcp);
    enum { N = 20 };
    static job jobs[N];
    aioc_task t[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){.c = c, .i = i};
        t[i] = aioc_spawn(double_it, &jobs[i]);
    }
    aioc_yield();
    CHECK_EQ(aioc_pg_in_flight(c), N);
    aioc_cancel(t[10]);
    aioc_cancel(t[15]);
    int statuses[N];
    CHECK_ERR(aioc_gather_all(t, N, NULL, statuses), 0);
    for (int i = 0; i < N; i++)
        CHECK_ERR(statuses[i], i == 10 || i == 15 ? -ECANCELED : 0);
    CHECK_EQ(aioc_pg_in_flight(c), 0);
    CHECK_EQ(query_int(c, "SELECT 7"), 7);
    aioc_pg_close(c);
    return NULL;
}

/* --------------------------------------------------------------- pool -- */

TASK_TEST(pool_1000_tasks) {
    aioc_pg_pool *pool = aioc_pg_pool_new(info_tcp, &(aioc_pg_pool_opts){.max_size = 10});
    CHECK(pool);
    enum { N = 1000 };
    static job jobs[N];
    static aioc_task t[N];
    int rounds = slow() ? 1 : 3;
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < N; i++) {
            jobs[i] = (job){.pool = pool, .i = round * N + i};
            t[i] = aioc_spawn(double_it, &jobs[i]);
        }
        CHECK_ERR(aioc_gather(t, N, NULL), 0);
        CHECK(aioc_pg_pool_size(pool) <= 10);
    }
    CHECK(aioc_pg_pool_size(pool) >= 2);
    aioc_pg_pool_free(pool);
    return NULL;
}

/* The pid of the server process behind the pool's connection (a pool of
 * one), as text. */
static void pool_backend_pid(aioc_pg_pool *pool, char *pid, size_t size) {
    PGresult *r;
    CHECK_ERR(aioc_pg_pool_exec(pool, "SELECT pg_backend_pid()", NULL, &r), 0);
    snprintf(pid, size, "%s", aioc_pg_text(r, 0, 0));
    PQclear(r);
}

/* Checks that the pool of one, whose server process `pid` was killed by
 * `killer`, answers on a new connection; then frees both. */
static void pool_check_replaced(aioc_pg_pool *pool, const char *pid, aioc_pg_conn *killer) {
    char now[32];
    pool_backend_pid(pool, now, sizeof now);
    CHECK(strcmp(now, pid) != 0);
    CHECK_EQ(aioc_pg_pool_size(pool), 1);
    aioc_pg_close(killer);
    aioc_pg_pool_free(pool);
}

TASK_TEST(pool_broken_connection) {
    /* a pool of one: its connection is killed mid-query from outside
     * (pg_terminate_backend); that query fails with AIOC_PG_EBROKEN, the
     * next one gets a new connection */
    aioc_pg_pool *pool = aioc_pg_pool_new(info_unix, &(aioc_pg_pool_opts){.max_size = 1});
    aioc_pg_conn *killer = connect_ok(info_tcp);
    char pid[32];
    pool_backend_pid(pool, pid, sizeof pid);
    PGresult *r;
    job j = {.pool = pool};
    aioc_task t = aioc_spawn(sleep_query, &j);
    aioc_yield();
    aioc_sleep(0.1); /* the sleep runs on the pool's only connection */
    const char *args[] = {pid};
    CHECK_ERR(aioc_pg_query(killer, "SELECT pg_terminate_backend($1::int4)", 1, args, &r), 0);
    PQclear(r);
    CHECK_ERR(aioc_await(t, NULL), 0);
    CHECK_ERR(j.err, AIOC_PG_EBROKEN);
    pool_check_replaced(pool, pid, killer);
    return NULL;
}

TASK_TEST(pool_idle_check) {
    /* a pool's idle connection whose server process went away meanwhile
     * is found out before reuse: the next query gets a new connection
     * instead of an error */
    aioc_pg_pool *pool = aioc_pg_pool_new(info_tcp, &(aioc_pg_pool_opts){.max_size = 1});
    aioc_pg_conn *killer = connect_ok(info_unix);
    char pid[32];
    pool_backend_pid(pool, pid, sizeof pid);
    PGresult *r;
    const char *args[] = {pid};
    CHECK_ERR(aioc_pg_query(killer, "SELECT pg_terminate_backend($1::int4, 10000)", 1, args, &r),
              0);
    CHECK(!strcmp(aioc_pg_text(r, 0, 0), "t"));
    PQclear(r);
    aioc_sleep(1.5); /* idle longer than the pool's 1 s before a check */
    pool_check_replaced(pool, pid, killer);
    return NULL;
}

/* ------------------------------------------------------ LISTEN/NOTIFY -- */

TASK_TEST(notify) {
    aioc_pg_conn *l = connect_ok(info_unix), *s = connect_ok(info_tcp);
    exec_ok(l, "LISTEN news");
    /* one sent before anyone waits is kept */
    exec_ok(s, "NOTIFY news, 'first'");
    PGnotify *n;
    CHECK_ERR(aioc_pg_notify_next(l, &n), 0);
    CHECK(!strcmp(n->relname, "news"));
    CHECK(!strcmp(n->extra, "first"));
    PQfreemem(n);
    /* a deadline with nothing: -ETIMEDOUT, nothing lost */
    aioc_scope sc;
    aioc_scope_enter(&sc, 0.05);
    CHECK_ERR(aioc_pg_notify_next(l, &n), -ETIMEDOUT);
    aioc_scope_exit(&sc);
    for (int i = 0; i < 50; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT pg_notify('news', '%d')", i);
        exec_ok(s, sql);
    }
    for (int i = 0; i < 50; i++) {
        CHECK_ERR(aioc_pg_notify_next(l, &n), 0);
        CHECK_EQ(atoi(n->extra), i);
        CHECK(n->be_pid == PQbackendPID(aioc_pg_pgconn(s)));
        PQfreemem(n);
    }
    /* queries still work on the listening connection */
    CHECK_EQ(query_int(l, "SELECT 3"), 3);
    aioc_pg_close(s);
    aioc_pg_close(l);
    return NULL;
}

/* -------------------------------------------------------------- COPY -- */

TASK_TEST(copy_in_out) {
    aioc_pg_conn *c = connect_ok(info_unix);
    long rows = slow() ? 20000 : 1000000;
    exec_ok(c, "CREATE TEMP TABLE cp (id int8, name text)");
    PGresult *r = NULL;
    CHECK_ERR(aioc_pg_copy_in_start(c, "COPY cp FROM STDIN", &r), 0);
    char buf[64 * 1024];
    size_t used = 0;
    for (long i = 1; i <= rows; i++) {
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%ld\trow %ld\n", i, i);
        if (used > sizeof buf - 64 || i == rows) {
            CHECK_ERR(aioc_pg_copy_put(c, buf, used), 0);
            used = 0;
        }
    }
    CHECK_ERR(aioc_pg_copy_in_end(c, NULL, &r), 0);
    CHECK_EQ(atol(PQcmdTuples(r)), rows);
    PQclear(r);
    CHECK_EQ(query_int(c, "SELECT count(*) FROM cp"), rows);
    CHECK_EQ(query_int(c, "SELECT sum(id) FROM cp"), rows * (rows + 1) / 2);

    /* out: every row back, in order */
    CHECK_ERR(aioc_pg_copy_out_start(c, "COPY (SELECT * FROM cp ORDER BY id) TO STDOUT", &r), 0);
    long got = 0;
    char *line;
    long n;
    while ((n = aioc_pg_copy_get(c, &line, &r)) > 0) {
        got++;
        char want[64];
        int wn = snprintf(want, sizeof want, "%ld\trow %ld\n", got, got);
        CHECK_EQ(n, wn);
        CHECK(!memcmp(line, want, (size_t)wn));
        PQfreemem(line);
    }
    CHECK_ERR(n, 0);
    CHECK_EQ(got, rows);
    CHECK(!strcmp(PQcmdTuples(r), PQcmdTuples(r))); /* a result came */
    CHECK_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    /* an aborted COPY IN: nothing lands, the connection goes on */
    CHECK_ERR(aioc_pg_copy_in_start(c, "COPY cp FROM STDIN", &r), 0);
    CHECK_ERR(aioc_pg_copy_put(c, "1\tx\n", 4), 0);
    CHECK_ERR(aioc_pg_copy_in_end(c, "changed my mind", &r), AIOC_PG_ESERVER);
    CHECK(!strcmp(aioc_pg_sqlstate(r), "57014"));
    PQclear(r);
    /* bad data: the server's error */
    CHECK_ERR(aioc_pg_copy_in_start(c, "COPY cp FROM STDIN", &r), 0);
    CHECK_ERR(aioc_pg_copy_put(c, "x\ty\n", 4), 0);
    CHECK_ERR(aioc_pg_copy_in_end(c, NULL, &r), AIOC_PG_ESERVER);
    CHECK(!strcmp(aioc_pg_sqlstate(r), "22P02"));
    PQclear(r);
    /* a COPY of a table that does not exist */
    CHECK_ERR(aioc_pg_copy_in_start(c, "COPY nope FROM STDIN", &r), AIOC_PG_ESERVER);
    CHECK(!strcmp(aioc_pg_sqlstate(r), "42P01"));
    PQclear(r);
    CHECK_EQ(query_int(c, "SELECT count(*) FROM cp"), rows);
    /* a COPY through aioc_pg_exec cannot be: libpq has no COPY in
     * pipeline mode, and the connection is given up */
    CHECK_ERR(aioc_pg_exec(c, "COPY cp TO STDOUT", NULL, &r), AIOC_PG_EPROTOCOL);
    CHECK(r == NULL);
    CHECK(!aioc_pg_ok(c));
    CHECK_ERR(aioc_pg_exec(c, "SELECT 1", NULL, &r), AIOC_PG_EBROKEN);
    aioc_pg_close(c);
    return NULL;
}

/* ------------------------------------------------- server restarting -- */

typedef struct load {
    aioc_pg_pool *pool;
    int stop;
    long ok_before, ok_after, broken, refused, other;
    int restarted;
} load;

static void *hammer(void *arg) {
    load *l = arg;
    for (int i = 0; !l->stop; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *args[] = {v};
        PGresult *r;
        int err = aioc_pg_pool_query(l->pool, "SELECT $1::int4 + 1", 1, args, &r);
        if (!err) {
            int64_t got;
            CHECK_ERR(aioc_pg_int(r, 0, 0, &got), 0);
            CHECK_EQ(got, i + 1);
            if (l->restarted)
                l->ok_after++;
            else
                l->ok_before++;
        } else if (err == AIOC_PG_EBROKEN) {
            l->broken++;
        } else if (err == AIOC_PG_ECONNECT) {
            l->refused++;
            aioc_sleep(0.01);
        } else if (err == AIOC_PG_ESERVER) {
            /* the shutdown's own error on a query in flight (57P01) */
            const char *st = aioc_pg_sqlstate(r);
            CHECK(st && !strncmp(st, "57", 2));
            l->broken++;
        } else {
            fprintf(stderr, "unexpected: %s\n", aioc_pg_strerror(err));
            l->other++;
        }
        PQclear(r);
    }
    return NULL;
}

static void *restart_job(void *arg) {
    (void)arg;
    char cmd[1400];
    const char *as = getuid() == 0 ? "runuser -u postgres -- " : "";
    snprintf(cmd, sizeof cmd, "cd / && %s%s/pg_ctl -D %s -m fast -w -t 60 restart >/dev/null 2>&1",
             as, info_bin, info_data);
    return (void *)(intptr_t)system(cmd);
}

TASK_TEST(server_restart_under_load) {
    load l = {.pool = aioc_pg_pool_new(info_tcp, &(aioc_pg_pool_opts){.max_size = 10})};
    enum { N = 100 };
    aioc_task t[N];
    for (int i = 0; i < N; i++)
        t[i] = aioc_spawn(hammer, &l);
    while (l.ok_before < 2000)
        aioc_sleep(0.01);
    void *status;
    CHECK_ERR(aioc_to_thread(restart_job, NULL, &status), 0);
    CHECK_EQ((intptr_t)status, 0);
    l.restarted = 1;
    /* recovery: queries succeed again (bounded: 60 s) */
    aioc_scope s;
    aioc_scope_enter(&s, 60);
    while (l.ok_after < 2000)
        CHECK_ERR(aioc_sleep(0.01), 0);
    aioc_scope_exit(&s);
    l.stop = 1;
    CHECK_ERR(aioc_gather(t, N, NULL), 0);
    fprintf(stderr, "ok %ld before, %ld after; %ld broken, %ld refused\n", l.ok_before, l.ok_after,
            l.broken, l.refused);
    CHECK(l.broken + l.refused > 0); /* the restart was seen, as errors */
    CHECK_EQ(l.other, 0);
    CHECK(aioc_pg_pool_size(l.pool) <= 10);
    aioc_pg_pool_free(l.pool);
    return NULL;
}

TASK_TEST(copy_out_cancelled) {
    /* a COPY TO whose reader gives up half-way: cancelled on the server,
     * drained, and the connection goes on (generate_series in the select
     * list streams its rows; in FROM it would make them all first) */
    aioc_pg_conn *c = connect_ok(info_unix);
    PGresult *r = NULL;
    CHECK_ERR(
        aioc_pg_copy_out_start(c, "COPY (SELECT generate_series(1, 100000000)) TO STDOUT", &r), 0);
    aioc_scope s;
    aioc_scope_enter(&s, 0.2);
    long n, rows = 0;
    char *line;
    while ((n = aioc_pg_copy_get(c, &line, &r)) > 0) {
        rows++;
        PQfreemem(line);
    }
    aioc_scope_exit(&s);
    CHECK_ERR(n, -ETIMEDOUT);
    CHECK(rows > 0 && rows < 100000000);
    CHECK(aioc_pg_ok(c));
    CHECK_EQ(query_int(c, "SELECT 9"), 9);
    aioc_pg_close(c);
    return NULL;
}
