/* Debug mode's checks besides the watchdog (src/debug_checks.c): a lock
 * or a semaphore's permit held too long, reported when it is released; a stream never closed,
 * reported when the loop ends; a loop's object (primitive, queue, stream)
 * used from another thread, reported and refused. On while the watchdog is (AIOC_DEBUG,
 * AIOC_WATCHDOG_MS, aioc_run_opts.watchdog_ms); off, each check is one
 * thread-local load and a branch. */
#ifndef AIOC_DEBUG_CHECKS_H
#define AIOC_DEBUG_CHECKS_H

#include "scheduler.h"
#include "watchdog.h"

/* A lock or a semaphore's permit held this many watchdog thresholds is
 * reported on release. */
#define AIOC__LOCK_HELD_THRESHOLDS 10

/* The record of an open stream, while debug mode is on. */
typedef struct aioc__debug_stream aioc__debug_stream;

void aioc__debug_lock_released_slow(aioc__loop *loop, const void *lock, uint64_t acquired_at);

/* The running task releases `lock`, which it acquired at `acquired_at`
 * (the loop's clock). */
static inline void aioc__debug_lock_released(aioc__loop *loop, const void *lock,
                                             uint64_t acquired_at) {
    if (__builtin_expect(aioc__watchdog_tls != NULL, 0))
        aioc__debug_lock_released_slow(loop, lock, acquired_at);
}

void aioc__debug_sem_acquired_slow(aioc__loop *loop, const void *s, uint64_t task);
void aioc__debug_sem_released_slow(aioc__loop *loop, const void *s);

/* Task `task` (0: a callback) of `loop` took a permit of semaphore `s`. */
static inline void aioc__debug_sem_acquired(aioc__loop *loop, const void *s, uint64_t task) {
    if (__builtin_expect(aioc__watchdog_tls != NULL, 0))
        aioc__debug_sem_acquired_slow(loop, s, task);
}

/* The running code of `loop` gives a permit of `s` back: a permit held
 * this many watchdog thresholds is reported. */
static inline void aioc__debug_sem_released(aioc__loop *loop, const void *s) {
    if (__builtin_expect(aioc__watchdog_tls != NULL, 0))
        aioc__debug_sem_released_slow(loop, s);
}

/* A stream was created: its record, kept in `*slot` (NULL when debug mode
 * is off or memory is short). The record names the task that created it. */
void aioc__debug_stream_opened(aioc__debug_stream **slot);
/* The stream of `*slot` is freed: forgets its record. */
void aioc__debug_stream_closed(aioc__debug_stream **slot);
/* Reports the streams of this thread still open, and forgets them and
 * the owners of the loop's objects (the loop ends). */
void aioc__debug_streams_report(void);

/* ------------------------------------------------ objects of one loop -- */

/* The first loop to use an object owns it (a table keyed by address, kept
 * only in debug mode); a use from another loop, or from a thread with no
 * loop, is reported once per object and refused. */
int aioc__debug_owned_slow(aioc__loop *loop, const void *obj, const char *kind);

/* `loop` (aioc__loop_get(), NULL in a thread with no loop) uses `obj`, a
 * `kind` ("event", "queue" ...). Returns 0, or (debug mode, a foreign
 * object) -EXDEV from another loop and AIOC_ENOLOOP from no loop; the
 * caller then changes nothing. Off: a thread-local load and a branch, and
 * the test of `loop` that the caller's own code needs anyway. */
static inline int aioc__debug_owned(aioc__loop *loop, const void *obj, const char *kind) {
    if (__builtin_expect(aioc__watchdog_tls != NULL || loop == NULL, 0))
        return aioc__debug_owned_slow(loop, obj, kind);
    return 0;
}

void aioc__debug_forget_slow(const void *obj);

/* The same for a running task's `loop` (never NULL): the branch on debug
 * mode alone. */
static inline int aioc__debug_owned_here(aioc__loop *loop, const void *obj, const char *kind) {
    if (__builtin_expect(aioc__watchdog_tls != NULL, 0))
        return aioc__debug_owned_slow(loop, obj, kind);
    return 0;
}

/* The running code of `loop` used `id`, a task handle of another loop's:
 * in debug mode, says so on stderr (the caller refuses it: -EXDEV). */
void aioc__debug_foreign_handle(aioc__loop *loop, uint64_t id);

/* `obj` ends (destroyed, freed, or initialised anew): forgets its owner. */
static inline void aioc__debug_forget(const void *obj) {
    if (__builtin_expect(aioc__watchdog_tls != NULL, 0))
        aioc__debug_forget_slow(obj);
}

#endif
