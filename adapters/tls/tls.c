/* TLS connections: OpenSSL on a non-blocking socket as an aioc_transport.
 *
 * OpenSSL reads and writes the socket itself (a socket BIO). When a call
 * says SSL_ERROR_WANT_READ or _WANT_WRITE, the task waits for that
 * readiness with aioc_wait_readable / aioc_wait_writable and calls again;
 * either may be asked for by either direction (a read may have to write a
 * key update), so each loop handles both. A reader and the stream's
 * flusher may use one SSL object at once: they never run at the same time
 * (one thread), and each call leaves the object consistent.
 *
 * A retried SSL_write must start with the bytes of the one that said
 * WANT_WRITE. The stream keeps unsent bytes at the head of its buffer and
 * offers them again, but the buffer may have moved or grown, hence
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER; SSL_MODE_ENABLE_PARTIAL_WRITE lets
 * a write report each record sent.
 *
 * The error queue is thread-wide and shared by every task of the loop: it
 * is cleared before each call and after each failure, so that one task's
 * leftovers never explain another's error. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls_internal.h"

#define DEFAULT_HANDSHAKE_TIMEOUT 60.0
#define CLOSE_DRAIN_MAX (64 * 1024) /* input discarded at close, at most */

struct aioc_tls_ctx {
    SSL_CTX *ssl;
    bool server;
    bool verify;
    int refs;
    unsigned char *alpn; /* a server's protocols, in ALPN's wire format */
    unsigned alpn_len;
};

typedef struct conn {
    SSL *ssl;
    int fd;
    bool established; /* the handshake succeeded */
    bool fatal;       /* a protocol error: no close_notify may follow */
    bool shut;        /* our close_notify went out (write_eof) */
} conn;

/* -------------------------------------------------------------- errors -- */

const char *aioc_tls_strerror(int err) {
    switch (err) {
    case AIOC_TLS_EVERIFY:
        return "TLS certificate verification failed";
    case AIOC_TLS_EHOSTNAME:
        return "TLS certificate does not match the host name";
    case AIOC_TLS_EHANDSHAKE:
        return "TLS handshake failed";
    case AIOC_TLS_EPROTOCOL:
        return "TLS protocol error (is the peer speaking TLS?)";
    case AIOC_TLS_ETRUNCATED:
        return "TLS connection closed without close_notify";
    case AIOC_TLS_ECONFIG:
        return "TLS certificate, key or CA file could not be used";
    case AIOC_TLS_EROLE:
        return "TLS context is for the other role";
    default:
        return aioc_strerror(err);
    }
}

const char *aioc_tls_verify_string(long verify_result) {
    const char *s = X509_verify_cert_error_string(verify_result);
    return s ? s : "unknown verify result";
}

/* A reason in OpenSSL's SSL library that means "this is not TLS". */
static bool not_tls(int reason) {
    switch (reason) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_BAD_PACKET_LENGTH:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
        return true;
    default:
        return false;
    }
}

/* Whether `reason` is an alert from the peer that refuses the handshake:
 * any alert before ours ended, and after it those about certificates or
 * the handshake's terms (in TLS 1.3 a client learns only after its own
 * handshake that the server refused its certificate). Other alerts on an
 * established connection are protocol errors. */
static bool refusal_alert(int reason, bool established) {
    if (reason <= SSL_AD_REASON_OFFSET || reason >= SSL_AD_REASON_OFFSET + 256)
        return false;
    switch (reason - SSL_AD_REASON_OFFSET) {
    case SSL_AD_HANDSHAKE_FAILURE:
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_ACCESS_DENIED:
    case SSL_AD_CERTIFICATE_REQUIRED:
    case SSL_AD_NO_APPLICATION_PROTOCOL:
        return true;
    default:
        return !established;
    }
}

/* The code for a failed SSL call (`ret`, errno as it left it in `sys`),
 * with the error queue emptied. */
static int failure(conn *c, int ret, int sys) {
    int kind = SSL_get_error(c->ssl, ret);
    unsigned long e = ERR_peek_error();
    int err;
    if (kind == SSL_ERROR_SYSCALL && e == 0)
        err = sys ? -sys : AIOC_TLS_ETRUNCATED; /* 0: an EOF OpenSSL did not name */
    else if (ERR_GET_LIB(e) != ERR_LIB_SSL)
        err = c->established ? AIOC_TLS_EPROTOCOL : AIOC_TLS_EHANDSHAKE;
    else if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long v = SSL_get_verify_result(c->ssl);
        err = v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH
                  ? AIOC_TLS_EHOSTNAME
                  : AIOC_TLS_EVERIFY;
    } else if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        err = AIOC_TLS_ETRUNCATED;
    else if (refusal_alert(ERR_GET_REASON(e), c->established))
        err = AIOC_TLS_EHANDSHAKE;
    else if (not_tls(ERR_GET_REASON(e)))
        err = AIOC_TLS_EPROTOCOL;
    else
        err = c->established ? AIOC_TLS_EPROTOCOL : AIOC_TLS_EHANDSHAKE;
    ERR_clear_error();
    c->fatal = true;
    return err;
}

/* After `ret` from an SSL call: 1 to call again once the socket is ready
 * (waited for here), 0 on an error left in `*err`. When the socket itself
 * said EAGAIN (`sys`), it is known not to be ready: wait for the next edge
 * without asking poll(2) first. */
static int wait_and_retry(conn *c, int ret, int sys, int *err) {
    bool drained = sys == EAGAIN || sys == EWOULDBLOCK;
    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        *err = drained ? aioc_wait_readable_after_eagain(c->fd) : aioc_wait_readable(c->fd);
        break;
    case SSL_ERROR_WANT_WRITE:
        *err = drained ? aioc_wait_writable_after_eagain(c->fd) : aioc_wait_writable(c->fd);
        break;
    default:
        *err = failure(c, ret, sys);
        return 0;
    }
    return *err == 0;
}

/* ----------------------------------------------------------- transport -- */

/* SSL_get_error needs the thread's error queue empty before the call it
 * explains; it nearly always is (failure() empties it), and looking costs
 * far less than ERR_clear_error, a measurable share of a small request. */
static void errors_clear(void) {
    if (ERR_peek_error())
        ERR_clear_error();
}

static long tls_read(void *ctx, void *buf, size_t n) {
    conn *c = ctx;
    if (n == 0)
        return 0;
    int want = n > INT_MAX ? INT_MAX : (int)n, err;
    for (;;) {
        errors_clear();
        errno = 0;
        int r = SSL_read(c->ssl, buf, want);
        if (r > 0)
            return r;
        int sys = errno;
        if (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN)
            return 0; /* the peer's close_notify: a clean end */
        if (!wait_and_retry(c, r, sys, &err))
            return err;
    }
}

static long tls_write(void *ctx, const void *buf, size_t n) {
    conn *c = ctx;
    if (c->shut)
        return -EPIPE;
    if (n == 0)
        return 0;
    int want = n > INT_MAX ? INT_MAX : (int)n, err;
    for (;;) {
        errors_clear();
        errno = 0;
        int r = SSL_write(c->ssl, buf, want);
        if (r > 0)
            return r;
        if (!wait_and_retry(c, r, errno, &err))
            return err;
    }
}

static long tls_try_write(void *ctx, const void *buf, size_t n) {
    conn *c = ctx;
    if (c->shut)
        return -EPIPE;
    if (n == 0)
        return 0;
    errors_clear();
    errno = 0;
    int r = SSL_write(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    int sys = errno, kind = SSL_get_error(c->ssl, r);
    if (kind == SSL_ERROR_WANT_READ || kind == SSL_ERROR_WANT_WRITE)
        return -EAGAIN; /* the stream offers these bytes again first */
    return failure(c, r, sys);
}

/* Sends close_notify; reading goes on until the peer's (TLS 1.3 allows
 * that; a TLS 1.2 peer may answer by closing). */
static int tls_write_eof(void *ctx) {
    conn *c = ctx;
    if (c->shut)
        return 0;
    if (c->fatal)
        return -EPIPE;
    int err;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_shutdown(c->ssl);
        if (r >= 0)
            break;
        if (!wait_and_retry(c, r, errno, &err))
            return err;
    }
    c->shut = true;
    return 0;
}

static void conn_free(conn *c) {
    SSL_free(c->ssl);
    free(c);
}

/* Set while aioc_tls_abort runs: the transport's close cannot otherwise
 * tell an abort from a close (both are ops->close). */
static _Thread_local bool aborting;

/* Discards input the kernel holds for `fd` (up to CLOSE_DRAIN_MAX), so
 * that closing it sends a FIN, not a reset that could destroy what we sent
 * last (close_notify, an alert) before the peer reads it. */
static void drain_input(int fd) {
    char sink[4096];
    for (size_t n = 0; n < CLOSE_DRAIN_MAX; n += sizeof sink) {
        ssize_t r = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (r <= 0)
            break;
    }
}

/* Must not suspend: one attempt at close_notify, whatever the socket
 * takes. None after an abort, or while a write is cut short (a flusher
 * cancelled inside SSL_write): the peer must not take lost data for a
 * clean end. Input already received is discarded first, so the kernel ends
 * the connection with a FIN, not a reset that could destroy the
 * close_notify (and the last data) before the peer reads them. */
static int tls_close(void *ctx) {
    conn *c = ctx;
    if (c->established && !c->fatal && !c->shut && !aborting && !SSL_want_write(c->ssl)) {
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* WANT_WRITE: the peer sees no close_notify */
        ERR_clear_error();
    }
    drain_input(c->fd);
    int err = aioc_close(c->fd);
    conn_free(c);
    return err;
}

void aioc_tls_abort(aioc_stream *s) {
    if (!s)
        return;
    aborting = true;
    aioc_stream_abort(s);
    aborting = false;
}

static int tls_socket(void *ctx) { return ((conn *)ctx)->fd; }

static const aioc_transport tls_ops = {
    .read = tls_read,
    .write = tls_write,
    .try_write = tls_try_write,
    .write_eof = tls_write_eof,
    .close = tls_close,
    .socket = tls_socket,
};

/* ------------------------------------------------ what a stream knows -- */

/* Copies `n` bytes and a NUL into `buf` (`cap` bytes); the length or
 * -ENOSPC. */
static int copy_out(char *buf, size_t cap, const void *data, size_t n) {
    if (!buf || cap < n + 1)
        return -ENOSPC;
    memcpy(buf, data, n);
    buf[n] = '\0';
    return (int)n;
}

int aioc_tls_peer_common_name(const aioc_stream *s, char *buf, size_t cap) {
    conn *c = aioc_stream_transport_ctx(s, &tls_ops);
    if (!c)
        return -EINVAL;
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
    int i = -1; /* the last CN: the most specific, if there are several */
    for (int at = -1; name && (at = X509_NAME_get_index_by_NID(name, NID_commonName, at)) >= 0;)
        i = at;
    if (i < 0)
        return -ENOENT;
    unsigned char *utf8;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n < 0) {
        ERR_clear_error();
        return -EINVAL; /* not a string it can convert */
    }
    /* a NUL inside would make the name read as another, shorter one */
    int ret = memchr(utf8, '\0', (size_t)n) ? -EINVAL : copy_out(buf, cap, utf8, (size_t)n);
    OPENSSL_free(utf8);
    return ret;
}

int aioc_tls_alpn_selected(const aioc_stream *s, char *buf, size_t cap) {
    conn *c = aioc_stream_transport_ctx(s, &tls_ops);
    if (!c)
        return -EINVAL;
    const unsigned char *proto;
    unsigned n;
    SSL_get0_alpn_selected(c->ssl, &proto, &n);
    return n ? copy_out(buf, cap, proto, n) : -ENOENT;
}

/* ------------------------------------------------------------ contexts -- */

static aioc_tls_ctx *ctx_new(bool server, int *err) {
    aioc_tls_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx)
        ctx->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx || !ctx->ssl) {
        free(ctx);
        ERR_clear_error();
        *err = -ENOMEM;
        return NULL;
    }
    ctx->server = server;
    ctx->refs = 1;
    SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                   SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx->ssl, 1);
    /* TLS 1.2 renegotiation: nothing here needs it, and it would run the
     * context's callbacks after the handshake, when `ctx` may be gone */
    SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_RENEGOTIATION);
    /* A server that verifies clients must name its sessions' context, or
     * OpenSSL fails every resumed handshake (an internal_error alert to a
     * client resuming a session, as libcurl, browsers and Python do). */
    if (server)
        SSL_CTX_set_session_id_context(ctx->ssl, (const unsigned char *)"aioc", 4);
    return ctx;
}

static void set_err(int *errp, int err) {
    if (errp)
        *errp = err;
}

aioc_tls_ctx *aioc_tls_client_new(const aioc_tls_client_opts *opts, int *errp) {
    int err = 0;
    aioc_tls_ctx *ctx = ctx_new(false, &err);
    if (!ctx) {
        set_err(errp, err);
        return NULL;
    }
    ctx->verify = !(opts && opts->insecure_no_verify);
    SSL_CTX_set_verify(ctx->ssl, ctx->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    int ok = 1;
    if (ctx->verify)
        ok = opts && opts->ca_file ? SSL_CTX_load_verify_locations(ctx->ssl, opts->ca_file, NULL)
                                   : SSL_CTX_set_default_verify_paths(ctx->ssl);
    if (ok == 1 && opts && (opts->cert_file || opts->key_file)) /* mutual TLS */
        ok = opts->cert_file && opts->key_file &&
             SSL_CTX_use_certificate_chain_file(ctx->ssl, opts->cert_file) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx->ssl, opts->key_file, SSL_FILETYPE_PEM) == 1 &&
             SSL_CTX_check_private_key(ctx->ssl) == 1;
    if (ok != 1) {
        ERR_clear_error();
        aioc_tls_ctx_free(ctx);
        set_err(errp, AIOC_TLS_ECONFIG);
        return NULL;
    }
    set_err(errp, 0);
    return ctx;
}

aioc_tls_ctx *aioc_tls_server_new(const char *cert_file, const char *key_file, int *errp) {
    if (!cert_file || !key_file) {
        set_err(errp, -EINVAL);
        return NULL;
    }
    int err = 0;
    aioc_tls_ctx *ctx = ctx_new(true, &err);
    if (!ctx) {
        set_err(errp, err);
        return NULL;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx->ssl, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx->ssl, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx->ssl) != 1) {
        ERR_clear_error();
        aioc_tls_ctx_free(ctx);
        set_err(errp, AIOC_TLS_ECONFIG);
        return NULL;
    }
    set_err(errp, 0);
    return ctx;
}

void aioc__tls_ctx_ref(aioc_tls_ctx *ctx) { ctx->refs++; }

bool aioc__tls_ctx_is_server(const aioc_tls_ctx *ctx) { return ctx->server; }

int aioc_tls_ctx_require_client_cert(aioc_tls_ctx *ctx, const char *ca_file) {
    if (!ctx || !ca_file)
        return -EINVAL;
    if (!ctx->server)
        return AIOC_TLS_EROLE;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
    if (!names || SSL_CTX_load_verify_locations(ctx->ssl, ca_file, NULL) != 1) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        ERR_clear_error();
        return AIOC_TLS_ECONFIG;
    }
    SSL_CTX_set_client_CA_list(ctx->ssl, names); /* the CAs it asks for; takes `names` */
    SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return 0;
}

/* The server's choice: its first protocol the client offers too; none in
 * common ends the handshake (RFC 7301's no_application_protocol). */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
    (void)ssl;
    aioc_tls_ctx *ctx = arg; /* alive: a handshake runs under its caller's reference */
    unsigned char *chosen;
    if (SSL_select_next_proto(&chosen, outlen, ctx->alpn, ctx->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

int aioc_tls_ctx_set_alpn(aioc_tls_ctx *ctx, const char *const *protocols) {
    if (!ctx || !protocols || !protocols[0])
        return -EINVAL;
    size_t len = 0;
    for (size_t i = 0; protocols[i]; i++) {
        size_t n = strlen(protocols[i]);
        if (n == 0 || n > 255)
            return -EINVAL;
        len += 1 + n;
    }
    if (len > 65535)
        return -EINVAL;
    unsigned char *wire = malloc(len), *p = wire;
    if (!wire)
        return -ENOMEM;
    for (size_t i = 0; protocols[i]; i++) { /* each: its length, then its bytes */
        size_t n = strlen(protocols[i]);
        *p++ = (unsigned char)n;
        memcpy(p, protocols[i], n);
        p += n;
    }
    if (!ctx->server) { /* a client offers them (0 is success here) */
        int failed = SSL_CTX_set_alpn_protos(ctx->ssl, wire, (unsigned)len);
        free(wire);
        ERR_clear_error();
        return failed ? -ENOMEM : 0;
    }
    free(ctx->alpn);
    ctx->alpn = wire;
    ctx->alpn_len = (unsigned)len;
    SSL_CTX_set_alpn_select_cb(ctx->ssl, select_alpn, ctx);
    return 0;
}

void aioc_tls_ctx_free(aioc_tls_ctx *ctx) {
    if (!ctx || --ctx->refs > 0)
        return;
    SSL_CTX_free(ctx->ssl); /* connections hold their own references */
    free(ctx->alpn);
    free(ctx);
}

/* ----------------------------------------------------------- handshake -- */

/* Names the peer to check (and, for a host name, sends it as SNI). */
static int set_peer_name(conn *c, const char *name) {
    unsigned char addr[16];
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name) == 1 ? 0 : -EINVAL;
    if (SSL_set_tlsext_host_name(c->ssl, name) != 1 || SSL_set1_host(c->ssl, name) != 1)
        return -EINVAL;
    SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return 0;
}

static int handshake(conn *c, double timeout) {
    aioc_scope scope;
    if (timeout == 0)
        timeout = DEFAULT_HANDSHAKE_TIMEOUT;
    int err = aioc_scope_enter(&scope, timeout); /* negative: expired already */
    if (err)
        return err;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_do_handshake(c->ssl);
        if (r == 1) {
            c->established = true;
            break;
        }
        if (!wait_and_retry(c, r, errno, &err))
            break;
    }
    aioc_scope_exit(&scope); /* its expiry is in `err` already, if it counts */
    return err;
}

/* The common path of connect, accept and start: takes over `fd`. */
static aioc_stream *establish(int fd, aioc_tls_ctx *ctx, bool server, const aioc_tls_opts *opts,
                              const char *name, int *errp) {
    if (opts && opts->verify_result)
        *opts->verify_result = -1;
    int err = 0;
    conn *c = NULL;
    aioc_stream *s = NULL;
    if (fd < 0 || !ctx) {
        err = -EINVAL;
        goto fail;
    }
    if (ctx->server != server) {
        err = AIOC_TLS_EROLE;
        goto fail;
    }
    if (!server && ctx->verify && !name) {
        err = -EINVAL;
        goto fail;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        err = -errno;
        goto fail;
    }
    if (!(c = calloc(1, sizeof *c)) || !(c->ssl = SSL_new(ctx->ssl))) {
        err = -ENOMEM;
        goto fail;
    }
    c->fd = fd;
    if (SSL_set_fd(c->ssl, fd) != 1) {
        err = -ENOMEM;
        goto fail;
    }
    if (server)
        SSL_set_accept_state(c->ssl);
    else
        SSL_set_connect_state(c->ssl);
    if (name && ctx->verify && !server && (err = set_peer_name(c, name)))
        goto fail;
    if (name && !ctx->verify && !server) { /* SNI only, for a host name */
        unsigned char addr[16];
        if (inet_pton(AF_INET, name, addr) != 1 && inet_pton(AF_INET6, name, addr) != 1)
            SSL_set_tlsext_host_name(c->ssl, name);
    }
    err = handshake(c, opts ? opts->handshake_timeout : 0);
    if (opts && opts->verify_result &&
        (c->established || err == AIOC_TLS_EVERIFY || err == AIOC_TLS_EHOSTNAME))
        *opts->verify_result = SSL_get_verify_result(c->ssl);
    if (err)
        goto fail;
    if (!(s = aioc_stream_new_transport(&tls_ops, c, opts ? &opts->stream : NULL))) {
        err = -ENOMEM;
        goto fail;
    }
    ERR_clear_error();
    set_err(errp, 0);
    return s;
fail:
    ERR_clear_error();
    if (c && c->ssl)
        SSL_free(c->ssl);
    free(c);
    if (fd >= 0) {
        if (c) /* after a handshake: our alert must reach the peer */
            drain_input(fd);
        aioc_close(fd);
    }
    set_err(errp, err);
    return NULL;
}

aioc_stream *aioc_tls_connect(int fd, aioc_tls_ctx *ctx, const aioc_tls_opts *opts, int *err) {
    return establish(fd, ctx, false, opts, opts ? opts->server_name : NULL, err);
}

aioc_stream *aioc_tls_accept(int fd, aioc_tls_ctx *ctx, const aioc_tls_opts *opts, int *err) {
    return establish(fd, ctx, true, opts, NULL, err);
}

aioc_stream *aioc_tls_connect_host(const char *host, const char *port, aioc_tls_ctx *ctx,
                                   const aioc_tls_opts *opts, int *errp) {
    if (!host || !port || !ctx) {
        set_err(errp, -EINVAL);
        return NULL;
    }
    if (ctx->server) {
        set_err(errp, AIOC_TLS_EROLE);
        return NULL;
    }
    int fd = aioc_tcp_connect(host, port);
    if (fd < 0) {
        set_err(errp, fd);
        return NULL;
    }
    const char *name = opts && opts->server_name ? opts->server_name : host;
    return establish(fd, ctx, false, opts, name, errp);
}

aioc_stream *aioc_tls_start(aioc_stream *plain, aioc_tls_ctx *ctx, const aioc_tls_opts *opts,
                            int *errp) {
    if (!plain || !ctx) {
        set_err(errp, -EINVAL);
        return NULL;
    }
    if (!ctx->server && ctx->verify && !(opts && opts->server_name)) {
        set_err(errp, -EINVAL); /* before taking the descriptor */
        return NULL;
    }
    int fd = aioc_stream_release_fd(plain);
    if (fd < 0) {
        set_err(errp, fd);
        return NULL;
    }
    return establish(fd, ctx, ctx->server, opts, opts ? opts->server_name : NULL, errp);
}
