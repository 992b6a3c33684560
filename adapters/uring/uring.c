/* The io_uring file engine: a ring per loop, operations that park their
 * task until the completion comes, and the rules that keep a caller who
 * gives up from ever freeing memory the kernel still writes.
 *
 * An operation (op) is one allocation with what the kernel reads or
 * writes: its bounce buffer (or, in zero-copy mode, the caller's buffer:
 * the caller then waits, shielded, for the completion), its path, its
 * statx. Its task prepares a
 * submission (whose user_data is the op), then waits on the op's event.
 * Submissions are handed to the kernel in batches: the first of a loop
 * turn schedules a callback (aioc_call_soon) that submits every one
 * queued by then, so 64 tasks ready at once cost one io_uring_enter, and
 * every SUBMIT_EVERY-th goes at once with those before it. A
 * reaper task per loop, alive while operations are in flight, waits on
 * the ring's eventfd in the loop's epoll, takes the completions and wakes
 * their tasks.
 *
 * A caller that gives up (-ECANCELED, -ETIMEDOUT) marks its op abandoned
 * and leaves; the op is then the reaper's: if its submission has not gone
 * to the kernel yet it is turned into a no-op, else an ASYNC_CANCEL is
 * submitted for it; either way its completion comes, and the reaper frees
 * it then (closing the descriptor a late open got, dropping its hold on
 * the file). Nothing is freed before the kernel's completion. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "aioc_uring.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif
#ifndef VALGRIND_MAKE_MEM_DEFINED
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define BOUNCE_CLASSES 11          /* 4 KiB to 4 MiB; larger ones are not kept */
#define BOUNCE_KEEP 64             /* buffers kept per class, at most */
#define BOUNCE_KEPT_MAX (32 << 20) /* bytes kept per ring, at most */
#define SQ_ENTRIES 256
/* A batch goes to the kernel when this many submissions are queued, not
 * only at the end of the turn. A device handed 64 reads in one batch tends
 * to complete them together, so the reaper found all 64 at once, and the
 * device sat idle while their tasks ran and queued the next 64: random
 * 4 KiB O_DIRECT reads at 64 in flight did 0.80-0.86x fio's io_uring
 * IOPS. With batches of 16 going out while the other tasks still run,
 * the device is never empty (0.88-0.99x fio, and less CPU per read);
 * reads from the page cache cost the same either way. */
#define SUBMIT_EVERY 16
#define CQ_ENTRIES 4096 /* more may be in flight: the kernel keeps overflow (NODROP) */

/* What the probe found, process-wide. */
static struct {
    int status; /* 0 not probed, 1 usable, or the negative error */
    bool open, fsync, statx;
} probed;

static unsigned long ops_alive; /* atomic */

typedef struct ring ring;

typedef enum { OP_OPEN, OP_RW, OP_SYNC, OP_STAT } op_kind;

typedef struct op {
    ring *r;
    struct op *prev, *next; /* the ring's ops in flight */
    op_kind kind;
    aioc_event done;
    bool completed, abandoned, noop; /* noop: its submission was made a no-op */
    bool borrowed;                   /* rw: buf is the caller's (zero copy) */
    int res;                         /* the completion's */
    struct io_uring_sqe *sqe;        /* while not submitted (gen == r->gen) */
    unsigned long gen;               /* the batch its submission went in */
    aioc_file *file;                 /* held while the op lives, or NULL */
    char *buf;                       /* rw: the bounce buffer (or the caller's); open: the path */
    size_t buf_cap;                  /* rw: its capacity */
    struct statx stx;                /* stat: the answer */
} op;

struct ring {
    struct io_uring ring;
    int efd;                /* the ring's completions, watched by the loop */
    unsigned long gen;      /* batches submitted */
    unsigned long inflight; /* ops whose completion has not been reaped */
    op head;                /* sentinel of the ops in flight */
    bool reaper, submit_scheduled;
    /* bounce buffers kept for reuse, by size class (4 KiB << class): a
     * fresh large allocation is an mmap whose pages fault in one by one,
     * which costs more than the read it serves */
    void *kept[BOUNCE_CLASSES][BOUNCE_KEEP];
    unsigned kept_count[BOUNCE_CLASSES];
    size_t kept_bytes;
};

static void ring_destroy(void *value);
static aioc_local_key ring_key = {ring_destroy};

/* ------------------------------------------------------------ probe -- */

int aioc_uring_probe(void) {
    int status = __atomic_load_n(&probed.status, __ATOMIC_ACQUIRE);
    if (status)
        return status > 0 ? 0 : status;
    struct io_uring r;
    struct io_uring_params p = {0};
    int err = io_uring_queue_init_params(4, &r, &p);
    if (err == 0) {
        struct io_uring_probe *pr = io_uring_get_probe_ring(&r);
        if (!pr) {
            err = -ENOMEM;
        } else {
            bool needed = io_uring_opcode_supported(pr, IORING_OP_READ) &&
                          io_uring_opcode_supported(pr, IORING_OP_WRITE) &&
                          io_uring_opcode_supported(pr, IORING_OP_ASYNC_CANCEL) &&
                          io_uring_opcode_supported(pr, IORING_OP_NOP) &&
                          (p.features & IORING_FEAT_RW_CUR_POS) &&
                          (p.features & IORING_FEAT_NODROP);
            if (!needed)
                err = -EOPNOTSUPP;
            probed.open = io_uring_opcode_supported(pr, IORING_OP_OPENAT);
            probed.fsync = io_uring_opcode_supported(pr, IORING_OP_FSYNC);
            probed.statx = io_uring_opcode_supported(pr, IORING_OP_STATX);
            io_uring_free_probe(pr);
        }
        io_uring_queue_exit(&r);
    }
    if (err == -EINVAL) /* an old kernel that knows io_uring_setup but not these params */
        err = -EOPNOTSUPP;
    __atomic_store_n(&probed.status, err ? err : 1, __ATOMIC_RELEASE);
    return err;
}

/* ------------------------------------------------------- the ring -- */

static int bounce_class(size_t n) {
    for (int c = 0; c < BOUNCE_CLASSES; c++)
        if (n <= (size_t)4096 << c)
            return c;
    return -1;
}

/* A page-aligned buffer (O_DIRECT) of at least n bytes; *cap its size. */
static void *bounce_get(ring *r, size_t n, size_t *cap) {
    int c = bounce_class(n);
    *cap = c >= 0 ? (size_t)4096 << c : n;
    if (c >= 0 && r->kept_count[c]) {
        r->kept_bytes -= *cap;
        return r->kept[c][--r->kept_count[c]];
    }
    void *p = NULL;
    return posix_memalign(&p, 4096, *cap) == 0 ? p : NULL;
}

static void bounce_put(ring *r, void *buf, size_t cap) {
    int c = bounce_class(cap);
    if (c >= 0 && cap == (size_t)4096 << c && r->kept_count[c] < BOUNCE_KEEP &&
        r->kept_bytes + cap <= BOUNCE_KEPT_MAX) {
        r->kept[c][r->kept_count[c]++] = buf;
        r->kept_bytes += cap;
    } else {
        free(buf);
    }
}

static void op_free(op *o) {
    if (o->kind == OP_OPEN && o->completed && o->abandoned && !o->noop && o->res >= 0)
        close(o->res); /* a descriptor nobody will take (a no-op's 0 is none) */
    if (o->file)
        aioc_file_release(o->file);
    if (o->kind == OP_RW && o->buf && !o->borrowed)
        bounce_put(o->r, o->buf, o->buf_cap);
    else if (!o->borrowed)
        free(o->buf);
    free(o);
    __atomic_sub_fetch(&ops_alive, 1, __ATOMIC_RELEASE);
}

static void complete(ring *r, struct io_uring_cqe *cqe) {
    op *o = io_uring_cqe_get_data(cqe);
    if (!o)
        return; /* an ASYNC_CANCEL's own completion */
    o->prev->next = o->next;
    o->next->prev = o->prev;
    r->inflight--;
    o->res = cqe->res;
    o->completed = true;
    if (o->abandoned)
        op_free(o);
    else
        aioc_event_set(&o->done);
}

/* Takes every completion there is. */
static void reap(ring *r) {
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&r->ring, &cqe) == 0) {
        complete(r, cqe);
        io_uring_cqe_seen(&r->ring, cqe);
    }
}

/* Hands the queued submissions to the kernel. On EBUSY/EAGAIN (its
 * overflow backlog is full) they stay queued: the reaper submits again
 * once it has made room. */
static void submit(ring *r) {
    if (!io_uring_sq_ready(&r->ring))
        return;
    int n = io_uring_submit(&r->ring);
    if (n >= 0)
        r->gen++;
    else if (n != -EBUSY && n != -EAGAIN && n != -EINTR)
        fprintf(stderr, "aioc_uring: io_uring_submit: %s\n", strerror(-n));
}

static void submit_cb(void *arg) {
    ring *r = arg;
    r->submit_scheduled = false;
    submit(r);
}

/* Submits at the end of this loop turn (at once if that cannot be
 * scheduled), or now if SUBMIT_EVERY submissions are queued. */
static void submit_soon(ring *r) {
    if (io_uring_sq_ready(&r->ring) >= SUBMIT_EVERY) {
        submit(r);
    } else if (!r->submit_scheduled) {
        aioc_call c = aioc_call_soon(submit_cb, r);
        if (aioc_call_error(c))
            submit(r);
        else
            r->submit_scheduled = true;
    }
}

static void *reaper(void *arg) {
    ring *r = arg;
    while (r->inflight) {
        reap(r);
        if (!r->inflight)
            break;
        if (io_uring_sq_ready(&r->ring))
            submit(r);
        uint64_t count;
        if (read(r->efd, &count, sizeof count) == (ssize_t)sizeof count)
            continue; /* completions came meanwhile */
        if (aioc_wait_readable_after_eagain(r->efd) != 0)
            break; /* the loop ends (ring_destroy takes what is left) */
    }
    r->reaper = false;
    return NULL;
}

/* The running loop's ring, set up on its first use. NULL with *err set if
 * it cannot be (the caller falls back to the pool unless that is
 * forbidden). */
static ring *ring_get(int *err) {
    ring *r = aioc_loop_local_get(&ring_key);
    if (r)
        return r;
    if (!(r = calloc(1, sizeof *r))) {
        *err = -ENOMEM;
        return NULL;
    }
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES};
    int e = io_uring_queue_init_params(SQ_ENTRIES, &r->ring, &p);
    if (e) {
        free(r);
        *err = e;
        return NULL;
    }
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    e = r->efd < 0 ? -errno : io_uring_register_eventfd(&r->ring, r->efd);
    if (!e)
        e = aioc_loop_local_set(&ring_key, r);
    if (e) {
        if (r->efd >= 0)
            close(r->efd);
        io_uring_queue_exit(&r->ring);
        free(r);
        *err = e;
        return NULL;
    }
    r->head.next = r->head.prev = &r->head;
    return r;
}

/* When aioc_run ends, after every task: the ops still in flight are all
 * abandoned. Their submissions go, with cancels, and their completions
 * are awaited (a few seconds at most) so that their memory is freed
 * after the kernel is done with it; any the kernel never completes are
 * left allocated rather than freed under it. */
static void ring_destroy(void *value) {
    ring *r = value;
    if (r->inflight) {
        for (op *o = r->head.next; o != &r->head; o = o->next) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
            if (!sqe) {
                io_uring_submit(&r->ring);
                sqe = io_uring_get_sqe(&r->ring);
            }
            if (sqe) {
                io_uring_prep_cancel(sqe, o, 0);
                io_uring_sqe_set_data(sqe, NULL);
            }
        }
        io_uring_submit(&r->ring);
        for (int i = 0; r->inflight && i < 50; i++) {
            struct io_uring_cqe *cqe;
            struct __kernel_timespec ts = {.tv_nsec = 100000000};
            if (io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts) == 0)
                reap(r);
        }
        if (r->inflight)
            fprintf(stderr, "aioc_uring: %lu operation(s) never completed; left allocated\n",
                    r->inflight);
    }
    io_uring_queue_exit(&r->ring);
    aioc_close(r->efd);
    if (!r->inflight) { /* (else ops still point here: left, as they are) */
        for (int c = 0; c < BOUNCE_CLASSES; c++)
            while (r->kept_count[c])
                free(r->kept[c][--r->kept_count[c]]);
        free(r);
    }
}

/* ------------------------------------------------------ operations -- */

/* A new op of `kind` on the running loop's ring with its submission
 * prepared by the caller next (*sqe), or NULL with *err set. */
static op *op_new(ring *r, op_kind kind, aioc_file *f, struct io_uring_sqe **sqe, int *err) {
    if (!r->reaper) {
        aioc_task t = aioc_spawn_with(
            reaper, r, &(aioc_spawn_opts){.name = "uring-reaper", .stack_size = 65536});
        if ((*err = aioc_task_error(t)))
            return NULL;
        aioc_detach(t);
        r->reaper = true;
    }
    op *o = calloc(1, sizeof *o);
    if (!o) {
        *err = -ENOMEM;
        return NULL;
    }
    *sqe = io_uring_get_sqe(&r->ring);
    if (!*sqe) { /* the queue is full: hand it over now */
        submit(r);
        *sqe = io_uring_get_sqe(&r->ring);
    }
    if (!*sqe) {
        free(o);
        *err = -EBUSY;
        return NULL;
    }
    __atomic_add_fetch(&ops_alive, 1, __ATOMIC_RELAXED);
    o->r = r;
    o->kind = kind;
    aioc_event_init(&o->done);
    if (f) {
        aioc_file_hold(f);
        o->file = f;
    }
    return o;
}

/* Gives up an op that never went out: its submission slot, taken
 * already, becomes a no-op that nobody waits for. */
static void op_drop(op *o, struct io_uring_sqe *sqe) {
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, NULL);
    op_free(o);
}

/* Sends the op prepared in `sqe` and waits for its completion. Returns 0
 * (o->res holds the result; the op is still the caller's, to reuse or
 * free) or the wait's error (-ECANCELED, -ETIMEDOUT: the op is not the
 * caller's any more). */
static int op_go(op *o, struct io_uring_sqe *sqe) {
    ring *r = o->r;
    io_uring_sqe_set_data(sqe, o);
    o->completed = false;
    aioc_event_clear(&o->done); /* (set by the last completion of a reused op) */
    o->sqe = sqe;
    o->gen = r->gen;
    o->next = &r->head;
    o->prev = r->head.prev;
    r->head.prev->next = o;
    r->head.prev = o;
    r->inflight++;
    int err = 0;
    if (!r->reaper) { /* (it ends whenever nothing is in flight) */
        aioc_task t = aioc_spawn_with(
            reaper, r, &(aioc_spawn_opts){.name = "uring-reaper", .stack_size = 65536});
        if (!(err = aioc_task_error(t))) {
            aioc_detach(t);
            r->reaper = true;
        }
    }
    if (!err) { /* (without a reaper the loop is ending: the op, not yet
                 * submitted, becomes a no-op below, which ring_destroy reaps) */
        submit_soon(r);
        err = aioc_event_wait(&o->done);
    }
    if (!err)
        return 0;
    if (o->completed) { /* it came anyway: nobody takes what it made */
        o->abandoned = true;
        op_free(o);
        return err;
    }
    o->abandoned = true;
    if (o->gen == r->gen) { /* still in our queue: make it a no-op */
        o->noop = true;
        io_uring_prep_nop(o->sqe);
        io_uring_sqe_set_data(o->sqe, o);
        return err;
    }
    struct io_uring_sqe *cancel = io_uring_get_sqe(&r->ring);
    if (!cancel) {
        submit(r);
        cancel = io_uring_get_sqe(&r->ring);
    }
    if (cancel) { /* (without room, it is freed when it completes by itself) */
        io_uring_prep_cancel(cancel, o, 0);
        io_uring_sqe_set_data(cancel, NULL);
        submit_soon(r);
    }
    return err;
}

/* Whether AIOC_FILE_ENGINE=uring forbids falling back to the pool. */
static bool forced(void) {
    const char *name = aioc_file_engine_forced();
    return name && !strcmp(name, "uring");
}

/* The running loop's ring for an operation the probe found `supported`
 * (NULL: reads and writes, which it always has), or NULL with *err set: 0
 * when the pool is to serve the call (no ring, or not supported), else
 * the error to return (outside a task; fallbacks forbidden). */
static ring *ring_for(const bool *supported, int *err) {
    if (!aioc_current().id) {
        *err = AIOC_ENOTASK;
        return NULL;
    }
    int e = aioc_uring_probe();
    if (!e && supported && !*supported)
        e = -EOPNOTSUPP;
    ring *r = e ? NULL : ring_get(&e);
    *err = r || forced() ? e : 0;
    return r;
}

static int uring_open(const char *path, int flags, unsigned mode) {
    int err;
    ring *r = ring_for(&probed.open, &err);
    if (!r)
        return err ? err : aioc_file_engine_pool()->open(path, flags, mode);
    struct io_uring_sqe *sqe;
    op *o = op_new(r, OP_OPEN, NULL, &sqe, &err);
    if (!o)
        return err;
    if (!(o->buf = strdup(path))) {
        op_drop(o, sqe);
        return -ENOMEM;
    }
    io_uring_prep_openat(sqe, AT_FDCWD, o->buf, flags | O_CLOEXEC, (mode_t)mode);
    sqe->flags |= IOSQE_ASYNC; /* a real blocking open (see aioc_uring.h) */
    if ((err = op_go(o, sqe)))
        return err;
    int fd = o->res;
    op_free(o);
    return fd;
}

/* io_uring says EINVAL where read(2) says EISDIR (a directory has no
 * read_iter): the same error as the pool's. */
static long exact_error(int fd, long res) {
    struct stat st;
    if (res == -EINVAL && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        return -EISDIR;
    return res;
}

static long uring_rw(aioc_file *f, void *buf, size_t n, int64_t offset, unsigned how) {
    int err;
    ring *r = ring_for(NULL, &err);
    if (!r)
        return err ? err : aioc_file_engine_pool()->rw(f, buf, n, offset, how);
    bool write_ = how & AIOC_FILE_RW_WRITE, at = how & AIOC_FILE_RW_AT;
    struct io_uring_sqe *sqe;
    op *o = op_new(r, OP_RW, f, &sqe, &err);
    if (!o)
        return err;
    /* zero copy: the caller, shielded, waits for the completion, so the
     * kernel may use its buffer; else the op has a bounce buffer */
    if ((o->borrowed = how & AIOC_FILE_RW_ZERO_COPY)) {
        o->buf = buf;
    } else if (!(o->buf = bounce_get(r, n ? n : 1, &o->buf_cap))) {
        op_drop(o, sqe);
        return -ENOMEM;
    } else if (write_) {
        memcpy(o->buf, buf, n);
    }
    int fd = aioc_file_fd(f);
    /* At the file's position: io_uring's own (offset -1) is not advanced
     * by a short write on the kernels here (a write cut short by
     * RLIMIT_FSIZE leaves it where it was, and the rest would go over
     * the same bytes), so the position is read here, the I/O made at
     * explicit offsets, and the position set after it. Not where there
     * is none (pipes: ESPIPE), nor for O_APPEND writes, which go to the
     * end whatever the offset. */
    int64_t pos = -1;
    if (!at) {
        int fl = write_ ? fcntl(fd, F_GETFL) : 0;
        off_t p = fl >= 0 && !(fl & O_APPEND) ? lseek(fd, 0, SEEK_CUR) : -1;
        pos = p >= 0 ? (int64_t)p : -1;
    }
    size_t done = 0;
    long res = 0;
    for (;;) {
        size_t left = n - done;
        unsigned chunk = left > (1u << 30) ? 1u << 30 : (unsigned)left;
        uint64_t off = at         ? (uint64_t)(offset + (int64_t)done)
                       : pos >= 0 ? (uint64_t)(pos + (int64_t)done)
                                  : (uint64_t)-1; /* -1: the kernel's position */
        if (write_)
            io_uring_prep_write(sqe, fd, o->buf + done, chunk, off);
        else
            io_uring_prep_read(sqe, fd, o->buf + done, chunk, off);
        if ((err = op_go(o, sqe)))
            return err;
        if (o->res == -EINTR) {
            /* again, as the pool restarts read(2) */
        } else if (o->res < 0) {
            res = exact_error(fd, o->res);
            break;
        } else {
            if (!write_)
                VALGRIND_MAKE_MEM_DEFINED(o->buf + done, (size_t)o->res);
            done += (size_t)o->res;
            res = (long)done;
            if (o->res == 0 || done == n || !(how & AIOC_FILE_RW_ALL))
                break;
        }
        if (!(sqe = io_uring_get_sqe(&r->ring))) {
            submit(r);
            sqe = io_uring_get_sqe(&r->ring);
        }
        if (!sqe) {
            res = -EBUSY;
            break;
        }
    }
    if (pos >= 0 && done > 0) /* what went through, as read(2) would */
        lseek(fd, (off_t)(pos + (int64_t)done), SEEK_SET);
    if (res > 0 && !write_ && !o->borrowed)
        memcpy(buf, o->buf, (size_t)res);
    op_free(o);
    return res;
}

static int uring_sync(aioc_file *f, int data_only) {
    int err;
    ring *r = ring_for(&probed.fsync, &err);
    if (!r)
        return err ? err : aioc_file_engine_pool()->sync(f, data_only);
    struct io_uring_sqe *sqe;
    op *o = op_new(r, OP_SYNC, f, &sqe, &err);
    if (!o)
        return err;
    io_uring_prep_fsync(sqe, aioc_file_fd(f), data_only ? IORING_FSYNC_DATASYNC : 0);
    if ((err = op_go(o, sqe)))
        return err;
    err = o->res;
    op_free(o);
    return err;
}

static void stat_from_statx(struct stat *st, const struct statx *x) {
    memset(st, 0, sizeof *st);
    st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
    st->st_ino = x->stx_ino;
    st->st_mode = x->stx_mode;
    st->st_nlink = x->stx_nlink;
    st->st_uid = x->stx_uid;
    st->st_gid = x->stx_gid;
    st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
    st->st_size = (off_t)x->stx_size;
    st->st_blksize = (blksize_t)x->stx_blksize;
    st->st_blocks = (blkcnt_t)x->stx_blocks;
    st->st_atim = (struct timespec){x->stx_atime.tv_sec, x->stx_atime.tv_nsec};
    st->st_mtim = (struct timespec){x->stx_mtime.tv_sec, x->stx_mtime.tv_nsec};
    st->st_ctim = (struct timespec){x->stx_ctime.tv_sec, x->stx_ctime.tv_nsec};
}

static int uring_stat(aioc_file *f, struct stat *st) {
    int err;
    ring *r = ring_for(&probed.statx, &err);
    if (!r)
        return err ? err : aioc_file_engine_pool()->stat(f, st);
    struct io_uring_sqe *sqe;
    op *o = op_new(r, OP_STAT, f, &sqe, &err);
    if (!o)
        return err;
    io_uring_prep_statx(sqe, aioc_file_fd(f), "", AT_EMPTY_PATH, STATX_BASIC_STATS, &o->stx);
    if ((err = op_go(o, sqe)))
        return err;
    err = o->res;
    if (!err) {
        VALGRIND_MAKE_MEM_DEFINED(&o->stx, sizeof o->stx);
        stat_from_statx(st, &o->stx);
    }
    op_free(o);
    return err;
}

static const aioc_file_engine engine = {
    .name = "uring",
    .open = uring_open,
    .rw = uring_rw,
    .sync = uring_sync,
    .stat = uring_stat,
};

const aioc_file_engine *aioc_uring_engine(void) { return &engine; }

int aioc_uring_install(void) {
    int err = aioc_uring_probe();
    return err ? err : aioc_file_engine_set(&engine);
}

unsigned long aioc_uring_ops_in_flight(void) {
    return __atomic_load_n(&ops_alive, __ATOMIC_ACQUIRE);
}
