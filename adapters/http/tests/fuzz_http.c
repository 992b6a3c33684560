/* libFuzzer target: arbitrary bytes as what a client sends on one
 * connection, through the whole connection state machine (llhttp, limits,
 * routing, responses, pipelining), with small limits so they are reached.
 * The bytes are written, then the write side is shut; the server's answers
 * are read to the end and dropped. Built with clang when it is found (see
 * CMakeLists.txt). */
#define _GNU_SOURCE
#include <aioc_http.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

typedef struct input {
    const uint8_t *data;
    size_t size;
    int fd;
} input;

static int echo(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    size_t n;
    const char *body = aioc_http_request_body(req, &n);
    return aioc_http_response_body(res, body, n);
}

static int chunks(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    const char *id = aioc_http_request_param(req, "id");
    char decoded[64], value[16];
    long n = aioc_http_percent_decode(id, strlen(id), decoded, sizeof decoded, false);
    int err = aioc_http_response_write(res, id, strlen(id));
    if (!err && n >= 0)
        err = aioc_http_response_write(res, decoded, (size_t)n);
    /* the query's pairs, decoded into a small buffer */
    n = aioc_http_request_query_get(req, "q", value, sizeof value);
    if (!err && n >= 0)
        err = aioc_http_response_write(res, value, (size_t)n);
    return err ? err
               : aioc_http_response_write(res, aioc_http_request_query(req),
                                          strlen(aioc_http_request_query(req)));
}

static void *writer(void *arg) {
    input *in = arg;
    aioc_send(in->fd, in->data, in->size, 0);
    shutdown(in->fd, SHUT_WR);
    return NULL;
}

typedef struct served {
    aioc_http_server *h;
    aioc_stream *s;
} served;

static void *serve(void *arg) {
    served *sv = arg;
    aioc_http_serve_stream(sv->h, sv->s);
    aioc_stream_close(sv->s);
    return NULL;
}

static void *run(void *arg) {
    input *in = arg;
    aioc_http_router *r = aioc_http_router_new();
    aioc_http_route(r, NULL, "/echo", echo, NULL);
    aioc_http_route(r, "GET", "/c/:id/*", chunks, NULL);
    aioc_http_opts o = {.max_head_bytes = 512,
                        .max_headers = 8,
                        .max_body_bytes = 1024,
                        .head_timeout = 5,
                        .body_timeout = 5,
                        .idle_timeout = 5};
    aioc_http_server *h = aioc_http_server_new(aioc_http_router_handle, r, &o);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
    served s = {h, aioc_stream_new(sv[0], NULL)};
    in->fd = sv[1];
    aioc_task t = aioc_spawn(serve, &s);
    aioc_task w = aioc_spawn(writer, in);
    char buf[4096];
    while (aioc_recv(sv[1], buf, sizeof buf, 0) > 0)
        ;
    aioc_await(w, NULL);
    aioc_await(t, NULL);
    aioc_close(sv[1]);
    aioc_http_server_close(h, 0);
    aioc_http_router_free(r);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input in = {data, size, -1};
    aioc_run_opts opts = {.keep_sigint = 1};
    aioc_run_with(run, &in, NULL, &opts);
    return 0;
}
