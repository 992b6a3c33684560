/* wsload: the one load client of the WebSocket benchmark (bench/ws/run.sh),
 * used against every server, so that the client side is identical.
 *
 * Plain C: blocking sockets while it connects and upgrades, then one epoll
 * loop over non-blocking ones; OpenSSL (libssl) for wss://. No aioc in it,
 * on purpose: the client must cost the same against every server, stay
 * small next to the server it drives (it runs on the other CPU and must
 * not be the bottleneck), and share no code with the aioc server, whose
 * framing it checks: a fault in aioc_ws's frames would otherwise cancel
 * out on both ends. It offers no extension (no permessage-deflate), so
 * every server sends plain frames.
 *
 *   wsload echo PORT IMPL [options]
 *       CONNS connections to ws://127.0.0.1:PORT/echo. Each keeps WINDOW
 *       text messages of SIZE bytes in flight: every echo is checked
 *       byte for byte against what that connection sent, in order, and
 *       answered by the next message. After WARMUP s it counts echoes for
 *       MEASURE s and reads the server's CPU time (utime + stime of
 *       /proc/PID/stat: every thread) at both ends of that window.
 *         RESULT name=echo_cCONNS impl=IMPL msgs_per_s=... server_us_per_msg=...
 *
 *   wsload broadcast PORT IMPL [options]
 *       CONNS connections to ws://127.0.0.1:PORT/broadcast. First the
 *       server is probed until a message reaches every connection (it may
 *       register a client a moment after its 101). Then SENDERS of the
 *       connections each send MSGS text messages of SIZE bytes, each with
 *       WINDOW of its own messages in flight (a sender sends again when
 *       its own copy comes back). Every connection must receive every
 *       message, each sender's in order: each delivery is checked, and
 *       the run ends when all SENDERS x MSGS x CONNS have arrived, or when
 *       none has for STALL s (a failure: the line says how many came).
 *         RESULT name=broadcast_cCONNS impl=IMPL delivered=D of=E lost=L
 *                deliveries_per_s=... server_us_per_delivery=...
 *
 * Options: --conns N, --window K, --size B (at least 25), --warmup S,
 * --measure S, --senders N, --msgs N, --stall S, --server PID (0: no
 * server figures), --tls (wss://, the certificate not verified: it is
 * made at run time). Exit status 0 only if every message was right and,
 * in broadcast, every one delivered; a wrong or missing one is also
 * printed on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* RFC 6455's own example key and its Sec-WebSocket-Accept (section 1.3) */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define MAX_EVENTS 256

typedef struct conn {
    int fd, id;
    SSL *ssl;
    char *in; /* bytes received, not yet parsed */
    size_t in_len, in_cap;
    char *out; /* bytes to send that the socket did not take */
    size_t out_off, out_len, out_cap;
    uint64_t sent, got; /* echo: messages sent, echoes checked; broadcast (a sender): own */
    uint32_t *next;     /* broadcast: the next sequence number expected from each sender */
    uint64_t probe;     /* broadcast: the last probe seen + 1 */
} conn;

static struct {
    int echo, tls, conns, window, size, senders;
    long msgs;
    double warmup, measure, stall;
    long server;
    const char *impl;
    int port;
} o = {.conns = 100,
       .window = 1,
       .size = 32,
       .senders = 4,
       .msgs = 250,
       .warmup = 1,
       .measure = 5,
       .stall = 10};

static conn *cs;
static int ep;
static SSL_CTX *ssl_ctx;
static uint64_t counted, bad, failed_conns;
static uint64_t rng = 0x9e3779b97f4a7c15u;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)rng;
}

/* The server's CPU seconds, every thread, or -1. */
static double server_cpu(void) {
    char path[64], buf[1024];
    if (o.server <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%ld/stat", o.server);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double own_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what) {
    fprintf(stderr, "wsload: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

/* ---------------------------------------------------------------- I/O -- */

/* > 0 bytes, 0 the peer closed, -EAGAIN, or another negative errno */
static ssize_t io_read(conn *c, void *buf, size_t n) {
    if (!c->ssl) {
        ssize_t r = read(c->fd, buf, n);
        return r < 0 ? -errno : r;
    }
    int r = SSL_read(c->ssl, buf, (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return -EAGAIN;
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -EPROTO;
}

static ssize_t io_write(conn *c, const void *buf, size_t n) {
    if (!c->ssl) {
        ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
        return r < 0 ? -errno : r;
    }
    int r = SSL_write(c->ssl, buf, (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(c->ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? -EAGAIN : -EPROTO;
}

static void fail_conn(conn *c, const char *why) {
    if (c->fd < 0)
        return;
    fprintf(stderr, "wsload: connection %d: %s\n", c->id, why);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    failed_conns++;
}

static void grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    if (!(*buf = realloc(*buf, n)))
        die("out of memory");
    *cap = n;
}

static void flush(conn *c) {
    while (c->fd >= 0 && c->out_off < c->out_len) {
        ssize_t r = io_write(c, c->out + c->out_off, c->out_len - c->out_off);
        if (r == -EAGAIN) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }
        if (r <= 0)
            return fail_conn(c, "send failed");
        c->out_off += (size_t)r;
    }
    c->out_off = c->out_len = 0;
}

/* Queues one masked client frame (FIN set) of `op` with `len` payload bytes. */
static void frame(conn *c, int op, const char *data, size_t len) {
    grow(&c->out, &c->out_cap, c->out_len + len + 14);
    unsigned char *p = (unsigned char *)c->out + c->out_len;
    size_t h = 2;
    p[0] = (unsigned char)(0x80 | op);
    if (len < 126) {
        p[1] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        p[1] = 0x80 | 126, p[2] = (unsigned char)(len >> 8), p[3] = (unsigned char)len;
        h = 4;
    } else {
        p[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            p[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        h = 10;
    }
    uint32_t m = rnd();
    memcpy(p + h, &m, 4);
    for (size_t i = 0; i < len; i++)
        p[h + 4 + i] = (unsigned char)data[i] ^ p[h + (i & 3)];
    c->out_len += h + 4 + len;
}

/* ----------------------------------------------------------- payloads -- */

/* The SIZE bytes of message `seq` from `who`: a tag, the two numbers in hex,
 * then letters that depend on both, so that any swapped or damaged byte
 * shows. */
static void payload(char *buf, char tag, uint32_t who, uint64_t seq) {
    int n = snprintf(buf, 32, "%c%06x %016llx ", tag, who, (unsigned long long)seq);
    for (int i = n; i < o.size; i++)
        buf[i] = (char)('a' + (who * 7 + seq * 13 + (uint64_t)i) % 26);
}

static void send_msg(conn *c, char tag, uint32_t who, uint64_t seq) {
    char buf[65536];
    payload(buf, tag, who, seq);
    frame(c, 1, buf, (size_t)o.size);
}

/* -------------------------------------------------------- the workload -- */

static double t_begin, t_last;     /* broadcast: first send, last delivery */
static uint64_t delivered, expect; /* broadcast deliveries */
static uint64_t probe_seq;         /* broadcast: the probe now out (+1), 0 after the probes */

static void on_message(conn *c, const char *d, size_t len) {
    char want[65536];
    if (o.echo) {
        payload(want, 'E', (uint32_t)c->id, c->got);
        if (len != (size_t)o.size || memcmp(d, want, len) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "wsload: connection %d: echo %llu is wrong (%zu bytes)\n", c->id,
                        (unsigned long long)c->got, len);
            return fail_conn(c, "wrong echo");
        }
        c->got++;
        counted++;
        send_msg(c, 'E', (uint32_t)c->id, c->sent++);
        return;
    }
    unsigned who;
    unsigned long long seq;
    if (len == (size_t)o.size && d[0] == 'P' && sscanf(d + 1, "%6x %16llx", &who, &seq) == 2) {
        if (seq + 1 > c->probe)
            c->probe = seq + 1;
        return;
    }
    if (len != (size_t)o.size || d[0] != 'B' || sscanf(d + 1, "%6x %16llx", &who, &seq) != 2 ||
        who >= (unsigned)o.senders || seq != c->next[who]) {
        if (bad++ < 5)
            fprintf(stderr, "wsload: connection %d: unexpected message (%zu bytes: %.24s)\n", c->id,
                    len, d);
        return fail_conn(c, "wrong message");
    }
    payload(want, 'B', who, seq);
    if (memcmp(d, want, len) != 0) {
        if (bad++ < 5)
            fprintf(stderr, "wsload: connection %d: message %u/%llu damaged\n", c->id, who, seq);
        return fail_conn(c, "damaged message");
    }
    c->next[who]++;
    delivered++;
    t_last = now_s();
    if (c->id == (int)who) { /* a sender's own copy: the next one may go */
        c->got++;
        if (c->sent < (uint64_t)o.msgs)
            send_msg(c, 'B', who, c->sent++);
    }
}

/* Parses the whole frames in c->in. */
static void parse(conn *c) {
    size_t off = 0;
    while (c->fd >= 0) {
        unsigned char *p = (unsigned char *)c->in + off;
        size_t avail = c->in_len - off;
        if (avail < 2)
            break;
        int op = p[0] & 0x0f;
        size_t h = 2, len = p[1] & 0x7f;
        if (p[1] & 0x80)
            return fail_conn(c, "masked server frame");
        if (len == 126) {
            if (avail < 4)
                break;
            len = (size_t)p[2] << 8 | p[3], h = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            h = 10;
        }
        if (avail < h + len)
            break;
        const char *d = (const char *)p + h;
        off += h + len;
        if (!(p[0] & 0x80) || op == 0)
            return fail_conn(c, "fragmented message (never expected for these sizes)");
        if (op == 9) { /* ping: pong */
            frame(c, 10, d, len);
        } else if (op == 10) {
        } else if (op == 8) {
            return fail_conn(c, "the server closed");
        } else if (op == 1) {
            on_message(c, d, len);
        } else {
            return fail_conn(c, "a binary or unknown message");
        }
    }
    if (c->fd >= 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

static void readable(conn *c) {
    for (;;) {
        grow(&c->in, &c->in_cap, c->in_len + 16384);
        ssize_t r = io_read(c, c->in + c->in_len, c->in_cap - c->in_len);
        if (r == -EAGAIN)
            break;
        if (r <= 0)
            return fail_conn(c, r == 0 ? "the server hung up" : "read failed");
        c->in_len += (size_t)r;
        parse(c);
        if (c->fd < 0)
            return;
    }
    flush(c);
}

/* ------------------------------------------------------------- set-up -- */

/* Connects, upgrades (blocking, 10 s at most) and makes the socket
 * non-blocking. */
static void open_conn(conn *c, const char *path) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    int one = 1;
    if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        die("socket");
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect");
    if (o.tls) {
        if (!(c->ssl = SSL_new(ssl_ctx)) || !SSL_set_fd(c->ssl, c->fd) ||
            SSL_connect(c->ssl) != 1) {
            ERR_print_errors_fp(stderr);
            errno = 0;
            die("TLS handshake");
        }
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, o.port);
    if (io_write(c, req, (size_t)n) != n)
        die("sending the upgrade");
    char *end = NULL;
    while (!end) {
        grow(&c->in, &c->in_cap, c->in_len + 4097);
        ssize_t r = io_read(c, c->in + c->in_len, 4096);
        if (r <= 0) {
            errno = r < 0 ? (int)-r : 0;
            die("reading the server's 101");
        }
        c->in_len += (size_t)r;
        c->in[c->in_len] = 0;
        end = strstr(c->in, "\r\n\r\n");
    }
    *end = 0;
    if (strncmp(c->in, "HTTP/1.1 101", 12) != 0 ||
        !strcasestr(c->in, "\r\nSec-WebSocket-Accept: " WS_ACCEPT)) {
        fprintf(stderr, "wsload: not a WebSocket upgrade:\n%s\n", c->in);
        exit(1);
    }
    size_t head = (size_t)(end + 4 - c->in);
    memmove(c->in, c->in + head, c->in_len - head);
    c->in_len -= head;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl");
}

/* One epoll round, waiting up to `ms`. */
static void poll_once(int ms) {
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(ep, evs, MAX_EVENTS, ms);
    for (int i = 0; i < n; i++) {
        conn *c = evs[i].data.ptr;
        if (c->fd < 0)
            continue;
        if (evs[i].events & EPOLLOUT) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            flush(c);
        }
        if (c->fd >= 0 && evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            readable(c);
    }
}

static int alive(void) { return (int)((uint64_t)o.conns - failed_conns); }

static int run_echo(void) {
    for (int i = 0; i < o.conns; i++) {
        for (int k = 0; k < o.window; k++)
            send_msg(&cs[i], 'E', (uint32_t)i, cs[i].sent++);
        flush(&cs[i]);
    }
    double start = now_s(), t0 = start + o.warmup, t1 = t0 + o.measure;
    while (now_s() < t0 && alive())
        poll_once(10);
    double s0 = server_cpu(), g0 = own_cpu(), w0 = now_s();
    counted = 0;
    while (now_s() < t1 && alive() == o.conns)
        poll_once(10);
    double s1 = server_cpu(), g1 = own_cpu(), w1 = now_s();
    uint64_t n = counted;
    double secs = w1 - w0;
    printf("RESULT name=echo_c%d impl=%s conns=%d window=%d size=%d msgs=%llu seconds=%.3f "
           "msgs_per_s=%.0f",
           o.conns, o.impl, o.conns, o.window, o.size, (unsigned long long)n, secs,
           (double)n / secs);
    if (s0 >= 0 && s1 >= 0 && n)
        printf(" server_us_per_msg=%.3f server_cpu_pct=%.1f", (s1 - s0) * 1e6 / (double)n,
               100 * (s1 - s0) / secs);
    printf(" gen_cpu_pct=%.1f bad=%llu failed_conns=%llu\n", 100 * (g1 - g0) / secs,
           (unsigned long long)bad, (unsigned long long)failed_conns);
    return bad || failed_conns ? 1 : 0;
}

static int run_broadcast(void) {
    for (int i = 0; i < o.conns; i++)
        if (!(cs[i].next = calloc((size_t)o.senders, sizeof *cs[i].next)))
            die("out of memory");
    /* probes from connection 0 until one reaches every connection */
    double probe_end = now_s() + 30;
    int ready = 0;
    while (!ready && now_s() < probe_end && alive() == o.conns) {
        uint64_t p = probe_seq++;
        send_msg(&cs[0], 'P', 0, p);
        flush(&cs[0]);
        double until = now_s() + 0.2;
        while (!ready && now_s() < until && alive() == o.conns) {
            poll_once(5);
            ready = 1;
            for (int i = 0; i < o.conns && ready; i++)
                ready = cs[i].probe > p;
        }
    }
    if (!ready) {
        fprintf(stderr, "wsload: no probe reached every connection\n");
        return 1;
    }
    for (int i = 0; i < 20; i++) /* let the last probes drain */
        poll_once(5);
    expect = (uint64_t)o.senders * (uint64_t)o.msgs * (uint64_t)o.conns;
    double s0 = server_cpu(), g0 = own_cpu();
    t_begin = t_last = now_s();
    for (int j = 0; j < o.senders; j++) {
        for (int k = 0; k < o.window && cs[j].sent < (uint64_t)o.msgs; k++)
            send_msg(&cs[j], 'B', (uint32_t)j, cs[j].sent++);
        flush(&cs[j]);
    }
    while (delivered < expect && alive() && now_s() - t_last < o.stall)
        poll_once(50);
    /* from the first send to the last delivery (to now if none came) */
    double s1 = server_cpu(), g1 = own_cpu(), secs = (delivered ? t_last : now_s()) - t_begin;
    if (secs <= 0)
        secs = 1e-9;
    printf("RESULT name=broadcast_c%d impl=%s conns=%d senders=%d msgs=%ld window=%d size=%d "
           "delivered=%llu of=%llu lost=%llu seconds=%.3f deliveries_per_s=%.0f",
           o.conns, o.impl, o.conns, o.senders, o.msgs, o.window, o.size,
           (unsigned long long)delivered, (unsigned long long)expect,
           (unsigned long long)(expect - delivered), secs, (double)delivered / secs);
    if (s0 >= 0 && s1 >= 0 && delivered)
        printf(" server_us_per_delivery=%.3f server_cpu_pct=%.1f",
               (s1 - s0) * 1e6 / (double)delivered, 100 * (s1 - s0) / secs);
    printf(" gen_cpu_pct=%.1f bad=%llu failed_conns=%llu\n", 100 * (g1 - g0) / secs,
           (unsigned long long)bad, (unsigned long long)failed_conns);
    if (delivered < expect)
        fprintf(stderr, "wsload: FAIL: delivered %llu of %llu\n", (unsigned long long)delivered,
                (unsigned long long)expect);
    return bad || failed_conns || delivered < expect ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[1], "echo") != 0 && strcmp(argv[1], "broadcast") != 0)) {
        fprintf(stderr, "usage: wsload echo|broadcast PORT IMPL [--conns N] [--window K] "
                        "[--size B] [--warmup S] [--measure S] [--senders N] [--msgs N] "
                        "[--stall S] [--server PID] [--tls]\n");
        return 2;
    }
    o.echo = strcmp(argv[1], "echo") == 0;
    o.port = atoi(argv[2]);
    o.impl = argv[3];
    if (!o.echo)
        o.conns = 1000;
    for (int i = 4; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
        if (strcmp(k, "--tls") == 0) {
            o.tls = 1;
            continue;
        }
        i++;
        if (strcmp(k, "--conns") == 0)
            o.conns = atoi(v);
        else if (strcmp(k, "--window") == 0)
            o.window = atoi(v);
        else if (strcmp(k, "--size") == 0)
            o.size = atoi(v);
        else if (strcmp(k, "--warmup") == 0)
            o.warmup = atof(v);
        else if (strcmp(k, "--measure") == 0)
            o.measure = atof(v);
        else if (strcmp(k, "--senders") == 0)
            o.senders = atoi(v);
        else if (strcmp(k, "--msgs") == 0)
            o.msgs = atol(v);
        else if (strcmp(k, "--stall") == 0)
            o.stall = atof(v);
        else if (strcmp(k, "--server") == 0)
            o.server = atol(v);
        else {
            fprintf(stderr, "wsload: unknown option %s\n", k);
            return 2;
        }
    }
    if (o.conns < 1 || o.window < 1 || o.size < 25 || o.size > 65000 || o.senders < 1 ||
        o.senders > o.conns || o.msgs < 1) {
        fprintf(stderr, "wsload: bad option value\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)o.conns + 64) {
        rl.rlim_cur = (rlim_t)o.conns + 64 < rl.rlim_max ? (rlim_t)o.conns + 64 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (o.tls) {
        if (!(ssl_ctx = SSL_CTX_new(TLS_client_method())))
            die("SSL_CTX_new");
        SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_mode(ssl_ctx,
                         SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    if ((ep = epoll_create1(0)) < 0)
        die("epoll_create1");
    if (!(cs = calloc((size_t)o.conns, sizeof *cs)))
        die("out of memory");
    for (int i = 0; i < o.conns; i++) {
        cs[i].id = i;
        open_conn(&cs[i], o.echo ? "/echo" : "/broadcast");
    }
    return o.echo ? run_echo() : run_broadcast();
}
