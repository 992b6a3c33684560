/* Files (aioc_file_*, aioc_fs_*): every operation and its errors, the
 * errors a real system gives (EACCES, EFBIG, ENOSPC, a file removed while
 * read), cancellation whose late results are released (ASan/LSan and
 * Valgrind see any leak), many reads at once, and atomic replacement.
 * Each test works in a scratch directory removed at exit, even when a
 * check fails. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "file.h"
#include "test.h"

/* File work not yet released: the pool's jobs, and in the suite that runs
 * these tests on io_uring (adapters/uring/tests) the ring's operations
 * too (it defines FILE_WORK_ALIVE). */
#ifndef FILE_WORK_ALIVE
#define FILE_WORK_ALIVE() aioc__file_jobs_alive()
#endif

static char scratch_dir[64];

static void remove_scratch(void) {
    if (!scratch_dir[0])
        return;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s/tiny", scratch_dir);
    umount2(cmd, MNT_DETACH); /* the tmpfs of a test that failed, if any */
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx %s 2>/dev/null; rm -rf %s", scratch_dir, scratch_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", scratch_dir);
    scratch_dir[0] = '\0';
}

/* A new scratch directory; `name` inside it into buf. */
static const char *in_scratch(char *buf, size_t n, const char *name) {
    if (!scratch_dir[0]) {
        strcpy(scratch_dir, "/tmp/aioc-file-XXXXXX");
        CHECK(mkdtemp(scratch_dir));
        atexit(remove_scratch);
    }
    snprintf(buf, n, "%s/%s", scratch_dir, name);
    return buf;
}

#define PATH(var, name)                                                                            \
    char var##_buf[256];                                                                           \
    const char *var = in_scratch(var##_buf, sizeof var##_buf, name)

/* Waits (60 s at most) until all file work has been freed: a late job's
 * cleanup has run on its thread, a late io_uring completion has been
 * reaped by the loop (so a task waits with aioc_sleep, letting it run). */
static void wait_jobs_freed(void) {
    for (int i = 0; i < 6000 && FILE_WORK_ALIVE(); i++) {
        if (aioc_current().id)
            aioc_sleep(0.01);
        else
            usleep(10000);
    }
    CHECK_EQ(FILE_WORK_ALIVE(), 0);
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

TASK_TEST(file_read_write_pread_pwrite_sync_stat) {
    PATH(p, "data");
    int err = 1;
    aioc_file *f = aioc_file_open(p, O_RDWR | O_CREAT | O_TRUNC, 0644, &err);
    CHECK(f);
    CHECK_ERR(err, 0);
    CHECK(aioc_file_fd(f) >= 0);
    CHECK_EQ(aioc_file_write(f, "hello world", 11), 11);
    CHECK_EQ(aioc_file_write_some(f, "!", 1), 1);
    CHECK_EQ(aioc_file_pwrite(f, "HELLO", 5, 0), 5);
    CHECK_EQ(aioc_file_pwrite_some(f, "W", 1, 6), 1);
    CHECK_ERR(aioc_file_sync(f), 0);
    CHECK_ERR(aioc_file_datasync(f), 0);
    struct stat st;
    CHECK_ERR(aioc_file_stat(f, &st), 0);
    CHECK_EQ(st.st_size, 12);
    char buf[64] = {0};
    CHECK_EQ(aioc_file_pread(f, buf, sizeof buf, 0), 12); /* short: the end */
    CHECK(!memcmp(buf, "HELLO World!", 12));
    CHECK_EQ(aioc_file_pread_some(f, buf, 3, 6), 3);
    CHECK(!memcmp(buf, "Wor", 3));
    CHECK_EQ(aioc_file_pread(f, buf, 4, 100), 0); /* past the end */
    CHECK_EQ(lseek(aioc_file_fd(f), 0, SEEK_SET), 0);
    CHECK_EQ(aioc_file_read(f, buf, 5), 5); /* the position advances */
    CHECK_EQ(aioc_file_read_some(f, buf + 5, 100), 7);
    CHECK(!memcmp(buf, "HELLO World!", 12));
    CHECK_EQ(aioc_file_read(f, buf, 10), 0);
    CHECK_EQ(aioc_file_read(f, buf, 0), 0);
    CHECK_ERR(aioc_file_close(f), 0);
    CHECK_ERR(aioc_file_close(NULL), 0);
    /* a large read in one call: all of it, in one trip */
    size_t big = 3u << 20;
    char *data = malloc(big), *back = malloc(big);
    CHECK(data && back);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 7);
    CHECK_ERR(aioc_fs_write_file(p, data, big, 0644), 0);
    f = aioc_file_open(p, O_RDONLY, 0, NULL);
    CHECK(f);
    CHECK_EQ(aioc_file_read(f, back, big), (long)big);
    CHECK(!memcmp(data, back, big));
    CHECK_ERR(aioc_file_close(f), 0);
    free(data);
    free(back);
    return NULL;
}

TASK_TEST(fs_whole_files_dirs_rename_copy) {
    PATH(dir, "d");
    PATH(a, "d/a.txt");
    PATH(b, "d/b.txt");
    PATH(c, "d/c.txt");
    PATH(sub, "d/sub");
    CHECK_ERR(aioc_fs_mkdir(dir, 0755), 0);
    CHECK_ERR(aioc_fs_write_file(a, "first", 5, 0600), 0);
    struct stat st;
    CHECK_ERR(aioc_fs_stat(a, &st), 0);
    CHECK_EQ(st.st_size, 5);
    CHECK_EQ(st.st_mode & 0777, 0600);
    CHECK_ERR(aioc_fs_write_file(a, "second!", 7, 0644), 0); /* keeps 0600 */
    CHECK_ERR(aioc_fs_stat(a, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    char *text = NULL;
    CHECK_EQ(aioc_fs_read_file(a, &text), 7);
    CHECK(!strcmp(text, "second!")); /* NUL-terminated */
    free(text);
    CHECK_ERR(aioc_fs_append(a, " more", 5, 0644), 0);
    CHECK_ERR(aioc_fs_append(b, "new", 3, 0644), 0); /* created */
    CHECK_EQ(aioc_fs_read_file(a, &text), 12);
    CHECK(!strcmp(text, "second! more"));
    free(text);
    CHECK_EQ(aioc_fs_copy(a, c), 12);
    CHECK_EQ(aioc_fs_read_file(c, &text), 12);
    CHECK(!strcmp(text, "second! more"));
    free(text);
    CHECK_ERR(aioc_fs_stat(c, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    CHECK(aioc_fs_copy("/proc/self/status", c) > 0); /* a size that says 0 */
    CHECK(aioc_fs_read_file(c, &text) > 0 && strstr(text, "Pid:"));
    free(text);
    CHECK_EQ(aioc_fs_read_file("/proc/self/status", &text) > 0, 1);
    free(text);
    CHECK_ERR(aioc_fs_write_file(c, "", 0, 0644), 0); /* empty */
    CHECK_EQ(aioc_fs_read_file(c, &text), 0);
    CHECK_EQ(text[0], 0);
    free(text);
    CHECK_ERR(aioc_fs_mkdir(sub, 0755), 0);
    aioc_dirent *ents = NULL;
    CHECK_EQ(aioc_fs_readdir(dir, &ents), 4);
    CHECK(!strcmp(ents[0].name, "a.txt") && ents[0].type == DT_REG);
    CHECK(!strcmp(ents[1].name, "b.txt") && !strcmp(ents[2].name, "c.txt"));
    CHECK(!strcmp(ents[3].name, "sub") && ents[3].type == DT_DIR);
    free(ents);
    CHECK_EQ(aioc_fs_readdir(sub, &ents), 0);
    free(ents);
    CHECK_ERR(aioc_fs_rename(b, c), 0);
    CHECK_EQ(aioc_fs_read_file(c, &text), 3);
    free(text);
    CHECK_ERR(aioc_fs_unlink(a), 0);
    CHECK_ERR(aioc_fs_unlink(c), 0);
    CHECK_ERR(aioc_fs_rmdir(sub), 0);
    CHECK_EQ(aioc_fs_readdir(dir, &ents), 0);
    free(ents);
    CHECK_ERR(aioc_fs_rmdir(dir), 0);
    return NULL;
}

TASK_TEST(file_errors_enoent_eisdir_ebadf_and_more) {
    PATH(missing, "missing");
    PATH(dir, "dir");
    PATH(full, "dir/x");
    PATH(f1, "f1");
    CHECK_ERR(aioc_fs_mkdir(dir, 0755), 0);
    CHECK_ERR(aioc_fs_write_file(full, "x", 1, 0644), 0);
    CHECK_ERR(aioc_fs_write_file(f1, "y", 1, 0644), 0);
    int err = 0;
    CHECK(!aioc_file_open(missing, O_RDONLY, 0, &err));
    CHECK_ERR(err, -ENOENT);
    CHECK(!aioc_file_open(dir, O_WRONLY, 0, &err));
    CHECK_ERR(err, -EISDIR);
    CHECK(!aioc_file_open(f1, O_WRONLY | O_CREAT | O_EXCL, 0644, &err));
    CHECK_ERR(err, -EEXIST);
    CHECK(!aioc_file_open(NULL, O_RDONLY, 0, &err));
    CHECK_ERR(err, -EINVAL);
    aioc_file *d = aioc_file_open(dir, O_RDONLY, 0, &err);
    CHECK(d);
    char buf[8];
    CHECK_ERR(aioc_file_read(d, buf, sizeof buf), -EISDIR);
    CHECK_ERR(aioc_file_close(d), 0);
    aioc_file *ro = aioc_file_open(f1, O_RDONLY, 0, NULL);
    CHECK(ro);
    CHECK_ERR(aioc_file_write(ro, "z", 1), -EBADF);
    CHECK_ERR(aioc_file_pread(ro, buf, 1, -1), -EINVAL);
    CHECK_ERR(aioc_file_read(ro, NULL, 1), -EINVAL);
    CHECK_ERR(aioc_file_close(ro), 0);
    aioc_file *wo = aioc_file_open(f1, O_WRONLY, 0, NULL);
    CHECK(wo);
    CHECK_ERR(aioc_file_read(wo, buf, 1), -EBADF);
    CHECK_ERR(aioc_file_close(wo), 0);
    struct stat st;
    CHECK_ERR(aioc_fs_stat(missing, &st), -ENOENT);
    CHECK_ERR(aioc_fs_stat("/proc/self/status/x", &st), -ENOTDIR);
    char *text = (char *)"untouched";
    CHECK_ERR(aioc_fs_read_file(missing, &text), -ENOENT);
    CHECK_ERR(aioc_fs_read_file(dir, &text), -EISDIR);
    CHECK(!strcmp(text, "untouched"));
    CHECK_ERR(aioc_fs_write_file(dir, "x", 1, 0644), -EISDIR);
    PATH(nodir, "nodir/file");
    CHECK_ERR(aioc_fs_write_file(nodir, "x", 1, 0644), -ENOENT);
    CHECK_ERR(aioc_fs_append(dir, "x", 1, 0644), -EISDIR);
    CHECK_ERR(aioc_fs_rename(missing, f1), -ENOENT);
    CHECK_ERR(aioc_fs_rename(f1, dir), -EISDIR);
    CHECK_ERR(aioc_fs_unlink(missing), -ENOENT);
    CHECK_ERR(aioc_fs_unlink(dir), -EISDIR);
    CHECK_ERR(aioc_fs_mkdir(dir, 0755), -EEXIST);
    CHECK_ERR(aioc_fs_mkdir(nodir, 0755), -ENOENT);
    CHECK_ERR(aioc_fs_rmdir(dir), -ENOTEMPTY);
    CHECK_ERR(aioc_fs_rmdir(f1), -ENOTDIR);
    aioc_dirent *ents = NULL;
    CHECK_ERR(aioc_fs_readdir(missing, &ents), -ENOENT);
    CHECK_ERR(aioc_fs_readdir(f1, &ents), -ENOTDIR);
    CHECK(!ents);
    CHECK_ERR(aioc_fs_copy(missing, full), -ENOENT);
    CHECK_ERR(aioc_fs_copy(dir, missing), -EISDIR);
    CHECK_ERR(aioc_fs_copy(f1, f1), -EINVAL);
    CHECK_EQ(aioc_fs_read_file(f1, &text), 1); /* not truncated */
    free(text);
    /* nothing was left behind by the failed atomic writes */
    CHECK_EQ(aioc_fs_readdir(dir, &ents), 1);
    free(ents);
    return NULL;
}

/* aioc_file_from_fd: the handle takes the descriptor over (reads
 * through it, closes it); a negative descriptor is -EBADF in *err, which
 * may be NULL. */
TASK_TEST(file_from_fd_takes_the_descriptor_over_or_is_ebadf) {
    PATH(p, "adopted");
    CHECK_ERR(aioc_fs_write_file(p, "abc", 3, 0644), 0);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    int err = 1;
    aioc_file *f = aioc_file_from_fd(fd, &err);
    CHECK(f);
    CHECK_ERR(err, 0);
    CHECK_EQ(aioc_file_fd(f), fd);
    char buf[8];
    CHECK_EQ(aioc_file_read(f, buf, sizeof buf), 3);
    CHECK(!memcmp(buf, "abc", 3));
    CHECK_ERR(aioc_file_close(f), 0);
    CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF); /* closed with the handle */
    CHECK(!aioc_file_from_fd(-1, &err));
    CHECK_ERR(err, -EBADF);
    CHECK(!aioc_file_from_fd(-1, NULL));
    return NULL;
}

TEST(file_calls_outside_a_task_are_enotask) {
    PATH(p, "x");
    int err = 0;
    CHECK(!aioc_file_open(p, O_RDONLY | O_CREAT, 0644, &err));
    CHECK_ERR(err, AIOC_ENOTASK);
    char *text;
    CHECK_ERR(aioc_fs_read_file(p, &text), AIOC_ENOTASK);
    CHECK_ERR(aioc_fs_write_file(p, "x", 1, 0644), AIOC_ENOTASK);
    CHECK_ERR(access(p, F_OK), -1); /* nothing done */
    CHECK_EQ(FILE_WORK_ALIVE(), 0);
}

/* EACCES: root passes permission checks, so as root the checks run in a
 * child that has become "nobody" (uid and gid 65534) before its loop
 * starts; otherwise in this process. The file has mode 000 and the
 * directory mode 000, in a scratch directory others may search. */
static void *eacces_checks(void *arg) {
    const char **paths = arg; /* file, closed dir, file in it */
    int err = 0;
    CHECK(!aioc_file_open(paths[0], O_RDONLY, 0, &err));
    CHECK_ERR(err, -EACCES);
    char *text;
    CHECK_ERR(aioc_fs_read_file(paths[0], &text), -EACCES);
    CHECK_ERR(aioc_fs_append(paths[0], "x", 1, 0644), -EACCES);
    struct stat st;
    CHECK_ERR(aioc_fs_stat(paths[2], &st), -EACCES);
    aioc_dirent *ents;
    CHECK_ERR(aioc_fs_readdir(paths[1], &ents), -EACCES);
    CHECK_ERR(aioc_fs_write_file(paths[2], "x", 1, 0644), -EACCES);
    return NULL;
}

TEST(file_errors_eacces) {
    PATH(file, "locked");
    PATH(closed, "closed");
    PATH(inner, "closed/inner");
    CHECK_EQ(chmod(scratch_dir, 0755), 0);
    CHECK_EQ(close(open(file, O_CREAT | O_WRONLY, 0000)), 0);
    CHECK_EQ(mkdir(closed, 0755), 0);
    CHECK_EQ(close(open(inner, O_CREAT | O_WRONLY, 0644)), 0);
    CHECK_EQ(chmod(file, 0), 0);
    CHECK_EQ(chmod(closed, 0), 0);
    const char *paths[] = {file, closed, inner};
    if (geteuid() != 0) {
        CHECK_ERR(aioc_run(eacces_checks, paths, NULL), 0);
        return;
    }
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        scratch_dir[0] = '\0'; /* the parent removes it */
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(3);
        _exit(aioc_run(eacces_checks, paths, NULL) == 0 ? 0 : 1);
    }
    int status;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
}

TASK_TEST(file_errors_efbig_past_the_size_limit) {
    PATH(p, "big");
    struct rlimit old, lim;
    CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN); /* the write then fails with EFBIG */
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char buf[8192] = {0};
    aioc_file *f = aioc_file_open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644, NULL);
    CHECK(f);
    CHECK_ERR(aioc_file_pwrite(f, buf, 10, 5000), -EFBIG);
    CHECK_ERR(aioc_file_write(f, buf, sizeof buf), -EFBIG); /* after 4096 */
    CHECK_ERR(aioc_file_close(f), 0);
    PATH(q, "big2");
    CHECK_ERR(aioc_fs_write_file(q, buf, sizeof buf, 0644), -EFBIG);
    CHECK_ERR(access(q, F_OK), -1); /* never half there */
    aioc_dirent *ents;
    CHECK_EQ(aioc_fs_readdir(scratch_dir, &ents), 1); /* no temporary left */
    free(ents);
    CHECK_ERR(aioc_fs_append(p, buf, sizeof buf, 0644), -EFBIG);
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    return NULL;
}

/* ENOSPC on a 64 KiB tmpfs, where this process may mount one (root with
 * CAP_SYS_ADMIN); elsewhere it says so and passes. */
TASK_TEST(file_errors_enospc_on_a_tiny_tmpfs) {
    PATH(mnt, "tiny");
    CHECK_EQ(mkdir(mnt, 0755), 0);
    if (mount("aioc-tiny", mnt, "tmpfs", 0, "size=64k") != 0) {
        fprintf(stderr, "no tmpfs could be mounted (%s): ENOSPC not checked\n", strerror(errno));
        return NULL;
    }
    PATH(p, "tiny/fill");
    size_t n = 1 << 20;
    char *buf = calloc(1, n);
    CHECK(buf);
    aioc_file *f = aioc_file_open(p, O_WRONLY | O_CREAT, 0644, NULL);
    CHECK(f);
    CHECK_ERR(aioc_file_write(f, buf, n), -ENOSPC);
    CHECK_ERR(aioc_file_close(f), 0);
    PATH(q, "tiny/atomic");
    CHECK_ERR(aioc_fs_write_file(q, buf, n, 0644), -ENOSPC);
    CHECK_ERR(access(q, F_OK), -1);
    PATH(r, "tiny/copy");
    PATH(src, "src");
    CHECK_ERR(aioc_fs_write_file(src, buf, n, 0644), 0);
    CHECK_ERR(aioc_fs_copy(src, r), -ENOSPC);
    free(buf);
    CHECK_EQ(umount2(mnt, MNT_DETACH), 0);
    return NULL;
}

TASK_TEST(file_removed_while_being_read) {
    PATH(p, "gone");
    char data[10000];
    memset(data, 'r', sizeof data);
    CHECK_ERR(aioc_fs_write_file(p, data, sizeof data, 0644), 0);
    aioc_file *f = aioc_file_open(p, O_RDONLY, 0, NULL);
    CHECK(f);
    char buf[sizeof data];
    CHECK_EQ(aioc_file_read(f, buf, 100), 100);
    CHECK_ERR(aioc_fs_unlink(p), 0);
    CHECK_EQ(aioc_file_read(f, buf + 100, sizeof buf), (long)sizeof data - 100);
    CHECK(!memcmp(buf, data, sizeof data)); /* the open file lives on */
    CHECK_ERR(aioc_file_close(f), 0);
    char *text;
    CHECK_ERR(aioc_fs_read_file(p, &text), -ENOENT);
    return NULL;
}

/* ------------------------------------------------------ cancellation -- */

/* A FIFO blocks a job as long as the test likes: its open waits for a
 * writer, its read for data. */
static char fifo[256];

static void *read_whole_fifo(void *arg) {
    (void)arg;
    char *text = NULL;
    long r = aioc_fs_read_file(fifo, &text);
    CHECK_ERR(r, -ECANCELED);
    CHECK(!text);
    return NULL;
}

/* Opens the FIFO for writing once its reader (the job) has it open. */
static int open_writer_when_read(void) {
    for (int i = 0; i < 60000; i++) {
        int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0)
            return fd;
        CHECK_EQ(errno, ENXIO); /* no reader yet */
        aioc_sleep(0.001);
    }
    CHECK(!"the job never opened the FIFO");
    return -1;
}

TASK_TEST(file_cancel_mid_read_frees_the_late_result) {
    in_scratch(fifo, sizeof fifo, "fifo");
    CHECK_EQ(mkfifo(fifo, 0600), 0);
    /* a first call, so that what the engine keeps per loop (a ring and
     * its eventfd) is there before the descriptors are counted */
    aioc_file *first = aioc_file_open(fifo, O_RDWR, 0, NULL);
    CHECK(first);
    CHECK_ERR(aioc_file_close(first), 0);
    int fds = open_fds();
    /* aioc_fs_read_file: cancelled while its job reads; the job then makes
     * a buffer nobody takes */
    aioc_task t = aioc_spawn(read_whole_fifo, NULL);
    int w = open_writer_when_read(); /* the job is past its open, reading */
    CHECK_ERR(aioc_cancel(t), 0);
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED); /* (its own checks passed) */
    CHECK_EQ(FILE_WORK_ALIVE(), 1);             /* still blocked in read */
    char chunk[5000];
    memset(chunk, 'c', sizeof chunk);
    CHECK_EQ(write(w, chunk, sizeof chunk), (long)sizeof chunk);
    CHECK_EQ(close(w), 0); /* end of file: the job ends, its buffer is freed */
    wait_jobs_freed();
    CHECK_EQ(open_fds(), fds);

    /* aioc_file_read under a deadline, the handle closed while its job
     * still reads: the descriptor is closed when the job ends */
    aioc_file *f = aioc_file_open(fifo, O_RDWR, 0, NULL); /* no wait on a FIFO */
    CHECK(f);
    aioc_scope s;
    aioc_scope_enter(&s, 0.05);
    char buf[100];
    memset(buf, 'u', sizeof buf);
    CHECK_ERR(aioc_file_read(f, buf, sizeof buf), -ETIMEDOUT);
    aioc_scope_exit(&s);
    CHECK_ERR(aioc_file_close(f), 0);
    CHECK_EQ(FILE_WORK_ALIVE(), 1);
    CHECK_EQ(open_fds(), fds + 1); /* the job's reference keeps it open */
    w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(w >= 0);
    CHECK_EQ(write(w, chunk, sizeof buf), (long)sizeof buf);
    wait_jobs_freed();
    CHECK_EQ(close(w), 0);
    CHECK_EQ(open_fds(), fds);
    CHECK_EQ(buf[0], 'u'); /* the caller's buffer was never written */

    /* aioc_file_open cancelled while it waits in open(2) for a writer: on
     * the pool the open goes on and the descriptor it gets once a writer
     * comes is closed on the pool's thread; io_uring interrupts the open
     * itself. Either way nothing is left once the work is released. */
    aioc_scope_enter(&s, 0.05);
    int err = 0;
    CHECK(!aioc_file_open(fifo, O_RDONLY, 0, &err));
    CHECK_ERR(err, -ETIMEDOUT);
    aioc_scope_exit(&s);
    w = -1;
    for (int i = 0; i < 60000 && w < 0 && FILE_WORK_ALIVE(); i++) {
        w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC); /* a reader: the open still waits */
        if (w < 0)
            aioc_sleep(0.001);
    }
    wait_jobs_freed();
    if (w >= 0)
        CHECK_EQ(close(w), 0);
    CHECK_EQ(open_fds(), fds);

    /* a caller cancelled before the call: nothing runs */
    aioc_scope_enter(&s, 0);
    char *text = NULL;
    CHECK_ERR(aioc_fs_read_file(fifo, &text), -ETIMEDOUT);
    aioc_scope_exit(&s);
    CHECK_EQ(FILE_WORK_ALIVE(), 0);
    return NULL;
}

/* ------------------------------------------------------------- scale -- */

static char shared_path[256];
static aioc_file *shared_file;

static void *read_block(void *arg) {
    long i = (long)(intptr_t)arg;
    unsigned char buf[64];
    long r = aioc_file_pread(shared_file, buf, sizeof buf, i * 64);
    if (r != (long)sizeof buf)
        return aioc_fail(r < 0 ? (int)r : -EIO);
    for (size_t k = 0; k < sizeof buf; k++)
        if (buf[k] != (unsigned char)(i + (long)k))
            return aioc_fail(-EILSEQ);
    if (i % 10 == 0) { /* and some whole-file reads */
        char *text;
        r = aioc_fs_read_file(shared_path, &text);
        free(text);
        if (r != 64 * 10000)
            return aioc_fail(-EIO);
    }
    return NULL;
}

static void concurrent_reads(long n) {
    in_scratch(shared_path, sizeof shared_path, "blocks");
    unsigned char *data = malloc(64 * 10000);
    CHECK(data);
    for (long i = 0; i < 10000; i++)
        for (long k = 0; k < 64; k++)
            data[i * 64 + k] = (unsigned char)(i + k);
    CHECK_ERR(aioc_fs_write_file(shared_path, data, 64 * 10000, 0644), 0);
    free(data);
    shared_file = aioc_file_open(shared_path, O_RDONLY, 0, NULL);
    CHECK(shared_file);
    aioc_task *tasks = malloc((size_t)n * sizeof *tasks);
    CHECK(tasks);
    for (long i = 0; i < n; i++)
        tasks[i] = aioc_spawn_with(read_block, (void *)(intptr_t)i,
                                   &(aioc_spawn_opts){.stack_size = 32768});
    CHECK_ERR(aioc_gather(tasks, (size_t)n, NULL), 0);
    free(tasks);
    CHECK_ERR(aioc_file_close(shared_file), 0);
    CHECK_EQ(FILE_WORK_ALIVE(), 0);
}

TASK_TEST(file_hundred_concurrent_reads) {
    concurrent_reads(100);
    return NULL;
}

TASK_TEST(file_ten_thousand_concurrent_reads) {
    concurrent_reads(10000);
    return NULL;
}

/* --------------------------------------------------------- atomicity -- */

static char atomic_path[256];
static volatile int writing_done;

static void *rewrite_many(void *arg) {
    long rounds = (long)(intptr_t)arg;
    size_t na = 30000, nb = 70000;
    char *a = malloc(na), *b = malloc(nb);
    CHECK(a && b);
    memset(a, 'a', na);
    memset(b, 'b', nb);
    for (long i = 0; i < rounds; i++) {
        if (i % 5 == 4) { /* cut short by a deadline: either content stays */
            aioc_scope s;
            aioc_scope_enter(&s, 0.0005);
            int err = aioc_fs_write_file(atomic_path, i % 2 ? b : a, i % 2 ? nb : na, 0644);
            CHECK(err == 0 || err == -ETIMEDOUT);
            aioc_scope_exit(&s);
        } else {
            CHECK_ERR(aioc_fs_write_file(atomic_path, i % 2 ? b : a, i % 2 ? nb : na, 0644), 0);
        }
    }
    free(a);
    free(b);
    writing_done = 1;
    return NULL;
}

static void *check_contents(void *arg) {
    (void)arg;
    long seen = 0;
    while (!writing_done || seen == 0) {
        char *text = NULL;
        long n = aioc_fs_read_file(atomic_path, &text);
        CHECK(n == 30000 || n == 70000);
        char c = n == 30000 ? 'a' : 'b';
        for (long i = 0; i < n; i++)
            CHECK_EQ(text[i], c);
        free(text);
        seen++;
    }
    return NULL;
}

TASK_TEST(file_atomic_write_leaves_old_or_new_content) {
    in_scratch(atomic_path, sizeof atomic_path, "atomic");
    char a[30000];
    memset(a, 'a', sizeof a);
    CHECK_ERR(aioc_fs_write_file(atomic_path, a, sizeof a, 0644), 0);
    writing_done = 0;
    aioc_task t[3] = {aioc_spawn(rewrite_many, (void *)(intptr_t)60),
                      aioc_spawn(check_contents, NULL), aioc_spawn(check_contents, NULL)};
    CHECK_ERR(aioc_gather(t, 3, NULL), 0);
    wait_jobs_freed(); /* cut-short writes end on their threads */
    aioc_dirent *ents;
    CHECK_EQ(aioc_fs_readdir(scratch_dir, &ents), 1); /* no temporary left */
    CHECK(!strcmp(ents[0].name, "atomic"));
    free(ents);
    return NULL;
}

/* ------------------------------------------------------------ engine -- */

static int counted_opens;

static int counting_open(const char *path, int flags, unsigned mode) {
    counted_opens++;
    return aioc_file_engine_pool()->open(path, flags, mode);
}

static long pool_rw(aioc_file *f, void *buf, size_t n, int64_t offset, unsigned how) {
    return aioc_file_engine_pool()->rw(f, buf, n, offset, how);
}

static int pool_sync(aioc_file *f, int data_only) {
    return aioc_file_engine_pool()->sync(f, data_only);
}

static int pool_stat(aioc_file *f, struct stat *st) { return aioc_file_engine_pool()->stat(f, st); }

/* An engine of the test's own is used by every per-file call until the
 * default comes back; AIOC_FILE_ENGINE pins one. */
TASK_TEST(file_engine_set_get_and_pinned) {
    const aioc_file_engine *before = aioc_file_engine_get();
    CHECK(before && before->name);
    CHECK(!strcmp(aioc_file_engine_pool()->name, "pool"));
    static const aioc_file_engine counting = {.name = "counting",
                                              .open = counting_open,
                                              .rw = pool_rw,
                                              .sync = pool_sync,
                                              .stat = pool_stat};
    static const aioc_file_engine broken = {.name = "broken", .open = counting_open};
    CHECK_ERR(aioc_file_engine_set(&broken), -EINVAL);
    CHECK(aioc_file_engine_get() == before);
    CHECK_ERR(aioc_file_engine_set(&counting), 0);
    CHECK(aioc_file_engine_get() == &counting);
    PATH(p, "engine");
    counted_opens = 0;
    aioc_file *f = aioc_file_open(p, O_RDWR | O_CREAT, 0644, NULL);
    CHECK(f);
    CHECK_EQ(counted_opens, 1);
    CHECK_EQ(aioc_file_write(f, "abc", 3), 3);
    CHECK_ERR(aioc_file_close(f), 0);
    CHECK_ERR(aioc_file_engine_set(NULL), 0); /* the pool again */
    CHECK(aioc_file_engine_get() == aioc_file_engine_pool());
    CHECK_ERR(setenv("AIOC_FILE_ENGINE", "pool", 1), 0);
    CHECK(!strcmp(aioc_file_engine_forced(), "pool"));
    CHECK_ERR(aioc_file_engine_set(&counting), -EPERM);
    CHECK(aioc_file_engine_get() == aioc_file_engine_pool());
    CHECK_ERR(unsetenv("AIOC_FILE_ENGINE"), 0);
    CHECK(!aioc_file_engine_forced());
    CHECK_ERR(aioc_file_engine_set(before), 0);
    return NULL;
}

/* ----------------------------------------------------- partial writes -- */

/* A FIFO takes 64 KiB at a time: a 1 MiB aioc_file_write goes in many
 * partial writes, each continuing where the last stopped, while a task
 * reads the other end; every byte arrives once, in order. */
static int fifo_reader_fd;

static void *read_fifo_back(void *arg) {
    size_t n = (size_t)(intptr_t)arg, got = 0;
    unsigned char buf[8192];
    while (got < n) {
        long r = aioc_read(fifo_reader_fd, buf, sizeof buf);
        if (r <= 0)
            return aioc_fail(r < 0 ? (int)r : -EIO);
        for (long i = 0; i < r; i++)
            if (buf[i] != (unsigned char)((got + (size_t)i) % 251))
                return aioc_fail(-EILSEQ);
        got += (size_t)r;
    }
    return NULL;
}

TASK_TEST(file_partial_writes_continue_where_they_stopped) {
    PATH(p, "pipe");
    CHECK_EQ(mkfifo(p, 0600), 0);
    fifo_reader_fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(fifo_reader_fd >= 0);
    aioc_file *w = aioc_file_open(p, O_WRONLY, 0, NULL); /* a reader is there */
    CHECK(w);
    size_t n = 1 << 20;
    unsigned char *data = malloc(n);
    CHECK(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i % 251);
    aioc_task reader = aioc_spawn(read_fifo_back, (void *)(intptr_t)n);
    CHECK_EQ(aioc_file_write(w, data, n), (long)n);
    CHECK_ERR(aioc_await(reader, NULL), 0);
    free(data);
    CHECK_ERR(aioc_file_close(w), 0);
    CHECK_ERR(aioc_close(fifo_reader_fd), 0);
    return NULL;
}

/* ------------------------------------------- many reads cancelled -- */

static aioc_file *many_file;

static void *read_64k(void *arg) {
    char *buf = malloc(65536);
    if (!buf)
        return aioc_fail(-ENOMEM);
    long r = aioc_file_pread(many_file, buf, 65536, (int64_t)(intptr_t)arg * 65536);
    free(buf); /* at once: the engine must not write here any more */
    return r == 65536 ? NULL : aioc_fail(r < 0 ? (int)r : -EIO);
}

/* 1,000 reads started, then all cancelled while they are in flight (or
 * not yet begun): each returns 0 or -ECANCELED, the callers free their
 * buffers at once, and all the engine's work is released (ASan and
 * Valgrind watch the buffers). */
TASK_TEST(file_cancel_many_reads_in_flight) {
    PATH(p, "many");
    size_t size = 16u << 20;
    char *data = calloc(1, size);
    CHECK(data);
    CHECK_ERR(aioc_fs_write_file(p, data, size, 0644), 0);
    free(data);
    many_file = aioc_file_open(p, O_RDONLY, 0, NULL);
    CHECK(many_file);
    enum { N = 1000 };
    static aioc_task tasks[N];
    for (long i = 0; i < N; i++)
        tasks[i] = aioc_spawn_with(read_64k, (void *)(intptr_t)(i % 256),
                                   &(aioc_spawn_opts){.stack_size = 32768});
    CHECK_ERR(aioc_yield(), 0); /* they start and submit */
    for (long i = 0; i < N; i++)
        CHECK_ERR(aioc_cancel(tasks[i]), 0);
    for (long i = 0; i < N; i++) {
        int st = aioc_await(tasks[i], NULL);
        CHECK(st == 0 || st == -ECANCELED);
    }
    CHECK_ERR(aioc_file_close(many_file), 0);
    wait_jobs_freed();
    return NULL;
}

/* ------------------------------------------------------------ zero copy -- */

static aioc_file *zc_fifo;
static volatile int zc_returned; /* the reader's call has returned */

/* Reads the FIFO in zero-copy mode while its deadline (`arg` non-NULL) or
 * a cancel comes: the call still returns what it read, into the caller's
 * own buffer, and the interruption comes at the next suspension point. */
static void *zero_copy_reader(void *arg) {
    char *buf = malloc(100); /* freed as soon as the call returns */
    CHECK(buf);
    memset(buf, 'u', 100);
    aioc_scope s;
    if (arg)
        aioc_scope_enter(&s, 0.05);
    long r = aioc_file_read_some(zc_fifo, buf, 100);
    zc_returned = 1;
    CHECK_EQ(r, 5L);
    CHECK(!memcmp(buf, "bytes", 5)); /* read straight into it */
    CHECK_EQ(buf[5], 'u');
    free(buf);
    int err = aioc_sleep(0); /* the interruption, now delivered */
    if (arg)
        aioc_scope_exit(&s);
    return (void *)(intptr_t)err;
}

/* aioc_file_set_zero_copy: reads and writes use the caller's buffer, and
 * a call returns only when its system call is done with it, even when
 * cancelled or past its deadline meanwhile; one already interrupted does
 * nothing. */
TASK_TEST(file_zero_copy_waits_for_its_system_call) {
    CHECK_ERR(aioc_file_set_zero_copy(NULL, 1), -EINVAL);
    PATH(p, "zero-copy");
    aioc_file *f = aioc_file_open(p, O_RDWR | O_CREAT | O_TRUNC, 0600, NULL);
    CHECK(f);
    CHECK_ERR(aioc_file_set_zero_copy(f, 1), 0);
    size_t size = 1u << 20;
    char *out = malloc(size), *in = malloc(size);
    CHECK(out && in);
    for (size_t i = 0; i < size; i++)
        out[i] = (char)(i * 7 + i / 4096);
    CHECK_EQ(aioc_file_pwrite(f, out, size, 4096), (long)size);
    CHECK_EQ(aioc_file_write(f, "head", 4), 4L); /* at the position: 0 */
    CHECK_EQ(aioc_file_pread(f, in, size, 4096), (long)size);
    CHECK(!memcmp(in, out, size));
    CHECK_EQ(aioc_file_pread(f, in, 10, 0), 10L);
    CHECK(!memcmp(in, "head\0\0\0\0\0\0", 10));
    CHECK_EQ(aioc_file_read(f, in, 4092), 4092L); /* from the position, 4 */
    CHECK_EQ(aioc_file_read_some(f, in, 3), 3L);
    CHECK(!memcmp(in, out, 3));
    CHECK_EQ(aioc_file_pread(f, NULL, 0, 0), 0L);
    CHECK_ERR(aioc_file_set_zero_copy(f, 0), 0); /* copies again */
    CHECK_EQ(aioc_file_pread(f, in, 4, 0), 4L);
    CHECK(!memcmp(in, "head", 4));
    free(in);
    free(out);
    CHECK_ERR(aioc_file_close(f), 0);

    in_scratch(fifo, sizeof fifo, "zero-copy-fifo");
    CHECK_EQ(mkfifo(fifo, 0600), 0);
    zc_fifo = aioc_file_open(fifo, O_RDWR, 0, NULL); /* no wait on a FIFO */
    CHECK(zc_fifo);
    CHECK_ERR(aioc_file_set_zero_copy(zc_fifo, 1), 0);
    int w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(w >= 0);
    for (int how = 0; how < 2; how++) { /* a deadline, then a cancel */
        zc_returned = 0;
        aioc_task t = aioc_spawn(zero_copy_reader, how == 0 ? (void *)1 : NULL);
        while (!FILE_WORK_ALIVE()) /* its read is on its way */
            CHECK_ERR(aioc_sleep(0.001), 0);
        if (how == 1)
            CHECK_ERR(aioc_cancel(t), 0);
        CHECK_ERR(aioc_sleep(0.2), 0); /* past the reader's 0.05 s deadline */
        CHECK_EQ(zc_returned, 0);      /* still in its read(2) */
        CHECK_EQ(write(w, "bytes", 5), 5L);
        void *err = NULL;
        int st = aioc_await(t, &err);
        if (how == 0) {
            CHECK_ERR(st, 0);
            CHECK_ERR((int)(intptr_t)err, -ETIMEDOUT);
        } else {
            CHECK_ERR(st, -ECANCELED);
        }
        CHECK_EQ(zc_returned, 1);
        wait_jobs_freed();
    }
    /* interrupted before the call: nothing is done */
    aioc_scope s;
    aioc_scope_enter(&s, 0);
    char c;
    CHECK_ERR(aioc_file_read_some(zc_fifo, &c, 1), -ETIMEDOUT);
    CHECK_EQ(FILE_WORK_ALIVE(), 0);
    aioc_scope_exit(&s);
    CHECK_EQ(close(w), 0);
    CHECK_ERR(aioc_file_close(zc_fifo), 0);
    return NULL;
}
