/* bulk_aioc: bulk transfer over one TCP connection with aioc, a receiver
 * and a sender in two processes (as iperf3's server and client).
 *
 *   bulk_aioc recv read|stream [IMPL]
 *       Listens on 127.0.0.1 (any free port), prints "READY port=P pid=N",
 *       accepts one connection and reads it to the end, with aioc_read
 *       into a 256 KiB buffer, or aioc_stream_read of up to 256 KiB. Then
 *       prints RESULT name=bulk impl=IMPL bytes=... seconds=... gb_per_s=...
 *       (from its first byte to the end; GB = 10^9 bytes) and its CPU use.
 *   bulk_aioc send PORT stream|write|sendfile SECONDS
 *       Connects and sends for SECONDS, then closes: 256 KiB chunks with
 *       aioc_stream_write (default stream options) or aioc_write, or
 *       aioc_sendfile of a 64 MiB file in /dev/shm (an unnamed O_TMPFILE,
 *       gone when the program ends), round and round. Prints its own
 *       RESULT name=bulk_send line with its CPU use.
 *
 * bench/net/run.sh pins the receiver and the sender to different CPUs, as
 * it does iperf3's server and client; by hand:
 *   taskset -c 0 build/release/bench/net/bulk_aioc recv read &   # READY port=P
 *   taskset -c 1 build/release/bench/net/bulk_aioc send P stream 5 */
#define _GNU_SOURCE
#include <aioc.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)
#define FILE_SIZE (64L * 1024 * 1024)

static char buf[CHUNK];
static char *const *args;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void *receive(void *arg) {
    (void)arg;
    int stream_mode = strcmp(args[2], "stream") == 0;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &len) < 0)
        return aioc_fail(-errno);
    printf("READY port=%d pid=%ld\n", ntohs(a.sin_port), (long)getpid());
    fflush(stdout);
    int fd = aioc_accept(ls, NULL, NULL);
    if (fd < 0)
        return aioc_fail(fd);
    aioc_close(ls);
    aioc_stream *s = stream_mode ? aioc_stream_new(fd, NULL) : NULL;
    double t0 = 0, c0 = 0;
    long long total = 0;
    long n;
    while ((n = s ? aioc_stream_read(s, buf, CHUNK) : aioc_read(fd, buf, CHUNK)) > 0) {
        if (total == 0) {
            t0 = now_s();
            c0 = cpu_s();
        }
        total += n;
    }
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    if (s)
        aioc_stream_close(s);
    else
        aioc_close(fd);
    if (n < 0 || total == 0)
        return aioc_fail(n < 0 ? (int)n : AIOC_EOF);
    printf("RESULT name=bulk impl=%s bytes=%lld seconds=%.3f gb_per_s=%.3f recv_cpu_pct=%.1f\n",
           args[3] ? args[3] : "aioc", total, secs, (double)total / secs / 1e9, 100 * cpu / secs);
    return NULL;
}

/* A 64 MiB file of the chunk's bytes, in memory (tmpfs), unnamed. */
static int shm_file(void) {
    int f = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (f < 0)
        f = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    for (long done = 0; f >= 0 && done < FILE_SIZE; done += CHUNK)
        if (write(f, buf, CHUNK) != CHUNK) {
            close(f);
            return -1;
        }
    return f;
}

static void *send_all(void *arg) {
    (void)arg;
    const char *mode = args[3];
    double secs = atof(args[4]);
    int file = strcmp(mode, "sendfile") == 0 ? shm_file() : -1;
    if (strcmp(mode, "sendfile") == 0 && file < 0)
        return aioc_fail(-errno);
    int fd = aioc_tcp_connect("127.0.0.1", args[2]);
    if (fd < 0)
        return aioc_fail(fd);
    aioc_stream *s = strcmp(mode, "stream") == 0 ? aioc_stream_new(fd, NULL) : NULL;
    if (strcmp(mode, "stream") == 0 && !s)
        return aioc_fail(-ENOMEM);
    double t0 = now_s(), c0 = cpu_s(), end = t0 + secs;
    long long total = 0;
    long off = 0;
    int err = 0;
    while (!err && now_s() < end) {
        long n;
        if (s)
            n = (err = aioc_stream_write(s, buf, CHUNK)) ? err : CHUNK;
        else if (file >= 0) {
            if (off == FILE_SIZE)
                off = 0;
            n = aioc_sendfile(fd, file, &off, (size_t)(FILE_SIZE - off));
        } else
            n = aioc_write(fd, buf, CHUNK);
        if (n < 0)
            err = (int)n;
        else
            total += n;
    }
    if (s)
        err = err ? err : aioc_stream_close(s);
    else
        aioc_close(fd);
    double t = now_s() - t0, cpu = cpu_s() - c0;
    if (err)
        return aioc_fail(err);
    printf("RESULT name=bulk_send mode=%s bytes=%lld seconds=%.3f send_cpu_pct=%.1f\n", mode, total,
           t, 100 * cpu / t);
    return NULL;
}

int main(int argc, char **argv) {
    args = argv;
    memset(buf, 'x', sizeof buf);
    aioc_fn fn = NULL;
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "recv") == 0 &&
        (strcmp(argv[2], "read") == 0 || strcmp(argv[2], "stream") == 0))
        fn = receive;
    else if (argc == 5 && strcmp(argv[1], "send") == 0 &&
             (!strcmp(argv[3], "stream") || !strcmp(argv[3], "write") ||
              !strcmp(argv[3], "sendfile")))
        fn = send_all;
    if (!fn) {
        fprintf(stderr, "usage: bulk_aioc recv read|stream [IMPL]\n"
                        "       bulk_aioc send PORT stream|write|sendfile SECONDS\n");
        return 2;
    }
    int status = aioc_run(fn, NULL, NULL);
    if (status)
        fprintf(stderr, "bulk_aioc: %s\n", aioc_strerror(status));
    return status ? 1 : 0;
}
