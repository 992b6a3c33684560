/* aioc_http's tests (listed in http-list.h). `http_tests NAME` runs one
 * (ctest runs each as http_NAME). The server and raw-socket clients run as tasks of one loop;
 * curl and Python's http.client run as aioc subprocesses, under a deadline,
 * and are killed (by the process object) if they overstay it. */
#define _GNU_SOURCE
#include <aioc_http.h>
#include <math.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define AIOC_TEST_RUN(fn, virtual_time) run(fn)
#include "test.h"

/* Deadlines and the bounds checked against them are multiplied by this:
 * AIOC_HTTP_TIME_SCALE (Valgrind's entries set 4), else 1. */
static double S = 1;

/* ------------------------------------------------------------ the app -- */

static int hello(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req, (void)arg;
    aioc_http_response_header(res, "Content-Type", "text/plain");
    return aioc_http_response_body_borrowed(res, "hello", 5);
}

static int echo(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    size_t n;
    const char *body = aioc_http_request_body(req, &n);
    return aioc_http_response_body(res, body, n);
}

static int user(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    char json[128];
    snprintf(json, sizeof json, "{\"id\":\"%s\"}", aioc_http_request_param(req, "id"));
    return aioc_http_response_json(res, 200, json);
}

static int files(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    char text[256];
    snprintf(text, sizeof text, "file %s", aioc_http_request_path(req));
    return aioc_http_response_body(res, text, strlen(text));
}

static int slow_started; /* handlers of /slow that have begun */

static int slow(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req, (void)arg;
    slow_started++;
    int err = aioc_sleep(0.3);
    return err ? err : aioc_http_response_body(res, "slow", 4);
}

static void *work(void *arg) { return P(I(arg) * 2); }

static int thread(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req, (void)arg;
    void *out;
    int err = aioc_to_thread(work, P(21), &out);
    if (err)
        return err;
    char text[32];
    snprintf(text, sizeof text, "thread %d", I(out));
    return aioc_http_response_body(res, text, strlen(text));
}

static int stream(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req, (void)arg;
    aioc_http_response_header(res, "Content-Type", "text/plain");
    const char *parts[] = {"one ", "two ", "three"};
    for (int i = 0; i < 3; i++) {
        int err = aioc_http_response_write(res, parts[i], strlen(parts[i]));
        if (err)
            return err;
        aioc_sleep(0.01);
    }
    return aioc_http_response_end(res);
}

static int big_err; /* how the last /big ended */

/* Streams up to 1 GiB, 64 KiB at a time, until a write fails. */
static int big(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req, (void)arg;
    static char block[65536];
    big_err = 0;
    for (int i = 0; i < 16384 && !big_err; i++)
        big_err = aioc_http_response_write(res, block, sizeof block);
    return big_err;
}

static int query(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    const char *h = aioc_http_request_header(req, "x-TEST");
    char text[256];
    snprintf(text, sizeof text, "q=%s h=%s n=%zu", aioc_http_request_query(req), h ? h : "-",
             aioc_http_request_header_count(req));
    return aioc_http_response_body(res, text, strlen(text));
}

/* The query's pairs q, flag, n and missing, decoded, or their errors. */
static int search(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    const char *names[] = {"q", "flag", "n", "missing", "a b"};
    char text[512] = "", value[8];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        long n = aioc_http_request_query_get(req, names[i], value, sizeof value);
        size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, "%s%s=%s", i ? " " : "", names[i],
                 n >= 0 ? value : aioc_err_name((int)n));
    }
    return aioc_http_response_body(res, text, strlen(text));
}

static int whoami(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    char peer[AIOC_ADDRSTRLEN];
    int n = aioc_http_request_peer_address(req, peer, sizeof peer);
    CHECK(n > 0);
    aioc_http_response_header(res, "Content-Type", "text/plain");
    return aioc_http_response_body(res, peer, (size_t)n);
}

static int failing(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req, (void)res, (void)arg;
    return -EIO;
}

/* A made-up protocol behind an Upgrade: echoes the bytes that came with
 * the request, then each read, upper-cased, until the client ends. */
static int upgrade_echo(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    const char *up = aioc_http_request_header(req, "Upgrade");
    if (!up || strcmp(up, "shout"))
        return aioc_http_response_status(res, 426);
    aioc_http_response_header(res, "Upgrade", "shout");
    aioc_http_response_header(res, "Connection", "Upgrade");
    aioc_stream *s;
    const void *pending;
    size_t n;
    int err = aioc_http_response_upgrade(res, &s, &pending, &n);
    if (err)
        return err;
    CHECK_ERR(aioc_http_response_upgrade(res, &s, NULL, NULL), -EALREADY);
    /* the request stays readable after the handover */
    CHECK(!strcmp(aioc_http_request_header(req, "Upgrade"), "shout"));
    CHECK(!strcmp(aioc_http_request_header(req, "Connection"), "Upgrade"));
    CHECK(!strcmp(aioc_http_request_path(req), "/upgrade"));
    CHECK(!strcmp(aioc_http_request_query(req), "q=1"));
    CHECK_ERR(aioc_http_response_body(res, "x", 1), -EALREADY);
    char buf[256];
    memcpy(buf, pending, n < sizeof buf ? n : sizeof buf);
    for (;;) {
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i]);
        if (n && (err = aioc_stream_write(s, buf, n)))
            return err;
        long got = aioc_stream_read(s, buf, sizeof buf);
        if (got <= 0)
            return (int)got;
        n = (size_t)got;
    }
}

static aioc_http_router *app(void) {
    aioc_http_router *r = aioc_http_router_new();
    CHECK(r);
    CHECK_ERR(aioc_http_route(r, "GET", "/hello", hello, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "POST", "/echo", echo, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "PUT", "/echo", echo, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/users/:id", user, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/static/*", files, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/slow", slow, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/thread", thread, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/stream", stream, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "*", "/query", query, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/search", search, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/fail", failing, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/whoami", whoami, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/big", big, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/upgrade", upgrade_echo, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/a/*/b", hello, NULL), -EINVAL);
    CHECK_ERR(aioc_http_route(r, "GET", "nope", hello, NULL), -EINVAL);
    return r;
}

/* ---------------------------------------------------------- harness -- */

typedef struct fixture {
    aioc_http_router *router;
    aioc_http_server *srv;
    char port[16];
} fixture;

static void start(fixture *f, const aioc_http_opts *opts) {
    f->router = app();
    int err;
    f->srv = aioc_http_serve("127.0.0.1", "0", aioc_http_router_handle, f->router, opts, &err);
    CHECK_ERR(err, 0);
    snprintf(f->port, sizeof f->port, "%d", aioc_http_server_port(f->srv));
}

static void stop(fixture *f) {
    CHECK_ERR(aioc_http_server_close(f->srv, 5), 0);
    aioc_http_router_free(f->router);
}

static int dial(fixture *f) {
    int fd = aioc_tcp_connect("127.0.0.1", f->port);
    CHECK(fd >= 0);
    return fd;
}

static bool starts(const char *s, const char *prefix) {
    return !strncmp(s, prefix, strlen(prefix));
}

static void put(int fd, const char *s) {
    CHECK_EQ(aioc_send(fd, s, strlen(s), 0), (long)strlen(s));
}

/* Reads until the peer closes (within 5 s), Date lines removed. */
static char *read_all(int fd) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    aioc_scope sc;
    aioc_scope_enter(&sc, 5);
    long n;
    while ((n = aioc_recv(fd, buf + len, cap - len, 0)) > 0) {
        len += (size_t)n;
        if (len == cap) {
            CHECK(cap < (64u << 20)); /* a runaway response */
            buf = realloc(buf, (cap *= 2) + 1);
            CHECK(buf);
        }
    }
    CHECK_ERR(aioc_scope_exit(&sc), 0);
    buf[len] = '\0';
    char *d;
    while ((d = strstr(buf, "Date: "))) {
        char *e = strstr(d, "\r\n") + 2;
        memmove(d, e, strlen(e) + 1);
    }
    return buf;
}

/* Reads until `want` has arrived (within 5 s). */
static void read_until(int fd, const char *want) {
    char buf[8192];
    size_t len = 0;
    aioc_scope sc;
    aioc_scope_enter(&sc, 5);
    while (len < sizeof buf - 1) {
        long n = aioc_recv(fd, buf + len, sizeof buf - 1 - len, 0);
        CHECK(n > 0);
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, want))
            break;
    }
    CHECK_ERR(aioc_scope_exit(&sc), 0);
    CHECK(strstr(buf, want));
}

/* Sends `req` on a new connection and returns all that comes back. */
static char *talk(fixture *f, const char *req) {
    int fd = dial(f);
    put(fd, req);
    char *out = read_all(fd);
    aioc_close(fd);
    return out;
}

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        if (strcmp((got), (want))) {                                                               \
            fprintf(stderr, "%s:%d: got\n[%s]\nwanted\n[%s]\n", __FILE__, __LINE__, (got),         \
                    (want));                                                                       \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* How every test runs its loop (TASK_TEST's AIOC_TEST_RUN too). */
static void run(aioc_fn fn) {
    const char *scale = getenv("AIOC_HTTP_TIME_SCALE");
    if (scale && atof(scale) > 0)
        S = atof(scale);
    int status = aioc_run(fn, NULL, NULL);
    if (status) {
        fprintf(stderr, "main failed: %s\n", aioc_err_name(status));
        exit(1);
    }
}

/* --------------------------------------------------------- raw tests -- */

TASK_TEST(pipelined_requests_answered_in_order) {
    fixture f;
    start(&f, NULL);
    char *out =
        talk(&f, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                 "GET /users/42?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /query?a=b HTTP/1.1\r\nHost: x\r\nX-Test: yes\r\nConnection: close\r\n\r\n"
                 "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_STR(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
                   "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
                   "{\"id\":\"42\"}"
                   "HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\n"
                   "q=a=b h=yes n=3");
    free(out);
    stop(&f);
    return NULL;
}

TASK_TEST(chunked_request_body) {
    fixture f;
    start(&f, NULL);
    char *out =
        talk(&f, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n"
                 "PUT /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    CHECK_STR(out, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nWikipedia"
                   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    free(out);
    stop(&f);
    return NULL;
}
/* A handler learns the client's address: the one the client's socket has. */
TASK_TEST(handler_learns_the_peer_address) {
    fixture f;
    start(&f, NULL);
    int fd = dial(&f);
    struct sockaddr_storage mine;
    socklen_t len = sizeof mine;
    CHECK(getsockname(fd, (struct sockaddr *)&mine, &len) == 0);
    char want[AIOC_ADDRSTRLEN];
    int n = aioc_address_format((struct sockaddr *)&mine, len, want, sizeof want);
    CHECK(n > 0);
    put(fd, "GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    char *out = read_all(fd);
    aioc_close(fd);
    char expect[256];
    snprintf(expect, sizeof expect,
             "Content-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", n,
             want);
    CHECK(strstr(out, expect));
    free(out);
    stop(&f);
    return NULL;
}

static const char *bad_400 =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
    "Connection: close\r\n\r\nBad Request";

TASK_TEST(malformed_requests_get_400_and_close) {
    fixture f;
    start(&f, NULL);
    const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *out = talk(&f, bad[i]);
        CHECK_STR(out, bad_400);
        free(out);
    }
    /* a major version other than 1: 505 */
    char *out = talk(&f, "GET / HTTP/9.9\r\nHost: x\r\n\r\n");
    CHECK(starts(out, "HTTP/1.1 505 HTTP Version Not Supported\r\n"));
    CHECK(strstr(out, "Connection: close\r\n"));
    free(out);
    /* a good request first, then garbage: the first is answered */
    out = talk(&f, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nBAD\tREQUEST LINE\r\n\r\n");
    CHECK(strstr(out, "hello") && strstr(out, "400 Bad Request"));
    free(out);
    /* a method that is a token but unknown: 501 */
    out = talk(&f, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nBREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(strstr(out, "hello") && strstr(out, "501 Not Implemented"));
    free(out);
    /* a handler's error is a 500 */
    out = talk(&f, "GET /fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(starts(out, "HTTP/1.1 500 Internal Server Error\r\n"));
    free(out);
    stop(&f);
    return NULL;
}

TASK_TEST(limits_give_431_and_413) {
    fixture f;
    aioc_http_opts o = {.max_head_bytes = 1024, .max_headers = 10, .max_body_bytes = 1000};
    start(&f, &o);
    char req[4096];
    char big[2048];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", big);
    char *out = talk(&f, req);
    CHECK(starts(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    CHECK(strstr(out, "Connection: close\r\n"));
    free(out);
    /* a request target alone over the limit is 414 */
    snprintf(req, sizeof req, "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", big);
    out = talk(&f, req);
    CHECK(starts(out, "HTTP/1.1 414 URI Too Long\r\n"));
    free(out);
    /* eleven headers */
    strcpy(req, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 11; i++)
        sprintf(req + strlen(req), "H%d: v\r\n", i);
    strcat(req, "\r\n");
    out = talk(&f, req);
    CHECK(starts(out, "HTTP/1.1 431 "));
    free(out);
    /* ten are fine */
    strcpy(req, "GET /query HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (int i = 0; i < 8; i++)
        sprintf(req + strlen(req), "H%d: v\r\n", i);
    strcat(req, "\r\n");
    out = talk(&f, req);
    CHECK(strstr(out, "200 OK") && strstr(out, "n=10"));
    free(out);
    /* a body over the limit, announced or chunked */
    out = talk(&f, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nabc");
    CHECK(starts(out, "HTTP/1.1 413 Content Too Large\r\n"));
    free(out);
    int fd = dial(&f);
    put(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        char chunk[600];
        memset(chunk, 'b', sizeof chunk);
        snprintf(chunk, 6, "1f4\r\n");
        chunk[5] = 'b';
        memcpy(chunk + 505, "\r\n", 2);
        if (aioc_send(fd, chunk, 507, 0) != 507)
            break;
    }
    out = read_all(fd);
    CHECK(starts(out, "HTTP/1.1 413 "));
    free(out);
    aioc_close(fd);
    /* exactly at the limit is fine */
    memset(big, 'c', 1000);
    big[1000] = '\0';
    snprintf(
        req, sizeof req,
        "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n%s",
        big);
    out = talk(&f, req);
    CHECK(strstr(out, "200 OK") && strstr(out, big));
    free(out);
    stop(&f);
    return NULL;
}

TASK_TEST(slow_head_is_cut_off) {
    fixture f;
    aioc_http_opts o = {.head_timeout = S * 0.4};
    start(&f, &o);
    /* one byte every 50 ms: still closed when the head's time is up */
    int fd = dial(&f);
    double t0 = aioc_now();
    const char *head = "GET /hello HTTP/1.1\r\nHost: example\r\nX-Slow: 1\r\n";
    for (const char *p = head; *p; p++) {
        if (aioc_send(fd, p, 1, 0) != 1)
            break;
        aioc_sleep(S * 0.05);
        if (aioc_now() - t0 > S * 1)
            break;
    }
    char *out = read_all(fd);
    double took = aioc_now() - t0;
    CHECK(starts(out, "HTTP/1.1 408 Request Timeout\r\n"));
    CHECK(took > S * 0.35 && took < S * 2);
    free(out);
    aioc_close(fd);
    /* a connection that sends nothing is closed at the same deadline */
    fd = dial(&f);
    t0 = aioc_now();
    out = read_all(fd);
    CHECK_STR(out, "");
    took = aioc_now() - t0;
    CHECK(took > S * 0.35 && took < S * 2);
    free(out);
    aioc_close(fd);
    CHECK_EQ(aioc_http_server_connections(f.srv), 0);
    stop(&f);
    return NULL;
}

TASK_TEST(slow_body_and_idle_blank_lines_are_cut_off) {
    fixture f;
    aioc_http_opts o = {.body_timeout = S * 0.3, .idle_timeout = S * 0.3};
    start(&f, &o);
    /* a body that stops coming: closed a body deadline later */
    int fd = dial(&f);
    put(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    double t0 = aioc_now();
    char *out = read_all(fd);
    double took = aioc_now() - t0;
    CHECK_STR(out, "");
    CHECK(took > S * 0.25 && took < S * 2);
    free(out);
    aioc_close(fd);
    /* blank lines between requests do not keep an idle connection open */
    fd = dial(&f);
    put(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(fd, "hello");
    t0 = aioc_now();
    for (int i = 0; i < 10 && aioc_now() - t0 < S * 1; i++) {
        if (aioc_send(fd, "\r\n", 2, 0) != 2)
            break;
        aioc_sleep(S * 0.1);
    }
    out = read_all(fd);
    took = aioc_now() - t0;
    CHECK_STR(out, "");
    CHECK(took > S * 0.25 && took < S * 2);
    free(out);
    aioc_close(fd);
    stop(&f);
    return NULL;
}

TASK_TEST(peer_that_stops_reading_is_dropped) {
    fixture f;
    aioc_http_opts o = {.write_timeout = S * 0.3};
    start(&f, &o);
    int fd = dial(&f);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    put(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    double t0 = aioc_now();
    while (aioc_http_server_connections(f.srv) == 0 && aioc_now() - t0 < S * 5)
        aioc_sleep(0.01);
    /* the client reads nothing: the server gives up on it */
    while (aioc_http_server_connections(f.srv) > 0 && aioc_now() - t0 < S * 10)
        aioc_sleep(0.02);
    CHECK_EQ(aioc_http_server_connections(f.srv), 0);
    CHECK_ERR(big_err, -ETIMEDOUT);
    aioc_close(fd);
    stop(&f);
    return NULL;
}

TASK_TEST(idle_keep_alive_is_closed) {
    fixture f;
    aioc_http_opts o = {.idle_timeout = S * 0.3};
    start(&f, &o);
    int fd = dial(&f);
    put(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(fd, "hello");
    double t0 = aioc_now();
    put(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"); /* keep-alive works */
    read_until(fd, "hello");
    char *out = read_all(fd);
    double took = aioc_now() - t0;
    CHECK_STR(out, "");
    CHECK(took > S * 0.25 && took < S * 2);
    free(out);
    aioc_close(fd);
    stop(&f);
    return NULL;
}

TASK_TEST(head_and_streamed_responses) {
    fixture f;
    start(&f, NULL);
    char *out = talk(&f, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                         "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /users/7 HTTP/1.0\r\n\r\n");
    CHECK_STR(out,
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
              "4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n"
              "Connection: close\r\n\r\n{\"id\":\"7\"}");
    free(out);
    /* HTTP/1.0 streaming: raw bytes, ended by closing */
    out = talk(&f, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK_STR(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                   "one two three");
    free(out);
    stop(&f);
    return NULL;
}

TASK_TEST(router_404_405_params_prefix) {
    fixture f;
    start(&f, NULL);
    char *out = talk(&f, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
                         "DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /static/css/site.css HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /static HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /users/ HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /users/9/x HTTP/1.1\r\nHost: x\r\n\r\n"
                         "OPTIONS /query HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK_STR(
        out,
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot Found"
        "HTTP/1.1 405 Method Not Allowed\r\nAllow: POST, PUT\r\nContent-Type: text/plain\r\n"
        "Content-Length: 18\r\n\r\nMethod Not Allowed"
        "HTTP/1.1 200 OK\r\nContent-Length: 25\r\n\r\nfile /static/css/site.css"
        "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nfile /static"
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot Found"
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot Found"
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nq= h=- n=2");
    free(out);
    stop(&f);
    return NULL;
}

/* A JSON API's fallback: the router's status, an error body of its own. */
static int json_fallback(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req;
    (void)arg;
    const char *json = aioc_http_response_get_status(res) == 405 ? "{\"error\":\"not this way\"}"
                                                                 : "{\"error\":\"no such route\"}";
    return aioc_http_response_body(res, json, strlen(json));
}

TASK_TEST(router_fallback_answers_404_and_405) {
    fixture f;
    start(&f, NULL);
    aioc_http_router_fallback(f.router, json_fallback, NULL);
    char *out = talk(&f, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
                         "DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK_STR(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 25\r\n\r\n"
                   "{\"error\":\"no such route\"}"
                   "HTTP/1.1 405 Method Not Allowed\r\nAllow: POST, PUT\r\n"
                   "Content-Length: 24\r\n\r\n{\"error\":\"not this way\"}"
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                   "Connection: close\r\n\r\nhello");
    free(out);
    stop(&f);
    return NULL;
}

/* ------------------------------------------------------- files -- */

static char file_dir[64]; /* a temporary directory the /files/ route serves */
#define BIG_FILE ((size_t)300 * 1024)

/* /files/NAME: NAME in file_dir, without "..": 404 if missing, 403 for a
 * directory. */
static int files_route(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    const char *name = aioc_http_request_path(req) + strlen("/files/");
    char path[160];
    snprintf(path, sizeof path, "%s/%s", file_dir, name);
    if (strstr(name, ".."))
        return aioc_http_response_status(res, 403);
    int err = aioc_http_response_file(res, path);
    if (err == -ENOENT)
        return aioc_http_response_status(res, 404);
    if (err == -EISDIR)
        return aioc_http_response_status(res, 403);
    return err;
}

static void write_file(const char *name, const void *data, size_t n) {
    char path[160];
    snprintf(path, sizeof path, "%s/%s", file_dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f && fwrite(data, 1, n, f) == n && fclose(f) == 0);
}

static void *serving_files(void *arg) {
    (void)arg;
    fixture f;
    start(&f, NULL);
    CHECK_ERR(aioc_http_route(f.router, "GET", "/files/*", files_route, NULL), 0);
    write_file("page.html", "<p>hi</p>\n", 10);
    char *big = malloc(BIG_FILE);
    CHECK(big);
    for (size_t i = 0; i < BIG_FILE; i++)
        big[i] = (char)('a' + i % 26);
    write_file("big.bin", big, BIG_FILE);
    char sub[160];
    snprintf(sub, sizeof sub, "%s/sub", file_dir);
    CHECK(mkdir(sub, 0700) == 0);

    char *out = talk(&f, "GET /files/page.html HTTP/1.1\r\nHost: x\r\n\r\n"
                         "HEAD /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /files/missing.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /files/sub HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /files/../secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK_STR(out, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                   "Content-Length: 10\r\n\r\n<p>hi</p>\n"
                   "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                   "Content-Length: 307200\r\n\r\n"
                   "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                   "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
                   "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    free(out);
    /* the big one, whole, then the connection goes on */
    out = talk(&f, "GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /files/page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const char *body = strstr(out, "\r\n\r\n");
    CHECK(starts(out, "HTTP/1.1 200 OK\r\n") && body);
    CHECK(memcmp(body + 4, big, BIG_FILE) == 0);
    CHECK(strstr(body + 4 + BIG_FILE, "<p>hi</p>\n"));
    free(out);
    free(big);
    stop(&f);
    return NULL;
}
TEST(files_sent_from_the_thread_pool) {
    snprintf(file_dir, sizeof file_dir, "/tmp/aioc-http-XXXXXX");
    CHECK(mkdtemp(file_dir));
    run(serving_files);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", file_dir);
    CHECK(system(cmd) == 0);
}

static void *querying(void *arg) {
    (void)arg;
    fixture f;
    start(&f, NULL);
    char *out = talk(
        &f, "GET /search?q=a%20b%2Bc&flag&n=too+long+a+value&a+b=%41 HTTP/1.1\r\nHost: x\r\n\r\n"
            "GET /search?n=%zz&q=%00&q=second HTTP/1.1\r\nHost: x\r\n\r\n"
            "GET /search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK_STR(out, "HTTP/1.1 200 OK\r\nContent-Length: 43\r\n\r\n"
                   "q=a b+c flag= n=ENOSPC missing=ENOENT a b=A"
                   "HTTP/1.1 200 OK\r\nContent-Length: 55\r\n\r\n"
                   "q=EINVAL flag=ENOENT n=EINVAL missing=ENOENT a b=ENOENT"
                   "HTTP/1.1 200 OK\r\nContent-Length: 55\r\nConnection: close\r\n\r\n"
                   "q=ENOENT flag=ENOENT n=ENOENT missing=ENOENT a b=ENOENT");
    free(out);
    stop(&f);
    return NULL;
}
TEST(query_pairs_and_percent_decoding) {
    char out[16];
    CHECK_EQ(aioc_http_percent_decode("a%2Fb+c%7e", 10, out, sizeof out, false), 6);
    CHECK_STR(out, "a/b+c~");
    CHECK_EQ(aioc_http_percent_decode("a+b", 3, out, sizeof out, true), 3);
    CHECK_STR(out, "a b");
    CHECK_EQ(aioc_http_percent_decode("%4", 2, out, sizeof out, true), -EINVAL);
    CHECK_EQ(aioc_http_percent_decode("%g0", 3, out, sizeof out, true), -EINVAL);
    CHECK_EQ(aioc_http_percent_decode("%00", 3, out, sizeof out, true), -EINVAL);
    CHECK_EQ(aioc_http_percent_decode("abc", 3, out, 3, true), -ENOSPC);
    CHECK_EQ(aioc_http_percent_decode("%41bc", 5, out, 4, true), 3); /* "Abc" fits */
    CHECK_STR(out, "Abc");
    CHECK_EQ(aioc_http_percent_decode("", 0, out, 1, true), 0);
    run(querying);
}

static void *one_client(void *arg) {
    fixture *f = arg;
    char *out = talk(f, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /thread HTTP/1.1\r\nHost: "
                        "x\r\nConnection: close\r\n\r\n");
    CHECK(strstr(out, "\r\n\r\nslow") && strstr(out, "\r\n\r\nthread 42"));
    free(out);
    return NULL;
}

TASK_TEST(handlers_suspend) {
    fixture f;
    start(&f, NULL);
    /* ten connections whose handlers sleep 0.3 s at once: about 0.3 s */
    aioc_task t[10];
    double t0 = aioc_now();
    for (int i = 0; i < 10; i++)
        t[i] = aioc_spawn(one_client, &f);
    CHECK_ERR(aioc_gather(t, 10, NULL), 0);
    CHECK(aioc_now() - t0 < S * 2);
    stop(&f);
    return NULL;
}

TASK_TEST(expect_100_continue) {
    fixture f;
    start(&f, NULL);
    int fd = dial(&f);
    put(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n"
            "Connection: close\r\n\r\n");
    read_until(fd, "HTTP/1.1 100 Continue\r\n\r\n");
    put(fd, "data");
    char *out = read_all(fd);
    CHECK_STR(out, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndata");
    free(out);
    aioc_close(fd);
    /* too big: 413 at once, no 100 */
    out = talk(&f, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\nExpect: "
                   "100-continue\r\n\r\n");
    CHECK(starts(out, "HTTP/1.1 413 "));
    free(out);
    stop(&f);
    return NULL;
}

TASK_TEST(upgrade_hands_over_the_connection) {
    fixture f;
    start(&f, NULL);
    int fd = dial(&f);
    /* the new protocol's first bytes come in the same segment as the head */
    put(fd, "GET /upgrade?q=1 HTTP/1.1\r\nHost: x\r\nUpgrade: shout\r\nConnection: Upgrade\r\n\r\n"
            "first");
    read_until(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: shout\r\nConnection: "
                   "Upgrade\r\n\r\nFIRST");
    /* what follows is the new protocol's too, not a request */
    put(fd, "GET / HTTP/1.1\r\n\r\n");
    read_until(fd, "GET / HTTP/1.1\r\n\r\n");
    CHECK_ERR(shutdown(fd, SHUT_WR), 0);
    aioc_close(fd);
    /* an HTTP/1.0 request cannot upgrade: the handler's error gives 500 */
    char *out = talk(&f, "GET /upgrade HTTP/1.0\r\nUpgrade: shout\r\nConnection: Upgrade\r\n\r\n");
    CHECK(starts(out, "HTTP/1.1 500 "));
    free(out);
    /* no Upgrade header: the handler answers 426 over plain HTTP */
    out = talk(&f, "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(starts(out, "HTTP/1.1 426 "));
    free(out);
    stop(&f);
    return NULL;
}

typedef struct inflight {
    fixture *f;
} inflight;

static void *slow_client(void *arg) {
    inflight *in = arg;
    int fd = dial(in->f);
    put(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    char *out = read_all(fd);
    aioc_close(fd);
    CHECK_STR(out, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow");
    free(out);
    return NULL;
}

TASK_TEST(graceful_shutdown_finishes_in_flight) {
    slow_started = 0;
    fixture f;
    start(&f, NULL);
    /* an idle keep-alive connection */
    int idle = dial(&f);
    put(idle, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(idle, "hello");
    /* a request in flight */
    inflight in = {&f};
    aioc_task t = aioc_spawn(slow_client, &in);
    while (!slow_started)
        aioc_sleep(0.01);
    CHECK_EQ(aioc_http_server_connections(f.srv), 2);
    double t0 = aioc_now();
    CHECK_ERR(aioc_http_server_close(f.srv, 5), 0);
    CHECK(aioc_now() - t0 < S * 1.5);
    char *out = read_all(idle); /* closed, nothing sent */
    CHECK_STR(out, "");
    free(out);
    aioc_close(idle);
    CHECK_ERR(aioc_await(t, NULL), 0);
    CHECK(aioc_tcp_connect("127.0.0.1", f.port) < 0); /* no longer listening */
    aioc_http_router_free(f.router);
    return NULL;
}

TASK_TEST(graceful_shutdown_cancels_after_grace) {
    slow_started = 0;
    fixture f;
    start(&f, NULL);
    int fd = dial(&f);
    put(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    while (!slow_started)
        aioc_sleep(0.01);
    CHECK_ERR(aioc_http_server_close(f.srv, 0.05), -ETIMEDOUT);
    char *out = read_all(fd); /* cut off, nothing sent */
    CHECK_STR(out, "");
    free(out);
    aioc_close(fd);
    aioc_http_router_free(f.router);
    return NULL;
}

/* The seam for other transports: a connection on any stream. */
typedef struct pair_srv {
    aioc_http_server *h;
    aioc_stream *s;
    int status;
} pair_srv;

static void *serve_pair(void *arg) {
    pair_srv *p = arg;
    p->status = aioc_http_serve_stream(p->h, p->s);
    aioc_stream_close(p->s);
    return NULL;
}

TASK_TEST(serve_any_stream) {
    aioc_http_router *r = app();
    /* a negative timeout is refused, not taken for "none" or the default */
    aioc_http_opts bad = {.idle_timeout = -1};
    CHECK(!aioc_http_server_new(aioc_http_router_handle, r, &bad) && errno == EINVAL);
    aioc_http_opts none = {.idle_timeout = AIOC_NO_TIMEOUT};
    aioc_http_server *h = aioc_http_server_new(aioc_http_router_handle, r, &none);
    CHECK(h);
    CHECK_EQ(aioc_http_server_port(h), 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    pair_srv p = {h, aioc_stream_new(sv[0], NULL), 1};
    aioc_task t = aioc_spawn(serve_pair, &p);
    put(sv[1], "GET /users/5 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: "
               "x\r\nConnection: close\r\n\r\n");
    char *out = read_all(sv[1]);
    CHECK(strstr(out, "{\"id\":\"5\"}") && strstr(out, "\r\n\r\nhello"));
    free(out);
    CHECK_ERR(aioc_await(t, NULL), 0);
    CHECK_ERR(p.status, 0);
    aioc_close(sv[1]);
    /* close also ends connections served this way */
    int sv2[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv2) == 0);
    p = (pair_srv){h, aioc_stream_new(sv2[0], NULL), 1};
    t = aioc_spawn(serve_pair, &p);
    put(sv2[1], "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(sv2[1], "hello");
    CHECK_EQ(aioc_http_server_connections(h), 1);
    CHECK_ERR(aioc_http_server_close(h, 1), 0);
    CHECK_ERR(aioc_await(t, NULL), 0);
    CHECK_ERR(p.status, 0);
    aioc_close(sv2[1]);
    aioc_http_router_free(r);
    return NULL;
}

/* A program that returns with its servers open: aioc_run closes them, and
 * frees them (ASan and Valgrind check), with a connection still open. */
TASK_TEST(servers_left_open_are_freed) {
    fixture f, g;
    start(&f, NULL);
    start(&g, NULL);
    int fd = dial(&f);
    put(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(fd, "hello");
    aioc_close(fd);
    aioc_http_router_free(f.router);
    aioc_http_router_free(g.router);
    return NULL;
}

/* ---------------------------------------------------- outside clients -- */

/* Runs argv under a 20 s deadline; returns its stdout (malloc'd) and
 * checks that it exited with 0. */
static char *outside(const char *const *argv) {
    aioc_process_opts po = {.stdout_mode = AIOC_STDIO_PIPE, .stdin_mode = AIOC_STDIO_DEVNULL};
    int err;
    aioc_process *p = aioc_process_spawn(argv, &po, &err);
    if (!p) {
        fprintf(stderr, "cannot run %s: %s\n", argv[0], aioc_strerror(err));
        exit(1);
    }
    char *out = NULL;
    aioc_scope sc;
    aioc_scope_enter(&sc, 20);
    err = aioc_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL);
    aioc_scope_exit(&sc);
    CHECK_ERR(err, 0);
    int status;
    CHECK_ERR(aioc_process_wait(p, &status), 0);
    aioc_process_free(p);
    if (status) {
        fprintf(stderr, "%s exited with %d; stdout:\n%s\n", argv[0], status, out);
        exit(1);
    }
    return out;
}

TASK_TEST(curl_client) {
    fixture f;
    start(&f, NULL);
    char u1[64], u2[64], u3[64];
    snprintf(u1, sizeof u1, "http://127.0.0.1:%s/hello", f.port);
    snprintf(u2, sizeof u2, "http://127.0.0.1:%s/users/abc", f.port);
    snprintf(u3, sizeof u3, "http://127.0.0.1:%s/stream", f.port);
    /* three URLs, one connection: the later ones make no new connect */
    const char *keep[] = {
        "curl", "-sS", "--max-time", "10", "-w", " [%{http_code} %{num_connects}]\n",
        u1,     u2,    u3,           NULL};
    char *out = outside(keep);
    CHECK_STR(out, "hello [200 1]\n{\"id\":\"abc\"} [200 0]\none two three [200 0]\n");
    free(out);
    char echo_url[64];
    snprintf(echo_url, sizeof echo_url, "http://127.0.0.1:%s/echo", f.port);
    const char *post[] = {"curl",          "-sS",          "--max-time", "10",
                          "--data-binary", "a body, sent", echo_url,     NULL};
    out = outside(post);
    CHECK_STR(out, "a body, sent");
    free(out);
    /* a chunked upload, bigger than a chunk of curl's */
    char path[] = "/tmp/aioc_http_upload_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    for (int i = 0; i < 20000; i++)
        CHECK(write(fd, "0123456789", 10) == 10);
    close(fd);
    char data[64];
    snprintf(data, sizeof data, "@%s", path);
    const char *chunked[] = {
        "curl",          "-sS", "--max-time", "10",        "-H", "Transfer-Encoding: chunked",
        "--data-binary", data,  "-o",         "/dev/null", "-w", "%{http_code} %{size_download}",
        echo_url,        NULL};
    out = outside(chunked);
    unlink(path);
    CHECK_STR(out, "200 200000");
    free(out);
    /* a 404 and a HEAD */
    char nowhere[64];
    snprintf(nowhere, sizeof nowhere, "http://127.0.0.1:%s/nowhere", f.port);
    const char *head[] = {
        "curl",      "-sS", "--max-time",    "10", "-I",    "-o", "/dev/null", "-o",
        "/dev/null", "-w",  "%{http_code} ", u1,   nowhere, NULL};
    out = outside(head);
    CHECK_STR(out, "200 404 ");
    free(out);
    stop(&f);
    return NULL;
}

TASK_TEST(python_client) {
    fixture f;
    start(&f, NULL);
    const char *argv[] = {"/usr/bin/python3", AIOC_HTTP_TEST_DIR "/client.py", f.port, NULL};
    char *out = outside(argv);
    CHECK_STR(out, "200 hello\n200 {\"id\":\"py\"}\n201 posted\n404 Not Found\n200 one two three\n"
                   "one connection\n");
    free(out);
    stop(&f);
    return NULL;
}
