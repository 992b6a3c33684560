/* The adapters together: aioc's HTTP client (libcurl) against aioc's own
 * HTTP server on one loop, the server over TLS (aioc_tls_serve running
 * aioc_http_stream_handler) for the client, for the curl and Python
 * http.client programs, and libcurl over HTTPS against nginx. Certificates
 * are made fresh by each test (the TLS tests' certs.c); nginx is started
 * by the test that uses it (the curl tests' nginx.c). */
#include <aioc.h>
#include <aioc_curl.h>
#include <aioc_http.h>
#include <aioc_tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "nginx.h"

#define AIOC_TEST_ERR_NAME aioc_curl_strerror
/* task tests run with fresh certificates */
#define AIOC_TEST_RUN(fn, virtual_time) run(fn, NULL)
#include "test.h"

#define STREAM_BYTES ((size_t)1 << 20) /* a streamed response: 64 chunks */
#define ECHO_BYTES ((size_t)512 << 10) /* a request body echoed back */
#define CONCURRENT 200
/* A bound on one fetch only against a hang: under Valgrind on a busy
 * machine CONCURRENT TLS handshakes on one loop take tens of seconds, and
 * the last fetch of a batch waits for all of them. */
#define FETCH_TIMEOUT 120

static certs cs;
static char base[64]; /* "http://127.0.0.1:PORT" or "https://..." */

/* Runs `fn` as main with fresh certificates, checking it returned 0. */
static void run(aioc_fn fn, void *arg) {
    certs_make(&cs);
    int status = aioc_run(fn, arg, NULL);
    certs_remove(&cs);
    if (status) {
        fprintf(stderr, "main failed: %s\n", aioc_curl_strerror(status));
        exit(1);
    }
}

/* -------------------------------------------------------- the server -- */

static int hello(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req;
    (void)arg;
    return aioc_http_response_body(res, "hello\n", 6);
}

/* Sends the request body back, with the request's Content-Type. */
static int echo(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    size_t n;
    const char *body = aioc_http_request_body(req, &n);
    const char *type = aioc_http_request_header(req, "Content-Type");
    if (type)
        aioc_http_response_header(res, "Content-Type", type);
    return aioc_http_response_body(res, body, n);
}

/* STREAM_BYTES of pattern_byte(), chunked, 16 KiB per write. */
static int stream(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req;
    (void)arg;
    unsigned char block[16384];
    for (size_t off = 0; off < STREAM_BYTES; off += sizeof block) {
        for (size_t i = 0; i < sizeof block; i++)
            block[i] = pattern_byte(off + i);
        int err = aioc_http_response_write(res, block, sizeof block);
        if (err)
            return err;
    }
    return 0;
}

/* The test CA's certificate file, as a file response. */
static int ca_file(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req;
    (void)arg;
    return aioc_http_response_file(res, cs.ca);
}

static int in_flight, most_in_flight; /* item handlers running at once */

/* Waits a little before answering, so that concurrent requests overlap,
 * and counts how many do. */
static int item(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    if (++in_flight > most_in_flight)
        most_in_flight = in_flight;
    aioc_sleep(0.005);
    in_flight--;
    char json[64];
    snprintf(json, sizeof json, "{\"id\":%s}", aioc_http_request_param(req, "id"));
    return aioc_http_response_json(res, 200, json);
}

static aioc_http_router *router(void) {
    aioc_http_router *r = aioc_http_router_new();
    CHECK(r);
    CHECK_ERR(aioc_http_route(r, "GET", "/hello", hello, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "POST", "/echo", echo, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/stream", stream, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/items/:id", item, NULL), 0);
    CHECK_ERR(aioc_http_route(r, "GET", "/ca.pem", ca_file, NULL), 0);
    return r;
}

/* A plain HTTP server on 127.0.0.1 and a free port; sets `base`. */
static aioc_http_server *serve_plain(aioc_http_router *r) {
    int err;
    aioc_http_server *h = aioc_http_serve("127.0.0.1", "0", aioc_http_router_handle, r, NULL, &err);
    CHECK_ERR(err, 0);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", aioc_http_server_port(h));
    return h;
}

/* The same over TLS with the CA-signed certificate; sets `base`. */
static aioc_http_server *serve_tls(aioc_http_router *r) {
    int err;
    aioc_tls_ctx *ctx = aioc_tls_server_new(cs.cert, cs.key, &err);
    CHECK_ERR(err, 0);
    aioc_http_server *h = aioc_http_server_new(aioc_http_router_handle, r, NULL);
    CHECK(h);
    aioc_server *l =
        aioc_tls_serve("127.0.0.1", "0", ctx, aioc_http_stream_handler, h, NULL, NULL, &err);
    CHECK_ERR(err, 0);
    aioc_tls_ctx_free(ctx); /* the listener keeps its reference */
    CHECK_ERR(aioc_http_server_adopt(h, l), 0);
    CHECK_ERR(aioc_http_server_adopt(h, l), -EBUSY); /* one listener */
    snprintf(base, sizeof base, "https://127.0.0.1:%d", aioc_http_server_port(h));
    return h;
}

/* -------------------------------------------------------- the client -- */

/* Fetches base + path (trusting the test CA), checks the status, and
 * returns the response (the caller frees it). */
static aioc_curl_response get(const char *path, long status) {
    char url[128];
    snprintf(url, sizeof url, "%s%s", base, path);
    aioc_curl_fetch_opts o = {.ca_file = cs.ca, .timeout = FETCH_TIMEOUT};
    aioc_curl_response r;
    CHECK_ERR(aioc_curl_fetch(url, &o, &r), 0);
    CHECK_EQ(r.status, status);
    return r;
}

static void check_pattern(const aioc_curl_response *r, size_t n) {
    CHECK_EQ(r->body_len, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r->body[i] != pattern_byte(i)) {
            fprintf(stderr, "byte %zu differs\n", i);
            CHECK(0);
        }
}

/* GET, a POST echoed back, a 1 MiB chunked response, a 404 and a 405. */
static void exchange(void) {
    aioc_curl_response r = get("/hello", 200);
    CHECK_EQ(r.body_len, 6);
    CHECK(strcmp(r.body, "hello\n") == 0);
    aioc_curl_response_free(&r);

    char *big = malloc(ECHO_BYTES);
    CHECK(big);
    for (size_t i = 0; i < ECHO_BYTES; i++)
        big[i] = (char)pattern_byte(i);
    char url[128];
    snprintf(url, sizeof url, "%s/echo", base);
    const char *headers[] = {"Content-Type: application/octet-stream"};
    aioc_curl_fetch_opts post = {.method = "POST",
                                 .headers = headers,
                                 .nheaders = 1,
                                 .body = big,
                                 .body_len = ECHO_BYTES,
                                 .ca_file = cs.ca,
                                 .timeout = FETCH_TIMEOUT};
    CHECK_ERR(aioc_curl_fetch(url, &post, &r), 0);
    CHECK_EQ(r.status, 200);
    check_pattern(&r, ECHO_BYTES);
    aioc_curl_response_free(&r);
    free(big);

    r = get("/stream", 200);
    check_pattern(&r, STREAM_BYTES);
    aioc_curl_response_free(&r);

    r = get("/nowhere", 404);
    aioc_curl_response_free(&r);

    /* a file response, read on the thread pool, sent through the stream */
    FILE *f = fopen(cs.ca, "r");
    CHECK(f);
    char want[8192];
    size_t n = fread(want, 1, sizeof want, f);
    fclose(f);
    CHECK(n > 0 && n < sizeof want);
    r = get("/ca.pem", 200);
    CHECK_EQ(r.body_len, n);
    CHECK(memcmp(r.body, want, n) == 0);
    char type[64];
    CHECK(aioc_curl_response_header(&r, "Content-Type", type, sizeof type) > 0);
    CHECK(strcmp(type, "application/octet-stream") == 0);
    aioc_curl_response_free(&r);
    post.body = NULL;
    post.body_len = 0;
    snprintf(url, sizeof url, "%s/hello", base);
    CHECK_ERR(aioc_curl_fetch(url, &post, &r), 0);
    CHECK_EQ(r.status, 405);
    aioc_curl_response_free(&r);
}

/* One of CONCURRENT fetches of /items/N, checking the JSON it gets. */
static void *fetch_item(void *arg) {
    char path[32], want[32];
    snprintf(path, sizeof path, "/items/%d", I(arg));
    snprintf(want, sizeof want, "{\"id\":%d}", I(arg));
    aioc_curl_response r = get(path, 200);
    CHECK(strcmp(r.body, want) == 0);
    aioc_curl_response_free(&r);
    return NULL;
}

/* CONCURRENT fetches at once; returns the most the server's handlers
 * saw at once. */
static int fetch_many(void) {
    most_in_flight = 0;
    aioc_group g;
    CHECK_ERR(aioc_group_init(&g), 0);
    for (int i = 0; i < CONCURRENT; i++)
        CHECK_ERR(aioc_task_error(aioc_group_spawn(g, fetch_item, P(i), NULL)), 0);
    CHECK_ERR(aioc_group_wait(g), 0);
    return most_in_flight;
}

static size_t discard(char *p, size_t size, size_t n, void *arg) {
    (void)p;
    (void)arg;
    return size * n;
}

/* Runs a GET of `url` with aioc_curl_perform, trusting `ca` (NULL: the
 * system's store), with `resolve` (may be NULL) as CURLOPT_RESOLVE; returns
 * its result and, in `*connects`, the connections it opened. */
static int perform(const char *url, const char *ca, const char *resolve, long *connects) {
    CURL *e = curl_easy_init();
    CHECK(e);
    struct curl_slist *names = resolve ? curl_slist_append(NULL, resolve) : NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    if (ca)
        curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    if (names)
        curl_easy_setopt(e, CURLOPT_RESOLVE, names);
    int err = aioc_curl_perform(e);
    if (connects)
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, connects);
    curl_easy_cleanup(e);
    curl_slist_free_all(names);
    return err;
}

/* The curl adapter against the server on the same loop: the exchanges,
 * keep-alive, CONCURRENT requests at once. */
static void *client_main(void *tls) {
    aioc_http_router *r = router();
    aioc_http_server *h = tls ? serve_tls(r) : serve_plain(r);
    exchange();
    /* keep-alive: later transfers reuse the connections left open */
    char url[128];
    snprintf(url, sizeof url, "%s/hello", base);
    for (int i = 0; i < 3; i++) {
        long connects = -1;
        CHECK_ERR(perform(url, cs.ca, NULL, &connects), 0);
        CHECK_EQ(connects, 0);
    }
    CHECK(fetch_many() > 1); /* they did run at once */
    CHECK_ERR(aioc_http_server_close(h, 5), 0);
    aioc_http_router_free(r);
    return NULL;
}

TEST(curl_client_against_aioc_http) { run(client_main, NULL); }

TEST(curl_client_against_aioc_https) { run(client_main, P(1)); }

/* Clients the HTTPS server must turn away, each with a clear error, while
 * it goes on serving the ones it should. */
TASK_TEST(https_server_refusals_and_errors) {
    aioc_http_router *r = router();
    aioc_http_server *h = serve_tls(r);
    int port = aioc_http_server_port(h);
    char url[128], resolve[64];
    const int unverified = AIOC_CURL_EBASE - CURLE_PEER_FAILED_VERIFICATION;

    /* a CA the client does not trust: the system's store only */
    snprintf(url, sizeof url, "%s/hello", base);
    CHECK_ERR(perform(url, NULL, NULL, NULL), unverified);
    /* a name the certificate does not have */
    snprintf(url, sizeof url, "https://wrong.test:%d/hello", port);
    snprintf(resolve, sizeof resolve, "wrong.test:%d:127.0.0.1", port);
    CHECK_ERR(perform(url, cs.ca, resolve, NULL), unverified);
    /* plain HTTP to the TLS port: the handshake fails, the client gets
     * nothing back (libcurl: an empty reply, or the connection reset) */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", port);
    int err = perform(url, NULL, NULL, NULL);
    CHECK(err == AIOC_CURL_EBASE - CURLE_GOT_NOTHING || err == AIOC_CURL_EBASE - CURLE_RECV_ERROR);
    /* the name it has, verified */
    snprintf(url, sizeof url, "https://localhost:%d/hello", port);
    snprintf(resolve, sizeof resolve, "localhost:%d:127.0.0.1", port);
    CHECK_ERR(perform(url, cs.ca, resolve, NULL), 0);

    CHECK_ERR(aioc_http_server_close(h, 5), 0);
    aioc_http_router_free(r);
    return NULL;
}

/* Mutual TLS: libcurl with a client certificate, against the HTTPS server
 * requiring one. Each request on a new connection, so that the later ones
 * resume the first one's TLS session (libcurl caches sessions), which a
 * server verifying clients must allow too. */
TASK_TEST(https_server_requiring_client_certificates) {
    aioc_http_router *r = router();
    int err;
    aioc_tls_ctx *ctx = aioc_tls_server_new(cs.cert, cs.key, &err);
    CHECK_ERR(err, 0);
    CHECK_ERR(aioc_tls_ctx_require_client_cert(ctx, cs.ca), 0);
    aioc_http_server *h = aioc_http_server_new(aioc_http_router_handle, r, NULL);
    CHECK(h);
    aioc_server *l =
        aioc_tls_serve("127.0.0.1", "0", ctx, aioc_http_stream_handler, h, NULL, NULL, &err);
    CHECK_ERR(err, 0);
    aioc_tls_ctx_free(ctx);
    CHECK_ERR(aioc_http_server_adopt(h, l), 0);
    char url[96];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/hello", aioc_http_server_port(h));
    /* one easy handle keeps the TLS session; a new connection each time */
    CURL *e = curl_easy_init();
    CHECK(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_CAINFO, cs.ca);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_SSLCERT, cs.client);
    curl_easy_setopt(e, CURLOPT_SSLKEY, cs.client_key);
    for (int i = 0; i < 3; i++) {
        long status = 0, connects = 0;
        CHECK_ERR(aioc_curl_perform(e), 0);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
        CHECK_EQ(status, 200);
        CHECK_EQ(connects, 1);
    }
    curl_easy_cleanup(e);
    /* without a certificate: refused */
    CHECK(perform(url, cs.ca, NULL, NULL) != 0);
    CHECK_ERR(aioc_http_server_close(h, 5), 0);
    aioc_http_router_free(r);
    return NULL;
}

/* Runs `argv` and returns its exit status, its output in `*out`. */
static int run_tool(const char *const *argv, char **out) {
    aioc_process_opts po = {.stdout_mode = AIOC_STDIO_PIPE, .stderr_mode = AIOC_STDIO_STDOUT};
    int err, status = -1;
    aioc_process *p = aioc_process_spawn(argv, &po, &err);
    CHECK_ERR(err, 0);
    aioc_scope sc;
    CHECK_ERR(aioc_scope_enter(&sc, 30), 0);
    err = aioc_process_communicate(p, NULL, 0, out, NULL, NULL, NULL);
    aioc_scope_exit(&sc);
    if (err == 0)
        aioc_process_wait(p, &status);
    aioc_process_free(p); /* killed if it still runs */
    CHECK_ERR(err, 0);
    return status;
}

/* Python's http.client: a GET and a POST on one verified connection. */
static const char python_client[] =
    "import http.client, ssl, sys\n"
    "ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
    "c = http.client.HTTPSConnection('localhost', int(sys.argv[2]), context=ctx)\n"
    "c.request('GET', '/hello')\n"
    "r = c.getresponse(); print(r.status, r.read().decode().strip())\n"
    "first = c.sock\n"
    "c.request('POST', '/echo', body=b'x' * 100000, headers={'Content-Type': 'a/b'})\n"
    "r = c.getresponse(); b = r.read()\n"
    "print(r.status, len(b), b == b'x' * 100000, r.getheader('Content-Type'))\n"
    "print('reused', first is not None and c.sock is first)\n";

TASK_TEST(https_server_with_curl_and_python_clients) {
    aioc_http_router *r = router();
    aioc_http_server *h = serve_tls(r);
    char url[128], resolve[64], port[16];
    snprintf(port, sizeof port, "%d", aioc_http_server_port(h));
    snprintf(url, sizeof url, "https://localhost:%s/hello", port);
    snprintf(resolve, sizeof resolve, "localhost:%s:127.0.0.1", port);
    const char *curl[] = {"curl", "-s",        "-S",    "--max-time", "20", "--cacert",
                          cs.ca,  "--resolve", resolve, url,          url,  NULL};
    char *out = NULL;
    CHECK_EQ(run_tool(curl, &out), 0);
    CHECK(strcmp(out, "hello\nhello\n") == 0);
    free(out);

    const char *python[] = {"python3", "-c", python_client, cs.ca, port, NULL};
    CHECK_EQ(run_tool(python, &out), 0);
    CHECK(strcmp(out, "200 hello\n200 100000 True a/b\nreused True\n") == 0);
    free(out);

    CHECK_ERR(aioc_http_server_close(h, 5), 0);
    aioc_http_router_free(r);
    return NULL;
}

/* -------------------------------------------------- against nginx -- */

static nginx web;

static void *get_small(void *arg) {
    (void)arg;
    aioc_curl_response r = get("/small.txt", 200);
    CHECK(strcmp(r.body, SMALL_BODY) == 0);
    aioc_curl_response_free(&r);
    return NULL;
}

static void *nginx_main(void *arg) {
    (void)arg;
    snprintf(base, sizeof base, "https://127.0.0.1:%d", web.port);
    aioc_curl_response r = get("/large.bin", 200);
    check_pattern(&r, LARGE_SIZE);
    aioc_curl_response_free(&r);
    r = get("/missing", 404);
    aioc_curl_response_free(&r);
    aioc_group g;
    CHECK_ERR(aioc_group_init(&g), 0);
    for (int i = 0; i < 100; i++)
        CHECK_ERR(aioc_task_error(aioc_group_spawn(g, get_small, NULL, NULL)), 0);
    CHECK_ERR(aioc_group_wait(g), 0);
    /* nginx's certificate is not for this name */
    char url[96], resolve[64];
    snprintf(url, sizeof url, "https://wrong.test:%d/small.txt", web.port);
    snprintf(resolve, sizeof resolve, "wrong.test:%d:127.0.0.1", web.port);
    CHECK_ERR(perform(url, cs.ca, resolve, NULL), AIOC_CURL_EBASE - CURLE_PEER_FAILED_VERIFICATION);
    return NULL;
}

TEST(curl_client_against_nginx_https) {
    certs_make(&cs);
    CHECK_EQ(nginx_start_tls(&web, cs.cert, cs.key), 0);
    int status = aioc_run(nginx_main, NULL, NULL);
    nginx_stop(&web);
    certs_remove(&cs);
    CHECK_ERR(status, 0);
}
