/* Starting and stopping the tests' redis-server: see server.h. Runs before
 * the loop starts, after it ends, or (restart, kill) in the middle of a
 * test, where blocking the loop for a moment is what we want. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_SERVER "redis-server"

int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

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

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f) {
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

/* Forks redis-server on s->port; 0 once it answers, -1 if it died. */
static int launch(redis_server *s) {
    char port[16], log[96];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(log, sizeof log, "%s/redis.log", s->dir);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* even if the test is killed */
        if (getppid() != parent)
            _exit(127);
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
    for (int i = 0; i < 1000; i++) { /* up to 10 s */
        if (answers(s->port))
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) { /* died: the port taken? */
            s->pid = 0;
            return -1;
        }
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
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
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

void redis_server_stop(redis_server *s) {
    if (s->external)
        return;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int done = 0;
        for (int i = 0; i < 500 && !done; i++) { /* up to 5 s */
            if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
                done = 1;
            else
                sleep_ms(10);
        }
        if (!done) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
        s->pid = 0;
    }
    if (s->dir[0])
        nftw(s->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    s->dir[0] = '\0';
}
