/* aioc_curl_fetch: one HTTP request into memory, the common case, on a
 * fresh easy handle run by aioc_curl_perform. Anything it does not cover
 * is one curl_easy_setopt away with aioc_curl_perform itself. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aioc_curl.h"

#define HEADERS_MAX ((size_t)1 << 20) /* a response's header lines, at most */

typedef struct body {
    char *data;
    size_t len, cap, max;
} body;

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
    body *b = arg;
    size_t add = size * n;
    if (add > b->max - b->len)
        return 0; /* too big: CURLE_WRITE_ERROR */
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + add + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    return add;
}

/* Keeps the header lines of the last response: a status line starts a new
 * one (after a redirect followed, or a 100 Continue); the status line and
 * the blank line that ends the head are not kept. */
static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    body *h = arg;
    size_t len = size * n;
    if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
        h->len = 0;
        return len;
    }
    if (len <= 2 && (len == 0 || p[0] == '\r' || p[0] == '\n'))
        return len;
    return on_data(p, size, n, arg); /* 0 when over the limit: the transfer fails */
}

/* Sets the options for `o`; 0 or -ENOMEM (the only way setopt fails
 * for options this valid). */
#define SET(opt, val) (bad |= curl_easy_setopt(e, opt, val) != CURLE_OK)

static int configure(CURL *e, const char *url, const aioc_curl_fetch_opts *o,
                     struct curl_slist **headers, body *b, body *h) {
    int bad = 0;
    SET(CURLOPT_URL, url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_WRITEFUNCTION, on_data);
    SET(CURLOPT_WRITEDATA, b);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, h);
    const char *method = o->method ? o->method : "GET";
    int post = !strcasecmp(method, "POST");
    if (!strcasecmp(method, "HEAD"))
        SET(CURLOPT_NOBODY, 1L);
    else if (strcasecmp(method, "GET") && !post)
        SET(CURLOPT_CUSTOMREQUEST, method);
    if (o->body || post) {
        curl_off_t len = o->body ? (curl_off_t)o->body_len : 0;
        SET(CURLOPT_POSTFIELDSIZE_LARGE, len);
        SET(CURLOPT_POSTFIELDS, o->body ? o->body : "");
        if (!post) /* a body with PUT, PATCH, ... */
            SET(CURLOPT_CUSTOMREQUEST, method);
    }
    for (size_t i = 0; i < o->nheaders; i++) {
        struct curl_slist *l = curl_slist_append(*headers, o->headers[i]);
        if (!l)
            return -ENOMEM;
        *headers = l;
    }
    if (*headers)
        SET(CURLOPT_HTTPHEADER, *headers);
    if (o->timeout > 0 && o->timeout < (double)LONG_MAX / 1000.0) /* else: none */
        SET(CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1000.0 + 0.5));
    if (o->ca_file)
        SET(CURLOPT_CAINFO, o->ca_file);
    if (o->follow_redirects) {
        SET(CURLOPT_FOLLOWLOCATION, 1L);
        SET(CURLOPT_MAXREDIRS, 10L);
    }
    return bad ? -ENOMEM : 0;
}

#undef SET

int aioc_curl_fetch(const char *url, const aioc_curl_fetch_opts *opts, aioc_curl_response *resp) {
    if (resp)
        memset(resp, 0, sizeof *resp);
    if (!url || !resp)
        return -EINVAL;
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    aioc_curl_fetch_opts none = {0};
    const aioc_curl_fetch_opts *o = opts ? opts : &none;
    if (!(o->timeout >= 0)) /* negative or NaN: expired before it began */
        return -ETIMEDOUT;
    body b = {.max = o->max_body ? o->max_body : (size_t)1 << 30};
    body h = {.max = HEADERS_MAX};
    struct curl_slist *headers = NULL;
    CURL *e = curl_easy_init();
    if (!e)
        return -ENOMEM;
    int err = configure(e, url, o, &headers, &b, &h);
    if (!err)
        err = aioc_curl_perform(e);
    char *last = NULL;
    if (!err && !curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &last) && last &&
        !(resp->effective_url = strdup(last)))
        err = -ENOMEM;
    if (!err && ((!b.data && !(b.data = malloc(1))) || (!h.data && !(h.data = malloc(1)))))
        err = -ENOMEM;
    if (!err) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
        b.data[b.len] = '\0';
        resp->body = b.data;
        resp->body_len = b.len;
        h.data[h.len] = '\0';
        resp->headers = h.data;
        resp->headers_len = h.len;
    } else {
        free(resp->effective_url);
        free(b.data);
        free(h.data);
        memset(resp, 0, sizeof *resp);
    }
    curl_easy_cleanup(e);
    curl_slist_free_all(headers);
    return err;
}

void aioc_curl_response_free(aioc_curl_response *resp) {
    if (!resp)
        return;
    free(resp->body);
    free(resp->headers);
    free(resp->effective_url);
    memset(resp, 0, sizeof *resp);
}

long aioc_curl_response_header(const aioc_curl_response *resp, const char *name, char *buf,
                               size_t cap) {
    size_t want = strlen(name);
    for (const char *p = resp->headers; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t line = end ? (size_t)(end - p) : strlen(p);
        if (line > want && p[want] == ':' && !strncasecmp(p, name, want)) {
            const char *v = p + want + 1, *stop = p + line;
            while (v < stop && (*v == ' ' || *v == '\t'))
                v++;
            while (stop > v && (stop[-1] == '\r' || stop[-1] == ' ' || stop[-1] == '\t'))
                stop--;
            size_t n = (size_t)(stop - v);
            if (cap < n + 1)
                return -ENOSPC;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return (long)n;
        }
        p += line + (end != NULL);
    }
    return -ENOENT;
}
