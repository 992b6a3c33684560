/* aioc_uring: the core's file tests (tests/test_file.c, compiled into
 * this suite) run with io_uring as the engine, installed before any test;
 * and what only this engine does: operations that go through the ring and
 * not the pool, a blocked read that a cancellation interrupts in the
 * kernel, a loop that ends with reads in flight, a ring per loop. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <aioc_uring.h>

#include "test.h"

unsigned long aioc__file_jobs_alive(void);

/* Every test of this program runs on io_uring, or the program fails: a
 * kernel without it must not pass these tests on the pool unnoticed. */
__attribute__((constructor)) static void install(void) {
    int err = aioc_uring_install();
    if (err) {
        fprintf(stderr, "aioc_uring_install: %s\n", aioc_strerror(err));
        exit(1);
    }
}

static char dir[64];

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* A new FIFO in a scratch directory removed at exit. */
static const char *new_fifo(void) {
    static char path[128];
    strcpy(dir, "/tmp/aioc-uring-XXXXXX");
    CHECK(mkdtemp(dir));
    atexit(remove_dir);
    snprintf(path, sizeof path, "%s/fifo", dir);
    CHECK_EQ(mkfifo(path, 0600), 0);
    return path;
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Sleeps in the loop (so that the reaper runs) until no operation is in
 * flight; 10 s at most. */
static void wait_ops_released(void) {
    for (int i = 0; i < 1000 && aioc_uring_ops_in_flight(); i++)
        aioc_sleep(0.01);
    CHECK_EQ(aioc_uring_ops_in_flight(), 0);
}

TEST(engine_is_installed_and_probed) {
    CHECK_ERR(aioc_uring_probe(), 0);
    CHECK(aioc_file_engine_get() == aioc_uring_engine());
    CHECK(!strcmp(aioc_file_engine_get()->name, "uring"));
    CHECK_ERR(aioc_uring_install(), 0); /* again: nothing changes */
    CHECK(aioc_file_engine_get() == aioc_uring_engine());
    CHECK_EQ(aioc_uring_ops_in_flight(), 0);
}

static aioc_file *blocked;

static void *read_blocked(void *arg) {
    char *buf = arg;
    return (void *)(intptr_t)aioc_file_read_some(blocked, buf, 16);
}

/* A read that waits (a FIFO with no data) is an operation of the ring,
 * not a job of the pool; data written later completes it. */
TASK_TEST(ops_go_through_the_ring) {
    const char *fifo = new_fifo();
    blocked = aioc_file_open(fifo, O_RDWR, 0, NULL);
    CHECK(blocked);
    char buf[16] = {0};
    aioc_task t = aioc_spawn(read_blocked, buf);
    CHECK_ERR(aioc_sleep(0.02), 0);
    CHECK_EQ(aioc_uring_ops_in_flight(), 1);
    CHECK_EQ(aioc__file_jobs_alive(), 0);
    int w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(w >= 0);
    CHECK_EQ(write(w, "ring", 4), 4);
    void *res;
    CHECK_ERR(aioc_await(t, &res), 0);
    CHECK_EQ((intptr_t)res, 4);
    CHECK(!memcmp(buf, "ring", 4));
    CHECK_EQ(close(w), 0);
    CHECK_ERR(aioc_file_close(blocked), 0);
    CHECK_EQ(aioc_uring_ops_in_flight(), 0);
    return NULL;
}

/* A read blocked in the kernel is cancelled there (ASYNC_CANCEL): its
 * operation is released with no writer ever coming, the caller's buffer
 * untouched, the descriptor closed once the operation lets it go. */
TASK_TEST(cancel_interrupts_a_blocked_read) {
    const char *fifo = new_fifo();
    blocked = aioc_file_open(fifo, O_RDWR, 0, NULL);
    CHECK(blocked);
    int fds = open_fds();
    char buf[16];
    memset(buf, 'u', sizeof buf);
    aioc_task t = aioc_spawn(read_blocked, buf);
    CHECK_ERR(aioc_sleep(0.02), 0);
    CHECK_EQ(aioc_uring_ops_in_flight(), 1);
    CHECK_ERR(aioc_cancel(t), 0);
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
    CHECK_ERR(aioc_file_close(blocked), 0);
    CHECK_EQ(open_fds(), fds); /* held by the operation until it is done */
    wait_ops_released();
    CHECK_EQ(open_fds(), fds - 1);
    CHECK_EQ(buf[0], 'u');
    /* and under a deadline */
    blocked = aioc_file_open(fifo, O_RDWR, 0, NULL);
    CHECK(blocked);
    aioc_scope s;
    aioc_scope_enter(&s, 0.02);
    CHECK_ERR(aioc_file_read(blocked, buf, sizeof buf), -ETIMEDOUT);
    aioc_scope_exit(&s);
    wait_ops_released();
    CHECK_ERR(aioc_file_close(blocked), 0);
    CHECK_EQ(buf[0], 'u');
    return NULL;
}

/* A caller whose deadline has passed before its call: the submission,
 * still in the ring's queue, becomes a no-op. Nothing is created or
 * written, and the no-op's result (0) is not taken for a descriptor that
 * a late open got: descriptor 0 stays open. */
TASK_TEST(cancelled_before_submission_does_nothing) {
    if (fcntl(0, F_GETFD) < 0) /* (descriptor 0 must exist to be watched) */
        CHECK_EQ(open("/dev/null", O_RDONLY), 0);
    strcpy(dir, "/tmp/aioc-uring-XXXXXX");
    CHECK(mkdtemp(dir));
    atexit(remove_dir);
    char path[128];
    snprintf(path, sizeof path, "%s/never", dir);
    aioc_scope s;
    aioc_scope_enter(&s, 0);
    int err = 0;
    CHECK(!aioc_file_open(path, O_WRONLY | O_CREAT, 0644, &err));
    CHECK_ERR(err, -ETIMEDOUT);
    aioc_scope_exit(&s);
    wait_ops_released();
    CHECK_EQ(access(path, F_OK), -1); /* never created */
    CHECK(fcntl(0, F_GETFD) >= 0);
    snprintf(path, sizeof path, "%s/kept", dir);
    aioc_file *f = aioc_file_open(path, O_RDWR | O_CREAT, 0644, NULL);
    CHECK(f);
    CHECK_EQ(aioc_file_pwrite(f, "old", 3, 0), 3);
    aioc_scope_enter(&s, 0);
    CHECK_ERR(aioc_file_pwrite(f, "new", 3, 0), -ETIMEDOUT);
    aioc_scope_exit(&s);
    wait_ops_released();
    char buf[4] = {0};
    CHECK_EQ(aioc_file_pread(f, buf, 3, 0), 3);
    CHECK(!strcmp(buf, "old"));
    CHECK_ERR(aioc_file_close(f), 0);
    return NULL;
}

static const char *shutdown_fifo;

static void *start_blocked_reads(void *arg) {
    (void)arg;
    blocked = aioc_file_open(shutdown_fifo, O_RDWR, 0, NULL);
    CHECK(blocked);
    static char bufs[4][16];
    for (int i = 0; i < 4; i++)
        aioc_detach(aioc_spawn(read_blocked, bufs[i]));
    CHECK_ERR(aioc_sleep(0.02), 0);
    CHECK_EQ(aioc_uring_ops_in_flight(), 4);
    return NULL; /* the loop ends with them in flight */
}

static void *nothing(void *arg) { return arg; }

/* aioc_run cancels the tasks left, and the ring's teardown waits for the
 * kernel to give their operations back before freeing them. */
TEST(loop_ends_with_reads_in_flight) {
    shutdown_fifo = new_fifo();
    CHECK_ERR(aioc_run(nothing, NULL, NULL), 0); /* what a loop keeps for good */
    int fds = open_fds();
    CHECK_ERR(aioc_run(start_blocked_reads, NULL, NULL), 0);
    CHECK_EQ(aioc_uring_ops_in_flight(), 0);
    CHECK_ERR(aioc_file_close(blocked), 0);
    CHECK_EQ(open_fds(), fds); /* the ring and its eventfd closed too */
}

static char thread_file[128];

static void *read_in_loop(void *arg) {
    (void)arg;
    for (int i = 0; i < 200; i++) {
        aioc_file *f = aioc_file_open(thread_file, O_RDONLY, 0, NULL);
        if (!f)
            return aioc_fail(-EIO);
        char buf[64];
        long r = aioc_file_pread(f, buf, sizeof buf, 0);
        aioc_file_close(f);
        if (r != 5 || memcmp(buf, "loops", 5))
            return aioc_fail(-EILSEQ);
    }
    return NULL;
}

static void *thread_main(void *arg) {
    (void)arg;
    return (void *)(intptr_t)aioc_run(read_in_loop, NULL, NULL);
}

/* Loops in two threads at once, each with its ring. */
TEST(rings_per_loop_in_threads) {
    strcpy(dir, "/tmp/aioc-uring-XXXXXX");
    CHECK(mkdtemp(dir));
    atexit(remove_dir);
    snprintf(thread_file, sizeof thread_file, "%s/f", dir);
    FILE *f = fopen(thread_file, "w");
    CHECK(f);
    CHECK_EQ(fputs("loops", f) >= 0, 1);
    CHECK_EQ(fclose(f), 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, thread_main, NULL), 0);
    for (int i = 0; i < 2; i++) {
        void *status;
        CHECK_EQ(pthread_join(th[i], &status), 0);
        CHECK_ERR((int)(intptr_t)status, 0);
    }
    CHECK_EQ(aioc_uring_ops_in_flight(), 0);
}
