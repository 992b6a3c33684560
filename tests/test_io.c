/* File-descriptor operations: waiting reads and writes, sockets on
 * loopback, errors as codes, closing with waiters, deadlines. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "scheduler.h"
#include "test.h"

static int sp[2];

static void *slow_writer(void *arg) {
    const char *msg = arg;
    aioc_sleep(0.5);
    CHECK_EQ(aioc_write(sp[1], msg, strlen(msg)), (long)strlen(msg));
    return NULL;
}

TASK_TEST(read_waits_for_data_and_sees_eof) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_task w = aioc_spawn(slow_writer, "hello");
    char buf[16] = {0};
    double t0 = aioc_now();
    CHECK_EQ(aioc_read(sp[0], buf, sizeof buf), 5); /* waited for the writer */
    CHECK(aioc_now() - t0 >= 0.5);
    CHECK(strcmp(buf, "hello") == 0);
    CHECK(fcntl(sp[0], F_GETFL) & O_NONBLOCK); /* switched on first use */
    CHECK_ERR(aioc_await(w, NULL), 0);
    CHECK_ERR(aioc_close(sp[1]), 0);
    CHECK_EQ(aioc_read(sp[0], buf, sizeof buf), 0); /* end of stream */
    CHECK_ERR(aioc_close(sp[0]), 0);
    return NULL;
}

enum { BIG = 4 << 20 };

static void *drain(void *arg) {
    size_t *total = arg;
    char buf[65536];
    long n;
    while ((n = aioc_read(sp[0], buf, sizeof buf)) > 0) {
        for (long i = 0; i < n; i++)
            CHECK_EQ((unsigned char)buf[i], (unsigned char)((*total + (size_t)i) * 7));
        *total += (size_t)n;
        if (*total % 3 == 0)
            aioc_sleep(0.001); /* a slow reader: the writer must wait for room */
    }
    CHECK_EQ(n, 0);
    return NULL;
}

static void *drain_plain(void *arg) {
    size_t *total = arg;
    char buf[4096];
    long n;
    while ((n = aioc_read(sp[0], buf, sizeof buf)) > 0) {
        *total += (size_t)n;
        aioc_yield();
    }
    CHECK_EQ(n, 0);
    return NULL;
}

TASK_TEST(write_waits_for_room) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    unsigned char *data = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (unsigned char)(i * 7);
    size_t total = 0;
    aioc_task r = aioc_spawn(drain, &total);
    CHECK_EQ(aioc_write(sp[1], data, BIG), BIG); /* far more than the socket holds */
    aioc_close(sp[1]);
    CHECK_ERR(aioc_await(r, NULL), 0);
    CHECK_EQ(total, BIG);
    aioc_close(sp[0]);
    free(data);
    return NULL;
}

static int listener(struct sockaddr_in *addr) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(l >= 0);
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(l, (struct sockaddr *)addr, sizeof *addr) == 0);
    socklen_t len = sizeof *addr;
    CHECK(getsockname(l, (struct sockaddr *)addr, &len) == 0);
    CHECK(listen(l, 64) == 0);
    return l;
}

static struct sockaddr_in server_addr;
static int server_fd;

static void *echo_once(void *arg) {
    (void)arg;
    int c = aioc_accept(server_fd, NULL, NULL);
    CHECK(c >= 0);
    CHECK(fcntl(c, F_GETFD) & FD_CLOEXEC);
    char buf[256];
    long n;
    while ((n = aioc_recv(c, buf, sizeof buf, 0)) > 0)
        CHECK_EQ(aioc_send(c, buf, (size_t)n, 0), n);
    aioc_close(c);
    return NULL;
}

TASK_TEST(tcp_connect_accept_echo) {
    server_fd = listener(&server_addr);
    aioc_task srv = aioc_spawn(echo_once, NULL);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_ERR(aioc_connect(c, (struct sockaddr *)&server_addr, sizeof server_addr), 0);
    struct iovec iov[2] = {{"ping ", 5}, {"pong", 4}};
    CHECK_EQ(aioc_writev(c, iov, 2), 9);
    char a[5], b[5] = {0};
    struct iovec in[2] = {{a, 5}, {b, 4}};
    CHECK(aioc_wait_readable(c) == 0);
    aioc_sleep(0.01); /* let the whole echo arrive: one readv then gets it */
    CHECK_EQ(aioc_readv(c, in, 2), 9);
    CHECK(memcmp(a, "ping ", 5) == 0 && strcmp(b, "pong") == 0);
    shutdown(c, SHUT_WR);
    CHECK_EQ(aioc_read(c, a, 1), 0);
    aioc_close(c);
    CHECK_ERR(aioc_await(srv, NULL), 0);
    aioc_close(server_fd);
    return NULL;
}

TASK_TEST(connect_refused_is_an_error_code) {
    int l = listener(&server_addr);
    aioc_close(l); /* nobody listens there now */
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_ERR(aioc_connect(c, (struct sockaddr *)&server_addr, sizeof server_addr), -ECONNREFUSED);
    aioc_close(c);
    return NULL;
}

TASK_TEST(peer_errors_are_codes_not_signals) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_close(sp[0]);
    CHECK_ERR(aioc_send(sp[1], "x", 1, 0), -EPIPE); /* no SIGPIPE */
    CHECK_ERR(aioc_write(sp[1], "x", 1), -EPIPE);
    aioc_close(sp[1]);
    /* a reset: the server closes with linger 0 */
    server_fd = listener(&server_addr);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_ERR(aioc_connect(c, (struct sockaddr *)&server_addr, sizeof server_addr), 0);
    int s = aioc_accept(server_fd, NULL, NULL);
    struct linger lg = {1, 0};
    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    aioc_close(s);
    char buf[8];
    CHECK_ERR(aioc_read(c, buf, sizeof buf), -ECONNRESET);
    aioc_close(c);
    aioc_close(server_fd);
    return NULL;
}

static void *blocked_reader(void *arg) {
    (void)arg;
    char c;
    return P(aioc_read(sp[0], &c, 1));
}

TASK_TEST(close_wakes_waiters_with_ebadf) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_task r = aioc_spawn(blocked_reader, NULL);
    aioc_sleep(0.05);
    CHECK(!aioc_task_done(r));
    CHECK_ERR(aioc_close(sp[0]), 0);
    void *res;
    CHECK_ERR(aioc_await(r, &res), 0);
    CHECK_ERR(I(res), -EBADF);
    /* a new descriptor with the same number starts afresh */
    int again[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, again) == 0);
    CHECK(again[0] == sp[0] || again[1] == sp[0]);
    sp[0] = again[0];
    sp[1] = again[1];
    aioc_task w = aioc_spawn(slow_writer, "z");
    char c;
    CHECK_EQ(aioc_read(sp[0], &c, 1), 1);
    CHECK_EQ(c, 'z');
    aioc_await(w, NULL);
    aioc_close(sp[0]);
    aioc_close(sp[1]);
    return NULL;
}

TASK_TEST(fd_waits_honour_deadlines_and_cancel) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    char c;
    aioc_scope s;
    aioc_scope_enter(&s, 0.05);
    CHECK_ERR(aioc_read(sp[0], &c, 1), -ETIMEDOUT);
    CHECK_ERR(aioc_wait_readable(sp[0]), -ETIMEDOUT);
    aioc_scope_exit(&s);
    aioc_task r = aioc_spawn(blocked_reader, NULL);
    aioc_sleep(0.05);
    aioc_cancel(r);
    CHECK_ERR(aioc_await(r, NULL), -ECANCELED);
    /* the descriptor still works after waiters gave up */
    CHECK_ERR(aioc_wait_writable(sp[1]), 0);
    CHECK_EQ(aioc_write(sp[1], "k", 1), 1);
    CHECK_ERR(aioc_wait_readable(sp[0]), 0); /* data is there: no wait */
    CHECK_EQ(aioc_read(sp[0], &c, 1), 1);
    aioc_close(sp[0]);
    aioc_close(sp[1]);
    CHECK_ERR(aioc_read(-1, &c, 1), -EBADF);
    return NULL;
}

/* Reads sp[0] until it has `n` bytes, after a pause. */
static void *slow_drainer(void *arg) {
    aioc_sleep(0.05);
    static char sink[1 << 16];
    for (long got = 0, want = I(arg); got < want;) {
        long r = aioc_read(sp[0], sink, sizeof sink);
        CHECK(r > 0);
        got += r;
    }
    return NULL;
}

/* A caller that saw EAGAIN itself (a library's non-blocking I/O) waits for
 * the next edge without aioc's readiness check first. */
TASK_TEST(waits_after_eagain_take_the_next_edge) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == 0);
    char c;
    CHECK(read(sp[0], &c, 1) < 0 && errno == EAGAIN);
    aioc_task w = aioc_spawn(slow_writer, "e");
    CHECK_ERR(aioc_wait_readable_after_eagain(sp[0]), 0);
    CHECK_EQ(read(sp[0], &c, 1), 1);
    CHECK_EQ(c, 'e');
    CHECK_ERR(aioc_await(w, NULL), 0);
    /* nothing more comes: the deadline ends the wait */
    CHECK(read(sp[0], &c, 1) < 0 && errno == EAGAIN);
    aioc_scope s;
    aioc_scope_enter(&s, 0.05);
    CHECK_ERR(aioc_wait_readable_after_eagain(sp[0]), -ETIMEDOUT);
    aioc_scope_exit(&s);
    /* after a streak of calls that completed at once (the I/O budget is
     * due): the edge of a byte that came after the EAGAIN is not lost to
     * the budget's poll */
    for (int i = 0; i < 64; i++) /* the wait above parked: the streak was 0 */
        CHECK_EQ(aioc_write(sp[1], "s", 1), 1);
    char drain[128];
    CHECK_EQ(read(sp[0], drain, sizeof drain), 64);
    CHECK(read(sp[0], &c, 1) < 0 && errno == EAGAIN);
    CHECK_EQ(write(sp[1], "f", 1), 1);
    aioc_scope_enter(&s, 5);
    CHECK_ERR(aioc_wait_readable_after_eagain(sp[0]), 0);
    aioc_scope_exit(&s);
    CHECK_EQ(read(sp[0], &c, 1), 1);
    /* writing until the socket is full, then waiting for room */
    static char block[4096];
    long sent = 0, r;
    while ((r = write(sp[1], block, sizeof block)) > 0)
        sent += r;
    CHECK(errno == EAGAIN && sent > 0);
    aioc_task d = aioc_spawn(slow_drainer, P(sent));
    CHECK_ERR(aioc_wait_writable_after_eagain(sp[1]), 0);
    CHECK(write(sp[1], block, 1) == 1);
    aioc_close(sp[1]); /* the drainer's last read then sees the byte */
    CHECK_ERR(aioc_await(d, NULL), 0);
    aioc_close(sp[0]);
    return NULL;
}

TASK_TEST(udp_sendto_recvfrom) {
    int a = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int b = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(b, (struct sockaddr *)&addr, sizeof addr) == 0);
    socklen_t len = sizeof addr;
    getsockname(b, (struct sockaddr *)&addr, &len);
    CHECK_EQ(aioc_sendto(a, "dgram", 5, 0, (struct sockaddr *)&addr, sizeof addr), 5);
    char buf[16];
    struct sockaddr_in from;
    unsigned flen = sizeof from;
    CHECK_EQ(aioc_recvfrom(b, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 5);
    CHECK(memcmp(buf, "dgram", 5) == 0);
    aioc_close(a);
    aioc_close(b);
    return NULL;
}

/* Many concurrent connections on one loop. */
enum { CONNS = 500 };

static void *serve_one(void *arg) {
    int c = I(arg);
    char buf[64];
    long n;
    while ((n = aioc_read(c, buf, sizeof buf)) > 0)
        aioc_write(c, buf, (size_t)n);
    aioc_close(c);
    return NULL;
}

static void *accept_loop(void *arg) {
    (void)arg;
    for (int i = 0; i < CONNS; i++) {
        int c = aioc_accept(server_fd, NULL, NULL);
        CHECK(c >= 0);
        aioc_detach(aioc_spawn(serve_one, P(c)));
    }
    return NULL;
}

static void *client(void *arg) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_ERR(aioc_connect(c, (struct sockaddr *)&server_addr, sizeof server_addr), 0);
    char msg[32], back[32];
    int len = snprintf(msg, sizeof msg, "client %d", I(arg));
    for (int round = 0; round < 5; round++) {
        CHECK_EQ(aioc_write(c, msg, (size_t)len), len);
        long got = 0;
        while (got < len) {
            long n = aioc_read(c, back + got, (size_t)(len - got));
            CHECK(n > 0);
            got += n;
        }
        CHECK(memcmp(msg, back, (size_t)len) == 0);
    }
    aioc_close(c);
    return NULL;
}

TASK_TEST(five_hundred_connections_on_one_loop) {
    server_fd = listener(&server_addr);
    aioc_task acc = aioc_spawn(accept_loop, NULL);
    aioc_task *cl = calloc(CONNS, sizeof *cl);
    for (int i = 0; i < CONNS; i++)
        cl[i] = aioc_spawn(client, P(i));
    CHECK_ERR(aioc_gather(cl, CONNS, NULL), 0);
    CHECK_ERR(aioc_await(acc, NULL), 0);
    free(cl);
    aioc_close(server_fd);
    return NULL;
}

static void *quick_writer(void *arg) {
    aioc_yield(); /* the reader parks first */
    CHECK_EQ(aioc_write(sp[1], arg, 1), 1);
    return NULL;
}

/* A descriptor is registered once, however often tasks wait on it. */
TASK_TEST(descriptor_registered_once_for_many_waits) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    uint64_t before = aioc__loop_get()->fd_registrations;
    for (int i = 0; i < 50; i++) {
        aioc_task w = aioc_spawn(quick_writer, "x");
        char c;
        CHECK_EQ(aioc_read(sp[0], &c, 1), 1);
        aioc_await(w, NULL);
    }
    CHECK_EQ(aioc__loop_get()->fd_registrations - before, 1); /* not 50 */
    aioc_close(sp[0]);
    aioc_close(sp[1]);
    return NULL;
}

TASK_TEST(sendfile_waits_for_room) {
    char path[] = "/tmp/aioc-sendfile-XXXXXX";
    int f = mkstemp(path);
    CHECK(f >= 0);
    unlink(path);
    static char data[300000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i % 251);
    CHECK(write(f, data, sizeof data) == (ssize_t)sizeof data);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    size_t total = 0;
    aioc_task r = aioc_spawn(drain_plain, &total);
    long off = 1000;
    CHECK_EQ(aioc_sendfile(sp[1], f, &off, sizeof data), (long)sizeof data - 1000);
    CHECK_EQ(off, (long)sizeof data);
    aioc_close(sp[1]);
    CHECK_ERR(aioc_await(r, NULL), 0);
    CHECK_EQ(total, sizeof data - 1000);
    close(f);
    aioc_close(sp[0]);
    return NULL;
}

/* A reader whose socket has plenty of data must not keep the loop to
 * itself while it reads it: a task that yields in a loop, and a task
 * waiting for a byte on another socket (which needs the loop to poll),
 * both get their turn before the reader is through. */
static int yields;
static bool got_byte;

static void *keeps_yielding(void *arg) {
    (void)arg;
    for (yields = 0; yields < 10; yields++)
        CHECK_ERR(aioc_yield(), 0);
    return NULL;
}

static void *waits_for_a_byte(void *arg) {
    int fd = I(arg);
    char c;
    CHECK_EQ(aioc_read(fd, &c, 1), 1);
    got_byte = true;
    return NULL;
}

TASK_TEST(busy_reader_does_not_starve_the_loop) {
    int a[2], b[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b) == 0);
    static char data[128 * 1024];
    long loaded = write(a[1], data, sizeof data); /* what the socket holds */
    CHECK(loaded >= 64 * 1024);
    aioc_task y = aioc_spawn(keeps_yielding, NULL), w = aioc_spawn(waits_for_a_byte, P(b[0]));
    CHECK_ERR(aioc_yield(), 0); /* both start; the second waits */
    CHECK_EQ(write(b[1], "!", 1), 1);
    char buf[64]; /* 1,000 reads or more, every one served at once */
    for (long total = 0; total < loaded;) {
        long n = aioc_read(a[0], buf, sizeof buf);
        CHECK(n > 0);
        total += n;
    }
    CHECK_EQ(yields, 10); /* they ran meanwhile */
    CHECK(got_byte);
    CHECK_ERR(aioc_await(y, NULL), 0);
    CHECK_ERR(aioc_await(w, NULL), 0);
    aioc_close(a[0]), aioc_close(a[1]), aioc_close(b[0]), aioc_close(b[1]);
    return NULL;
}

/* O_NONBLOCK lives in the open file description, which a descriptor may
 * share (stdin with the shell): aioc clears it again where it set it, when
 * aioc_close closes the descriptor (a dup shows the shared description)
 * and, for descriptors still open, when aioc_run ends. Descriptors that
 * were non-blocking already, and regular files, are left as they were. */
static int nonblocking(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

static int pipes[2], shared, already[2], file_fd;

static void *uses_descriptors(void *arg) {
    (void)arg;
    char c;
    CHECK_EQ(aioc_write(pipes[1], "ab", 2), 2);
    CHECK_EQ(aioc_read(pipes[0], &c, 1), 1);
    CHECK(nonblocking(pipes[0]) && nonblocking(pipes[1]) && nonblocking(shared));
    aioc_stream *s = aioc_stream_new(pipes[0], NULL);
    CHECK_EQ(aioc_stream_read(s, &c, 1), 1);
    CHECK_ERR(aioc_stream_close(s), 0); /* closes pipes[0] through aioc_close */
    CHECK(!nonblocking(shared));        /* the description is blocking again */
    CHECK_EQ(aioc_write(already[1], "x", 1), 1);
    CHECK_EQ(aioc_read(file_fd, &c, 1), 1);
    CHECK(!nonblocking(file_fd));
    return NULL; /* pipes[1] and already[] stay open */
}

TEST(nonblocking_mode_is_given_back) {
    CHECK(pipe(pipes) == 0 && pipe2(already, O_NONBLOCK) == 0);
    shared = dup(pipes[0]);
    char path[] = "/tmp/aioc-test-XXXXXX";
    CHECK((file_fd = mkstemp(path)) >= 0);
    unlink(path);
    CHECK(write(file_fd, "f", 1) == 1 && lseek(file_fd, 0, SEEK_SET) == 0);
    CHECK(!nonblocking(pipes[0]) && !nonblocking(pipes[1]) && !nonblocking(shared));
    CHECK_ERR(aioc_run(uses_descriptors, NULL, NULL), 0);
    CHECK(!nonblocking(pipes[1]));                             /* given back at the end */
    CHECK(nonblocking(already[0]) && nonblocking(already[1])); /* as they were */
    CHECK(!nonblocking(shared) && !nonblocking(file_fd));
    close(pipes[1]);
    close(shared);
    close(already[0]);
    close(already[1]);
    close(file_fd);
}
