/* files (aioc): N small reads (default 100,000) of a 4 KiB file, three
 * ways: aioc_fs_read_file per file (open + read + close, one pool trip
 * per call), aioc_file_pread of 4 KiB per call on one open handle (one
 * trip per call), and all N preads in one aioc_to_thread_map call (one
 * trip for the batch; and the same for open + read + close). Wall time and process CPU (all
 * threads) per read; files.py does the same with asyncio.to_thread, per read and batched. */
#include "bench_aioc.h" /* first: it sets _GNU_SOURCE */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char path[64];
static int shared_fd;

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static void report(const char *how, size_t n, uint64_t t0, uint64_t t1, double c0, double c1) {
    printf("RESULT name=files_%s impl=aioc n=%zu ns_per_op=%.1f cpu_ns_per_op=%.1f wall_s=%.3f\n",
           how, n, (double)(t1 - t0) / (double)n, (c1 - c0) * 1e9 / (double)n,
           (double)(t1 - t0) / 1e9);
}

static int pread_item(void *item, void **result) {
    char buf[4096];
    (void)item;
    (void)result;
    return pread(shared_fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf ? 0 : -EIO;
}

static int read_file_item(void *item, void **result) {
    char buf[8192];
    (void)item;
    (void)result;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t r = read(fd, buf, sizeof buf);
    close(fd);
    return r == 4096 ? 0 : -EIO;
}

static void *run(void *arg) {
    size_t n = (size_t)arg;
    char data[4096];
    memset(data, 'x', sizeof data);
    if (aioc_fs_write_file(path, data, sizeof data, 0644))
        bench_fail("write");
    char *text;
    if (aioc_fs_read_file(path, &text) != 4096) /* starts the pool's thread */
        bench_fail("read_file");
    free(text);

    uint64_t t0 = bench_now_ns();
    double c0 = cpu_s();
    for (size_t i = 0; i < n; i++) {
        if (aioc_fs_read_file(path, &text) != 4096)
            bench_fail("read_file");
        free(text);
    }
    report("read_file_each", n, t0, bench_now_ns(), c0, cpu_s());

    aioc_file *f = aioc_file_open(path, O_RDONLY, 0, NULL);
    if (!f)
        bench_fail("open");
    char buf[4096];
    t0 = bench_now_ns();
    c0 = cpu_s();
    for (size_t i = 0; i < n; i++)
        if (aioc_file_pread(f, buf, sizeof buf, 0) != 4096)
            bench_fail("pread");
    report("pread_each", n, t0, bench_now_ns(), c0, cpu_s());

    shared_fd = aioc_file_fd(f);
    void **items = calloc(n, sizeof *items);
    if (!items)
        bench_fail("calloc");
    t0 = bench_now_ns();
    c0 = cpu_s();
    if (aioc_to_thread_map(pread_item, items, n, NULL, NULL))
        bench_fail("map");
    report("pread_batched", n, t0, bench_now_ns(), c0, cpu_s());
    t0 = bench_now_ns();
    c0 = cpu_s();
    if (aioc_to_thread_map(read_file_item, items, n, NULL, NULL))
        bench_fail("map");
    report("read_file_batched", n, t0, bench_now_ns(), c0, cpu_s());
    free(items);
    aioc_file_close(f);
    aioc_fs_unlink(path);
    return NULL;
}

int main(int argc, char **argv) {
    snprintf(path, sizeof path, "/tmp/aioc-bench-files-%ld", (long)getpid());
    return bench_aioc_main(argc, argv, 100000, run);
}
