/* What the files of aioc_ws share: the connection, the frame header
 * parser and the UTF-8 check (frame.c, pure: the fuzz target runs them on
 * their own too), permessage-deflate (deflate.c), the handshakes
 * (handshake.c) and the message engine (ws.c). */
#ifndef AIOC_WS_INTERNAL_H
#define AIOC_WS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "aioc_ws.h"

#define WS_OP_CONT 0
#define WS_OP_TEXT 1
#define WS_OP_BINARY 2
#define WS_OP_CLOSE 8
#define WS_OP_PING 9
#define WS_OP_PONG 10

/* ------------------------------------------------------------- frame.c -- */

typedef struct ws_frame {
    bool fin, rsv1, masked;
    uint8_t rsv; /* the three RSV bits, as they sit in the first byte (0x70) */
    uint8_t op;
    uint64_t len;
    uint8_t mask[4];
} ws_frame;

/* How many header bytes a frame has, from its first two (2 to 14). */
size_t aioc__ws_header_size(const uint8_t b[2]);

/* Reads a frame header of aioc__ws_header_size(b) bytes at `b`. */
void aioc__ws_parse_header(const uint8_t *b, ws_frame *f);

/* Checks a frame against RFC 6455 §5 for a receiver: masked from a client,
 * unmasked from a server; RSV bits only RSV1 and only with deflate, on a
 * first data frame; a known opcode; control frames final and at most 125
 * bytes; a continuation only inside a message, a new data frame only
 * outside one; a length with its top bit clear. Returns 0 or
 * AIOC_WS_EPROTOCOL. */
int aioc__ws_check_frame(const ws_frame *f, bool from_client, bool deflate, bool in_message);

/* Writes a frame header into `out` (at least 14 bytes): FIN, RSV1, opcode,
 * length and, if `mask`, the masking key. Returns its size. */
size_t aioc__ws_put_header(uint8_t *out, bool fin, bool rsv1, uint8_t op, uint64_t len,
                           const uint8_t *mask);

/* XORs `n` bytes with the key, starting at key offset `off`. */
void aioc__ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off);

/* An incremental UTF-8 check (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF): the state is 0 between characters. Feeds `n`
 * bytes; returns false at the first invalid byte. */
bool aioc__ws_utf8(uint32_t *state, const uint8_t *p, size_t n);

/* Whether a close code may be sent or received (RFC 6455 §7.4). */
bool aioc__ws_close_code_ok(int code);

/* Grows `*buf` (capacity `*cap`, doubling from 256) to hold `need` bytes.
 * Returns 0 or -ENOMEM (the buffer unchanged). */
int aioc__ws_grow(uint8_t **buf, size_t *cap, size_t need);

/* ----------------------------------------------------------- deflate.c -- */

typedef struct ws_deflate ws_deflate;

typedef struct ws_pmd {
    bool on;
    bool our_no_takeover;  /* reset our compressor after each message */
    bool peer_no_takeover; /* the peer resets its own (nothing to do here) */
    int our_bits;          /* our compressor's window */
} ws_pmd;

/* Compresses `n` bytes as one message into `*out` (grown; `*cap` its size),
 * without the trailing 00 00 ff ff. Returns the length or -ENOMEM. */
long aioc__ws_deflate(ws_deflate **z, const ws_pmd *pmd, int level, const uint8_t *in, size_t n,
                      uint8_t **out, size_t *cap);

/* Inflates one message's compressed bytes into `*out` (grown up to `max`).
 * Returns the length, AIOC_WS_ETOOBIG, AIOC_WS_EDEFLATE or -ENOMEM. */
long aioc__ws_inflate(ws_deflate **z, const ws_pmd *pmd, const uint8_t *in, size_t n, uint8_t **out,
                      size_t *cap, size_t max);

void aioc__ws_deflate_free(ws_deflate *z);

/* Parses a Sec-WebSocket-Extensions value. As a server (`offer`): picks
 * the first permessage-deflate offer it can take, fills `pmd` and writes
 * the answer's value into `answer` (`cap` bytes); returns whether one was
 * taken. As a client (!offer): checks the server's answer against the
 * offer the client made; returns 0 (`pmd` filled) or AIOC_WS_EHANDSHAKE. */
bool aioc__ws_pmd_accept(const char *offers, int bits, ws_pmd *pmd, char *answer, size_t cap);
int aioc__ws_pmd_answer(const char *answer, int bits, ws_pmd *pmd);

/* ---------------------------------------------------------------- ws.c -- */

/* The receive side's read-ahead: a frame header and a small payload come
 * out of one stream read; larger reads go straight to their buffer. */
#define WS_READ_AHEAD 512

struct aioc_ws {
    aioc_stream *s;
    bool client;      /* we mask our frames; the peer must not */
    bool owns_stream; /* a client's: closed by aioc_ws_free */
    aioc_ws_opts o;
    char **subprotocols; /* the copied option, NULL-terminated */
    char *subprotocol;   /* the one agreed on */
    ws_pmd pmd;
    ws_deflate *zout, *zin;

    /* bytes the HTTP server read past the upgrade request */
    uint8_t *pending;
    size_t npending, pending_pos;

    /* receiving: bytes read ahead of the parser (a small frame's header
     * and payload come in one stream read: see read_ahead in ws.c) */
    uint8_t rb[WS_READ_AHEAD];
    uint16_t rb_pos, rb_end;

    /* receiving: the frame being read, resumable after a deadline */
    uint8_t hdr[14];
    size_t hlen;      /* header bytes read so far */
    size_t hneed;     /* its size once the first two are in, else 0 */
    ws_frame f;       /* the header, once whole */
    uint64_t got;     /* payload bytes of `f` read so far */
    bool checked;     /* `f` was checked (and its message begun) */
    uint8_t ctl[128]; /* a control frame's payload */
    int msg_op;       /* the data message in progress: 0, TEXT or BINARY */
    bool msg_compressed;
    uint32_t utf8;
    uint8_t *msg; /* the message being assembled (or its compressed bytes) */
    size_t msg_len, msg_cap;
    uint8_t *plain; /* an inflated message */
    size_t plain_cap;
    bool receiving; /* a task is in aioc_ws_recv */

    /* heartbeat */
    double last_rx;
    bool ping_out;

    /* sending */
    aioc_lock send_lock;
    uint8_t *sbuf; /* masked or compressed bytes */
    size_t sbuf_cap;
    uint8_t *zbuf;
    size_t zbuf_cap;
    bool send_broken; /* a send was cut short mid-message: no more */

    /* closing */
    bool close_sent, close_received;
    int error; /* what ended the connection, sticky; 0 while it lives */
    int peer_code;
    char peer_reason[124];
    aioc_event closed; /* set once the peer's close frame or the end came */
};

/* A connection over `s` whose handshake is done; `pending` (copied) holds
 * the bytes read past it. NULL with errno ENOMEM. */
aioc_ws *aioc__ws_new(aioc_stream *s, bool client, const aioc_ws_opts *opts, const void *pending,
                      size_t npending);

/* Fills in defaults and copies the subprotocols. 0 or -ENOMEM. */
int aioc__ws_set_opts(aioc_ws *ws, const aioc_ws_opts *opts);

#endif
