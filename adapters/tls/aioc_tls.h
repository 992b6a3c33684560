/**
 * @file
 * aioc_tls — TLS streams over OpenSSL (asyncio's `ssl=` and `start_tls`).
 *
 * A TLS connection is an ordinary aioc_stream whose transport encrypts:
 * read, write, readline, drain and close work as on a plain socket. The
 * handshake runs in the calling task; whenever OpenSSL wants the socket to
 * be readable or writable, the task waits for it (aioc_wait_readable /
 * aioc_wait_writable) while the loop runs the others.
 *
 * Conventions are aioc.h's: errors are negative (errno values, AIOC_E*, or
 * the AIOC_TLS_E* codes below, named by aioc_tls_strerror); "suspends"
 * means a cancellation point that honours deadline scopes; calls are made
 * from the loop's thread. OpenSSL's types never appear here, so users need
 * not include its headers. OpenSSL's error queue is left empty by every
 * call.
 */
#ifndef AIOC_TLS_H
#define AIOC_TLS_H

#include <aioc.h>

#ifdef __cplusplus
extern "C" {
#endif

/// @cond INTERNAL
#if defined(AIOC_TLS_BUILDING) && defined(__GNUC__)
#define AIOC_TLS_EXTERN __attribute__((visibility("default")))
#else
#define AIOC_TLS_EXTERN
#endif
/// @endcond

/* ============================================================= errors == */
/// @defgroup tls_errors TLS: errors
/// @{

/// The base of this adapter's error codes (-12001...).
#define AIOC_TLS_EBASE (-12000)
/// The peer's certificate did not verify: unknown or untrusted issuer,
/// self-signed, expired, not yet valid, revoked... The X509 verify result
/// says which (aioc_tls_opts.verify_result, aioc_tls_verify_string).
#define AIOC_TLS_EVERIFY (-12001)
/// The certificate is valid but names another host (or IP address).
#define AIOC_TLS_EHOSTNAME (-12002)
/// The handshake failed otherwise: no common protocol version or cipher,
/// or the peer sent an alert (it refused our certificate, for instance).
#define AIOC_TLS_EHANDSHAKE (-12003)
/// The peer does not speak TLS (a plain-text server or client), or sent
/// malformed records.
#define AIOC_TLS_EPROTOCOL (-12004)
/// The peer closed the connection without a TLS close_notify: during the
/// handshake, or mid-stream (the data may have been cut short).
#define AIOC_TLS_ETRUNCATED (-12005)
/// A certificate, key or CA file could not be loaded, or the key does not
/// belong to the certificate.
#define AIOC_TLS_ECONFIG (-12006)
/// The context is for the other role (a server context to connect...).
#define AIOC_TLS_EROLE (-12007)

/// A description of `err`: the TLS codes above, or anything aioc_strerror
/// knows. Static; never NULL.
AIOC_TLS_EXTERN const char *aioc_tls_strerror(int err);

/// OpenSSL's description of an X509 verify result (e.g. "certificate has
/// expired"). Static; never NULL.
AIOC_TLS_EXTERN const char *aioc_tls_verify_string(long verify_result);
/// @}

/* =========================================================== contexts == */
/// @defgroup tls_contexts TLS: contexts
/// @{

/// Settings shared by many connections: a client context (whom to trust)
/// or a server context (which certificate to show). Wraps an OpenSSL
/// SSL_CTX with TLS 1.2 as the lowest version. A context may be freed
/// while connections made from it live on; it is used from one thread.
typedef struct aioc_tls_ctx aioc_tls_ctx;

/// Options of a client context (aioc_tls_client_new).
typedef struct aioc_tls_client_opts {
    /// PEM file of CA certificates to trust instead of the system's store
    /// (SSL_CTX_set_default_verify_paths); NULL: the system's store.
    const char *ca_file;
    /// Non-zero: accept any certificate for any name (no verification at
    /// all). Only for tests and private networks you control.
    int insecure_no_verify;
    /// Mutual TLS: the certificate chain (PEM, the client's certificate
    /// first) and its private key that the client shows a server asking
    /// for one (aioc_tls_ctx_require_client_cert). Both or neither.
    const char *cert_file;
    const char *key_file; ///< the private key of `cert_file` (PEM)
} aioc_tls_client_opts;

/// A client context: by default every connection verifies the server's
/// certificate chain against the system's trust store and checks that it
/// names the host connected to. `opts` may be NULL and is only read during
/// the call. Does not suspend. Returns the context (free it with
/// aioc_tls_ctx_free), or NULL with `*err` (may be NULL) set to
/// AIOC_TLS_ECONFIG (the CA file cannot be read or holds no certificate;
/// a client certificate or key cannot be read, does not match, or comes
/// without the other) or -ENOMEM.
AIOC_TLS_EXTERN aioc_tls_ctx *aioc_tls_client_new(const aioc_tls_client_opts *opts, int *err);

/// A server context presenting the certificate chain in PEM file
/// `cert_file` (the server's certificate first, then intermediates) with
/// the private key in `key_file`. Clients are not asked for certificates.
/// Does not suspend. Returns the context, or NULL with `*err` (may be NULL)
/// set to -EINVAL (a NULL file name), AIOC_TLS_ECONFIG (a file cannot be
/// read or parsed, or the key does not match the certificate), -ENOMEM.
AIOC_TLS_EXTERN aioc_tls_ctx *aioc_tls_server_new(const char *cert_file, const char *key_file,
                                                  int *err);

/// Mutual TLS for server context `ctx`: every client must show a
/// certificate that verifies against the CA certificates in PEM file
/// `ca_file` (the server names those CAs in its request). A client that
/// shows none, or one that does not verify, fails its handshake: on the
/// server, aioc_tls_accept (and so aioc_tls_serve, which drops it) fails
/// with AIOC_TLS_EHANDSHAKE or AIOC_TLS_EVERIFY; the client sees
/// AIOC_TLS_EHANDSHAKE (with TLS 1.3 on its first read, as its own
/// handshake ends before the server has checked). aioc_tls_peer_common_name
/// then tells who the client is. Applies to connections accepted after the
/// call. Does not suspend. Returns 0, -EINVAL (NULL argument),
/// AIOC_TLS_EROLE (a client context), AIOC_TLS_ECONFIG (the file cannot
/// be read or holds no certificate).
AIOC_TLS_EXTERN int aioc_tls_ctx_require_client_cert(aioc_tls_ctx *ctx, const char *ca_file);

/// ALPN (RFC 7301): the application protocols, NULL-terminated ("h2",
/// "http/1.1", ...; 1 to 255 bytes each), in order of preference. A client
/// context offers them; a server context picks its first one that the
/// client offers too, and refuses the handshake (AIOC_TLS_EHANDSHAKE on
/// both sides) of a client that offers only others; a client that offers
/// none is served without. aioc_tls_alpn_selected reads the outcome.
/// Replaces an earlier list; copied. Does not suspend. Returns 0, -EINVAL
/// (NULL, empty, or a protocol name of a bad length), -ENOMEM.
AIOC_TLS_EXTERN int aioc_tls_ctx_set_alpn(aioc_tls_ctx *ctx, const char *const *protocols);

/// Drops the caller's reference to `ctx`; it is freed once no server made
/// by aioc_tls_serve uses it. Connections already made are not affected.
/// NULL does nothing. Does not suspend.
AIOC_TLS_EXTERN void aioc_tls_ctx_free(aioc_tls_ctx *ctx);
/// @}

/* ======================================================== connections == */
/// @defgroup tls_connections TLS: connections
/// @{

/* The TLS stream. The calls below return an aioc_stream that owns the
 * connection; every aioc_stream_* call works on it as documented in
 * aioc.h, with these meanings:
 *   - A read returns 0 (the end) once the peer's close_notify came, and
 *     AIOC_TLS_ETRUNCATED if the connection ended without one.
 *   - aioc_stream_write_eof sends close_notify (waiting for room if need
 *     be); reading goes on until the peer's. Later writes give -EPIPE.
 *   - aioc_stream_close flushes, then makes one attempt, without waiting,
 *     to send close_notify, and closes the socket without waiting for the
 *     peer's (as asyncio does). Input not yet read is discarded.
 *   - aioc_stream_abort closes at once as well, and makes the same attempt
 *     at close_notify unless a write was cut short: use aioc_tls_abort to
 *     make sure the peer sees no clean end (AIOC_TLS_ETRUNCATED instead).
 *   - After a protocol error no close_notify is sent.
 *   - aioc_stream_release_fd gives -EINVAL (TLS cannot be taken back). */

/// Options of one connection (aioc_tls_connect, aioc_tls_accept,
/// aioc_tls_start).
typedef struct aioc_tls_opts {
    /// Client: the name sent as SNI and checked against the certificate
    /// (an IP address is checked against the certificate's IP addresses
    /// and not sent). NULL: the host given to aioc_tls_connect_host; with
    /// aioc_tls_connect it is then required unless verification is off.
    /// Ignored by servers.
    const char *server_name;
    /// Seconds the handshake may take (asyncio's ssl_handshake_timeout);
    /// 0: 60; AIOC_NO_TIMEOUT: no limit of its own; negative (or NaN): it
    /// has run out already, so the handshake fails with -ETIMEDOUT.
    /// Enclosing deadline scopes and cancellation apply in any case.
    double handshake_timeout;
    /// Options of the stream returned (line limit, water marks).
    aioc_stream_opts stream;
    /// Output, if not NULL: receives the X509 verify result of the peer's
    /// certificate once the handshake has got that far (0, X509_V_OK, on
    /// success; e.g. 10, X509_V_ERR_CERT_HAS_EXPIRED, with
    /// AIOC_TLS_EVERIFY), else -1.
    long *verify_result;
} aioc_tls_opts;

/// Runs a client handshake on connected socket `fd` with `ctx` and returns
/// a stream over the TLS connection. `fd` is taken over in every case: the
/// stream owns it, and it is closed if the call fails. `opts` may be NULL
/// only with verification off (a verifying client needs
/// opts->server_name); it is only read during the call. Suspends. Returns
/// the stream (see "The TLS stream" above), or NULL with `*err` (may be
/// NULL) set to: AIOC_TLS_EVERIFY, AIOC_TLS_EHOSTNAME,
/// AIOC_TLS_EHANDSHAKE, AIOC_TLS_EPROTOCOL, AIOC_TLS_ETRUNCATED,
/// AIOC_TLS_EROLE (a server context), -EINVAL (no server name while
/// verifying, a bad `fd` or NULL `ctx`), -ETIMEDOUT (the handshake timeout
/// or a deadline scope), -ECANCELED, -ECONNRESET and other socket errors,
/// -ENOMEM, AIOC_ENOTASK.
AIOC_TLS_EXTERN aioc_stream *aioc_tls_connect(int fd, aioc_tls_ctx *ctx, const aioc_tls_opts *opts,
                                              int *err);

/// Connects to `host` and `port` with aioc_tcp_connect (Happy Eyeballs),
/// then runs the handshake as aioc_tls_connect, checking the certificate
/// against `host` unless opts->server_name says otherwise. The handshake
/// timeout covers the handshake only: put both in a deadline scope to
/// bound the whole. Suspends. Returns the stream, or NULL with `*err` set
/// to aioc_tcp_connect's errors or aioc_tls_connect's.
AIOC_TLS_EXTERN aioc_stream *aioc_tls_connect_host(const char *host, const char *port,
                                                   aioc_tls_ctx *ctx, const aioc_tls_opts *opts,
                                                   int *err);

/// Runs a server handshake on accepted socket `fd` with server context
/// `ctx`; as aioc_tls_connect otherwise (`fd` is taken over in every
/// case). Suspends. Returns the stream, or NULL with `*err` set to
/// AIOC_TLS_EPROTOCOL (a client that does not speak TLS),
/// AIOC_TLS_EHANDSHAKE (no common version or cipher; the client refused
/// our certificate), AIOC_TLS_ETRUNCATED, AIOC_TLS_EROLE, -EINVAL,
/// -ETIMEDOUT, -ECANCELED, socket errors, -ENOMEM, AIOC_ENOTASK.
AIOC_TLS_EXTERN aioc_stream *aioc_tls_accept(int fd, aioc_tls_ctx *ctx, const aioc_tls_opts *opts,
                                             int *err);

/// STARTTLS (asyncio's start_tls): upgrades the plain stream `plain`, which
/// has nothing buffered (drain what was written, and read no further than
/// the protocol's "go ahead"), to TLS in the role of `ctx` (client or
/// server). The descriptor is taken from `plain` with
/// aioc_stream_release_fd; `plain` stays the caller's to close (which then
/// closes nothing) and must not be used otherwise. Suspends. Returns the
/// TLS stream, or NULL with `*err` set: -EBUSY (`plain` has buffered bytes
/// or a call in progress: nothing changed, `plain` is still usable),
/// -EINVAL (not a descriptor stream), or aioc_tls_connect's or
/// aioc_tls_accept's errors (the descriptor is closed then).
AIOC_TLS_EXTERN aioc_stream *aioc_tls_start(aioc_stream *plain, aioc_tls_ctx *ctx,
                                            const aioc_tls_opts *opts, int *err);

/// The common name (CN) in the subject of the peer's certificate, as UTF-8,
/// into `buf` (`cap` bytes, NUL-terminated): on a server with
/// aioc_tls_ctx_require_client_cert, the client it verified. Does not
/// suspend. Returns the name's length (of the last CN, if the subject has
/// several), or -ENOENT (the peer showed no certificate, or it has no CN),
/// -EINVAL (not a TLS stream, or a CN that is not a string or holds a NUL
/// byte), -ENOSPC (`buf` too small).
AIOC_TLS_EXTERN int aioc_tls_peer_common_name(const aioc_stream *s, char *buf, size_t cap);

/// The application protocol ALPN settled on (aioc_tls_ctx_set_alpn), into
/// `buf` (`cap` bytes, NUL-terminated). Does not suspend. Returns its
/// length, or -ENOENT (none: one side did not use ALPN), -EINVAL (not a
/// TLS stream), -ENOSPC.
AIOC_TLS_EXTERN int aioc_tls_alpn_selected(const aioc_stream *s, char *buf, size_t cap);

/// aioc_stream_abort for a TLS stream, without close_notify: the peer
/// reads AIOC_TLS_ETRUNCATED, never a clean end, so it cannot take what
/// was dropped for a complete message. Does not suspend. NULL does
/// nothing; `s` must be a TLS stream (for another stream it is
/// aioc_stream_abort).
AIOC_TLS_EXTERN void aioc_tls_abort(aioc_stream *s);

/// aioc_tcp_serve over TLS: each accepted connection is handed to
/// aioc_tls_start with server context `ctx` in its handler task, and `fn`
/// receives the TLS stream, which is closed when `fn` returns (with
/// close_notify; aborted with aioc_tls_abort if the handler task was
/// cancelled), as the plain server does. A connection whose handshake fails is dropped without
/// calling `fn`. The server keeps a reference to `ctx` and a small record
/// that are freed when aioc_run ends. `opts` and `tls_opts` may be NULL
/// (tls_opts->stream is ignored: opts->stream applies, and
/// tls_opts->verify_result must be NULL). Close it with aioc_server_close.
/// Suspends only to resolve `host`. Returns the server, or NULL with
/// `*err` (may be NULL) set: AIOC_TLS_EROLE (a client context), -EINVAL
/// (NULL `ctx` or `fn`, or a verify_result), AIOC_ENOLOOP, -ENOMEM, or
/// aioc_tcp_serve's errors.
AIOC_TLS_EXTERN aioc_server *aioc_tls_serve(const char *host, const char *port, aioc_tls_ctx *ctx,
                                            aioc_stream_handler fn, void *arg,
                                            const aioc_server_opts *opts,
                                            const aioc_tls_opts *tls_opts, int *err);
/// @}

#ifdef __cplusplus
}
#endif
#endif /* AIOC_TLS_H */
