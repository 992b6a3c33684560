/* A file as a response's body (aiohttp's FileResponse). Opening and reading
 * run on aioc's thread pool, so a slow disk never stalls the loop; the
 * bytes go out through the connection's stream, so the same code serves
 * over TLS. A job (descriptor and buffer) that its task gave up on while a
 * pool thread used it is freed by aioc_to_thread_with's cleanup. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_internal.h"

#define CHUNK (64 * 1024) /* bytes read per trip to the pool */

typedef struct file_job {
    const char *path; /* the caller's, while it waits for the open */
    int fd;
    int err;
    off_t size, off;
    ssize_t got; /* what the last read brought */
    char buf[CHUNK];
} file_job;

static void job_free(void *result, void *arg) {
    (void)result;
    file_job *j = arg;
    if (j->fd >= 0)
        close(j->fd);
    free(j);
}

static void *open_file(void *arg) {
    file_job *j = arg;
    struct stat st;
    j->fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (j->fd < 0 || fstat(j->fd, &st) != 0)
        j->err = -errno;
    else if (S_ISDIR(st.st_mode))
        j->err = -EISDIR;
    else if (!S_ISREG(st.st_mode))
        j->err = -EINVAL; /* a device or a pipe has no length to announce */
    else
        j->size = st.st_size;
    return NULL;
}

static void *read_chunk(void *arg) {
    file_job *j = arg;
    off_t left = j->size - j->off;
    size_t want = left < (off_t)CHUNK ? (size_t)left : CHUNK;
    do
        j->got = pread(j->fd, j->buf, want, j->off);
    while (j->got < 0 && errno == EINTR);
    j->err = j->got < 0 ? -errno : 0;
    return NULL;
}

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
    file_job *j = malloc(sizeof *j);
    if (!j)
        return -ENOMEM;
    *j = (file_job){.path = path, .fd = -1};
    int err = aioc_to_thread_with(open_file, j, NULL, job_free);
    if (err)
        return err; /* the cleanup has the job */
    if (j->err) {
        err = j->err;
        job_free(NULL, j);
        return err;
    }
    char length[24];
    snprintf(length, sizeof length, "%lld", (long long)j->size);
    if (!has_header(res, "Content-Type"))
        err = aioc_http_response_header(res, "Content-Type", content_type(path));
    if (!err)
        err = aioc_http_response_header(res, "Content-Length", length);
    if (!err)
        err = aioc_http_response_write(res, NULL, 0);     /* the head */
    while (!err && !res->head_only && j->off < j->size) { /* HEAD: the head alone */
        if ((err = aioc_to_thread_with(read_chunk, j, NULL, job_free)))
            return err;            /* the cleanup has the job */
        if (j->err || j->got == 0) /* the file shrank: the length was a lie */
            err = j->err ? j->err : -EIO;
        else
            err = aioc_http_response_write(res, j->buf, (size_t)j->got);
        j->off += j->got > 0 ? j->got : 0;
    }
    job_free(NULL, j);
    return err;
}
