/* echo_aioc_fd: a TCP echo server on aioc's descriptor calls, without
 * streams: the main task accepts (aioc_accept) and spawns a task per
 * connection, which echoes with aioc_read / aioc_write on a 4 KiB buffer.
 * The second aioc row of the echo benchmark: what streams add on top.
 *
 *   echo_aioc_fd [PORT]     listen on 127.0.0.1:PORT (default 0: any)
 *
 * Prints "READY port=P pid=N" once it listens and serves until killed;
 * drive it with loadgen as in echo_aioc_stream.c. */
#define _GNU_SOURCE
#include <aioc.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void *echo(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    long n;
    while ((n = aioc_read(fd, buf, sizeof buf)) > 0)
        if (aioc_write(fd, buf, (size_t)n) < 0)
            break;
    aioc_close(fd);
    return NULL;
}

static void *serve(void *port) {
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(port)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 511) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &len) < 0) {
        perror("echo_aioc_fd: listen");
        return aioc_fail(-errno);
    }
    printf("READY port=%d pid=%ld\n", ntohs(a.sin_port), (long)getpid());
    fflush(stdout);
    for (;;) {
        int fd = aioc_accept(ls, NULL, NULL);
        if (fd == -EMFILE || fd == -ENFILE) {
            aioc_sleep(0.1); /* out of descriptors: let connections end */
            continue;
        }
        if (fd < 0)
            return aioc_fail(fd);
        aioc_task t = aioc_spawn(echo, (void *)(intptr_t)fd);
        if (aioc_task_error(t))
            aioc_close(fd);
        else
            aioc_detach(t);
    }
}

int main(int argc, char **argv) { return aioc_run(serve, argc > 1 ? argv[1] : "0", NULL) ? 1 : 0; }
