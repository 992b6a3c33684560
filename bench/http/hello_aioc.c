/* hello_aioc: the HTTP hello-world server on the aioc_http adapter. Every
 * request, whatever its method and path, gets 200 "Hello, World!\n" as
 * text/plain (the adapter adds Date, Content-Length and keep-alive); the
 * body is borrowed, not copied.
 *
 *   hello_aioc [PORT [CERT KEY]]   listen on 127.0.0.1:PORT (0: any free
 *                                  one); with CERT and KEY (PEM files),
 *                                  HTTPS through the TLS adapter
 *
 * Prints "READY port=P pid=N" once it listens and serves until killed.
 * bench/http/run.sh drives it with wrk; by hand:
 *   taskset -c 0 build/release/bench/http/hello_aioc 8080 &
 *   taskset -c 1 wrk -t1 -c100 -d5s http://127.0.0.1:8080/ */
#define _GNU_SOURCE
#include <aioc.h>
#include <aioc_http.h>
#include <aioc_tls.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static const char hello[] = "Hello, World!\n";

static int handle(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req;
    (void)arg;
    int err = aioc_http_response_header(res, "Content-Type", "text/plain");
    if (err)
        return err;
    return aioc_http_response_body_borrowed(res, hello, sizeof hello - 1);
}

/* HTTPS: the TLS adapter's listener runs the HTTP server's handler. */
static aioc_http_server *serve_tls(const char *port, const char *cert, const char *key, int *err) {
    aioc_tls_ctx *ctx = aioc_tls_server_new(cert, key, err);
    aioc_http_server *srv = ctx ? aioc_http_server_new(handle, NULL, NULL) : NULL;
    if (ctx && !srv)
        *err = -ENOMEM;
    aioc_server *l =
        srv ? aioc_tls_serve("127.0.0.1", port, ctx, aioc_http_stream_handler, srv, NULL, NULL, err)
            : NULL;
    aioc_tls_ctx_free(ctx); /* the listener keeps its reference */
    if (!l) {
        aioc_http_server_close(srv, 0);
        return NULL;
    }
    aioc_http_server_adopt(srv, l);
    return srv;
}

static void *serve(void *argv) {
    char **args = argv; /* PORT [CERT KEY] */
    int err = -ENOMEM;
    aioc_http_server *srv = args[1]
                                ? serve_tls(args[0], args[1], args[2], &err)
                                : aioc_http_serve("127.0.0.1", args[0], handle, NULL, NULL, &err);
    if (!srv) {
        fprintf(stderr, "hello_aioc: %s\n", aioc_tls_strerror(err));
        return aioc_fail(err);
    }
    printf("READY port=%d pid=%ld\n", aioc_http_server_port(srv), (long)getpid());
    fflush(stdout);
    aioc_event forever = AIOC_EVENT_INIT;
    aioc_event_wait(&forever); /* until the process is killed */
    aioc_http_server_close(srv, 0);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 3 || argc > 4) {
        fprintf(stderr, "usage: hello_aioc [PORT [CERT KEY]]\n");
        return 2;
    }
    char *args[3] = {argc > 1 ? argv[1] : "0", argc > 3 ? argv[2] : NULL,
                     argc > 3 ? argv[3] : NULL};
    return aioc_run(serve, args, NULL) ? 1 : 0;
}
