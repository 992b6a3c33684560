/* A crowd of chat clients in one process, written without aioc (plain
 * non-blocking sockets and epoll), to load and check a chat server that
 * speaks examples/chat.c's line protocol: any server may be put under it.
 *
 *   chat_crowd PORT CLIENTS LINES INTERVAL [options]
 *     --senders S    only the first S clients send (default: all)
 *     --size B       pad each line to B bytes (default: as short as it gets)
 *     --idle K       K more clients join and never read (expected to be
 *                    dropped by the server without harm to the others)
 *     --stall SEC    fail when nothing arrives for SEC seconds (default 30)
 *     --server PID   report that process's CPU time and peak RSS
 *
 * Every client connects and takes a nickname (c00001, ...); once all have
 * been welcomed, each sender sends LINES numbered lines, one every
 * INTERVAL seconds (the senders' starts spread evenly over one interval;
 * INTERVAL 0: as fast as the socket takes them). Each line carries its
 * sequence number and the time it was sent. Every reading client must get
 * every other sender's lines exactly once and in order; the run ends when
 * all have arrived (exit 0), or fails (exit 1) on a line out of order, a
 * reader dropped by the server, or no progress for --stall seconds.
 * Prints one summary line:
 *   clients N senders S lines L: delivered D of D in T s, latency p50 A ms
 *   p99 B ms max C ms[, idle clients dropped I of K][, server cpu U us/line,
 *   rss R MiB]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP (256 * 1024)
#define LAT_BUCKETS 60000 /* latency histogram: 1 ms buckets up to a minute */

typedef struct client {
    int fd;
    int index;
    int welcomed;
    int reads; /* 0: an idle client, which never reads */
    char *in;
    size_t in_len;
    char out[8192]; /* the line being sent */
    size_t out_off, out_len;
    long next_seq; /* this sender's next line, 1-based */
} client;

static int nclients, nidle, nsenders, nlines, line_size = 0;
static double interval, stall = 30;
static int server_pid;
static client *clients;
static uint32_t *last_seen; /* [receiver * nsenders + sender]: last sequence number */
static long long delivered, expected;
static int idle_dropped; /* idle clients the server said it dropped */
static long long lat_hist[LAT_BUCKETS + 1];
static double lat_max;
static int ep;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *detail) {
    fprintf(stderr, "chat_crowd: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void fail(const char *why, long long a, long long b) {
    fprintf(stderr, "chat_crowd: FAIL: %s (%lld, %lld); delivered %lld of %lld\n", why, a, b,
            delivered, expected);
    exit(1);
}

static void watch(client *c, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, op, c->fd, &ev) != 0)
        die("epoll_ctl", strerror(errno));
}

static void connect_client(client *c, int port) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket", strerror(errno));
    if (!c->reads) { /* a small window, so the server sees it stop at once */
        int small = 4096;
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
    c->in = malloc(IN_CAP);
    if (!c->in)
        die("out of memory", NULL);
    char nick[32];
    int n = snprintf(nick, sizeof nick, "c%05d\n", c->index + 1);
    if (write(c->fd, nick, (size_t)n) != n) /* a fresh socket takes a few bytes */
        die("write", strerror(errno));
    watch(c, EPOLLIN, EPOLL_CTL_ADD);
}

/* One line from the server, without its newline. */
static void on_line(client *c, char *line, size_t len, double t) {
    line[len] = '\0';
    if (line[0] == '*') {
        if (strncmp(line, "* welcome, ", 11) == 0)
            c->welcomed = 1;
        else if (strstr(line, " was too slow") && strncmp(line + 2, "c", 1) == 0) {
            int who = atoi(line + 3) - 1;
            if (who >= 0 && who < nclients && clients[who].reads)
                fail("the server dropped a client that reads", who + 1, 0);
            if (c->index == 0 && who >= nclients && who < nclients + nidle)
                idle_dropped++;
        } else if (strstr(line, "lines are at most"))
            fail("the server refused a line as too long", c->index + 1, (long long)len);
        return;
    }
    /* "cNNNNN: SEQ TIME [padding]" */
    int sender;
    long seq;
    double sent;
    if (sscanf(line, "c%d: %ld %lf", &sender, &seq, &sent) != 3)
        return; /* not one of ours */
    sender--;
    if (sender < 0 || sender >= nsenders || sender == c->index)
        fail("a line from an unknown sender, or its own", sender + 1, c->index + 1);
    uint32_t *last = &last_seen[(size_t)c->index * (size_t)nsenders + (size_t)sender];
    if (seq != (long)*last + 1)
        fail("a line out of order or twice (receiver, sequence)", c->index + 1, seq);
    *last = (uint32_t)seq;
    delivered++;
    double ms = (t - sent) * 1e3;
    if (ms > lat_max)
        lat_max = ms;
    lat_hist[ms < 0 ? 0 : ms >= LAT_BUCKETS ? LAT_BUCKETS : (int)ms]++;
}

static void on_readable(client *c, double t) {
    for (;;) {
        if (c->in_len == IN_CAP)
            fail("a line longer than the client's buffer", c->index + 1, IN_CAP);
        ssize_t n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
        if (n == 0)
            fail("the server closed a reading client's connection", c->index + 1, 0);
        if (n < 0) {
            if (errno == EAGAIN)
                return;
            fail("a reading client's connection failed (client, errno)", c->index + 1, errno);
        }
        c->in_len += (size_t)n;
        char *start = c->in, *end = c->in + c->in_len, *nl;
        while ((nl = memchr(start, '\n', (size_t)(end - start)))) {
            on_line(c, start, (size_t)(nl - start), t);
            start = nl + 1;
        }
        c->in_len = (size_t)(end - start);
        memmove(c->in, start, c->in_len);
    }
}

/* Makes this sender's next line; 0 when it has sent all. */
static int next_line(client *c, double t) {
    if (c->next_seq > nlines)
        return 0;
    int n = snprintf(c->out, sizeof c->out, "%ld %.6f", c->next_seq++, t);
    while (n < line_size - 1 && n < (int)sizeof c->out - 1)
        c->out[n++] = '.';
    c->out[n++] = '\n';
    c->out_off = 0;
    c->out_len = (size_t)n;
    return 1;
}

/* Sends what is pending; 1 if it all went, 0 if the socket is full. */
static int flush_out(client *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EAGAIN)
                return 0;
            fail("a sender's write failed (client, errno)", c->index + 1, errno);
        }
        c->out_off += (size_t)n;
    }
    return 1;
}

/* INTERVAL 0: senders write whenever their socket has room. */
static void pump(client *c, double t) {
    while (flush_out(c)) {
        if (!next_line(c, t)) {
            watch(c, c->reads ? EPOLLIN : 0, EPOLL_CTL_MOD);
            return;
        }
    }
    watch(c, (c->reads ? EPOLLIN : 0) | EPOLLOUT, EPOLL_CTL_MOD);
}

static double percentile(double p) {
    long long want = (long long)((double)delivered * p), seen = 0;
    for (int i = 0; i <= LAT_BUCKETS; i++)
        if ((seen += lat_hist[i]) > want)
            return i;
    return LAT_BUCKETS;
}

/* The server's user+system CPU seconds and peak RSS in KiB, from /proc. */
static void server_usage(double *cpu, long *rss_kib) {
    char path[64], buf[4096];
    *cpu = 0;
    *rss_kib = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(buf, sizeof buf, f)) {
            char *p = strrchr(buf, ')');
            unsigned long ut = 0, st = 0;
            if (p &&
                sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
                *cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        }
        fclose(f);
    }
    snprintf(path, sizeof path, "/proc/%d/status", server_pid);
    if ((f = fopen(path, "r"))) {
        while (fgets(buf, sizeof buf, f))
            if (sscanf(buf, "VmHWM: %ld", rss_kib) == 1)
                break;
        fclose(f);
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: chat_crowd PORT CLIENTS LINES INTERVAL [--senders S] "
                        "[--size B] [--idle K] [--stall SEC] [--server PID]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    nclients = atoi(argv[2]);
    nlines = atoi(argv[3]);
    interval = atof(argv[4]);
    nsenders = nclients;
    for (int i = 5; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--senders") == 0)
            nsenders = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--size") == 0)
            line_size = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--idle") == 0)
            nidle = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--stall") == 0)
            stall = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--server") == 0)
            server_pid = atoi(argv[i + 1]);
        else
            die("unknown option", argv[i]);
    }
    if (nclients < 2 || nsenders < 1 || nsenders > nclients || nlines < 1 || interval < 0)
        die("bad arguments", NULL);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int total = nclients + nidle;
    clients = calloc((size_t)total, sizeof *clients);
    last_seen = calloc((size_t)nclients * (size_t)nsenders, sizeof *last_seen);
    if (!clients || !last_seen || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("out of memory", NULL);
    expected = (long long)nsenders * nlines * (nclients - 1);

    /* Everyone joins first; the idle ones last, once the readers are in. */
    struct epoll_event evs[512];
    double last_progress = now();
    for (int i = 0; i < total; i++) {
        clients[i].index = i;
        clients[i].reads = i < nclients;
        clients[i].next_seq = 1;
        connect_client(&clients[i], port);
    }
    for (int welcomed = 0; welcomed < total;) {
        int n = epoll_wait(ep, evs, 512, 1000);
        double t = now();
        for (int i = 0; i < n; i++) {
            client *c = evs[i].data.ptr;
            int was = c->welcomed;
            on_readable(c, t);
            if (!was && c->welcomed) {
                welcomed++;
                last_progress = t;
                if (!c->reads) /* from now on it reads nothing */
                    watch(c, 0, EPOLL_CTL_MOD);
            }
        }
        if (t - last_progress > stall)
            fail("clients were not welcomed (welcomed, of)", welcomed, total);
    }

    double cpu0 = 0, cpu1 = 0;
    long rss = 0;
    if (server_pid)
        server_usage(&cpu0, &rss);
    double start = now();
    last_progress = start;
    long long sent = 0, to_send = (long long)nsenders * nlines, last_delivered = 0;
    if (interval == 0)
        for (int i = 0; i < nsenders; i++)
            pump(&clients[i], start);
    while (delivered < expected) {
        int timeout = 100;
        if (interval > 0 && sent < to_send) {
            double due = start + (double)sent * interval / nsenders;
            double wait_ms = (due - now()) * 1e3;
            timeout = wait_ms <= 0 ? 0 : wait_ms < 100 ? (int)wait_ms + 1 : 100;
        }
        int n = epoll_wait(ep, evs, 512, timeout);
        double t = now();
        for (int i = 0; i < n; i++) {
            client *c = evs[i].data.ptr;
            if ((evs[i].events & EPOLLIN) && c->reads)
                on_readable(c, t);
            if (evs[i].events & EPOLLOUT)
                pump(c, t);
        }
        /* Timed senders: the k-th line overall is due at start + k * interval / S
         * (sender k % S, its line k / S + 1). Lines are short: a fresh socket
         * takes them, and a sender found full is a failure of the server. */
        while (interval > 0 && sent < to_send && start + (double)sent * interval / nsenders <= t) {
            client *c = &clients[sent % nsenders];
            next_line(c, t);
            if (!flush_out(c))
                fail("the server stopped reading a sender (client, line)", c->index + 1,
                     c->next_seq - 1);
            sent++;
        }
        if (delivered > last_delivered) {
            last_delivered = delivered;
            last_progress = t;
        } else if (t - last_progress > stall) {
            fail("nothing arrived for --stall seconds", 0, 0);
        }
    }
    double elapsed = now() - start;
    if (server_pid)
        server_usage(&cpu1, &rss);
    printf("clients %d senders %d lines %d: delivered %lld of %lld in %.2f s, latency "
           "p50 %.0f ms p99 %.0f ms max %.0f ms",
           nclients, nsenders, nlines, delivered, expected, elapsed, percentile(0.5),
           percentile(0.99), lat_max);
    if (nidle)
        printf(", idle clients dropped %d of %d", idle_dropped, nidle);
    if (server_pid)
        printf(", server cpu %.3f us/line, rss %.1f MiB", (cpu1 - cpu0) * 1e6 / (double)delivered,
               (double)rss / 1024.0);
    printf("\n");
    return 0;
}
