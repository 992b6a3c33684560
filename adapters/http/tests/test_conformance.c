/* HTTP/1.1 conformance from raw sockets: a table of requests a server can
 * get wrong (RFC 9112 and RFC 9110, the MUSTs and MUST NOTs a server can
 * break), each with the statuses the RFCs allow and whether the connection
 * must close after the answer.
 *
 *     http_tests conformance          the table against aioc_http
 *     http_tests conformance_nginx    the same table against Debian's nginx
 *
 * The nginx run proves the expectations against a server no one here
 * wrote: it is started here (/usr/sbin/nginx, not as a daemon, on a free
 * loopback port, with a temporary prefix and a config of its own whose
 * limits match the aioc run's). The few cases where nginx itself deviates
 * from the RFC carry a note saying how, and are skipped against it.
 *
 * Every case runs on a new connection. Whatever the case, an answer below
 * 500 must carry Date (RFC 9110 §6.6.1), one that says "Connection: close"
 * must be followed by the close (RFC 9112 §9.6), and after it another new
 * connection must still get a 200, so a case that breaks the server fails
 * there. Both servers answer any accepted request with
 * "<path>|<host>|<field X>\n" (nginx: `return 200 "$uri|$host|$http_x\n"`),
 * which some cases check. */
#define _GNU_SOURCE
#include <aioc_http.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* Deadlines are multiplied by this: AIOC_HTTP_TIME_SCALE, else 1. They
 * bound failures only (a passing case never waits for one). */
static double S = 1;

/* ------------------------------------------------------------ the table -- */

enum {
    ANY,         /* the connection may stay open or close */
    CLOSE,       /* it must close after the answer, whichever it is */
    CLOSE_IF_400 /* it must close if the answer is 400 (framing refused) */
};

typedef struct conf_case {
    const char *name;
    const char *req; /* the raw bytes (NULs allowed: see `len`) */
    size_t len;
    char *(*make)(size_t *len); /* or a request built at run time (malloc'd) */
    int ok[4];                  /* the statuses the RFCs allow; 0 ends the list */
    int close;
    const char *body;  /* a 2xx answer's exact body, where it matters */
    const char *nginx; /* how nginx deviates from the RFC here, or NULL */
} conf_case;

#define RAW(s) .req = s, .len = sizeof s - 1

/* RFC 9112 §3: a request-target longer than the server parses: 414. */
static char *long_target(size_t *len) {
    char *r = malloc(8192);
    CHECK(r);
    strcpy(r, "GET /");
    memset(r + 5, 'a', 8000);
    strcpy(r + 5 + 8000, " HTTP/1.1\r\nHost: a\r\n\r\n");
    *len = strlen(r);
    return r;
}

/* RFC 9110 §5.4: a field line larger than the server processes: a 4xx. */
static char *long_field(size_t *len) {
    char *r = malloc(8192);
    CHECK(r);
    strcpy(r, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    size_t n = strlen(r);
    memset(r + n, 'b', 8000);
    strcpy(r + n + 8000, "\r\n\r\n");
    *len = strlen(r);
    return r;
}

/* RFC 9110 §15.5.14: content larger than the server accepts: 413. */
static char *large_body(size_t *len) {
    char *r = malloc(4096);
    CHECK(r);
    strcpy(r, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n");
    size_t n = strlen(r);
    memset(r + n, 'c', 2000);
    *len = n + 2000;
    r[*len] = '\0';
    return r;
}

static char *large_chunked_body(size_t *len) {
    char *r = malloc(4096);
    CHECK(r);
    strcpy(r, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n");
    size_t n = strlen(r);
    memset(r + n, 'c', 2000);
    strcpy(r + n + 2000, "\r\n0\r\n\r\n");
    *len = strlen(r);
    return r;
}

/* What nginx does where it deviates; one note serves several cases. */
#define NGINX_TE_501                                                                               \
    "nginx answers 501 (a transfer coding it does not implement) and closes; RFC 9112 §6.3 "      \
    "item 4 requires 400 when chunked is not the final coding"

/* A request that, framed by Content-Length instead of chunked (or the
 * other way round), carries a second one: "GET /smuggled". A server that
 * frames it either way but keeps the connection open would answer that
 * one too, which the CLOSE check catches. */
#define SMUGGLED "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n" /* 35 (0x23) bytes */

static const conf_case cases[] = {
    /* --- Host (RFC 9112 §3.2): a server MUST answer 400 to an HTTP/1.1
     * request without Host, to any request with more than one Host line,
     * and to one whose Host value is invalid (uri-host [":" port]) */
    {"host_present", RAW("GET /a HTTP/1.1\r\nHost: a\r\n\r\n"), .ok = {200}, .body = "/a|a|\n"},
    {"host_missing", RAW("GET / HTTP/1.1\r\n\r\n"), .ok = {400}},
    {"host_twice_same", RAW("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), .ok = {400}},
    {"host_twice_differing", RAW("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), .ok = {400}},
    {"host_twice_http10", RAW("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), .ok = {400}},
    /* only HTTP/1.1 requests must carry one */
    {"host_missing_http10", RAW("GET /a HTTP/1.0\r\n\r\n"), .ok = {200}},
    {"host_with_port", RAW("GET / HTTP/1.1\r\nHost: a:8080\r\n\r\n"), .ok = {200}},
    {"host_ipv6_literal", RAW("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), .ok = {200}},
    {"host_with_space", RAW("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), .ok = {400}},
    {"host_with_slash", RAW("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), .ok = {400}},
    {"host_list", RAW("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n"), .ok = {400}},
    {"host_with_nul", RAW("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n"), .ok = {400}},
    {"host_port_not_digits", RAW("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"), .ok = {400},
     .nginx = "nginx takes the name before ':' and ignores a port that is not digits (200)"},
    {"host_with_userinfo", RAW("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), .ok = {400},
     .nginx = "nginx accepts '@' in Host (200); uri-host has no userinfo"},
    /* §3.2.2: a server MUST accept the absolute-form; §3.2: an origin
     * server MUST then ignore Host and use the target's authority */
    {"absolute_form", RAW("GET http://h/p HTTP/1.1\r\nHost: other\r\n\r\n"), .ok = {200},
     .body = "/p|h|\n"},
    /* §3.2: it still lacks Host */
    {"absolute_form_without_host", RAW("GET http://h/p HTTP/1.1\r\n\r\n"), .ok = {400}},

    /* --- the request line (RFC 9112 §3; an invalid one SHOULD get 400
     * or a 301 to the corrected target) */
    {"method_not_a_token", RAW("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), .ok = {400}},
    /* RFC 9110 §9.1: an unknown method SHOULD get 501; 405 if known but
     * not allowed here; a server may also implement any method it likes */
    {"method_unknown", RAW("FOO / HTTP/1.1\r\nHost: a\r\n\r\n"), .ok = {501, 405, 200}},
    /* RFC 9110 §2.5, §15.6.6: a major version the server refuses: 505 */
    {"version_2", RAW("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), .ok = {505}},
    {"version_9", RAW("GET / HTTP/9.9\r\nHost: a\r\n\r\n"), .ok = {505}},
    /* RFC 9110 §2.5: a higher minor version SHOULD be served as the
     * highest one known (200); llhttp, strict and without lenient flags,
     * refuses it, so aioc answers 400: a SHOULD it does not meet */
    {"version_1_2", RAW("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), .ok = {200, 400}},
    /* §2.3: HTTP-name is case-sensitive */
    {"version_lowercase", RAW("GET / http/1.1\r\nHost: a\r\n\r\n"), .ok = {400}},
    {"target_with_space", RAW("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), .ok = {400, 301}},
    {"target_with_ctl", RAW("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), .ok = {400, 301}},
    {"target_with_del", RAW("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), .ok = {400, 301}},
    /* §3: a recipient MAY split the request line on any whitespace */
    {"request_line_double_space", RAW("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), .ok = {200, 400}},
    /* §2.2: a server SHOULD ignore at least one empty line before it */
    {"empty_line_before_request", RAW("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), .ok = {200}},
    /* §2.2: a recipient MAY take a bare LF as a line's end */
    {"bare_lf_lines", RAW("GET / HTTP/1.1\nHost: a\n\n"), .ok = {200, 400}},
    {"target_too_long", .make = long_target, .ok = {414}},

    /* --- header fields (RFC 9112 §5, RFC 9110 §5) */
    /* §5.1: whitespace between name and colon: MUST 400 */
    {"space_before_colon", RAW("GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n"), .ok = {400}},
    {"space_before_colon_te",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
     .ok = {400}},
    /* §2.2: what does not match the grammar SHOULD get 400 */
    {"field_name_not_a_token", RAW("GET / HTTP/1.1\r\nHost: a\r\nX@A: b\r\n\r\n"), .ok = {400},
     .nginx = "nginx drops a field line whose name is not a token (ignore_invalid_headers, the "
              "default) and answers 200"},
    {"field_name_empty", RAW("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"), .ok = {400}},
    /* RFC 9110 §5.5: NUL in a value: MUST reject or replace it with SP */
    {"field_value_nul", RAW("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), .ok = {400, 200},
     .body = "/|a|a b\n"},
    /* §2.2: a bare CR: MUST treat as invalid or replace it with SP */
    {"field_value_bare_cr", RAW("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), .ok = {400, 200},
     .body = "/|a|a b\n"},
    /* §5.2: obsolete line folding: MUST reject (400) or replace with SP */
    {"obs_fold", RAW("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), .ok = {400, 200},
     .body = "/|a|a b\n"},
    /* §2.2: whitespace before the first field line: MUST reject, or drop
     * that line, and then Host is missing */
    {"space_before_first_field", RAW("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), .ok = {400}},
    /* RFC 9110 §5.4: "an appropriate 4xx"; 431 is RFC 6585's own */
    {"field_too_large", .make = long_field, .ok = {431, 400}},

    /* --- framing (RFC 9112 §6) and smuggling */
    /* §6.1: with both Content-Length and Transfer-Encoding a server MAY
     * reject the request or process it by Transfer-Encoding alone, and
     * MUST close the connection after either way */
    {"cl_te_smuggling",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\n" SMUGGLED),
     .ok = {400, 200}, .close = CLOSE},
    {"te_cl_smuggling",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
         "23\r\n" SMUGGLED "\r\n0\r\n\r\n"),
     .ok = {400, 200}, .close = CLOSE},
    {"cl_te_extra_space",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nTransfer-Encoding:  chunked\r\n\r\n"
         "0\r\n\r\n" SMUGGLED),
     .ok = {400, 200}, .close = CLOSE},
    {"cl_te_chunked_identity",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\n"
         "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" SMUGGLED),
     .ok = {400}, .close = CLOSE, .nginx = NGINX_TE_501},
    /* §6.3 item 5: an invalid Content-Length (differing values included):
     * MUST 400 and close */
    {"cl_twice_differing",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
     .ok = {400}, .close = CLOSE},
    {"cl_list_differing", RAW("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd"),
     .ok = {400}, .close = CLOSE},
    /* RFC 9110 §8.6: the same value repeated MAY be taken as one */
    {"cl_twice_same",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
     .ok = {400, 200}, .close = CLOSE_IF_400},
    {"cl_negative", RAW("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), .ok = {400},
     .close = CLOSE},
    {"cl_plus_sign", RAW("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc"),
     .ok = {400}, .close = CLOSE},
    {"cl_not_a_number", RAW("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3a\r\n\r\nabc"),
     .ok = {400}, .close = CLOSE},
    {"cl_empty", RAW("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"), .ok = {400},
     .close = CLOSE},
    /* too many digits to hold: invalid (400), or too large (413) */
    {"cl_overflow",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\nabc"),
     .ok = {400, 413}, .close = CLOSE_IF_400},
    /* §6.3 item 4: Transfer-Encoding in a request without chunked as the
     * final coding: MUST 400 and close */
    {"te_identity", RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\nabc"),
     .ok = {400}, .close = CLOSE, .nginx = NGINX_TE_501},
    {"te_chunked_identity",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
         "3\r\nabc\r\n0\r\n\r\n"),
     .ok = {400}, .close = CLOSE, .nginx = NGINX_TE_501},
    {"te_xchunked",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
     .ok = {400}, .close = CLOSE, .nginx = NGINX_TE_501},
    /* two lines are one list (RFC 9110 §5.3): "chunked, identity" */
    {"te_two_lines",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
     .ok = {400}, .close = CLOSE},
    /* §6.1: a sender MUST NOT apply chunked twice: the body cannot be
     * framed (400), or the inner coding is one the server lacks (501) */
    {"te_chunked_twice",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
         "3\r\nabc\r\n0\r\n\r\n"),
     .ok = {400, 501}, .close = CLOSE},
    /* §6.1: a transfer coding the server does not understand SHOULD get
     * 501 (the framing is still known: no close needed) */
    {"te_gzip_chunked",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
         "3\r\nabc\r\n0\r\n\r\n"),
     .ok = {501}},
    /* coding names are case-insensitive (§7); OWS around the value */
    {"te_uppercase",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
     .ok = {200}},
    {"te_extra_space",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
     .ok = {200}},
    /* §6.1: Transfer-Encoding in an HTTP/1.0 message: MUST treat the
     * framing as faulty and close after processing */
    {"te_http10", RAW("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
     .ok = {400, 200}, .close = CLOSE},

    /* --- chunks (RFC 9112 §7.1): a chunk size is 1*HEXDIG */
    {"chunk_size_not_hex",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
     .ok = {400}, .close = CLOSE},
    {"chunk_size_negative",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n"),
     .ok = {400}, .close = CLOSE},
    {"chunk_size_0x",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n"),
     .ok = {400}, .close = CLOSE},
    {"chunk_size_overflow",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         "fffffffffffffffff1\r\nabc\r\n0\r\n\r\n"),
     .ok = {400, 413}, .close = CLOSE_IF_400},
    {"chunk_without_crlf",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"),
     .ok = {400}, .close = CLOSE},
    /* §7.1.1: a recipient MUST ignore extensions it does not know */
    {"chunk_extension",
     RAW("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3;x=1\r\nabc\r\n0\r\n\r\n"),
     .ok = {200}},

    /* --- limits */
    {"body_too_large", .make = large_body, .ok = {413}},
    /* a server that reads the body refuses it (413); one that discards
     * it unread, as nginx's `return` does, need not */
    {"chunked_body_too_large", .make = large_chunked_body, .ok = {413, 200}},

    /* --- connections and responses */
    /* RFC 9112 §9.6: after a request with "Connection: close" the server
     * MUST close once it has answered, and MUST NOT process a request
     * that came after it */
    {"connection_close",
     RAW("GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
         "GET /second HTTP/1.1\r\nHost: a\r\n\r\n"),
     .ok = {200}, .close = CLOSE, .body = "/a|a|\n"},
    /* RFC 9110 §9.3.2: no content in a response to HEAD (bytes after the
     * head would show up as more than one response) */
    {"head_has_no_content", RAW("HEAD /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
     .ok = {200}, .close = CLOSE},
    /* RFC 9110 §15.2: a server MUST NOT send a 1xx response to an
     * HTTP/1.0 client (here a 100 Continue) */
    {"no_100_continue_for_http10",
     RAW("POST /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"), .ok = {200},
     .close = CLOSE},

    /* --- the rest */
    /* RFC 9110 §7.8: a server MAY ignore Upgrade */
    {"upgrade_ignored",
     RAW("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n"), .ok = {200}},
    /* RFC 9110 §9.3.6: CONNECT to an origin server that does not tunnel:
     * refused (501 unknown to it, 405 not allowed, 400) */
    {"connect", RAW("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), .ok = {400, 405, 501}},
    /* RFC 9110 §10.1.1: an expectation it cannot meet MAY get 417 */
    {"expect_unknown", RAW("GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n"),
     .ok = {417, 200}},
};

#define NCASES (sizeof cases / sizeof *cases)

/* ---------------------------------------------------------- the client -- */

typedef struct reply {
    int status;       /* 0: no response at all */
    const char *body; /* in `buf` */
    size_t body_len;
    bool dated;      /* it has a Date field */
    bool says_close; /* it has "Connection: close" */
    bool closed;     /* the server closed after the response */
    bool extra;      /* bytes came after the response: a second answer */
    char buf[65536];
    size_t len;
} reply;

/* The value of header `name` in the head at `head` (ends at `end`). */
static const char *head_value(const char *head, const char *end, const char *name) {
    size_t n = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l && l + 2 < end; l = strstr(l + 2, "\r\n"))
        if (!strncasecmp(l + 2, name, n) && l[2 + n] == ':')
            return l + 3 + n;
    return NULL;
}

/* Reads into r->buf under the scope already entered: returns what
 * aioc_recv returned. */
static long more(int fd, reply *r) {
    if (r->len == sizeof r->buf - 1)
        return -ENOSPC;
    long n = aioc_recv(fd, r->buf + r->len, sizeof r->buf - 1 - r->len, 0);
    if (n > 0)
        r->len += (size_t)n;
    r->buf[r->len] = '\0';
    return n;
}

/* Sends `req`, reads one response and, if `wait_close` or the response
 * says "Connection: close", what follows it (the end of the stream, or
 * more bytes). */
static void exchange(const char *port, const char *req, size_t len, bool wait_close, reply *r) {
    bool head_only = len > 5 && !memcmp(req, "HEAD ", 5); /* no content in the response */
    memset(r, 0, offsetof(reply, buf));
    r->len = 0;
    r->buf[0] = '\0';
    int fd = aioc_tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0);
    aioc_scope sc;
    CHECK_ERR(aioc_scope_enter(&sc, S * 5), 0);
    long n = aioc_send(fd, req, len, 0);
    /* a server may answer and close before it takes all of a long request */
    CHECK(n == (long)len || n == -EPIPE || n == -ECONNRESET);
    const char *end;
    while (!(end = strstr(r->buf, "\r\n\r\n")))
        if (more(fd, r) <= 0)
            break;
    if (end && sscanf(r->buf, "HTTP/1.%*d %d", &r->status) == 1) {
        const char *cl = head_value(r->buf, end, "Content-Length");
        size_t head = (size_t)(end + 4 - r->buf);
        size_t want = head_only ? head : cl ? head + strtoul(cl, NULL, 10) : sizeof r->buf - 1;
        r->dated = head_value(r->buf, end, "Date") != NULL;
        const char *conn = head_value(r->buf, end, "Connection");
        r->says_close = conn && !strncasecmp(conn + strspn(conn, " \t"), "close", 5);
        while (r->len < want && more(fd, r) > 0)
            ;
        r->body = r->buf + head;
        r->body_len = (r->len < want ? r->len : want) - head;
        if (r->len > want)
            r->extra = true;
        else if (r->len < want)
            r->closed = true; /* ended by closing */
        while ((wait_close || r->says_close) && !r->closed && !r->extra) {
            n = more(fd, r);
            if (n == 0 || n == -ECONNRESET)
                r->closed = true;
            else if (n > 0)
                r->extra = true;
            else
                break; /* the deadline: still open */
        }
    }
    aioc_scope_exit(&sc);
    aioc_close(fd);
}

static bool allowed(const conf_case *k, int status) {
    for (int i = 0; i < 4 && k->ok[i]; i++)
        if (k->ok[i] == status)
            return true;
    return false;
}

static reply r, control; /* the last case's answer, and the check's after it */

/* Runs one case; returns NULL if it passed, else why not (static). */
static const char *run_case(const conf_case *k, const char *port) {
    static char why[256];
    size_t len = k->len;
    char *made = k->make ? k->make(&len) : NULL;
    bool wait_close = k->close != ANY;
    exchange(port, made ? made : k->req, len, wait_close, &r);
    free(made);
    /* RFC 9112 §9.6: a server that sends "close" MUST close after */
    bool must_close =
        k->close == CLOSE || (k->close == CLOSE_IF_400 && r.status == 400) || r.says_close;
    if (!r.status)
        return "no response";
    if (!allowed(k, r.status)) {
        snprintf(why, sizeof why, "answered %d", r.status);
        return why;
    }
    /* RFC 9110 §6.6.1: an origin server with a clock MUST send Date in
     * every 2xx, 3xx and 4xx response */
    if (r.status < 500 && !r.dated) {
        snprintf(why, sizeof why, "answered %d without Date", r.status);
        return why;
    }
    if (k->body && r.status / 100 == 2 &&
        (r.body_len != strlen(k->body) || memcmp(r.body, k->body, r.body_len))) {
        snprintf(why, sizeof why, "answered %d with body [%.*s], not [%s]", r.status,
                 (int)r.body_len, r.body, k->body);
        return why;
    }
    if (must_close && r.extra) {
        snprintf(why, sizeof why, "answered %d, then more: [%.60s]", r.status, r.body + r.body_len);
        return why;
    }
    if (must_close && !r.closed) {
        snprintf(why, sizeof why, "answered %d but kept the connection open", r.status);
        return why;
    }
    /* the server goes on serving others */
    static const char ctl[] =
        "GET /control HTTP/1.1\r\nHost: c\r\nX: y\r\nConnection: close\r\n\r\n";
    exchange(port, ctl, sizeof ctl - 1, false, &control);
    if (control.status != 200 || control.body_len != 13 ||
        memcmp(control.body, "/control|c|y\n", 13)) {
        snprintf(why, sizeof why, "answered %d, then a good request got %d", r.status,
                 control.status);
        return why;
    }
    return NULL;
}

typedef struct run_args {
    const char *port;
    bool nginx;
    aioc_http_server *srv; /* the aioc run's */
} run_args;

static void *run_table(void *arg) {
    run_args *a = arg;
    int failed = 0, skipped = 0;
    for (size_t i = 0; i < NCASES; i++) {
        const conf_case *k = &cases[i];
        if (a->nginx && k->nginx) {
            printf("skip %s (nginx: %s)\n", k->name, k->nginx);
            skipped++;
            continue;
        }
        const char *why = run_case(k, a->port);
        if (why) {
            printf("FAIL %s: %s\n", k->name, why);
            failed++;
        } else {
            printf("ok %s: %d%s\n", k->name, r.status, r.closed ? ", closed" : "");
        }
    }
    printf("%zu cases: %zu passed, %d failed, %d skipped\n", NCASES,
           NCASES - (size_t)failed - (size_t)skipped, failed, skipped);
    fflush(stdout);
    if (a->srv) {
        CHECK_EQ(aioc_http_server_close(a->srv, S * 5), 0);
    }
    return P(failed);
}

/* ------------------------------------------------------------ the aioc run -- */

static int answer(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    const char *host = aioc_http_request_header(req, "Host");
    const char *x = aioc_http_request_header(req, "X");
    char text[256];
    snprintf(text, sizeof text, "%s|%s|%s\n", aioc_http_request_path(req), host ? host : "",
             x ? x : "");
    return aioc_http_response_body(res, text, strlen(text));
}

static void *aioc_main(void *arg) {
    run_args *a = arg;
    /* the limits nginx's config below matches */
    aioc_http_opts o = {.max_head_bytes = 4096, .max_body_bytes = 1024};
    int err;
    a->srv = aioc_http_serve("127.0.0.1", "0", answer, NULL, &o, &err);
    CHECK_ERR(err, 0);
    char port[16];
    snprintf(port, sizeof port, "%d", aioc_http_server_port(a->srv));
    a->port = port;
    return run_table(a);
}

/* ----------------------------------------------------------- the nginx run -- */

#define NGINX "/usr/sbin/nginx"

typedef struct nginx {
    pid_t pid;
    int port;
    char dir[64];
} nginx;

static int some_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool accepts(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void pause_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int unlink_one(const char *path, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(path);
}

static void nginx_stop(nginx *n) {
    if (n->pid > 0) {
        kill(n->pid, SIGTERM);
        int i = 0;
        while (waitpid(n->pid, NULL, WNOHANG) != n->pid && i++ < 500)
            pause_ms(10);
        if (i > 500) {
            kill(n->pid, SIGKILL);
            waitpid(n->pid, NULL, 0);
        }
        n->pid = 0;
    }
    if (n->dir[0])
        nftw(n->dir, unlink_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Starts nginx on a free loopback port (a few tries: the port is found
 * free, then bound by nginx, and another program may take it between). */
static void nginx_start(nginx *n) {
    *n = (nginx){0};
    CHECK(access(NGINX, X_OK) == 0);
    strcpy(n->dir, "/tmp/aioc-conformance-XXXXXX");
    CHECK(mkdtemp(n->dir));
    char conf[96], log[96];
    snprintf(conf, sizeof conf, "%s/nginx.conf", n->dir);
    snprintf(log, sizeof log, "%s/error.log", n->dir);
    for (int attempt = 0; attempt < 5; attempt++) {
        n->port = some_free_port();
        FILE *f = fopen(conf, "w");
        CHECK(f);
        /* limits as the aioc run's: a head of 4 KiB (a longer request line
         * is 414), a body of 1 KiB */
        fprintf(f,
                "daemon off;\nmaster_process off;\nworker_processes 1;\n"
                "pid %1$s/nginx.pid;\nerror_log %1$s/error.log info;\n"
                "events { worker_connections 64; }\n"
                "http {\n"
                "  access_log off;\n"
                "  client_body_temp_path %1$s/body;\n  proxy_temp_path %1$s/proxy;\n"
                "  fastcgi_temp_path %1$s/fastcgi;\n  uwsgi_temp_path %1$s/uwsgi;\n"
                "  scgi_temp_path %1$s/scgi;\n"
                "  client_header_buffer_size 1k;\n  large_client_header_buffers 4 4k;\n"
                "  client_max_body_size 1k;\n"
                "  server {\n"
                "    listen 127.0.0.1:%2$d;\n"
                "    location / { return 200 \"$uri|$host|$http_x\\n\"; }\n"
                "  }\n"
                "}\n",
                n->dir, n->port);
        CHECK(fclose(f) == 0);
        pid_t parent = getpid();
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the test, even killed */
            if (getppid() != parent)
                _exit(127);
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl(NGINX, NGINX, "-p", n->dir, "-c", conf, "-e", log, (char *)NULL);
            _exit(127);
        }
        n->pid = pid;
        for (int i = 0; i < 1000; i++) { /* until it accepts, up to 10 s */
            if (accepts(n->port))
                return;
            if (waitpid(pid, NULL, WNOHANG) == pid) { /* it died: the port was taken? */
                n->pid = 0;
                break;
            }
            pause_ms(10);
        }
        if (n->pid) {
            nginx_stop(n);
            break;
        }
    }
    fprintf(stderr, "nginx did not start\n");
    nginx_stop(n);
    exit(1);
}

/* ------------------------------------------------------------ the tests -- */

/* Runs the table against aioc_http or, with `use_nginx`, against nginx;
 * fails if a case failed. */
static void run_against(bool use_nginx) {
    const char *scale = getenv("AIOC_HTTP_TIME_SCALE");
    if (scale && atof(scale) > 0)
        S = atof(scale);
    signal(SIGPIPE, SIG_IGN);
    run_args a = {.nginx = use_nginx};
    nginx n = {0};
    char port[16];
    if (use_nginx) {
        nginx_start(&n);
        snprintf(port, sizeof port, "%d", n.port);
        a.port = port;
    }
    void *failed = NULL;
    int status = aioc_run(use_nginx ? run_table : aioc_main, &a, &failed);
    if (use_nginx)
        nginx_stop(&n);
    if (status) {
        fprintf(stderr, "main failed: %s\n", aioc_err_name(status));
        exit(1);
    }
    if (I(failed))
        exit(1);
}

TEST(conformance) { run_against(false); }

TEST(conformance_nginx) { run_against(true); }
