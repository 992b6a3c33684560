/* aioc_redis against a real redis-server the test starts (or the server
 * at AIOC_REDIS_TEST_ADDR: see server.h). `aioc_redis_tests NAME` runs one
 * test (redis-list.h has them); ctest runs each as redis_NAME. */
#include <aioc.h>
#include <aioc_redis.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* the core's checks, naming our codes too; every task test runs with the
 * server up */
#define AIOC_TEST_ERR_NAME aioc_redis_strerror
#define AIOC_TEST_RUN(fn, virtual_time) run_with_server(fn)
#include "test.h"

static redis_server server;

/* A failed check exits from inside the loop: stop the server even then. */
static void stop_at_exit(void) { redis_server_stop(&server); }

/* ... and when the test crashes (an abort, a sanitizer's report), before
 * dying of the same signal (the server would die with us anyway, of
 * PR_SET_PDEATHSIG, but its directory would stay). */
static void stop_on_signal(int sig) {
    redis_server_stop(&server);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void run_with_server(aioc_fn fn) {
    CHECK_EQ(redis_server_start(&server), 0);
    atexit(stop_at_exit);
    int fatal[] = {SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++)
        signal(fatal[i], stop_on_signal);
    int status = aioc_run(fn, NULL, NULL);
    redis_server_stop(&server);
    if (status) {
        fprintf(stderr, "main failed: %s\n", aioc_redis_strerror(status));
        exit(1);
    }
}

/* Sizes shrink where a sanitizer or Valgrind is the cost. */
static int slow_tool(void) {
#ifdef __SANITIZE_ADDRESS__
    return 1;
#else
    return RUNNING_ON_VALGRIND != 0;
#endif
}

/* Skips (passes) a test that must own the server. */
#define NEEDS_OWN_SERVER()                                                                         \
    do {                                                                                           \
        if (server.external) {                                                                     \
            printf("skipped: needs a server of its own (AIOC_REDIS_TEST_ADDR is set)\n");          \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

/* The constructors, as out-parameter calls for CHECK_ERR; each checks the
 * convention: the object, or NULL with the error set, never both. */
static int redis_connect(const char *addr, const aioc_redis_opts *o, aioc_redis **out) {
    int err = 1;
    *out = aioc_redis_connect(addr, o, &err);
    CHECK(err <= 0 && (*out != NULL) == (err == 0));
    return err;
}

static int pubsub_connect(const char *addr, const aioc_redis_opts *o, aioc_redis_pubsub **out) {
    int err = 1;
    *out = aioc_redis_pubsub_connect(addr, o, &err);
    CHECK(err <= 0 && (*out != NULL) == (err == 0));
    return err;
}

static int pool_new(const char *addr, const aioc_redis_opts *o, size_t max, aioc_redis_pool **out) {
    int err = 1;
    *out = aioc_redis_pool_new(addr, o, max, &err);
    CHECK(err <= 0 && (*out != NULL) == (err == 0));
    return err;
}

static aioc_redis *connect_or_die(void) {
    aioc_redis *r = NULL;
    CHECK_ERR(redis_connect(server.addr, NULL, &r), 0);
    CHECK(r);
    return r;
}

/* Runs a command that must succeed and returns its reply. */
static redisReply *must(aioc_redis *r, const char *fmt, ...) {
    redisReply *reply = NULL;
    va_list ap;
    va_start(ap, fmt);
    int err = aioc_redis_vcommand(r, &reply, fmt, ap);
    va_end(ap);
    if (err) {
        fprintf(stderr, "'%s': %s%s%s\n", fmt, aioc_redis_strerror(err), reply ? ": " : "",
                reply ? reply->str : "");
        exit(1);
    }
    return reply;
}

static void check_string(redisReply *reply, const void *want, size_t n) {
    CHECK(reply);
    CHECK_EQ(reply->type, REDIS_REPLY_STRING);
    CHECK_EQ(reply->len, n);
    CHECK(memcmp(reply->str, want, n) == 0);
}

static void check_status(redisReply *reply, const char *want) {
    CHECK(reply);
    CHECK_EQ(reply->type, REDIS_REPLY_STATUS);
    CHECK(strcmp(reply->str, want) == 0);
}

/* ------------------------------------------------------ binary-safe -- */

TASK_TEST(set_get_binary) {
    aioc_redis *r = connect_or_die();
    CHECK(aioc_redis_connected(r));

    /* every byte value, NUL and CR LF among them, in key and value */
    char value[256];
    for (int i = 0; i < 256; i++)
        value[i] = (char)i;
    const char key[] = "aioc-test:bin:\0\r\nkey";
    const char *argv[3] = {"SET", key, value};
    size_t lens[3] = {3, sizeof key - 1, sizeof value};
    redisReply *reply;
    CHECK_ERR(aioc_redis_command_argv(r, 3, argv, lens, &reply), 0);
    check_status(reply, "OK");
    aioc_redis_reply_free(reply);
    const char *get[2] = {"GET", key};
    size_t get_lens[2] = {3, sizeof key - 1};
    CHECK_ERR(aioc_redis_command_argv(r, 2, get, get_lens, &reply), 0);
    check_string(reply, value, sizeof value);
    aioc_redis_reply_free(reply);

    /* the printf form: %b binary, %s strings */
    CHECK_ERR(aioc_redis_command(r, NULL, "SET %s %b", "aioc-test:bin:fmt", value, sizeof value),
              0);
    reply = must(r, "GET %s", "aioc-test:bin:fmt");
    check_string(reply, value, sizeof value);
    aioc_redis_reply_free(reply);

    /* a value larger than the stream's buffers, both ways */
    size_t big_n = 1 << 20;
    char *big = malloc(big_n);
    CHECK(big);
    for (size_t i = 0; i < big_n; i++)
        big[i] = (char)(i * 7 + (i >> 9));
    CHECK_ERR(aioc_redis_command(r, NULL, "SET aioc-test:bin:big %b", big, big_n), 0);
    reply = must(r, "GET aioc-test:bin:big");
    check_string(reply, big, big_n);
    aioc_redis_reply_free(reply);
    free(big);

    /* nil, integer and array replies; argv without lengths */
    const char *missing[2] = {"GET", "aioc-test:bin:missing"};
    CHECK_ERR(aioc_redis_command_argv(r, 2, missing, NULL, &reply), 0);
    CHECK_EQ(reply->type, REDIS_REPLY_NIL);
    aioc_redis_reply_free(reply);
    reply = must(r, "DEL aioc-test:bin:fmt aioc-test:bin:big %b", key, sizeof key - 1);
    CHECK_EQ(reply->type, REDIS_REPLY_INTEGER);
    CHECK_EQ(reply->integer, 3);
    aioc_redis_reply_free(reply);
    reply = must(r, "RPUSH aioc-test:bin:list a %b c", "\0b", (size_t)2);
    CHECK_EQ(reply->integer, 3);
    aioc_redis_reply_free(reply);
    reply = must(r, "LRANGE aioc-test:bin:list 0 -1");
    CHECK_EQ(reply->type, REDIS_REPLY_ARRAY);
    CHECK_EQ(reply->elements, 3);
    check_string(reply->element[1], "\0b", 2);
    aioc_redis_reply_free(reply);
    aioc_redis_reply_free(must(r, "DEL aioc-test:bin:list"));

    /* bad arguments change nothing */
    CHECK_ERR(aioc_redis_command_argv(r, 0, argv, NULL, &reply), -EINVAL);
    CHECK(reply == NULL);
    aioc_redis_close(r);
    return NULL;
}

/* ------------------------------------------------------ server errors -- */

TASK_TEST(server_errors) {
    aioc_redis *r = connect_or_die();
    aioc_redis_reply_free(must(r, "SET aioc-test:err:str hello"));

    redisReply *reply = NULL;
    CHECK_ERR(aioc_redis_command(r, &reply, "LPUSH aioc-test:err:str x"), AIOC_REDIS_ESERVER);
    CHECK(reply);
    CHECK_EQ(reply->type, REDIS_REPLY_ERROR);
    CHECK(strncmp(reply->str, "WRONGTYPE", 9) == 0);
    aioc_redis_reply_free(reply);

    CHECK_ERR(aioc_redis_command(r, &reply, "NOSUCHCOMMAND a b"), AIOC_REDIS_ESERVER);
    CHECK(reply && strncmp(reply->str, "ERR", 3) == 0);
    CHECK(strstr(reply->str, "nosuchcommand") || strstr(reply->str, "NOSUCHCOMMAND"));
    aioc_redis_reply_free(reply);
    /* without asking for the reply: the code alone */
    CHECK_ERR(aioc_redis_command(r, NULL, "INCR aioc-test:err:str"), AIOC_REDIS_ESERVER);

    /* the connection is fine afterwards */
    reply = must(r, "GET aioc-test:err:str");
    check_string(reply, "hello", 5);
    aioc_redis_reply_free(reply);
    aioc_redis_reply_free(must(r, "DEL aioc-test:err:str"));
    CHECK(strcmp(aioc_redis_strerror(AIOC_REDIS_ESERVER),
                 "the Redis server answered with an error") == 0);
    CHECK(strcmp(aioc_redis_strerror(-ECONNRESET), aioc_strerror(-ECONNRESET)) == 0);
    aioc_redis_close(r);

    /* addresses it cannot use, a port nobody listens on */
    aioc_redis *bad = (aioc_redis *)1;
    CHECK_ERR(redis_connect("http://127.0.0.1:80", NULL, &bad), AIOC_REDIS_EADDRESS);
    CHECK(bad == NULL);
    CHECK_ERR(redis_connect("redis://127.0.0.1:notaport", NULL, &bad), AIOC_REDIS_EADDRESS);
    CHECK_ERR(redis_connect("redis://:%zz@127.0.0.1:1", NULL, &bad), AIOC_REDIS_EADDRESS);
    char closed[32];
    snprintf(closed, sizeof closed, "127.0.0.1:%d", free_port());
    CHECK_ERR(redis_connect(closed, NULL, &bad), -ECONNREFUSED);
    CHECK_ERR(redis_connect("unix:/nonexistent/redis.sock", NULL, &bad), -ENOENT);
    /* `err` may be NULL */
    CHECK(aioc_redis_connect("http://127.0.0.1:80", NULL, NULL) == NULL);
    CHECK(aioc_redis_pubsub_connect("http://127.0.0.1:80", NULL, NULL) == NULL);
    return NULL;
}

/* ------------------------------------------------- addresses, AUTH, DB -- */

TASK_TEST(connect_forms) {
    NEEDS_OWN_SERVER();
    char url[256];
    aioc_redis *r, *r3;
    redisReply *reply;

    /* the Unix socket, both spellings */
    snprintf(url, sizeof url, "unix:%s", server.unix_path);
    CHECK_ERR(redis_connect(url, NULL, &r), 0);
    aioc_redis_reply_free(must(r, "SET aioc-test:forms:k db0"));
    aioc_redis_close(r);
    CHECK_ERR(redis_connect(server.unix_path, NULL, &r), 0);
    reply = must(r, "GET aioc-test:forms:k");
    check_string(reply, "db0", 3);
    aioc_redis_reply_free(reply);

    /* redis://host:port/3 selects database 3; opts.db likewise */
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/3", server.port);
    CHECK_ERR(redis_connect(url, NULL, &r3), 0);
    reply = must(r3, "GET aioc-test:forms:k");
    CHECK_EQ(reply->type, REDIS_REPLY_NIL);
    aioc_redis_reply_free(reply);
    aioc_redis_reply_free(must(r3, "SET aioc-test:forms:k db3"));
    aioc_redis_close(r3);
    aioc_redis_opts o = {.db = 3};
    CHECK_ERR(redis_connect(server.addr, &o, &r3), 0);
    reply = must(r3, "GET aioc-test:forms:k");
    check_string(reply, "db3", 3);
    aioc_redis_reply_free(reply);
    aioc_redis_close(r3);

    /* AUTH: a server with a password refuses commands until it is given */
    aioc_redis_reply_free(must(r, "CONFIG SET requirepass %s", "s3cr%t"));
    aioc_redis *noauth;
    CHECK_ERR(redis_connect(server.addr, NULL, &noauth), 0);
    CHECK_ERR(aioc_redis_command(noauth, &reply, "GET aioc-test:forms:k"), AIOC_REDIS_ESERVER);
    CHECK(strncmp(reply->str, "NOAUTH", 6) == 0);
    aioc_redis_reply_free(reply);
    aioc_redis_close(noauth);
    snprintf(url, sizeof url, "redis://:s3cr%%25t@127.0.0.1:%d/3", server.port);
    CHECK_ERR(redis_connect(url, NULL, &r3), 0);
    reply = must(r3, "GET aioc-test:forms:k");
    check_string(reply, "db3", 3);
    aioc_redis_reply_free(reply);
    aioc_redis_close(r3);
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d", server.port);
    CHECK_ERR(redis_connect(url, NULL, &r3), AIOC_REDIS_ESERVER);
    CHECK(r3 == NULL);
    aioc_redis_opts withpw = {.password = "s3cr%t"};
    CHECK_ERR(redis_connect(server.addr, &withpw, &r3), 0);
    aioc_redis_reply_free(must(r3, "CONFIG SET requirepass %s", ""));
    aioc_redis_close(r3);
    aioc_redis_close(r);

    /* a server with no password refuses AUTH */
    snprintf(url, sizeof url, "redis://:nopassword@127.0.0.1:%d", server.port);
    CHECK_ERR(redis_connect(url, NULL, &r3), AIOC_REDIS_ESERVER);
    return NULL;
}

/* ------------------------------------------- many tasks, one connection -- */

typedef struct worker {
    aioc_redis *r;
    aioc_redis_pool *pool;
    int id, rounds;
    int done, errors;
} worker;

static void *set_get_worker(void *arg) {
    worker *w = arg;
    char key[64], val[64];
    for (int round = 0; round < w->rounds; round++) {
        snprintf(key, sizeof key, "aioc-test:pipe:%d", w->id);
        int n = snprintf(val, sizeof val, "value-%d-%d", w->id, round);
        redisReply *reply = NULL;
        int err = w->pool ? aioc_redis_pool_command(w->pool, NULL, "SET %s %s", key, val)
                          : aioc_redis_command(w->r, NULL, "SET %s %s", key, val);
        CHECK_ERR(err, 0);
        err = w->pool ? aioc_redis_pool_command(w->pool, &reply, "GET %s", key)
                      : aioc_redis_command(w->r, &reply, "GET %s", key);
        CHECK_ERR(err, 0);
        check_string(reply, val, (size_t)n);
        aioc_redis_reply_free(reply);
        err = w->pool ? aioc_redis_pool_command(w->pool, &reply, "INCR aioc-test:pipe:count")
                      : aioc_redis_command(w->r, &reply, "INCR aioc-test:pipe:count");
        CHECK_ERR(err, 0);
        CHECK_EQ(reply->type, REDIS_REPLY_INTEGER);
        aioc_redis_reply_free(reply);
        w->done++;
    }
    return NULL;
}

/* Runs n workers (rounds each) to their end, then checks the counter and
 * deletes the keys. */
static void run_workers(aioc_redis *r, aioc_redis_pool *pool, int n, int rounds) {
    worker *w = calloc((size_t)n, sizeof *w);
    aioc_task *t = calloc((size_t)n, sizeof *t);
    CHECK(w && t);
    aioc_redis *admin = r ? r : connect_or_die();
    aioc_redis_reply_free(must(admin, "DEL aioc-test:pipe:count"));
    for (int i = 0; i < n; i++) {
        w[i] = (worker){.r = r, .pool = pool, .id = i, .rounds = rounds};
        t[i] = aioc_spawn(set_get_worker, &w[i]);
    }
    CHECK_ERR(aioc_gather(t, (size_t)n, NULL), 0);
    for (int i = 0; i < n; i++)
        CHECK_EQ(w[i].done, rounds);
    redisReply *reply = must(admin, "GET aioc-test:pipe:count");
    char want[32];
    snprintf(want, sizeof want, "%d", n * rounds);
    check_string(reply, want, strlen(want));
    aioc_redis_reply_free(reply);
    /* delete the keys in one command */
    const char **argv = calloc((size_t)n + 2, sizeof *argv);
    char(*keys)[32] = calloc((size_t)n, sizeof *keys);
    CHECK(argv && keys);
    argv[0] = "DEL";
    argv[1] = "aioc-test:pipe:count";
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "aioc-test:pipe:%d", i);
        argv[i + 2] = keys[i];
    }
    CHECK_ERR(aioc_redis_command_argv(admin, n + 2, argv, NULL, &reply), 0);
    CHECK_EQ(reply->integer, n + 1);
    aioc_redis_reply_free(reply);
    free(argv);
    free(keys);
    if (!r)
        aioc_redis_close(admin);
    free(w);
    free(t);
}

TASK_TEST(pipeline_1000_tasks) {
    aioc_redis *r = connect_or_die();
    run_workers(r, NULL, 1000, slow_tool() ? 3 : 10);
    aioc_redis_close(r);
    return NULL;
}

TASK_TEST(pool_1000_tasks) {
    aioc_redis_pool *pool;
    CHECK_ERR(pool_new(server.addr, NULL, 10, &pool), 0);
    CHECK_EQ(aioc_redis_pool_size(pool), 0);
    run_workers(NULL, pool, 1000, slow_tool() ? 2 : 5);
    CHECK(aioc_redis_pool_size(pool) >= 1 && aioc_redis_pool_size(pool) <= 10);

    /* a lent connection is the caller's alone: WATCH works on it */
    aioc_redis *mine;
    CHECK_ERR(aioc_redis_pool_acquire(pool, &mine), 0);
    aioc_redis_reply_free(must(mine, "SET aioc-test:pool:w 1"));
    aioc_redis_pool_release(pool, mine);
    aioc_redis_pool_free(pool);

    CHECK_ERR(pool_new(server.addr, NULL, 0, &pool), -EINVAL);
    CHECK_ERR(pool_new("ftp://x", NULL, 1, &pool), AIOC_REDIS_EADDRESS);
    CHECK(aioc_redis_pool_new("ftp://x", NULL, 1, NULL) == NULL);
    char closed[32];
    snprintf(closed, sizeof closed, "127.0.0.1:%d", free_port());
    CHECK_ERR(pool_new(closed, NULL, 2, &pool), 0);
    CHECK_ERR(aioc_redis_pool_command(pool, NULL, "PING"), -ECONNREFUSED);
    CHECK_EQ(aioc_redis_pool_size(pool), 0);
    aioc_redis_pool_free(pool);
    aioc_redis *r = connect_or_die();
    aioc_redis_reply_free(must(r, "DEL aioc-test:pool:w"));
    aioc_redis_close(r);
    return NULL;
}

/* ------------------------------------------------ giving up mid-flight -- */

typedef struct victim {
    aioc_redis *r;
    aioc_scope scope;
    int scoped, sent;
    const char *cmd;
    int err;
} victim;

static void *victim_main(void *arg) {
    victim *v = arg;
    redisReply *reply = NULL;
    if (v->scoped)
        CHECK_ERR(aioc_scope_enter(&v->scope, AIOC_NO_TIMEOUT), 0);
    v->sent = 1;
    v->err = aioc_redis_command(v->r, &reply, v->cmd);
    CHECK(reply == NULL || v->err == 0);
    aioc_redis_reply_free(reply);
    if (v->scoped)
        aioc_scope_exit(&v->scope);
    return NULL;
}

TASK_TEST(cancel_mid_pipeline) {
    aioc_redis *r = connect_or_die();
    int n = slow_tool() ? 100 : 300;
    worker *w = calloc((size_t)n, sizeof *w);
    aioc_task *t = calloc((size_t)n, sizeof *t);
    CHECK(w && t);
    aioc_redis_reply_free(must(r, "DEL aioc-test:pipe:count"));
    for (int i = 0; i < n; i++) {
        w[i] = (worker){.r = r, .id = i, .rounds = 20};
        t[i] = aioc_spawn(set_get_worker, &w[i]);
    }
    aioc_yield();
    int gave_up = 0, incrs_out = 0;
    for (int round = 0; round < 20; round++) {
        /* one cancelled, one whose deadline passes, each while its
         * command is out (it went out at the end of the turn in which the
         * task ran; no reply can come back before the loop polls) */
        victim a = {.r = r, .cmd = "GET aioc-test:pipe:1"};
        victim b = {.r = r, .cmd = "INCR aioc-test:pipe:victim", .scoped = 1};
        aioc_task ta = aioc_spawn(victim_main, &a), tb = aioc_spawn(victim_main, &b);
        while (!a.sent || !b.sent)
            CHECK_ERR(aioc_yield(), 0);
        CHECK_ERR(aioc_cancel(ta), 0);
        CHECK_ERR(aioc_scope_reschedule(b.scope, 0), 0);
        CHECK_ERR(aioc_await(ta, NULL), -ECANCELED); /* it was cancelled */
        CHECK_ERR(aioc_await(tb, NULL), 0);
        /* Nearly always given up on with the reply out; but if the loop
         * polled meanwhile (its budget) and the reply was in by then, the
         * reply is the task's (see aioc_redis_command_argv) */
        CHECK(a.err == -ECANCELED || a.err == 0);
        CHECK(b.err == -ETIMEDOUT || b.err == 0);
        gave_up += (a.err != 0) + (b.err != 0);
        incrs_out += b.err != 0;
        CHECK_ERR(aioc_sleep(0.001 * (round % 3)), 0);
    }
    CHECK(gave_up > 0);
    if (!server.external) {
        /* a real deadline, while the server holds the reply back (BLPOP
         * blocks this connection's later commands too, for 0.5 s) */
        aioc_scope s;
        CHECK_ERR(aioc_scope_enter(&s, 0.05), 0);
        CHECK_ERR(aioc_redis_command(r, NULL, "BLPOP aioc-test:pipe:nolist 0.5"), -ETIMEDOUT);
        CHECK_ERR(aioc_scope_exit(&s), -ETIMEDOUT);
    }
    CHECK_ERR(aioc_gather(t, (size_t)n, NULL), 0);
    for (int i = 0; i < n; i++)
        CHECK_EQ(w[i].done, 20);
    /* the dropped replies kept the stream in step: these match */
    redisReply *reply = must(r, "GET aioc-test:pipe:count");
    char want[32];
    snprintf(want, sizeof want, "%d", n * 20);
    check_string(reply, want, strlen(want));
    aioc_redis_reply_free(reply);
    reply = must(r, "INCR aioc-test:pipe:victim");
    CHECK_EQ(reply->type, REDIS_REPLY_INTEGER);
    CHECK_EQ(reply->integer, 21); /* the 20 INCRs ran, the given-up ones too */
    printf("%d of 40 gave up with their reply out (%d INCRs)\n", gave_up, incrs_out);
    aioc_redis_reply_free(reply);
    aioc_redis_reply_free(must(r, "DEL aioc-test:pipe:count aioc-test:pipe:victim"));
    for (int i = 0; i < n; i++)
        aioc_redis_reply_free(must(r, "DEL aioc-test:pipe:%d", i));
    aioc_redis_close(r);
    free(w);
    free(t);
    return NULL;
}

/* --------------------------------------------------------- MULTI/EXEC -- */

typedef struct tx_worker {
    aioc_redis *r;
    int id, rounds;
} tx_worker;

/* Its replies must be integers: had its INCR landed inside another task's
 * MULTI, it would have got +QUEUED. */
static void *incr_worker(void *arg) {
    tx_worker *w = arg;
    for (int i = 0; i < w->rounds; i++) {
        redisReply *reply = NULL;
        CHECK_ERR(aioc_redis_command(w->r, &reply, "INCR aioc-test:tx:other"), 0);
        CHECK_EQ(reply->type, REDIS_REPLY_INTEGER);
        aioc_redis_reply_free(reply);
    }
    return NULL;
}

static void *tx_worker_main(void *arg) {
    tx_worker *w = arg;
    aioc_redis_tx *tx = aioc_redis_tx_new();
    CHECK(tx);
    char key[64];
    snprintf(key, sizeof key, "aioc-test:tx:%d", w->id);
    CHECK_ERR(aioc_redis_tx_add(tx, "SET %s 0", key), 0);
    for (int i = 0; i < 10; i++)
        CHECK_ERR(aioc_redis_tx_add(tx, "INCRBY %s 1", key), 0);
    const char *argv[2] = {"GET", key};
    CHECK_ERR(aioc_redis_tx_add_argv(tx, 2, argv, NULL), 0);
    for (int round = 0; round < w->rounds; round++) {
        redisReply *reply = NULL;
        CHECK_ERR(aioc_redis_tx_exec(w->r, tx, &reply), 0);
        CHECK_EQ(reply->type, REDIS_REPLY_ARRAY);
        CHECK_EQ(reply->elements, 12);
        check_status(reply->element[0], "OK");
        for (int i = 1; i <= 10; i++) { /* nobody else's INCR came in between */
            CHECK_EQ(reply->element[i]->type, REDIS_REPLY_INTEGER);
            CHECK_EQ(reply->element[i]->integer, i);
        }
        check_string(reply->element[11], "10", 2);
        aioc_redis_reply_free(reply);
    }
    aioc_redis_tx_free(tx);
    return NULL;
}

TASK_TEST(multi_exec) {
    aioc_redis *r = connect_or_die();
    enum { N = 50 };
    tx_worker w[2 * N];
    aioc_task t[2 * N];
    for (int i = 0; i < 2 * N; i++) {
        w[i] = (tx_worker){.r = r, .id = i, .rounds = slow_tool() ? 5 : 20};
        t[i] = aioc_spawn(i % 2 ? incr_worker : tx_worker_main, &w[i]);
    }
    CHECK_ERR(aioc_gather(t, 2 * N, NULL), 0);

    /* a command the server cannot queue: EXECABORT, with the reason */
    aioc_redis_tx *tx = aioc_redis_tx_new();
    redisReply *reply = NULL;
    CHECK_ERR(aioc_redis_tx_exec(r, tx, &reply), -EINVAL);
    CHECK_ERR(aioc_redis_tx_add(tx, "SET aioc-test:tx:bad 1"), 0);
    CHECK_ERR(aioc_redis_tx_add(tx, "NOSUCHCOMMAND"), 0);
    CHECK_ERR(aioc_redis_tx_exec(r, tx, &reply), AIOC_REDIS_ESERVER);
    CHECK(reply && reply->type == REDIS_REPLY_ERROR);
    CHECK(strncmp(reply->str, "ERR", 3) == 0);
    aioc_redis_reply_free(reply);
    reply = must(r, "EXISTS aioc-test:tx:bad");
    CHECK_EQ(reply->integer, 0); /* nothing ran */
    aioc_redis_reply_free(reply);
    aioc_redis_tx_free(tx);

    /* a command failing as it runs: Redis runs the others */
    aioc_redis_reply_free(must(r, "SET aioc-test:tx:str x"));
    tx = aioc_redis_tx_new();
    CHECK_ERR(aioc_redis_tx_add(tx, "INCR aioc-test:tx:str"), 0);
    CHECK_ERR(aioc_redis_tx_add(tx, "APPEND aioc-test:tx:str y"), 0);
    CHECK_ERR(aioc_redis_tx_exec(r, tx, &reply), 0);
    CHECK_EQ(reply->elements, 2);
    CHECK_EQ(reply->element[0]->type, REDIS_REPLY_ERROR);
    CHECK_EQ(reply->element[1]->integer, 2);
    aioc_redis_reply_free(reply);
    aioc_redis_tx_free(tx);

    /* WATCH on a connection of one's own: a change aborts EXEC */
    aioc_redis_pool *pool;
    aioc_redis *mine;
    CHECK_ERR(pool_new(server.addr, NULL, 1, &pool), 0);
    CHECK_ERR(aioc_redis_pool_acquire(pool, &mine), 0);
    aioc_redis_reply_free(must(mine, "WATCH aioc-test:tx:str"));
    aioc_redis_reply_free(must(r, "SET aioc-test:tx:str changed"));
    tx = aioc_redis_tx_new();
    CHECK_ERR(aioc_redis_tx_add(tx, "SET aioc-test:tx:str mine"), 0);
    CHECK_ERR(aioc_redis_tx_exec(mine, tx, &reply), AIOC_REDIS_EABORTED);
    CHECK(reply == NULL);
    aioc_redis_tx_free(tx);
    aioc_redis_pool_release(pool, mine);
    aioc_redis_pool_free(pool);
    reply = must(r, "GET aioc-test:tx:str");
    check_string(reply, "changed", 7);
    aioc_redis_reply_free(reply);

    aioc_redis_reply_free(must(r, "DEL aioc-test:tx:other aioc-test:tx:str"));
    for (int i = 0; i < 2 * N; i += 2)
        aioc_redis_reply_free(must(r, "DEL aioc-test:tx:%d", i));
    aioc_redis_close(r);
    return NULL;
}

/* ------------------------------------------------------------ pub/sub -- */

enum { SUBSCRIBERS = 100 };

typedef struct subscriber {
    aioc_redis_pubsub *ps;
    int messages, got, patterned;
} subscriber;

static void *subscriber_main(void *arg) {
    subscriber *s = arg;
    for (;;) {
        aioc_redis_message *m = NULL;
        int err = aioc_redis_pubsub_next(s->ps, &m);
        if (err == AIOC_EOF)
            break;
        CHECK_ERR(err, 0);
        char want[32];
        int n = snprintf(want, sizeof want, "message:%d", s->got);
        CHECK_EQ(m->payload_len, n); /* every message, in order */
        CHECK(memcmp(m->payload, want, (size_t)n) == 0);
        CHECK_EQ(m->channel_len, strlen("aioc-test:chan"));
        CHECK(memcmp(m->channel, "aioc-test:chan", m->channel_len) == 0);
        if (s->patterned)
            CHECK(m->pattern && m->pattern_len == 11 && memcmp(m->pattern, "aioc-test:*", 11) == 0);
        else
            CHECK(m->pattern == NULL);
        aioc_redis_message_free(m);
        if (++s->got == s->messages) {
            const char *ch = s->patterned ? "aioc-test:*" : "aioc-test:chan";
            CHECK_ERR(s->patterned ? aioc_redis_punsubscribe(s->ps, &ch, 1)
                                   : aioc_redis_unsubscribe(s->ps, &ch, 1),
                      0);
        }
    }
    CHECK_EQ(s->got, s->messages);
    return NULL;
}

TASK_TEST(pubsub_100_subscribers) {
    int messages = slow_tool() ? 30 : 200;
    subscriber subs[SUBSCRIBERS];
    aioc_task t[SUBSCRIBERS];
    const char *chan = "aioc-test:chan", *pattern = "aioc-test:*";
    for (int i = 0; i < SUBSCRIBERS; i++) {
        /* a third buffer 2 messages only: their readers stop and go on */
        aioc_redis_opts o = {.pubsub_buffer = i % 3 == 0 ? 2 : 0};
        subs[i] = (subscriber){.messages = messages, .patterned = i % 10 == 0};
        CHECK_ERR(pubsub_connect(server.addr, &o, &subs[i].ps), 0);
        if (i == 1) { /* nothing subscribed yet: the iteration is over */
            aioc_redis_message *m;
            CHECK_ERR(aioc_redis_pubsub_next(subs[i].ps, &m), AIOC_EOF);
        }
        CHECK_ERR(subs[i].patterned ? aioc_redis_psubscribe(subs[i].ps, &pattern, 1)
                                    : aioc_redis_subscribe(subs[i].ps, &chan, 1),
                  0);
    }
    for (int i = 0; i < SUBSCRIBERS; i++)
        t[i] = aioc_spawn(subscriber_main, &subs[i]);
    aioc_redis *pub = connect_or_die();
    for (int i = 0; i < messages; i++) {
        redisReply *reply = NULL;
        CHECK_ERR(aioc_redis_command(pub, &reply, "PUBLISH %s message:%d", chan, i), 0);
        CHECK_EQ(reply->type, REDIS_REPLY_INTEGER);
        CHECK(reply->integer >= SUBSCRIBERS);
        aioc_redis_reply_free(reply);
    }
    CHECK_ERR(aioc_gather(t, SUBSCRIBERS, NULL), 0);
    for (int i = 0; i < SUBSCRIBERS; i++)
        aioc_redis_pubsub_close(subs[i].ps);
    CHECK_ERR(aioc_redis_subscribe(NULL, &chan, 1), -EINVAL);
    aioc_redis_close(pub);
    return NULL;
}

/* ------------------------------------------------- the server dies -- */

typedef struct survivor {
    aioc_redis *r;
    aioc_redis_pool *pool;
    int id;
    int ok_before, failures, ok_after;
    int *phase; /* 0 before the kill, 1 down, 2 restarted */
    int *stop;
} survivor;

static void *survivor_main(void *arg) {
    survivor *s = arg;
    while (!*s->stop) {
        redisReply *reply = NULL;
        int phase = *s->phase;
        int err = s->pool
                      ? aioc_redis_pool_command(s->pool, &reply, "INCR aioc-test:kill:%d", s->id)
                      : aioc_redis_command(s->r, &reply, "INCR aioc-test:kill:%d", s->id);
        if (err == 0) {
            CHECK_EQ(reply->type, REDIS_REPLY_INTEGER);
            aioc_redis_reply_free(reply);
            if (phase == 0)
                s->ok_before++;
            else if (phase == 2 && *s->phase == 2)
                s->ok_after++;
            CHECK(phase != 1 || *s->phase != 1); /* nothing answers while it is down */
        } else {
            /* clear errors only: the connection was reset, or refused */
            if (err != -ECONNRESET && err != -EPIPE && err != -ECONNREFUSED) {
                fprintf(stderr, "survivor %d: %s\n", s->id, aioc_redis_strerror(err));
                CHECK(0);
            }
            CHECK(*s->phase >= 1 || phase >= 1);
            s->failures++;
            CHECK_ERR(aioc_sleep(0.01), 0);
        }
    }
    return NULL;
}

TASK_TEST(server_killed) {
    NEEDS_OWN_SERVER();
    enum { N = 100 };
    aioc_redis *r = connect_or_die();
    aioc_redis_pool *pool;
    aioc_redis_opts o = {.backoff_min = 0.01, .backoff_max = 0.2};
    CHECK_ERR(pool_new(server.addr, &o, 5, &pool), 0);
    int phase = 0, stop = 0;
    survivor s[N];
    aioc_task t[N];
    for (int i = 0; i < N; i++) {
        s[i] = (survivor){.r = i % 2 ? r : NULL,
                          .pool = i % 2 ? NULL : pool,
                          .id = i,
                          .phase = &phase,
                          .stop = &stop};
        t[i] = aioc_spawn(survivor_main, &s[i]);
    }
    /* under load: every task has had answers */
    for (int i = 0; i < N; i++)
        while (s[i].ok_before < 3)
            CHECK_ERR(aioc_sleep(0.01), 0);
    phase = 1;
    redis_server_kill(&server);
    /* every task sees a clear error, none hangs */
    double give_up = aioc_now() + 20;
    for (int i = 0; i < N; i++)
        while (s[i].failures == 0) {
            CHECK(aioc_now() < give_up);
            CHECK_ERR(aioc_sleep(0.01), 0);
        }
    CHECK(!aioc_redis_connected(r));
    /* back up (same port): every task recovers */
    CHECK_EQ(redis_server_restart(&server), 0);
    phase = 2;
    give_up = aioc_now() + 30;
    for (int i = 0; i < N; i++)
        while (s[i].ok_after < 3) {
            CHECK(aioc_now() < give_up);
            CHECK_ERR(aioc_sleep(0.01), 0);
        }
    stop = 1;
    CHECK_ERR(aioc_gather(t, N, NULL), 0);
    CHECK(aioc_redis_connected(r));
    CHECK(aioc_redis_pool_size(pool) <= 5);
    aioc_redis_pool_free(pool);
    aioc_redis_close(r);
    return NULL;
}

/* PUBLISH `payload` on `channel`; returns how many subscribers got it. */
static long long publish(aioc_redis *r, const char *channel, const char *payload) {
    redisReply *reply = must(r, "PUBLISH %s %s", channel, payload);
    CHECK_EQ(reply->type, REDIS_REPLY_INTEGER);
    long long n = reply->integer;
    aioc_redis_reply_free(reply);
    return n;
}

/* The next message must be `payload` on `channel` (through `pattern`). */
static void expect_message(aioc_redis_pubsub *ps, const char *channel, const char *pattern,
                           const char *payload) {
    aioc_redis_message *m;
    CHECK_ERR(aioc_redis_pubsub_next(ps, &m), 0);
    CHECK(m->channel_len == strlen(channel) && !memcmp(m->channel, channel, m->channel_len));
    CHECK(pattern ? m->pattern && m->pattern_len == strlen(pattern) &&
                        !memcmp(m->pattern, pattern, m->pattern_len)
                  : !m->pattern);
    CHECK(m->payload_len == strlen(payload) && !memcmp(m->payload, payload, m->payload_len));
    aioc_redis_message_free(m);
}

/* With resubscribe, the iterator outlives the server: the server is
 * killed and started again on the same port; while it is down each step
 * says why, and once it is back one step says AIOC_REDIS_ERESUBSCRIBED,
 * after which the channels and patterns asked for deliver again (one
 * subscribed while the server was down included, one unsubscribed
 * before not): checked by PUBLISH's count of receivers. */
TASK_TEST(pubsub_resubscribes) {
    NEEDS_OWN_SERVER();
    aioc_redis *pub = connect_or_die();
    aioc_redis_opts o = {.resubscribe = 1, .backoff_min = 0.01, .backoff_max = 0.2};
    aioc_redis_pubsub *ps;
    CHECK_ERR(pubsub_connect(server.addr, &o, &ps), 0);
    const char *channels[] = {"aioc-test:a", "aioc-test:c"}, *pattern = "aioc-test:p.*";
    CHECK_ERR(aioc_redis_subscribe(ps, channels, 2), 0);
    CHECK_ERR(aioc_redis_psubscribe(ps, &pattern, 1), 0);
    CHECK_ERR(aioc_redis_unsubscribe(ps, &channels[1], 1), 0);
    CHECK_EQ(publish(pub, "aioc-test:a", "before"), 1);
    CHECK_EQ(publish(pub, "aioc-test:p.x", "before"), 1);
    CHECK_EQ(publish(pub, "aioc-test:c", "before"), 0);
    expect_message(ps, "aioc-test:a", NULL, "before");
    expect_message(ps, "aioc-test:p.x", pattern, "before");

    redis_server_kill(&server);
    aioc_redis_message *m;
    int err = aioc_redis_pubsub_next(ps, &m);
    CHECK(err < 0 && err != AIOC_REDIS_ERESUBSCRIBED && err != AIOC_EOF && !m);
    const char *later = "aioc-test:b"; /* asked for while down: made at the reconnect */
    CHECK(aioc_redis_subscribe(ps, &later, 1) < 0);
    err = aioc_redis_pubsub_next(ps, &m); /* the server is still down */
    CHECK(err < 0 && err != AIOC_REDIS_ERESUBSCRIBED && err != AIOC_EOF);

    CHECK_EQ(redis_server_restart(&server), 0);
    double give_up = aioc_now() + 30;
    while ((err = aioc_redis_pubsub_next(ps, &m)) != AIOC_REDIS_ERESUBSCRIBED) {
        CHECK(err < 0 && err != AIOC_EOF); /* no message can come before */
        CHECK(aioc_now() < give_up);
    }
    CHECK(strstr(aioc_redis_strerror(err), "made again"));
    CHECK_EQ(publish(pub, "aioc-test:a", "after"), 1);
    CHECK_EQ(publish(pub, "aioc-test:b", "after"), 1);
    CHECK_EQ(publish(pub, "aioc-test:c", "after"), 0);
    CHECK_EQ(publish(pub, "aioc-test:p.y", "after"), 1);
    expect_message(ps, "aioc-test:a", NULL, "after");
    expect_message(ps, "aioc-test:b", NULL, "after");
    expect_message(ps, "aioc-test:p.y", pattern, "after");
    aioc_redis_pubsub_close(ps);
    aioc_redis_close(pub);
    return NULL;
}

/* ------------------------------------- a server that blocks on writes -- */

/* A naive RESP server of our own: it reads one command, then writes its
 * whole answer (a big bulk string) before reading the next, so that once
 * its answers go unread it stops reading too. With megabytes going both
 * ways at once, a client must keep reading while its own writes wait (a
 * reader that waited for them would deadlock with this server). */
#define BIG_REPLY ((size_t)1 << 20)

static void naive_server(aioc_stream *s, void *arg) {
    (void)arg;
    char *skip = malloc(65536), *body = malloc(BIG_REPLY);
    CHECK(skip && body);
    for (size_t i = 0; i < BIG_REPLY; i++)
        body[i] = (char)('a' + i % 26);
    const char *line;
    while (aioc_stream_readline(s, &line) > 0 && line[0] == '*') {
        int argc = atoi(line + 1), ok = 1;
        for (int i = 0; ok && i < argc; i++) {
            ok = aioc_stream_readline(s, &line) > 0 && line[0] == '$';
            size_t left = ok ? strtoul(line + 1, NULL, 10) + 2 : 0;
            while (ok && left > 0) {
                long n = aioc_stream_read(s, skip, left < 65536 ? left : 65536);
                ok = n > 0;
                left -= ok ? (size_t)n : 0;
            }
        }
        char head[32];
        int n = snprintf(head, sizeof head, "$%zu\r\n", BIG_REPLY);
        if (!ok || aioc_stream_write(s, head, (size_t)n) || aioc_stream_write(s, body, BIG_REPLY) ||
            aioc_stream_write(s, "\r\n", 2))
            break;
    }
    free(skip);
    free(body);
}

typedef struct big_worker {
    aioc_redis *r;
    const char *payload;
    size_t len;
    int rounds;
} big_worker;

static void *big_worker_main(void *arg) {
    big_worker *w = arg;
    const char *argv[2] = {"ECHO", w->payload};
    size_t lens[2] = {4, w->len};
    for (int i = 0; i < w->rounds; i++) {
        redisReply *reply = NULL;
        CHECK_ERR(aioc_redis_command_argv(w->r, 2, argv, lens, &reply), 0);
        CHECK_EQ(reply->type, REDIS_REPLY_STRING);
        CHECK_EQ(reply->len, BIG_REPLY);
        CHECK(reply->str[0] == 'a' &&
              reply->str[BIG_REPLY - 1] == (char)('a' + (BIG_REPLY - 1) % 26));
        aioc_redis_reply_free(reply);
    }
    return NULL;
}

TASK_TEST(server_blocking_on_writes) {
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", naive_server, NULL, NULL, &err);
    CHECK(srv);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", aioc_server_port(srv));
    aioc_redis *r;
    CHECK_ERR(redis_connect(addr, NULL, &r), 0);
    /* megabytes out both ways at once: far more than the sockets hold */
    enum { N = 16 };
    size_t len = BIG_REPLY;
    char *payload = malloc(len);
    CHECK(payload);
    memset(payload, 'x', len);
    big_worker w[N];
    aioc_task t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (big_worker){.r = r, .payload = payload, .len = len, .rounds = slow_tool() ? 2 : 4};
        t[i] = aioc_spawn(big_worker_main, &w[i]);
    }
    CHECK_ERR(aioc_gather(t, N, NULL), 0);
    printf("%d x %d commands of %zu bytes, answers of %zu bytes\n", N, w[0].rounds, len, BIG_REPLY);
    aioc_redis_close(r);
    free(payload);
    CHECK_ERR(aioc_server_close(srv, 5.0), 0);
    return NULL;
}
