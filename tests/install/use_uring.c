/* An outside program on the installed aioc_uring (scripts/test-install.sh
 * builds it with pkg-config and with CMake, and against the shared library
 * with CMake's run path): installs the io_uring file engine, writes a file
 * through it and reads it back. Prints one line and exits 0, or says what
 * failed and exits 1. Where the kernel has no io_uring (or it is disabled)
 * it says so, checks that the thread pool serves the same calls, and
 * exits 0. */
#include <aioc.h>
#include <aioc_uring.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *failed(const char *what, int err) {
    fprintf(stderr, "use_uring: %s: %s\n", what, aioc_strerror(err));
    return aioc_fail(err ? err : -EIO);
}

static void *main_task(void *arg) {
    const char *path = arg;
    int err = 0;
    aioc_file *f = aioc_file_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600, &err);
    if (!f)
        return failed("open", err);
    long n = aioc_file_pwrite(f, "ring", 4, 0);
    char buf[8] = {0};
    long r = n == 4 ? aioc_file_pread(f, buf, sizeof buf, 0) : n;
    aioc_file_close(f);
    if (n != 4 || r != 4 || memcmp(buf, "ring", 4))
        return failed("write and read back", n < 0 ? (int)n : (int)(r < 0 ? r : -EIO));
    printf("read back \"%.4s\" through the %s engine\n", buf, aioc_file_engine_get()->name);
    return NULL;
}

int main(void) {
    char path[] = "/tmp/aioc-use-uring-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    int err = aioc_uring_install();
    if (err)
        printf("no io_uring here (%s): the thread pool serves the files\n", aioc_strerror(err));
    int status = aioc_run(main_task, path, NULL);
    unlink(path);
    return status ? 1 : 0;
}
