/* File jobs on the thread pool, and the pool engine of aioc_file_*.
 *
 * A job goes to the pool through aioc_to_thread_with, whose cleanup
 * contract makes ownership exact: on success the job comes back to the
 * caller; on any error the cleanup gets it exactly once, when the work no
 * longer runs (at once if it never started or is already over, else on
 * the pool thread as the work ends), and releases what the work made.
 * Reads and writes go through the job's own buffer, so a job that
 * outlives its caller never touches the caller's memory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

static unsigned long jobs_alive; /* atomic */

/* ---------------------------------------------------- bounce buffers -- */

#define BOUNCE_MIN 4096            /* the smallest class: a page */
#define BOUNCE_CLASSES 11          /* 4 KiB to 4 MiB; larger ones are not kept */
#define BOUNCE_KEEP 64             /* buffers kept per class, at most */
#define BOUNCE_KEPT_MAX (32 << 20) /* bytes kept in all, at most */

static pthread_mutex_t bounce_lock = PTHREAD_MUTEX_INITIALIZER;
static void *bounce_kept[BOUNCE_CLASSES][BOUNCE_KEEP];
static unsigned bounce_count[BOUNCE_CLASSES];
static size_t bounce_bytes;

/* The class of n bytes (its capacity BOUNCE_MIN << class), or -1. */
static int bounce_class(size_t n) {
    for (int c = 0; c < BOUNCE_CLASSES; c++)
        if (n <= (size_t)BOUNCE_MIN << c)
            return c;
    return -1;
}

void *aioc__bounce_get(size_t n, size_t *cap) {
    int c = bounce_class(n);
    void *p = NULL;
    if (c >= 0) {
        pthread_mutex_lock(&bounce_lock);
        if (bounce_count[c]) {
            p = bounce_kept[c][--bounce_count[c]];
            bounce_bytes -= (size_t)BOUNCE_MIN << c;
        }
        pthread_mutex_unlock(&bounce_lock);
        n = (size_t)BOUNCE_MIN << c;
    }
    *cap = n ? n : 1;
    if (!p && posix_memalign(&p, 4096, *cap) != 0)
        p = NULL;
    return p;
}

void aioc__bounce_put(void *buf, size_t cap) {
    int c = bounce_class(cap);
    if (c >= 0 && cap == (size_t)BOUNCE_MIN << c) {
        pthread_mutex_lock(&bounce_lock);
        bool keep = bounce_count[c] < BOUNCE_KEEP && bounce_bytes + cap <= BOUNCE_KEPT_MAX;
        if (keep) {
            bounce_kept[c][bounce_count[c]++] = buf;
            bounce_bytes += cap;
        }
        pthread_mutex_unlock(&bounce_lock);
        if (keep)
            return;
    }
    free(buf);
}

unsigned long aioc__file_jobs_alive(void) { return __atomic_load_n(&jobs_alive, __ATOMIC_ACQUIRE); }

void aioc__fjob_free(aioc__fjob *j) {
    if (j->file)
        aioc__file_unref(j->file);
    if (j->buf)
        aioc__bounce_put(j->buf, j->buf_cap);
    free(j);
    __atomic_sub_fetch(&jobs_alive, 1, __ATOMIC_RELEASE);
}

static void *job_work(void *arg) {
    aioc__fjob *j = arg;
    j->res = j->work(j);
    return j; /* not NULL: the cleanup learns that it ran */
}

static void job_cleanup(void *result, void *arg) {
    aioc__fjob *j = arg;
    if (result && j->discard)
        j->discard(j);
    aioc__fjob_free(j);
}

int aioc__fjob_run(aioc__fjob *j) {
    __atomic_add_fetch(&jobs_alive, 1, __ATOMIC_RELAXED);
    if (j->file)
        aioc__file_ref(j->file);
    int err = aioc_to_thread_with(job_work, j, NULL, job_cleanup);
    if (err == AIOC_ENOTASK) /* the one error that leaves it with us */
        aioc__fjob_free(j);
    return err;
}

/* ------------------------------------------------------------- open -- */

typedef struct open_job {
    aioc__fjob base;
    int flags;
    unsigned mode;
    char path[];
} open_job;

static long open_work(aioc__fjob *b) {
    open_job *j = (open_job *)b;
    int fd;
    do
        fd = open(j->path, j->flags | O_CLOEXEC, (mode_t)j->mode);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static void open_discard(aioc__fjob *b) {
    if (b->res >= 0)
        close((int)b->res);
}

static int pool_open(const char *path, int flags, unsigned mode) {
    size_t len = strlen(path);
    open_job *j = malloc(sizeof *j + len + 1);
    if (!j)
        return -ENOMEM;
    *j = (open_job){
        .base = {.work = open_work, .discard = open_discard}, .flags = flags, .mode = mode};
    memcpy(j->path, path, len + 1);
    int err = aioc__fjob_run(&j->base);
    if (err)
        return err;
    int fd = (int)j->base.res;
    aioc__fjob_free(&j->base);
    return fd;
}

/* -------------------------------------------------------- read, write -- */

typedef struct rw_job {
    aioc__fjob base;
    size_t n;
    int64_t offset;
    unsigned how;
    char *data; /* base.buf, or the caller's buffer (zero copy): the bytes to
                 * write, or room for those read */
} rw_job;

static long rw_work(aioc__fjob *b) {
    rw_job *j = (rw_job *)b;
    int fd = b->file->fd;
    bool write_ = j->how & AIOC_FILE_RW_WRITE, at = j->how & AIOC_FILE_RW_AT;
    size_t done = 0;
    while (done < j->n) {
        char *p = j->data + done;
        size_t left = j->n - done;
        off_t off = (off_t)(j->offset + (int64_t)done);
        ssize_t r;
        if (write_)
            r = at ? pwrite(fd, p, left, off) : write(fd, p, left);
        else
            r = at ? pread(fd, p, left, off) : read(fd, p, left);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0) /* end of file (a write of 0: nothing more will go) */
            break;
        done += (size_t)r;
        if (!(j->how & AIOC_FILE_RW_ALL))
            break;
    }
    return (long)done;
}

static long pool_rw(aioc_file *f, void *buf, size_t n, int64_t offset, unsigned how) {
    /* zero copy: the caller, shielded, waits for the job, which may use
     * its buffer; else the job has a bounce buffer of its own */
    bool direct = how & AIOC_FILE_RW_ZERO_COPY;
    rw_job *j = malloc(sizeof *j);
    if (!j)
        return -ENOMEM;
    size_t cap = 0;
    char *data = direct ? buf : aioc__bounce_get(n, &cap);
    if (!data && !direct) {
        free(j);
        return -ENOMEM;
    }
    *j = (rw_job){.base = {.work = rw_work, .file = f, .buf = direct ? NULL : data, .buf_cap = cap},
                  .n = n,
                  .offset = offset,
                  .how = how,
                  .data = data};
    if ((how & AIOC_FILE_RW_WRITE) && !direct)
        memcpy(j->data, buf, n);
    int err = aioc__fjob_run(&j->base);
    if (err)
        return err;
    long res = j->base.res;
    if (res > 0 && !(how & AIOC_FILE_RW_WRITE) && !direct)
        memcpy(buf, j->data, (size_t)res);
    aioc__fjob_free(&j->base);
    return res;
}

/* --------------------------------------------------------- sync, stat -- */

typedef struct meta_job {
    aioc__fjob base;
    bool data_only; /* sync: fdatasync */
    struct stat st; /* stat: the answer */
} meta_job;

static long sync_work(aioc__fjob *b) {
    meta_job *j = (meta_job *)b;
    int r = j->data_only ? fdatasync(b->file->fd) : fsync(b->file->fd);
    return r < 0 ? -errno : 0;
}

static long stat_work(aioc__fjob *b) {
    meta_job *j = (meta_job *)b;
    return fstat(b->file->fd, &j->st) < 0 ? -errno : 0;
}

static long run_meta(aioc_file *f, long (*work)(aioc__fjob *), bool data_only, struct stat *st) {
    meta_job *j = malloc(sizeof *j);
    if (!j)
        return -ENOMEM;
    *j = (meta_job){.base = {.work = work, .file = f}, .data_only = data_only};
    int err = aioc__fjob_run(&j->base);
    if (err)
        return err;
    long res = j->base.res;
    if (res == 0 && st)
        *st = j->st;
    aioc__fjob_free(&j->base);
    return res;
}

static int pool_sync(aioc_file *f, int data_only) {
    return (int)run_meta(f, sync_work, data_only, NULL);
}

static int pool_stat(aioc_file *f, struct stat *st) {
    return (int)run_meta(f, stat_work, false, st);
}

const aioc_file_engine aioc__file_pool_engine = {
    .name = "pool",
    .open = pool_open,
    .rw = pool_rw,
    .sync = pool_sync,
    .stat = pool_stat,
};
