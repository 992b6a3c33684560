/* The TLS adapter: handshakes that succeed and the ways they fail, STARTTLS,
 * a large transfer, deadlines, and interop with OpenSSL's own tools and
 * curl. Servers and clients share one loop, on loopback; certificates are
 * made fresh in a temporary directory by each test (certs.c). */
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <aioc_tls.h>

#include "certs.h"
/* task tests run with fresh certificates */
#define AIOC_TEST_RUN(fn, virtual_time) run(fn)
#include "test.h"

#define X509_V_ERR_CERT_HAS_EXPIRED 10
#define X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT 18
#define X509_V_ERR_HOSTNAME_MISMATCH 62

static certs cs;

/* Runs `fn` in a loop with fresh certificates, checking it returned 0. */
static void run(aioc_fn fn) {
    certs_make(&cs);
    int status = aioc_run(fn, NULL, NULL);
    certs_remove(&cs);
    if (status) {
        fprintf(stderr, "main failed: %s\n", aioc_tls_strerror(status));
        exit(1);
    }
}

static aioc_tls_ctx *server_ctx(const char *cert, const char *key) {
    int err;
    aioc_tls_ctx *ctx = aioc_tls_server_new(cert, key, &err);
    CHECK_ERR(err, 0);
    CHECK(ctx);
    return ctx;
}

static aioc_tls_ctx *client_ctx(int no_verify) {
    aioc_tls_client_opts o = {.ca_file = cs.ca, .insecure_no_verify = no_verify};
    int err;
    aioc_tls_ctx *ctx = aioc_tls_client_new(&o, &err);
    CHECK_ERR(err, 0);
    CHECK(ctx);
    return ctx;
}

static char port[16];

static void set_port(aioc_server *srv) { snprintf(port, sizeof port, "%d", aioc_server_port(srv)); }

/* Echoes lines until the end of the stream. */
static void echo_lines(aioc_stream *s, void *arg) {
    (void)arg;
    const char *line;
    long n;
    while ((n = aioc_stream_readline(s, &line)) > 0)
        if (aioc_stream_write(s, line, (size_t)n))
            break;
}

/* A TLS echo server with `cert` and `key`. */
static aioc_server *tls_echo_server(const char *cert, const char *key) {
    aioc_tls_ctx *ctx = server_ctx(cert, key);
    int err;
    aioc_server *srv = aioc_tls_serve("127.0.0.1", "0", ctx, echo_lines, NULL, NULL, NULL, &err);
    CHECK_ERR(err, 0);
    aioc_tls_ctx_free(ctx); /* the server keeps its own reference */
    set_port(srv);
    return srv;
}

/* Connects as `name` and returns the error (0 after an echo round trip). */
static int try_connect(aioc_tls_ctx *ctx, const char *name, long *verify) {
    aioc_tls_opts o = {.server_name = name, .verify_result = verify, .handshake_timeout = 10};
    int err;
    aioc_stream *s = aioc_tls_connect_host("127.0.0.1", port, ctx, &o, &err);
    if (!s)
        return err;
    CHECK_ERR(aioc_stream_write(s, "ping\n", 5), 0);
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), 5);
    CHECK(memcmp(line, "ping\n", 5) == 0);
    CHECK_ERR(aioc_stream_close(s), 0);
    return 0;
}

/* ---------------------------------------------------------- handshakes -- */

TASK_TEST(round_trip_with_sni_and_write_eof) {
    aioc_server *srv = tls_echo_server(cs.cert, cs.key);
    aioc_tls_ctx *ctx = client_ctx(0);
    long verify = -2;
    aioc_tls_opts o = {.server_name = "localhost", .verify_result = &verify};
    int err;
    aioc_stream *s = aioc_tls_connect_host("127.0.0.1", port, ctx, &o, &err);
    CHECK_ERR(err, 0);
    CHECK_EQ(verify, 0);
    for (int i = 0; i < 3; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "line %d\n", i);
        CHECK_ERR(aioc_stream_write(s, msg, (size_t)len), 0);
        const char *line;
        CHECK_EQ(aioc_stream_readline(s, &line), len);
        CHECK(memcmp(line, msg, (size_t)len) == 0);
    }
    CHECK_ERR(aioc_stream_write(s, "last\n", 5), 0);
    CHECK_ERR(aioc_stream_write_eof(s), 0); /* close_notify; reading goes on */
    CHECK_EQ(aioc_stream_write(s, "x", 1), -EPIPE);
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), 5);
    CHECK_EQ(aioc_stream_readline(s, &line), 0); /* the server's close_notify */
    aioc_stream_close(s);
    /* the IP address alone is checked against the certificate's too */
    CHECK_ERR(try_connect(ctx, NULL, NULL), 0);
    aioc_tls_ctx_free(ctx);
    CHECK_ERR(aioc_server_close(srv, 1), 0);
    return NULL;
}

TASK_TEST(wrong_host_name_is_refused) {
    aioc_server *srv = tls_echo_server(cs.cert, cs.key);
    aioc_tls_ctx *ctx = client_ctx(0);
    long verify = -2;
    CHECK_ERR(try_connect(ctx, "example.com", &verify), AIOC_TLS_EHOSTNAME);
    CHECK_EQ(verify, X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK_ERR(try_connect(ctx, "10.1.2.3", NULL), AIOC_TLS_EHOSTNAME);
    CHECK_ERR(try_connect(ctx, "localhost", NULL), 0); /* the server goes on */
    aioc_tls_ctx_free(ctx);
    aioc_server_close(srv, 1);
    return NULL;
}

TASK_TEST(expired_certificate_is_refused) {
    aioc_server *srv = tls_echo_server(cs.expired, cs.expired_key);
    aioc_tls_ctx *ctx = client_ctx(0);
    long verify = -2;
    CHECK_ERR(try_connect(ctx, "localhost", &verify), AIOC_TLS_EVERIFY);
    CHECK_EQ(verify, X509_V_ERR_CERT_HAS_EXPIRED);
    CHECK(strstr(aioc_tls_verify_string(verify), "expired"));
    aioc_tls_ctx_free(ctx);
    aioc_server_close(srv, 1);
    return NULL;
}

TASK_TEST(self_signed_certificate_is_refused) {
    aioc_server *srv = tls_echo_server(cs.self, cs.self_key);
    aioc_tls_ctx *ctx = client_ctx(0);
    long verify = -2;
    CHECK_ERR(try_connect(ctx, "localhost", &verify), AIOC_TLS_EVERIFY);
    CHECK_EQ(verify, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
    aioc_tls_ctx_free(ctx);
    /* the system's trust store does not know it either */
    int err;
    ctx = aioc_tls_client_new(NULL, &err);
    CHECK_ERR(err, 0);
    CHECK_ERR(try_connect(ctx, "localhost", NULL), AIOC_TLS_EVERIFY);
    aioc_tls_ctx_free(ctx);
    aioc_server_close(srv, 1);
    return NULL;
}

static void tls_accept_and_note(aioc_stream *plain);
static aioc_server *plain_server(void (*behaviour)(aioc_stream *));
static int accept_err;
static aioc_tls_ctx *accept_ctx;

/* The server's side of a refusal: the client's alert. */
TASK_TEST(server_sees_the_client_refuse_its_certificate) {
    accept_ctx = server_ctx(cs.self, cs.self_key);
    accept_err = 1;
    aioc_server *srv = plain_server(tls_accept_and_note);
    aioc_tls_ctx *ctx = client_ctx(0);
    CHECK_ERR(try_connect(ctx, "localhost", NULL), AIOC_TLS_EVERIFY);
    CHECK_ERR(aioc_server_close(srv, 5), 0);
    CHECK_ERR(accept_err, AIOC_TLS_EHANDSHAKE);
    aioc_tls_ctx_free(ctx);
    aioc_tls_ctx_free(accept_ctx);
    return NULL;
}

/* ---------------------------------------------------- mutual TLS, ALPN -- */

/* The server's side of the next two tests: the TLS handshake, then one
 * line naming the client's certificate and the protocol ALPN chose. */
static void greet_by_name(aioc_stream *plain) {
    aioc_stream *s = aioc_tls_start(plain, accept_ctx, NULL, &accept_err);
    if (!s)
        return;
    char who[64] = "nobody", proto[32] = "none", line[128];
    aioc_tls_peer_common_name(s, who, sizeof who);
    aioc_tls_alpn_selected(s, proto, sizeof proto);
    int n = snprintf(line, sizeof line, "hello %s over %s\n", who, proto);
    aioc_stream_write(s, line, (size_t)n);
    aioc_stream_close(s);
}

/* Connects with client context `ctx` and reads the greeting into `line`;
 * returns 0 or the error of the handshake or the read. */
static int greeting(aioc_tls_ctx *ctx, char *line, size_t cap) {
    aioc_tls_opts o = {.server_name = "localhost", .handshake_timeout = 10};
    int err;
    aioc_stream *s = aioc_tls_connect_host("127.0.0.1", port, ctx, &o, &err);
    if (!s)
        return err;
    const char *got;
    long n = aioc_stream_readline(s, &got);
    if (n > 0) {
        snprintf(line, cap, "%.*s", (int)n, got);
        char name[64];
        CHECK_EQ(aioc_tls_peer_common_name(s, name, sizeof name), 9);
        CHECK(strcmp(name, "localhost") == 0);
        CHECK_EQ(aioc_tls_peer_common_name(s, name, 9), -ENOSPC);
    }
    aioc_stream_close(s);
    return n > 0 ? 0 : (int)n;
}

static aioc_tls_ctx *client_with(const char *cert, const char *key) {
    aioc_tls_client_opts o = {.ca_file = cs.ca, .cert_file = cert, .key_file = key};
    int err;
    aioc_tls_ctx *ctx = aioc_tls_client_new(&o, &err);
    CHECK_ERR(err, 0);
    return ctx;
}

TASK_TEST(mutual_tls_verifies_the_client) {
    accept_ctx = server_ctx(cs.cert, cs.key);
    CHECK_ERR(aioc_tls_ctx_require_client_cert(accept_ctx, "/nonexistent.pem"), AIOC_TLS_ECONFIG);
    CHECK_ERR(aioc_tls_ctx_require_client_cert(accept_ctx, cs.ca), 0);
    aioc_server *srv = plain_server(greet_by_name);
    char line[128] = "";

    /* a certificate the CA signed: welcome, by name */
    aioc_tls_ctx *ctx = client_with(cs.client, cs.client_key);
    CHECK_ERR(aioc_tls_ctx_require_client_cert(ctx, cs.ca), AIOC_TLS_EROLE);
    accept_err = 1;
    CHECK_ERR(greeting(ctx, line, sizeof line), 0);
    CHECK(strcmp(line, "hello aioc test client over none\n") == 0);
    CHECK_ERR(accept_err, 0);
    aioc_tls_ctx_free(ctx);

    /* no certificate: refused (the client learns on its first read) */
    ctx = client_ctx(0);
    accept_err = 1;
    CHECK_ERR(greeting(ctx, line, sizeof line), AIOC_TLS_EHANDSHAKE);
    CHECK_ERR(aioc_server_close(srv, 5), 0); /* the server's side has ended */
    CHECK_ERR(accept_err, AIOC_TLS_EHANDSHAKE);
    srv = plain_server(greet_by_name);
    aioc_tls_ctx_free(ctx);

    /* a certificate nobody the server trusts signed */
    ctx = client_with(cs.stranger, cs.stranger_key);
    accept_err = 1;
    CHECK_ERR(greeting(ctx, line, sizeof line), AIOC_TLS_EHANDSHAKE);
    CHECK_ERR(aioc_server_close(srv, 5), 0);
    CHECK_ERR(accept_err, AIOC_TLS_EVERIFY);
    aioc_tls_ctx_free(ctx);

    /* a certificate without its key, or with a file that holds no key */
    aioc_tls_client_opts half = {.ca_file = cs.ca, .cert_file = cs.client};
    int err;
    CHECK(!aioc_tls_client_new(&half, &err));
    CHECK_ERR(err, AIOC_TLS_ECONFIG);
    CHECK(!aioc_tls_client_new(&(aioc_tls_client_opts){.cert_file = cs.client, .key_file = cs.ca},
                               &err));
    CHECK_ERR(err, AIOC_TLS_ECONFIG);
    /* not a TLS stream */
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_stream *plain = aioc_stream_new(sp[0], NULL);
    CHECK(plain);
    char name[8];
    CHECK_EQ(aioc_tls_peer_common_name(plain, name, sizeof name), -EINVAL);
    CHECK_EQ(aioc_tls_alpn_selected(plain, name, sizeof name), -EINVAL);
    CHECK_EQ(aioc_tls_peer_common_name(NULL, name, sizeof name), -EINVAL);
    aioc_stream_abort(plain);
    aioc_close(sp[1]);
    aioc_tls_ctx_free(accept_ctx);
    return NULL;
}

static aioc_tls_ctx *client_offering(const char *const *protocols) {
    aioc_tls_ctx *ctx = client_ctx(0);
    if (protocols)
        CHECK_ERR(aioc_tls_ctx_set_alpn(ctx, protocols), 0);
    return ctx;
}

TASK_TEST(alpn_picks_a_common_protocol) {
    accept_ctx = server_ctx(cs.cert, cs.key);
    const char *bad[] = {"", NULL}, *none[] = {NULL};
    CHECK_ERR(aioc_tls_ctx_set_alpn(accept_ctx, bad), -EINVAL);
    CHECK_ERR(aioc_tls_ctx_set_alpn(accept_ctx, none), -EINVAL);
    CHECK_ERR(aioc_tls_ctx_set_alpn(accept_ctx, (const char *[]){"h2", "http/1.1", NULL}), 0);
    aioc_server *srv = plain_server(greet_by_name);
    struct {
        const char *const *offer;
        const char *want;
    } cases[] = {
        {(const char *[]){"http/1.1", "h2", NULL}, "hello nobody over h2\n"}, /* server's pick */
        {(const char *[]){"http/1.1", NULL}, "hello nobody over http/1.1\n"},
        {NULL, "hello nobody over none\n"}, /* a client without ALPN */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aioc_tls_ctx *ctx = client_offering(cases[i].offer);
        char line[128] = "";
        CHECK_ERR(greeting(ctx, line, sizeof line), 0);
        CHECK(strcmp(line, cases[i].want) == 0);
        aioc_tls_ctx_free(ctx);
    }
    /* nothing in common: no connection */
    aioc_tls_ctx *ctx = client_offering((const char *[]){"spdy/1", NULL});
    accept_err = 1;
    char line[128];
    CHECK_ERR(greeting(ctx, line, sizeof line), AIOC_TLS_EHANDSHAKE);
    CHECK_ERR(aioc_server_close(srv, 5), 0);
    CHECK_ERR(accept_err, AIOC_TLS_EHANDSHAKE);
    aioc_tls_ctx_free(ctx);
    aioc_tls_ctx_free(accept_ctx);
    return NULL;
}

static void *no_verify(void *arg) {
    (void)arg;
    aioc_server *srv = tls_echo_server(cs.self, cs.self_key);
    aioc_tls_ctx *ctx = client_ctx(1);
    CHECK_ERR(try_connect(ctx, "localhost", NULL), 0);
    CHECK_ERR(try_connect(ctx, "example.com", NULL), 0); /* names unchecked too */
    /* with no name at all, on a descriptor */
    int fd = aioc_tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0);
    int err;
    aioc_stream *s = aioc_tls_connect(fd, ctx, NULL, &err);
    CHECK_ERR(err, 0);
    aioc_stream_close(s);
    aioc_tls_ctx_free(ctx);
    aioc_server_close(srv, 1);
    return NULL;
}

TEST(no_verify_accepts_self_signed) { run(no_verify); }

/* ----------------------------------------------------- peers gone wrong -- */

/* A plain server: what each connection gets depends on the test. */
static void (*plain_behaviour)(aioc_stream *s);

static void plain_handler(aioc_stream *s, void *arg) {
    (void)arg;
    plain_behaviour(s);
}

static aioc_server *plain_server(void (*behaviour)(aioc_stream *)) {
    plain_behaviour = behaviour;
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", plain_handler, NULL, NULL, &err);
    CHECK_ERR(err, 0);
    set_port(srv);
    return srv;
}

static void read_to_end(aioc_stream *s) {
    char buf[4096];
    while (aioc_stream_read(s, buf, sizeof buf) > 0) {
    }
}

static void say_hello(aioc_stream *s) {
    aioc_stream_write(s, "HELLO\n", 6);
    read_to_end(s); /* and stays, until the client goes */
}

TASK_TEST(plain_text_server_is_a_protocol_error) {
    aioc_server *srv = plain_server(say_hello);
    aioc_tls_ctx *ctx = client_ctx(0);
    double t0 = aioc_now();
    CHECK_ERR(try_connect(ctx, "localhost", NULL), AIOC_TLS_EPROTOCOL);
    CHECK(aioc_now() - t0 < 5); /* at once, not at the handshake timeout */
    aioc_tls_ctx_free(ctx);
    aioc_server_close(srv, 1);
    return NULL;
}

static void tls_accept_and_note(aioc_stream *plain) {
    aioc_stream *s = aioc_tls_start(plain, accept_ctx, NULL, &accept_err);
    if (s)
        aioc_stream_close(s);
}

TASK_TEST(plain_text_client_is_a_protocol_error) {
    accept_ctx = server_ctx(cs.cert, cs.key);
    accept_err = 1;
    aioc_server *srv = plain_server(tls_accept_and_note);
    int fd = aioc_tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0);
    aioc_stream *s = aioc_stream_new(fd, NULL);
    CHECK_ERR(aioc_stream_write(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 0);
    read_to_end(s); /* an alert, perhaps, then the end */
    aioc_stream_close(s);
    CHECK_ERR(aioc_server_close(srv, 5), 0);
    CHECK_ERR(accept_err, AIOC_TLS_EPROTOCOL);
    aioc_tls_ctx_free(accept_ctx);
    return NULL;
}

static void take_hello_and_go(aioc_stream *s) {
    char buf[8192];
    aioc_stream_read(s, buf, sizeof buf); /* the ClientHello, then nothing */
}

TASK_TEST(peer_vanishing_mid_handshake_is_truncated) {
    aioc_server *srv = plain_server(take_hello_and_go);
    aioc_tls_ctx *ctx = client_ctx(0);
    int err = try_connect(ctx, "localhost", NULL);
    CHECK(err == AIOC_TLS_ETRUNCATED || err == -ECONNRESET);
    aioc_tls_ctx_free(ctx);
    aioc_server_close(srv, 1);
    return NULL;
}

static void write_then_abort(aioc_stream *plain) {
    int err;
    aioc_stream *s = aioc_tls_start(plain, accept_ctx, NULL, &err);
    CHECK_ERR(err, 0);
    CHECK_ERR(aioc_stream_write(s, "partial\n", 8), 0);
    CHECK_ERR(aioc_stream_drain(s), 0);
    aioc_tls_abort(s);
}

/* An abort is no clean end: the client sees the cut, after the data. */
TASK_TEST(abort_is_seen_as_truncation) {
    accept_ctx = server_ctx(cs.cert, cs.key);
    aioc_server *srv = plain_server(write_then_abort);
    aioc_tls_ctx *ctx = client_ctx(0);
    aioc_tls_opts o = {.server_name = "localhost"};
    int err;
    aioc_stream *s = aioc_tls_connect_host("127.0.0.1", port, ctx, &o, &err);
    CHECK_ERR(err, 0);
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), 8);
    CHECK_ERR(aioc_stream_readline(s, &line), AIOC_TLS_ETRUNCATED);
    aioc_stream_abort(s);
    aioc_tls_ctx_free(ctx);
    CHECK_ERR(aioc_server_close(srv, 5), 0);
    aioc_tls_ctx_free(accept_ctx);
    return NULL;
}

static aioc_tls_ctx *silent_ctx;

/* Returns its error: the task itself ends normally. */
static void *connect_forever(void *arg) {
    (void)arg;
    aioc_tls_opts o = {.server_name = "localhost", .handshake_timeout = AIOC_NO_TIMEOUT};
    int err;
    CHECK(!aioc_tls_connect_host("127.0.0.1", port, silent_ctx, &o, &err));
    aioc_uncancel();
    return P(err);
}

TASK_TEST(handshake_deadline_expires_against_silent_peer) {
    aioc_server *srv = plain_server(read_to_end);
    aioc_tls_ctx *ctx = client_ctx(0);
    aioc_tls_opts o = {.server_name = "localhost", .handshake_timeout = 0.3};
    double t0 = aioc_now();
    int err;
    CHECK(!aioc_tls_connect_host("127.0.0.1", port, ctx, &o, &err));
    CHECK_ERR(err, -ETIMEDOUT);
    CHECK(aioc_now() - t0 >= 0.25 && aioc_now() - t0 < 5);
    /* a negative timeout has run out already: no waiting for the peer */
    o.handshake_timeout = -1;
    t0 = aioc_now();
    CHECK(!aioc_tls_connect_host("127.0.0.1", port, ctx, &o, &err));
    CHECK_ERR(err, -ETIMEDOUT); /* as no deadline, it would wait for ever */
    CHECK(aioc_now() - t0 < 5);
    /* an enclosing deadline scope counts too, with no timeout of its own */
    o.handshake_timeout = AIOC_NO_TIMEOUT;
    aioc_scope sc;
    CHECK_ERR(aioc_scope_enter(&sc, 0.2), 0);
    CHECK(!aioc_tls_connect_host("127.0.0.1", port, ctx, &o, &err));
    CHECK_ERR(err, -ETIMEDOUT);
    CHECK_ERR(aioc_scope_exit(&sc), -ETIMEDOUT);
    /* and so does cancellation */
    silent_ctx = ctx;
    aioc_task t = aioc_spawn(connect_forever, NULL);
    CHECK_ERR(aioc_sleep(0.1), 0);
    CHECK_ERR(aioc_cancel(t), 0);
    void *res;
    CHECK_ERR(aioc_await(t, &res), 0);
    CHECK_ERR(I(res), -ECANCELED);
    aioc_tls_ctx_free(ctx);
    aioc_server_close(srv, 1);
    return NULL;
}

/* ------------------------------------------------------------ STARTTLS -- */

static void starttls_server(aioc_stream *plain) {
    const char *line;
    CHECK_EQ(aioc_stream_readline(plain, &line), 9);
    CHECK(memcmp(line, "STARTTLS\n", 9) == 0);
    CHECK_ERR(aioc_stream_write(plain, "GO\n", 3), 0);
    CHECK_ERR(aioc_stream_drain(plain), 0);
    int err;
    aioc_stream *s = aioc_tls_start(plain, accept_ctx, NULL, &err);
    CHECK_ERR(err, 0);
    echo_lines(s, NULL);
    aioc_stream_close(s);
}

TASK_TEST(starttls_upgrades_a_plain_stream) {
    accept_ctx = server_ctx(cs.cert, cs.key);
    aioc_server *srv = plain_server(starttls_server);
    aioc_tls_ctx *ctx = client_ctx(0);
    int fd = aioc_tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0);
    aioc_stream *plain = aioc_stream_new(fd, NULL);
    CHECK_ERR(aioc_stream_write(plain, "STARTTLS\n", 9), 0);
    const char *line;
    CHECK_EQ(aioc_stream_readline(plain, &line), 3);
    aioc_tls_opts o = {.server_name = "localhost"};
    int err;
    aioc_stream *s = aioc_tls_start(plain, ctx, &o, &err);
    CHECK_ERR(err, 0);
    char buf[4];
    CHECK_EQ(aioc_stream_read(plain, buf, sizeof buf), -EBADF); /* a shell now */
    CHECK_ERR(aioc_stream_close(plain), 0);                     /* closes nothing */
    CHECK_ERR(aioc_stream_release_fd(s), -EINVAL);              /* not a descriptor stream */
    CHECK_ERR(aioc_stream_write(s, "secret\n", 7), 0);
    CHECK_EQ(aioc_stream_readline(s, &line), 7);
    CHECK(memcmp(line, "secret\n", 7) == 0);
    CHECK_ERR(aioc_stream_close(s), 0);
    aioc_tls_ctx_free(ctx);
    CHECK_ERR(aioc_server_close(srv, 5), 0);
    aioc_tls_ctx_free(accept_ctx);
    return NULL;
}

TASK_TEST(release_fd_refuses_buffered_bytes) {
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_stream *s = aioc_stream_new(sp[0], NULL);
    CHECK_EQ(aioc_write(sp[1], "a\nb", 3), 3);
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), 2);
    aioc_tls_ctx *ctx = client_ctx(1);
    int err;
    CHECK(!aioc_tls_start(s, ctx, NULL, &err)); /* "b" would be lost */
    CHECK_ERR(err, -EBUSY);
    char c;
    CHECK_EQ(aioc_stream_read(s, &c, 1), 1); /* nothing changed */
    CHECK_EQ(c, 'b');
    CHECK_ERR(aioc_stream_release_fd(NULL), -EINVAL);
    int fd = aioc_stream_release_fd(s);
    CHECK_EQ(fd, sp[0]);
    CHECK_ERR(aioc_stream_release_fd(s), -EINVAL); /* once */
    CHECK_ERR(aioc_stream_write(s, "x", 1), -EBADF);
    CHECK_ERR(aioc_stream_close(s), 0);
    CHECK_EQ(aioc_write(fd, "ok", 2), 2); /* still open, still ours */
    aioc_close(fd);
    aioc_close(sp[1]);
    /* a verifying client needs a name: refused before the descriptor is taken */
    aioc_tls_ctx_free(ctx);
    ctx = client_ctx(0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    s = aioc_stream_new(sp[0], NULL);
    CHECK(!aioc_tls_start(s, ctx, NULL, &err));
    CHECK_ERR(err, -EINVAL);
    CHECK_EQ(aioc_stream_release_fd(s), sp[0]);
    aioc_close(sp[0]);
    aioc_close(sp[1]);
    aioc_stream_close(s);
    aioc_tls_ctx_free(ctx);
    return NULL;
}

/* ------------------------------------------------------ a large transfer -- */

#define BIG (8u << 20)

static int small_buffers; /* SO_SNDBUF and SO_RCVBUF of the client; 0: the system's */

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + (i >> 13)); }

/* Echoes bytes as they come until the end. */
static void echo_bytes(aioc_stream *s, void *arg) {
    (void)arg;
    char buf[16384];
    long n;
    while ((n = aioc_stream_read(s, buf, sizeof buf)) > 0)
        if (aioc_stream_write(s, buf, (size_t)n))
            break;
}

static void *send_big(void *arg) {
    aioc_stream *s = arg;
    unsigned char buf[65536];
    for (size_t off = 0; off < BIG; off += sizeof buf) {
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = pattern(off + i);
        CHECK_ERR(aioc_stream_write(s, buf, sizeof buf), 0);
    }
    CHECK_ERR(aioc_stream_write_eof(s), 0);
    return NULL;
}

static void *big_main(void *arg) {
    (void)arg;
    aioc_tls_ctx *sctx = server_ctx(cs.cert, cs.key);
    int err;
    aioc_server *srv = aioc_tls_serve("127.0.0.1", "0", sctx, echo_bytes, NULL, NULL, NULL, &err);
    CHECK_ERR(err, 0);
    set_port(srv);
    aioc_tls_ctx *ctx = client_ctx(0);
    aioc_tls_opts o = {.server_name = "localhost"};
    int fd = aioc_tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0);
    if (small_buffers) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small_buffers, sizeof small_buffers);
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small_buffers, sizeof small_buffers);
    }
    aioc_stream *s = aioc_tls_connect(fd, ctx, &o, &err);
    CHECK_ERR(err, 0);
    aioc_task writer = aioc_spawn(send_big, s);
    size_t got = 0;
    char buf[32768];
    long n;
    while ((n = aioc_stream_read(s, buf, sizeof buf)) > 0) {
        for (long i = 0; i < n; i++)
            if ((unsigned char)buf[i] != pattern(got + (size_t)i))
                CHECK(!"a byte came back wrong");
        got += (size_t)n;
    }
    CHECK_EQ(n, 0);
    CHECK_EQ(got, BIG);
    CHECK_ERR(aioc_await(writer, NULL), 0);
    aioc_stream_close(s);
    aioc_tls_ctx_free(ctx);
    aioc_tls_ctx_free(sctx);
    CHECK_ERR(aioc_server_close(srv, 5), 0);
    return NULL;
}

TEST(large_transfer_both_ways) { run(big_main); }

/* Small socket buffers (but not below loopback's segment size, where TCP
 * itself crawls): each side keeps hitting WANT_WRITE, and retries from a
 * stream buffer that has moved and grown meanwhile. */
TEST(large_transfer_through_small_socket_buffers) {
    small_buffers = 65536;
    run(big_main);
}

/* ----------------------------------------------------------- bad input -- */

static void *bad_input(void *arg) {
    (void)arg;
    int err;
    CHECK(!aioc_tls_server_new(NULL, cs.key, &err));
    CHECK_ERR(err, -EINVAL);
    CHECK(!aioc_tls_server_new("/nonexistent", cs.key, &err));
    CHECK_ERR(err, AIOC_TLS_ECONFIG);
    CHECK(!aioc_tls_server_new(cs.cert, cs.ca, &err)); /* not a key */
    CHECK_ERR(err, AIOC_TLS_ECONFIG);
    aioc_tls_client_opts co = {.ca_file = "/nonexistent"};
    CHECK(!aioc_tls_client_new(&co, &err));
    CHECK_ERR(err, AIOC_TLS_ECONFIG);
    aioc_tls_ctx_free(aioc_tls_server_new(cs.cert, cs.key, NULL)); /* NULL err is fine */

    aioc_tls_ctx *sctx = server_ctx(cs.cert, cs.key), *cctx = client_ctx(0);
    CHECK(!aioc_tls_connect(-1, cctx, NULL, &err));
    CHECK_ERR(err, -EINVAL);
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    CHECK(!aioc_tls_connect(sp[0], sctx, NULL, &err)); /* the wrong role */
    CHECK_ERR(err, AIOC_TLS_EROLE);
    CHECK(!aioc_tls_accept(sp[1], cctx, NULL, &err));
    CHECK_ERR(err, AIOC_TLS_EROLE);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    CHECK(!aioc_tls_connect(sp[0], cctx, NULL, &err)); /* verifying, no name */
    CHECK_ERR(err, -EINVAL);
    aioc_close(sp[1]);
    CHECK(!aioc_tls_connect_host(NULL, "1", cctx, NULL, &err));
    CHECK_ERR(err, -EINVAL);
    CHECK(!aioc_tls_serve("127.0.0.1", "0", cctx, echo_lines, NULL, NULL, NULL, &err));
    CHECK_ERR(err, AIOC_TLS_EROLE);
    CHECK(!aioc_tls_start(NULL, cctx, NULL, &err));
    CHECK_ERR(err, -EINVAL);
    aioc_tls_ctx_free(NULL);
    aioc_tls_ctx_free(sctx);
    aioc_tls_ctx_free(cctx);

    int codes[] = {AIOC_TLS_EVERIFY,    AIOC_TLS_EHOSTNAME, AIOC_TLS_EHANDSHAKE, AIOC_TLS_EPROTOCOL,
                   AIOC_TLS_ETRUNCATED, AIOC_TLS_ECONFIG,   AIOC_TLS_EROLE};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        CHECK(strstr(aioc_tls_strerror(codes[i]), "TLS"));
    CHECK(strcmp(aioc_tls_strerror(-ETIMEDOUT), aioc_strerror(-ETIMEDOUT)) == 0);
    CHECK(aioc_tls_verify_string(123456));
    return NULL;
}

TEST(bad_input_gives_errors_not_crashes) {
    run(bad_input);
    /* outside a task: no handshake, no crash */
    certs_make(&cs);
    int err;
    aioc_tls_ctx *ctx = aioc_tls_client_new(NULL, &err);
    CHECK(ctx);
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_tls_opts o = {.server_name = "localhost"};
    CHECK(!aioc_tls_connect(sp[0], ctx, &o, &err));
    CHECK_ERR(err, AIOC_ENOTASK);
    close(sp[1]);
    aioc_tls_ctx_free(ctx);
    certs_remove(&cs);
}

/* ------------------------------------------------------------- interop -- */

/* A free loopback port, for a server that is not ours. */
static void pick_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, len) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    close(fd);
}

TASK_TEST(interop_with_openssl_s_server) {
    pick_port();
    char accept[32];
    snprintf(accept, sizeof accept, "127.0.0.1:%s", port);
    const char *argv[] = {"openssl", "s_server", "-accept", accept,     "-cert", cs.cert,
                          "-key",    cs.key,     "-rev",    "-naccept", "1",     NULL};
    aioc_process_opts po = {.stdin_mode = AIOC_STDIO_DEVNULL,
                            .stdout_mode = AIOC_STDIO_PIPE,
                            .stderr_mode = AIOC_STDIO_DEVNULL};
    int err;
    aioc_process *p = aioc_process_spawn(argv, &po, &err);
    CHECK_ERR(err, 0);
    aioc_scope sc;
    CHECK_ERR(aioc_scope_enter(&sc, 20), 0); /* bounded, whatever happens */
    const char *line;
    long n;
    while ((n = aioc_stream_readline(aioc_process_stdout(p), &line)) > 0 &&
           strncmp(line, "ACCEPT", 6) != 0) {
    }
    CHECK(n > 0); /* it listens */
    aioc_tls_ctx *ctx = client_ctx(0);
    aioc_tls_opts o = {.server_name = "localhost"};
    aioc_stream *s = aioc_tls_connect_host("127.0.0.1", port, ctx, &o, &err);
    CHECK_ERR(err, 0);
    CHECK_ERR(aioc_stream_write(s, "hello\n", 6), 0);
    CHECK_EQ(aioc_stream_readline(s, &line), 6);
    CHECK(memcmp(line, "olleh\n", 6) == 0);
    aioc_stream_close(s);
    CHECK_ERR(aioc_scope_exit(&sc), 0);
    aioc_process_kill(p, SIGTERM);
    aioc_process_wait(p, NULL);
    aioc_process_free(p);
    aioc_tls_ctx_free(ctx);
    return NULL;
}

static void pong(aioc_stream *s, void *arg) {
    (void)arg;
    const char *line;
    long n = aioc_stream_readline(s, &line);
    if (n > 0) {
        aioc_stream_write(s, "pong:", 5);
        aioc_stream_write(s, line, (size_t)n);
    }
}

static aioc_server *pong_server(aioc_stream_handler fn) {
    aioc_tls_ctx *sctx = server_ctx(cs.cert, cs.key);
    int err;
    aioc_server *srv = aioc_tls_serve("127.0.0.1", "0", sctx, fn, NULL, NULL, NULL, &err);
    CHECK_ERR(err, 0);
    aioc_tls_ctx_free(sctx);
    set_port(srv);
    return srv;
}

/* Runs `argv` with `input` and returns its status; its output in `*out`. */
static int run_tool(const char *const *argv, const char *input, char **out) {
    aioc_process_opts po = {.stdin_mode = AIOC_STDIO_PIPE,
                            .stdout_mode = AIOC_STDIO_PIPE,
                            .stderr_mode = AIOC_STDIO_DEVNULL};
    int err, status = -1;
    aioc_process *p = aioc_process_spawn(argv, &po, &err);
    CHECK_ERR(err, 0);
    aioc_scope sc;
    CHECK_ERR(aioc_scope_enter(&sc, 20), 0);
    err = aioc_process_communicate(p, input, strlen(input), out, NULL, NULL, NULL);
    aioc_scope_exit(&sc);
    if (err == 0)
        aioc_process_wait(p, &status);
    aioc_process_free(p); /* killed if it still runs */
    CHECK_ERR(err, 0);
    return status;
}

TASK_TEST(interop_with_openssl_s_client) {
    aioc_server *srv = pong_server(pong);
    char connect[32];
    snprintf(connect, sizeof connect, "127.0.0.1:%s", port);
    const char *argv[] = {"openssl",
                          "s_client",
                          "-connect",
                          connect,
                          "-CAfile",
                          cs.ca,
                          "-servername",
                          "localhost",
                          "-verify_hostname",
                          "localhost",
                          "-verify_return_error",
                          "-quiet",
                          NULL};
    char *out = NULL;
    CHECK_EQ(run_tool(argv, "ping\n", &out), 0);
    CHECK(strstr(out, "pong:ping\n"));
    free(out);
    CHECK_ERR(aioc_server_close(srv, 5), 0);
    return NULL;
}

static void http_ok(aioc_stream *s, void *arg) {
    (void)arg;
    const char *line;
    long n;
    while ((n = aioc_stream_readline(s, &line)) > 2) { /* up to the blank line */
    }
    const char *reply = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\n"
                        "hello\n";
    aioc_stream_write(s, reply, strlen(reply));
}

TASK_TEST(interop_with_curl) {
    aioc_server *srv = pong_server(http_ok);
    char url[64];
    snprintf(url, sizeof url, "https://localhost:%s/", port);
    char resolve[64];
    snprintf(resolve, sizeof resolve, "localhost:%s:127.0.0.1", port);
    const char *argv[] = {"curl", "-s",        "-S",    "--max-time", "15", "--cacert",
                          cs.ca,  "--resolve", resolve, url,          NULL};
    char *out = NULL;
    CHECK_EQ(run_tool(argv, "", &out), 0);
    CHECK(strcmp(out, "hello\n") == 0);
    free(out);
    CHECK_ERR(aioc_server_close(srv, 5), 0);
    return NULL;
}
