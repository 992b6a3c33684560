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
#include <sys/wait.h>
#include <unistd.h>

#include <aioc_tls.h>
#include <aioc_ws.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zlib.h>

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
    /* codes and reasons that must not be sent */
    int unsendable[] = {999, 1004, 1005, 1006, 1015, 2999, 5000};
    for (size_t i = 0; i < sizeof unsendable / sizeof *unsendable; i++)
        CHECK_ERR(aioc_ws_close(ws, unsendable[i], NULL), -EINVAL);
    char long_reason[125];
    memset(long_reason, 'r', 124);
    long_reason[124] = '\0';
    CHECK_ERR(aioc_ws_close(ws, 1000, long_reason), -EINVAL); /* over 123 bytes */
    CHECK_ERR(aioc_ws_close(ws, 1000, "\xc0\xaf"), -EINVAL);  /* not UTF-8 */
    CHECK_ERR(aioc_ws_close(ws, 0, "no code"), -EINVAL);
    expect_echo(ws, AIOC_WS_TEXT, "still open", 10);
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

/* ------------------------------------------------- Python websockets -- */

/* Runs argv under a 60 s deadline; returns its stdout (malloc'd) and checks
 * that it exited with 0. */
static char *outside(const char *const *argv) {
    aioc_process_opts po = {.stdout_mode = AIOC_STDIO_PIPE, .stdin_mode = AIOC_STDIO_DEVNULL};
    int err;
    aioc_process *p = aioc_process_spawn(argv, &po, &err);
    CHECK_ERR(err, 0);
    char *out = NULL;
    aioc_scope sc;
    aioc_scope_enter(&sc, 60 * S);
    err = aioc_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL);
    aioc_scope_exit(&sc);
    CHECK_ERR(err, 0);
    int status;
    CHECK_ERR(aioc_process_wait(p, &status), 0);
    aioc_process_free(p);
    if (status) {
        fprintf(stderr, "%s exited with %d; stdout:\n%s\n", argv[1], status, out);
        exit(1);
    }
    return out;
}

TASK_TEST(python_client) {
    fixture f;
    srv_opts =
        (aioc_ws_opts){.subprotocols = (const char *const[]){"chat", NULL}, .max_message = 2 << 20};
    start(&f, NULL);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%s/echo", f.port);
    const char *argv[] = {"/usr/bin/python3", AIOC_WS_TEST_DIR "/ws_client.py", url, NULL};
    char *out = outside(argv);
    CHECK_STR(out, "extensions permessage-deflate\n"
                   "subprotocol chat\n"
                   "echo True\necho True\necho True\necho True\n"
                   "1 MiB True\n"
                   "fragments one two three\n"
                   "pong True\n"
                   "closed 4000 \n" /* the code echoed, no reason */
                   "server closed 1001 bye\n"
                   "uncompressed plain 0\n");
    free(out);
    wait_done(3);
    stop(&f);
    srv_opts = (aioc_ws_opts){0};
    return NULL;
}

TASK_TEST(python_server) {
    aioc_process_opts po = {.stdout_mode = AIOC_STDIO_PIPE, .stdin_mode = AIOC_STDIO_PIPE};
    const char *argv[] = {"/usr/bin/python3", AIOC_WS_TEST_DIR "/ws_server.py", NULL};
    int err;
    aioc_process *p = aioc_process_spawn(argv, &po, &err);
    CHECK_ERR(err, 0);
    aioc_scope sc;
    aioc_scope_enter(&sc, 60 * S);
    const char *line;
    CHECK(aioc_stream_readline(aioc_process_stdout(p), &line) > 0);
    fixture f;
    snprintf(f.port, sizeof f.port, "%d", atoi(line));
    aioc_ws_opts co = {.subprotocols = (const char *const[]){"chat", NULL}, .max_message = 2 << 20};
    aioc_ws *ws = dial_ws("ws", &f, &co);
    CHECK(aioc_ws_deflate(ws));
    CHECK_STR(aioc_ws_subprotocol(ws), "chat");
    conversation(ws);
    aioc_ws_msg m;
    CHECK_ERR(aioc_ws_send_text(ws, "ext?", 4), 0);
    CHECK_ERR(aioc_ws_recv(ws, &m), 0);
    CHECK_STR(m.data, "permessage-deflate;chat");
    CHECK_ERR(aioc_ws_send_text(ws, "frag?", 5), 0);
    CHECK_ERR(aioc_ws_recv(ws, &m), 0);
    CHECK_STR(m.data, "fragmented");
    CHECK_ERR(aioc_ws_send_text(ws, "ping?", 5), 0); /* answered inside recv */
    CHECK_ERR(aioc_ws_recv(ws, &m), 0);
    CHECK_STR(m.data, "pinged");
    CHECK_ERR(aioc_ws_close(ws, 4002, "aioc says bye"), 0);
    CHECK_EQ(aioc_ws_close_code(ws), 4002);
    aioc_ws_free(ws);
    /* the server closes first */
    ws = dial_ws("ws", &f, NULL);
    CHECK_ERR(aioc_ws_send_text(ws, "close:4003", 10), 0);
    CHECK_ERR(aioc_ws_recv(ws, &m), AIOC_EOF);
    CHECK_EQ(aioc_ws_close_code(ws), 4003);
    CHECK_STR(aioc_ws_close_reason(ws), "python closes");
    CHECK_ERR(aioc_ws_close(ws, 1000, NULL), 0);
    aioc_ws_free(ws);
    /* without permessage-deflate */
    co.no_deflate = 1;
    ws = dial_ws("ws", &f, &co);
    CHECK(!aioc_ws_deflate(ws));
    CHECK_ERR(aioc_ws_send_text(ws, "ext?", 4), 0);
    CHECK_ERR(aioc_ws_recv(ws, &m), 0);
    CHECK_STR(m.data, ";chat");
    CHECK_ERR(aioc_ws_close(ws, 1000, NULL), 0);
    aioc_ws_free(ws);
    aioc_stream_write_eof(aioc_process_stdin(p)); /* the server's cue to stop */
    int status;
    CHECK_ERR(aioc_process_wait(p, &status), 0);
    CHECK_EQ(status, 0);
    CHECK_ERR(aioc_scope_exit(&sc), 0);
    aioc_process_free(p);
    return NULL;
}

/* ------------------------------------------------ raw-byte conformance -- */

static int raw_dial(fixture *f) {
    int fd = aioc_tcp_connect("127.0.0.1", f->port);
    CHECK(fd >= 0);
    return fd;
}

static void raw_put(int fd, const void *p, size_t n) { CHECK_EQ(aioc_send(fd, p, n, 0), (long)n); }

/* Connects and does the handshake by hand; returns the socket after the
 * 101's head (the server sends nothing more unasked). */
static int raw_ws(fixture *f) {
    int fd = raw_dial(f);
    const char *req = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: keep-alive, Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n";
    raw_put(fd, req, strlen(req));
    char head[1024];
    size_t len = 0;
    aioc_scope sc;
    aioc_scope_enter(&sc, 5 * S);
    while (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4)) {
        CHECK(len < sizeof head - 1);
        CHECK_EQ(aioc_recv(fd, head + len, 1, 0), 1);
        len++;
    }
    CHECK_ERR(aioc_scope_exit(&sc), 0);
    head[len] = '\0';
    /* RFC 6455 §1.3's example key and its answer */
    CHECK(strstr(head, "HTTP/1.1 101 Switching Protocols\r\n") == head);
    CHECK(strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    return fd;
}

/* A frame as a client sends it (masked unless told otherwise). */
static size_t frame(uint8_t *out, uint8_t first, const void *payload, size_t n, bool mask) {
    uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = aioc__ws_put_header(out, false, false, 0, n, mask ? key : NULL);
    out[0] = first;
    memcpy(out + h, payload, n);
    if (mask)
        aioc__ws_mask(out + h, n, key, 0);
    return h + n;
}

static void send_frame(int fd, uint8_t first, const void *payload, size_t n) {
    uint8_t buf[512];
    raw_put(fd, buf, frame(buf, first, payload, n, true));
}

/* Reads one frame from the server: its first byte, payload into `buf`. */
static int read_frame(int fd, uint8_t *buf, size_t cap, size_t *len) {
    uint8_t h[14];
    aioc_scope sc;
    aioc_scope_enter(&sc, 5 * S);
    CHECK_EQ(aioc_recv(fd, h, 2, MSG_WAITALL), 2);
    size_t hs = aioc__ws_header_size(h);
    if (hs > 2)
        CHECK_EQ(aioc_recv(fd, h + 2, hs - 2, MSG_WAITALL), (long)(hs - 2));
    ws_frame f;
    aioc__ws_parse_header(h, &f);
    CHECK(!f.masked); /* servers do not mask */
    if (f.len > cap)
        fprintf(stderr, "frame %02x %02x len %llu\n", h[0], h[1], (unsigned long long)f.len);
    CHECK(f.len <= cap);
    if (f.len)
        CHECK_EQ(aioc_recv(fd, buf, (size_t)f.len, MSG_WAITALL), (long)f.len);
    CHECK_ERR(aioc_scope_exit(&sc), 0);
    *len = (size_t)f.len;
    return h[0];
}

/* Expects a close frame with `code` and then the end of the connection. */
static void expect_close(int fd, int code) {
    uint8_t buf[256];
    size_t n;
    int first = read_frame(fd, buf, sizeof buf, &n);
    CHECK_EQ(first, 0x80 | WS_OP_CLOSE);
    CHECK(n >= 2);
    CHECK_EQ(buf[0] << 8 | buf[1], code);
    aioc_scope sc;
    aioc_scope_enter(&sc, 5 * S);
    CHECK_EQ(aioc_recv(fd, buf, sizeof buf, 0), 0); /* then the server hangs up */
    CHECK_ERR(aioc_scope_exit(&sc), 0);
    aioc_close(fd);
}

static void expect_text(int fd, const char *text) {
    uint8_t buf[256];
    size_t n;
    CHECK_EQ(read_frame(fd, buf, sizeof buf - 1, &n), 0x80 | WS_OP_TEXT);
    buf[n] = '\0';
    CHECK_STR((char *)buf, text);
}

TASK_TEST(conformance_raw_frames) {
    fixture f;
    srv_opts = (aioc_ws_opts){.max_message = 1000, .no_deflate = 1};
    start(&f, NULL);
    int done = 0;
    /* fragmentation with a ping between the fragments: the pong comes
     * first, then the whole message */
    int fd = raw_ws(&f);
    send_frame(fd, WS_OP_TEXT, "frag", 4);
    send_frame(fd, 0x80 | WS_OP_PING, "mid", 3);
    send_frame(fd, WS_OP_CONT, "men", 3);
    send_frame(fd, 0x80 | WS_OP_CONT, "ted", 3);
    uint8_t buf[256];
    size_t n;
    CHECK_EQ(read_frame(fd, buf, sizeof buf, &n), 0x80 | WS_OP_PONG);
    CHECK(n == 3 && !memcmp(buf, "mid", 3));
    expect_text(fd, "fragmented");
    /* a normal close: echoed, then the end */
    send_frame(fd, 0x80 | WS_OP_CLOSE, "\x03\xe8ok", 4);
    expect_close(fd, 1000);
    wait_done(++done);
    CHECK_ERR(srv_end, AIOC_EOF);
    CHECK_STR(srv_reason, "ok");
    /* a close without a code: answered with an empty close frame */
    fd = raw_ws(&f);
    send_frame(fd, 0x80 | WS_OP_CLOSE, "", 0);
    CHECK_EQ(read_frame(fd, buf, sizeof buf, &n), 0x80 | WS_OP_CLOSE);
    CHECK_EQ(n, 0);
    aioc_close(fd);
    wait_done(++done);
    CHECK_EQ(srv_code, AIOC_WS_NO_STATUS);

    struct {
        const char *what;
        uint8_t first[3];
        const char *payload[3];
        size_t len[3];
        bool unmasked;
        int code, err;
    } cases[] = {
        {"invalid UTF-8 in one frame",
         {0x81},
         {"\xce\xba\xc0\xaf"},
         {4},
         false,
         1007,
         AIOC_WS_EUTF8},
        {"invalid UTF-8 split across fragments",
         {0x01, 0x80},
         {"ok \xf0\x9f", "\x98\xff"},
         {5, 2},
         false,
         1007,
         AIOC_WS_EUTF8},
        {"a character cut off at the end",
         {0x01, 0x80},
         {"ok", "\xe2\x82"},
         {2, 2},
         false,
         1007,
         AIOC_WS_EUTF8},
        {"an unmasked client frame", {0x81}, {"hi"}, {2}, true, 1002, AIOC_WS_EPROTOCOL},
        {"RSV1 without an extension", {0xc1}, {"hi"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"RSV2", {0xa1}, {"hi"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"RSV3", {0x91}, {"hi"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"a reserved data opcode", {0x83}, {"hi"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"a reserved control opcode", {0x8b}, {"hi"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"a fragmented ping", {0x09}, {"hi"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"a continuation with no message", {0x80}, {"hi"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"a new message inside one",
         {0x01, 0x81},
         {"a", "b"},
         {1, 1},
         false,
         1002,
         AIOC_WS_EPROTOCOL},
        {"a close frame of one byte", {0x88}, {"\x03"}, {1}, false, 1002, AIOC_WS_EPROTOCOL},
        {"close code 1005", {0x88}, {"\x03\xed"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"close code 1006", {0x88}, {"\x03\xee"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"close code 1015", {0x88}, {"\x03\xf7"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"close code 999", {0x88}, {"\x03\xe7"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"close code 2000", {0x88}, {"\x07\xd0"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"close code 5000", {0x88}, {"\x13\x88"}, {2}, false, 1002, AIOC_WS_EPROTOCOL},
        {"a close reason not UTF-8", {0x88}, {"\x03\xe8\xff"}, {3}, false, 1007, AIOC_WS_EUTF8},
        {"valid close code 1011", {0x88}, {"\x03\xf3"}, {2}, false, 1011, AIOC_EOF},
        {"valid close code 3000", {0x88}, {"\x0b\xb8"}, {2}, false, 3000, AIOC_EOF},
        {"valid close code 4999", {0x88}, {"\x13\x87"}, {2}, false, 4999, AIOC_EOF},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fprintf(stderr, "case: %s\n", cases[i].what);
        fd = raw_ws(&f);
        for (int k = 0; k < 3 && cases[i].first[k]; k++) {
            uint8_t out[64];
            size_t m = frame(out, cases[i].first[k], cases[i].payload[k], cases[i].len[k],
                             !cases[i].unmasked);
            raw_put(fd, out, m);
        }
        expect_close(fd, cases[i].code);
        wait_done(++done);
        CHECK_ERR(srv_end, cases[i].err);
    }
    /* every code from 1000 to 1015 and the edges of the ranges, on the
     * wire: the valid ones are echoed, the others fail with 1002 */
    int codes[] = {1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010,
                   1011, 1012, 1013, 1014, 1015, 1016, 2999, 3000, 4000, 4999, 5000};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        bool valid = codes[i] <= 1003 || (codes[i] >= 1007 && codes[i] <= 1014) ||
                     (codes[i] >= 3000 && codes[i] <= 4999);
        uint8_t c[2] = {(uint8_t)(codes[i] >> 8), (uint8_t)codes[i]};
        fd = raw_ws(&f);
        send_frame(fd, 0x88, c, 2);
        expect_close(fd, valid ? codes[i] : 1002);
        wait_done(++done);
        CHECK_ERR(srv_end, valid ? AIOC_EOF : AIOC_WS_EPROTOCOL);
    }
    /* a control frame over 125 bytes */
    fd = raw_ws(&f);
    uint8_t big[1500];
    memset(big, 'x', sizeof big);
    uint8_t out[1600];
    raw_put(fd, out, frame(out, 0x89, big, 126, true));
    expect_close(fd, 1002);
    wait_done(++done);
    /* over max_message (1000 bytes): in one frame, and in fragments */
    fd = raw_ws(&f);
    raw_put(fd, out, frame(out, 0x82, big, 1001, true));
    expect_close(fd, 1009); /* the header alone tells */
    wait_done(++done);
    CHECK_ERR(srv_end, AIOC_WS_ETOOBIG);
    fd = raw_ws(&f);
    for (int k = 0; k < 4; k++)
        raw_put(fd, out, frame(out, k ? 0x00 : 0x02, big, 300, true));
    expect_close(fd, 1009);
    wait_done(++done);
    CHECK_ERR(srv_end, AIOC_WS_ETOOBIG);
    /* a 64-bit length with its top bit set */
    fd = raw_ws(&f);
    uint8_t huge[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    raw_put(fd, huge, sizeof huge);
    expect_close(fd, 1002);
    wait_done(++done);
    /* a peer vanishing mid-frame: an error, not a hang */
    fd = raw_ws(&f);
    raw_put(fd, out, frame(out, 0x82, big, 100, true) - 50);
    aioc_close(fd);
    wait_done(++done);
    CHECK_ERR(srv_end, AIOC_WS_EABNORMAL);
    CHECK_EQ(srv_code, AIOC_WS_ABNORMAL);
    /* ... and mid-header */
    fd = raw_ws(&f);
    raw_put(fd, huge, 5);
    aioc_close(fd);
    wait_done(++done);
    CHECK_ERR(srv_end, AIOC_WS_EABNORMAL);
    /* frames sent right behind the handshake, in the same segment */
    fd = raw_dial(&f);
    char req[512];
    int rn = snprintf(req, sizeof req,
                      "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
                      "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n");
    rn += (int)frame((uint8_t *)req + rn, 0x81, "early", 5, true);
    raw_put(fd, req, (size_t)rn);
    CHECK_EQ(aioc_recv(fd, buf, 129, MSG_WAITALL), 129); /* the 101 */
    CHECK(!memcmp(buf, "HTTP/1.1 101", 12));
    expect_text(fd, "early");
    send_frame(fd, 0x88, "\x03\xe8", 2);
    expect_close(fd, 1000);
    wait_done(++done);
    /* handshakes refused: a wrong version gets 426 with ours */
    fd = raw_dial(&f);
    const char *bad =
        "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
        "8\r\nConnection: close\r\n\r\n";
    raw_put(fd, bad, strlen(bad));
    char resp[512] = {0};
    CHECK(aioc_recv(fd, resp, sizeof resp - 1, MSG_WAITALL) > 0);
    CHECK(!strncmp(resp, "HTTP/1.1 426 ", 13));
    CHECK(strstr(resp, "Sec-WebSocket-Version: 13\r\n"));
    aioc_close(fd);
    fd = raw_dial(&f);
    bad = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n";
    raw_put(fd, bad, strlen(bad));
    memset(resp, 0, sizeof resp);
    CHECK(aioc_recv(fd, resp, sizeof resp - 1, MSG_WAITALL) > 0);
    CHECK(!strncmp(resp, "HTTP/1.1 400 ", 13));
    aioc_close(fd);
    stop(&f);
    srv_opts = (aioc_ws_opts){0};
    return NULL;
}

/* ---------------------------------------- deadlines and back-pressure -- */

typedef struct quiet_srv {
    aioc_ws *ws; /* the server's side, once accepted */
    aioc_event ready, release;
    int send_err, recv_err;
} quiet_srv;

static quiet_srv qs;

/* Accepts, hands the connection to the test, waits until released. */
static int hold_route(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    int err;
    qs.ws = aioc_ws_accept(req, res, &srv_opts, &err);
    if (!qs.ws)
        return err;
    aioc_event_set(&qs.ready);
    aioc_event_wait(&qs.release);
    aioc_ws_free(qs.ws);
    qs.ws = NULL;
    return -ECANCELED; /* abort: bytes may be left that nobody reads */
}

TASK_TEST(deadlines_and_back_pressure) {
    aioc_event_init(&qs.ready);
    aioc_event_init(&qs.release);
    aioc_http_router *r = aioc_http_router_new();
    CHECK_ERR(aioc_http_route(r, "GET", "/echo", hold_route, NULL), 0);
    int err;
    aioc_http_opts ho = {.server.stream = {.high_water = 65536}, .write_timeout = 60};
    aioc_http_server *srv =
        aioc_http_serve("127.0.0.1", "0", aioc_http_router_handle, r, &ho, &err);
    CHECK_ERR(err, 0);
    fixture f = {.router = r, .srv = srv};
    snprintf(f.port, sizeof f.port, "%d", aioc_http_server_port(srv));
    /* a raw client that never reads after the handshake */
    int fd = raw_ws(&f);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    CHECK_ERR(aioc_event_wait(&qs.ready), 0);
    aioc_ws *ws = qs.ws;
    /* a recv with a deadline: -ETIMEDOUT, and the connection lives on */
    aioc_scope sc;
    aioc_ws_msg m;
    CHECK_ERR(aioc_scope_enter(&sc, 0.05), 0);
    CHECK_ERR(aioc_ws_recv(ws, &m), -ETIMEDOUT);
    aioc_scope_exit(&sc);
    /* half a frame, a deadline, then the rest: nothing lost */
    uint8_t out[64];
    size_t fl = frame(out, 0x81, "resumed", 7, true);
    raw_put(fd, out, 5);
    CHECK_ERR(aioc_scope_enter(&sc, 0.1), 0);
    CHECK_ERR(aioc_ws_recv(ws, &m), -ETIMEDOUT);
    aioc_scope_exit(&sc);
    raw_put(fd, out + 5, fl - 5);
    CHECK_ERR(aioc_ws_recv(ws, &m), 0);
    CHECK_STR(m.data, "resumed");
    /* the peer does not read: once the socket's buffers are full, try_send
     * refuses (at the mark, or sooner, when taking the frame would mean
     * waiting), and a blocking send parks until its deadline */
    static uint8_t chunk[16384];
    int sent = 0;
    while ((err = aioc_ws_try_send(ws, AIOC_WS_BINARY, chunk, sizeof chunk)) == 0) {
        sent++;
        CHECK(sent < 10000); /* the socket buffers are finite */
        aioc_sleep(0.001);
    }
    CHECK_ERR(err, -EAGAIN);
    CHECK(sent > 0);
    CHECK(aioc_stream_write_buffered(aioc_ws_stream(ws)) > 0); /* waiting for the peer */
    CHECK_ERR(aioc_scope_enter(&sc, 0.1), 0);
    err = aioc_ws_send_binary(ws, chunk, sizeof chunk);
    aioc_scope_exit(&sc);
    CHECK_ERR(err, -ETIMEDOUT);
    /* cancellation of a task blocked in recv: -ECANCELED */
    aioc_close(fd);
    aioc_event_set(&qs.release);
    CHECK_ERR(aioc_http_server_close(srv, 5 * S), 0);
    aioc_http_router_free(r);
    aioc_event_destroy(&qs.ready);
    aioc_event_destroy(&qs.release);
    return NULL;
}

static void *recv_forever(void *arg) {
    aioc_ws_msg m;
    return P(aioc_ws_recv(arg, &m));
}

TASK_TEST(cancel_during_recv) {
    fixture f;
    start(&f, NULL);
    aioc_ws_opts co = {.no_deflate = 1};
    aioc_ws *ws = dial_ws("ws", &f, &co);
    aioc_task t = aioc_spawn(recv_forever, ws);
    aioc_sleep(0.02);
    CHECK_ERR(aioc_cancel(t), 0);
    void *res;
    CHECK_ERR(aioc_await(t, &res), -ECANCELED);
    /* the connection is still good */
    expect_echo(ws, AIOC_WS_TEXT, "still here", 10);
    /* a close while another task receives: that task sees AIOC_EOF */
    t = aioc_spawn(recv_forever, ws);
    aioc_sleep(0.01);
    CHECK_ERR(aioc_ws_close(ws, 1000, NULL), 0);
    CHECK_ERR(aioc_await(t, &res), 0);
    CHECK_ERR(I(res), AIOC_EOF);
    aioc_ws_free(ws);
    wait_done(1);
    stop(&f);
    return NULL;
}

/* ---------------------------------------------------------- heartbeat -- */

TASK_TEST(heartbeat_closes_a_dead_peer) {
    fixture f;
    srv_opts = (aioc_ws_opts){.heartbeat = 0.1 * S, .no_deflate = 1};
    start(&f, NULL);
    /* a peer that answers pings stays */
    aioc_ws *ws = dial_ws("ws", &f, NULL);
    aioc_task t = aioc_spawn(recv_forever, ws); /* answers the pings */
    aioc_sleep(0.5 * S);
    CHECK_EQ(srv_done, 0);
    CHECK_ERR(aioc_cancel(t), 0);
    aioc_await(t, NULL);
    CHECK_ERR(aioc_ws_close(ws, 1000, NULL), 0);
    aioc_ws_free(ws);
    wait_done(1);
    CHECK_ERR(srv_end, AIOC_EOF);
    /* a peer that stops answering is dropped after about two intervals */
    int fd = raw_ws(&f);
    uint8_t buf[256];
    size_t n;
    CHECK_EQ(read_frame(fd, buf, sizeof buf, &n), 0x80 | WS_OP_PING);
    double t0 = aioc_now();
    aioc_scope sc;
    aioc_scope_enter(&sc, 5 * S);
    while (srv_done < 2)
        CHECK_ERR(aioc_sleep(0.01), 0);
    aioc_scope_exit(&sc);
    CHECK(aioc_now() - t0 >= 0.05 * S);
    CHECK_ERR(srv_end, AIOC_WS_EHEARTBEAT);
    CHECK_EQ(srv_code, AIOC_WS_ABNORMAL);
    aioc_close(fd);
    stop(&f);
    srv_opts = (aioc_ws_opts){0};
    return NULL;
}

/* ------------------------------------------------------------- scale -- */

#if defined(__SANITIZE_ADDRESS__)
#define IDLE_CONNECTIONS 1000 /* ASan's shadow memory is the cost there */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IDLE_CONNECTIONS 1000
#endif
#endif
#ifndef IDLE_CONNECTIONS
#define IDLE_CONNECTIONS 10000
#endif

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    CHECK(f && fscanf(f, "%ld %ld", &size, &resident) == 2);
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* The client ends, in a child process (so that the server's process
 * holds one descriptor per connection, and its RSS is the server's
 * alone): plain blocking sockets, each with the handshake done (the 101's
 * length is known: no extension, no subprotocol). Writes a byte to `ready`
 * once all are up, then waits for `go` to end and exits, which closes them.
 * Only system calls after the fork. */
static void clients_child(int port, int n, int ready, int go) {
    static const char req[] = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        char head[129];
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) ||
            send(fd, req, sizeof req - 1, 0) != (long)sizeof req - 1 ||
            recv(fd, head, sizeof head, MSG_WAITALL) != (long)sizeof head ||
            memcmp(head, "HTTP/1.1 101 ", 13))
            _exit(2);
    }
    char b = 1;
    if (write(ready, &b, 1) != 1)
        _exit(3);
    while (read(go, &b, 1) > 0)
        ;
    _exit(0);
}

TASK_TEST(idle_connections_memory) {
    int n = IDLE_CONNECTIONS;
    struct rlimit rl;
    CHECK_ERR(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((rlim_t)n + 100 > rl.rlim_cur)
        n = (int)rl.rlim_cur - 100;
    srv_opts = (aioc_ws_opts){0};
    fixture f;
    start(&f, NULL);
    /* one first, so that what every connection shares is counted before */
    int first = raw_ws(&f);
    send_frame(first, 0x81, "warm", 4);
    expect_text(first, "warm");
    aioc_sleep(0.01);
    long before = rss_bytes();
    int ready[2], go[2];
    CHECK_ERR(pipe(ready), 0);
    CHECK_ERR(pipe(go), 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        clients_child(atoi(f.port), n, ready[1], go[0]);
    }
    close(ready[1]);
    close(go[0]);
    char b;
    aioc_scope sc;
    aioc_scope_enter(&sc, 120 * S);
    CHECK_EQ(aioc_read(ready[0], &b, 1), 1);
    /* every server task is in aioc_ws_recv now, or about to be */
    while (aioc_http_server_connections(f.srv) < (size_t)n + 1)
        CHECK_ERR(aioc_sleep(0.01), 0);
    aioc_sleep(0.1);
    long after = rss_bytes();
    if (getenv("AIOC_WS_SMAPS")) {
        char cmd[160];
        snprintf(cmd, sizeof cmd,
                 "awk '/^[0-9a-f]/{name=$6} /^Rss:/{r[name]+=$2} END{for(k in r) print r[k], "
                 "k}' /proc/%d/smaps | sort -n | tail -4",
                 (int)getpid());
        CHECK(system(cmd) == 0);
    }
    double per = (double)(after - before) / n;
    printf("%d idle WebSocket connections on one loop: %.0f bytes (%.2f KiB) of the server's "
           "RSS each\n",
           n, per, per / 1024);
    fflush(stdout);
    /* the first one still works; then the child ends them all */
    send_frame(first, 0x81, "still", 5);
    expect_text(first, "still");
    aioc_close(go[1]);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0)
        CHECK_ERR(aioc_sleep(0.01), 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    aioc_close(first);
    wait_done(n + 1);
    CHECK_ERR(aioc_scope_exit(&sc), 0);
    aioc_close(ready[0]);
    stop(&f);
    return NULL;
}

/* ------------------------------------------- a client and bad servers -- */

static int bad_mode; /* what the fake server below does wrong */

static void accept_for(const char *key, char out[29]) {
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)buf, (size_t)n, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* A server written by hand, wrong in the way bad_mode says. */
static void fake_server(aioc_stream *s, void *arg) {
    (void)arg;
    const char *head;
    long n = aioc_stream_readuntil(s, "\r\n\r\n", 4, &head);
    if (n < 0)
        return;
    if (bad_mode == 9) { /* never answers: reads until the client gives up */
        char drop[64];
        while (aioc_stream_read(s, drop, sizeof drop) > 0)
            ;
        return;
    }
    char *req = strndup(head, (size_t)n); /* readuntil's bytes have no NUL */
    CHECK(req);
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    char key[32] = "", acc[29];
    if (k)
        sscanf(k + 19, "%31[^\r]", key);
    free(req);
    accept_for(key, acc);
    char resp[512];
    const char *extra = bad_mode == 4   ? "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                        : bad_mode == 5 ? "Sec-WebSocket-Protocol: other\r\n"
                        : bad_mode == 7 ? "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                                        : "";
    if (bad_mode == 1)
        snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    else
        snprintf(resp, sizeof resp,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                 "Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                 bad_mode == 2 ? "AAAAAAAAAAAAAAAAAAAAAAAAAAA=" : acc, extra);
    aioc_stream_write(s, resp, strlen(resp));
    uint8_t out[2048];
    if (bad_mode == 3) { /* a masked frame from a server */
        aioc_stream_write(s, out, frame(out, 0x81, "masked", 6, true));
    } else if (bad_mode == 7) { /* 100 KB of zeros, compressed, to a 1000-byte limit */
        static uint8_t zeros[100000];
        uint8_t z[1024];
        z_stream zs = {0};
        deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
        zs.next_in = zeros;
        zs.avail_in = sizeof zeros;
        zs.next_out = z;
        zs.avail_out = sizeof z;
        deflate(&zs, Z_SYNC_FLUSH);
        size_t zn = sizeof z - zs.avail_out - 4;
        deflateEnd(&zs);
        size_t h = aioc__ws_put_header(out, true, true, WS_OP_BINARY, zn, NULL);
        memcpy(out + h, z, zn);
        aioc_stream_write(s, out, h + zn);
    } else if (bad_mode == 8) { /* a clean-looking text, then a compressed
                                   message though none was agreed */
        size_t h = aioc__ws_put_header(out, true, true, WS_OP_TEXT, 2, NULL);
        memcpy(out + h, "hi", 2);
        aioc_stream_write(s, out, h + 2);
    }
    if (bad_mode == 3 || bad_mode == 7 || bad_mode == 8) {
        /* the client's close frame (masked) comes back before the end */
        char got[64];
        size_t total = 0;
        long r;
        aioc_scope sc;
        aioc_scope_enter(&sc, 5 * S);
        while ((r = aioc_stream_read(s, got + total, sizeof got - total)) > 0)
            total += (size_t)r;
        aioc_scope_exit(&sc);
        CHECK(total >= 8);
        CHECK_EQ((uint8_t)got[0], 0x88);
        CHECK((uint8_t)got[1] & 0x80); /* masked */
    }
    /* mode 6: the connection just ends */
}

TASK_TEST(client_refuses_bad_servers) {
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", fake_server, NULL, NULL, &err);
    CHECK_ERR(err, 0);
    fixture f;
    snprintf(f.port, sizeof f.port, "%d", aioc_server_port(srv));
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%s/x", f.port);
    aioc_ws_opts plain = {.no_deflate = 1, .max_message = 1000};
    struct {
        int mode, connect_err, recv_err, code;
    } cases[] = {
        {1, AIOC_WS_EHANDSHAKE, 0, 0},               /* a 200 */
        {2, AIOC_WS_EHANDSHAKE, 0, 0},               /* a wrong accept value */
        {3, 0, AIOC_WS_EPROTOCOL, AIOC_WS_ABNORMAL}, /* a masked server frame */
        {4, AIOC_WS_EHANDSHAKE, 0, 0},               /* an extension not offered */
        {5, AIOC_WS_EHANDSHAKE, 0, 0},               /* a subprotocol not offered */
        {6, 0, AIOC_WS_EABNORMAL, AIOC_WS_ABNORMAL}, /* the end, no close frame */
        {7, 0, AIOC_WS_ETOOBIG, AIOC_WS_ABNORMAL},   /* a compressed bomb */
        {8, 0, AIOC_WS_EPROTOCOL, AIOC_WS_ABNORMAL}, /* RSV1 without deflate */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bad_mode = cases[i].mode;
        aioc_ws_opts o = plain;
        if (bad_mode == 7)
            o.no_deflate = 0; /* offered, so that the answer is valid */
        aioc_ws *ws = aioc_ws_connect(url, &o, &err);
        CHECK_ERR(err, cases[i].connect_err);
        if (!ws)
            continue;
        aioc_ws_msg m;
        CHECK_ERR(aioc_ws_recv(ws, &m), cases[i].recv_err);
        CHECK_ERR(aioc_ws_recv(ws, &m), cases[i].recv_err); /* sticky */
        CHECK_EQ(aioc_ws_close_code(ws), cases[i].code);
        CHECK_ERR(aioc_ws_send_text(ws, "x", 1), AIOC_WS_ECLOSED);
        CHECK_ERR(aioc_ws_close(ws, 1000, NULL), cases[i].recv_err);
        aioc_stream_drain(aioc_ws_stream(ws)); /* the close frame out */
        aioc_ws_free(ws);
    }
    /* a server that never answers: the caller's deadline ends the wait */
    bad_mode = 9;
    aioc_scope sc;
    CHECK_ERR(aioc_scope_enter(&sc, 0.1), 0);
    CHECK(!aioc_ws_connect(url, &plain, &err));
    CHECK_ERR(err, -ETIMEDOUT);
    CHECK_ERR(aioc_scope_exit(&sc), -ETIMEDOUT);
    /* nobody listening */
    aioc_server_close(srv, 1);
    CHECK(!aioc_ws_connect(url, NULL, &err));
    CHECK_ERR(err, -ECONNREFUSED);
    return NULL;
}
