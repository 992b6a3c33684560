/* Routing: a list of (method, pattern, handler) tried in order. Patterns
 * are split into segments once, when added; a request's path is split into
 * a copy of its own whose pieces become the parameter values. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

typedef struct route {
    char *method;  /* NULL: any */
    char *pattern; /* the copy the segments point into */
    char **segs;
    size_t nsegs;
    aioc_http_handler fn;
    void *arg;
} route;

struct aioc_http_router {
    route *routes;
    size_t n, cap;
    aioc_http_handler fallback; /* for 404 and 405; NULL: plain text */
    void *fallback_arg;
};

aioc_http_router *aioc_http_router_new(void) { return calloc(1, sizeof(aioc_http_router)); }

void aioc_http_router_fallback(aioc_http_router *r, aioc_http_handler fn, void *arg) {
    r->fallback = fn;
    r->fallback_arg = arg;
}

void aioc_http_router_free(aioc_http_router *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->routes[i].method);
        free(r->routes[i].pattern);
        free(r->routes[i].segs);
    }
    free(r->routes);
    free(r);
}

/* Splits "/a/b" in place into "a", "b" (after the leading '/'); `segs`
 * has room for every '/' of the string. Returns the count. */
static size_t split(char *path, char **segs) {
    size_t n = 0;
    char *p = path + 1;
    segs[n++] = p;
    while ((p = strchr(p, '/'))) {
        *p++ = '\0';
        segs[n++] = p;
    }
    return n;
}

static size_t slashes(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += *s == '/';
    return n;
}

int aioc_http_route(aioc_http_router *r, const char *method, const char *pattern,
                    aioc_http_handler fn, void *arg) {
    if (!pattern || pattern[0] != '/' || !fn)
        return -EINVAL;
    route rt = {.fn = fn, .arg = arg};
    rt.pattern = strdup(pattern);
    rt.segs = malloc(slashes(pattern) * sizeof *rt.segs);
    rt.method = method && strcmp(method, "*") ? strdup(method) : NULL;
    int err = 0;
    if (!rt.pattern || !rt.segs || (method && strcmp(method, "*") && !rt.method)) {
        err = -ENOMEM;
        goto fail;
    }
    rt.nsegs = split(rt.pattern, rt.segs);
    size_t params = 0;
    for (size_t i = 0; i < rt.nsegs; i++) {
        if (!strcmp(rt.segs[i], "*") && i + 1 != rt.nsegs)
            err = -EINVAL;
        if (rt.segs[i][0] == ':' && ++params > HTTP_MAX_PARAMS)
            err = -EINVAL;
    }
    if (err)
        goto fail;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        route *routes = realloc(r->routes, cap * sizeof *routes);
        if (!routes) {
            err = -ENOMEM;
            goto fail;
        }
        r->routes = routes;
        r->cap = cap;
    }
    r->routes[r->n++] = rt;
    return 0;
fail:
    free(rt.pattern);
    free(rt.segs);
    free(rt.method);
    return err;
}

/* Does the route's pattern match the path's segments? Sets the request's
 * parameters if so. */
static bool match(const route *rt, char **segs, size_t n, aioc_http_request *req) {
    req->nparams = 0;
    for (size_t i = 0; i < rt->nsegs; i++) {
        const char *p = rt->segs[i];
        if (!strcmp(p, "*") && i + 1 == rt->nsegs)
            return true;
        if (i == n)
            return false;
        if (p[0] == ':') {
            if (!segs[i][0])
                return false;
            req->param_names[req->nparams] = p + 1;
            req->param_values[req->nparams++] = segs[i];
        } else if (strcmp(p, segs[i])) {
            return false;
        }
    }
    return rt->nsegs == n;
}

static bool method_ok(const route *rt, const char *method) {
    return !rt->method || !strcmp(rt->method, method) ||
           (!strcmp(method, "HEAD") && !strcmp(rt->method, "GET"));
}

int aioc_http_router_handle(aioc_http_request *req, aioc_http_response *res, void *arg) {
    aioc_http_router *r = arg;
    free(req->param_buf);
    req->param_buf = strdup(req->path[0] == '/' ? req->path : "/");
    char **segs = req->param_buf ? malloc((slashes(req->param_buf) + 1) * sizeof *segs) : NULL;
    if (!segs)
        return -ENOMEM;
    size_t n = split(req->param_buf, segs);
    char allow[256] = "";
    size_t allow_len = 0;
    for (size_t i = 0; i < r->n; i++) {
        route *rt = &r->routes[i];
        if (!match(rt, segs, n, req))
            continue;
        if (method_ok(rt, req->method)) {
            free(segs);
            return rt->fn(req, res, rt->arg);
        }
        /* the path is known, not with this method: remember for Allow */
        size_t len = strlen(rt->method);
        if (!strstr(allow, rt->method) && allow_len + len + 3 < sizeof allow) {
            if (allow_len) {
                memcpy(allow + allow_len, ", ", 2);
                allow_len += 2;
            }
            memcpy(allow + allow_len, rt->method, len + 1);
            allow_len += len;
        }
    }
    free(segs);
    req->nparams = 0;
    int status = allow_len ? 405 : 404;
    int err = aioc_http_response_status(res, status);
    if (!err && allow_len)
        err = aioc_http_response_header(res, "Allow", allow);
    if (!err && r->fallback)
        return r->fallback(req, res, r->fallback_arg);
    if (!err)
        err = aioc_http_response_header(res, "Content-Type", "text/plain");
    const char *text = aioc__http_reason(status);
    return err ? err : aioc_http_response_body_borrowed(res, text, strlen(text));
}
