/* loadgen: the one load generator of the network benchmarks, in plain C
 * (epoll, non-blocking sockets, no aioc), so that every server is driven
 * by exactly the same client.
 *
 *   loadgen echo PORT CONNS WARMUP_S MEASURE_S SERVER_PID IMPL
 *       Opens CONNS connections to 127.0.0.1:PORT. Each sends 64 bytes,
 *       waits until 64 bytes have come back, and sends again: one round
 *       trip is one request. After WARMUP_S seconds it counts round trips
 *       for MEASURE_S seconds and reads the server's CPU time (utime +
 *       stime in /proc/SERVER_PID/stat, all its threads) at both ends of
 *       that window, its own (getrusage) and the whole machine's
 *       (/proc/stat): what neither used was used by someone else
 *       (other_cpu_pct, in % of one CPU), which spoils the figures. Prints
 *         RESULT name=echo_cCONNS impl=IMPL req_per_s=... server_ns_per_req=...
 *
 *   loadgen idle PORT CONNS SERVER_PID IMPL [HOLD_S]
 *       Reads the server's VmRSS, then opens CONNS connections, 64 at a
 *       time; each sends "hello\n" and waits for it to come back, so every
 *       connection's handler has run and is waiting for more. One second
 *       later it reads VmRSS again and prints
 *         RESULT name=idle impl=IMPL conns=... rss_per_conn_b=...
 *       (after - before) / CONNS. It then holds the connections HOLD_S
 *       seconds more (default 0; to look at the server by hand) and exits.
 *
 * SERVER_PID 0 leaves out the server's figures. By hand, with the server
 * and the load on different CPUs:
 *   taskset -c 0 build/release/bench/net/echo_epoll &   # READY port=P pid=N
 *   taskset -c 1 build/release/bench/net/loadgen echo P 100 1 5 N epoll
 *   kill N
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
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

#define MSG 64        /* bytes per request and per response */
#define IDLE_BATCH 64 /* idle mode: connections opened per round */
#define MAX_EVENTS 512

typedef struct conn {
    int fd;
    size_t got; /* bytes of the current response received so far */
} conn;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

/* CPU seconds (user + system, every thread) of process `pid`; -1 if gone. */
static double proc_cpu_s(long pid) {
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    char *p = strrchr(line, ')'); /* the command name may hold spaces */
    unsigned long utime, stime;
    /* after ')': state (field 3) ... utime (14), stime (15) */
    if (!p ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Resident set size of process `pid` in KiB (VmRSS); -1 if gone. */
static long proc_rss_kb(long pid) {
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* The whole machine's busy CPU seconds (every CPU, from the first line of
 * /proc/stat: user nice system irq softirq) and in `*steal` the time the
 * hypervisor took; for telling whether something else ran meanwhile. */
static double machine_busy_s(double *steal) {
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                     &v[4], &v[5], &v[6], &v[7]) != 8) {
        if (f)
            fclose(f);
        *steal = 0;
        return -1;
    }
    fclose(f);
    double hz = (double)sysconf(_SC_CLK_TCK);
    *steal = (double)v[7] / hz;
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* A blocking connect to 127.0.0.1:port, then non-blocking, no Nagle. */
static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
        die("fcntl");
    return fd;
}

static void watch(int ep, int fd, uint32_t index) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = index};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl");
}

/* Reads what `c` has; returns 1 once a whole response of `want` bytes is
 * in (and starts counting the next one). Exits if the server hung up. */
static int receive(conn *c, size_t want) {
    char buf[4096];
    ssize_t r = read(c->fd, buf, sizeof buf);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (r <= 0) {
        if (r == 0)
            errno = 0;
        die("the server closed a connection");
    }
    c->got += (size_t)r;
    if (c->got < want)
        return 0;
    c->got -= want;
    return 1;
}

static int echo(int port, int nconns, double warmup, double measure, long pid, const char *impl) {
    conn *cs = calloc((size_t)nconns, sizeof *cs);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!cs || ep < 0)
        die("setup");
    char msg[MSG];
    memset(msg, 'x', sizeof msg);
    for (int i = 0; i < nconns; i++) {
        cs[i].fd = connect_to(port);
        watch(ep, cs[i].fd, (uint32_t)i);
    }
    for (int i = 0; i < nconns; i++)
        if (write(cs[i].fd, msg, MSG) != MSG)
            die("write");

    struct epoll_event ev[MAX_EVENTS];
    uint64_t done = 0, done0 = 0;
    double start = now_s(), t0 = 0, srv0 = 0, self0 = 0, busy0 = 0, steal0 = 0;
    int measuring = 0;
    for (;;) {
        int n = epoll_wait(ep, ev, MAX_EVENTS, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            conn *c = &cs[ev[i].data.u32];
            if (receive(c, MSG)) {
                done++;
                /* the socket's send buffer is empty in a ping-pong: 64
                 * bytes always fit */
                if (write(c->fd, msg, MSG) != MSG)
                    die("write");
            }
        }
        double t = now_s();
        if (!measuring && t >= start + warmup) {
            measuring = 1;
            t0 = t;
            done0 = done;
            srv0 = pid > 0 ? proc_cpu_s(pid) : 0;
            self0 = self_cpu_s();
            busy0 = machine_busy_s(&steal0);
        } else if (measuring && t >= t0 + measure) {
            double secs = t - t0, reqs = (double)(done - done0);
            double srv = pid > 0 ? proc_cpu_s(pid) - srv0 : -1;
            double self = self_cpu_s() - self0, steal;
            double busy = machine_busy_s(&steal) - busy0;
            printf("RESULT name=echo_c%d impl=%s conns=%d req_per_s=%.0f", nconns, impl, nconns,
                   reqs / secs);
            if (pid > 0 && srv0 >= 0 && srv >= 0)
                printf(" server_ns_per_req=%.0f server_cpu_pct=%.1f", srv * 1e9 / reqs,
                       100 * srv / secs);
            printf(" client_cpu_pct=%.1f", 100 * self / secs);
            /* what else ran on the machine meanwhile (other processes,
             * the hypervisor): a busy neighbour spoils the figures */
            if (busy0 >= 0 && srv >= 0)
                printf(" other_cpu_pct=%.1f steal_pct=%.1f", 100 * (busy - srv - self) / secs,
                       100 * (steal - steal0) / secs);
            printf(" requests=%.0f window_s=%.3f\n", reqs, secs);
            return 0;
        }
    }
}

static int idle(int port, int nconns, long pid, const char *impl, double hold) {
    conn *cs = calloc((size_t)nconns, sizeof *cs);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!cs || ep < 0)
        die("setup");
    static const char hello[] = "hello\n";
    const size_t len = sizeof hello - 1;
    long before = pid > 0 ? proc_rss_kb(pid) : -1;
    double start = now_s();
    struct epoll_event ev[MAX_EVENTS];
    for (int i = 0; i < nconns; i += IDLE_BATCH) {
        int m = nconns - i < IDLE_BATCH ? nconns - i : IDLE_BATCH, left = m;
        for (int j = i; j < i + m; j++) {
            cs[j].fd = connect_to(port);
            watch(ep, cs[j].fd, (uint32_t)j);
            if (write(cs[j].fd, hello, len) != (ssize_t)len)
                die("write");
        }
        while (left > 0) { /* every handler of the batch has answered */
            int n = epoll_wait(ep, ev, MAX_EVENTS, 10000);
            if (n == 0) {
                errno = 0;
                die("no answer within 10 s");
            }
            for (int k = 0; k < n; k++) {
                conn *c = &cs[ev[k].data.u32];
                if (receive(c, len)) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    left--;
                }
            }
        }
    }
    double setup = now_s() - start;
    sleep(1); /* let the server settle: every handler is parked now */
    long after = pid > 0 ? proc_rss_kb(pid) : -1;
    printf("RESULT name=idle impl=%s conns=%d setup_s=%.3f", impl, nconns, setup);
    if (before >= 0 && after >= 0)
        printf(" rss_before_kb=%ld rss_after_kb=%ld rss_per_conn_b=%.0f", before, after,
               (double)(after - before) * 1024.0 / nconns);
    printf("\n");
    fflush(stdout);
    if (hold > 0)
        usleep((useconds_t)(hold * 1e6));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 3 && atoi(argv[3]) <= 0)
        argc = 0; /* no connections: usage */
    if (argc == 8 && strcmp(argv[1], "echo") == 0)
        return echo(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), atof(argv[5]), atol(argv[6]),
                    argv[7]);
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "idle") == 0)
        return idle(atoi(argv[2]), atoi(argv[3]), atol(argv[4]), argv[5],
                    argc == 7 ? atof(argv[6]) : 0);
    fprintf(stderr, "usage: loadgen echo PORT CONNS WARMUP_S MEASURE_S SERVER_PID IMPL\n"
                    "       loadgen idle PORT CONNS SERVER_PID IMPL [HOLD_S]\n");
    return 2;
}
