/* Starting and stopping the tests' redis-server: see server.h. Runs before
 * the loop starts, after it ends, or (restart, kill) in the middle of a
 * test, where blocking the loop for a moment is what we want. */
#include "server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define REDIS_SERVER "redis-server"

/* Answers PING with +PONG: the server is up and serving. */
static int answers(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, "PING\r\n", 6) == 6) {
        char got[8] = "";
        struct timeval tv = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ok = read(fd, got, 7) >= 7 && memcmp(got, "+PONG\r\n", 7) == 0;
    }
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Forks redis-server on s->port; 0 once it answers, -1 if it died. */
static int launch(redis_server *s) {
    char port[16], log[96];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(log, sizeof log, "%s/redis.log", s->dir);
    pid_t pid = child_fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
        }
        execlp(REDIS_SERVER, REDIS_SERVER, "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", s->dir, "--unixsocket", s->unix_path,
               "--unixsocketperm", "700", "--logfile", log, "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    s->pid = pid;
    int ready = child_wait_ready(pid, answers, s->port);
    if (ready == 0)
        return 0;
    if (ready > 0) /* up but not answering */
        child_kill(&s->pid);
    s->pid = 0;
    return -1;
}

int redis_server_start(redis_server *s) {
    memset(s, 0, sizeof *s);
    const char *env = getenv("AIOC_REDIS_TEST_ADDR");
    if (env && *env) {
        s->external = 1;
        snprintf(s->addr, sizeof s->addr, "%s", env);
        return 0;
    }
    strcpy(s->dir, "/tmp/aioc-redis-XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(s->unix_path, sizeof s->unix_path, "%s/redis.sock", s->dir);
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = free_port();
        if (launch(s) == 0) {
            snprintf(s->addr, sizeof s->addr, "127.0.0.1:%d", s->port);
            return 0;
        }
    }
    fprintf(stderr, "redis-server did not start (is it installed? Debian: redis-server)\n");
    redis_server_stop(s);
    return -1;
}

int redis_server_restart(redis_server *s) {
    if (s->external || s->pid)
        return -1;
    for (int i = 0; i < 500; i++) { /* the port may linger a moment */
        if (launch(s) == 0)
            return 0;
        sleep_ms(10);
    }
    return -1;
}

void redis_server_kill(redis_server *s) {
    if (s->external || s->pid <= 0)
        return;
    child_kill(&s->pid);
}

void redis_server_stop(redis_server *s) {
    if (s->external)
        return;
    child_stop(&s->pid);
    if (s->dir[0])
        remove_tree(s->dir);
    s->dir[0] = '\0';
}
