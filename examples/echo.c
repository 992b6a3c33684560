/* An echo server and client (asyncio's start_server / open_connection).
 *
 *     echo server [PORT]        serve on 127.0.0.1 (PORT 0: any free port)
 *     echo client HOST PORT     send stdin's lines, print what comes back
 *
 * The server prints "listening on 127.0.0.1:PORT" once it is ready, gives
 * each connection a task of its own, and stops cleanly on Ctrl-C: the main
 * task is cancelled, the server stops accepting and its open connections
 * are cancelled after a second's grace. */
#include <aioc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One connection: every line that comes in goes straight back. */
static void echo(aioc_stream *conn, void *arg) {
    (void)arg;
    const char *line;
    long n;
    /* `line` points into the stream's buffer, valid until the next read:
     * it can be written back as it is */
    while ((n = aioc_stream_readline(conn, &line)) > 0)
        if (aioc_stream_write(conn, line, (size_t)n))
            break;
}

static void *server(void *arg) {
    const char *port = arg;
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", port, echo, NULL, NULL, &err);
    if (!srv) {
        fprintf(stderr, "echo: cannot listen on port %s: %s\n", port, aioc_strerror(err));
        return aioc_fail(err);
    }
    printf("listening on 127.0.0.1:%d\n", aioc_server_port(srv));
    fflush(stdout);
    aioc_event forever = AIOC_EVENT_INIT;
    aioc_event_wait(&forever); /* until Ctrl-C cancels us */
    aioc_scope shield;         /* then close properly, even though cancelled */
    aioc_shield_enter(&shield);
    aioc_server_close(srv, 1.0);
    aioc_scope_exit(&shield);
    return NULL;
}

struct target {
    const char *host, *port;
};

static void *client(void *arg) {
    struct target *t = arg;
    int fd = aioc_tcp_connect(t->host, t->port);
    if (fd < 0) {
        fprintf(stderr, "echo: %s:%s: %s\n", t->host, t->port, aioc_strerror(fd));
        return aioc_fail(fd);
    }
    aioc_stream *conn = aioc_stream_new(fd, NULL);
    char line[4096];
    int err = 0;
    /* stdin is read with plain fgets: fine for an example on a terminal or
     * a pipe; a real program would read it with aioc_read too */
    while (!err && fgets(line, sizeof line, stdin)) {
        size_t len = strlen(line);
        if ((err = aioc_stream_write(conn, line, len)))
            break;
        const char *back;
        long n = aioc_stream_readline(conn, &back);
        if (n <= 0) {
            err = n ? (int)n : AIOC_EOF;
            break;
        }
        fwrite(back, 1, (size_t)n, stdout);
    }
    aioc_stream_close(conn);
    return err ? aioc_fail(err) : NULL;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "server") == 0) {
        int status = aioc_run(server, argc > 2 ? argv[2] : "0", NULL);
        return status ? 1 : 0;
    }
    if (argc == 4 && strcmp(argv[1], "client") == 0) {
        struct target t = {argv[2], argv[3]};
        int status = aioc_run(client, &t, NULL);
        if (status)
            fprintf(stderr, "echo: %s\n", aioc_strerror(status));
        return status ? 1 : 0;
    }
    fprintf(stderr, "usage: echo server [PORT] | echo client HOST PORT\n");
    return 2;
}
