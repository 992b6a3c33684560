/**
 * @file
 * aioc_http — an HTTP/1.1 server for aioc (aiohttp's web server), parsing
 * with llhttp.
 *
 * Each connection is served by one task: it reads a request, runs the
 * handler in that same task (so the handler may suspend: sleep, await other
 * tasks, call aioc_to_thread), writes the response, and goes on with the
 * next request of the connection. Pipelined requests are answered in order.
 * The server enforces limits (head bytes, header count, body bytes) and
 * deadlines (the whole request head, each body read, idle keep-alive), and
 * closes gracefully. The connection code takes any aioc_stream, so another
 * transport's listener serves HTTP too: HTTPS is the TLS adapter's
 * aioc_tls_serve running aioc_http_stream_handler (see there).
 *
 * Conventions are aioc.h's: errors are negative errno values or AIOC_E*
 * codes, "suspends" marks calls that may park the task, and everything runs
 * on the loop's thread.
 *
 *     static int user(aioc_http_request *req, aioc_http_response *res, void *arg) {
 *         char json[64];
 *         snprintf(json, sizeof json, "{\"id\":\"%s\"}", aioc_http_request_param(req, "id"));
 *         return aioc_http_response_json(res, 200, json);
 *     }
 *     ...in a task:
 *     aioc_http_router *r = aioc_http_router_new();
 *     aioc_http_route(r, "GET", "/users/:id", user, NULL);
 *     aioc_http_server *srv = aioc_http_serve("127.0.0.1", "8080",
 *                                             aioc_http_router_handle, r, NULL, &err);
 *     ...until it is time to stop:
 *     aioc_http_server_close(srv, 5.0);
 *     aioc_http_router_free(r);
 */
#ifndef AIOC_HTTP_H
#define AIOC_HTTP_H

#include <aioc.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// @cond INTERNAL
#if defined(AIOC_HTTP_BUILDING) && defined(__GNUC__)
#define AIOC_HTTP_EXTERN __attribute__((visibility("default")))
#else
#define AIOC_HTTP_EXTERN
#endif
/// @endcond

/// A server: its routes, its listener and its connections.
typedef struct aioc_http_server aioc_http_server;
/// A request being handled: method, target, headers and body.
typedef struct aioc_http_request aioc_http_request;
/// The response a handler fills in: status, headers and body.
typedef struct aioc_http_response aioc_http_response;

/// Handles one request: reads `req`, fills in `res`. Runs in the
/// connection's task and may suspend. `req` and `res` are valid only during
/// the call. Return 0, or a negative error: if nothing of the response was
/// sent yet, the client gets a 500 instead; if it was (a streamed response),
/// the connection is closed. A handler that sets nothing sends an empty 200.
typedef int (*aioc_http_handler)(aioc_http_request *req, aioc_http_response *res, void *arg);

/* ============================================================ server == */
/// @defgroup http_server HTTP server: server
/// @{

/// Options of aioc_http_server_new; zeroed fields take the defaults.
typedef struct aioc_http_opts {
    /// The request line and headers; 0: 16 KiB (at most 16 MiB). Over: 431
    /// (414 when the request target alone is over).
    size_t max_head_bytes;
    size_t max_headers;    ///< header lines per request; 0: 100 (at most 65536); over: 431
    size_t max_body_bytes; ///< a request body, buffered; 0: 1 MiB; over: 413
    /// The whole request head must arrive within this many seconds of its
    /// first byte (of the connection's start, for the first request);
    /// 0: 10 s. Over: 408 and the connection closes (slowloris). In each
    /// of the four timeouts AIOC_NO_TIMEOUT means none; a negative or NaN
    /// one is refused (aioc_http_server_new: EINVAL).
    double head_timeout;
    /// Each read of a request body must bring bytes within this; 0: 30 s.
    double body_timeout;
    /// A keep-alive connection waiting for its next request is closed this
    /// many seconds after its last response; 0: 15 s. No response is sent.
    double idle_timeout;
    /// A write of a response (or its final flush) that finds no room for
    /// this many seconds ends the connection (a peer that stopped reading);
    /// 0: 30 s. The handler's write returns -ETIMEDOUT.
    double write_timeout;
    /// TCP listening: backlog, handler stack size, stream options.
    aioc_server_opts server;
} aioc_http_opts;

/* What the server refuses itself, before any handler runs (RFC 9112 and
 * RFC 9110; the request parser is llhttp in strict mode, its lenient
 * flags off). Each gets a short text/plain response with "Connection:
 * close", then the server stops reading requests, lingers a moment and
 * closes:
 *
 *   400  a request line, field line or chunk that does not parse: a
 *        method or field name that is not a token, an empty field name,
 *        whitespace between a field name and its colon, a bare CR or a
 *        NUL, obsolete line folding, whitespace before the first field
 *        line, a chunk size that is not hex; an HTTP/1.1 request without
 *        Host, any request with two Host lines, a Host that is not
 *        uri-host[:port]; a Content-Length that is not digits, or two
 *        that differ (or agree); Content-Length and Transfer-Encoding
 *        together; Transfer-Encoding whose last coding is not chunked,
 *        that has chunked twice, or in an HTTP/1.0 request; a target that
 *        is not "/path", "*", or an absolute http(s) URI with a host
 *   408  a head that did not arrive within head_timeout
 *   413  a body over max_body_bytes (an announced one before any
 *        100 Continue)
 *   414  a request target that alone passes max_head_bytes
 *   417  an Expect other than 100-continue
 *   431  a head over max_head_bytes, or with over max_headers lines
 *   501  a method that is a token but not one llhttp knows, CONNECT
 *        (no tunnels), a transfer coding other than chunked ("gzip,
 *        chunked")
 *   505  an HTTP major version other than 1 (llhttp also refuses minor
 *        versions above 1, with 400)
 *
 * A target in absolute-form ("GET http://example.com/p HTTP/1.1") is
 * accepted: the handler sees "/p" as its path and the target's authority
 * as the Host header's value (an origin server must ignore the Host sent
 * with it). adapters/http/tests/test_conformance.c holds these cases and
 * more, run against this server and against nginx. */

/// Creates a server that runs `fn(req, res, arg)` for each request, with no
/// listener yet: add one with aioc_http_listen, or hand it connections with
/// aioc_http_serve_stream. `opts` may be NULL and is copied; `arg` is
/// borrowed. Does not suspend. Returns NULL with errno EINVAL (no `fn`, or
/// a negative or NaN timeout in `opts`) or ENOMEM. Free it with
/// aioc_http_server_close.
AIOC_HTTP_EXTERN aioc_http_server *aioc_http_server_new(aioc_http_handler fn, void *arg,
                                                        const aioc_http_opts *opts);

/// Listens on TCP `host` (NULL: every address) and `port` ("0": any free
/// one), a task per connection (aioc_tcp_serve). One listener per server.
/// Suspends only to resolve `host`. Returns 0, -EBUSY (already listening,
/// or closing), or aioc_tcp_serve's errors (-EADDRINUSE, a resolver error,
/// -ENOMEM, AIOC_ENOTASK).
AIOC_HTTP_EXTERN int aioc_http_listen(aioc_http_server *h, const char *host, const char *port);

/// Creates a server and listens: aioc_http_server_new + aioc_http_listen.
/// Returns the server, or NULL with `*err` (may be NULL) set.
AIOC_HTTP_EXTERN aioc_http_server *aioc_http_serve(const char *host, const char *port,
                                                   aioc_http_handler fn, void *arg,
                                                   const aioc_http_opts *opts, int *err);

/// The port listened on (useful after "0"); 0 without a listener.
AIOC_HTTP_EXTERN int aioc_http_server_port(const aioc_http_server *h);

/// Connections being served now (TCP and aioc_http_serve_stream ones).
AIOC_HTTP_EXTERN size_t aioc_http_server_connections(const aioc_http_server *h);

/// Serves HTTP on `s`, a connection from any transport, in the calling
/// task, until the peer closes, a request asks to close, an error or
/// deadline ends it, or the server closes. The stream stays the caller's:
/// close it after, or abort it (aioc_stream_abort) after an error, since
/// bytes may be left that the peer does not read.
/// Suspends. Returns 0 when the connection ended normally (the peer
/// closed, a response closed it, a request the server refuses was
/// answered with its 4xx or 5xx (see above), or the server closed it
/// while idle);
/// -ETIMEDOUT when one of the server's deadlines ended it (idle, head:
/// after a 408, body, write); -ECANCELED; a stream error (-EPIPE, -ECONNRESET,
/// ...); -EBUSY if the server is closing; -ENOMEM; AIOC_ENOTASK.
AIOC_HTTP_EXTERN int aioc_http_serve_stream(aioc_http_server *h, aioc_stream *s);

/// The stream handler aioc_http_listen gives aioc_tcp_serve, for listeners
/// of other transports: pass it, with the aioc_http_server as its argument,
/// to their serve function, and hand the listener to aioc_http_server_adopt.
/// HTTPS is the TLS adapter's listener (aioc_tls.h):
///
///     aioc_http_server *h = aioc_http_server_new(fn, arg, &opts);
///     aioc_server *l = aioc_tls_serve(NULL, "8443", tls_ctx, aioc_http_stream_handler,
///                                     h, &opts.server, NULL, &err);
///     if (l) aioc_http_server_adopt(h, l);
///
/// It runs aioc_http_serve_stream on `s` and, when the connection broke
/// with response bytes still buffered, cancels its own task so that the
/// listener aborts the stream instead of flushing it to a peer that stopped
/// reading. Suspends (it is the connection's task).
AIOC_HTTP_EXTERN void aioc_http_stream_handler(aioc_stream *s, void *server);

/// Makes `listener` (a server running aioc_http_stream_handler for `h`)
/// the server's own, as aioc_http_listen's would be: its port is
/// aioc_http_server_port's, and aioc_http_server_close closes it with the
/// same grace. Does not suspend. Returns 0, -EINVAL (NULL listener), or
/// -EBUSY (the server already has one, or is closing: `listener` stays the
/// caller's).
AIOC_HTTP_EXTERN int aioc_http_server_adopt(aioc_http_server *h, aioc_server *listener);

/// Closes gracefully and frees the server: stops accepting, closes the
/// connections that wait for a request, lets requests in progress finish
/// (their responses say "Connection: close") for up to `grace` seconds
/// (AIOC_NO_TIMEOUT: as long as they take; 0 or less: no time), then
/// cancels the tasks still serving (aioc_http_serve_stream callers' tasks
/// included) and waits for them. Suspends, shielded: it finishes the same
/// way for a caller that is cancelled or past a deadline. Returns 0, or
/// -ETIMEDOUT if some had to be cancelled. NULL does nothing. Not from a
/// handler (it would wait for its own connection). A server still open
/// when aioc_run ends is closed then, its connections cancelled with every
/// other task.
AIOC_HTTP_EXTERN int aioc_http_server_close(aioc_http_server *h, double grace);
/// @}

/* =========================================================== request == */
/// @defgroup http_request HTTP server: request
/// @{

/// The method as sent ("GET", "POST", ...).
AIOC_HTTP_EXTERN const char *aioc_http_request_method(const aioc_http_request *req);

/// The request target's path, before any '?', as sent (not percent-decoded).
AIOC_HTTP_EXTERN const char *aioc_http_request_path(const aioc_http_request *req);

/// The query string after '?' (without it), as sent; "" if none. See
/// aioc_http_request_query_get for its pairs.
AIOC_HTTP_EXTERN const char *aioc_http_request_query(const aioc_http_request *req);

/// The HTTP minor version: 1 for HTTP/1.1, 0 for HTTP/1.0.
AIOC_HTTP_EXTERN int aioc_http_request_minor(const aioc_http_request *req);

/// The value of the first header named `name` (case-insensitive), or NULL.
/// For a request with an absolute-form target, "Host" gives the target's
/// authority (RFC 9112 §3.2.2).
AIOC_HTTP_EXTERN const char *aioc_http_request_header(const aioc_http_request *req,
                                                      const char *name);

/// The number of header lines.
AIOC_HTTP_EXTERN size_t aioc_http_request_header_count(const aioc_http_request *req);

/// Header line `i` (< the count): its name and value. Returns 0 or -ERANGE.
AIOC_HTTP_EXTERN int aioc_http_request_header_at(const aioc_http_request *req, size_t i,
                                                 const char **name, const char **value);

/// The client's address as text ("127.0.0.1:54321", "[::1]:54321"; see
/// aioc_address_format): the connection's peer, not what a proxy's
/// X-Forwarded-For says. Does not suspend. Returns its length, or
/// -ENOTSOCK (a stream not over a socket), -ENOTCONN, -ENOSPC (use
/// AIOC_ADDRSTRLEN bytes).
AIOC_HTTP_EXTERN int aioc_http_request_peer_address(const aioc_http_request *req, char *buf,
                                                    size_t n);

/// The request body, read whole before the handler runs (at most
/// max_body_bytes); `*len` (may be NULL) receives its length. Always
/// NUL-terminated for convenience; "" when there is none. Owned by the
/// server, valid during the handler.
AIOC_HTTP_EXTERN const char *aioc_http_request_body(const aioc_http_request *req, size_t *len);

/// The value of path parameter `name` (":name" in a route), or NULL. As
/// sent: percent-decode it with aioc_http_percent_decode where it may hold
/// escapes.
AIOC_HTTP_EXTERN const char *aioc_http_request_param(const aioc_http_request *req,
                                                     const char *name);

/// Finds `name` among the query string's pairs ("a=1&b=x%20y&flag") and
/// percent-decodes its value into `buf` (`cap` bytes, NUL-terminated;
/// '+' is a space, as HTML forms send it). Names are compared decoded (a
/// name of 256 bytes or more, decoded, never matches); the first pair with
/// the name wins; a name without '=' has the value "".
/// Does not suspend. Returns the value's length, or -ENOENT (no such
/// name), -ENOSPC (`buf` too small: nothing useful in it), -EINVAL (a
/// malformed escape in the value, or one that decodes to a NUL byte).
AIOC_HTTP_EXTERN long aioc_http_request_query_get(const aioc_http_request *req, const char *name,
                                                  char *buf, size_t cap);

/// Percent-decodes the `n` bytes at `in` into `out` (`cap` bytes,
/// NUL-terminated; `n` + 1 always suffices): "%2F" becomes '/', and '+'
/// becomes a space if `plus_is_space` (query strings and forms; not in
/// paths). Does not suspend. Returns the decoded length, -EINVAL (a '%'
/// not followed by two hex digits, or "%00"), -ENOSPC (`out` too small).
AIOC_HTTP_EXTERN long aioc_http_percent_decode(const char *in, size_t n, char *out, size_t cap,
                                               bool plus_is_space);
/// @}

/* ========================================================== response == */
/// @defgroup http_response HTTP server: response
/// @{

/* A response is either buffered (status, headers, then one body: sent when
 * the handler returns, with Content-Length) or streamed (the first
 * aioc_http_response_write sends the head with Transfer-Encoding: chunked,
 * or the handler's own Content-Length; each write is sent as it comes).
 * HEAD requests get the head alone in both cases. */

/// Sets the status (200-999; default 200; 204 and 304 are sent without a
/// body). Returns 0, -EINVAL, or -EALREADY once the head was sent.
AIOC_HTTP_EXTERN int aioc_http_response_status(aioc_http_response *res, int status);

/// The status set so far (200 unless a handler or the router set another;
/// a router fallback reads 404 or 405 here). Does not suspend.
AIOC_HTTP_EXTERN int aioc_http_response_get_status(const aioc_http_response *res);

/// Adds a header line (both strings copied; no CR or LF allowed; a name
/// has no ':' or space). The server adds Date, the framing header and
/// Connection itself: do not set Transfer-Encoding. Setting Content-Length
/// replaces the server's (the handler must then send exactly that many
/// bytes: a body of that length, or writes of a streamed response, which
/// then go out raw, not as chunks); a "Connection: close" header closes
/// the connection after the response.
/// Returns 0, -EINVAL, -EALREADY (head sent), -ENOMEM.
AIOC_HTTP_EXTERN int aioc_http_response_header(aioc_http_response *res, const char *name,
                                               const char *value);

/// Sets the body to a copy of `n` bytes of `data`. Returns 0, -EALREADY
/// (streaming started), -ENOMEM.
AIOC_HTTP_EXTERN int aioc_http_response_body(aioc_http_response *res, const void *data, size_t n);

/// Sets the body to `n` bytes of `data` without copying: `data` must stay
/// valid until the handler returns. Returns 0 or -EALREADY.
AIOC_HTTP_EXTERN int aioc_http_response_body_borrowed(aioc_http_response *res, const void *data,
                                                      size_t n);

/// A JSON response: the status, "Content-Type: application/json" and a
/// copy of `json` (a NUL-terminated string, not checked). Returns as
/// aioc_http_response_body, or -EINVAL for a bad status.
AIOC_HTTP_EXTERN int aioc_http_response_json(aioc_http_response *res, int status, const char *json);

/// Streams `n` bytes of the body: sends the head first if it was not sent,
/// then the bytes (one chunk, unless the handler set Content-Length).
/// n == 0 sends nothing but the head. Suspends while the connection's
/// write buffer is full. Returns 0, -EALREADY (a buffered body was set, or
/// the response ended), -EPIPE / a stream error (the peer went away: the
/// connection will close), -ECANCELED, -ETIMEDOUT.
AIOC_HTTP_EXTERN int aioc_http_response_write(aioc_http_response *res, const void *data, size_t n);

/// Sends the regular file at `path` as the body (aiohttp's FileResponse):
/// opens it and reads it with aioc's file API (aioc_file_*: on the thread
/// pool, or on io_uring where the program called aioc_uring_install; a
/// slow disk never stalls the loop), adds Content-Length and, unless the handler set one, a
/// Content-Type from the name's extension (html, css, js, json, txt, svg,
/// png, jpg, wasm, ...; else application/octet-stream), then streams the
/// file 64 KiB at a time through the connection (TLS included). A HEAD
/// request gets the head alone. `path` is opened as given: a handler that
/// builds it from the request must refuse ".." segments itself. Suspends.
/// Returns 0; before anything is sent (answer the client yourself, e.g.
/// 404): -ENOENT, -EACCES, -EISDIR, -EINVAL (NULL, or not a regular file),
/// -EALREADY (a body or head was set or sent), -ENOMEM, -ECANCELED; once
/// sending started, a stream error or -EIO (the file shrank while it was
/// sent): the connection then closes.
AIOC_HTTP_EXTERN int aioc_http_response_file(aioc_http_response *res, const char *path);

/// Hands the connection over to another protocol (an HTTP/1.1 Upgrade,
/// such as WebSocket's: see aioc_ws.h, which does all of this for you):
/// writes "HTTP/1.1 101 Switching Protocols" and the headers the handler
/// set (nothing else: no Date, no framing header; the handler sets
/// Upgrade and "Connection: Upgrade" itself), and gives the handler the
/// connection's stream in `*s` and, in `*pending` / `*npending` (either may
/// be NULL), the bytes the server had already read past the request: they
/// are the new protocol's first bytes (llhttp stops at the end of an
/// upgrade request's head; a client may send its first frames right
/// behind it). `*pending` stays valid until the handler returns or reads
/// from the stream, whichever comes first: copy it before reading.
/// From then on the handler owns the conversation on `*s` until it
/// returns; the server then ends the connection (it reads no more HTTP
/// from it; a negative result, such as a stream error, makes the TCP
/// handler abort rather than flush a stream with bytes still buffered).
/// The request stays readable until the handler returns; what only HTTP
/// needed (the read buffer, the head arena beyond this request) is freed
/// here, so a long-lived upgraded connection holds little of HTTP's.
/// The stream stays the server's: never close it. The check that the
/// request asked for the upgrade (its Upgrade and Connection headers) is
/// the handler's. Suspends only while the write buffer is full. Returns 0,
/// -EALREADY (a head was sent, a body streamed, or already upgraded),
/// -EINVAL (an HTTP/1.0 or HEAD request: no upgrade), -ENOMEM, a stream
/// error (-EPIPE, ...), -ECANCELED, -ETIMEDOUT (the write timeout).
AIOC_HTTP_EXTERN int aioc_http_response_upgrade(aioc_http_response *res, aioc_stream **s,
                                                const void **pending, size_t *npending);

/// Ends a streamed response (the last chunk); done for the handler when it
/// returns. Suspends. Returns 0 or a stream error; 0 if already ended.
AIOC_HTTP_EXTERN int aioc_http_response_end(aioc_http_response *res);
/// @}

/* ============================================================ router == */
/// @defgroup http_router HTTP server: router
/// @{

/// Routes requests by method and path to handlers; it is itself a handler
/// (aioc_http_router_handle), so pass it as the server's `arg`.
typedef struct aioc_http_router aioc_http_router;

/// An empty router. Returns NULL with errno ENOMEM.
AIOC_HTTP_EXTERN aioc_http_router *aioc_http_router_new(void);

/// Frees the router (after the server using it is closed). NULL is fine.
AIOC_HTTP_EXTERN void aioc_http_router_free(aioc_http_router *r);

/// Adds a route: `method` ("GET", ...; NULL or "*": any; GET routes also
/// answer HEAD) and `pattern`, a path matched segment by segment: a
/// literal segment matches itself, ":name" matches any one segment (read
/// it with aioc_http_request_param), and a last segment "*" matches the
/// rest of the path, however long (a prefix route: "/static/*"). Routes are
/// tried in the order they were added. A path no route matches gets 404; a
/// path some route matches with other methods only gets 405 with an Allow
/// header. Copies both strings. Returns 0, -EINVAL (a pattern not starting
/// with '/', "*" not last, over 8 parameters), -ENOMEM.
AIOC_HTTP_EXTERN int aioc_http_route(aioc_http_router *r, const char *method, const char *pattern,
                                     aioc_http_handler fn, void *arg);

/// Sets the handler for requests no route takes (NULL: the default, a
/// plain-text "Not Found" or "Method Not Allowed"). When it runs, the
/// response already has its status, 404 or 405, and for 405 the Allow
/// header; the handler sets the body (a JSON error, say) and may change
/// the rest. Does not suspend.
AIOC_HTTP_EXTERN void aioc_http_router_fallback(aioc_http_router *r, aioc_http_handler fn,
                                                void *arg);

/// The router as a handler: `arg` is the aioc_http_router. Returns what
/// the chosen handler returns (0 for 404/405, or the fallback's result).
AIOC_HTTP_EXTERN int aioc_http_router_handle(aioc_http_request *req, aioc_http_response *res,
                                             void *arg);
/// @}

#ifdef __cplusplus
}
#endif
#endif /* AIOC_HTTP_H */
