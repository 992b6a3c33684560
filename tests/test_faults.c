/* Peers that misbehave: one that vanishes in the middle of a line, one
 * that sends a byte at a time and is cut off by a deadline, and ten
 * thousand that are all connected at once. */
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static char port[16];

/* Waits (up to 10 s) until the server has no connection left. */
static void wait_until_idle(aioc_server *srv) {
    aioc_scope bound;
    CHECK_ERR(aioc_scope_enter(&bound, 10), 0);
    while (aioc_server_connections(srv) > 0)
        CHECK_ERR(aioc_sleep(0.001), 0);
    CHECK_ERR(aioc_scope_exit(&bound), 0);
}

/* ------------------------------------------- a peer vanishes mid-line -- */

static long seen[3]; /* what the handler's readline calls returned */
static char last_line[16];

static void records_lines(aioc_stream *s, void *arg) {
    (void)arg;
    const char *line;
    for (int i = 0; i < 3; i++) {
        seen[i] = aioc_stream_readline(s, &line);
        if (seen[i] <= 0)
            break;
        size_t n = (size_t)seen[i];
        memcpy(last_line, line, n < sizeof last_line ? n : sizeof last_line - 1);
    }
}

static void *vanishing_peer(void *arg) {
    int reset = I(arg);
    memset(seen, 0, sizeof seen);
    memset(last_line, 0, sizeof last_line);
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", records_lines, NULL, NULL, &err);
    CHECK(srv);
    snprintf(port, sizeof port, "%d", aioc_server_port(srv));
    int fd = aioc_tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0);
    CHECK_EQ(aioc_write(fd, "hello\nhal", 9), 9);
    if (reset) { /* the peer crashes: its kernel answers with a reset */
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    aioc_close(fd);
    wait_until_idle(srv);
    CHECK_EQ(seen[0], 6);
    if (reset) {
        /* the reset may overtake the unread bytes: then "hal" is lost */
        CHECK(seen[1] == -ECONNRESET || (seen[1] == 3 && seen[2] == -ECONNRESET));
    } else {
        CHECK_EQ(seen[1], 3); /* the partial line, as asyncio's readline gives it */
        CHECK(memcmp(last_line, "hal", 3) == 0);
        CHECK_EQ(seen[2], 0);
    }
    CHECK_ERR(aioc_server_close(srv, 1), 0);
    return NULL;
}

TEST(peer_vanishing_mid_line) {
    CHECK_ERR(aioc_run(vanishing_peer, P(0), NULL), 0);
    CHECK_ERR(aioc_run(vanishing_peer, P(1), NULL), 0);
}

/* ------------------------------- a slow client is cut off by a deadline -- */

#define LINE_DEADLINE 0.3 /* seconds the server gives a client per line */
static int timed_out;

/* Echoes lines; a client that takes too long over one is told so and
 * disconnected (a slowloris defence). */
static void echo_with_deadline(aioc_stream *s, void *arg) {
    (void)arg;
    for (;;) {
        aioc_scope deadline;
        aioc_scope_enter(&deadline, LINE_DEADLINE);
        const char *line;
        long n = aioc_stream_readline(s, &line);
        aioc_scope_exit(&deadline);
        if (n == -ETIMEDOUT) {
            timed_out++;
            aioc_stream_write(s, "too slow\n", 9);
            return;
        }
        if (n <= 0)
            return;
        char copy[64];
        memcpy(copy, line, (size_t)n < sizeof copy ? (size_t)n : sizeof copy);
        if (aioc_stream_write(s, copy, (size_t)n < sizeof copy ? (size_t)n : sizeof copy))
            return;
    }
}

/* Sends a 30-byte line one byte every 50 ms (1.5 s in all, five times the
 * deadline) and returns how many bytes went out before the server hung up. */
static void *trickles(void *arg) {
    (void)arg;
    int fd = aioc_tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0);
    aioc_stream *s = aioc_stream_new(fd, NULL);
    int sent = 0;
    const char *line = NULL;
    long n = 0;
    for (; sent < 30; sent++) {
        if (aioc_stream_write(s, sent == 29 ? "\n" : "x", 1) || aioc_stream_drain(s))
            break; /* the server hung up */
        aioc_scope pause;
        aioc_scope_enter(&pause, 0.05);
        n = aioc_stream_readline(s, &line); /* the server says something? */
        aioc_scope_exit(&pause);
        if (n != -ETIMEDOUT)
            break;
    }
    CHECK_EQ(n, 9);
    CHECK(memcmp(line, "too slow\n", 9) == 0);
    CHECK_EQ(aioc_stream_readline(s, &line), 0); /* then it closed */
    aioc_stream_close(s);
    return P(sent);
}

/* Meanwhile a client that keeps up is served as usual. */
static void *keeps_up(void *arg) {
    (void)arg;
    int fd = aioc_tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0);
    aioc_stream *s = aioc_stream_new(fd, NULL);
    for (int i = 0; i < 20; i++) {
        CHECK_ERR(aioc_stream_write(s, "quick\n", 6), 0);
        const char *line;
        CHECK_EQ(aioc_stream_readline(s, &line), 6);
        CHECK_ERR(aioc_sleep(0.02), 0);
    }
    aioc_stream_close(s);
    return NULL;
}

TASK_TEST(slow_client_cut_off_by_deadline) {
    timed_out = 0;
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", echo_with_deadline, NULL, NULL, &err);
    CHECK(srv);
    snprintf(port, sizeof port, "%d", aioc_server_port(srv));
    aioc_task slow = aioc_spawn(trickles, NULL), quick = aioc_spawn(keeps_up, NULL);
    void *sent;
    CHECK_ERR(aioc_await(slow, &sent), 0);
    CHECK(I(sent) < 29); /* cut off long before the line was complete */
    CHECK_ERR(aioc_await(quick, NULL), 0);
    CHECK_EQ(timed_out, 1);
    CHECK_ERR(aioc_server_close(srv, 1), 0);
    return NULL;
}

/* ----------------------------------------- ten thousand connections -- */

enum { CONNS = 10000 };
static int open_now, open_peak;

/* Echoes one line, then waits for "bye" and closes first, so that the
 * server side, not the client's ephemeral ports, holds the TIME_WAIT. */
static void counted_echo(aioc_stream *s, void *arg) {
    (void)arg;
    if (++open_now > open_peak)
        open_peak = open_now;
    const char *line;
    long n;
    while ((n = aioc_stream_readline(s, &line)) > 0 && memcmp(line, "bye\n", 4) != 0) {
        char copy[32];
        memcpy(copy, line, (size_t)n < sizeof copy ? (size_t)n : sizeof copy);
        if (aioc_stream_write(s, copy, (size_t)n < sizeof copy ? (size_t)n : sizeof copy))
            break;
    }
    open_now--;
}

static aioc_event all_connected;
static aioc_sem connecting;
static int connected;

static void *one_client(void *arg) {
    CHECK_ERR(aioc_sem_acquire(&connecting), 0); /* not 10,000 SYNs at once */
    int fd = aioc_tcp_connect("127.0.0.1", port);
    aioc_sem_release(&connecting);
    CHECK(fd >= 0);
    aioc_stream *s = aioc_stream_new(fd, NULL);
    char msg[32];
    int len = snprintf(msg, sizeof msg, "client %d\n", I(arg));
    CHECK_ERR(aioc_stream_write(s, msg, (size_t)len), 0);
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), len);
    CHECK(memcmp(line, msg, (size_t)len) == 0);
    if (++connected == CONNS)
        aioc_event_set(&all_connected);
    CHECK_ERR(aioc_event_wait(&all_connected), 0); /* every one is open now */
    CHECK_ERR(aioc_stream_write(s, "bye\n", 4), 0);
    CHECK_EQ(aioc_stream_readline(s, &line), 0); /* the server closes first */
    aioc_stream_close(s);
    return NULL;
}

static void *many_clients(void *arg) {
    (void)arg;
    aioc_event_init(&all_connected);
    aioc_sem_init(&connecting, 500);
    aioc_task *t = calloc(CONNS, sizeof *t);
    CHECK(t);
    aioc_spawn_opts o = {.stack_size = 32 * 1024};
    for (int i = 0; i < CONNS; i++)
        t[i] = aioc_spawn_with(one_client, P(i), &o);
    CHECK_ERR(aioc_gather(t, CONNS, NULL), 0);
    free(t);
    return NULL;
}

static void *many_server(void *arg) {
    int *pipefd = arg;
    int err;
    aioc_server_opts opts = {.backlog = 4096, .stack_size = 32 * 1024};
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", counted_echo, NULL, &opts, &err);
    CHECK(srv);
    int p = aioc_server_port(srv);
    CHECK_EQ(aioc_write(pipefd[1], &p, sizeof p), (long)sizeof p);
    int status = 0;
    CHECK(aioc_read(pipefd[0], &status, sizeof status) == sizeof status);
    CHECK_EQ(status, 0); /* the client process did its part */
    wait_until_idle(srv);
    CHECK_EQ(open_peak, CONNS); /* all at once */
    CHECK_ERR(aioc_server_close(srv, 1), 0);
    return NULL;
}

/* The clients run in a child process: one process holds at most 20,000
 * descriptors here, and 10,000 connections need 20,000 ends. */
TEST(ten_thousand_connections_at_once) {
    int to_child[2], to_parent[2];
    CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        int p;
        if (read(to_child[0], &p, sizeof p) != sizeof p)
            _exit(2);
        snprintf(port, sizeof port, "%d", p);
        int status = aioc_run(many_clients, NULL, NULL);
        if (write(to_parent[1], &status, sizeof status) != sizeof status)
            _exit(2);
        _exit(status ? 1 : 0);
    }
    close(to_child[0]); /* a child that dies early then reads as end of file */
    close(to_parent[1]);
    int ends[2] = {to_parent[0], to_child[1]};
    CHECK_ERR(aioc_run(many_server, ends, NULL), 0);
    int ws;
    CHECK(waitpid(pid, &ws, 0) == pid);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    close(to_child[1]);
    close(to_parent[0]);
}
