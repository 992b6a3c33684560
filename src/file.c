/* aioc_file_*: the open-file handle and its calls, which the engine runs
 * (the thread pool's, src/file_pool.c, unless one was set: io_uring's). The handle is counted: each
 * job out holds a reference, so that a job still running for a caller that gave up never finds its
 * descriptor closed, or worse, reused for another file; the last reference closes it. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "scheduler.h"

static const aioc_file_engine *current = &aioc__file_pool_engine; /* atomic */

/* The engine a call starts with (it finishes on it whatever is set then). */
static const aioc_file_engine *engine(void) { return __atomic_load_n(&current, __ATOMIC_ACQUIRE); }

const char *aioc_file_engine_forced(void) {
    const char *name = getenv("AIOC_FILE_ENGINE");
    return name && *name ? name : NULL;
}

int aioc_file_engine_set(const aioc_file_engine *e) {
    if (!e)
        e = &aioc__file_pool_engine;
    if (!e->name || !e->open || !e->rw || !e->sync || !e->stat)
        return -EINVAL;
    const char *forced = aioc_file_engine_forced();
    if (forced && strcmp(forced, e->name) != 0)
        return -EPERM;
    __atomic_store_n(&current, e, __ATOMIC_RELEASE);
    return 0;
}

const aioc_file_engine *aioc_file_engine_get(void) { return engine(); }

const aioc_file_engine *aioc_file_engine_pool(void) { return &aioc__file_pool_engine; }

void aioc_file_hold(aioc_file *f) { aioc__file_ref(f); }

int aioc_file_release(aioc_file *f) { return aioc__file_unref(f); }

void aioc__file_ref(aioc_file *f) { __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED); }

int aioc__file_unref(aioc_file *f) {
    if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return 0;
    /* Linux releases the descriptor even when close fails with EINTR */
    int err = close(f->fd) < 0 && errno != EINTR ? -errno : 0;
    free(f);
    return err;
}

aioc_file *aioc_file_open(const char *path, int flags, unsigned mode, int *err) {
    int e = 0;
    aioc_file *f = NULL;
    if (!path) {
        e = -EINVAL;
    } else if (!(f = malloc(sizeof *f))) {
        e = -ENOMEM;
    } else {
        int fd = engine()->open(path, flags, mode);
        if (fd < 0) {
            e = fd;
            free(f);
            f = NULL;
        } else {
            *f = (aioc_file){.fd = fd, .refs = 1};
        }
    }
    if (err)
        *err = e;
    return f;
}

aioc_file *aioc_file_from_fd(int fd, int *err) {
    int e = 0;
    aioc_file *f = NULL;
    if (fd < 0)
        e = -EBADF;
    else if (!(f = malloc(sizeof *f)))
        e = -ENOMEM;
    else
        *f = (aioc_file){.fd = fd, .refs = 1};
    if (err)
        *err = e;
    return f;
}

int aioc_file_close(aioc_file *f) { return f ? aioc__file_unref(f) : 0; }

int aioc_file_fd(const aioc_file *f) { return f ? f->fd : -1; }

int aioc_file_set_zero_copy(aioc_file *f, int on) {
    if (!f)
        return -EINVAL;
    f->zero_copy = on != 0;
    return 0;
}

/* A zero-copy call: the engine gets the caller's buffer and runs inside a
 * shield, so the call cannot return (cancelled, past a deadline) while a
 * system call still uses the buffer; an interruption already due fails it
 * first, as at every suspension point. */
static long rw_zero_copy(aioc_file *f, void *buf, size_t n, int64_t offset, unsigned how) {
    aioc__loop *loop;
    int err;
    if (!aioc__suspension_point(&loop, &err))
        return err;
    aioc_scope shield;
    if ((err = aioc_shield_enter(&shield)))
        return err;
    long res = engine()->rw(f, buf, n, offset, how | AIOC_FILE_RW_ZERO_COPY);
    aioc_scope_exit(&shield);
    return res;
}

static long rw(aioc_file *f, const void *buf, size_t n, int64_t offset, unsigned how) {
    if (!f || (!buf && n) || n > LONG_MAX)
        return -EINVAL;
    if ((how & AIOC_FILE_RW_AT) && offset < 0)
        return -EINVAL;
    if (f->zero_copy)
        return rw_zero_copy(f, (void *)(uintptr_t)buf, n, offset, how);
    return engine()->rw(f, (void *)(uintptr_t)buf, n, offset, how);
}

long aioc_file_read(aioc_file *f, void *buf, size_t n) {
    return rw(f, buf, n, 0, AIOC_FILE_RW_ALL);
}

long aioc_file_read_some(aioc_file *f, void *buf, size_t n) { return rw(f, buf, n, 0, 0); }

long aioc_file_write(aioc_file *f, const void *buf, size_t n) {
    return rw(f, buf, n, 0, AIOC_FILE_RW_WRITE | AIOC_FILE_RW_ALL);
}

long aioc_file_write_some(aioc_file *f, const void *buf, size_t n) {
    return rw(f, buf, n, 0, AIOC_FILE_RW_WRITE);
}

long aioc_file_pread(aioc_file *f, void *buf, size_t n, int64_t offset) {
    return rw(f, buf, n, offset, AIOC_FILE_RW_AT | AIOC_FILE_RW_ALL);
}

long aioc_file_pread_some(aioc_file *f, void *buf, size_t n, int64_t offset) {
    return rw(f, buf, n, offset, AIOC_FILE_RW_AT);
}

long aioc_file_pwrite(aioc_file *f, const void *buf, size_t n, int64_t offset) {
    return rw(f, buf, n, offset, AIOC_FILE_RW_AT | AIOC_FILE_RW_WRITE | AIOC_FILE_RW_ALL);
}

long aioc_file_pwrite_some(aioc_file *f, const void *buf, size_t n, int64_t offset) {
    return rw(f, buf, n, offset, AIOC_FILE_RW_AT | AIOC_FILE_RW_WRITE);
}

int aioc_file_sync(aioc_file *f) { return f ? engine()->sync(f, false) : -EINVAL; }

int aioc_file_datasync(aioc_file *f) { return f ? engine()->sync(f, true) : -EINVAL; }

int aioc_file_stat(aioc_file *f, struct stat *st) {
    return f && st ? engine()->stat(f, st) : -EINVAL;
}
