/**
 * @file
 * aioc_uring: aioc's files on io_uring (Linux 5.6 and later, through
 * Debian's liburing).
 *
 * aioc_uring_install() makes io_uring the engine of the per-file calls of
 * <aioc.h> (aioc_file_open, the reads and writes, the syncs,
 * aioc_file_stat) for the whole process, in place of the thread pool:
 * each call becomes a submission on a ring of the calling task's loop,
 * and the task parks until its completion. Each loop gets its own ring on
 * its first file call, and its loop's epoll watches the ring's completions
 * through an eventfd; the ring is torn down when aioc_run ends. The calls
 * keep their contract exactly (see "Files" in <aioc.h>): a cancelled
 * caller, or one whose deadline passes, returns at once, and its
 * operation in flight is cancelled in the kernel (IORING_OP_ASYNC_CANCEL);
 * the operation's buffer (reads and writes go through one of their own)
 * and its hold on the file stay alive until the kernel says it is done
 * with them, then are freed; a descriptor that a cancelled open got is
 * closed then. A submission not yet handed to the kernel is turned into
 * a no-op instead, so a caller cancelled before its call does nothing.
 *
 * What stays on the pool: aioc_fs_* (path calls, one job each already);
 * aioc_file_close, which never suspends (one close(2)); any operation the
 * kernel's probe lacks; and every call in a loop whose ring could not be
 * set up (memory limits, io_uring disabled by sysctl), unless the
 * environment variable AIOC_FILE_ENGINE=uring forbids those fallbacks.
 *
 * Opens always go to the kernel's worker threads (IOSQE_ASYNC): io_uring's
 * inline attempt opens non-blocking, which for a FIFO does not wait for
 * the other end (or fails with ENXIO) where open(2) would wait, so the
 * worker makes it a real blocking open that a cancellation interrupts.
 */
#ifndef AIOC_URING_H
#define AIOC_URING_H

#include <aioc.h>

#ifdef __cplusplus
extern "C" {
#endif

/// @cond INTERNAL
#if defined(AIOC_URING_BUILDING) && defined(__GNUC__)
#define AIOC_URING_EXTERN __attribute__((visibility("default")))
#else
#define AIOC_URING_EXTERN
#endif
/// @endcond

/// @defgroup uring aioc_uring: files on io_uring
/// @{

/// Probes the kernel (a small ring is set up and torn down, and
/// io_uring_get_probe asks which operations it has) without installing
/// anything. Does not suspend; any thread. Returns 0 when the engine can
/// run (io_uring, and its read, write and cancel operations, with reads
/// and writes at the file's position), else -ENOSYS (no io_uring),
/// -EPERM (io_uring disabled for this process: sysctl
/// kernel.io_uring_disabled, seccomp), -EOPNOTSUPP (an operation it
/// needs is missing), -ENOMEM.
AIOC_URING_EXTERN int aioc_uring_probe(void);

/// Probes (aioc_uring_probe) and, if the kernel can, makes io_uring the
/// file engine of the whole process (aioc_file_engine_set), for every
/// loop, running or to come. Idempotent. Does not suspend; any thread.
/// Returns 0, or the probe's error, or -EPERM when the environment
/// variable AIOC_FILE_ENGINE names another engine ("pool"): the thread
/// pool then stays the engine, so a program may call it unconditionally.
AIOC_URING_EXTERN int aioc_uring_install(void);

/// The io_uring engine's table (for aioc_file_engine_set, or to compare
/// with aioc_file_engine_get). Any thread.
AIOC_URING_EXTERN const aioc_file_engine *aioc_uring_engine(void);

/// Operations handed to the kernel and not yet completed, in every loop
/// of the process, including those of callers that gave up (their
/// buffers are still allocated): 0 once everything has been released.
/// Any thread.
AIOC_URING_EXTERN unsigned long aioc_uring_ops_in_flight(void);
/// @}

#ifdef __cplusplus
}
#endif
#endif /* AIOC_URING_H */
