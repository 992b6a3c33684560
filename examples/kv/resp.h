/* RESP2, the Redis protocol: reading requests, writing replies.
 *
 * A request is an array of bulk strings, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
 * or an inline line, "GET k\r\n" (what telnet users type). A reply is one
 * of five types: "+OK\r\n" (simple string), "-ERR ...\r\n" (error),
 * ":42\r\n" (integer), "$5\r\nhello\r\n" (bulk string; "$-1\r\n" is nil)
 * and "*N\r\n" followed by N replies (array; "*-1\r\n" is a nil array).
 * https://redis.io/docs/latest/develop/reference/protocol-spec/
 *
 * The parser never copies: a request's arguments are offsets into the
 * caller's input buffer. It also never trusts a declared size: a length
 * says how many bytes to wait for, not how many to allocate, so memory
 * grows only with the bytes that really arrived. */
#ifndef KV_RESP_H
#define KV_RESP_H

#include <stddef.h>
#include <stdint.h>

#define RESP_MAX_BULK (512L * 1024 * 1024) /* longest argument (Redis's proto-max-bulk-len) */
#define RESP_MAX_ARGS (1024L * 1024)       /* most arguments in a request */
#define RESP_MAX_INLINE (64 * 1024)        /* longest inline request or header line */

/* ------------------------------------------------------------ requests -- */

/* One argument: `len` bytes at offset `off` of the input buffer. */
typedef struct resp_arg {
    size_t off, len;
} resp_arg;

/* Where the parser is in the input. It keeps its place across reads, so a
 * request that arrives in many pieces is not parsed again from its start
 * each time a piece comes. Zero-initialise it; free argv when done. */
typedef struct resp_parser {
    size_t start; /* where the request being parsed begins */
    size_t pos;   /* how far it has been parsed */
    long want;    /* arguments it declared; -1 before its "*N" line */
    long bulk;    /* length of the argument being read; -1 before its "$N" */
    resp_arg *argv;
    size_t argc, cap;
    const char *error; /* after RESP_ERROR: what was wrong, for the reply */
    char errbuf[48];
} resp_parser;

enum {
    RESP_MORE = 0,    /* no complete request yet: read more, call again */
    RESP_REQUEST = 1, /* p->argv[0 .. p->argc) is a request */
    RESP_ERROR = -1,  /* malformed: reply "-ERR Protocol error: <p->error>", close */
};

/* Parses the next request in in[p->pos .. len). After RESP_REQUEST the
 * request spans in[p->start .. p->pos): the caller handles it, then calls
 * again for the next one. */
int resp_parse(resp_parser *p, const char *in, size_t len);

/* The caller moved its input down by `n` bytes (dropping handled requests
 * in front): the parser's offsets follow. */
void resp_shift(resp_parser *p, size_t n);

void resp_parser_free(resp_parser *p);

/* ------------------------------------------------------------- replies -- */

/* A growable byte buffer, where replies are written before they are sent. */
typedef struct kv_buf {
    char *data;
    size_t len, cap;
} kv_buf;

/* Makes room for `n` more bytes; 0 or -1 (out of memory). */
int buf_reserve(kv_buf *b, size_t n);
void buf_append(kv_buf *b, const void *data, size_t n);
void buf_free(kv_buf *b);

void reply_ok(kv_buf *b);                         /* +OK */
void reply_simple(kv_buf *b, const char *s);      /* +s */
void reply_error(kv_buf *b, const char *fmt, ...) /* -ERR..., printf-style */
    __attribute__((format(printf, 2, 3)));
void reply_int(kv_buf *b, long long v);                   /* :v */
void reply_bulk(kv_buf *b, const void *data, size_t len); /* $len data */
void reply_bulk_str(kv_buf *b, const char *s);
void reply_nil(kv_buf *b);           /* $-1 */
void reply_array(kv_buf *b, long n); /* *n, then n replies; -1: nil array */

/* Writes `v` in decimal at `out` (room for 21 bytes); returns the length. */
int ll_to_str(long long v, char *out);

/* Reads a whole decimal integer (no spaces, no '+', no leading zeros, in
 * range, as Redis's string2ll). Returns 1 and sets *v, or 0. */
int str_to_ll(const char *s, size_t len, long long *v);

#endif
