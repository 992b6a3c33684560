/* An echo server and client (asyncio's start_server / open_connection).
 *
 *     echo server [--lines] [--loops N [--spread]] [PORT]
 *                                    serve on 127.0.0.1 (PORT 0: any free port)
 *     echo client HOST PORT          send stdin, print what comes back
 *
 * The server echoes whatever bytes arrive, as they arrive (RFC 862): any
 * size, binary or text. When the client half-closes its side (shutdown
 * SHUT_WR, socat's shut-down), the server sends back what is left, then
 * closes its own side: the client reads the full echo, then the end of
 * the stream. With --lines it echoes whole lines only (a last line without
 * its newline is echoed too, lines are at most 64 KiB), the way a line
 * protocol's server reads.
 *
 * It prints "listening on 127.0.0.1:PORT" once it is ready and a line per
 * connection when it ends (the peer's address and how many bytes came
 * back: asyncio's get_extra_info('peername')), gives each connection a task
 * of its own, and stops cleanly on Ctrl-C: the main task is cancelled, the
 * server stops accepting and its open connections are cancelled after a
 * second's grace.
 *
 * With --loops N (a number or "auto": one per CPU) the server runs on N
 * loops, a thread each, every loop listening on the same port
 * (SO_REUSEPORT: the kernel spreads connections over them). Loop 0 binds
 * first (PORT 0 picks the port there), hands the port to the others by a
 * loop call, and prints the "listening" line once every loop listens;
 * the line per connection then names the loop that served it.
 *
 * With --spread as well, only loop 0 listens: it hands each connection to
 * the loop with the fewest connections open (aioc_server_opts.spread), so
 * that even a few long-lived connections are shared out evenly, at the
 * cost of a loop call per connection. On Ctrl-C the connections on the
 * other loops are cancelled with their loop's tasks, at once.
 *
 * The client sends stdin in one task while the main task prints what comes
 * back, so a large input never waits for its own echo; at the end of stdin
 * it half-closes and prints the rest until the server closes. */
#define _POSIX_C_SOURCE 200809L
#include <aioc.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int lines_mode;
static int spread_mode; /* --spread: loop 0 accepts for every loop */

/* Echoes bytes until the peer's end of stream; returns how many. */
static long long echo_bytes(aioc_stream *conn) {
    char buf[16384];
    long long total = 0;
    long n;
    while ((n = aioc_stream_read(conn, buf, sizeof buf)) > 0) {
        if (aioc_stream_write(conn, buf, (size_t)n))
            break;
        total += n;
    }
    return total;
}

/* Echoes whole lines until the peer's end of stream; returns how many bytes. */
static long long echo_lines(aioc_stream *conn) {
    const char *line;
    long long total = 0;
    long n;
    /* `line` points into the stream's buffer, valid until the next read:
     * it can be written back as it is */
    while ((n = aioc_stream_readline(conn, &line)) > 0) {
        if (aioc_stream_write(conn, line, (size_t)n))
            break;
        total += n;
    }
    return total;
}

/* One connection. The server closes the stream when this returns, after
 * sending what is still buffered. */
static void echo(aioc_stream *conn, void *arg) {
    (void)arg;
    char peer[AIOC_ADDRSTRLEN];
    if (aioc_stream_peer_address(conn, peer, sizeof peer) < 0)
        strcpy(peer, "?");
    long long n = lines_mode ? echo_lines(conn) : echo_bytes(conn);
    if (aioc_loop_count() > 1)
        printf("%s: %lld bytes echoed on loop %u\n", peer, n, aioc_loop_index());
    else
        printf("%s: %lld bytes echoed\n", peer, n);
    fflush(stdout);
}

/* Several loops: loop 0 binds first and tells the others its port; each
 * tells loop 0 once it listens too (or failed to). Every field is touched
 * by its own loop only: the calls carry the news. */
enum { MAX_LOOPS = AIOC_LOOPS_MAX };
static struct {
    char port[16];       /* a sibling's: the port to share */
    aioc_event port_set; /* a sibling's: port is set */
    aioc_event stop;     /* a sibling's: loop 0 gave up */
} sibling[MAX_LOOPS];
static unsigned listening;                         /* loop 0's: loops that listen, or failed */
static int sibling_error;                          /* loop 0's: the first sibling that failed */
static aioc_event all_listening = AIOC_EVENT_INIT; /* loop 0's */

static void take_port(void *arg) {
    aioc_event_set(&sibling[aioc_loop_index()].port_set);
    (void)arg;
}

static void stop_here(void *arg) {
    (void)arg;
    aioc_event_set(&sibling[aioc_loop_index()].stop);
}

static void one_more_listening(void *arg) {
    int err = (int)(intptr_t)arg;
    if (err && !sibling_error)
        sibling_error = err;
    if (++listening == aioc_loop_count())
        aioc_event_set(&all_listening);
}

/* A sibling loop (index > 0): the port loop 0 picked, or NULL if loop 0
 * gave up. */
static const char *wait_for_port(void) {
    unsigned i = aioc_loop_index();
    if (aioc_event_wait(&sibling[i].port_set))
        return NULL;
    return sibling[i].port[0] ? sibling[i].port : NULL;
}

static void *server(void *arg) {
    unsigned index = aioc_loop_index(), loops = aioc_loop_count();
    if (spread_mode && index > 0) {            /* serves what loop 0 hands over */
        aioc_event_wait(&sibling[index].stop); /* until Ctrl-C or loop 0 fails */
        return NULL;
    }
    const char *port = index == 0 ? arg : wait_for_port();
    if (!port)
        return NULL; /* loop 0 could not listen */
    aioc_server_opts opts = {.reuse_port = loops > 1 && !spread_mode, .spread = spread_mode};
    unsigned listeners = spread_mode ? 1 : loops; /* loops that listen */
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", port, echo, NULL, &opts, &err);
    if (!srv)
        fprintf(stderr, "echo: cannot listen on port %s: %s\n", port, aioc_strerror(err));
    if (index == 0) { /* give the port to the others, then wait for them */
        for (unsigned i = 1; i < loops; i++) {
            if (spread_mode) { /* the others serve without listening */
                if (!srv)
                    aioc_loop_call(aioc_loop_at(i), stop_here, NULL);
                continue;
            }
            if (srv)
                snprintf(sibling[i].port, sizeof sibling[i].port, "%d", aioc_server_port(srv));
            aioc_loop_call(aioc_loop_at(i), take_port, NULL);
        }
        if (!srv)
            return aioc_fail(err);
        listening++;
        if (listening < listeners && aioc_event_wait(&all_listening) == 0 && sibling_error) {
            for (unsigned i = 1; i < loops; i++)
                aioc_loop_call(aioc_loop_at(i), stop_here, NULL);
            aioc_server_close(srv, 0);
            return aioc_fail(sibling_error);
        }
        if (listening == listeners) {
            printf("listening on 127.0.0.1:%d\n", aioc_server_port(srv));
            fflush(stdout);
        }
    } else {
        aioc_loop_call(aioc_loop_at(0), one_more_listening, (void *)(intptr_t)(srv ? 0 : err));
        if (!srv)
            return aioc_fail(err);
    }
    aioc_event forever = AIOC_EVENT_INIT;
    aioc_event_wait(index == 0 ? &forever : &sibling[index].stop); /* until Ctrl-C */
    aioc_scope shield; /* then close properly, even though cancelled */
    aioc_shield_enter(&shield);
    aioc_server_close(srv, 1.0);
    aioc_scope_exit(&shield);
    return NULL;
}

/* Sends stdin to the server, then half-closes the connection. */
static void *send_stdin(void *arg) {
    aioc_stream *conn = arg;
    int flags = fcntl(STDIN_FILENO, F_GETFL);
    char buf[16384];
    long n;
    int err = 0;
    while (!err && (n = aioc_read(STDIN_FILENO, buf, sizeof buf)) > 0)
        err = aioc_stream_write(conn, buf, (size_t)n);
    if (flags >= 0) /* aioc made stdin non-blocking; the shell shares it */
        fcntl(STDIN_FILENO, F_SETFL, flags);
    if (!err && n < 0)
        err = (int)n;
    if (!err)
        err = aioc_stream_write_eof(conn);
    return err ? aioc_fail(err) : NULL;
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
    if (!conn) {
        aioc_close(fd);
        return aioc_fail(-ENOMEM);
    }
    aioc_task sender = aioc_spawn(send_stdin, conn);
    char buf[16384];
    long n;
    while ((n = aioc_stream_read(conn, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    fflush(stdout);
    aioc_cancel(sender); /* if the server ended first, stdin no longer matters */
    int err = aioc_await(sender, NULL);
    aioc_stream_abort(conn);
    if (n < 0)
        return aioc_fail((int)n);
    return err && err != -ECANCELED ? aioc_fail(err) : NULL;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "server") == 0) {
        int arg = 2;
        aioc_run_opts opts = {.loops = 1};
        for (; argc > arg && argv[arg][0] == '-'; arg++) {
            if (strcmp(argv[arg], "--lines") == 0) {
                lines_mode = 1;
            } else if (strcmp(argv[arg], "--spread") == 0) {
                spread_mode = 1;
            } else if (strcmp(argv[arg], "--loops") == 0 && argc > arg + 1) {
                const char *n = argv[++arg];
                opts.loops = strcmp(n, "auto") == 0 ? AIOC_LOOPS_AUTO : (unsigned)atoi(n);
                if (!opts.loops || (opts.loops > MAX_LOOPS && opts.loops != AIOC_LOOPS_AUTO)) {
                    fprintf(stderr, "echo: --loops: 1 to %d, or auto\n", MAX_LOOPS);
                    return 2;
                }
            } else {
                break;
            }
        }
        for (unsigned i = 0; i < MAX_LOOPS; i++) {
            aioc_event_init(&sibling[i].port_set);
            aioc_event_init(&sibling[i].stop);
        }
        int status = aioc_run_with(server, argc > arg ? argv[arg] : "0", NULL, &opts);
        return status ? 1 : 0;
    }
    if (argc == 4 && strcmp(argv[1], "client") == 0) {
        struct target t = {argv[2], argv[3]};
        int status = aioc_run(client, &t, NULL);
        if (status)
            fprintf(stderr, "echo: %s\n", aioc_strerror(status));
        return status ? 1 : 0;
    }
    fprintf(stderr,
            "usage: echo server [--lines] [--loops N [--spread]] [PORT] | echo client HOST PORT\n");
    return 2;
}
