/* The notes' HTTP JSON API: routes, reading requests, JSON replies and
 * their status codes. It knows the database only through store.h.
 *
 *   POST   /notes          {"title": str, "body": str}: 201, the note, Location
 *   GET    /notes          ?limit=N (1-1000, default 100) &offset=N: {"notes": [...]}
 *   GET    /notes/:id      the note: {"id", "title", "body", "created_at", "updated_at"}
 *   PUT    /notes/:id      replaces title and body (both required): 200, the note
 *   PATCH  /notes/:id      changes the fields given: 200, the note
 *   DELETE /notes/:id      204
 *   GET    /health         {"status": "ok", "queries": N}, without waiting for the database
 *
 * Errors are JSON too, {"error": "..."}: 400 for a body that is not JSON
 * (jansson takes \u0000 in a string for malformed, so no text holds a NUL
 * character, which SQL text could not), not an object, has a field of the
 * wrong type, an unknown or a missing one; 404 for an unknown or
 * non-numeric id and unknown paths; 405 (with Allow) for a wrong method;
 * 500 "database: MESSAGE" with the database's message when it fails; 503
 * "database unavailable: ..." while it cannot be reached. */
#define _POSIX_C_SOURCE 200809L
#include "api.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reply(aioc_http_response *res, int status, json_t *body) { /* takes `body` */
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    int err = text ? aioc_http_response_json(res, status, text) : -ENOMEM;
    free(text);
    return err;
}

static int reply_error(aioc_http_response *res, int status, const char *msg) {
    json_t *body = json_pack("{s:s}", "error", msg);
    if (!body) /* not UTF-8: a piece of a bad request, cut short */
        body = json_pack("{s:s}", "error", "bad request");
    return reply(res, status, body);
}

enum op { LIST, GET, CREATE, REPLACE, PATCH, DELETE };

/* One request's call to the store, answered with its outcome. */
static int call(aioc_http_response *res, struct api *api, enum op op, long long id, long long limit,
                long long offset, const note_fields *in) {
    store_reply r = {NULL, ""};
    int err;
    api->queries++;
    switch (op) {
    case LIST:
        err = store_list(api->store, limit, offset, &r);
        break;
    case GET:
        err = store_get(api->store, id, &r);
        break;
    case CREATE:
        err = store_create(api->store, in, &r);
        break;
    case REPLACE:
        err = store_replace(api->store, id, in, &r);
        break;
    case PATCH:
        err = store_patch(api->store, id, in, &r);
        break;
    default:
        err = store_delete(api->store, id, &r);
    }
    api->queries--;
    char text[240];
    switch (err) {
    case 0:
        break;
    case -ECANCELED:
    case -ETIMEDOUT:
        return err; /* the connection is being dropped: nobody to answer */
    case STORE_ENOTFOUND:
        return reply_error(res, 404, "no such note");
    case STORE_EINPUT:
        return reply_error(res, 400, r.msg);
    case STORE_EDB:
        snprintf(text, sizeof text, "database: %s", r.msg);
        return reply_error(res, 500, text);
    case STORE_EDOWN:
        snprintf(text, sizeof text, "database unavailable: %s", r.msg);
        return reply_error(res, 503, text);
    default:
        return reply_error(res, 500, aioc_strerror(err));
    }
    if (op == DELETE)
        return aioc_http_response_status(res, 204);
    if (op == CREATE) {
        char location[48];
        snprintf(location, sizeof location, "/notes/%lld",
                 (long long)json_integer_value(json_object_get(r.note, "id")));
        if ((err = aioc_http_response_header(res, "Location", location))) {
            json_decref(r.note);
            return err;
        }
    }
    return reply(res, op == CREATE ? 201 : 200, r.note);
}

/* The note in a request's body: an object with string fields "title" (not
 * empty) and "body", nothing else, both required unless `partial`. Returns
 * it (its strings are what `f` points to), or NULL with the reason in
 * `why`. */
static json_t *read_note(aioc_http_request *req, bool partial, note_fields *f, char *why,
                         size_t n) {
    size_t len;
    const char *text = aioc_http_request_body(req, &len);
    json_error_t e;
    json_t *note = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e), *v;
    const char *key;
    *why = '\0';
    if (!note)
        snprintf(why, n, "malformed JSON: %.100s", e.text);
    else if (!json_is_object(note))
        snprintf(why, n, "expected a JSON object");
    else {
        json_object_foreach(note, key, v) {
            if (strcmp(key, "title") && strcmp(key, "body"))
                snprintf(why, n, "unknown field \"%.40s\"", key);
            else if (!json_is_string(v))
                snprintf(why, n, "\"%.40s\" must be a string", key);
            else if (!strcmp(key, "title") && !json_string_length(v))
                snprintf(why, n, "\"title\" must not be empty");
            if (*why)
                break;
        }
    }
    size_t fields = note ? json_object_size(note) : 0;
    if (!*why && !partial && fields < 2)
        snprintf(why, n, "\"title\" and \"body\" are required");
    if (!*why && !fields)
        snprintf(why, n, "nothing to change");
    if (*why) {
        json_decref(note);
        return NULL;
    }
    json_t *title = json_object_get(note, "title"), *body = json_object_get(note, "body");
    *f = (note_fields){json_string_value(title), json_string_value(body), json_string_length(title),
                       json_string_length(body)};
    return note;
}

/* The :id of the path: a positive number, else there is no such note. */
static bool note_id(aioc_http_request *req, long long *id) {
    const char *s = aioc_http_request_param(req, "id");
    size_t n = strspn(s, "0123456789");
    *id = n && !s[n] && n <= 18 ? strtoll(s, NULL, 10) : 0;
    return *id > 0;
}

/* NAME=N in the query string, if there ("limit=10&offset=20"). False if
 * N is not a number from `lo` to `hi`. */
static bool query_number(aioc_http_request *req, const char *name, long long lo, long long hi,
                         long long *v) {
    char value[16];
    long n = aioc_http_request_query_get(req, name, value, sizeof value);
    if (n == -ENOENT)
        return true; /* absent: the default stands */
    if (n <= 0 || n > 9 || strspn(value, "0123456789") != (size_t)n)
        return false;
    *v = strtoll(value, NULL, 10);
    return *v >= lo && *v <= hi;
}

static int notes_list(aioc_http_request *req, aioc_http_response *res, void *arg) {
    long long limit = 100, offset = 0;
    if (!query_number(req, "limit", 1, 1000, &limit))
        return reply_error(res, 400, "limit must be a number from 1 to 1000");
    if (!query_number(req, "offset", 0, 999999999, &offset))
        return reply_error(res, 400, "offset must be a number");
    return call(res, arg, LIST, 0, limit, offset, NULL);
}

static int note_create(aioc_http_request *req, aioc_http_response *res, void *arg) {
    char why[160];
    note_fields f;
    json_t *note = read_note(req, false, &f, why, sizeof why);
    if (!note)
        return reply_error(res, 400, why);
    int err = call(res, arg, CREATE, 0, 0, 0, &f);
    json_decref(note);
    return err;
}

/* GET, PUT, PATCH and DELETE of /notes/:id */
static int note_by_id(aioc_http_request *req, aioc_http_response *res, void *arg) {
    const char *method = aioc_http_request_method(req);
    long long id;
    if (!note_id(req, &id))
        return reply_error(res, 404, "no such note");
    bool put = !strcmp(method, "PUT"), patch = !strcmp(method, "PATCH");
    enum op op = put ? REPLACE : patch ? PATCH : !strcmp(method, "DELETE") ? DELETE : GET;
    json_t *note = NULL;
    note_fields f = {0};
    char why[160];
    if ((put || patch) && !(note = read_note(req, patch, &f, why, sizeof why)))
        return reply_error(res, 400, why);
    int err = call(res, arg, op, id, 0, 0, &f);
    json_decref(note);
    return err;
}

/* Answers at once, whatever the database is doing; says how many
 * requests wait for it. */
static int health(aioc_http_request *req, aioc_http_response *res, void *arg) {
    struct api *api = arg;
    char json[64];
    (void)req;
    snprintf(json, sizeof json, "{\"status\":\"ok\",\"queries\":%d}", api->queries);
    return aioc_http_response_json(res, 200, json);
}

/* What no route takes: the router has set 404, or 405 and the Allow
 * header; the body is JSON like every other error. */
static int no_route(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req;
    (void)arg;
    int status = aioc_http_response_get_status(res);
    return reply_error(res, status, status == 405 ? "method not allowed" : "not found");
}

aioc_http_router *api_routes(struct api *api) {
    aioc_http_router *r = aioc_http_router_new();
    int err = r ? 0 : -ENOMEM;
    err = err ? err : aioc_http_route(r, "GET", "/health", health, api);
    err = err ? err : aioc_http_route(r, "GET", "/notes", notes_list, api);
    err = err ? err : aioc_http_route(r, "POST", "/notes", note_create, api);
    const char *const by_id[] = {"GET", "PUT", "PATCH", "DELETE"};
    for (int i = 0; i < 4; i++)
        err = err ? err : aioc_http_route(r, by_id[i], "/notes/:id", note_by_id, api);
    if (err) {
        aioc_http_router_free(r);
        return NULL;
    }
    aioc_http_router_fallback(r, no_route, NULL);
    return r;
}
