/* serve_loops: the echo and HTTP hello-world servers of bench/net and
 * bench/http, on N loops (aioc_run_opts.loops), every loop listening on
 * the same port with SO_REUSEPORT.
 *
 *   serve_loops echo|http LOOPS PORT
 *
 * Each loop's main listens on 127.0.0.1:PORT (a fixed port, so that every
 * loop binds the same one) and tells loop 0 by a loop call; loop 0 prints
 * "READY port=P pid=N loops=L" once every loop listens (a client that
 * connected earlier would all land on the loops already listening), and
 * serves until killed. bench/loops/run.sh drives it. */
#define _GNU_SOURCE
#include <aioc.h>
#include <aioc_http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char hello[] = "Hello, World!\n";
static int http_mode;
static const char *port;

static void echo(aioc_stream *conn, void *arg) {
    (void)arg;
    char buf[4096];
    long n;
    while ((n = aioc_stream_read(conn, buf, sizeof buf)) > 0)
        if (aioc_stream_write(conn, buf, (size_t)n))
            break;
}

static int handle(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req;
    (void)arg;
    int err = aioc_http_response_header(res, "Content-Type", "text/plain");
    if (err)
        return err;
    return aioc_http_response_body_borrowed(res, hello, sizeof hello - 1);
}

static unsigned listening; /* loop 0's */

static void one_listens(void *arg) { /* on loop 0 */
    (void)arg;
    if (++listening == aioc_loop_count()) {
        printf("READY port=%s pid=%ld loops=%u\n", port, (long)getpid(), aioc_loop_count());
        fflush(stdout);
    }
}

static void *serve(void *arg) {
    (void)arg;
    int err;
    aioc_server_opts so = {.reuse_port = 1};
    aioc_http_opts ho = {.server = so};
    aioc_server *tcp = NULL;
    aioc_http_server *web = NULL;
    if (http_mode)
        web = aioc_http_serve("127.0.0.1", port, handle, NULL, &ho, &err);
    else
        tcp = aioc_tcp_serve("127.0.0.1", port, echo, NULL, &so, &err);
    if (!tcp && !web) {
        fprintf(stderr, "serve_loops: loop %u: %s\n", aioc_loop_index(), aioc_strerror(err));
        exit(1);
    }
    aioc_loop_call(aioc_loop_at(0), one_listens, NULL);
    aioc_event forever = AIOC_EVENT_INIT;
    aioc_event_wait(&forever); /* until the process is killed */
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "echo") && strcmp(argv[1], "http"))) {
        fprintf(stderr, "usage: serve_loops echo|http LOOPS PORT\n");
        return 2;
    }
    http_mode = strcmp(argv[1], "http") == 0;
    port = argv[3];
    aioc_run_opts opts = {.loops = (unsigned)atoi(argv[2])};
    return aioc_run_with(serve, NULL, NULL, &opts) ? 1 : 0;
}
