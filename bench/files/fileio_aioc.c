/* fileio (aioc): DEPTH tasks reading or writing one file through
 * aioc_file_pread / aioc_file_pwrite for SECONDS, on the thread-pool
 * engine or the io_uring one, with O_DIRECT (the page cache of this
 * machine holds any file we could make: O_DIRECT makes every read reach
 * the disk, as fio's direct=1):
 *
 *   fileio_aioc ENGINE MODE BS DEPTH SECONDS FILE
 *
 * ENGINE pool | uring, or pool-zc | uring-zc for the same in zero-copy mode
 * (aioc_file_set_zero_copy: no bounce buffer, the caller's buffer goes to
 * the system call); MODE randread (BS-aligned random offsets) | read |
 * write (sequential: each task takes the next BS block, wrapping at the
 * file's size) | cachedread (randread without O_DIRECT, from the page
 * cache: what each call costs beyond the disk). Prints one RESULT line: operations, IOPS, GB/s and
 * the process's CPU time (all threads, the kernel's io_uring workers included) per operation. */
#define _GNU_SOURCE
#include <aioc.h>
#include <aioc_uring.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *mode, *path;
static size_t bs;
static long depth;
static double seconds;
static aioc_file *file;
static long long blocks, next_block, ops;
static double end_at;
static int failure;

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static void *worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    char *buf = aligned_alloc(4096, bs);
    if (!buf)
        return aioc_fail(-ENOMEM);
    memset(buf, 'w', bs);
    bool write_ = !strcmp(mode, "write"),
         random_ = !strcmp(mode, "randread") || !strcmp(mode, "cachedread");
    while (aioc_now() < end_at) {
        long long b = random_ ? (long long)(rand_r(&seed) % blocks) : next_block++ % blocks;
        long r = write_ ? aioc_file_pwrite(file, buf, bs, b * (long long)bs)
                        : aioc_file_pread(file, buf, bs, b * (long long)bs);
        if (r != (long)bs) {
            failure = r < 0 ? (int)r : -EIO;
            break;
        }
        ops++;
    }
    free(buf);
    return NULL;
}

static bool zero_copy; /* ENGINE ends in -zc */

static void *run(void *arg) {
    (void)arg;
    int fd = open(path, (!strcmp(mode, "write") ? O_WRONLY : O_RDONLY) |
                            (strcmp(mode, "cachedread") ? O_DIRECT : 0) | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return aioc_fail(-errno);
    int err;
    if (!(file = aioc_file_from_fd(fd, &err)))
        return aioc_fail(err);
    aioc_file_set_zero_copy(file, zero_copy);
    blocks = st.st_size / (long long)bs;
    aioc_task *t = calloc((size_t)depth, sizeof *t);
    double c0 = cpu_s();
    struct timespec w0, w1;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    end_at = aioc_now() + seconds;
    for (long i = 0; i < depth; i++)
        t[i] =
            aioc_spawn_with(worker, (void *)(intptr_t)i, &(aioc_spawn_opts){.stack_size = 65536});
    aioc_gather(t, (size_t)depth, NULL);
    clock_gettime(CLOCK_MONOTONIC, &w1);
    double wall = (double)(w1.tv_sec - w0.tv_sec) + (double)(w1.tv_nsec - w0.tv_nsec) / 1e9;
    double cpu = cpu_s() - c0;
    if (failure)
        fprintf(stderr, "fileio: %s\n", aioc_strerror(failure));
    printf("RESULT impl=aioc-%s%s mode=%s bs=%zu depth=%ld ops=%lld iops=%.0f gbps=%.3f "
           "cpu_us_per_op=%.2f\n",
           aioc_file_engine_get()->name, zero_copy ? "-zc" : "", mode, bs, depth, ops,
           (double)ops / wall, (double)ops * (double)bs / wall / 1e9, cpu * 1e6 / (double)ops);
    free(t);
    aioc_file_close(file);
    return failure ? aioc_fail(failure) : NULL;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr,
                "usage: fileio_aioc pool|uring|pool-zc|uring-zc randread|read|write|cachedread "
                "BS DEPTH SECONDS FILE\n");
        return 2;
    }
    mode = argv[2];
    bs = strtoul(argv[3], NULL, 10);
    depth = strtol(argv[4], NULL, 10);
    seconds = strtod(argv[5], NULL);
    path = argv[6];
    zero_copy = strstr(argv[1], "-zc") != NULL;
    if (!strncmp(argv[1], "uring", 5)) {
        int err = aioc_uring_install();
        if (err) {
            fprintf(stderr, "fileio: io_uring: %s\n", aioc_strerror(err));
            return 1;
        }
    }
    aioc_run_opts opts = {.stack_size = 65536};
    return aioc_run_with(run, NULL, NULL, &opts) ? 1 : 0;
}
