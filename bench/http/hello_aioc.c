/* hello_aioc: the HTTP hello-world server on the aioc_http adapter. Every
 * request, whatever its method and path, gets 200 "Hello, World!\n" as
 * text/plain (the adapter adds Date, Content-Length and keep-alive); the
 * body is borrowed, not copied.
 *
 *   hello_aioc [PORT]   listen on 127.0.0.1:PORT (0: any free one)
 *
 * Prints "READY port=P pid=N" once it listens and serves until killed.
 * bench/http/run.sh drives it with wrk; by hand:
 *   taskset -c 0 build/release/bench/http/hello_aioc 8080 &
 *   taskset -c 1 wrk -t1 -c100 -d5s http://127.0.0.1:8080/ */
#define _GNU_SOURCE
#include <aioc.h>
#include <aioc_http.h>
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

static void *serve(void *port) {
    int err;
    aioc_http_server *srv = aioc_http_serve("127.0.0.1", port, handle, NULL, NULL, &err);
    if (!srv) {
        fprintf(stderr, "hello_aioc: %s\n", aioc_strerror(err));
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
    return aioc_run(serve, argc > 1 ? argv[1] : "0", NULL) ? 1 : 0;
}
