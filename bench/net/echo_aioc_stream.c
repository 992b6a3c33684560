/* echo_aioc_stream: a TCP echo server written the idiomatic aioc way.
 * aioc_tcp_serve gives every connection a stream and a handler task; the
 * handler reads whatever has arrived (aioc_stream_read into a 4 KiB buffer
 * on its stack) and writes it back (aioc_stream_write): echo semantics,
 * not lines. With "lines" the handler echoes lines instead, waiting in
 * aioc_stream_readline and writing each line back from the stream's own
 * buffer, with no buffer of its own (the idle-connection case shows what
 * that saves).
 *
 *   echo_aioc_stream [PORT [lines]]   listen on 127.0.0.1:PORT (0: any)
 *
 * Prints "READY port=P pid=N" once it listens and serves until killed.
 * bench/net/run.sh drives it with loadgen (64-byte ping-pong, and 10,000
 * idle connections); by hand:
 *   taskset -c 0 build/release/bench/net/echo_aioc_stream &
 *   taskset -c 1 build/release/bench/net/loadgen echo PORT 100 1 5 PID aioc */
#define _GNU_SOURCE
#include <aioc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void echo(aioc_stream *conn, void *arg) {
    (void)arg;
    char buf[4096];
    long n;
    while ((n = aioc_stream_read(conn, buf, sizeof buf)) > 0)
        if (aioc_stream_write(conn, buf, (size_t)n))
            break;
}

/* The line is written from where readline left it: aioc_stream_write
 * reads it before anything else touches the stream's read buffer. */
static void echo_lines(aioc_stream *conn, void *arg) {
    (void)arg;
    const char *line;
    long n;
    while ((n = aioc_stream_readline(conn, &line)) > 0)
        if (aioc_stream_write(conn, line, (size_t)n))
            break;
}

static int lines;

static void *serve(void *port) {
    int err;
    aioc_server *srv =
        aioc_tcp_serve("127.0.0.1", port, lines ? echo_lines : echo, NULL, NULL, &err);
    if (!srv) {
        fprintf(stderr, "echo_aioc_stream: %s\n", aioc_strerror(err));
        return aioc_fail(err);
    }
    printf("READY port=%d pid=%ld\n", aioc_server_port(srv), (long)getpid());
    fflush(stdout);
    aioc_event forever = AIOC_EVENT_INIT;
    aioc_event_wait(&forever); /* until the process is killed */
    aioc_server_close(srv, 0);
    return NULL;
}

int main(int argc, char **argv) {
    lines = argc > 2 && strcmp(argv[2], "lines") == 0;
    return aioc_run(serve, argc > 1 ? argv[1] : "0", NULL) ? 1 : 0;
}
