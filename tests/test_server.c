/* Stream servers: many clients, graceful close, close that cancels,
 * accept backing off when descriptors run out, Unix sockets, and servers
 * the program forgot to close. */
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static void echo(aioc_stream *s, void *arg) {
    (void)arg;
    const char *line;
    long n;
    while ((n = aioc_stream_readline(s, &line)) > 0) {
        char copy[256];
        memcpy(copy, line, (size_t)n);
        if (aioc_stream_write(s, copy, (size_t)n) || aioc_stream_drain(s))
            break;
    }
}

static char port[16];

static void *client(void *arg) {
    int fd = aioc_tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0);
    aioc_stream *s = aioc_stream_new(fd, NULL);
    for (int i = 0; i < 3; i++) {
        char msg[64];
        int len = snprintf(msg, sizeof msg, "client %d says %d\n", I(arg), i);
        CHECK_ERR(aioc_stream_write(s, msg, (size_t)len), 0);
        const char *line;
        CHECK_EQ(aioc_stream_readline(s, &line), len);
        CHECK(memcmp(line, msg, (size_t)len) == 0);
    }
    CHECK_ERR(aioc_stream_close(s), 0);
    return NULL;
}

TASK_TEST(server_echoes_for_many_clients) {
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", echo, NULL, NULL, &err);
    CHECK(srv);
    snprintf(port, sizeof port, "%d", aioc_server_port(srv));
    enum { N = 300 };
    aioc_task t[N];
    for (int i = 0; i < N; i++)
        t[i] = aioc_spawn(client, P(i));
    CHECK_ERR(aioc_gather(t, N, NULL), 0);
    aioc_sleep(0.05);
    CHECK_EQ(aioc_server_connections(srv), 0); /* handlers saw the ends */
    CHECK_ERR(aioc_server_close(srv, 1), 0);
    return NULL;
}

static int handled, cancelled;

static void slow_handler(aioc_stream *s, void *arg) {
    (void)s;
    int err = aioc_sleep(I(arg) ? 0.2 : 60);
    if (err == -ECANCELED)
        cancelled++;
    else
        handled++;
}

static void *connects_and_waits(void *arg) {
    (void)arg;
    int fd = aioc_tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0);
    char c;
    aioc_read(fd, &c, 1); /* until the server closes it */
    aioc_close(fd);
    return NULL;
}

static void *graceful(void *arg) {
    int quick = I(arg);
    handled = cancelled = 0;
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", slow_handler, P(quick), NULL, &err);
    CHECK(srv);
    snprintf(port, sizeof port, "%d", aioc_server_port(srv));
    aioc_task c[4];
    for (int i = 0; i < 4; i++)
        c[i] = aioc_spawn(connects_and_waits, NULL);
    while (aioc_server_connections(srv) < 4)
        aioc_sleep(0.01);
    CHECK_ERR(aioc_server_close(srv, 1), quick ? 0 : -ETIMEDOUT);
    CHECK_EQ(handled, quick ? 4 : 0);   /* quick handlers were waited for */
    CHECK_EQ(cancelled, quick ? 0 : 4); /* slow ones cancelled after 1 s */
    CHECK_ERR(aioc_gather(c, 4, NULL), 0);
    CHECK(aioc_tcp_connect("127.0.0.1", port) < 0); /* no longer listening */
    return NULL;
}

TEST(server_close_waits_then_cancels) {
    CHECK_ERR(aioc_run(graceful, P(1), NULL), 0);
    CHECK_ERR(aioc_run(graceful, P(0), NULL), 0);
}

/* With descriptors exhausted, accept backs off without spinning, existing
 * connections keep working, and new ones are taken once some are freed. */
static void *fd_exhaustion(void *arg) {
    (void)arg;
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", echo, NULL, NULL, &err);
    CHECK(srv);
    snprintf(port, sizeof port, "%d", aioc_server_port(srv));
    int first = aioc_tcp_connect("127.0.0.1", port);
    CHECK(first >= 0);
    aioc_stream *s = aioc_stream_new(first, NULL);
    /* use up every descriptor left */
    int hogs[256], nh = 0;
    while (nh < 256 && (hogs[nh] = dup(0)) >= 0)
        nh++;
    CHECK(nh < 256);
    /* free one: the client's socket takes it, so the server's accept of
     * that client fails with EMFILE and must back off */
    close(hogs[--nh]);
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    aioc_task lt = aioc_spawn(client, P(99));
    /* the existing connection is still served meanwhile */
    CHECK_ERR(aioc_stream_write(s, "still here\n", 11), 0);
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), 11);
    aioc_sleep(0.3);
    getrusage(RUSAGE_SELF, &r1);
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
                 (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
                 (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    CHECK(cpu < 0.2); /* backing off, not spinning */
    while (nh > 0)
        close(hogs[--nh]);
    CHECK_ERR(aioc_await(lt, NULL), 0); /* served once descriptors are free */
    CHECK_ERR(aioc_stream_close(s), 0);
    CHECK_ERR(aioc_server_close(srv, 1), 0);
    return NULL;
}

TEST(server_backs_off_when_descriptors_run_out) {
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {64, 64};
        setrlimit(RLIMIT_NOFILE, &rl);
        _exit(aioc_run(fd_exhaustion, NULL, NULL) == 0 ? 0 : 1);
    }
    int ws;
    CHECK(waitpid(pid, &ws, 0) == pid);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

TASK_TEST(server_refuses_a_port_in_use) {
    int err;
    aioc_server *a = aioc_tcp_serve("127.0.0.1", "0", echo, NULL, NULL, &err);
    CHECK(a);
    char p[16];
    snprintf(p, sizeof p, "%d", aioc_server_port(a));
    aioc_server *b = aioc_tcp_serve("127.0.0.1", p, echo, NULL, NULL, &err);
    CHECK(b == NULL);
    CHECK_ERR(err, -EADDRINUSE);
    CHECK_ERR(aioc_server_close(a, 0), 0);
    return NULL;
}

/* ------------------------------------------------------- Unix sockets -- */

static char sock_path[64];

static void *unix_client(void *arg) {
    int fd = aioc_unix_connect(sock_path);
    CHECK(fd >= 0);
    aioc_stream *s = aioc_stream_new(fd, NULL);
    char msg[64];
    int len = snprintf(msg, sizeof msg, "unix client %d\n", I(arg));
    CHECK_ERR(aioc_stream_write(s, msg, (size_t)len), 0);
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), len);
    CHECK(memcmp(line, msg, (size_t)len) == 0);
    CHECK_ERR(aioc_stream_close(s), 0);
    return NULL;
}

TASK_TEST(unix_server_and_connect) {
    snprintf(sock_path, sizeof sock_path, "/tmp/aioc-test-%d.sock", (int)getpid());
    int err;
    aioc_server *srv = aioc_unix_serve(sock_path, echo, NULL, NULL, &err);
    CHECK(srv);
    CHECK_EQ(aioc_server_port(srv), 0);
    CHECK(access(sock_path, F_OK) == 0);
    enum { N = 50 };
    aioc_task t[N];
    for (int i = 0; i < N; i++)
        t[i] = aioc_spawn(unix_client, P(i));
    CHECK_ERR(aioc_gather(t, N, NULL), 0);
    CHECK_ERR(aioc_server_close(srv, 1), 0);
    CHECK(access(sock_path, F_OK) < 0); /* the file went with the server */
    CHECK_ERR(aioc_unix_connect(sock_path), -ENOENT);
    /* the abstract namespace: no file at all */
    snprintf(sock_path, sizeof sock_path, "@aioc-test-%d", (int)getpid());
    CHECK(srv = aioc_unix_serve(sock_path, echo, NULL, NULL, &err));
    aioc_task one = aioc_spawn(unix_client, P(1));
    CHECK_ERR(aioc_await(one, NULL), 0);
    CHECK_ERR(aioc_server_close(srv, 1), 0);
    CHECK_ERR(aioc_unix_connect(sock_path), -ECONNREFUSED);
    return NULL;
}

TASK_TEST(unix_server_replaces_stale_file_not_live_one) {
    int err;
    snprintf(sock_path, sizeof sock_path, "/tmp/aioc-stale-%d.sock", (int)getpid());
    /* a socket file whose server died: bound, never listening */
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, sock_path);
    int dead = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(bind(dead, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK_ERR(aioc_unix_connect(sock_path), -ECONNREFUSED);
    aioc_server *srv = aioc_unix_serve(sock_path, echo, NULL, NULL, &err);
    CHECK(srv); /* replaced the stale file */
    close(dead);
    /* a live one is not taken over */
    CHECK(aioc_unix_serve(sock_path, echo, NULL, NULL, &err) == NULL);
    CHECK_ERR(err, -EADDRINUSE);
    aioc_task one = aioc_spawn(unix_client, P(2));
    CHECK_ERR(aioc_await(one, NULL), 0);
    CHECK_ERR(aioc_server_close(srv, 1), 0);
    /* bad addresses */
    CHECK(aioc_unix_serve("", echo, NULL, NULL, &err) == NULL);
    CHECK_ERR(err, -EINVAL);
    CHECK(aioc_unix_serve("/nonexistent-dir/x.sock", echo, NULL, NULL, &err) == NULL);
    CHECK_ERR(err, -ENOENT);
    char longpath[200];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    CHECK(aioc_unix_serve(longpath, echo, NULL, NULL, &err) == NULL);
    CHECK_ERR(err, -ENAMETOOLONG);
    CHECK_ERR(aioc_unix_connect(longpath), -ENAMETOOLONG);
    CHECK_ERR(aioc_unix_connect("@"), -EINVAL);
    return NULL;
}

/* A program that returns from main with its servers still open: aioc_run
 * closes them (sockets and memory: ASan and Valgrind check the rest). */
static int waiting_handlers, cancelled_handlers;

static void waits_forever(aioc_stream *s, void *arg) {
    (void)s, (void)arg;
    waiting_handlers++;
    aioc_event never = AIOC_EVENT_INIT;
    if (aioc_event_wait(&never) == -ECANCELED)
        cancelled_handlers++;
}

static void *leaves_servers_open(void *arg) {
    int *tcp_port = arg;
    int err;
    aioc_server *tcp = aioc_tcp_serve("127.0.0.1", "0", waits_forever, NULL, NULL, &err);
    CHECK(tcp);
    *tcp_port = aioc_server_port(tcp);
    snprintf(sock_path, sizeof sock_path, "/tmp/aioc-left-%d.sock", (int)getpid());
    CHECK(aioc_unix_serve(sock_path, waits_forever, NULL, NULL, &err));
    snprintf(port, sizeof port, "%d", *tcp_port);
    int a = aioc_tcp_connect("127.0.0.1", port), b = aioc_unix_connect(sock_path);
    CHECK(a >= 0 && b >= 0);
    while (waiting_handlers < 2)
        aioc_sleep(0.001);
    aioc_close(a);
    aioc_close(b);
    return NULL; /* both servers, and two handlers, still running */
}

TEST(servers_left_open_are_closed_when_run_ends) {
    int tcp_port = 0;
    CHECK_ERR(aioc_run(leaves_servers_open, &tcp_port, NULL), 0);
    CHECK_EQ(cancelled_handlers, 2); /* cancelled with every other task */
    CHECK(access(sock_path, F_OK) < 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)tcp_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&in, sizeof in) < 0 && errno == ECONNREFUSED);
    close(fd);
}

/* Stream options reach every connection's stream: here, the line limit. */
static long limited_result;

static void reads_one_line(aioc_stream *s, void *arg) {
    (void)arg;
    const char *line;
    limited_result = aioc_stream_readline(s, &line);
}

TASK_TEST(server_passes_stream_options) {
    int err;
    aioc_server_opts opts = {.stream = {.limit = 16}};
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", reads_one_line, NULL, &opts, &err);
    CHECK(srv);
    snprintf(port, sizeof port, "%d", aioc_server_port(srv));
    int fd = aioc_tcp_connect("127.0.0.1", port);
    CHECK(fd >= 0);
    CHECK_EQ(aioc_write(fd, "a line longer than sixteen bytes\n", 33), 33);
    char c;
    CHECK(aioc_read(fd, &c, 1) <= 0); /* the handler returned: closed */
    aioc_close(fd);
    CHECK_ERR(limited_result, AIOC_ELIMIT);
    CHECK_ERR(aioc_server_close(srv, 1), 0);
    return NULL;
}

/* A handler learns its peer's address and its own (asyncio's
 * get_extra_info('peername'/'sockname')): they are the client socket's
 * own and peer addresses, seen from the other side. */
static char seen_peer[AIOC_ADDRSTRLEN], seen_local[AIOC_ADDRSTRLEN];

static void tells_addresses(aioc_stream *s, void *arg) {
    (void)arg;
    CHECK(aioc_stream_peer_address(s, seen_peer, sizeof seen_peer) > 0);
    CHECK(aioc_stream_local_address(s, seen_local, sizeof seen_local) > 0);
    aioc_stream_write(s, "x", 1);
}

static void *addresses(void *arg) {
    const char *host = arg;
    int err;
    aioc_server *srv = aioc_tcp_serve(host, "0", tells_addresses, NULL, NULL, &err);
    CHECK(srv);
    char p[16];
    snprintf(p, sizeof p, "%d", aioc_server_port(srv));
    int fd = aioc_tcp_connect(host, p);
    CHECK(fd >= 0);
    char c;
    CHECK_EQ(aioc_read(fd, &c, 1), 1); /* the handler has looked */
    struct sockaddr_storage mine, theirs;
    socklen_t ml = sizeof mine, tl = sizeof theirs;
    CHECK(getsockname(fd, (struct sockaddr *)&mine, &ml) == 0);
    CHECK(getpeername(fd, (struct sockaddr *)&theirs, &tl) == 0);
    char want_peer[AIOC_ADDRSTRLEN], want_local[AIOC_ADDRSTRLEN];
    CHECK(aioc_address_format((struct sockaddr *)&mine, ml, want_peer, sizeof want_peer) > 0);
    CHECK(aioc_address_format((struct sockaddr *)&theirs, tl, want_local, sizeof want_local) > 0);
    CHECK(strcmp(seen_peer, want_peer) == 0);
    CHECK(strcmp(seen_local, want_local) == 0);
    char expect[32];
    snprintf(expect, sizeof expect, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, p);
    CHECK(strcmp(seen_local, expect) == 0); /* e.g. "127.0.0.1:PORT", "[::1]:PORT" */
    aioc_close(fd);
    aioc_server_close(srv, 1.0);
    return NULL;
}

TEST(stream_peer_and_local_addresses) {
    CHECK_ERR(aioc_run(addresses, "127.0.0.1", NULL), 0);
    CHECK_ERR(aioc_run(addresses, "::1", NULL), 0);
}

TASK_TEST(address_errors_and_formats) {
    char buf[AIOC_ADDRSTRLEN];
    int p[2];
    CHECK(pipe(p) == 0);
    aioc_stream *s = aioc_stream_new(p[0], NULL);
    CHECK_ERR(aioc_stream_peer_address(s, buf, sizeof buf), -ENOTSOCK);
    aioc_stream_close(s);
    aioc_close(p[1]);
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    s = aioc_stream_new(sp[0], NULL);
    CHECK_EQ(aioc_stream_peer_address(s, buf, sizeof buf), 5); /* unnamed */
    CHECK(strcmp(buf, "unix:") == 0);
    CHECK_EQ(aioc_stream_release_fd(s), sp[0]);
    CHECK_ERR(aioc_stream_peer_address(s, buf, sizeof buf), -EBADF);
    aioc_stream_close(s);
    aioc_close(sp[0]);
    aioc_close(sp[1]);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(8080), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_ERR(aioc_address_format((struct sockaddr *)&a, sizeof a, buf, 10), -ENOSPC);
    CHECK_EQ(aioc_address_format((struct sockaddr *)&a, sizeof a, buf, sizeof buf), 14);
    CHECK(strcmp(buf, "127.0.0.1:8080") == 0);
    struct sockaddr_un u = {.sun_family = AF_UNIX, .sun_path = "\0name"};
    CHECK_EQ(aioc_address_format((struct sockaddr *)&u,
                                 (unsigned)(offsetof(struct sockaddr_un, sun_path) + 5), buf,
                                 sizeof buf),
             10);
    CHECK(strcmp(buf, "unix:@name") == 0);
    struct sockaddr other = {.sa_family = AF_PACKET};
    CHECK_ERR(aioc_address_format(&other, sizeof other, buf, sizeof buf), -EAFNOSUPPORT);
    return NULL;
}
