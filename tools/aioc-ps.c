/* aioc-ps: prints the tasks of a running aioc program, as
 * `python -m asyncio ps PID` does for asyncio.
 *
 *   aioc-ps PID [tasks|stats]      the program with that process id
 *   aioc-ps -s PATH [tasks|stats]  the program serving the socket at PATH
 *
 * The program must serve its inspection socket (aioc_run_opts.inspect_path,
 * or AIOC_INSPECT=1 in its environment): by default
 * $XDG_RUNTIME_DIR/aioc-PID.sock, else /tmp/aioc-PID.sock, which is where
 * this tool looks. It sends one command line and copies the answer to
 * stdout. Plain libc, no aioc: it works on a program whatever it links. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void usage(void) {
    fprintf(stderr, "usage: aioc-ps PID [tasks|stats]\n"
                    "       aioc-ps -s SOCKET [tasks|stats]\n"
                    "The program must run with AIOC_INSPECT=1 (or aioc_run_opts.inspect_path).\n");
    exit(2);
}

/* A connected socket to `path`, or -1 with errno set. */
static int connect_to(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Sends `command` and copies the answer to stdout. 0, or 1 on an error. */
static int ask(int fd, const char *command) {
    char line[64];
    int len = snprintf(line, sizeof line, "%s\n", command);
    for (int off = 0; off < len;) {
        ssize_t w = write(fd, line + off, (size_t)(len - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            perror("aioc-ps: write");
            return 1;
        }
        off += (int)w;
    }
    char buf[8192];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            perror("aioc-ps: read");
            return 1;
        }
        if (r == 0)
            return 0;
        fwrite(buf, 1, (size_t)r, stdout);
    }
}

int main(int argc, char **argv) {
    if (argc < 2)
        usage();
    const char *command = "tasks";
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd = -1;
    if (strcmp(argv[1], "-s") == 0) {
        if (argc < 3 || argc > 4)
            usage();
        if (argc == 4)
            command = argv[3];
        snprintf(path, sizeof path, "%s", argv[2]);
        fd = connect_to(path);
    } else {
        char *end;
        long pid = strtol(argv[1], &end, 10);
        if (end == argv[1] || *end || pid <= 0 || argc > 3)
            usage();
        if (argc == 3)
            command = argv[2];
        /* where the program puts it by default: the runtime dir, then /tmp */
        const char *dir = getenv("XDG_RUNTIME_DIR");
        if (dir && *dir) {
            snprintf(path, sizeof path, "%s/aioc-%ld.sock", dir, pid);
            fd = connect_to(path);
        }
        if (fd < 0) {
            snprintf(path, sizeof path, "/tmp/aioc-%ld.sock", pid);
            fd = connect_to(path);
        }
    }
    if (fd < 0) {
        fprintf(stderr, "aioc-ps: %s: %s (does the program run with AIOC_INSPECT=1?)\n", path,
                strerror(errno));
        return 1;
    }
    int status = ask(fd, command);
    close(fd);
    return status;
}
