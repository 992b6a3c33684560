/**
 * @file
 * aioc_ws — WebSockets (RFC 6455) for aioc: a server side that takes over
 * a route's connection from aioc_http, a ws:// and wss:// client, and one
 * message API for both, in aioc's blocking style.
 *
 *     static int chat(aioc_http_request *req, aioc_http_response *res, void *arg) {
 *         int err;
 *         aioc_ws *ws = aioc_ws_accept(req, res, NULL, &err);
 *         if (!ws)
 *             return err == AIOC_WS_EHANDSHAKE ? 0 : err; // 400/426 was set
 *         aioc_ws_msg m;
 *         while ((err = aioc_ws_recv(ws, &m)) == 0)
 *             aioc_ws_send(ws, m.type, m.data, m.len); // echo
 *         // err == AIOC_EOF: the peer closed (aioc_ws_close_code says how)
 *         aioc_ws_free(ws);
 *         return 0;
 *     }
 *     ...a client, in a task:
 *     aioc_ws *ws = aioc_ws_connect("wss://example.com/chat", NULL, &err);
 *     aioc_ws_send_text(ws, "hi", 2);
 *     aioc_ws_recv(ws, &m);
 *     aioc_ws_close(ws, AIOC_WS_NORMAL, "bye");
 *     aioc_ws_free(ws);
 *
 * The framing is aioc's own (frame.c), not libwslay's: wslay 1.1.1 (Debian's
 * libwslay-dev) has a framer with no I/O of its own, but its event layer
 * drives I/O through send/recv callbacks that return WOULDBLOCK, queues every
 * outgoing message in a malloc'd copy and buffers incoming fragments in
 * malloc'd chunks: a second buffer layer beside aioc_stream's, built for a
 * callback loop. Its low-level wslay_frame_* works the same way, through
 * callbacks. In a task, a frame is two small reads from the stream's buffer
 * and a payload read straight into the message, and a send is a header and
 * the payload written to the stream's coalescing buffer: no per-frame
 * allocation, and the stream's high-water mark is the back-pressure. wslay
 * does not do permessage-deflate either (it can only let RSV1 through,
 * wslay_event_config_set_allowed_rsv_bits), so the compression, its limits
 * and the UTF-8 check of inflated text would be ours in any case.
 *
 * Conventions are aioc.h's: errors are negative errno values, AIOC_E* or the
 * AIOC_WS_E* codes below (aioc_ws_strerror names them all); "suspends" marks
 * calls that may park the task, and each such call is a cancellation point
 * that honours deadline scopes; constructors that do I/O return NULL with
 * `*err` set. One task may receive while others send: sends are serialised
 * by the connection, and a close handshake started while a task receives is
 * finished by that receiver.
 */
#ifndef AIOC_WS_H
#define AIOC_WS_H

#include <aioc.h>
#include <aioc_http.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// @cond INTERNAL
#if defined(AIOC_WS_BUILDING) && defined(__GNUC__)
#define AIOC_WS_EXTERN __attribute__((visibility("default")))
#else
#define AIOC_WS_EXTERN
#endif
/// @endcond

/* ============================================================= errors == */
/// @defgroup ws_errors WebSocket: errors
/// @{

/// The base of this adapter's error codes (-16001...).
#define AIOC_WS_EBASE (-16000)
/// The opening handshake failed: a request that is not a valid WebSocket
/// upgrade (aioc_ws_accept set the response: 400, or 426 with
/// Sec-WebSocket-Version: 13), or a server's answer that is not a valid 101
/// (another status, a wrong Sec-WebSocket-Accept, an extension or
/// subprotocol that was not offered).
#define AIOC_WS_EHANDSHAKE (-16001)
/// The peer broke the protocol (an unmasked client frame, a masked server
/// frame, reserved bits, an unknown opcode, a bad control frame, a
/// continuation out of place, an invalid close code): closed with 1002.
#define AIOC_WS_EPROTOCOL (-16002)
/// A text message (or close reason) that is not UTF-8: closed with 1007.
#define AIOC_WS_EUTF8 (-16003)
/// A message over max_message bytes (compressed or not): closed with 1009.
#define AIOC_WS_ETOOBIG (-16004)
/// The close handshake has begun: no more data can be sent.
#define AIOC_WS_ECLOSED (-16005)
/// The connection ended without a close frame (the peer vanished, maybe
/// mid-frame); aioc_ws_close_code reads 1006.
#define AIOC_WS_EABNORMAL (-16006)
/// The heartbeat's ping went unanswered for a whole interval: the peer
/// is taken for dead and the connection dropped.
#define AIOC_WS_EHEARTBEAT (-16007)
/// A URL that is not ws://host[:port][/path] or wss://...
#define AIOC_WS_EURL (-16008)
/// Compressed data from the peer (permessage-deflate) that does not
/// inflate: closed with 1007.
#define AIOC_WS_EDEFLATE (-16009)

/// A description of `err`: the codes above, or anything aioc_strerror (and
/// the TLS adapter's aioc_tls_strerror) knows. Static; never NULL.
AIOC_WS_EXTERN const char *aioc_ws_strerror(int err);
/// @}

/* ======================================================= close codes == */
/// @defgroup ws_close_codes WebSocket: close codes
/// @{

/// RFC 6455 §7.4.1. 1005 (no code), 1006 (abnormal) and 1015 (TLS) are
/// never sent: aioc_ws_close_code reports them.
#define AIOC_WS_NORMAL 1000         ///< normal closure
#define AIOC_WS_GOING_AWAY 1001     ///< the endpoint is going away (shutdown, page left)
#define AIOC_WS_PROTOCOL_ERROR 1002 ///< a protocol error
#define AIOC_WS_UNSUPPORTED 1003    ///< a data type the endpoint cannot accept
#define AIOC_WS_NO_STATUS 1005      ///< reported only: the close frame had no code
#define AIOC_WS_ABNORMAL 1006       ///< reported only: no close frame at all
#define AIOC_WS_INVALID_DATA 1007   ///< data not consistent with its type (bad UTF-8)
#define AIOC_WS_POLICY 1008         ///< a message that violates the endpoint's policy
#define AIOC_WS_TOO_BIG 1009        ///< a message too big to process
#define AIOC_WS_EXTENSION 1010      ///< the server did not agree to a needed extension
#define AIOC_WS_INTERNAL 1011       ///< the server met an unexpected condition
/// @}

/* ============================================================ options == */
/// @defgroup ws_options WebSocket: options
/// @{

/// Options of aioc_ws_accept and aioc_ws_connect; zeroed fields take the
/// defaults.
typedef struct aioc_ws_opts {
    /// The largest message received, in bytes, after decompression; 0:
    /// 1 MiB. Over it the connection closes with 1009 (AIOC_WS_ETOOBIG).
    size_t max_message;
    /// Outgoing messages longer than this go out in fragments of this size;
    /// 0: 64 KiB.
    size_t fragment_size;
    /// Subprotocols, NULL-terminated, in order of preference. A server
    /// picks its first one the client offers (Sec-WebSocket-Protocol); none
    /// in common: no subprotocol (the handler may refuse the client after
    /// reading aioc_ws_subprotocol). A client offers them all and accepts
    /// only one of them back. NULL: none. Copied.
    const char *const *subprotocols;
    /// Seconds without a frame from the peer after which a task in
    /// aioc_ws_recv sends a ping; if nothing comes back within as long
    /// again, the peer is dead: the connection is dropped and recv returns
    /// AIOC_WS_EHEARTBEAT. 0: no heartbeat.
    double heartbeat;
    /// How long aioc_ws_close waits for the peer's close frame (and, on a
    /// client, for the server to end the TCP connection); 0: 5 s.
    double close_timeout;
    /// Non-zero: no permessage-deflate (RFC 7692). By default a server
    /// accepts the client's offer and a client makes one.
    int no_deflate;
    /// Messages shorter than this are sent uncompressed even when
    /// permessage-deflate is in use (compressing a few bytes costs more
    /// than it saves); 0: 64. 1 compresses every non-empty message.
    size_t deflate_min;
    /// zlib's window for what this side compresses, 9 to 15; 0: 15. A
    /// smaller one (a server says server_max_window_bits) saves memory per
    /// connection. The compressor and decompressor of a connection are
    /// made at its first compressed message, not before.
    int deflate_window_bits;
    /// aioc_ws_try_send refuses a message (-EAGAIN) while this many bytes or
    /// more wait in the connection's write buffer; 0: 64 KiB (the stream's
    /// default high-water mark, at which a blocking send waits).
    size_t high_water;
    /// Client only: the stream's options (water marks), and TLS for wss://
    /// (a client context; NULL: one that verifies against the system's
    /// trust store, made for the call), its options (server_name), the
    /// Origin header to send (NULL: none) and extra header lines
    /// ("Name: value\r\n..." or NULL, e.g. Authorization).
    aioc_stream_opts stream;
    struct aioc_tls_ctx *tls;             ///< client: the TLS context for wss://
    const struct aioc_tls_opts *tls_opts; ///< client: the TLS options
    const char *origin;                   ///< client: the Origin header
    const char *headers;                  ///< client: extra header lines
} aioc_ws_opts;
/// @}

/* ======================================================== connections == */
/// @defgroup ws_connections WebSocket: connections
/// @{

/// A WebSocket connection, server or client side.
typedef struct aioc_ws aioc_ws;

/// Server side, from an aioc_http handler: checks that `req` is a WebSocket
/// upgrade (GET, HTTP/1.1, Upgrade: websocket, Connection: upgrade,
/// Sec-WebSocket-Key of 16 bytes, version 13), picks the subprotocol and
/// permessage-deflate's parameters, sends the 101 (aioc_http_response_upgrade)
/// and returns the connection, which holds the handler's connection until
/// aioc_ws_free: use it, then free it, before the handler returns. `opts` may
/// be NULL and is copied. Suspends (to send the 101). Returns the
/// connection, or NULL with `*err` (may be NULL) set: AIOC_WS_EHANDSHAKE
/// (not a valid upgrade: `res` was set to 400, or to 426 with the version
/// this server speaks; return 0 from the handler to send it), -ENOMEM, or
/// aioc_http_response_upgrade's errors.
AIOC_WS_EXTERN aioc_ws *aioc_ws_accept(aioc_http_request *req, aioc_http_response *res,
                                       const aioc_ws_opts *opts, int *err);

/// Client side: connects to `url` (ws://host[:port][/path][?query], or
/// wss:// over the TLS adapter; IPv6 hosts in brackets), sends the upgrade
/// request with a random key, the subprotocols and a permessage-deflate
/// offer, and checks the 101. `opts` may be NULL and is copied. Suspends:
/// put it in a deadline scope to bound the whole. Returns the connection
/// (free it with aioc_ws_free, which closes the TCP connection), or NULL
/// with `*err` (may be NULL) set: AIOC_WS_EURL, AIOC_WS_EHANDSHAKE,
/// AIOC_WS_EABNORMAL (the server closed before its answer was complete),
/// aioc_tcp_connect's errors (a resolver error, -ECONNREFUSED, ...), the TLS
/// adapter's (AIOC_TLS_EVERIFY, ...), -ETIMEDOUT, -ECANCELED, -ENOMEM,
/// AIOC_ENOTASK.
AIOC_WS_EXTERN aioc_ws *aioc_ws_connect(const char *url, const aioc_ws_opts *opts, int *err);

/// Frees the connection. If the close handshake was not done, the stream is
/// dropped without one (call aioc_ws_close first for a clean end). A
/// client's stream is closed (aborted when it is broken or not closed
/// cleanly); a server's stays the HTTP server's, which ends it when the
/// handler returns. Does not suspend. NULL does nothing. No other call may
/// be in progress on `ws`.
AIOC_WS_EXTERN void aioc_ws_free(aioc_ws *ws);
/// @}

/* =========================================================== messages == */
/// @defgroup ws_messages WebSocket: messages
/// @{

#define AIOC_WS_TEXT 1   ///< a text message (UTF-8)
#define AIOC_WS_BINARY 2 ///< a binary message

/// A message received: AIOC_WS_TEXT (UTF-8, checked; NUL-terminated for
/// convenience, the NUL not counted) or AIOC_WS_BINARY, its bytes and their
/// count. `data` belongs to the connection and stays valid until the next
/// aioc_ws_recv or aioc_ws_free.
typedef struct aioc_ws_msg {
    int type;         ///< AIOC_WS_TEXT or AIOC_WS_BINARY
    const char *data; ///< the bytes, owned by the connection
    size_t len;       ///< their count
} aioc_ws_msg;

/// Receives the next whole message: fragments are joined, compressed ones
/// inflated, pings answered with pongs and pongs taken as signs of life
/// (the heartbeat's) on the way. One task at a time receives. Suspends.
/// Returns 0 with `*msg` filled in; AIOC_EOF when the close handshake is
/// done or under way (the peer's close frame came, and was answered unless
/// this side had sent its own: aioc_ws_close_code and aioc_ws_close_reason
/// say what the peer sent), after which it returns AIOC_EOF again; or an
/// error, after which the connection is done (each returns the same error
/// again), having sent the close frame named: AIOC_WS_EPROTOCOL (1002),
/// AIOC_WS_EUTF8 (1007), AIOC_WS_ETOOBIG (1009), AIOC_WS_EDEFLATE (1007:
/// compressed data that does not inflate), AIOC_WS_EABNORMAL (the stream
/// ended without a close frame), AIOC_WS_EHEARTBEAT, a stream error
/// (-ECONNRESET, AIOC_TLS_ETRUNCATED, ...), -ENOMEM. Also -EBUSY (another
/// task is receiving: nothing happens) and AIOC_ENOTASK. -ECANCELED and
/// -ETIMEDOUT (a deadline scope around the call) leave the connection as it
/// was: a later call goes on where this one stopped, even mid-frame.
AIOC_WS_EXTERN int aioc_ws_recv(aioc_ws *ws, aioc_ws_msg *msg);

/// Sends a message of `type` (AIOC_WS_TEXT: `data` must be UTF-8, which is
/// not checked; AIOC_WS_BINARY), compressed if permessage-deflate is in use
/// and it is at least deflate_min bytes, in fragments of fragment_size.
/// Frames of concurrent senders never interleave (pongs and close frames
/// may come between fragments). Suspends while the write buffer is at its
/// high-water mark (the back-pressure of a slow reader). Returns 0 once the
/// frames are buffered (a failure to send them shows at a later call);
/// -EINVAL (another type), AIOC_WS_ECLOSED (the close handshake began, or
/// the connection is done), a stream error, -ENOMEM, -ECANCELED,
/// -ETIMEDOUT (a deadline scope: if it came mid-message, the frames sent
/// so far cannot be taken back, so the connection is done: AIOC_WS_ECLOSED
/// afterwards).
AIOC_WS_EXTERN int aioc_ws_send(aioc_ws *ws, int type, const void *data, size_t n);

/// aioc_ws_send of AIOC_WS_TEXT and AIOC_WS_BINARY.
AIOC_WS_EXTERN int aioc_ws_send_text(aioc_ws *ws, const char *text, size_t n);
/// @copydoc aioc_ws_send_text
AIOC_WS_EXTERN int aioc_ws_send_binary(aioc_ws *ws, const void *data, size_t n);

/// Sends like aioc_ws_send, or not at all: for a broadcaster that drops a
/// peer that falls behind instead of waiting for it. The message goes as
/// one frame (never fragmented), copied whole into the connection's
/// scratch buffer. Never waits for the peer (it may yield to the loop, as
/// any write does). Returns 0; -EAGAIN, with nothing sent, when high_water
/// bytes or more wait to go out, another task is in the middle of a send,
/// or the stream could take the frame only by waiting for the peer; or
/// aioc_ws_send's errors (-ETIMEDOUT and -ECANCELED excepted).
AIOC_WS_EXTERN int aioc_ws_try_send(aioc_ws *ws, int type, const void *data, size_t n);

/// Sends a ping with up to 125 bytes of application data; the peer's pong
/// comes to a task in aioc_ws_recv, which takes it in silently. Suspends as
/// aioc_ws_send. Returns 0, -EINVAL (over 125 bytes), or aioc_ws_send's
/// errors.
AIOC_WS_EXTERN int aioc_ws_ping(aioc_ws *ws, const void *data, size_t n);

/// The close handshake (RFC 6455 §7): sends a close frame with `code`
/// (1000-1003, 1007-1014 or 3000-4999; 0 sends none) and `reason` (UTF-8,
/// up to 123 bytes; NULL: none), then waits, up to close_timeout, for the
/// peer's close frame, dropping the messages that still come (if another
/// task is in aioc_ws_recv, that task receives them and this one waits for
/// it to see the close). A client then waits, within the same time, for
/// the server to end the TCP connection. Called after recv returned
/// AIOC_EOF (the peer closed first), it only checks that the answer went
/// out. Suspends, shielded from cancellation and deadline scopes once the
/// close frame is sent (the wait is bounded by close_timeout). Returns 0 (a
/// clean close), -EINVAL (a code or reason that cannot be sent),
/// -ETIMEDOUT (no close frame from the peer in time: the connection is
/// dropped), or the error that had ended the connection before.
AIOC_WS_EXTERN int aioc_ws_close(aioc_ws *ws, int code, const char *reason);

/// The peer's close code: 0 while none came, the code it sent, 1005 (its
/// close frame had no code) or 1006 (the connection ended, or this side
/// failed it, without a close frame from the peer). Does not suspend.
AIOC_WS_EXTERN int aioc_ws_close_code(const aioc_ws *ws);

/// The reason in the peer's close frame (UTF-8, checked; "" if none).
/// Valid until aioc_ws_free.
AIOC_WS_EXTERN const char *aioc_ws_close_reason(const aioc_ws *ws);

/// The subprotocol agreed on, or NULL. Valid until aioc_ws_free.
AIOC_WS_EXTERN const char *aioc_ws_subprotocol(const aioc_ws *ws);

/// Whether permessage-deflate is in use on the connection.
AIOC_WS_EXTERN bool aioc_ws_deflate(const aioc_ws *ws);

/// The connection's stream (for its addresses, or the TLS adapter's peer
/// certificate). Owned by the connection (or the HTTP server): never read,
/// write or close it.
AIOC_WS_EXTERN aioc_stream *aioc_ws_stream(const aioc_ws *ws);
/// @}

#ifdef __cplusplus
}
#endif
#endif /* AIOC_WS_H */
