/* aioc_curl against an nginx the test starts, plus two servers of its own
 * on the same loop: one that answers with chunked encoding (and counts
 * the connections it accepts) and one that accepts and never answers.
 * `aioc_curl_tests NAME` runs one test (curl-list.h has them); ctest runs
 * each as curl_NAME. */
#include <aioc.h>
#include <aioc_curl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "nginx.h"

/* the core's checks, naming libcurl's codes too; every task test runs
 * with nginx up */
#define AIOC_TEST_ERR_NAME aioc_curl_strerror
#define AIOC_TEST_RUN(fn, virtual_time) run_with_nginx(fn)
#include "test.h"

static nginx server;

/* A failed check exits from inside the loop: stop nginx even then. */
static void stop_at_exit(void) { nginx_stop(&server); }

static void start_nginx(void) {
    CHECK_EQ(nginx_start(&server), 0);
    atexit(stop_at_exit);
}

/* Stops nginx, then fails the test if the loop's `status` is not 0. */
static void stop_nginx(int status) {
    nginx_stop(&server);
    curl_global_cleanup();
    if (status) {
        fprintf(stderr, "main failed: %s\n", aioc_curl_strerror(status));
        exit(1);
    }
}

/* Runs `fn` as main of a loop, with nginx up. */
static void run_with_nginx(aioc_fn fn) {
    start_nginx();
    stop_nginx(aioc_run(fn, NULL, NULL));
}

static void url(char *buf, size_t n, const char *path) {
    snprintf(buf, n, "http://127.0.0.1:%d%s", server.port, path);
}

/* ------------------------------------------------- checking a body -- */

/* Checks bytes against the generated pattern as they arrive. */
typedef struct sink {
    size_t got;
    int bad;
    long connects; /* CURLINFO_NUM_CONNECTS, where a test asks */
    long speed;    /* CURLOPT_MAX_RECV_SPEED_LARGE, where a test sets it */
} sink;

static size_t check_pattern(char *p, size_t size, size_t n, void *arg) {
    sink *s = arg;
    for (size_t i = 0; i < size * n; i++)
        if ((unsigned char)p[i] != pattern_byte(s->got + i))
            s->bad = 1;
    s->got += size * n;
    return size * n;
}

static CURL *pattern_easy(const char *path, sink *s) {
    char u[128];
    url(u, sizeof u, path);
    CURL *e = curl_easy_init();
    CHECK(e);
    curl_easy_setopt(e, CURLOPT_URL, u);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, check_pattern);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    return e;
}

/* ------------------------------------------------------ own servers -- */

static int accepts;

/* HTTP/1.1 with keep-alive: each response is chunked and says what it
 * got: the method, the X-Test header, then the body in two chunks. */
static void chunked_handler(aioc_stream *s, void *arg) {
    (void)arg;
    accepts++;
    for (;;) {
        const char *head;
        long n = aioc_stream_readuntil(s, "\r\n\r\n", 4, &head);
        if (n <= 0)
            return;
        char req[2048];
        if ((size_t)n >= sizeof req)
            return;
        memcpy(req, head, (size_t)n);
        req[n] = '\0';
        char method[16] = "", xtest[64] = "-";
        sscanf(req, "%15s", method);
        size_t len = 0;
        for (char *line = strstr(req, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
            if (!strncasecmp(line + 2, "Content-Length:", 15))
                len = strtoul(line + 17, NULL, 10);
            else if (!strncasecmp(line + 2, "X-Test: ", 8))
                sscanf(line + 10, "%63[^\r]", xtest);
        }
        char body[4096];
        if (len > sizeof body || (len && aioc_stream_readexactly(s, body, len, NULL) < 0))
            return;
        char out[8192];
        int h = (int)(len / 2);
        int k = snprintf(out, sizeof out,
                         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         "Content-Type: text/plain\r\n\r\n"
                         "%zx\r\n%s %s\n\r\n",
                         strlen(method) + strlen(xtest) + 2, method, xtest);
        if (h)
            k += snprintf(out + k, sizeof out - (size_t)k, "%x\r\n%.*s\r\n", h, h, body);
        if (len - (size_t)h)
            k += snprintf(out + k, sizeof out - (size_t)k, "%zx\r\n%.*s\r\n", len - (size_t)h,
                          (int)(len - (size_t)h), body + h);
        k += snprintf(out + k, sizeof out - (size_t)k, "0\r\n\r\n");
        if (aioc_stream_write(s, out, (size_t)k) || aioc_stream_drain(s))
            return;
    }
}

static void silent_handler(aioc_stream *s, void *arg) {
    (void)s;
    (void)arg;
    aioc_sleep(INFINITY); /* until the server closes and cancels us */
}

static aioc_server *serve(aioc_stream_handler fn, char *base, size_t n) {
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", fn, NULL, NULL, &err);
    CHECK(srv);
    snprintf(base, n, "http://127.0.0.1:%d", aioc_server_port(srv));
    return srv;
}

/* Connections libcurl keeps for reuse still have handlers: closing
 * cancels them, hence -ETIMEDOUT. */
static void close_server(aioc_server *srv) {
    int err = aioc_server_close(srv, 0);
    CHECK(err == 0 || err == -ETIMEDOUT);
}

/* ------------------------------------------------------------ tests -- */

TASK_TEST(small_get) {
    char u[128];
    url(u, sizeof u, "/small.txt");
    aioc_curl_response r;
    CHECK_ERR(aioc_curl_fetch(u, NULL, &r), 0);
    CHECK(r.status == 200);
    CHECK(r.body_len == strlen(SMALL_BODY) && !strcmp(r.body, SMALL_BODY));
    CHECK(r.effective_url && !strcmp(r.effective_url, u));
    aioc_curl_response_free(&r);
    CHECK(r.body == NULL);
    /* HEAD: the same status, no body */
    aioc_curl_fetch_opts head = {.method = "HEAD"};
    CHECK_ERR(aioc_curl_fetch(u, &head, &r), 0);
    CHECK(r.status == 200 && r.body_len == 0 && r.body && r.body[0] == '\0');
    aioc_curl_response_free(&r);
    return NULL;
}

TASK_TEST(large_file) {
    sink s = {0};
    CURL *e = pattern_easy("/large.bin", &s);
    CHECK_ERR(aioc_curl_perform(e), 0);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    CHECK(status == 200);
    CHECK(s.got == LARGE_SIZE && !s.bad);
    curl_easy_cleanup(e);
    return NULL;
}

enum { MANY = 100 };

static void *one_of_many(void *arg) {
    sink *s = arg;
    CURL *e = pattern_easy("/medium.bin", s);
    int err = aioc_curl_perform(e);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &s->connects);
    curl_easy_cleanup(e);
    return aioc_fail(err);
}

TASK_TEST(many_concurrent) {
    static sink s[MANY];
    aioc_task t[MANY];
    for (int round = 0; round < 2; round++) {
        memset(s, 0, sizeof s);
        for (int i = 0; i < MANY; i++)
            t[i] = aioc_spawn(one_of_many, &s[i]);
        CHECK_ERR(aioc_gather(t, MANY, NULL), 0);
        long connects = 0;
        for (int i = 0; i < MANY; i++) {
            CHECK(s[i].got == MEDIUM_SIZE && !s[i].bad);
            connects += s[i].connects;
        }
        fprintf(stderr, "round %d: %ld new connections\n", round, connects);
        if (round == 0)
            CHECK(connects > 1); /* they did run side by side */
        else
            CHECK(connects < MANY); /* and the second round reused some */
    }
    return NULL;
}

TASK_TEST(reuses_connections) {
    long connects = 0;
    for (int i = 0; i < 10; i++) {
        sink s = {0};
        CURL *e = pattern_easy("/medium.bin", &s); /* a fresh handle each time */
        CHECK_ERR(aioc_curl_perform(e), 0);
        CHECK(s.got == MEDIUM_SIZE && !s.bad);
        long n = -1;
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &n);
        connects += n;
        curl_easy_cleanup(e);
    }
    CHECK(connects == 1); /* the first one connected; the rest reused it */
    /* the same against our own server, counted by its accepts */
    char base[64], u[96];
    aioc_server *srv = serve(chunked_handler, base, sizeof base);
    snprintf(u, sizeof u, "%s/x", base);
    for (int i = 0; i < 5; i++) {
        aioc_curl_response r;
        CHECK_ERR(aioc_curl_fetch(u, NULL, &r), 0);
        CHECK(!strcmp(r.body, "GET -\n"));
        aioc_curl_response_free(&r);
    }
    CHECK(accepts == 1);
    close_server(srv);
    return NULL;
}

TASK_TEST(chunked_post) {
    char base[64], u[96];
    aioc_server *srv = serve(chunked_handler, base, sizeof base);
    snprintf(u, sizeof u, "%s/echo", base);
    const char *headers[] = {"X-Test: forty-two", "Content-Type: text/plain"};
    const char *text = "the body of the request";
    aioc_curl_fetch_opts o = {.method = "POST",
                              .headers = headers,
                              .nheaders = 2,
                              .body = text,
                              .body_len = strlen(text),
                              .timeout = 10};
    aioc_curl_response r;
    CHECK_ERR(aioc_curl_fetch(u, &o, &r), 0);
    CHECK(r.status == 200);
    CHECK(!strcmp(r.body, "POST forty-two\nthe body of the request"));
    aioc_curl_response_free(&r);
    o.method = "PUT";
    CHECK_ERR(aioc_curl_fetch(u, &o, &r), 0);
    CHECK(!strcmp(r.body, "PUT forty-two\nthe body of the request"));
    aioc_curl_response_free(&r);
    /* a body limit */
    o.max_body = 4;
    CHECK_ERR(aioc_curl_fetch(u, &o, &r), AIOC_CURL_EBASE - CURLE_WRITE_ERROR);
    CHECK(r.body == NULL && r.status == 0);
    close_server(srv);
    return NULL;
}

TASK_TEST(redirect_and_404) {
    char u[128];
    url(u, sizeof u, "/redirect");
    aioc_curl_response r;
    CHECK_ERR(aioc_curl_fetch(u, NULL, &r), 0);
    CHECK(r.status == 301);
    /* the response's headers: the Location to follow */
    char value[256], tiny[4];
    CHECK(aioc_curl_response_header(&r, "location", value, sizeof value) > 0);
    CHECK(strstr(value, "/small.txt") && !strchr(value, '\r') && value[0] != ' ');
    CHECK_EQ(aioc_curl_response_header(&r, "Location", tiny, sizeof tiny), -ENOSPC);
    CHECK_EQ(aioc_curl_response_header(&r, "X-Nowhere", value, sizeof value), -ENOENT);
    CHECK(r.headers_len == strlen(r.headers) && !strstr(r.headers, "HTTP/1.1 301"));
    aioc_curl_response_free(&r);
    aioc_curl_fetch_opts follow = {.follow_redirects = 1};
    CHECK_ERR(aioc_curl_fetch(u, &follow, &r), 0);
    CHECK(r.status == 200 && !strcmp(r.body, SMALL_BODY));
    CHECK(strstr(r.effective_url, "/small.txt"));
    /* only the final response's headers */
    CHECK_EQ(aioc_curl_response_header(&r, "Location", value, sizeof value), -ENOENT);
    CHECK_EQ(aioc_curl_response_header(&r, "Content-Length", value, sizeof value), 2);
    CHECK_EQ(atoi(value), (int)strlen(SMALL_BODY));
    aioc_curl_response_free(&r);
    url(u, sizeof u, "/no/such/file");
    CHECK_ERR(aioc_curl_fetch(u, NULL, &r), 0);
    CHECK(r.status == 404 && r.body_len > 0);
    aioc_curl_response_free(&r);
    return NULL;
}

static void *throttled(void *arg) {
    CURL *e = arg;
    return aioc_fail(aioc_curl_perform(e));
}

TASK_TEST(cancel_mid_transfer) {
    for (int round = 0; round < 3; round++) {
        sink s = {0};
        CURL *e = pattern_easy("/large.bin", &s);
        /* 2 MB/s: 8 s for the whole file, so it is surely mid-way */
        curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)2000000);
        aioc_task t = aioc_spawn(throttled, e);
        while (s.got < 100000)
            CHECK_ERR(aioc_sleep(0.01), 0);
        if (round == 0) /* a handle already in a transfer */
            CHECK_ERR(aioc_curl_perform(e), -EBUSY);
        CHECK_ERR(aioc_cancel(t), 0);
        CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
        CHECK(s.got < LARGE_SIZE && !s.bad);
        size_t got = s.got;
        CHECK_ERR(aioc_sleep(0.05), 0);
        CHECK(s.got == got); /* nothing arrives any more */
        /* the handle is still ours: run it again, unthrottled, to the end */
        curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)0);
        s = (sink){0};
        CHECK_ERR(aioc_curl_perform(e), 0);
        CHECK(s.got == LARGE_SIZE && !s.bad);
        curl_easy_cleanup(e);
    }
    return NULL;
}

/* A deadline scope that expires while the body is flowing. */
TASK_TEST(deadline_mid_transfer) {
    sink s = {0};
    CURL *e = pattern_easy("/large.bin", &s);
    curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)2000000);
    aioc_scope sc;
    CHECK_ERR(aioc_scope_enter(&sc, 0.3), 0);
    CHECK_ERR(aioc_curl_perform(e), -ETIMEDOUT);
    CHECK_ERR(aioc_scope_exit(&sc), -ETIMEDOUT);
    CHECK(s.got > 0 && s.got < LARGE_SIZE && !s.bad);
    curl_easy_cleanup(e);
    return NULL;
}

/* Half of twenty slow transfers are cancelled (the large file, so surely
 * mid-way); the other half (the medium one), sharing the multi handle
 * with them, finish intact. */
static void *throttled_by_index(void *arg) {
    sink *s = arg;
    int even = s->speed == 1000000;
    CURL *e = pattern_easy(even ? "/large.bin" : "/medium.bin", s);
    curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)s->speed);
    int err = aioc_curl_perform(e);
    curl_easy_cleanup(e);
    return aioc_fail(err);
}

TASK_TEST(cancel_some) {
    enum { N = 20 };
    sink s[N] = {{0}};
    aioc_task t[N];
    for (int i = 0; i < N; i++) {
        s[i].speed = i % 2 ? 200000 : 1000000; /* and the file */
        t[i] = aioc_spawn(throttled_by_index, &s[i]);
    }
    for (int i = 0; i < N; i += 2)
        while (s[i].got == 0)
            CHECK_ERR(aioc_sleep(0.01), 0);
    for (int i = 0; i < N; i += 2)
        CHECK_ERR(aioc_cancel(t[i]), 0);
    for (int i = 0; i < N; i++) {
        int err = aioc_await(t[i], NULL);
        CHECK(!s[i].bad);
        if (i % 2) {
            CHECK_ERR(err, 0);
            CHECK(s[i].got == MEDIUM_SIZE);
        } else {
            CHECK_ERR(err, -ECANCELED);
            CHECK(s[i].got < LARGE_SIZE);
        }
    }
    return NULL;
}

TASK_TEST(deadline_scope) {
    char base[64], u[96];
    aioc_server *srv = serve(silent_handler, base, sizeof base);
    snprintf(u, sizeof u, "%s/never", base);
    aioc_scope sc;
    CHECK_ERR(aioc_scope_enter(&sc, 0.2), 0);
    double t0 = aioc_now();
    aioc_curl_response r;
    CHECK_ERR(aioc_curl_fetch(u, NULL, &r), -ETIMEDOUT);
    CHECK(aioc_now() - t0 < 5);
    CHECK_ERR(aioc_scope_exit(&sc), -ETIMEDOUT);
    /* libcurl's own timeout gives the same code */
    aioc_curl_fetch_opts o = {.timeout = 0.2};
    CHECK_ERR(aioc_curl_fetch(u, &o, &r), -ETIMEDOUT);
    /* and the loop goes on working */
    url(u, sizeof u, "/small.txt");
    CHECK_ERR(aioc_curl_fetch(u, NULL, &r), 0);
    CHECK(r.status == 200);
    aioc_curl_response_free(&r);
    /* a negative timeout has run out already; AIOC_NO_TIMEOUT is none */
    o.timeout = -1;
    CHECK_ERR(aioc_curl_fetch(u, &o, &r), -ETIMEDOUT);
    o.timeout = AIOC_NO_TIMEOUT;
    CHECK_ERR(aioc_curl_fetch(u, &o, &r), 0);
    CHECK(r.status == 200);
    aioc_curl_response_free(&r);
    close_server(srv);
    return NULL;
}

TASK_TEST(connection_refused) {
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", free_port());
    aioc_curl_response r;
    int err = aioc_curl_fetch(u, NULL, &r);
    CHECK_ERR(err, -ECONNREFUSED);
    CHECK(!strcmp(aioc_curl_strerror(err), aioc_strerror(-ECONNREFUSED)));
    CHECK(r.body == NULL);
    CHECK_ERR(aioc_curl_perform(NULL), -EINVAL);
    return NULL;
}

static sink left_sinks[4];
static CURL *left_easy[4];

/* A host name, so libcurl's threaded resolver runs and hands us its own
 * wake-up socket, which it closes with close(2); no reuse, so descriptor
 * numbers come round again and again. */
TASK_TEST(resolves_names) {
    /* libcurl answers "localhost" itself: this machine's name is looked up
     * for real, if it means 127.0.0.1 (as /etc/hosts usually says) */
    char host[256] = "localhost";
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    if (gethostname(host, sizeof host) != 0 || aioc_getaddrinfo(host, NULL, &hints, &ai) != 0)
        strcpy(host, "localhost");
    else {
        struct sockaddr_in *a = (struct sockaddr_in *)ai->ai_addr;
        if (a->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
            strcpy(host, "localhost");
        freeaddrinfo(ai);
    }
    char u[400];
    snprintf(u, sizeof u, "http://%s:%d/small.txt", host, server.port);
    for (int i = 0; i < 20; i++) {
        CURL *e = curl_easy_init();
        CHECK(e);
        char *body = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&body, &len);
        CHECK(f);
        curl_easy_setopt(e, CURLOPT_URL, u);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
        curl_easy_setopt(e, CURLOPT_IPRESOLVE, (long)CURL_IPRESOLVE_V4);
        CHECK_ERR(aioc_curl_perform(e), 0);
        fclose(f);
        CHECK(len == strlen(SMALL_BODY) && !memcmp(body, SMALL_BODY, len));
        free(body);
        curl_easy_cleanup(e);
    }
    return NULL;
}

static void *leave_running(void *arg) {
    (void)arg;
    /* transfers still running when main returns are cancelled with the
     * loop; the multi handle is cleaned up after them */
    sink *s = left_sinks;
    CURL **e = left_easy;
    for (int i = 0; i < 4; i++) {
        e[i] = pattern_easy("/large.bin", &s[i]);
        curl_easy_setopt(e[i], CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)1000000);
        aioc_detach(aioc_spawn(throttled, e[i]));
    }
    while (s[0].got == 0)
        aioc_sleep(0.01);
    return NULL;
}

TEST(left_running) {
    start_nginx();
    CHECK_ERR(aioc_run(leave_running, NULL, NULL), 0);
    /* the handles are still the caller's, and out of every multi handle */
    for (int i = 0; i < 4; i++) {
        CHECK(left_sinks[i].got < LARGE_SIZE && !left_sinks[i].bad);
        curl_easy_cleanup(left_easy[i]);
    }
    stop_nginx(0);
}

TEST(errors) {
    CHECK_ERR(aioc_curl_perform(NULL), AIOC_ENOTASK);
    CHECK_ERR(aioc_curl_error(CURLE_OK), 0);
    CHECK_ERR(aioc_curl_error(CURLE_OPERATION_TIMEDOUT), -ETIMEDOUT);
    CHECK_ERR(aioc_curl_error(CURLE_COULDNT_RESOLVE_HOST), AIOC_CURL_EBASE - 6);
    CHECK(aioc_curl_code(AIOC_CURL_EBASE - 6) == CURLE_COULDNT_RESOLVE_HOST);
    CHECK(aioc_curl_code(-ECANCELED) == -1);
    CHECK(!strcmp(aioc_curl_strerror(AIOC_CURL_EBASE - 6),
                  curl_easy_strerror(CURLE_COULDNT_RESOLVE_HOST)));
    CHECK(!strcmp(aioc_curl_strerror(-ECANCELED), aioc_strerror(-ECANCELED)));
    CHECK(aioc_curl_multi() == NULL); /* no loop */
}
