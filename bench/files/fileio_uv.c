/* fileio (libuv): the same as fileio_aioc with uv_fs_read / uv_fs_write
 * on libuv's thread pool (UV_THREADPOOL_SIZE threads, 4 by default), DEPTH
 * requests in flight, each resubmitted from its callback:
 *
 *   fileio_uv MODE BS DEPTH SECONDS FILE */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

static const char *mode;
static size_t bs;
static int fd, failed;
static long long blocks, next_block, ops;
static uint64_t end_ns;

typedef struct req {
    uv_fs_t fs;
    uv_buf_t buf;
    unsigned seed;
} req;

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static void done(uv_fs_t *fs);

static void issue(req *r) {
    bool random_ = !strcmp(mode, "randread") || !strcmp(mode, "cachedread");
    long long b = random_ ? (long long)(rand_r(&r->seed) % blocks) : next_block++ % blocks;
    if (!strcmp(mode, "write"))
        uv_fs_write(uv_default_loop(), &r->fs, fd, &r->buf, 1, b * (long long)bs, done);
    else
        uv_fs_read(uv_default_loop(), &r->fs, fd, &r->buf, 1, b * (long long)bs, done);
}

static void done(uv_fs_t *fs) {
    req *r = (req *)fs;
    ssize_t res = fs->result;
    uv_fs_req_cleanup(fs);
    if (res != (ssize_t)bs) {
        failed = 1;
        return;
    }
    ops++;
    if (uv_hrtime() < end_ns)
        issue(r);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: fileio_uv randread|read|write BS DEPTH SECONDS FILE\n");
        return 2;
    }
    mode = argv[1];
    bs = strtoul(argv[2], NULL, 10);
    long depth = strtol(argv[3], NULL, 10);
    double seconds = strtod(argv[4], NULL);
    fd = open(argv[5], (!strcmp(mode, "write") ? O_WRONLY : O_RDONLY) |
                           (strcmp(mode, "cachedread") ? O_DIRECT : 0) | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(argv[5]);
        return 1;
    }
    blocks = st.st_size / (long long)bs;
    req *reqs = calloc((size_t)depth, sizeof *reqs);
    double c0 = cpu_s();
    uint64_t t0 = uv_hrtime();
    end_ns = t0 + (uint64_t)(seconds * 1e9);
    for (long i = 0; i < depth; i++) {
        reqs[i].seed = (unsigned)i * 2654435761u + 1;
        reqs[i].buf = uv_buf_init(aligned_alloc(4096, bs), (unsigned)bs);
        memset(reqs[i].buf.base, 'w', bs);
        issue(&reqs[i]);
    }
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    double wall = (double)(uv_hrtime() - t0) / 1e9, cpu = cpu_s() - c0;
    printf("RESULT impl=libuv mode=%s bs=%zu depth=%ld ops=%lld iops=%.0f gbps=%.3f "
           "cpu_us_per_op=%.2f\n",
           mode, bs, depth, ops, (double)ops / wall, (double)ops * (double)bs / wall / 1e9,
           cpu * 1e6 / (double)ops);
    for (long i = 0; i < depth; i++)
        free(reqs[i].buf.base);
    free(reqs);
    close(fd);
    return failed;
}
