/* aioc_ws's tests (listed in ws-list.h): the frame parser on its own; aioc's
 * client against aioc's server over ws:// and wss://; Python's websockets
 * (Debian's python3-websockets) as a client of aioc's server and as the
 * server of aioc's client; RFC 6455 conformance cases written as raw bytes
 * to a socket; deadlines, cancellation, back-pressure and the heartbeat;
 * 10,000 idle connections. Servers and raw clients are tasks of one loop,
 * on loopback; Python runs as an aioc subprocess under a deadline. */
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <aioc_tls.h>
#include <aioc_ws.h>

#include "certs.h"
#include "ws_internal.h"

#define AIOC_TEST_ERR_NAME ws_err_name
#define AIOC_TEST_RUN(fn, virtual_time) run(fn)
static const char *ws_err_name(int err);
#include "test.h"

/* Deadlines are multiplied by this: AIOC_WS_TIME_SCALE (Valgrind's entries
 * set 4), else 1. */
static double S = 1;
static certs cs;
static bool with_certs;

static const char *ws_err_name(int err) {
    switch (err) {
    case AIOC_WS_EHANDSHAKE:
        return "AIOC_WS_EHANDSHAKE";
    case AIOC_WS_EPROTOCOL:
        return "AIOC_WS_EPROTOCOL";
    case AIOC_WS_EUTF8:
        return "AIOC_WS_EUTF8";
    case AIOC_WS_ETOOBIG:
        return "AIOC_WS_ETOOBIG";
    case AIOC_WS_ECLOSED:
        return "AIOC_WS_ECLOSED";
    case AIOC_WS_EABNORMAL:
        return "AIOC_WS_EABNORMAL";
    case AIOC_WS_EHEARTBEAT:
        return "AIOC_WS_EHEARTBEAT";
    case AIOC_WS_EURL:
        return "AIOC_WS_EURL";
    case AIOC_WS_EDEFLATE:
        return "AIOC_WS_EDEFLATE";
    default:
        return aioc_err_name(err);
    }
}

static void run(aioc_fn fn) {
    const char *scale = getenv("AIOC_WS_TIME_SCALE");
    if (scale && atof(scale) > 0)
        S = atof(scale);
    if (with_certs)
        certs_make(&cs);
    int status = aioc_run(fn, NULL, NULL);
    if (with_certs)
        certs_remove(&cs);
    if (status) {
        fprintf(stderr, "main failed: %s\n", ws_err_name(status));
        exit(1);
    }
}

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        if (strcmp((got), (want))) {                                                               \
            fprintf(stderr, "%s:%d: got\n[%s]\nwanted\n[%s]\n", __FILE__, __LINE__, (got),         \
                    (want));                                                                       \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------- the server -- */

/* How the last connection the server handled ended. */
static int srv_end, srv_code;
static char srv_reason[128];
static int srv_done; /* connections that ended */
static aioc_ws_opts srv_opts;
static bool srv_deflate, srv_quiet;
static char srv_proto[32];

/* Echoes every message; "close:CODE" closes with CODE. */
static int echo_route(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    int err;
    aioc_ws *ws = aioc_ws_accept(req, res, &srv_opts, &err);
    if (!ws)
        return err == AIOC_WS_EHANDSHAKE ? 0 : err;
    srv_deflate = aioc_ws_deflate(ws);
    snprintf(srv_proto, sizeof srv_proto, "%s",
             aioc_ws_subprotocol(ws) ? aioc_ws_subprotocol(ws) : "");
    aioc_ws_msg m;
    while ((err = aioc_ws_recv(ws, &m)) == 0) {
        if (m.type == AIOC_WS_TEXT && !strncmp(m.data, "close:", 6)) {
            err = aioc_ws_close(ws, atoi(m.data + 6), "bye");
            break;
        }
        if (!srv_quiet && (err = aioc_ws_send(ws, m.type, m.data, m.len)))
            break;
    }
    srv_end = err;
    srv_code = aioc_ws_close_code(ws);
    snprintf(srv_reason, sizeof srv_reason, "%s", aioc_ws_close_reason(ws));
    aioc_ws_free(ws);
    srv_done++;
    return err == AIOC_EOF || err == 0 ? 0 : err;
}

typedef struct fixture {
    aioc_http_router *router;
    aioc_http_server *srv;
    char port[16];
} fixture;

static void start(fixture *f, aioc_tls_ctx *tls) {
    f->router = aioc_http_router_new();
    CHECK(f->router);
    CHECK_ERR(aioc_http_route(f->router, "GET", "/echo", echo_route, NULL), 0);
    int err;
    if (tls) {
        f->srv = aioc_http_server_new(aioc_http_router_handle, f->router, NULL);
        CHECK(f->srv);
        aioc_server *l = aioc_tls_serve("127.0.0.1", "0", tls, aioc_http_stream_handler, f->srv,
                                        NULL, NULL, &err);
        CHECK_ERR(err, 0);
        CHECK_ERR(aioc_http_server_adopt(f->srv, l), 0);
    } else {
        f->srv = aioc_http_serve("127.0.0.1", "0", aioc_http_router_handle, f->router, NULL, &err);
        CHECK_ERR(err, 0);
    }
    snprintf(f->port, sizeof f->port, "%d", aioc_http_server_port(f->srv));
    srv_done = 0;
    srv_end = srv_code = 0;
}

static void stop(fixture *f) {
    CHECK_ERR(aioc_http_server_close(f->srv, 5 * S), 0);
    aioc_http_router_free(f->router);
}

/* Waits (at most 5 s) until the server has seen `n` connections end. */
static void wait_done(int n) {
    double end = aioc_now() + 5 * S;
    while (srv_done < n && aioc_now() < end)
        aioc_sleep(0.005);
    CHECK_EQ(srv_done, n);
}

/* ---------------------------------------------------------- helpers -- */

static aioc_ws *dial_ws(const char *scheme, fixture *f, const aioc_ws_opts *o) {
    char url[128];
    snprintf(url, sizeof url, "%s://127.0.0.1:%s/echo", scheme, f->port);
    int err;
    aioc_ws *ws = aioc_ws_connect(url, o, &err);
    CHECK_ERR(err, 0);
    CHECK(ws);
    return ws;
}

static void expect_echo(aioc_ws *ws, int type, const void *data, size_t n) {
    CHECK_ERR(aioc_ws_send(ws, type, data, n), 0);
    aioc_ws_msg m;
    CHECK_ERR(aioc_ws_recv(ws, &m), 0);
    CHECK_EQ(m.type, type);
    CHECK_EQ(m.len, n);
    CHECK(!memcmp(m.data, data, n));
    CHECK_EQ(m.data[n], 0);
}

/* The same conversation for every pair of peers: text, binary, empty, a
 * 1 MiB message (fragmented on the way), a ping, then a close. */
static void conversation(aioc_ws *ws) {
    expect_echo(ws, AIOC_WS_TEXT, "hello", 5);
    expect_echo(ws, AIOC_WS_TEXT, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 16);
    expect_echo(ws, AIOC_WS_BINARY, "\0\1\2\xff", 4);
    expect_echo(ws, AIOC_WS_TEXT, "", 0);
    size_t big = 1 << 20;
    uint8_t *b = malloc(big);
    for (size_t i = 0; i < big; i++)
        b[i] = (uint8_t)(i * 7 + (i >> 9));
    expect_echo(ws, AIOC_WS_BINARY, b, big - 64); /* under the 1 MiB limit */
    free(b);
    CHECK_ERR(aioc_ws_ping(ws, "p", 1), 0);
    expect_echo(ws, AIOC_WS_TEXT, "after ping", 10);
    char long_ping[126] = {0};
    CHECK_ERR(aioc_ws_ping(ws, long_ping, sizeof long_ping), -EINVAL);
}

/* ------------------------------------------------------------ tests -- */

TEST(frame_parser_and_utf8) {
    ws_frame f;
    uint8_t h[14];
    uint8_t key[4] = {1, 2, 3, 4};
    size_t n = aioc__ws_put_header(h, true, false, WS_OP_TEXT, 70000, key);
    CHECK_EQ(n, 14);
    CHECK_EQ(aioc__ws_header_size(h), 14);
    aioc__ws_parse_header(h, &f);
    CHECK(f.fin && f.masked && f.op == WS_OP_TEXT && f.len == 70000 && !f.rsv);
    CHECK(!memcmp(f.mask, key, 4));
    CHECK_ERR(aioc__ws_check_frame(&f, true, false, false), 0);
    CHECK_ERR(aioc__ws_check_frame(&f, false, false, false), AIOC_WS_EPROTOCOL); /* masked */
    CHECK_ERR(aioc__ws_check_frame(&f, true, false, true), AIOC_WS_EPROTOCOL);   /* in a message */
    n = aioc__ws_put_header(h, true, false, WS_OP_PING, 126, NULL);
    CHECK_EQ(n, 4);
    aioc__ws_parse_header(h, &f);
    CHECK_ERR(aioc__ws_check_frame(&f, false, false, false), AIOC_WS_EPROTOCOL); /* > 125 */
    aioc__ws_put_header(h, false, false, WS_OP_PING, 1, NULL);
    aioc__ws_parse_header(h, &f);
    CHECK_ERR(aioc__ws_check_frame(&f, false, false, false), AIOC_WS_EPROTOCOL); /* fragmented */
    aioc__ws_put_header(h, true, true, WS_OP_TEXT, 1, NULL);
    aioc__ws_parse_header(h, &f);
    CHECK_ERR(aioc__ws_check_frame(&f, false, false, false), AIOC_WS_EPROTOCOL); /* RSV1 */
    CHECK_ERR(aioc__ws_check_frame(&f, false, true, false), 0);                  /* deflate */
    aioc__ws_put_header(h, true, false, 3, 1, NULL);
    aioc__ws_parse_header(h, &f);
    CHECK_ERR(aioc__ws_check_frame(&f, false, false, false), AIOC_WS_EPROTOCOL); /* opcode 3 */
    /* UTF-8: valid, overlong, surrogate, past U+10FFFF, split */
    uint32_t st = 0;
    CHECK(aioc__ws_utf8(&st, (const uint8_t *)"plain ascii text, long enough", 29) && !st);
    CHECK(aioc__ws_utf8(&st, (const uint8_t *)"\xce\xba\xe1\xbd\xb9\xf0\x9f\x98\x80", 9) && !st);
    st = 0;
    CHECK(!aioc__ws_utf8(&st, (const uint8_t *)"\xc0\xaf", 2));
    st = 0;
    CHECK(!aioc__ws_utf8(&st, (const uint8_t *)"\xe0\x80\xaf", 3));
    st = 0;
    CHECK(!aioc__ws_utf8(&st, (const uint8_t *)"\xed\xa0\x80", 3));
    st = 0;
    CHECK(!aioc__ws_utf8(&st, (const uint8_t *)"\xf4\x90\x80\x80", 4));
    st = 0;
    CHECK(!aioc__ws_utf8(&st, (const uint8_t *)"\xff", 1));
    st = 0;
    CHECK(aioc__ws_utf8(&st, (const uint8_t *)"\xf0\x9f", 2) && st);
    CHECK(aioc__ws_utf8(&st, (const uint8_t *)"\x98\x80", 2) && !st);
    st = 0;
    CHECK(aioc__ws_utf8(&st, (const uint8_t *)"\xf0\x9f", 2) && st);
    CHECK(!aioc__ws_utf8(&st, (const uint8_t *)"a", 1));
    /* close codes, RFC 6455 §7.4 */
    int ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999};
    int bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        CHECK(aioc__ws_close_code_ok(ok[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(!aioc__ws_close_code_ok(bad[i]));
    /* masking at any offset undoes itself */
    uint8_t data[37], copy[37];
    for (int i = 0; i < 37; i++)
        data[i] = copy[i] = (uint8_t)i;
    aioc__ws_mask(data, 37, key, 3);
    CHECK(memcmp(data, copy, 37));
    aioc__ws_mask(data, 37, key, 3);
    CHECK(!memcmp(data, copy, 37));
}

TASK_TEST(echo_aioc_client_and_server) {
    fixture f;
    srv_opts = (aioc_ws_opts){.subprotocols = (const char *const[]){"chat.v2", "chat", NULL}};
    start(&f, NULL);
    aioc_ws_opts co = {.subprotocols = (const char *const[]){"chat", "chat.v2", NULL},
                       .no_deflate = 1};
    aioc_ws *ws = dial_ws("ws", &f, &co);
    CHECK(!aioc_ws_deflate(ws));
    CHECK_STR(aioc_ws_subprotocol(ws), "chat.v2"); /* the server's preference */
    conversation(ws);
    CHECK_ERR(aioc_ws_close(ws, 4001, "done here"), 0);
    CHECK_EQ(aioc_ws_close_code(ws), 4001); /* echoed */
    CHECK_ERR(aioc_ws_send_text(ws, "x", 1), AIOC_WS_ECLOSED);
    aioc_ws_msg m;
    CHECK_ERR(aioc_ws_recv(ws, &m), AIOC_EOF);
    aioc_ws_free(ws);
    wait_done(1);
    CHECK_ERR(srv_end, AIOC_EOF);
    CHECK_EQ(srv_code, 4001);
    CHECK_STR(srv_reason, "done here");
    CHECK_STR(srv_proto, "chat.v2");
    /* the server closes: the client reads AIOC_EOF with the code */
    ws = dial_ws("ws", &f, &co);
    CHECK_ERR(aioc_ws_send_text(ws, "close:1001", 10), 0);
    CHECK_ERR(aioc_ws_recv(ws, &m), AIOC_EOF);
    CHECK_EQ(aioc_ws_close_code(ws), 1001);
    CHECK_STR(aioc_ws_close_reason(ws), "bye");
    CHECK_ERR(aioc_ws_close(ws, 1000, NULL), 0);
    aioc_ws_free(ws);
    wait_done(2);
    CHECK_ERR(srv_end, 0);
    /* bad arguments and URLs */
    int err;
    CHECK(!aioc_ws_connect("http://127.0.0.1/", NULL, &err));
    CHECK_ERR(err, AIOC_WS_EURL);
    CHECK(!aioc_ws_connect("ws://127.0.0.1:x/", NULL, &err));
    CHECK_ERR(err, AIOC_WS_EURL);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%s/nope", f.port);
    CHECK(!aioc_ws_connect(url, NULL, &err)); /* a 404 */
    CHECK_ERR(err, AIOC_WS_EHANDSHAKE);
    stop(&f);
    srv_opts = (aioc_ws_opts){0};
    return NULL;
}

TASK_TEST(deflate_between_aioc_peers) {
    fixture f;
    start(&f, NULL);
    aioc_ws_opts co = {.deflate_min = 1};
    aioc_ws *ws = dial_ws("ws", &f, &co);
    CHECK(aioc_ws_deflate(ws));
    conversation(ws);
    /* highly compressible: far fewer bytes on the wire than the message */
    char *text = malloc(200000);
    memset(text, 'a', 200000);
    expect_echo(ws, AIOC_WS_TEXT, text, 200000);
    free(text);
    CHECK_ERR(aioc_ws_close(ws, 1000, NULL), 0);
    aioc_ws_free(ws);
    wait_done(1);
    CHECK(srv_deflate);
    CHECK_ERR(srv_end, AIOC_EOF);
    stop(&f);
    return NULL;
}

static void *tls_main(void *arg) {
    (void)arg;
    int err;
    aioc_tls_ctx *sctx = aioc_tls_server_new(cs.cert, cs.key, &err);
    CHECK_ERR(err, 0);
    fixture f;
    start(&f, sctx);
    aioc_tls_client_opts tco = {.ca_file = cs.ca};
    aioc_tls_ctx *cctx = aioc_tls_client_new(&tco, &err);
    CHECK_ERR(err, 0);
    aioc_tls_opts to = {.server_name = "localhost"};
    aioc_ws_opts co = {.tls = cctx, .tls_opts = &to};
    aioc_ws *ws = dial_ws("wss", &f, &co);
    conversation(ws);
    CHECK_ERR(aioc_ws_close(ws, 1000, "tls bye"), 0);
    aioc_ws_free(ws);
    wait_done(1);
    CHECK_EQ(srv_code, 1000);
    CHECK_STR(srv_reason, "tls bye");
    /* without the CA: the certificate does not verify */
    CHECK(!aioc_ws_connect("wss://localhost:1/", NULL, &err));
    char url[64];
    snprintf(url, sizeof url, "wss://localhost:%s/echo", f.port);
    CHECK(!aioc_ws_connect(url, NULL, &err));
    CHECK_ERR(err, AIOC_TLS_EVERIFY);
    aioc_tls_ctx_free(cctx);
    stop(&f);
    aioc_tls_ctx_free(sctx);
    return NULL;
}

TEST(echo_over_tls) {
    with_certs = true;
    run(tls_main);
}
