/* aioc_fs_*: operations on paths, each one job on the thread pool however
 * many system calls it makes (see file.h). What a job makes for its
 * caller (a whole file's bytes, a directory's entries) is allocated on
 * the pool thread and either handed over or, when the caller has given
 * up, freed by the job's discard. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "file.h"

/* A job on one or two paths, with room for bytes to write; `out` is what
 * the work made (a buffer), freed by the discard if nobody takes it. */
typedef struct path_job {
    aioc__fjob base;
    const char *path, *path2; /* into text[] */
    unsigned mode;
    size_t n;         /* bytes at data */
    const char *data; /* into text[] */
    void *out;        /* made by the work */
    struct stat st;   /* aioc_fs_stat's answer */
    char text[];      /* the paths, then the data */
} path_job;

static void out_discard(aioc__fjob *b) { free(((path_job *)b)->out); }

/* Allocates a job holding copies of the paths (path2 may be NULL) and of
 * the n bytes at data. NULL if out of memory. */
static path_job *job_new(long (*work)(aioc__fjob *), const char *path, const char *path2,
                         const void *data, size_t n) {
    size_t l1 = strlen(path) + 1, l2 = path2 ? strlen(path2) + 1 : 0;
    if (n > SIZE_MAX - sizeof(path_job) - l1 - l2)
        return NULL;
    path_job *j = malloc(sizeof *j + l1 + l2 + n);
    if (!j)
        return NULL;
    *j = (path_job){.base = {.work = work, .discard = out_discard}, .n = n};
    memcpy(j->text, path, l1);
    j->path = j->text;
    if (path2) {
        memcpy(j->text + l1, path2, l2);
        j->path2 = j->text + l1;
    }
    if (n)
        memcpy(j->text + l1 + l2, data, n);
    j->data = j->text + l1 + l2;
    return j;
}

/* Runs a job made by job_new (NULL: out of memory). Returns the work's
 * result or a negative error; on success the job is left in *done for the
 * caller to take `out` or `st` from (NULL: freed already). */
static long job_go(path_job *j, path_job **done) {
    if (!j)
        return -ENOMEM;
    int err = aioc__fjob_run(&j->base);
    if (err)
        return err;
    long res = j->base.res;
    if (done && res >= 0) {
        *done = j;
    } else {
        out_discard(&j->base); /* (nothing made when res < 0) */
        aioc__fjob_free(&j->base);
    }
    return res;
}

static long retry_open(const char *path, int flags, mode_t mode) {
    int fd;
    do
        fd = open(path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

/* Writes all n bytes at the descriptor's position: 0 or -errno. */
static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ------------------------------------------------- simple path calls -- */

static long stat_work(aioc__fjob *b) {
    path_job *j = (path_job *)b;
    return stat(j->path, &j->st) < 0 ? -errno : 0;
}

int aioc_fs_stat(const char *path, struct stat *st) {
    if (!path || !st)
        return -EINVAL;
    path_job *j = NULL;
    long res = job_go(job_new(stat_work, path, NULL, NULL, 0), &j);
    if (j) {
        *st = j->st;
        aioc__fjob_free(&j->base);
    }
    return (int)res;
}

static long rename_work(aioc__fjob *b) {
    path_job *j = (path_job *)b;
    return rename(j->path, j->path2) < 0 ? -errno : 0;
}

static long unlink_work(aioc__fjob *b) { return unlink(((path_job *)b)->path) < 0 ? -errno : 0; }

static long mkdir_work(aioc__fjob *b) {
    path_job *j = (path_job *)b;
    return mkdir(j->path, (mode_t)j->mode) < 0 ? -errno : 0;
}

static long rmdir_work(aioc__fjob *b) { return rmdir(((path_job *)b)->path) < 0 ? -errno : 0; }

int aioc_fs_rename(const char *from, const char *to) {
    if (!from || !to)
        return -EINVAL;
    return (int)job_go(job_new(rename_work, from, to, NULL, 0), NULL);
}

int aioc_fs_unlink(const char *path) {
    if (!path)
        return -EINVAL;
    return (int)job_go(job_new(unlink_work, path, NULL, NULL, 0), NULL);
}

int aioc_fs_mkdir(const char *path, unsigned mode) {
    if (!path)
        return -EINVAL;
    path_job *j = job_new(mkdir_work, path, NULL, NULL, 0);
    if (j)
        j->mode = mode;
    return (int)job_go(j, NULL);
}

int aioc_fs_rmdir(const char *path) {
    if (!path)
        return -EINVAL;
    return (int)job_go(job_new(rmdir_work, path, NULL, NULL, 0), NULL);
}

/* ------------------------------------------------------- whole files -- */

static long read_file_work(aioc__fjob *b) {
    path_job *j = (path_job *)b;
    long fd = retry_open(j->path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    size_t cap = 4096, len = 0;
    bool sized = fstat((int)fd, &st) == 0;
    if (sized && S_ISDIR(st.st_mode)) { /* (read(2) would say EISDIR too) */
        close((int)fd);
        return -EISDIR;
    }
    if (sized && st.st_size > 0 && (uintmax_t)st.st_size < LONG_MAX / 2)
        cap = (size_t)st.st_size + 1; /* + 1: the end is seen without growing */
    char *buf = malloc(cap + 1);
    long err = buf ? 0 : -ENOMEM;
    while (!err) {
        if (len == cap) { /* (sizes of /proc files and of files that grow) */
            if (cap >= LONG_MAX / 2) {
                err = -EFBIG;
                break;
            }
            char *more = realloc(buf, cap * 2 + 1);
            if (!more) {
                err = -ENOMEM;
                break;
            }
            buf = more;
            cap *= 2;
        }
        ssize_t r = read((int)fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            err = -errno;
        else if (r == 0)
            break;
        else
            len += (size_t)r;
    }
    close((int)fd);
    if (err) {
        free(buf);
        return err;
    }
    buf[len] = '\0';
    j->out = buf;
    return (long)len;
}

long aioc_fs_read_file(const char *path, char **data) {
    if (!path || !data)
        return -EINVAL;
    path_job *j = NULL;
    long res = job_go(job_new(read_file_work, path, NULL, NULL, 0), &j);
    if (j) {
        *data = j->out;
        aioc__fjob_free(&j->base);
    }
    return res;
}

/* fsync of the directory that holds `path`, so that a rename in it lasts.
 * File systems that cannot sync a directory (EINVAL) are let be. */
static int sync_dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t len = slash == path ? 1 : (size_t)(slash - path);
        if (len >= sizeof dir)
            return -ENAMETOOLONG;
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    long fd = retry_open(dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return (int)fd;
    int err = fsync((int)fd) < 0 && errno != EINVAL ? -errno : 0;
    close((int)fd);
    return err;
}

static long write_file_work(aioc__fjob *b) {
    path_job *j = (path_job *)b;
    const char *slash = strrchr(j->path, '/');
    const char *base = slash ? slash + 1 : j->path;
    size_t dirlen = (size_t)(base - j->path);
    if (!*base)
        return -EISDIR;
    struct stat old;
    bool had = stat(j->path, &old) == 0;
    if (had && S_ISDIR(old.st_mode))
        return -EISDIR;
    /* a name of our own in the same directory, new (O_EXCL) */
    char tmp[PATH_MAX];
    static unsigned long counter; /* atomic */
    long fd = -EEXIST;
    for (int tries = 0; fd == -EEXIST && tries < 100; tries++) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        unsigned long c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        int len = snprintf(tmp, sizeof tmp, "%.*s.%s.tmp-%ld-%lu-%lx", (int)dirlen, j->path, base,
                           (long)getpid(), c, (unsigned long)ts.tv_nsec);
        if (len < 0 || (size_t)len >= sizeof tmp)
            return -ENAMETOOLONG;
        fd = retry_open(tmp, O_WRONLY | O_CREAT | O_EXCL,
                        had ? (old.st_mode & 07777) : (mode_t)j->mode);
    }
    if (fd < 0)
        return fd;
    int err = write_all((int)fd, j->data, j->n);
    if (!err && had && fchmod((int)fd, old.st_mode & 07777) < 0)
        err = -errno; /* (open's mode went through the umask) */
    if (!err && fsync((int)fd) < 0)
        err = -errno;
    if (close((int)fd) < 0 && !err && errno != EINTR)
        err = -errno;
    if (!err && rename(tmp, j->path) < 0)
        err = -errno;
    if (err) {
        unlink(tmp);
        return err;
    }
    return sync_dir_of(j->path);
}

int aioc_fs_write_file(const char *path, const void *data, size_t n, unsigned mode) {
    if (!path || (!data && n))
        return -EINVAL;
    path_job *j = job_new(write_file_work, path, NULL, data, n);
    if (j)
        j->mode = mode;
    return (int)job_go(j, NULL);
}

static long append_work(aioc__fjob *b) {
    path_job *j = (path_job *)b;
    long fd = retry_open(j->path, O_WRONLY | O_APPEND | O_CREAT, (mode_t)j->mode);
    if (fd < 0)
        return fd;
    int err = write_all((int)fd, j->data, j->n);
    if (close((int)fd) < 0 && !err && errno != EINTR)
        err = -errno;
    return err;
}

int aioc_fs_append(const char *path, const void *data, size_t n, unsigned mode) {
    if (!path || (!data && n))
        return -EINVAL;
    path_job *j = job_new(append_work, path, NULL, data, n);
    if (j)
        j->mode = mode;
    return (int)job_go(j, NULL);
}

/* ----------------------------------------------------------- readdir -- */

static int by_name(const void *a, const void *b) {
    return strcmp(((const aioc_dirent *)a)->name, ((const aioc_dirent *)b)->name);
}

/* Reads every entry, then lays them out in one block: the array, then the
 * names. */
static long readdir_work(aioc__fjob *b) {
    path_job *j = (path_job *)b;
    DIR *d = opendir(j->path);
    if (!d)
        return -errno;
    size_t count = 0, cap = 64, names = 0, names_cap = 4096;
    aioc_dirent *ents = malloc(cap * sizeof *ents);
    char *text = malloc(names_cap);
    long err = ents && text ? 0 : -ENOMEM;
    for (struct dirent *e; !err;) {
        errno = 0;
        if (!(e = readdir(d))) {
            err = errno ? -errno : 0;
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        size_t len = strlen(e->d_name) + 1;
        if (count == cap) {
            aioc_dirent *more = realloc(ents, 2 * cap * sizeof *ents);
            if (!more) {
                err = -ENOMEM;
                break;
            }
            ents = more;
            cap *= 2;
        }
        while (names + len > names_cap) {
            char *more = realloc(text, 2 * names_cap);
            if (!more) {
                err = -ENOMEM;
                break;
            }
            text = more;
            names_cap *= 2;
        }
        if (err)
            break;
        memcpy(text + names, e->d_name, len);
        /* offsets for now: text may still move */
        ents[count++] = (aioc_dirent){.name = (const char *)(uintptr_t)names, .type = e->d_type};
        names += len;
    }
    closedir(d);
    aioc_dirent *out = err ? NULL : malloc(count * sizeof *out + names + 1);
    if (!err && !out)
        err = -ENOMEM;
    if (!err) {
        char *dst = (char *)(out + count);
        memcpy(dst, text, names);
        for (size_t i = 0; i < count; i++)
            out[i] = (aioc_dirent){.name = dst + (uintptr_t)ents[i].name, .type = ents[i].type};
        qsort(out, count, sizeof *out, by_name);
        j->out = out;
    }
    free(ents);
    free(text);
    return err ? err : (long)count;
}

long aioc_fs_readdir(const char *path, aioc_dirent **entries) {
    if (!path || !entries)
        return -EINVAL;
    path_job *j = NULL;
    long res = job_go(job_new(readdir_work, path, NULL, NULL, 0), &j);
    if (j) {
        *entries = j->out;
        aioc__fjob_free(&j->base);
    }
    return res;
}

/* -------------------------------------------------------------- copy -- */

/* read and write from the descriptors' positions to the end */
static long copy_by_hand(int in, int out) {
    char buf[65536];
    long total = 0;
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return total;
        int err = write_all(out, buf, (size_t)r);
        if (err)
            return err;
        total += r;
    }
}

static long copy_work(aioc__fjob *b) {
    path_job *j = (path_job *)b;
    long in = retry_open(j->path, O_RDONLY, 0);
    if (in < 0)
        return in;
    struct stat st, st2;
    long res = 0;
    if (fstat((int)in, &st) < 0)
        res = -errno;
    else if (S_ISDIR(st.st_mode))
        res = -EISDIR;
    long out = res ? res : retry_open(j->path2, O_WRONLY | O_CREAT, st.st_mode & 07777);
    if (out < 0) {
        close((int)in);
        return out;
    }
    /* not truncated before this check: copying a file onto itself */
    if (fstat((int)out, &st2) < 0)
        res = -errno;
    else if (st.st_dev == st2.st_dev && st.st_ino == st2.st_ino)
        res = -EINVAL;
    else if (ftruncate((int)out, 0) < 0)
        res = -errno;
    long total = 0;
    while (!res) {
        ssize_t r = copy_file_range((int)in, NULL, (int)out, NULL, 1 << 30, 0);
        if (r < 0 && errno == EINTR)
            continue;
        bool unsupported = r < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
                                     errno == EOPNOTSUPP || errno == EBADF);
        /* a first 0 may be a file whose size says nothing (/proc): read it */
        if (unsupported || (r == 0 && total == 0)) {
            long more = copy_by_hand((int)in, (int)out);
            if (more < 0)
                res = more;
            else
                total += more;
            break;
        }
        if (r < 0)
            res = -errno;
        else if (r == 0)
            break;
        else
            total += r;
    }
    close((int)in);
    if (close((int)out) < 0 && !res && errno != EINTR)
        res = -errno;
    return res ? res : total;
}

long aioc_fs_copy(const char *from, const char *to) {
    if (!from || !to)
        return -EINVAL;
    return job_go(job_new(copy_work, from, to, NULL, 0), NULL);
}
