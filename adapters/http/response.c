/* Responses: a buffered one (status, headers, one body, sent with
 * Content-Length when the handler returns) or a streamed one (the head
 * goes out at the first write, then chunks, or raw bytes when the handler
 * set Content-Length itself). The head is written in one piece, so a
 * small response is one write to the transport. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_internal.h"

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *aioc__http_reason(int status) {
    for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Unknown";
}

/* A write that gives up after `timeout` seconds without room (a peer that
 * stopped reading). */
static int deadline_write(aioc_stream *s, const void *buf, size_t n, double timeout) {
    aioc_scope sc;
    if (aioc_scope_enter(&sc, timeout))
        return aioc_stream_write(s, buf, n);
    int err = aioc_stream_write(s, buf, n);
    int serr = aioc_scope_exit(&sc);
    return err ? err : serr;
}

int aioc__http_write(aioc_http_response *res, const void *buf, size_t n) {
    return deadline_write(res->s, buf, n, res->write_timeout);
}

void aioc__http_response_init(aioc_http_response *res, aioc_stream *s, const bool *closing,
                              double write_timeout, bool head_only, bool http10, bool keep_alive) {
    *res = (aioc_http_response){.s = s,
                                .closing = closing,
                                .write_timeout = write_timeout,
                                .head_only = head_only,
                                .http10 = http10,
                                .keep_alive = keep_alive,
                                .status = 200};
}

void aioc__http_response_free(aioc_http_response *res) {
    free(res->headers);
    free(res->owned);
    free(res->pending_copy);
    res->headers = res->owned = res->pending_copy = NULL;
}

/* 1xx, 204 and 304 responses never carry a body or its length. */
static bool bodiless(int status) { return status < 200 || status == 204 || status == 304; }

int aioc_http_response_status(aioc_http_response *res, int status) {
    if (res->head_sent)
        return -EALREADY;
    if (status < 200 || status > 999)
        return -EINVAL;
    res->status = status;
    return 0;
}

int aioc_http_response_get_status(const aioc_http_response *res) { return res->status; }

static bool clean(const char *s, bool name) {
    if (name && !*s)
        return false;
    for (; *s; s++)
        if (*s == '\r' || *s == '\n' || (name && (*s == ':' || *s == ' ')))
            return false;
    return true;
}

int aioc_http_response_header(aioc_http_response *res, const char *name, const char *value) {
    if (res->head_sent)
        return -EALREADY;
    if (!name || !value || !clean(name, true) || !clean(value, false))
        return -EINVAL;
    size_t add = strlen(name) + strlen(value) + 4;
    if (res->headers_len + add + 1 > res->headers_cap) {
        size_t cap = res->headers_cap ? res->headers_cap : 256;
        while (cap < res->headers_len + add + 1)
            cap *= 2;
        char *p = realloc(res->headers, cap);
        if (!p)
            return -ENOMEM;
        res->headers = p;
        res->headers_cap = cap;
    }
    char *p = res->headers + res->headers_len;
    size_t nl = strlen(name), vl = strlen(value);
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 3); /* with the NUL */
    res->headers_len += add;
    if (!strcasecmp(name, "Content-Length"))
        res->has_length = true;
    else if (!strcasecmp(name, "Connection") && !strcasecmp(value, "close"))
        res->keep_alive = false;
    return 0;
}

int aioc_http_response_body_borrowed(aioc_http_response *res, const void *data, size_t n) {
    if (res->streamed || res->head_sent)
        return -EALREADY;
    free(res->owned);
    res->owned = NULL;
    res->body = n ? data : NULL;
    res->body_len = n;
    return 0;
}

int aioc_http_response_body(aioc_http_response *res, const void *data, size_t n) {
    if (res->streamed || res->head_sent)
        return -EALREADY;
    char *copy = malloc(n ? n : 1);
    if (!copy)
        return -ENOMEM;
    if (n)
        memcpy(copy, data, n);
    free(res->owned);
    res->owned = copy;
    res->body = copy;
    res->body_len = n;
    return 0;
}

int aioc_http_response_json(aioc_http_response *res, int status, const char *json) {
    int err = aioc_http_response_status(res, status);
    if (!err)
        err = aioc_http_response_header(res, "Content-Type", "application/json");
    if (!err)
        err = aioc_http_response_body(res, json, strlen(json));
    return err;
}

/* The Date header's value, formatted once a second (per thread). */
static const char *http_date(void) {
    static _Thread_local time_t cached_at = -1;
    static _Thread_local char date[64];
    time_t now = time(NULL);
    if (now != cached_at) {
        struct tm tm;
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
        cached_at = now;
    }
    return date;
}

/* A body up to this size goes out in the same write as the head: one
 * system call and one segment, and no wait for a delayed ACK between the
 * two when Nagle's algorithm holds the second back. */
#define BODY_WITH_HEAD 16384

/* Appending to a buffer known to be large enough (the head is built by
 * hand: snprintf was a tenth of a small response's CPU time). */
static char *put(char *p, const void *s, size_t n) {
    memcpy(p, s, n);
    return p + n;
}

static char *put_str(char *p, const char *s) { return put(p, s, strlen(s)); }

static char *put_num(char *p, unsigned long long v) {
    char digits[24];
    size_t i = sizeof digits;
    do
        digits[--i] = (char)('0' + v % 10);
    while (v /= 10);
    return put(p, digits + i, sizeof digits - i);
}

/* Sends the head — the status line, the handler's headers, Date, the
 * framing header (`length` >= 0: Content-Length; -1: chunked, or nothing
 * for HTTP/1.0; -2: nothing) and Connection — and, if given, `body` right
 * after it: in one write when the body is small. */
static int send_head(aioc_http_response *res, long long length, const void *body, size_t body_len) {
    if (res->closing && *res->closing)
        res->keep_alive = false;
    const char *conn = res->keep_alive ? (res->http10 ? "Connection: keep-alive\r\n" : "")
                                       : "Connection: close\r\n";
    size_t with = body_len <= BODY_WITH_HEAD ? body_len : 0;
    const char *reason = aioc__http_reason(res->status);
    const char *date = http_date();
    /* the fixed parts and numbers come to well under 256 bytes */
    size_t cap = res->headers_len + strlen(reason) + strlen(date) + 256 + with;
    char local[1024]; /* most heads (and small bodies) fit: no malloc */
    char *head = cap <= sizeof local ? local : malloc(cap);
    if (!head)
        return -ENOMEM;
    char *p = put(head, "HTTP/1.1 ", 9);
    p = put_num(p, (unsigned)res->status);
    p = put(p, " ", 1);
    p = put_str(p, reason);
    p = put(p, "\r\n", 2);
    if (res->headers_len)
        p = put(p, res->headers, res->headers_len);
    p = put(p, "Date: ", 6);
    p = put_str(p, date);
    p = put(p, "\r\n", 2);
    if (length >= 0) {
        p = put(p, "Content-Length: ", 16);
        p = put_num(p, (unsigned long long)length);
        p = put(p, "\r\n", 2);
    } else if (length == -1 && !res->http10) {
        p = put_str(p, "Transfer-Encoding: chunked\r\n");
    }
    p = put_str(p, conn);
    p = put(p, "\r\n", 2);
    if (with)
        p = put(p, body, with);
    res->head_sent = true;
    int err = aioc__http_write(res, head, (size_t)(p - head));
    if (head != local)
        free(head);
    if (!err && body_len > with)
        err = aioc__http_write(res, body, body_len);
    if (err)
        res->broken = true;
    return err;
}

int aioc_http_response_upgrade(aioc_http_response *res, aioc_stream **s, const void **pending,
                               size_t *npending) {
    if (res->head_sent || res->streamed || res->upgraded)
        return -EALREADY;
    if (res->http10 || res->head_only)
        return -EINVAL; /* RFC 9110 §7.8: an HTTP/1.0 request cannot upgrade */
    static const char line[] = "HTTP/1.1 101 Switching Protocols\r\n";
    size_t n = sizeof line - 1 + res->headers_len + 2;
    char local[1024];
    char *head = n <= sizeof local ? local : malloc(n);
    if (!head)
        return -ENOMEM;
    char *p = put(head, line, sizeof line - 1);
    if (res->headers_len)
        p = put(p, res->headers, res->headers_len);
    p = put(p, "\r\n", 2);
    res->head_sent = res->ended = res->upgraded = true;
    int err = aioc__http_write(res, head, (size_t)(p - head));
    if (head != local)
        free(head);
    if (err)
        return err;
    /* no more HTTP on this connection: what only HTTP needs goes back to
     * the allocator now (a long-lived upgraded connection would hold it
     * idle), the bytes read past the request in a copy of their own */
    if (res->npending && !(res->pending_copy = malloc(res->npending)))
        return -ENOMEM;
    if (res->npending)
        memcpy(res->pending_copy, res->pending, res->npending);
    if (res->release)
        res->release(res->conn);
    *s = res->s;
    if (pending)
        *pending = res->pending_copy;
    if (npending)
        *npending = res->npending;
    return 0;
}

int aioc_http_response_write(aioc_http_response *res, const void *data, size_t n) {
    if (res->ended || res->body || res->broken)
        return res->broken ? -EPIPE : -EALREADY;
    int err = 0;
    if (!res->head_sent) {
        res->streamed = true;
        /* HTTP/1.0 has no chunks: the body ends when the connection does */
        if (res->http10 && !res->has_length)
            res->keep_alive = false;
        res->chunked = !res->http10 && !res->has_length && !bodiless(res->status);
        err = send_head(res, res->has_length || bodiless(res->status) ? -2 : -1, NULL, 0);
    }
    if (err || n == 0 || res->head_only || bodiless(res->status))
        return err;
    if (res->chunked) {
        char size[24];
        int len = snprintf(size, sizeof size, "%zx\r\n", n);
        err = aioc__http_write(res, size, (size_t)len);
        if (!err)
            err = aioc__http_write(res, data, n);
        if (!err)
            err = aioc__http_write(res, "\r\n", 2);
    } else {
        err = aioc__http_write(res, data, n);
    }
    if (err)
        res->broken = true;
    return err;
}

int aioc_http_response_end(aioc_http_response *res) {
    if (res->ended)
        return 0;
    if (!res->head_sent) {
        int err = aioc_http_response_write(res, NULL, 0);
        if (err)
            return err;
    }
    if (res->broken)
        return -EPIPE;
    res->ended = true;
    if (res->chunked && !res->head_only) {
        int err = aioc__http_write(res, "0\r\n\r\n", 5);
        if (err)
            res->broken = true;
        return err;
    }
    return 0;
}

int aioc__http_response_finish(aioc_http_response *res, int err) {
    if (res->upgraded)
        return err;
    if (res->streamed) {
        if (err || res->broken)
            return err ? err : -EPIPE; /* a body cut short: only closing tells */
        return aioc_http_response_end(res);
    }
    if (err < 0) {
        /* the handler failed before sending anything: a plain 500 */
        free(res->headers);
        free(res->owned);
        res->headers = res->owned = NULL;
        res->headers_len = res->headers_cap = 0;
        res->has_length = false;
        res->status = 500;
        res->body = "Internal Server Error";
        res->body_len = strlen(res->body);
    }
    long long length = bodiless(res->status) || res->has_length ? -2 : (long long)res->body_len;
    bool with_body = res->body_len && !res->head_only && !bodiless(res->status);
    err = send_head(res, length, with_body ? res->body : NULL, with_body ? res->body_len : 0);
    res->ended = true;
    return err;
}

int aioc__http_send_error(aioc_stream *s, int status, double timeout) {
    char buf[320];
    const char *reason = aioc__http_reason(status);
    /* Date too: an origin server with a clock must send it with every
     * 4xx (RFC 9110 §6.6.1) */
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nDate: %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, reason, http_date(), strlen(reason), reason);
    return deadline_write(s, buf, (size_t)n, timeout);
}
