/* RESP2 requests in, replies out (see resp.h). */
#define _POSIX_C_SOURCE 200809L
#include "resp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ requests -- */

static int fail(resp_parser *p, const char *why) {
    p->error = why;
    return RESP_ERROR;
}

static int add_arg(resp_parser *p, size_t off, size_t len) {
    if (p->argc == p->cap) {
        /* grows with the arguments that arrived, never to the count a
         * request declares (each argument is at least 6 bytes of input) */
        size_t cap = p->cap ? p->cap * 2 : 16;
        resp_arg *argv = realloc(p->argv, cap * sizeof *argv);
        if (!argv)
            return -1;
        p->argv = argv;
        p->cap = cap;
    }
    p->argv[p->argc++] = (resp_arg){off, len};
    return 0;
}

/* Reads the number of a "*N\r\n" or "$N\r\n" line starting at in[p->pos].
 * Returns 1 (p->pos past the line, *n set), RESP_MORE, or RESP_ERROR. */
static int header(resp_parser *p, const char *in, size_t len, long long *n, const char *too_big,
                  const char *invalid) {
    size_t avail = len - p->pos;
    const char *cr = memchr(in + p->pos, '\r', avail < RESP_MAX_INLINE ? avail : RESP_MAX_INLINE);
    if (!cr)
        return avail >= RESP_MAX_INLINE ? fail(p, too_big) : RESP_MORE;
    size_t at = (size_t)(cr - in);
    if (at + 1 == len)
        return RESP_MORE; /* the '\n' is still to come */
    if (in[at + 1] != '\n' || !str_to_ll(in + p->pos + 1, at - p->pos - 1, n))
        return fail(p, invalid);
    p->pos = at + 2;
    return 1;
}

/* An inline request: one line of words separated by spaces ("SET k v").
 * (Redis also reads quoted words here; this parser does not.) */
static int parse_inline(resp_parser *p, const char *in, size_t len) {
    size_t avail = len - p->pos;
    const char *nl = memchr(in + p->pos, '\n', avail < RESP_MAX_INLINE ? avail : RESP_MAX_INLINE);
    if (!nl)
        return avail >= RESP_MAX_INLINE ? fail(p, "too big inline request") : RESP_MORE;
    size_t end = (size_t)(nl - in), i = p->pos;
    if (end > i && in[end - 1] == '\r')
        end--;
    while (i < end) {
        while (i < end && (in[i] == ' ' || in[i] == '\t'))
            i++;
        size_t word = i;
        while (i < end && in[i] != ' ' && in[i] != '\t')
            i++;
        if (i > word && add_arg(p, word, i - word))
            return fail(p, "out of memory");
    }
    p->pos = (size_t)(nl - in) + 1;
    return RESP_REQUEST; /* argc 0 for an empty line: the caller skips it */
}

int resp_parse(resp_parser *p, const char *in, size_t len) {
    long long n;
    int r;
    while (p->want < 0) { /* a new request */
        p->start = p->pos;
        p->argc = 0;
        p->bulk = -1;
        if (p->pos == len)
            return RESP_MORE;
        if (in[p->pos] != '*')
            return parse_inline(p, in, len);
        r = header(p, in, len, &n, "too big mbulk count string", "invalid multibulk length");
        if (r != 1)
            return r;
        if (n > RESP_MAX_ARGS)
            return fail(p, "invalid multibulk length");
        if (n > 0) /* "*0" and "*-1" are no request at all: skipped */
            p->want = (long)n;
    }
    while ((long)p->argc < p->want) {
        if (p->bulk < 0) { /* the "$N" line */
            if (p->pos == len)
                return RESP_MORE;
            if (in[p->pos] != '$') {
                unsigned char c = (unsigned char)in[p->pos];
                if (c > ' ' && c < 127)
                    snprintf(p->errbuf, sizeof p->errbuf, "expected '$', got '%c'", c);
                else
                    snprintf(p->errbuf, sizeof p->errbuf, "expected '$', got byte 0x%02x", c);
                return fail(p, p->errbuf);
            }
            r = header(p, in, len, &n, "too big bulk count string", "invalid bulk length");
            if (r != 1)
                return r;
            if (n < 0 || n > RESP_MAX_BULK)
                return fail(p, "invalid bulk length");
            p->bulk = (long)n;
        }
        size_t need = (size_t)p->bulk + 2; /* the bytes and their "\r\n" */
        if (len - p->pos < need)
            return RESP_MORE;
        if (in[p->pos + need - 2] != '\r' || in[p->pos + need - 1] != '\n')
            return fail(p, "expected CRLF after a bulk string");
        if (add_arg(p, p->pos, (size_t)p->bulk))
            return fail(p, "out of memory");
        p->pos += need;
        p->bulk = -1;
    }
    p->want = -1;
    return RESP_REQUEST;
}

void resp_shift(resp_parser *p, size_t n) {
    p->start -= n;
    p->pos -= n;
    for (size_t i = 0; i < p->argc; i++)
        p->argv[i].off -= n;
}

void resp_parser_free(resp_parser *p) {
    free(p->argv);
    p->argv = NULL;
    p->argc = p->cap = 0;
}

/* ------------------------------------------------------------- numbers -- */

int ll_to_str(long long v, char *out) {
    char tmp[24];
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
}

int str_to_ll(const char *s, size_t len, long long *v) {
    if (len == 0 || len > 20)
        return 0;
    size_t i = 0;
    int neg = s[0] == '-';
    if (neg && ++i == len)
        return 0;
    if (s[i] == '0' && len > i + 1)
        return 0; /* "007", "-0..." */
    unsigned long long u = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (u > (18446744073709551615ULL - d) / 10)
            return 0;
        u = u * 10 + d;
    }
    if (neg ? u > 9223372036854775808ULL : u > 9223372036854775807ULL)
        return 0;
    *v = neg ? (long long)(0ULL - u) : (long long)u;
    return 1;
}

/* ------------------------------------------------------------- replies -- */

/* Out of memory is fatal here, as in Redis (its zmalloc aborts): a
 * server that cannot answer correctly should not answer at all. The
 * protocol's caps are what keep a client from making us use it all. */
int buf_reserve(kv_buf *b, size_t n) {
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        fputs("kv: out of memory\n", stderr);
        abort();
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

void buf_append(kv_buf *b, const void *data, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

void buf_free(kv_buf *b) {
    free(b->data);
    *b = (kv_buf){0};
}

void reply_ok(kv_buf *b) { buf_append(b, "+OK\r\n", 5); }

void reply_simple(kv_buf *b, const char *s) {
    buf_append(b, "+", 1);
    buf_append(b, s, strlen(s));
    buf_append(b, "\r\n", 2);
}

void reply_error(kv_buf *b, const char *fmt, ...) {
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof text)
        n = sizeof text - 1;
    for (int i = 0; i < n; i++) /* an error is one line: a client's bytes echoed in it too */
        if (text[i] == '\r' || text[i] == '\n')
            text[i] = ' ';
    buf_append(b, "-", 1);
    buf_append(b, text, (size_t)n);
    buf_append(b, "\r\n", 2);
}

/* ":v\r\n", "*v\r\n", "$v\r\n" */
static void reply_number(kv_buf *b, char type, long long v) {
    buf_reserve(b, 24);
    char *p = b->data + b->len;
    *p++ = type;
    p += ll_to_str(v, p);
    *p++ = '\r';
    *p++ = '\n';
    b->len = (size_t)(p - b->data);
}

void reply_int(kv_buf *b, long long v) { reply_number(b, ':', v); }
void reply_array(kv_buf *b, long n) { reply_number(b, '*', n); }
void reply_nil(kv_buf *b) { buf_append(b, "$-1\r\n", 5); }

void reply_bulk(kv_buf *b, const void *data, size_t len) {
    buf_reserve(b, len + 26);
    reply_number(b, '$', (long long)len);
    memcpy(b->data + b->len, data, len);
    memcpy(b->data + b->len + len, "\r\n", 2);
    b->len += len + 2;
}

void reply_bulk_str(kv_buf *b, const char *s) { reply_bulk(b, s, strlen(s)); }
