/* The message engine: frames read from the stream and joined into
 * messages, control frames answered on the way, messages cut into frames
 * and written through the stream's coalescing buffer, the heartbeat and the
 * close handshake.
 *
 * Receiving is a state machine kept in the connection (the header bytes
 * read so far, the payload bytes read so far), so a deadline or a
 * cancellation in the middle of a frame loses nothing: the next
 * aioc_ws_recv goes on from there. Bytes come from the stream through a
 * small read-ahead buffer in the connection, so that a small frame (header
 * and payload) costs one stream read; a large payload is read straight
 * into the message buffer, which grows to the largest message seen (up to
 * max_message) and is kept; nothing else is allocated per frame or per
 * message. A send takes the connection's send lock, so that the frames of
 * two senders never interleave, and writes each frame's header and payload
 * to the stream (a client's payload is masked in a scratch buffer first);
 * the stream's high-water mark parks a sender whose peer reads slowly. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

#define DEFAULT_MAX_MESSAGE (1u << 20)
#define DEFAULT_FRAGMENT (64u << 10)
#define DEFAULT_HIGH_WATER (64u << 10)

/* ------------------------------------------------------------ errors -- */

const char *aioc_ws_strerror(int err) {
    switch (err) {
    case AIOC_WS_EHANDSHAKE:
        return "WebSocket opening handshake failed";
    case AIOC_WS_EPROTOCOL:
        return "WebSocket protocol error from the peer";
    case AIOC_WS_EUTF8:
        return "WebSocket text that is not UTF-8";
    case AIOC_WS_ETOOBIG:
        return "WebSocket message over the size limit";
    case AIOC_WS_ECLOSED:
        return "WebSocket closing or closed";
    case AIOC_WS_EABNORMAL:
        return "WebSocket connection ended without a close frame";
    case AIOC_WS_EHEARTBEAT:
        return "WebSocket peer did not answer the heartbeat's ping";
    case AIOC_WS_EURL:
        return "not a ws:// or wss:// URL";
    case AIOC_WS_EDEFLATE:
        return "WebSocket compressed message that does not inflate";
    default:
        return aioc_strerror(err);
    }
}

/* ------------------------------------------------------------ making -- */

int aioc__ws_set_opts(aioc_ws *ws, const aioc_ws_opts *opts) {
    if (opts)
        ws->o = *opts;
    aioc_ws_opts *o = &ws->o;
    o->max_message = o->max_message ? o->max_message : DEFAULT_MAX_MESSAGE;
    o->fragment_size = o->fragment_size ? o->fragment_size : DEFAULT_FRAGMENT;
    o->close_timeout = o->close_timeout > 0 ? o->close_timeout : 5;
    o->deflate_min = o->deflate_min ? o->deflate_min : 64;
    if (o->deflate_window_bits < 9 || o->deflate_window_bits > 15)
        o->deflate_window_bits = 15;
    o->high_water = o->high_water ? o->high_water : DEFAULT_HIGH_WATER;
    if (!(o->heartbeat > 0))
        o->heartbeat = 0;
    o->tls = NULL; /* used by the connect call only */
    o->tls_opts = NULL;
    o->origin = o->headers = NULL;
    size_t n = 0;
    while (opts && opts->subprotocols && opts->subprotocols[n])
        n++;
    o->subprotocols = NULL;
    if (n) {
        ws->subprotocols = calloc(n + 1, sizeof *ws->subprotocols);
        if (!ws->subprotocols)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++)
            if (!(ws->subprotocols[i] = strdup(opts->subprotocols[i])))
                return -ENOMEM;
    }
    return 0;
}

aioc_ws *aioc__ws_new(aioc_stream *s, bool client, const aioc_ws_opts *opts, const void *pending,
                      size_t npending) {
    aioc_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    ws->s = s;
    ws->client = client;
    aioc_lock_init(&ws->send_lock);
    aioc_event_init(&ws->closed);
    ws->last_rx = aioc_now();
    if (aioc__ws_set_opts(ws, opts) || (npending && !(ws->pending = malloc(npending)))) {
        aioc_ws_free(ws);
        errno = ENOMEM;
        return NULL;
    }
    if (npending)
        memcpy(ws->pending, pending, npending);
    ws->npending = npending;
    return ws;
}

void aioc_ws_free(aioc_ws *ws) {
    if (!ws)
        return;
    if (ws->owns_stream && ws->s)
        aioc_stream_abort(ws->s); /* the close handshake, if any, flushed */
    for (char **p = ws->subprotocols; p && *p; p++)
        free(*p);
    free(ws->subprotocols);
    free(ws->subprotocol);
    aioc__ws_deflate_free(ws->zout);
    aioc__ws_deflate_free(ws->zin);
    free(ws->pending);
    free(ws->msg);
    free(ws->plain);
    free(ws->sbuf);
    free(ws->zbuf);
    aioc_lock_destroy(&ws->send_lock);
    aioc_event_destroy(&ws->closed);
    free(ws);
}

int aioc_ws_close_code(const aioc_ws *ws) { return ws->peer_code; }
const char *aioc_ws_close_reason(const aioc_ws *ws) { return ws->peer_reason; }
const char *aioc_ws_subprotocol(const aioc_ws *ws) { return ws->subprotocol; }
bool aioc_ws_deflate(const aioc_ws *ws) { return ws->pmd.on; }
aioc_stream *aioc_ws_stream(const aioc_ws *ws) { return ws->s; }

/* ----------------------------------------------------------- sending -- */

/* Writes one frame; the send lock is held. A small frame goes out in one
 * write with its header; a server's large payload is written from the
 * caller's bytes (the stream copies it or sends it at once); a client's is
 * masked in the scratch buffer. */
static int put_frame(aioc_ws *ws, bool fin, bool rsv1, uint8_t op, const uint8_t *data, size_t n) {
    uint8_t mask[4], local[14 + 256];
    if (ws->client)
        arc4random_buf(mask, 4);
    size_t h = aioc__ws_put_header(local, fin, rsv1, op, n, ws->client ? mask : NULL);
    if (n <= 256) {
        if (n)
            memcpy(local + h, data, n);
        if (ws->client)
            aioc__ws_mask(local + h, n, mask, 0);
        return aioc_stream_write(ws->s, local, h + n);
    }
    if (ws->client && aioc__ws_grow(&ws->sbuf, &ws->sbuf_cap, n))
        return -ENOMEM;
    int err = aioc_stream_write(ws->s, local, h);
    if (err)
        return err;
    if (ws->client) {
        memcpy(ws->sbuf, data, n);
        aioc__ws_mask(ws->sbuf, n, mask, 0);
        data = ws->sbuf;
    }
    if ((err = aioc_stream_write(ws->s, data, n)))
        ws->send_broken = true; /* a header without its payload */
    return err;
}

/* One whole frame in one write, or nothing: for try-sends, which must not
 * wait for a peer. The stream may wait even below its high-water mark (its
 * buffer must grow while the flusher is inside a transport write that
 * points into it): the write goes in a scope that has expired already, so
 * any wait fails at once and the bytes are not taken (-EAGAIN). An empty
 * buffer cannot make it wait on the peer: that failure was the write's
 * turn to yield (aioc.h), so it is made again outside the scope. */
static int put_frame_try(aioc_ws *ws, bool rsv1, uint8_t op, const uint8_t *data, size_t n) {
    uint8_t mask[4];
    if (ws->client)
        arc4random_buf(mask, 4);
    if (aioc__ws_grow(&ws->sbuf, &ws->sbuf_cap, n + 14))
        return -ENOMEM;
    size_t h = aioc__ws_put_header(ws->sbuf, true, rsv1, op, n, ws->client ? mask : NULL);
    if (n)
        memcpy(ws->sbuf + h, data, n);
    if (ws->client)
        aioc__ws_mask(ws->sbuf + h, n, mask, 0);
    aioc_scope sc;
    if (aioc_scope_enter(&sc, 0))
        return -ENOMEM;
    int err = aioc_stream_write(ws->s, ws->sbuf, h + n);
    aioc_scope_exit(&sc);
    if (err == -ETIMEDOUT || err == -ECANCELED)
        err =
            aioc_stream_write_buffered(ws->s) ? -EAGAIN : aioc_stream_write(ws->s, ws->sbuf, h + n);
    return err;
}

/* Takes the send lock. With `try`, -EAGAIN instead of waiting for the
 * lock, or when the stream holds `high_water` bytes already. */
static int take_send_lock(aioc_ws *ws, bool try) {
    if (!try)
        return aioc_lock_acquire(&ws->send_lock);
    if (aioc_lock_try_acquire(&ws->send_lock))
        return -EAGAIN;
    if (aioc_stream_write_buffered(ws->s) >= ws->o.high_water) {
        aioc_lock_release(&ws->send_lock);
        return -EAGAIN;
    }
    return 0;
}

/* A control frame, under the send lock. With `try`, gives -EAGAIN instead
 * of waiting for the lock or for room. */
static int put_control(aioc_ws *ws, uint8_t op, const void *data, size_t n, bool try) {
    if (ws->s == NULL)
        return AIOC_WS_ECLOSED;
    int err = take_send_lock(ws, try);
    if (err)
        return err;
    err = put_frame(ws, true, false, op, data, n);
    aioc_lock_release(&ws->send_lock);
    return err;
}

static bool send_closed(const aioc_ws *ws) {
    return ws->close_sent || ws->send_broken || ws->error;
}

static int send_message(aioc_ws *ws, int type, const void *data, size_t n, bool try) {
    if (type != AIOC_WS_TEXT && type != AIOC_WS_BINARY)
        return -EINVAL;
    if (send_closed(ws))
        return AIOC_WS_ECLOSED;
    int err = take_send_lock(ws, try);
    if (err)
        return err;
    if (send_closed(ws)) { /* closed while this task waited for the lock */
        aioc_lock_release(&ws->send_lock);
        return AIOC_WS_ECLOSED;
    }
    const uint8_t *p = data;
    bool rsv1 = false;
    if (ws->pmd.on && n >= ws->o.deflate_min) {
        long z = aioc__ws_deflate(&ws->zout, &ws->pmd, 6, p, n, &ws->zbuf, &ws->zbuf_cap);
        if (z < 0) {
            aioc_lock_release(&ws->send_lock);
            return (int)z;
        }
        p = ws->zbuf;
        n = (size_t)z;
        rsv1 = true;
    }
    if (try) {
        err = put_frame_try(ws, rsv1, (uint8_t)type, p, n);
        aioc_lock_release(&ws->send_lock);
        return err;
    }
    size_t off = 0;
    err = 0;
    do {
        size_t chunk = n - off < ws->o.fragment_size ? n - off : ws->o.fragment_size;
        err = put_frame(ws, off + chunk == n, rsv1 && off == 0, off ? WS_OP_CONT : (uint8_t)type,
                        p + off, chunk);
        if (err) {
            /* a message cut short cannot be taken back: no more sends
             * (the peer will see the connection fail) */
            if (off > 0)
                ws->send_broken = true;
            break;
        }
        off += chunk;
    } while (off < n);
    aioc_lock_release(&ws->send_lock);
    return err;
}

int aioc_ws_send(aioc_ws *ws, int type, const void *data, size_t n) {
    return send_message(ws, type, data, n, false);
}

int aioc_ws_send_text(aioc_ws *ws, const char *text, size_t n) {
    return send_message(ws, AIOC_WS_TEXT, text, n, false);
}

int aioc_ws_send_binary(aioc_ws *ws, const void *data, size_t n) {
    return send_message(ws, AIOC_WS_BINARY, data, n, false);
}

int aioc_ws_try_send(aioc_ws *ws, int type, const void *data, size_t n) {
    return send_message(ws, type, data, n, true);
}

int aioc_ws_ping(aioc_ws *ws, const void *data, size_t n) {
    if (n > 125)
        return -EINVAL;
    if (send_closed(ws))
        return AIOC_WS_ECLOSED;
    return put_control(ws, WS_OP_PING, data, n, false);
}

/* Sends a close frame (once). */
static int send_close(aioc_ws *ws, int code, const char *reason, bool try) {
    if (ws->close_sent)
        return 0;
    ws->close_sent = true;
    uint8_t b[125];
    size_t n = 0;
    if (code) {
        b[0] = (uint8_t)(code >> 8);
        b[1] = (uint8_t)code;
        n = 2;
        size_t r = reason ? strlen(reason) : 0;
        if (r > 123)
            r = 123;
        if (r)
            memcpy(b + 2, reason, r);
        n += r;
    }
    return put_control(ws, WS_OP_CLOSE, b, n, try);
}

/* ---------------------------------------------------------- receiving -- */

/* The connection failed: sends the close frame `code` names (without
 * waiting: the peer may be the reason), and remembers the error. */
static int fail(aioc_ws *ws, int err) {
    int code = err == AIOC_WS_EPROTOCOL                          ? AIOC_WS_PROTOCOL_ERROR
               : err == AIOC_WS_EUTF8 || err == AIOC_WS_EDEFLATE ? AIOC_WS_INVALID_DATA
               : err == AIOC_WS_ETOOBIG                          ? AIOC_WS_TOO_BIG
                                                                 : 0;
    if (code)
        send_close(ws, code, NULL, true);
    if (!ws->peer_code) /* §7.1.5: closed with no close frame from the peer */
        ws->peer_code = AIOC_WS_ABNORMAL;
    ws->error = err;
    aioc_event_set(&ws->closed);
    return err;
}

/* Reads up to `n` bytes: the HTTP server's leftovers first, then the
 * stream, sending the heartbeat's ping when the peer has been quiet.
 * Returns the count, 0 at the end, or an error. */
static long read_some(aioc_ws *ws, void *buf, size_t n) {
    if (ws->pending_pos < ws->npending) {
        size_t k = ws->npending - ws->pending_pos;
        k = k < n ? k : n;
        memcpy(buf, ws->pending + ws->pending_pos, k);
        if ((ws->pending_pos += k) == ws->npending) {
            free(ws->pending);
            ws->pending = NULL;
            ws->npending = ws->pending_pos = 0;
        }
        return (long)k;
    }
    if (!ws->o.heartbeat) {
        long r = aioc_stream_read(ws->s, buf, n);
        return r;
    }
    for (;;) {
        double when = ws->last_rx + ws->o.heartbeat * (ws->ping_out ? 2 : 1);
        aioc_scope sc;
        if (aioc_scope_enter_at(&sc, when))
            return -ENOMEM;
        long r = aioc_stream_read(ws->s, buf, n);
        int serr = aioc_scope_exit(&sc);
        if (r > 0) {
            ws->last_rx = aioc_now();
            ws->ping_out = false;
            return r;
        }
        if (!(r == -ETIMEDOUT && serr == -ETIMEDOUT))
            return r;
        /* the heartbeat's own deadline */
        if (ws->ping_out)
            return AIOC_WS_EHEARTBEAT;
        ws->ping_out = true;
        put_control(ws, WS_OP_PING, "aioc", 4, true); /* a full buffer: the next round tells */
    }
}

/* Reads up to `n` bytes through the read-ahead buffer: what it holds
 * first; else a read of `n` >= WS_READ_AHEAD goes straight to `buf`, and a
 * smaller one fills the buffer with what the stream has (the rest of a
 * small frame and often the frames behind it), so that a small message
 * costs one stream read, not one for each part of its header and one for
 * its payload. Returns as read_some. */
static long read_ahead(aioc_ws *ws, uint8_t *buf, size_t n) {
    if (ws->rb_pos == ws->rb_end) {
        if (n >= WS_READ_AHEAD)
            return read_some(ws, buf, n);
        long r = read_some(ws, ws->rb, WS_READ_AHEAD);
        if (r <= 0)
            return r;
        ws->rb_pos = 0;
        ws->rb_end = (uint16_t)r;
    }
    size_t k = (size_t)(ws->rb_end - ws->rb_pos);
    k = k < n ? k : n;
    memcpy(buf, ws->rb + ws->rb_pos, k);
    ws->rb_pos = (uint16_t)(ws->rb_pos + k);
    return (long)k;
}

/* Reads `f`'s payload to `dst` (resumable: ws->got counts). */
static int read_payload(aioc_ws *ws, uint8_t *dst) {
    while (ws->got < ws->f.len) {
        long r = read_ahead(ws, dst + ws->got, (size_t)(ws->f.len - ws->got));
        if (r == 0)
            return AIOC_WS_EABNORMAL;
        if (r < 0)
            return (int)r;
        ws->got += (uint64_t)r;
    }
    if (ws->f.masked)
        aioc__ws_mask(dst, (size_t)ws->f.len, ws->f.mask, 0);
    return 0;
}

/* Whether an error leaves the connection as it was (the call may be made
 * again) rather than ending it. */
static bool transient(int err) { return err == -ECANCELED || err == -ETIMEDOUT; }

static int on_close_frame(aioc_ws *ws, const uint8_t *p, size_t n) {
    if (n == 1)
        return fail(ws, AIOC_WS_EPROTOCOL);
    int code = AIOC_WS_NO_STATUS;
    if (n >= 2) {
        code = p[0] << 8 | p[1];
        if (!aioc__ws_close_code_ok(code))
            return fail(ws, AIOC_WS_EPROTOCOL);
        uint32_t st = 0;
        if (!aioc__ws_utf8(&st, p + 2, n - 2) || st)
            return fail(ws, AIOC_WS_EUTF8);
        memcpy(ws->peer_reason, p + 2, n - 2);
        ws->peer_reason[n - 2] = '\0';
    }
    ws->peer_code = code;
    ws->close_received = true;
    /* §5.5.1: answer with a close frame, echoing the code */
    if (!ws->close_sent)
        send_close(ws, code == AIOC_WS_NO_STATUS ? 0 : code, NULL, false);
    ws->error = AIOC_EOF;
    aioc_event_set(&ws->closed);
    return AIOC_EOF;
}

/* The whole message is in: inflate it if need be, check text, hand it out. */
static int deliver(aioc_ws *ws, aioc_ws_msg *msg) {
    uint8_t **buf = &ws->msg;
    size_t *cap = &ws->msg_cap;
    size_t len = ws->msg_len;
    if (ws->msg_compressed) {
        long r = aioc__ws_inflate(&ws->zin, &ws->pmd, ws->msg, ws->msg_len, &ws->plain,
                                  &ws->plain_cap, ws->o.max_message);
        if (r < 0)
            return fail(ws, (int)r);
        buf = &ws->plain;
        cap = &ws->plain_cap;
        len = (size_t)r;
        uint32_t st = 0;
        if (ws->msg_op == WS_OP_TEXT && (!aioc__ws_utf8(&st, *buf, len) || st))
            return fail(ws, AIOC_WS_EUTF8);
    } else if (ws->msg_op == WS_OP_TEXT && ws->utf8) {
        return fail(ws, AIOC_WS_EUTF8); /* a character cut off at the end */
    }
    if (len + 1 > *cap && aioc__ws_grow(buf, cap, len + 1))
        return fail(ws, -ENOMEM);
    (*buf)[len] = '\0';
    msg->type = ws->msg_op;
    msg->data = (const char *)*buf;
    msg->len = len;
    ws->msg_op = 0;
    return 0;
}

/* Reads frames until a message is whole (0), the close came (AIOC_EOF),
 * or an error. */
static int recv_frames(aioc_ws *ws, aioc_ws_msg *msg) {
    for (;;) {
        if (ws->error)
            return ws->error;
        /* the header: two bytes, then what they say follows; taken at once
         * when the read-ahead holds all of it (a small frame, usually) */
        if (ws->hlen == 0 && ws->rb_end - ws->rb_pos >= 2) {
            const uint8_t *b = ws->rb + ws->rb_pos;
            size_t h = aioc__ws_header_size(b);
            if ((size_t)(ws->rb_end - ws->rb_pos) >= h) {
                /* a fixed-size copy is a few moves; the bytes past the
                 * header are never read */
                if (ws->rb_pos + sizeof ws->hdr <= WS_READ_AHEAD)
                    memcpy(ws->hdr, b, sizeof ws->hdr);
                else
                    memcpy(ws->hdr, b, h);
                ws->hlen = ws->hneed = h;
                ws->rb_pos = (uint16_t)(ws->rb_pos + h);
            }
        }
        while (ws->hlen < (ws->hneed ? ws->hneed : 2)) {
            long r = read_ahead(ws, ws->hdr + ws->hlen, (ws->hneed ? ws->hneed : 2) - ws->hlen);
            if (r == 0)
                return fail(ws, AIOC_WS_EABNORMAL);
            if (r < 0)
                return transient((int)r) ? (int)r : fail(ws, (int)r);
            ws->hlen += (size_t)r;
            if (ws->hlen >= 2 && !ws->hneed) {
                ws->hneed = aioc__ws_header_size(ws->hdr);
                if (ws->hlen == ws->hneed)
                    break;
            }
        }
        if (!ws->checked) { /* the header is new: check it once */
            ws->checked = true;
            aioc__ws_parse_header(ws->hdr, &ws->f);
            int err = aioc__ws_check_frame(&ws->f, !ws->client, ws->pmd.on, ws->msg_op != 0);
            if (err)
                return fail(ws, err);
            if (!(ws->f.op & 8)) {
                if (ws->f.op != WS_OP_CONT) { /* a new message */
                    ws->msg_op = ws->f.op;
                    ws->msg_compressed = ws->f.rsv1;
                    ws->msg_len = 0;
                    ws->utf8 = 0;
                }
                if (ws->f.len > ws->o.max_message - ws->msg_len)
                    return fail(ws, AIOC_WS_ETOOBIG);
                size_t need = ws->msg_len + (size_t)ws->f.len + 1;
                if (need > ws->msg_cap && aioc__ws_grow(&ws->msg, &ws->msg_cap, need))
                    return fail(ws, -ENOMEM);
            }
        }
        bool control = ws->f.op & 8;
        uint8_t *dst = control ? ws->ctl : ws->msg + ws->msg_len;
        int err = read_payload(ws, dst);
        if (err)
            return transient(err) ? err : fail(ws, err);
        size_t n = (size_t)ws->f.len;
        ws->hlen = ws->hneed = 0;
        ws->got = 0;
        ws->checked = false;
        if (ws->o.heartbeat) { /* the clock is read for the heartbeat only */
            ws->last_rx = aioc_now();
            ws->ping_out = false;
        }
        switch (ws->f.op) {
        case WS_OP_PING:
            if (!ws->close_sent)
                put_control(ws, WS_OP_PONG, ws->ctl, n, false);
            continue;
        case WS_OP_PONG:
            continue;
        case WS_OP_CLOSE:
            return on_close_frame(ws, ws->ctl, n);
        default:
            break;
        }
        /* text is checked as it comes, fragment by fragment, so that a bad
         * byte fails the connection at once */
        if (ws->msg_op == WS_OP_TEXT && !ws->msg_compressed && !aioc__ws_utf8(&ws->utf8, dst, n))
            return fail(ws, AIOC_WS_EUTF8);
        ws->msg_len += n;
        if (ws->f.fin)
            return deliver(ws, msg);
    }
}

int aioc_ws_recv(aioc_ws *ws, aioc_ws_msg *msg) {
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    if (ws->receiving)
        return -EBUSY;
    ws->receiving = true;
    int err = recv_frames(ws, msg);
    ws->receiving = false;
    return err;
}

/* ------------------------------------------------------------ closing -- */

int aioc_ws_close(aioc_ws *ws, int code, const char *reason) {
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    size_t rlen = reason ? strlen(reason) : 0;
    uint32_t st = 0;
    if ((code && !aioc__ws_close_code_ok(code)) || (!code && rlen) || rlen > 123 ||
        (reason && (!aioc__ws_utf8(&st, (const uint8_t *)reason, rlen) || st)))
        return -EINVAL;
    if (ws->error && ws->error != AIOC_EOF)
        return ws->error;
    if (ws->send_broken)
        return fail(ws, AIOC_WS_ECLOSED);
    aioc_scope shield, sc;
    bool shielded = aioc_shield_enter(&shield) == 0;
    int err = 0;
    if (aioc_scope_enter(&sc, ws->o.close_timeout) == 0) {
        if (!ws->close_sent)
            err = send_close(ws, code, reason, false);
        else
            err = aioc_stream_drain(ws->s); /* the answer to the peer's close */
        if (!err && ws->receiving) {
            err = aioc_event_wait(&ws->closed); /* the receiver sees the close */
        } else if (!err) {
            aioc_ws_msg m;
            int r;
            while ((r = recv_frames(ws, &m)) == 0)
                ; /* messages that were on their way: dropped */
            if (r != AIOC_EOF)
                err = r;
        }
        if (!err && ws->error == AIOC_EOF && ws->client) {
            /* §7.1.1: the server ends the TCP connection first */
            char drop[256];
            long r;
            while ((r = aioc_stream_read(ws->s, drop, sizeof drop)) > 0)
                ;
            if (transient((int)r))
                err = (int)r; /* else the end, or a reset: over either way */
        }
        int serr = aioc_scope_exit(&sc);
        if (serr == -ETIMEDOUT)
            err = -ETIMEDOUT;
    } else {
        err = -ENOMEM;
    }
    if (shielded)
        aioc_scope_exit(&shield);
    if (err && !ws->error)
        fail(ws, err);
    else if (err == -ETIMEDOUT)
        ws->error = err;
    if (!err && ws->error && ws->error != AIOC_EOF)
        err = ws->error;
    return err;
}
