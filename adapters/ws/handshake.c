/* The opening handshakes (RFC 6455 §4): a server's, from an aioc_http
 * request it takes over with aioc_http_response_upgrade, and a client's,
 * over a TCP or TLS stream of its own. Sec-WebSocket-Accept is
 * base64(SHA-1(key + the GUID)), with OpenSSL's SHA-1 and base64 (the TLS
 * adapter links it already). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <aioc_tls.h>

#include "ws_internal.h"

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* The Sec-WebSocket-Accept value for `key`, into `out` (29 bytes). */
static void accept_value(const char *key, char out[29]) {
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%s%s", key, GUID);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)buf, (size_t)n, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* Whether the comma-separated list `list` holds `token` (case-insensitive). */
static bool list_has(const char *list, const char *token) {
    size_t t = strlen(token);
    for (const char *s = list; s && *s;) {
        s += strspn(s, " \t,");
        size_t n = strcspn(s, ",");
        size_t m = n;
        while (m && (s[m - 1] == ' ' || s[m - 1] == '\t'))
            m--;
        if (m == t && !strncasecmp(s, token, t))
            return true;
        s += n;
    }
    return false;
}

/* Whether any of the request's `name` lines lists `token`. */
static bool header_has(const aioc_http_request *req, const char *name, const char *token) {
    size_t count = aioc_http_request_header_count(req);
    for (size_t i = 0; i < count; i++) {
        const char *k, *v;
        aioc_http_request_header_at(req, i, &k, &v);
        if (!strcasecmp(k, name) && list_has(v, token))
            return true;
    }
    return false;
}

/* The key is base64 of 16 bytes: 22 characters and "==". */
static bool valid_key(const char *key) {
    if (!key || strlen(key) != 24 || strcmp(key + 22, "=="))
        return false;
    unsigned char out[24];
    return EVP_DecodeBlock(out, (const unsigned char *)key, 24) == 18;
}

static aioc_ws *refuse(aioc_http_response *res, int status, int *errp) {
    aioc_http_response_status(res, status);
    if (status == 426)
        aioc_http_response_header(res, "Sec-WebSocket-Version", "13");
    aioc_http_response_header(res, "Content-Type", "text/plain");
    aioc_http_response_body_borrowed(res, "not a WebSocket handshake\n", 26);
    if (errp)
        *errp = AIOC_WS_EHANDSHAKE;
    return NULL;
}

aioc_ws *aioc_ws_accept(aioc_http_request *req, aioc_http_response *res, const aioc_ws_opts *opts,
                        int *errp) {
    const char *key = aioc_http_request_header(req, "Sec-WebSocket-Key");
    const char *version = aioc_http_request_header(req, "Sec-WebSocket-Version");
    if (strcmp(aioc_http_request_method(req), "GET") || aioc_http_request_minor(req) < 1 ||
        !header_has(req, "Upgrade", "websocket") || !header_has(req, "Connection", "upgrade") ||
        !valid_key(key))
        return refuse(res, 400, errp);
    if (!version || strcmp(version, "13"))
        return refuse(res, 426, errp); /* §4.4: the version this server speaks */
    aioc_ws_opts o = opts ? *opts : (aioc_ws_opts){0};
    int bits =
        o.deflate_window_bits >= 9 && o.deflate_window_bits <= 15 ? o.deflate_window_bits : 15;
    /* the subprotocol: ours, in our order, that the client offers */
    const char *proto = NULL;
    for (size_t i = 0; o.subprotocols && o.subprotocols[i] && !proto; i++)
        if (header_has(req, "Sec-WebSocket-Protocol", o.subprotocols[i]))
            proto = o.subprotocols[i];
    /* permessage-deflate: the client's offers, over all its lines */
    ws_pmd pmd = {0};
    char answer[160];
    bool deflate = false;
    size_t count = aioc_http_request_header_count(req);
    for (size_t i = 0; i < count && !o.no_deflate && !deflate; i++) {
        const char *k, *v;
        aioc_http_request_header_at(req, i, &k, &v);
        if (!strcasecmp(k, "Sec-WebSocket-Extensions"))
            deflate = aioc__ws_pmd_accept(v, bits, &pmd, answer, sizeof answer);
    }
    char accept[29];
    accept_value(key, accept);
    int err = aioc_http_response_header(res, "Upgrade", "websocket");
    if (!err)
        err = aioc_http_response_header(res, "Connection", "Upgrade");
    if (!err)
        err = aioc_http_response_header(res, "Sec-WebSocket-Accept", accept);
    if (!err && proto)
        err = aioc_http_response_header(res, "Sec-WebSocket-Protocol", proto);
    if (!err && deflate)
        err = aioc_http_response_header(res, "Sec-WebSocket-Extensions", answer);
    aioc_stream *s;
    const void *pending;
    size_t npending;
    if (!err)
        err = aioc_http_response_upgrade(res, &s, &pending, &npending);
    aioc_ws *ws = NULL;
    if (!err && !(ws = aioc__ws_new(s, false, opts, pending, npending)))
        err = -ENOMEM;
    if (ws) {
        ws->pmd = deflate ? pmd : (ws_pmd){0};
        if (proto && !(ws->subprotocol = strdup(proto))) {
            aioc_ws_free(ws);
            ws = NULL;
            err = -ENOMEM;
        }
    }
    if (errp)
        *errp = err;
    return ws;
}

/* ------------------------------------------------------------ client -- */

typedef struct url {
    bool tls;
    char host[256], port[8];
    const char *target; /* path and query, "/" at least */
    bool default_port;
} url;

static int parse_url(const char *u, url *out) {
    if (!strncasecmp(u, "ws://", 5)) {
        out->tls = false;
        u += 5;
    } else if (!strncasecmp(u, "wss://", 6)) {
        out->tls = true;
        u += 6;
    } else {
        return AIOC_WS_EURL;
    }
    size_t auth = strcspn(u, "/?#");
    const char *end = u + auth, *port = NULL;
    if (*u == '[') { /* an IPv6 literal */
        const char *close = memchr(u, ']', auth);
        if (!close || close - u - 1 >= (long)sizeof out->host || close == u + 1)
            return AIOC_WS_EURL;
        memcpy(out->host, u + 1, (size_t)(close - u - 1));
        out->host[close - u - 1] = '\0';
        if (close + 1 < end) {
            if (close[1] != ':')
                return AIOC_WS_EURL;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(u, ':', auth);
        size_t hl = colon ? (size_t)(colon - u) : auth;
        if (hl == 0 || hl >= sizeof out->host || memchr(u, '@', auth))
            return AIOC_WS_EURL;
        memcpy(out->host, u, hl);
        out->host[hl] = '\0';
        if (colon)
            port = colon + 1;
    }
    out->default_port = !port;
    if (port) {
        size_t pl = (size_t)(end - port);
        if (pl == 0 || pl >= sizeof out->port || strspn(port, "0123456789") < pl)
            return AIOC_WS_EURL;
        memcpy(out->port, port, pl);
        out->port[pl] = '\0';
    } else {
        strcpy(out->port, out->tls ? "443" : "80");
    }
    if (*end == '#')
        return AIOC_WS_EURL; /* §3: no fragment */
    out->target = *end ? end : "/";
    return 0;
}

/* Checks the server's answer, `head` (NUL-terminated, changed in place). */
static int check_answer(aioc_ws *ws, char *head, const char *key, const char *const *protos,
                        bool offered_deflate) {
    if (strncmp(head, "HTTP/1.1 101", 12) || (head[12] != ' ' && head[12] != '\r'))
        return AIOC_WS_EHANDSHAKE;
    char want[29];
    accept_value(key, want);
    bool upgrade = false, connection = false, accept = false;
    char *line = strstr(head, "\r\n") + 2;
    while (*line && strncmp(line, "\r\n", 2)) {
        char *eol = strstr(line, "\r\n");
        if (!eol)
            return AIOC_WS_EHANDSHAKE;
        *eol = '\0';
        char *colon = strchr(line, ':');
        if (!colon)
            return AIOC_WS_EHANDSHAKE;
        *colon = '\0';
        char *v = colon + 1 + strspn(colon + 1, " \t");
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        if (!strcasecmp(line, "Upgrade"))
            upgrade = list_has(v, "websocket");
        else if (!strcasecmp(line, "Connection"))
            connection = connection || list_has(v, "upgrade");
        else if (!strcasecmp(line, "Sec-WebSocket-Accept"))
            accept = !strcmp(v, want);
        else if (!strcasecmp(line, "Sec-WebSocket-Protocol")) {
            bool ours = false;
            for (size_t i = 0; protos && protos[i]; i++)
                ours = ours || !strcmp(protos[i], v);
            if (!ours || ws->subprotocol || !(ws->subprotocol = strdup(v)))
                return AIOC_WS_EHANDSHAKE;
        } else if (!strcasecmp(line, "Sec-WebSocket-Extensions")) {
            if (!offered_deflate || ws->pmd.on ||
                aioc__ws_pmd_answer(v, ws->o.deflate_window_bits, &ws->pmd))
                return AIOC_WS_EHANDSHAKE;
        }
        line = eol + 2;
    }
    return upgrade && connection && accept ? 0 : AIOC_WS_EHANDSHAKE;
}

static aioc_stream *dial(const url *u, const aioc_ws_opts *o, int *errp) {
    if (!u->tls) {
        int fd = aioc_tcp_connect(u->host, u->port);
        if (fd < 0) {
            *errp = fd;
            return NULL;
        }
        aioc_stream *s = aioc_stream_new(fd, &o->stream);
        if (!s) {
            *errp = -errno;
            aioc_close(fd);
        }
        return s;
    }
    aioc_tls_ctx *ctx = o->tls, *own = NULL;
    if (!ctx && !(ctx = own = aioc_tls_client_new(NULL, errp)))
        return NULL;
    aioc_tls_opts to = o->tls_opts ? *o->tls_opts : (aioc_tls_opts){0};
    to.stream = o->stream;
    aioc_stream *s = aioc_tls_connect_host(u->host, u->port, ctx, &to, errp);
    aioc_tls_ctx_free(own);
    return s;
}

aioc_ws *aioc_ws_connect(const char *address, const aioc_ws_opts *opts, int *errp) {
    int err = 0;
    if (!aioc_current().id) {
        err = AIOC_ENOTASK;
        goto out;
    }
    url u;
    if (!address || (err = parse_url(address, &u)))
        goto out;
    aioc_ws_opts o = opts ? *opts : (aioc_ws_opts){0};
    aioc_stream *s = dial(&u, &o, &err);
    if (!s)
        goto out;
    aioc_ws *ws = aioc__ws_new(s, true, opts, NULL, 0);
    if (!ws) {
        aioc_stream_abort(s);
        err = -ENOMEM;
        goto out;
    }
    ws->owns_stream = true;
    unsigned char raw[16];
    char key[25];
    arc4random_buf(raw, sizeof raw);
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
    /* the request: small, built on the stack but for the user's extras */
    char host[300];
    bool v6 = strchr(u.host, ':') != NULL;
    snprintf(host, sizeof host, "%s%s%s%s%s", v6 ? "[" : "", u.host, v6 ? "]" : "",
             u.default_port ? "" : ":", u.default_port ? "" : u.port);
    size_t cap = strlen(u.target) + strlen(host) + 512 + (o.origin ? strlen(o.origin) : 0) +
                 (o.headers ? strlen(o.headers) : 0);
    for (size_t i = 0; o.subprotocols && o.subprotocols[i]; i++)
        cap += strlen(o.subprotocols[i]) + 2;
    char *req = malloc(cap);
    if (!req) {
        err = -ENOMEM;
        goto fail;
    }
    int n = snprintf(req, cap,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
                     u.target, host, key);
    if (!o.no_deflate)
        n += snprintf(req + n, cap - (size_t)n,
                      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
    for (size_t i = 0; o.subprotocols && o.subprotocols[i]; i++)
        n += snprintf(req + n, cap - (size_t)n, "%s%s",
                      i ? ", " : "Sec-WebSocket-Protocol: ", o.subprotocols[i]);
    if (o.subprotocols && o.subprotocols[0])
        n += snprintf(req + n, cap - (size_t)n, "\r\n");
    if (o.origin)
        n += snprintf(req + n, cap - (size_t)n, "Origin: %s\r\n", o.origin);
    n += snprintf(req + n, cap - (size_t)n, "%s\r\n", o.headers ? o.headers : "");
    err = aioc_stream_write(s, req, (size_t)n);
    free(req);
    if (err)
        goto fail;
    const char *head;
    long hn = aioc_stream_readuntil(s, "\r\n\r\n", 4, &head);
    if (hn < 0) {
        err = hn == AIOC_EINCOMPLETE ? AIOC_WS_EABNORMAL
              : hn == AIOC_ELIMIT    ? AIOC_WS_EHANDSHAKE
                                     : (int)hn;
        goto fail;
    }
    char *copy = strndup(head, (size_t)hn);
    if (!copy) {
        err = -ENOMEM;
        goto fail;
    }
    err = check_answer(ws, copy, key, o.subprotocols, !o.no_deflate);
    free(copy);
    if (err)
        goto fail;
    ws->last_rx = aioc_now();
    if (errp)
        *errp = 0;
    return ws;
fail:
    aioc_ws_free(ws);
out:
    if (errp)
        *errp = err;
    return NULL;
}
