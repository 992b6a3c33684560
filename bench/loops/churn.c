/* churn: short connections against an echo server, for the cost of
 * accepting them (bench/loops/spread.sh).
 *
 *   churn PORT TASKS SECONDS
 *
 * TASKS tasks (at most 64) each open a connection to 127.0.0.1:PORT, send
 * a byte, read it back and abort the connection (no TIME_WAIT), again and
 * again for SECONDS; prints "conns_per_s=N". */
#include <aioc.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
static const char *port;
static double until;
static long done;
static void *one(void *arg) {
    (void)arg;
    while (aioc_now() < until) {
        int fd = aioc_tcp_connect("127.0.0.1", port);
        if (fd < 0) {
            fprintf(stderr, "connect: %s\n", aioc_strerror(fd));
            return NULL;
        }
        aioc_stream *s = aioc_stream_new(fd, NULL);
        char c = 'x';
        if (aioc_stream_write(s, &c, 1) == 0 && aioc_stream_read(s, &c, 1) == 1)
            done++;
        aioc_stream_abort(s);
    }
    return NULL;
}
static void *main_task(void *arg) {
    int n = atoi(((char **)arg)[2]);
    if (n < 1 || n > 64)
        return aioc_fail(-EINVAL);
    double secs = atof(((char **)arg)[3]);
    until = aioc_now() + secs;
    aioc_task t[64];
    for (int i = 0; i < n; i++)
        t[i] = aioc_spawn(one, NULL);
    for (int i = 0; i < n; i++)
        aioc_await(t[i], NULL);
    printf("conns_per_s=%.0f\n", (double)done / secs);
    return NULL;
}
int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: churn PORT TASKS SECONDS\n");
        return 2;
    }
    port = argv[1];
    return aioc_run(main_task, argv, NULL) ? 1 : 0;
}
