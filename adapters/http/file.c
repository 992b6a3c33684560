/* A file as a response's body (aiohttp's FileResponse), read with aioc's
 * file API (aioc_file_*): on the thread pool, or on io_uring where the
 * program installed that engine, so a slow disk never stalls the loop.
 * The bytes go out through the connection's stream, so the same code
 * serves over TLS. A read whose task gives up is released by the engine
 * (its buffer and its hold on the file), never leaked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "http_internal.h"

#define CHUNK (64 * 1024) /* bytes read per call */

/* The Content-Type for a file name, by its extension. */
static const char *content_type(const char *path) {
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css"},
        {"js", "text/javascript"},
        {"mjs", "text/javascript"},
        {"json", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"csv", "text/csv"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/vnd.microsoft.icon"},
        {"wasm", "application/wasm"},
        {"pdf", "application/pdf"},
        {"woff2", "font/woff2"},
        {"gz", "application/gzip"},
    };
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot + 1, types[i].ext))
                return types[i].type;
    return "application/octet-stream";
}

/* Whether the handler added a header named `name` already. */
static bool has_header(const aioc_http_response *res, const char *name) {
    size_t n = strlen(name);
    for (const char *p = res->headers; p && *p;) {
        if (!strncasecmp(p, name, n) && p[n] == ':')
            return true;
        p = strchr(p, '\n'); /* every line ends with CR LF */
        p = p ? p + 1 : NULL;
    }
    return false;
}

int aioc_http_response_file(aioc_http_response *res, const char *path) {
    if (!path)
        return -EINVAL;
    if (res->head_sent || res->body || res->streamed || res->has_length)
        return -EALREADY;
    int err = 0;
    aioc_file *f = aioc_file_open(path, O_RDONLY, 0, &err);
    if (!f)
        return err;
    struct stat st;
    if (!(err = aioc_file_stat(f, &st))) {
        if (S_ISDIR(st.st_mode))
            err = -EISDIR;
        else if (!S_ISREG(st.st_mode))
            err = -EINVAL; /* a device or a pipe has no length to announce */
    }
    char *buf = err ? NULL : malloc(CHUNK);
    if (!err && !buf)
        err = -ENOMEM;
    char length[24];
    if (!err)
        snprintf(length, sizeof length, "%lld", (long long)st.st_size);
    if (!err && !has_header(res, "Content-Type"))
        err = aioc_http_response_header(res, "Content-Type", content_type(path));
    if (!err)
        err = aioc_http_response_header(res, "Content-Length", length);
    if (!err)
        err = aioc_http_response_write(res, NULL, 0);                   /* the head */
    for (off_t off = 0; !err && !res->head_only && off < st.st_size;) { /* HEAD: the head alone */
        off_t left = st.st_size - off;
        long got = aioc_file_pread(f, buf, left < (off_t)CHUNK ? (size_t)left : CHUNK, off);
        if (got <= 0) /* the file shrank: the length was a lie */
            err = got < 0 ? (int)got : -EIO;
        else
            err = aioc_http_response_write(res, buf, (size_t)got);
        off += got > 0 ? got : 0;
    }
    free(buf);
    aioc_file_close(f);
    return err;
}
