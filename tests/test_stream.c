/* Buffered streams: lines, separators, limits, exact reads, the end of
 * the stream, write backpressure, drain, half-close. */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scheduler.h"
#include "test.h"

static int sp[2];

static void *feeder(void *arg) {
    const char *text = arg;
    /* in small pieces, so lines straddle reads */
    for (size_t i = 0; text[i];) {
        size_t n = strlen(text + i) < 3 ? strlen(text + i) : 3;
        CHECK_EQ(aioc_write(sp[1], text + i, n), (long)n);
        i += n;
        aioc_sleep(0.001);
    }
    aioc_close(sp[1]);
    return NULL;
}

TASK_TEST(stream_readline_and_readuntil) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_stream *s = aioc_stream_new(sp[0], NULL);
    CHECK(s);
    aioc_task f = aioc_spawn(feeder, "first\nsecond line\r\nEND:abc::tail");
    const char *line;
    long n = aioc_stream_readline(s, &line);
    CHECK_EQ(n, 6);
    CHECK(memcmp(line, "first\n", 6) == 0);
    n = aioc_stream_readline(s, &line);
    CHECK_EQ(n, 13);
    CHECK(memcmp(line, "second line\r\n", 13) == 0);
    n = aioc_stream_readuntil(s, "::", 2, &line);
    CHECK_EQ(n, 9);
    CHECK(memcmp(line, "END:abc::", 9) == 0);
    n = aioc_stream_readuntil(s, "::", 2, &line);
    CHECK_ERR(n, AIOC_EINCOMPLETE); /* ended without a separator */
    char rest[8] = {0};
    CHECK_EQ(aioc_stream_read(s, rest, sizeof rest), 4); /* still there */
    CHECK(strcmp(rest, "tail") == 0);
    CHECK_EQ(aioc_stream_readline(s, &line), 0);                          /* nothing left */
    CHECK_ERR(aioc_stream_readuntil(s, "x", 1, &line), AIOC_EINCOMPLETE); /* asyncio's too */
    CHECK_EQ(aioc_stream_read(s, rest, sizeof rest), 0);
    CHECK_ERR(aioc_await(f, NULL), 0);
    CHECK_ERR(aioc_stream_close(s), 0);
    return NULL;
}

TASK_TEST(stream_readline_returns_a_last_partial_line) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_stream *s = aioc_stream_new(sp[0], NULL);
    aioc_task f = aioc_spawn(feeder, "a\nno newline");
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), 2);
    long n = aioc_stream_readline(s, &line); /* the peer vanished mid-line */
    CHECK_EQ(n, 10);
    CHECK(memcmp(line, "no newline", 10) == 0);
    CHECK_EQ(aioc_stream_readline(s, &line), 0);
    aioc_await(f, NULL);
    aioc_stream_close(s);
    return NULL;
}

TASK_TEST(stream_line_limit_keeps_the_bytes) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_stream_opts o = {.limit = 16};
    aioc_stream *s = aioc_stream_new(sp[0], &o);
    CHECK_EQ(aioc_write(sp[1], "short\nthis line is far too long\nok\n", 36), 36);
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), 6);
    CHECK_ERR(aioc_stream_readline(s, &line), AIOC_ELIMIT);
    char buf[64];
    long n = aioc_stream_read(s, buf, 26); /* the bytes were kept */
    CHECK_EQ(n, 26);
    CHECK(memcmp(buf, "this line is far too long\n", 26) == 0);
    CHECK_EQ(aioc_stream_readline(s, &line), 3); /* and the stream goes on */
    CHECK(memcmp(line, "ok\n", 3) == 0);
    aioc_close(sp[1]);
    aioc_stream_close(s);
    return NULL;
}

TASK_TEST(stream_readexactly_reports_partial_count) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_stream *s = aioc_stream_new(sp[0], NULL);
    aioc_task f = aioc_spawn(feeder, "0123456789abc");
    char buf[16];
    size_t got = 99;
    CHECK_EQ(aioc_stream_readexactly(s, buf, 10, &got), 10);
    CHECK_EQ(got, 10);
    CHECK(memcmp(buf, "0123456789", 10) == 0);
    CHECK_ERR(aioc_stream_readexactly(s, buf, 10, &got), AIOC_EINCOMPLETE);
    CHECK_EQ(got, 3); /* the partial count, the bytes in buf */
    CHECK(memcmp(buf, "abc", 3) == 0);
    aioc_await(f, NULL);
    aioc_stream_close(s);
    return NULL;
}

/* A readexactly cut short by a deadline or a cancel consumes nothing, as
 * in asyncio: the bytes that came stay buffered and a retry reads them. */
typedef struct exact_call {
    aioc_stream *s;
    char *buf;
    size_t n, got;
    long status;
} exact_call;

static void *read_exactly(void *arg) {
    exact_call *c = arg;
    c->status = aioc_stream_readexactly(c->s, c->buf, c->n, &c->got);
    return NULL;
}

TASK_TEST(stream_readexactly_cut_short_keeps_the_bytes) {
    enum { N = 100000 }; /* larger than a buffer's first size */
    static char out[N], in[N];
    for (size_t i = 0; i < N; i++)
        out[i] = (char)(i * 7 + i / 251);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_stream *s = aioc_stream_new(sp[0], NULL);
    CHECK_EQ(aioc_write(sp[1], out, N / 2), N / 2); /* half, then the peer stalls */
    aioc_scope sc;
    aioc_scope_enter(&sc, 0.05);
    CHECK_ERR(aioc_stream_readexactly(s, in, N, NULL), -ETIMEDOUT);
    aioc_scope_exit(&sc);
    exact_call c = {s, in, N, 99, 0};
    aioc_task t = aioc_spawn(read_exactly, &c);
    CHECK_ERR(aioc_sleep(0.01), 0);
    aioc_cancel(t);
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
    CHECK_ERR(c.status, -ECANCELED);
    CHECK_EQ(c.got, 0);                                             /* nothing consumed */
    CHECK_EQ(aioc_write(sp[1], out + N / 2, N - N / 2), N - N / 2); /* the rest */
    size_t got = 0;
    CHECK_EQ(aioc_stream_readexactly(s, in, N, &got), N);
    CHECK_EQ(got, N);
    CHECK(memcmp(in, out, N) == 0); /* nothing was lost */
    CHECK_EQ(aioc_write(sp[1], "xyz", 3), 3);
    aioc_close(sp[1]);
    CHECK_ERR(aioc_stream_readexactly(s, in, 10, &got), AIOC_EINCOMPLETE);
    CHECK_EQ(got, 3); /* the end of the stream hands out what came */
    CHECK(memcmp(in, "xyz", 3) == 0);
    CHECK_EQ(aioc_stream_read(s, in, 10), 0);
    aioc_stream_close(s);
    return NULL;
}

static size_t drained;

static void *slow_drain(void *arg) {
    (void)arg;
    char buf[1024];
    long n;
    while ((n = aioc_read(sp[0], buf, sizeof buf)) > 0) {
        drained += (size_t)n;
        aioc_sleep(0.0005);
    }
    return NULL;
}

TASK_TEST(stream_write_waits_at_high_water) {
    drained = 0;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    int small = 4096;
    setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    aioc_stream_opts o = {.high_water = 8192, .low_water = 2048};
    aioc_stream *w = aioc_stream_new(sp[1], &o);
    aioc_task r = aioc_spawn(slow_drain, NULL);
    char chunk[512];
    memset(chunk, 'x', sizeof chunk);
    size_t most = 0;
    for (int i = 0; i < 2000; i++) { /* 1 MB through an 8 KiB window */
        CHECK_ERR(aioc_stream_write(w, chunk, sizeof chunk), 0);
        if (aioc_stream_write_buffered(w) > most)
            most = aioc_stream_write_buffered(w);
    }
    CHECK(most <= 8192 + sizeof chunk); /* writes waited instead of piling up */
    CHECK_ERR(aioc_stream_drain(w), 0);
    CHECK_EQ(aioc_stream_write_buffered(w), 0);
    CHECK_ERR(aioc_stream_write_eof(w), 0);
    CHECK_ERR(aioc_await(r, NULL), 0);
    CHECK_EQ(drained, 2000 * sizeof chunk);
    aioc_stream_close(w);
    aioc_close(sp[0]);
    return NULL;
}

static aioc_stream *shared_w;

static void *drainer(void *arg) {
    (void)arg;
    return P(aioc_stream_drain(shared_w));
}

TASK_TEST(stream_many_tasks_wait_on_drain) {
    drained = 0;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    shared_w = aioc_stream_new(sp[1], NULL);
    static char big[200000];
    CHECK_ERR(aioc_stream_write(shared_w, big, sizeof big), 0);
    aioc_task d[5];
    for (int i = 0; i < 5; i++)
        d[i] = aioc_spawn(drainer, NULL);
    aioc_task r = aioc_spawn(slow_drain, NULL);
    void *res[5];
    CHECK_ERR(aioc_gather(d, 5, res), 0);
    for (int i = 0; i < 5; i++)
        CHECK_ERR(I(res[i]), 0);
    CHECK_EQ(aioc_stream_write_buffered(shared_w), 0);
    CHECK_ERR(aioc_stream_close(shared_w), 0);
    CHECK_ERR(aioc_await(r, NULL), 0);
    CHECK_EQ(drained, sizeof big);
    aioc_close(sp[0]);
    return NULL;
}

TASK_TEST(stream_write_error_is_sticky) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_stream *w = aioc_stream_new(sp[1], NULL);
    aioc_close(sp[0]);
    CHECK_ERR(aioc_stream_write(w, "hi", 2), 0);         /* buffered for the turn's end */
    CHECK_ERR(aioc_stream_drain(w), -EPIPE);             /* the send fails */
    CHECK_ERR(aioc_stream_write(w, "again", 5), -EPIPE); /* sticky */
    aioc_stream_abort(w);
    return NULL;
}

TASK_TEST(stream_read_deadline_loses_nothing) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_stream *s = aioc_stream_new(sp[0], NULL);
    CHECK_EQ(aioc_write(sp[1], "par", 3), 3);
    aioc_scope sc;
    aioc_scope_enter(&sc, 0.05);
    const char *line;
    CHECK_ERR(aioc_stream_readline(s, &line), -ETIMEDOUT); /* a peer that stalls mid-line */
    aioc_scope_exit(&sc);
    CHECK_EQ(aioc_write(sp[1], "tial\n", 5), 5);
    CHECK_EQ(aioc_stream_readline(s, &line), 8); /* nothing was lost */
    CHECK(memcmp(line, "partial\n", 8) == 0);
    aioc_close(sp[1]);
    aioc_stream_close(s);
    return NULL;
}

/* What a write leaves buffered goes out while the writer waits on
 * something else, as with asyncio's transports. */
enum { BIG = 48 * 1024 }; /* more than the socket takes, less than high water */
static aioc_event all_read;

static void *reads_everything(void *arg) {
    size_t want = (size_t)(intptr_t)arg, got = 0;
    char buf[4096];
    long n;
    while (got < want && (n = aioc_read(sp[0], buf, sizeof buf)) > 0)
        got += (size_t)n;
    CHECK_EQ(got, want);
    aioc_event_set(&all_read);
    return NULL;
}

TASK_TEST(stream_flushes_in_the_background) {
    aioc_event_init(&all_read);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    int small = 4096;
    setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    aioc_stream *w = aioc_stream_new(sp[1], NULL);
    static char big[BIG];
    memset(big, 'y', sizeof big);
    CHECK_ERR(aioc_stream_write(w, big, sizeof big), 0);
    CHECK(aioc_stream_write_buffered(w) > 0); /* the socket did not take it all */
    aioc_task r = aioc_spawn(reads_everything, P(BIG));
    /* no write, drain, read or close on the stream from here on */
    aioc_scope bound;
    CHECK_ERR(aioc_scope_enter(&bound, 10), 0);
    CHECK_ERR(aioc_event_wait(&all_read), 0);
    CHECK_ERR(aioc_scope_exit(&bound), 0);
    CHECK_EQ(aioc_stream_write_buffered(w), 0);
    CHECK_ERR(aioc_await(r, NULL), 0);
    CHECK_ERR(aioc_stream_close(w), 0);
    aioc_close(sp[0]);
    return NULL;
}

/* A stream closed or aborted while its flusher waits for a peer that does
 * not read: nothing leaks or crashes (ASan and Valgrind check), and the
 * peer sees the end. */
static void *stuck_flusher(void *arg) {
    int how = I(arg);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    int small = 4096;
    setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    aioc_stream *w = aioc_stream_new(sp[1], NULL);
    static char big[BIG];
    CHECK_ERR(aioc_stream_write(w, big, sizeof big), 0);
    CHECK(aioc_stream_write_buffered(w) > 0);
    CHECK_ERR(aioc_sleep(0.01), 0); /* the flusher is now inside a write */
    if (how == 0) {
        aioc_stream_abort(w);
    } else { /* close waits for the peer; a deadline gives up */
        aioc_scope bound;
        CHECK_ERR(aioc_scope_enter(&bound, 0.05), 0);
        CHECK_ERR(aioc_stream_close(w), -ETIMEDOUT);
        aioc_scope_exit(&bound);
    }
    /* the peer reads what was sent, then the end */
    char buf[4096];
    long n, total = 0;
    while ((n = aioc_read(sp[0], buf, sizeof buf)) > 0)
        total += n;
    CHECK_EQ(n, 0);
    CHECK(total < BIG);
    aioc_close(sp[0]);
    return NULL;
}

TEST(stream_closed_while_flushing) {
    CHECK_ERR(aioc_run(stuck_flusher, P(0), NULL), 0);
    CHECK_ERR(aioc_run(stuck_flusher, P(1), NULL), 0);
}

/* A writer waiting at the high-water mark holds the write lock while the
 * flusher waits for it; the writer is cancelled, handing the lock to the
 * flusher, and the stream is aborted before the flusher runs. The flusher
 * must then leave the transport alone: its descriptor number, closed by
 * the abort, is reused at once by a new socket, which must get nothing. */
static void *writes_past_high_water(void *arg) {
    aioc_stream *w = arg;
    static char chunk[16 * 1024];
    while (aioc_stream_write(w, chunk, sizeof chunk) == 0) {
    }
    return NULL;
}

TASK_TEST(stream_abort_after_a_cancelled_writer) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    int small = 4096;
    setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    aioc_stream_opts o = {.high_water = 8192};
    aioc_stream *w = aioc_stream_new(sp[1], &o);
    aioc_task writer = aioc_spawn(writes_past_high_water, w);
    CHECK_ERR(aioc_sleep(0.005), 0); /* the writer now waits for room */
    aioc_cancel(writer);
    aioc_yield(); /* the writer gives up, and the lock passes to the flusher */
    aioc_stream_abort(w);
    int q[2]; /* takes the number the abort freed */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, q) == 0);
    CHECK_EQ(q[0], sp[1]);
    CHECK_ERR(aioc_await(writer, NULL), -ECANCELED);
    for (int i = 0; i < 10; i++)
        aioc_yield(); /* the flusher runs, and ends */
    char c;
    CHECK(read(q[1], &c, 1) < 0 && errno == EAGAIN); /* nothing came through */
    close(q[0]);
    close(q[1]);
    aioc_close(sp[0]);
    return NULL;
}

/* Idle streams hold no read buffer: ten connections, each has read a line
 * and waits for the next; between them they hold none, and one spare
 * buffer has served them all in turn. The next lines still arrive. */
static int idle_pairs[10][2];

static void *reads_two_lines(void *arg) {
    int i = I(arg);
    aioc_stream *s = aioc_stream_new(idle_pairs[i][0], NULL);
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), 6);
    CHECK_EQ(aioc_stream_readline(s, &line), 6); /* waits here, idle */
    CHECK(memcmp(line, "again\n", 6) == 0);
    aioc_stream_close(s);
    return NULL;
}

TASK_TEST(idle_streams_hold_no_buffer) {
    aioc_task t[10];
    for (int i = 0; i < 10; i++) {
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, idle_pairs[i]) == 0);
        CHECK_EQ(write(idle_pairs[i][1], "hello\n", 6), 6);
        t[i] = aioc_spawn(reads_two_lines, P(i));
    }
    for (int i = 0; i < 3; i++) /* each reader runs until it waits: one turn */
        CHECK_ERR(aioc_yield(), 0);
    CHECK_EQ(aioc__loop_get()->spare_buffers.n, 1);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(write(idle_pairs[i][1], "again\n", 6), 6);
    CHECK_ERR(aioc_gather(t, 10, NULL), 0);
    for (int i = 0; i < 10; i++)
        close(idle_pairs[i][1]);
    return NULL;
}

static void *writes_and_closes(void *arg) {
    CHECK_EQ(aioc_write(sp[1], arg, 100000), 100000);
    aioc_close(sp[1]);
    return NULL;
}

/* Large reads with nothing buffered go straight into the caller's buffer;
 * what is buffered still comes first, and the end is seen by every kind
 * of read afterwards. */
TASK_TEST(stream_large_reads_skip_the_buffer) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    static char data[100000], got[100000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 13);
    memcpy(data, "line\n", 5);
    aioc_stream *s = aioc_stream_new(sp[0], NULL);
    aioc_task f = aioc_spawn(writes_and_closes, data);
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), 5);
    size_t total = 5;
    long n;
    while ((n = aioc_stream_read(s, got + total, sizeof got - total)) > 0)
        total += (size_t)n;
    CHECK_EQ(n, 0);
    CHECK_EQ(total, sizeof data);
    CHECK(memcmp(got + 5, data + 5, sizeof data - 5) == 0);
    char small[8];
    CHECK_EQ(aioc_stream_read(s, small, sizeof small), 0);
    CHECK_EQ(aioc_stream_readline(s, &line), 0);
    CHECK_ERR(aioc_await(f, NULL), 0);
    aioc_stream_close(s);
    return NULL;
}

/* Releasing a stream's descriptor (for STARTTLS): refused while bytes are
 * buffered; afterwards the descriptor is the caller's, and the stream an
 * empty shell that closes nothing. */
TASK_TEST(stream_release_fd) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    aioc_stream *s = aioc_stream_new(sp[0], NULL);
    CHECK_EQ(write(sp[1], "one\ntwo", 7), 7);
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), 4);
    CHECK_ERR(aioc_stream_release_fd(s), -EBUSY); /* "two" is buffered */
    char rest[3];
    CHECK_EQ(aioc_stream_read(s, rest, 3), 3);
    CHECK_EQ(aioc_stream_release_fd(s), sp[0]);
    CHECK_ERR(aioc_stream_release_fd(s), -EINVAL);
    CHECK_ERR(aioc_stream_read(s, rest, 3), -EBADF);
    CHECK_ERR(aioc_stream_write(s, "x", 1), -EBADF);
    CHECK_ERR(aioc_stream_close(s), 0);      /* closes nothing */
    CHECK_EQ(aioc_write(sp[0], "ok", 2), 2); /* still open, the caller's */
    CHECK_EQ(aioc_read(sp[1], rest, 2), 2);
    aioc_close(sp[0]);
    aioc_close(sp[1]);
    return NULL;
}

/* A drain cancelled after its send went out in part: the stream counts
 * what was sent, so the rest (sent by the close) follows it without a byte
 * twice or missing. The writer drains a megabyte the socket cannot hold;
 * the peer empties the socket once, waits until the writer has sent into
 * the room that made, and cancels it while it waits for more room. */
enum { MEGABYTE = 1 << 20 };
static unsigned char pattern[MEGABYTE], received[MEGABYTE + 4096];
static size_t received_n;

static void *writes_and_drains(void *arg) {
    aioc_stream *w = arg;
    CHECK_ERR(aioc_stream_write(w, pattern, MEGABYTE), 0);
    return P(aioc_stream_drain(w)); /* first to the write lock: the flusher waits */
}

static void *reads_to_the_end(void *arg) {
    (void)arg;
    long n;
    while ((n = aioc_read(sp[0], received + received_n, sizeof received - received_n)) > 0)
        received_n += (size_t)n;
    CHECK_EQ(n, 0);
    return NULL;
}

static int queued_at_peer(void) {
    int n = 0;
    CHECK(ioctl(sp[0], FIONREAD, &n) == 0);
    return n;
}

TASK_TEST(stream_cancelled_drain_sends_no_byte_twice) {
    for (size_t i = 0; i < MEGABYTE; i++)
        pattern[i] = (unsigned char)(i * 7 + i / 251);
    received_n = 0;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == 0);
    aioc_stream *w = aioc_stream_new(sp[1], NULL);
    aioc_task writer = aioc_spawn(writes_and_drains, w);
    while (queued_at_peer() == 0) /* the writer filled the socket, and waits */
        CHECK_ERR(aioc_yield(), 0);
    for (int i = 0; i < 3; i++)
        CHECK_ERR(aioc_yield(), 0);
    long n;
    while ((n = recv(sp[0], received + received_n, 65536, MSG_DONTWAIT)) > 0)
        received_n += (size_t)n; /* room: the writer sends some, then waits again */
    while (queued_at_peer() == 0)
        CHECK_ERR(aioc_yield(), 0);
    CHECK(received_n < MEGABYTE);
    aioc_cancel(writer);
    CHECK_ERR(aioc_await(writer, NULL), -ECANCELED);
    aioc_task reader = aioc_spawn(reads_to_the_end, NULL);
    CHECK_ERR(aioc_stream_close(w), 0); /* sends the rest */
    CHECK_ERR(aioc_await(reader, NULL), 0);
    CHECK_EQ(received_n, MEGABYTE);
    CHECK(memcmp(received, pattern, MEGABYTE) == 0);
    aioc_close(sp[0]);
    return NULL;
}

/* A transport that knows when its input is drained, as the descriptor one
 * does: while it says so, the stream gives its read buffer back and waits
 * through wait_readable before it reads. */
static int drained_fd, waits;
static unsigned spares_before;
static bool input_drained;

static long drained_read(void *ctx, void *buf, size_t n) {
    (void)ctx;
    CHECK(!input_drained); /* the stream waited first */
    long r = aioc_read(drained_fd, buf, n);
    input_drained = r > 0;
    return r;
}
static long drained_write(void *ctx, const void *buf, size_t n) {
    (void)ctx;
    return aioc_write_some(drained_fd, buf, n);
}
static int drained_write_eof(void *ctx) {
    (void)ctx;
    return shutdown(drained_fd, SHUT_WR) == 0 ? 0 : -errno;
}
static int drained_close(void *ctx) {
    (void)ctx;
    return aioc_close(drained_fd);
}
static int drained_drained(void *ctx) {
    (void)ctx;
    return input_drained;
}
static int drained_wait(void *ctx) {
    (void)ctx;
    waits++;
    CHECK_EQ(aioc__loop_get()->spare_buffers.n, spares_before + 1); /* the buffer went back */
    int err = aioc_wait_readable(drained_fd);
    input_drained = false;
    return err;
}
static const aioc_transport drained_ops = {
    .read = drained_read,
    .write = drained_write,
    .write_eof = drained_write_eof,
    .close = drained_close,
    .drained = drained_drained,
    .wait_readable = drained_wait,
};

TASK_TEST(stream_transport_drained_call) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    drained_fd = sp[0];
    waits = 0;
    input_drained = false;
    spares_before = aioc__loop_get()->spare_buffers.n;
    aioc_transport half = drained_ops; /* drained without wait_readable */
    half.wait_readable = NULL;
    errno = 0;
    CHECK(!aioc_stream_new_transport(&half, NULL, NULL) && errno == EINVAL);
    half = drained_ops;
    half.read = NULL;
    CHECK(!aioc_stream_new_transport(&half, NULL, NULL) && errno == EINVAL);
    aioc_stream *s = aioc_stream_new_transport(&drained_ops, NULL, NULL);
    CHECK(s);
    const char *line;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(write(sp[1], "line\n", 5), 5);
        CHECK_EQ(aioc_stream_readline(s, &line), 5);
    }
    close(sp[1]);
    CHECK_EQ(aioc_stream_readline(s, &line), 0);
    CHECK_EQ(waits, 3); /* before the second, third and last reads */
    CHECK_ERR(aioc_stream_close(s), 0);
    return NULL;
}

/* ------------------------------------------------- writes of one turn -- */

/* A transport over a socket that counts the calls that send. */
static int counted_fd;
static int sends; /* write and try_write calls */

static long counted_read(void *ctx, void *buf, size_t n) {
    (void)ctx;
    return aioc_read(counted_fd, buf, n);
}
static long counted_write(void *ctx, const void *buf, size_t n) {
    (void)ctx;
    sends++;
    return aioc_write_some(counted_fd, buf, n);
}
static long counted_try_write(void *ctx, const void *buf, size_t n) {
    (void)ctx;
    sends++;
    ssize_t r = write(counted_fd, buf, n);
    return r >= 0 ? r : errno == EAGAIN ? -EAGAIN : -errno;
}
static int counted_write_eof(void *ctx) {
    (void)ctx;
    return shutdown(counted_fd, SHUT_WR) == 0 ? 0 : -errno;
}
static int counted_close(void *ctx) {
    (void)ctx;
    return aioc_close(counted_fd);
}
static const aioc_transport counted_ops = {
    .read = counted_read,
    .write = counted_write,
    .try_write = counted_try_write,
    .write_eof = counted_write_eof,
    .close = counted_close,
};

static aioc_stream *counted_stream(void) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == 0);
    counted_fd = sp[0];
    sends = 0;
    aioc_stream *s = aioc_stream_new_transport(&counted_ops, NULL, NULL);
    CHECK(s);
    return s;
}

/* Reads exactly `n` bytes from the peer's end into buf. */
static void peer_reads(char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        long r = aioc_read(sp[1], buf + got, n - got);
        CHECK(r > 0);
        got += (size_t)r;
    }
}

TASK_TEST(stream_writes_of_a_turn_leave_in_one_call) {
    aioc_stream *s = counted_stream();
    for (int i = 0; i < 100; i++)
        CHECK_ERR(aioc_stream_write(s, "0123456789", 10), 0);
    CHECK_EQ(sends, 0); /* nothing leaves before the turn ends */
    CHECK_EQ(aioc_stream_write_buffered(s), 1000);
    char buf[1000];
    peer_reads(buf, sizeof buf); /* waiting ends the turn */
    CHECK_EQ(sends, 1);
    CHECK(memcmp(buf + 990, "0123456789", 10) == 0);
    CHECK_EQ(aioc_stream_write_buffered(s), 0);
    aioc_stream_close(s);
    aioc_close(sp[1]);
    return NULL;
}

static void *writes_lines(void *arg) {
    aioc_stream *s = arg;
    char line[4] = "?1\n";
    line[0] = (char)('a' + (int)aioc_current().id % 26);
    for (int i = 0; i < 3; i++, line[1]++)
        CHECK_ERR(aioc_stream_write(s, line, 3), 0);
    return NULL;
}

TASK_TEST(stream_writes_of_several_tasks_share_a_call) {
    aioc_stream *s = counted_stream();
    aioc_task t[3];
    for (int i = 0; i < 3; i++)
        t[i] = aioc_spawn(writes_lines, s);
    char buf[27];
    peer_reads(buf, sizeof buf);
    CHECK_EQ(sends, 1);           /* three tasks' writes, one call */
    for (int i = 0; i < 3; i++) { /* each task's lines in order, tasks in run order */
        char who = (char)('a' + (int)t[i].id % 26);
        for (int j = 0; j < 3; j++)
            CHECK(buf[9 * i + 3 * j] == who && buf[9 * i + 3 * j + 1] == '1' + j);
    }
    CHECK_ERR(aioc_gather(t, 3, NULL), 0);
    aioc_stream_close(s);
    aioc_close(sp[1]);
    return NULL;
}

/* A request is out before its reply is awaited, in one call; a large
 * write goes at once, without waiting for the turn. */
TASK_TEST(stream_read_flushes_and_large_writes_go_at_once) {
    aioc_stream *s = counted_stream();
    CHECK_ERR(aioc_stream_write(s, "GET ", 4), 0);
    CHECK_ERR(aioc_stream_write(s, "/\n", 2), 0);
    CHECK_EQ(write(sp[1], "ok\n", 3), 3); /* the reply is already there */
    const char *line;
    CHECK_EQ(aioc_stream_readline(s, &line), 3);
    CHECK_EQ(sends, 1);
    char buf[6];
    peer_reads(buf, sizeof buf);
    CHECK(memcmp(buf, "GET /\n", 6) == 0);
    static char big[32 * 1024];
    memset(big, 'x', sizeof big);
    CHECK_ERR(aioc_stream_write(s, big, sizeof big), 0);
    CHECK_EQ(sends, 2); /* sent (the socket takes some) before write returned */
    aioc_stream_close(s);
    aioc_close(sp[1]);
    return NULL;
}

/* An abort right after a write still sends what the socket takes at once
 * (the write had returned 0: the bytes were the stream's to send). */
TASK_TEST(stream_abort_sends_what_goes_at_once) {
    aioc_stream *s = counted_stream();
    CHECK_ERR(aioc_stream_write(s, "bye\n", 4), 0);
    aioc_stream_abort(s);
    char buf[8];
    CHECK_EQ(aioc_read(sp[1], buf, sizeof buf), 4);
    CHECK_EQ(aioc_read(sp[1], buf, sizeof buf), 0);
    aioc_close(sp[1]);
    return NULL;
}

/* Writes that come while another task's flush waits inside the socket's
 * write must not move the bytes that write is sending: a task drains in a
 * loop while another writes numbered records faster than the peer reads,
 * so the buffer fills, grows and would slide under the drain; the peer
 * gets every record once, in order. */
enum { RECORDS = 20000, RECORD = 16 };
static int writing_done;

static void *drains_meanwhile(void *arg) {
    aioc_stream *s = arg;
    while (!writing_done) {
        CHECK_ERR(aioc_stream_drain(s), 0);
        CHECK_ERR(aioc_sleep(0), 0);
    }
    return NULL;
}

static void *checks_records(void *arg) {
    (void)arg;
    static char buf[RECORDS * RECORD];
    size_t got = 0;
    long n;
    while ((n = aioc_read(sp[1], buf + got, 1000 < sizeof buf - got ? 1000 : sizeof buf - got)) >
           0) {
        got += (size_t)n;
        CHECK_ERR(aioc_sleep(0), 0); /* a slow reader: the writer gets ahead */
    }
    CHECK_EQ(n, 0);
    CHECK_EQ(got, sizeof buf);
    for (size_t i = 0; i < RECORDS; i++) {
        char want[RECORD + 1];
        snprintf(want, sizeof want, "record %08zu\n", i);
        CHECK(memcmp(buf + i * RECORD, want, RECORD) == 0);
    }
    return NULL;
}

TASK_TEST(stream_writes_during_a_flush_keep_their_order) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    int small = 4096;
    CHECK(setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    aioc_stream_opts o = {.high_water = 1 << 20, .low_water = 1 << 19};
    aioc_stream *s = aioc_stream_new(sp[0], &o);
    CHECK(s != NULL);
    writing_done = 0;
    aioc_task drainer = aioc_spawn(drains_meanwhile, s);
    aioc_task checker = aioc_spawn(checks_records, NULL);
    for (size_t i = 0; i < RECORDS; i++) {
        char rec[RECORD + 1];
        snprintf(rec, sizeof rec, "record %08zu\n", i);
        CHECK_ERR(aioc_stream_write(s, rec, RECORD), 0);
        if (i % 50 == 0)
            CHECK_ERR(aioc_sleep(0), 0); /* let the drain start its writes */
    }
    writing_done = 1;
    CHECK_ERR(aioc_await(drainer, NULL), 0);
    CHECK_ERR(aioc_stream_write_eof(s), 0);
    CHECK_ERR(aioc_await(checker, NULL), 0);
    aioc_stream_close(s);
    aioc_close(sp[1]);
    return NULL;
}
