/* Files: the handle, the jobs that carry file work to the thread pool, and
 * the engine that runs aioc_file_*'s operations.
 *
 * A job (aioc__fjob) is the unit every file call sends to the pool: one
 * allocation that holds the call's arguments, its bounce buffer and what
 * the work makes, so that a caller that gives up can walk away from it.
 * aioc__fjob_run hands it to aioc_to_thread_with; on success the caller
 * takes what it needs and frees it; on an error it is not the caller's any
 * more: whoever ends up with it (the caller's thread at once, or the pool
 * thread when the work is over) calls its discard (which releases what the
 * work made: a descriptor, a buffer) and frees it, dropping its reference
 * to the file.
 *
 * The engine (aioc_file_engine, public so that an adapter can supply
 * one: io_uring's) runs the per-file operations: open, read and write,
 * sync, stat. The coarse path operations (read a whole file, write one
 * atomically, readdir, copy) are always one pool job. */
#ifndef AIOC_FILE_H
#define AIOC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aioc.h"

struct aioc_file {
    int fd;
    unsigned refs;  /* atomic: the caller's, and one per job out */
    bool zero_copy; /* aioc_file_set_zero_copy: calls use the caller's buffer */
};

/* Takes a reference for a job; drops one, closing the descriptor with the
 * last (returns close's negated errno then, else 0). */
void aioc__file_ref(aioc_file *f);
int aioc__file_unref(aioc_file *f);

typedef struct aioc__fjob aioc__fjob;

/* Embed first in a job's struct, allocated with malloc. */
struct aioc__fjob {
    long (*work)(aioc__fjob *j);    /* on a pool thread: a result or -errno */
    void (*discard)(aioc__fjob *j); /* releases what work made; NULL: nothing */
    aioc_file *file;                /* referenced while the job lives, or NULL */
    long res;                       /* work's return value, once it has run */
    void *buf;                      /* a bounce buffer freed with the job, or NULL */
    size_t buf_cap;                 /* its capacity (aioc__bounce_get's) */
};

/* Bounce buffers, page-aligned (for O_DIRECT), kept for reuse by size
 * class: a fresh 1 MiB allocation is an mmap whose pages fault in one by
 * one, which costs more than the read it serves. Thread-safe (late jobs
 * free theirs on pool threads). Get returns NULL if out of memory and
 * sets *cap to the buffer's capacity, which put takes back. */
void *aioc__bounce_get(size_t n, size_t *cap);
void aioc__bounce_put(void *buf, size_t cap);

/* Runs j->work on the pool and waits (see the top of this file). Takes a
 * reference to j->file. Returns 0 (j->res is set; free j with
 * aioc__fjob_free after taking what it made) or a negative error (j is
 * gone). */
int aioc__fjob_run(aioc__fjob *j);

/* Frees a job (dropping its file reference) without discarding anything. */
void aioc__fjob_free(aioc__fjob *j);

/* Jobs allocated and not yet freed, process-wide: the tests wait for it to
 * come back to 0 to see that a cancelled job has released everything. */
unsigned long aioc__file_jobs_alive(void);

/* The engine (aioc_file_engine in aioc.h) the per-file calls go through;
 * the thread pool's is the default. */
extern const aioc_file_engine aioc__file_pool_engine;

#endif
