/* The server and its connections: one task per connection reads bytes,
 * feeds them to llhttp, and answers each request before parsing the next.
 *
 * llhttp is paused twice per request, by returning HPE_PAUSED from a
 * callback: when the head is complete (so the head's exact size is known,
 * the limits and Expect: 100-continue are dealt with, and the request
 * object is built), and when the message is complete (so the handler runs
 * with the whole body, and pipelined requests behind it wait in the read
 * buffer until the response is out). While a head is being parsed, llhttp
 * is never fed more than the head limit allows, so an endless head costs
 * at most the limit.
 *
 * Deadlines are scopes around each read: until a request's first byte,
 * the idle deadline (the head deadline for a new connection); then the
 * head deadline, fixed when the head began; then a per-read body deadline.
 * A connection waiting for a request keeps its scope where the server can
 * cancel it, which is how a graceful close ends idle connections at once.
 * Writes have a deadline of their own (response.c): a peer that stops
 * reading loses the connection. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "http_internal.h"

#define READ_SIZE 16384
#define MAX_HEAD_LIMIT (16u << 20) /* what the options may ask for at most */
#define MAX_HEADERS_LIMIT 65536

typedef struct conn conn;

struct aioc_http_server {
    aioc_http_handler fn;
    void *arg;
    aioc_http_opts o;
    aioc_server *listener; /* aioc_http_listen's, or adopted; NULL: none */
    conn *conns;           /* every connection being served, a doubly linked list */
    size_t nconns;
    aioc_event idle; /* set while no connection is served */
    bool closing;
    aioc_http_server *prev_open, *next_open; /* the loop's open servers */
};

struct conn {
    conn *prev, *next;
    aioc_http_server *h;
    aioc_stream *s;
    aioc_task task;
    aioc_scope scope; /* the scope of the read in progress */
    bool idle;        /* waiting for a request: the server may cancel `scope` */
    llhttp_t p;
    char *rbuf;
    size_t rpos, rlen;
    /* the head being parsed: strings, NUL-terminated, in a fixed arena */
    char *arena;
    size_t alen, acap;
    size_t url_off, *name_off, *value_off, nheaders;
    size_t head_bytes;
    bool in_message, in_head, head_done, complete, keep_alive;
    bool url_done;   /* the request target was parsed whole */
    int fail_status; /* 413, 431 or 500, from a callback */
    char *body;
    size_t body_len, body_cap;
    aioc_http_request req;
};

/* ------------------------------------------------------ llhttp callbacks -- */

static conn *of(llhttp_t *p) { return p->data; }

static int append(conn *c, const char *at, size_t n) {
    if (c->alen + n + 1 > c->acap) {
        c->fail_status = 431;
        return -1;
    }
    memcpy(c->arena + c->alen, at, n);
    c->alen += n;
    return 0;
}

static int on_message_begin(llhttp_t *p) {
    conn *c = of(p);
    c->in_message = c->in_head = true;
    c->url_done = false;
    c->alen = c->nheaders = c->body_len = 0;
    c->url_off = 0;
    c->name_off[0] = SIZE_MAX;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) { return append(of(p), at, n); }

static int on_url_complete(llhttp_t *p) {
    of(p)->url_done = true;
    return append(of(p), "", 1);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
    conn *c = of(p);
    if (c->nheaders == c->h->o.max_headers) {
        c->fail_status = 431;
        return -1;
    }
    if (c->name_off[c->nheaders] == SIZE_MAX)
        c->name_off[c->nheaders] = c->alen;
    return append(c, at, n);
}

static int on_header_field_complete(llhttp_t *p) {
    conn *c = of(p);
    if (c->name_off[c->nheaders] == SIZE_MAX)
        c->name_off[c->nheaders] = c->alen;
    int err = append(c, "", 1);
    c->value_off[c->nheaders] = c->alen;
    return err;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) { return append(of(p), at, n); }

static int on_header_value_complete(llhttp_t *p) {
    conn *c = of(p);
    while (c->alen > c->value_off[c->nheaders] &&
           (c->arena[c->alen - 1] == ' ' || c->arena[c->alen - 1] == '\t'))
        c->alen--;
    int err = append(c, "", 1);
    c->nheaders++;
    if (c->nheaders <= c->h->o.max_headers)
        c->name_off[c->nheaders] = SIZE_MAX;
    return err;
}

static int on_headers_complete(llhttp_t *p) {
    conn *c = of(p);
    c->in_head = false;
    c->head_done = true;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
    conn *c = of(p);
    if (n > c->h->o.max_body_bytes - c->body_len) {
        c->fail_status = 413;
        return -1;
    }
    if (c->body_len + n + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 4096;
        while (cap < c->body_len + n + 1)
            cap *= 2;
        char *b = realloc(c->body, cap);
        if (!b) {
            c->fail_status = 500; /* out of memory */
            return -1;
        }
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    return 0;
}

static int on_message_complete(llhttp_t *p) {
    conn *c = of(p);
    c->complete = true;
    c->keep_alive = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p);
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------ requests -- */

const char *aioc_http_request_method(const aioc_http_request *req) { return req->method; }
const char *aioc_http_request_path(const aioc_http_request *req) { return req->path; }
const char *aioc_http_request_query(const aioc_http_request *req) { return req->query; }
int aioc_http_request_minor(const aioc_http_request *req) { return req->minor; }
size_t aioc_http_request_header_count(const aioc_http_request *req) { return req->nheaders; }

const char *aioc_http_request_header(const aioc_http_request *req, const char *name) {
    for (size_t i = 0; i < req->nheaders; i++)
        if (!strcasecmp(req->names[i], name))
            return req->values[i];
    return NULL;
}

int aioc_http_request_header_at(const aioc_http_request *req, size_t i, const char **name,
                                const char **value) {
    if (i >= req->nheaders)
        return -ERANGE;
    if (name)
        *name = req->names[i];
    if (value)
        *value = req->values[i];
    return 0;
}

const char *aioc_http_request_body(const aioc_http_request *req, size_t *len) {
    if (len)
        *len = req->body_len;
    return req->body;
}

int aioc_http_request_peer_address(const aioc_http_request *req, char *buf, size_t n) {
    return aioc_stream_peer_address(req->stream, buf, n);
}

const char *aioc_http_request_param(const aioc_http_request *req, const char *name) {
    for (size_t i = 0; i < req->nparams; i++)
        if (!strcmp(req->param_names[i], name))
            return req->param_values[i];
    return NULL;
}

/* ------------------------------------------------ checks on the head -- */

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static bool is_hex(char ch) {
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* RFC 3986's unreserved and sub-delims characters. */
static bool is_host_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) ||
           (ch && strchr("-._~!$&'()*+,;=", ch));
}

/* An IP literal's inside (between the brackets): an IPv6 address, or
 * "v" 1*HEXDIG "." 1*(unreserved / sub-delims / ":") (IPvFuture). */
static bool valid_ip_literal(const char *s, size_t n) {
    if (n && (s[0] == 'v' || s[0] == 'V')) {
        size_t i = 1;
        while (i < n && is_hex(s[i]))
            i++;
        if (i == 1 || i + 1 >= n || s[i] != '.')
            return false;
        for (i++; i < n; i++)
            if (!is_host_char(s[i]) && s[i] != ':')
                return false;
        return true;
    }
    char addr[64];
    struct in6_addr a;
    if (n == 0 || n >= sizeof addr)
        return false;
    memcpy(addr, s, n);
    addr[n] = '\0';
    return inet_pton(AF_INET6, addr, &a) == 1;
}

/* RFC 9112 §3.2: Host = uri-host [ ":" port ], RFC 3986's: an IP literal
 * in brackets or a reg-name (unreserved, sub-delims and %XX; IPv4
 * addresses are reg-names too), then digits after a colon. Empty is valid
 * (what a client sends for a target without an authority). */
static bool valid_host(const char *s) {
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (!end || !valid_ip_literal(s + 1, (size_t)(end - s - 1)))
            return false;
        s = end + 1;
    } else {
        for (; *s && *s != ':'; s++) {
            if (*s == '%' && is_hex(s[1]) && is_hex(s[2]))
                s += 2;
            else if (!is_host_char(*s))
                return false;
        }
    }
    if (*s == ':')
        for (s++; is_digit(*s); s++)
            ;
    return *s == '\0';
}

/* RFC 9112 §6.1 and §6.3: the request's transfer codings, in order over
 * its Transfer-Encoding lines (one list, RFC 9110 §5.3), must end with
 * chunked, once: anything else leaves the body without a reliable length
 * (400, and the connection closes). A coding before chunked is one this
 * server does not implement (501). Empty list elements are skipped (RFC
 * 9110 §5.6.1). Returns 0 or the status. */
static int check_transfer_codings(const aioc_http_request *r) {
    bool present = false, chunked_last = false;
    int status = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->names[i], "Transfer-Encoding"))
            continue;
        present = true;
        for (const char *e = r->values[i]; *e;) {
            e += strspn(e, " \t,");
            size_t n = strcspn(e, " \t,;");
            if (!n && *e) /* a parameter or stray byte with no coding */
                return 400;
            if (!n)
                break;
            if (chunked_last)
                return 400; /* something after chunked, chunked included */
            if (n == 7 && !strncasecmp(e, "chunked", 7))
                chunked_last = true;
            else
                status = 501;
            e += n;
            e += strcspn(e, ","); /* the coding's parameters */
        }
    }
    if (present && !chunked_last)
        return 400;
    return status;
}

/* Makes the request object from the parsed head, and checks what llhttp
 * leaves to its user: the Host rules and the request target's form (RFC
 * 9112 §3.2). The URL is split in the arena at '?' into path and query.
 * Returns 0 or the status to fail with. */
static int build_request(conn *c) {
    aioc_http_request *r = &c->req;
    free(r->param_buf);
    *r = (aioc_http_request){.stream = r->stream, .names = r->names, .values = r->values};
    r->method = llhttp_method_name(llhttp_get_method(&c->p));
    r->head = llhttp_get_method(&c->p) == HTTP_HEAD;
    r->minor = llhttp_get_http_minor(&c->p);
    for (size_t i = 0; i < c->nheaders; i++) {
        r->names[i] = c->arena + c->name_off[i];
        r->values[i] = c->arena + c->value_off[i];
        if (!*r->names[i])
            return 400; /* ": value" */
    }
    r->nheaders = c->nheaders;
    /* an HTTP/1.1 request without Host, any request with two, or an
     * invalid one: 400 */
    size_t hosts = 0, host = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->names[i], "Host"))
            hosts++, host = i;
    if ((hosts == 0 && r->minor >= 1) || hosts > 1 || (hosts && !valid_host(r->values[host])))
        return 400;
    int status = check_transfer_codings(r);
    if (status)
        return status;
    if (r->minor == 0 && (c->p.flags & F_TRANSFER_ENCODING))
        return 400; /* §6.1: HTTP/1.0 has no transfer codings: faulty framing */
    char *url = c->arena + c->url_off;
    if (*url != '/' && strcmp(url, "*")) {
        /* the absolute-form, "http://authority/path?query" (§3.2.2),
         * which a server must accept: the origin server uses the
         * target's authority, not Host. The authority moves two bytes
         * left (over "//") to end with its own NUL, and the path is what
         * follows it, or "/" written into the byte freed. */
        size_t scheme = !strncasecmp(url, "http://", 7)    ? 7
                        : !strncasecmp(url, "https://", 8) ? 8
                                                           : 0;
        if (!scheme)
            return 400;
        char *auth = url + scheme;
        size_t n = strcspn(auth, "/?");
        if (!n)
            return 400; /* RFC 9110 §4.2.1: an http URI needs a host */
        memmove(auth - 2, auth, n);
        auth[n - 2] = '\0';
        if (!valid_host(auth - 2))
            return 400;
        url = auth + n;
        if (*url != '/')
            *--url = '/';
        if (hosts)
            r->values[host] = auth - 2;
    }
    char *q = strchr(url, '?');
    if (q)
        *q++ = '\0';
    r->path = url;
    r->query = q ? q : "";
    return 0;
}

/* ---------------------------------------------------------- connection -- */

/* After an error response: stop writing, then read and drop what the peer
 * still sends for a moment, so that closing with unread bytes does not
 * reset the connection before the peer has read the response. */
static void linger(conn *c) {
    aioc_scope sc;
    if (aioc_scope_enter(&sc, 1.0))
        return;
    if (aioc_stream_write_eof(c->s)) {
        aioc_scope_exit(&sc);
        return;
    }
    size_t dropped = 0;
    long n;
    while (dropped < 256 * 1024 && (n = aioc_stream_read(c->s, c->rbuf, READ_SIZE)) > 0)
        dropped += (size_t)n;
    aioc_scope_exit(&sc);
}

static int fail(conn *c, int status) {
    int err = aioc__http_send_error(c->s, status, c->h->o.write_timeout);
    if (!err)
        linger(c);
    return err;
}

/* Reads into the empty buffer under the deadline `when`. */
static long read_some(conn *c, double when, bool idle) {
    if (c->h->closing && idle)
        return 0;
    if (aioc_scope_enter_at(&c->scope, when))
        return -ENOMEM;
    c->idle = idle;
    long n = aioc_stream_read(c->s, c->rbuf, READ_SIZE);
    c->idle = false;
    int serr = aioc_scope_exit(&c->scope);
    if (n < 0 && serr == -ECANCELED && c->h->closing)
        return 0; /* the server closes: the connection was idle, end it */
    return n;
}

/* Moves `*p` along with the arena if it points into the old one. */
static void rebase(const char **p, const char *old, size_t n, char *now) {
    uintptr_t at = (uintptr_t)*p, from = (uintptr_t)old;
    if (at >= from && at < from + n)
        *p = now + (at - from);
}

/* The connection was upgraded (aioc_http_response_upgrade): it will read
 * no more HTTP, but its handler goes on, for as long as the new protocol
 * lives, and may still read the request. So the read buffer and the
 * parser's offsets go, and the head arena (sized for the largest head the
 * server takes) and the header tables shrink to what this request uses:
 * an idle WebSocket then holds a few hundred bytes of HTTP, not 20 KiB.
 * Out of memory, the arena simply stays as it is. */
static void release_for_upgrade(void *arg) {
    conn *c = arg;
    aioc_http_request *r = &c->req;
    free(c->rbuf);
    free(c->name_off);
    free(c->value_off);
    c->rbuf = NULL;
    c->name_off = c->value_off = NULL;
    c->rpos = c->rlen = 0;
    size_t n = c->alen;
    char *arena = malloc(n ? n : 1);
    const char **names = malloc((r->nheaders ? r->nheaders : 1) * sizeof *names);
    const char **values = malloc((r->nheaders ? r->nheaders : 1) * sizeof *values);
    if (!arena || !names || !values) {
        free(arena);
        free(names);
        free(values);
        return;
    }
    memcpy(arena, c->arena, n);
    for (size_t i = 0; i < r->nheaders; i++) {
        names[i] = r->names[i];
        values[i] = r->values[i];
        rebase(&names[i], c->arena, n, arena);
        rebase(&values[i], c->arena, n, arena);
    }
    rebase(&r->path, c->arena, n, arena);
    rebase(&r->query, c->arena, n, arena);
    free(c->arena);
    free(r->names);
    free(r->values);
    c->arena = arena;
    c->acap = n;
    r->names = names;
    r->values = values;
}

/* Runs the handler on a complete request and sends its response. Returns
 * 1 to go on with the next request, 0 to end the connection, or an error. */
static int respond(conn *c) {
    aioc_http_request *r = &c->req;
    if (c->body) /* NUL-terminated for the handler's convenience */
        c->body[c->body_len] = '\0';
    r->body = c->body ? c->body : "";
    r->body_len = c->body_len;
    aioc_http_response res;
    bool keep = c->keep_alive && !c->h->closing;
    aioc__http_response_init(&res, c->s, &c->h->closing, c->h->o.write_timeout, r->head,
                             r->minor == 0, keep);
    res.pending = c->rbuf + c->rpos;
    res.npending = c->rlen - c->rpos;
    res.release = release_for_upgrade;
    res.conn = c;
    int err = c->h->fn(r, &res, c->h->arg);
    if (res.upgraded) {
        /* the handler spoke another protocol on the connection: nothing
         * after the request is HTTP, and it ends here */
        aioc__http_response_free(&res);
        free(r->param_buf);
        r->param_buf = NULL;
        c->rpos = c->rlen;
        return err < 0 ? err : 0;
    }
    if (aioc_cancelling())
        err = -ECANCELED; /* cancelled (the grace ran out): send nothing more */
    else
        err = aioc__http_response_finish(&res, err < 0 ? err : 0);
    keep = res.keep_alive && !c->h->closing;
    aioc__http_response_free(&res);
    free(r->param_buf);
    r->param_buf = NULL;
    c->complete = c->in_message = false;
    if (err)
        return err;
    if (!keep) {
        aioc_scope sc;
        if (aioc_scope_enter(&sc, c->h->o.write_timeout))
            return aioc_stream_drain(c->s);
        err = aioc_stream_drain(c->s);
        int serr = aioc_scope_exit(&sc);
        return err ? err : serr;
    }
    llhttp_resume(&c->p);
    return 1;
}

/* The head is complete: check its size, version, method, fields and
 * announced body, answer Expect: 100-continue, build the request. Returns
 * 0 or an HTTP status to fail with. */
static int head_complete(conn *c) {
    c->head_done = false;
    if (c->head_bytes > c->h->o.max_head_bytes)
        return 431;
    if (llhttp_get_http_major(&c->p) != 1)
        return 505; /* RFC 9110 §2.5: the major version is refused */
    if (llhttp_get_method(&c->p) == HTTP_CONNECT)
        return 501; /* no tunnels here (RFC 9110 §9.3.6) */
    int status = build_request(c);
    if (status)
        return status;
    if ((c->p.flags & F_CONTENT_LENGTH) && c->p.content_length > c->h->o.max_body_bytes)
        return 413;
    const char *expect = aioc_http_request_header(&c->req, "Expect");
    if (expect && c->req.minor >= 1) {
        if (strcasecmp(expect, "100-continue"))
            return 417;
        if (aioc_stream_write(c->s, "HTTP/1.1 100 Continue\r\n\r\n", 25))
            return -1;
    }
    llhttp_resume(&c->p);
    return 0;
}

/* tchar, RFC 9110 §5.6.2: what a method or field name is made of. */
static bool is_tchar(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* The status for a request llhttp refused with `e`, ending at `end`: 505
 * for a well-formed version with a major number other than 1 (llhttp
 * stored both digits before refusing it); 501 for a method that is a
 * token llhttp does not know (the bytes from where it stopped matching
 * are token characters up to a space; those before matched a known
 * method's start); else 400. */
static int refused_status(conn *c, llhttp_errno_t e, const char *end) {
    if (e == HPE_INVALID_VERSION &&
        !strcmp(llhttp_get_error_reason(&c->p), "Invalid HTTP version") &&
        llhttp_get_http_major(&c->p) != 1)
        return 505;
    if (e == HPE_INVALID_METHOD) {
        const char *at = llhttp_get_error_pos(&c->p);
        while (at && at < end && is_tchar(*at))
            at++;
        if (at && at < end && *at == ' ')
            return 501;
    }
    return 400;
}

static int serve(conn *c) {
    const aioc_http_opts *o = &c->h->o;
    double head_deadline = aioc_now() + o->head_timeout;
    double idle_deadline = head_deadline; /* bytes that begin no request do not extend it */
    bool first = true, resumed = false;
    for (;;) {
        /* after a pause llhttp may have steps left that need no bytes (a
         * request without a body completes right after its head) */
        if (c->rpos == c->rlen && !resumed) {
            bool idle = !c->in_message;
            double when = !idle   ? (c->in_head ? head_deadline : aioc_now() + o->body_timeout)
                          : first ? head_deadline
                                  : idle_deadline;
            long n = read_some(c, when, idle);
            if (n == -ETIMEDOUT && c->in_message && c->in_head) {
                fail(c, 408);
                return -ETIMEDOUT;
            }
            if (n <= 0)
                return (int)n; /* 0: the peer is done */
            c->rpos = 0;
            c->rlen = (size_t)n;
            if (idle && !first)
                head_deadline = aioc_now() + o->head_timeout;
        }
        if (!c->in_message)
            c->head_bytes = 0;
        size_t avail = c->rlen - c->rpos;
        if (!c->in_message || c->in_head) {
            size_t room = o->max_head_bytes + 1 - c->head_bytes;
            if (avail > room)
                avail = room;
        }
        const char *start = c->rbuf + c->rpos;
        bool counting = !c->in_message || c->in_head;
        llhttp_errno_t e = llhttp_execute(&c->p, start, avail);
        resumed = false;
        size_t used = e == HPE_OK ? avail : (size_t)(llhttp_get_error_pos(&c->p) - start);
        if (e != HPE_OK && e != HPE_PAUSED)
            used = avail;
        if (counting)
            c->head_bytes += used;
        c->rpos += used;
        if (e == HPE_OK) {
            /* RFC 9112 §3: a target longer than the limit is 414 */
            if (c->in_head && c->head_bytes > o->max_head_bytes)
                return fail(c, c->url_done ? 431 : 414);
            continue;
        }
        if (e == HPE_PAUSED && c->head_done) {
            first = false;
            int status = head_complete(c);
            if (status)
                return status < 0 ? -EPIPE : fail(c, status);
            resumed = true;
            continue;
        }
        if (e == HPE_PAUSED && c->complete) {
            int r = respond(c);
            if (r <= 0)
                return r;
            head_deadline = aioc_now() + o->head_timeout;
            idle_deadline = aioc_now() + o->idle_timeout;
            resumed = true;
            continue;
        }
        if (e == HPE_PAUSED_UPGRADE)
            return 0; /* nothing after an upgrade request is HTTP any more */
        if (!c->fail_status)
            c->fail_status = refused_status(c, e, start + avail);
        return fail(c, c->fail_status);
    }
}

static void conn_free(conn *c) {
    free(c->rbuf);
    free(c->arena);
    free(c->name_off);
    free(c->value_off);
    free(c->body);
    free(c->req.names);
    free(c->req.values);
    free(c->req.param_buf);
}

int aioc_http_serve_stream(aioc_http_server *h, aioc_stream *s) {
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    if (h->closing)
        return -EBUSY;
    conn c = {.h = h, .s = s, .task = aioc_current(), .req.stream = s};
    size_t nh = h->o.max_headers + 1;
    c.acap = h->o.max_head_bytes + 2 * nh + 64;
    c.rbuf = malloc(READ_SIZE);
    c.arena = malloc(c.acap);
    c.name_off = malloc(nh * sizeof *c.name_off);
    c.value_off = malloc(nh * sizeof *c.value_off);
    c.req.names = malloc(nh * sizeof *c.req.names);
    c.req.values = malloc(nh * sizeof *c.req.values);
    if (!c.rbuf || !c.arena || !c.name_off || !c.value_off || !c.req.names || !c.req.values) {
        conn_free(&c);
        return -ENOMEM;
    }
    c.name_off[0] = SIZE_MAX;
    llhttp_init(&c.p, HTTP_REQUEST, &settings);
    c.p.data = &c;
    c.next = h->conns;
    if (h->conns)
        h->conns->prev = &c;
    h->conns = &c;
    if (h->nconns++ == 0)
        aioc_event_clear(&h->idle);
    int err = serve(&c);
    if (c.prev)
        c.prev->next = c.next;
    else
        h->conns = c.next;
    if (c.next)
        c.next->prev = c.prev;
    if (--h->nconns == 0)
        aioc_event_set(&h->idle);
    conn_free(&c);
    return err;
}

/* -------------------------------------------------------------- server -- */

/* The loop's servers not closed yet, so that aioc_run frees those the
 * program leaves open: by then every task has ended and the TCP server was
 * closed by aioc_run itself, so only the records are left. */
static void free_open_servers(void *first) {
    for (aioc_http_server *h = first, *next; h; h = next) {
        next = h->next_open;
        aioc_event_destroy(&h->idle);
        free(h);
    }
}

static aioc_local_key open_servers = {free_open_servers};

static void remember_open(aioc_http_server *h) {
    aioc_http_server *first = aioc_loop_local_get(&open_servers);
    if (aioc_loop_local_set(&open_servers, h) != 0)
        return; /* no loop, or no memory: not remembered */
    h->next_open = first;
    if (first)
        first->prev_open = h;
}

static void forget_open(aioc_http_server *h) {
    if (h->prev_open)
        h->prev_open->next_open = h->next_open;
    else if (aioc_loop_local_get(&open_servers) == h)
        aioc_loop_local_set(&open_servers, h->next_open);
    if (h->next_open)
        h->next_open->prev_open = h->prev_open;
}

/* A timeout option: 0 (the default) or more, AIOC_NO_TIMEOUT included. */
static bool timeout_ok(double t) { return t >= 0; }

aioc_http_server *aioc_http_server_new(aioc_http_handler fn, void *arg,
                                       const aioc_http_opts *opts) {
    if (!fn || (opts && !(timeout_ok(opts->head_timeout) && timeout_ok(opts->body_timeout) &&
                          timeout_ok(opts->idle_timeout) && timeout_ok(opts->write_timeout)))) {
        errno = EINVAL;
        return NULL;
    }
    aioc_http_server *h = calloc(1, sizeof *h);
    if (!h) {
        errno = ENOMEM;
        return NULL;
    }
    h->fn = fn;
    h->arg = arg;
    if (opts)
        h->o = *opts;
    aioc_http_opts *o = &h->o;
    o->max_head_bytes = o->max_head_bytes ? o->max_head_bytes : 16384;
    if (o->max_head_bytes > MAX_HEAD_LIMIT)
        o->max_head_bytes = MAX_HEAD_LIMIT;
    o->max_headers = o->max_headers ? o->max_headers : 100;
    if (o->max_headers > MAX_HEADERS_LIMIT)
        o->max_headers = MAX_HEADERS_LIMIT;
    o->max_body_bytes = o->max_body_bytes ? o->max_body_bytes : 1 << 20;
    o->head_timeout = o->head_timeout > 0 ? o->head_timeout : 10;
    o->body_timeout = o->body_timeout > 0 ? o->body_timeout : 30;
    o->idle_timeout = o->idle_timeout > 0 ? o->idle_timeout : 15;
    o->write_timeout = o->write_timeout > 0 ? o->write_timeout : 30;
    aioc_event_init(&h->idle);
    aioc_event_set(&h->idle);
    remember_open(h);
    return h;
}

void aioc_http_stream_handler(aioc_stream *s, void *server) {
    /* a connection that broke with bytes still buffered (a peer that
     * stopped reading): cancelling its own task makes the listener drop
     * the stream (abort) instead of flushing it */
    if (aioc_http_serve_stream(server, s) < 0 && aioc_stream_write_buffered(s))
        aioc_cancel(aioc_current());
}

int aioc_http_server_adopt(aioc_http_server *h, aioc_server *listener) {
    if (!listener)
        return -EINVAL;
    if (h->listener || h->closing)
        return -EBUSY;
    h->listener = listener;
    return 0;
}

int aioc_http_listen(aioc_http_server *h, const char *host, const char *port) {
    if (h->listener || h->closing)
        return -EBUSY;
    int err;
    aioc_server *l = aioc_tcp_serve(host, port, aioc_http_stream_handler, h, &h->o.server, &err);
    if (!l)
        return err;
    /* resolving `host` may have suspended: another listen or a close may
     * have come meanwhile */
    if ((err = aioc_http_server_adopt(h, l)))
        aioc_server_close(l, 0);
    return err;
}

aioc_http_server *aioc_http_serve(const char *host, const char *port, aioc_http_handler fn,
                                  void *arg, const aioc_http_opts *opts, int *errp) {
    aioc_http_server *h = aioc_http_server_new(fn, arg, opts);
    int err = h ? aioc_http_listen(h, host, port) : -errno;
    if (err && h) {
        aioc_http_server_close(h, 0);
        h = NULL;
    }
    if (errp)
        *errp = err;
    return h;
}

int aioc_http_server_port(const aioc_http_server *h) {
    return h->listener ? aioc_server_port(h->listener) : 0;
}

size_t aioc_http_server_connections(const aioc_http_server *h) { return h->nconns; }

int aioc_http_server_close(aioc_http_server *h, double grace) {
    if (!h)
        return 0;
    h->closing = true;
    for (conn *c = h->conns; c; c = c->next)
        if (c->idle)
            aioc_scope_cancel(c->scope);
    aioc_scope shield; /* closing must finish, even for a cancelled caller */
    int shielded = aioc_shield_enter(&shield) == 0;
    double end = aioc_now() + (grace > 0 ? grace : 0);
    int ret = 0;
    if (h->listener) {
        ret = aioc_server_close(h->listener, grace);
        h->listener = NULL;
    }
    /* connections served on other streams, in their callers' tasks */
    aioc_scope wait;
    if (h->nconns && aioc_scope_enter_at(&wait, end) == 0) {
        aioc_event_wait(&h->idle);
        aioc_scope_exit(&wait);
    }
    if (h->nconns) { /* out of grace: cancel the rest and wait for them */
        ret = -ETIMEDOUT;
        for (conn *c = h->conns; c; c = c->next)
            aioc_cancel(c->task);
        aioc_event_wait(&h->idle);
    }
    if (shielded)
        aioc_scope_exit(&shield);
    aioc_event_destroy(&h->idle);
    forget_open(h);
    free(h);
    return ret;
}
