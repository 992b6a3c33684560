/**
 * @file
 * aioc — asyncio's programming model in C.
 *
 * A task is a stackful coroutine: any C function called from a task may
 * suspend, so `await f()` is the plain call `f()`. One event loop per thread
 * runs many tasks concurrently; `aioc_run` starts it.
 *
 * Conventions used by every function below:
 *   - Errors are negative errno values (-ECANCELED, -ETIMEDOUT, ...) or one of
 *     the few AIOC_E* library codes; aioc_strerror() names them all.
 *   - "Suspends" means the calling task may be parked while other tasks run.
 *     Every suspending call is a cancellation point: it returns -ECANCELED
 *     once the task is cancelled, and -ETIMEDOUT once an enclosing deadline
 *     scope has expired (see "Scopes"). Called outside a task, a suspending
 *     function returns AIOC_ENOTASK and does nothing.
 *   - Handles (aioc_task, aioc_scope, aioc_call, aioc_group) are small values
 *     with a generation number: a handle used after its object is gone gives
 *     AIOC_ESTALE, never a crash. A task handle belongs to the loop that
 *     spawned it: another loop's calls refuse it with -EXDEV (debug mode also
 *     reports it).
 *   - Every function must be called from the thread that runs the loop,
 *     unless its comment says otherwise.
 *   - The end of a stream, one way per kind of call (as asyncio does):
 *     a read that returns a count (aioc_read, aioc_recv, aioc_stream_read,
 *     aioc_stream_readline) returns 0; a read that asks for a whole unit
 *     (aioc_stream_readexactly, aioc_stream_readuntil) returns
 *     AIOC_EINCOMPLETE when the stream ends before the unit is complete,
 *     even with nothing read (IncompleteReadError); an iterator's next
 *     (aioc_completion_next, an adapter's message iterator) returns
 *     AIOC_EOF when there is nothing more (StopAsyncIteration).
 *   - Failing constructors, one way per kind of object:
 *       objects that only take memory (aioc_queue_new, aioc_stream_new,
 *       aioc_future_new, aioc_completion_new, ...) return NULL with errno
 *       set (ENOMEM, EINVAL), as malloc and fopen do;
 *       objects whose making does I/O or may fail for other reasons
 *       (servers, processes, files, TLS contexts and connections) take a
 *       last `int *err` (which may be NULL) and return NULL with `*err`
 *       set to the negative code;
 *       handles (aioc_task, aioc_call) never fail outright: a failed
 *       aioc_spawn or aioc_call_soon returns a handle that carries the
 *       error (aioc_task_error, aioc_call_error), so a failed spawn can be
 *       awaited or gathered like any task and reports its error there.
 */
#ifndef AIOC_H
#define AIOC_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/// @cond INTERNAL
/// @cond INTERNAL
#if defined(AIOC_BUILDING) && defined(__GNUC__)
#define AIOC_EXTERN __attribute__((visibility("default")))
#else
#define AIOC_EXTERN
#endif
/// @endcond
/// @endcond

/* ============================================================ version == */
/// @defgroup core_version Version
/// @{

#define AIOC_VERSION_MAJOR 0 ///< the version this header belongs to: major,
#define AIOC_VERSION_MINOR 1 ///< minor,
#define AIOC_VERSION_PATCH 0 ///< and patch number

/// The library's version as "MAJOR.MINOR.PATCH".
AIOC_EXTERN const char *aioc_version(void);

/// The context-switch method compiled in: "x86_64-asm", "aarch64-asm" or
/// "ucontext".
AIOC_EXTERN const char *aioc_switch_method(void);
/// @}

/* ============================================================= errors == */
/// @defgroup core_errors Errors
/// @{

// Library codes sit far from errno values (errno stays below 4096 in
// magnitude on Linux but never comes near these).
#define AIOC_EOF (-10001)         ///< end of stream
#define AIOC_ESTALE (-10002)      ///< handle is invalid or its object is gone
#define AIOC_ENOTASK (-10003)     ///< the call must be made from inside a task
#define AIOC_ENOLOOP (-10004)     ///< no loop is running in this thread
#define AIOC_EAWAITED (-10005)    ///< the task is already being awaited
#define AIOC_EBROKEN (-10006)     ///< the barrier was aborted or reset
#define AIOC_ELIMIT (-10007)      ///< no separator within the stream's limit
#define AIOC_EINCOMPLETE (-10008) ///< the stream ended before what was asked
/// Name resolution failures: AIOC_EAI_BASE + getaddrinfo's EAI_* code (its
/// codes are small negative numbers that would collide with -errno).
#define AIOC_EAI_BASE (-11000)

/// A human-readable description of `err` (negative errno or AIOC_E*).
/// The string is static; never NULL.
AIOC_EXTERN const char *aioc_strerror(int err);

/// The symbolic name of `err`, e.g. "ECANCELED" or "AIOC_ESTALE"; "0" for 0
/// and "EUNKNOWN" for a code it does not know. Static; never NULL.
AIOC_EXTERN const char *aioc_err_name(int err);
/// @}

/* =============================================================== time == */
/// @defgroup core_time Time
/// @{

/// The loop's clock in seconds (monotonic; virtual under virtual time).
/// Cached: it advances when the loop polls, not during a task's run, which
/// is what timers compare against. 0 outside a loop.
AIOC_EXTERN double aioc_now(void);

/// The same clock in nanoseconds.
AIOC_EXTERN uint64_t aioc_now_ns(void);

/// Timeouts and deadlines, everywhere (scopes, aioc_wait_for, grace periods,
/// the adapters' timeouts), as in asyncio: a timeout of 0 or less, or a
/// deadline already passed, has expired at once (the next suspending call
/// inside it returns -ETIMEDOUT without waiting), so a remaining time that
/// was computed too late never switches a timeout off. NaN counts as 0.
/// The one way to say "no timeout" is AIOC_NO_TIMEOUT, which is INFINITY
/// (asyncio's None). Options structs where 0 picks a default say so.
#define AIOC_NO_TIMEOUT INFINITY
/// @}

/* ================================================================ run == */
/// @defgroup core_run Run
/// @{

/// A task's function: what aioc_run and aioc_spawn run; its return value
/// is the task's result (aioc_await's `*result`).
typedef void *(*aioc_fn)(void *arg);

/// Options of aioc_run_with; zeroed fields take the defaults.
typedef struct aioc_run_opts {
    /// Default stack size of tasks in bytes (rounded up to pages); 0 takes
    /// the environment variable AIOC_STACK_SIZE, else 256 KiB.
    size_t stack_size;
    /// Non-zero: virtual time (Trio's autojump clock). When every task waits
    /// on time alone (no ready task, no waited file descriptor, no pending
    /// cross-thread call), the clock jumps to the next deadline instead of
    /// sleeping. Otherwise it runs at real speed, so a task that polls in a
    /// loop still sees its deadline come. Sleeps cost nothing and timer
    /// order is deterministic; meant for tests. The environment variable
    /// AIOC_VIRTUAL_TIME=1 turns it on for every loop of the process.
    int virtual_time;
    /// Name of the main task in dumps and reports; default "main".
    const char *main_name;
    /// Non-zero: a seeded schedule for tests. Each task or callback that
    /// becomes ready is queued a few places off FIFO order, as drawn from
    /// the seed: different seeds give different interleavings, the same
    /// seed the same one, so a failing interleaving can be replayed. 0 takes
    /// the environment variable AIOC_SEED, else FIFO order.
    uint64_t seed;
    /// Non-zero: leave SIGINT alone. By default the first loop to run
    /// handles it: the first Ctrl-C cancels the main task, and once every
    /// task has ended, stdio's buffers are flushed (fflush(NULL)) and the
    /// process is killed by SIGINT as if unhandled (exit status 130 in a
    /// shell): code after aioc_run does not run, atexit handlers neither.
    /// A second Ctrl-C kills it at once, flushing nothing. A program that
    /// already handles or ignores SIGINT is left alone too (a shell starts
    /// background jobs with SIGINT ignored).
    int keep_sigint;
    /// Non-zero: after a Ctrl-C, once every task has ended, aioc_run
    /// returns -ECANCELED (whatever main returned; `*result` is still
    /// main's value) instead of killing the process, so that the program
    /// can finish and exit as it likes (by convention with status 130).
    /// A second Ctrl-C still kills at once. No effect with keep_sigint, or
    /// in a loop that does not handle SIGINT.
    int return_on_sigint;
    /// Most threads for the process-wide pool behind aioc_to_thread; 0
    /// leaves the pool as it is (see aioc_thread_pool_size).
    unsigned threads;
    /// How many loops run `main`, each in a thread of its own (one per core
    /// for a server: see the "Loops" section). 0 takes the environment
    /// variable AIOC_LOOPS (a number or "auto"), else 1; 1 is one loop in
    /// the calling thread; N > 1 runs main once per loop, the calling
    /// thread being loop 0; AIOC_LOOPS_AUTO is the number of CPUs the
    /// process may use. At most AIOC_LOOPS_MAX (-EINVAL above it).
    unsigned loops;
    /// Watchdog threshold in milliseconds: a task or callback that runs
    /// this long without yielding is reported on stderr while it still
    /// runs, with its name, id and backtrace, and again when it yields
    /// (README, "Watchdog"). 0 takes the environment variable
    /// AIOC_WATCHDOG_MS, else 100 in debug mode (the `debug` field, or
    /// AIOC_DEBUG set, not to "0"), else no watchdog. It costs a monitor thread per loop. When the
    /// loop thread is blocked in a system call inside a task, the backtrace is taken without
    /// disturbing it; otherwise the loop thread gets SIGURG once per stall (a handler of the
    /// program's own is chained), and a blocking call it enters at that moment may return early
    /// with EINTR. With the watchdog on, debug mode's other checks are on too: a lock, or a
    /// semaphore's permit, released after being held ten thresholds or more, a stream still open
    /// when the loop ends, a loop's object or task handle used from another thread, are reported
    /// on stderr with the task that held, created or used it and where that task was spawned.
    unsigned watchdog_ms;
    /// Non-zero: debug mode (asyncio's), also turned on for every loop by
    /// the environment variable AIOC_DEBUG=1. It times each task's steps and
    /// records who spawned it, so that aioc_tasks() reports how long each
    /// task has run and its parent (one reading of the CPU's counter per
    /// task switch; off, nothing is timed). It also checks for
    /// thread-unsafe calls: a primitive, queue or stream belongs to the
    /// first loop that uses it; used from another thread's loop the call
    /// fails with -EXDEV, from a thread with no loop with AIOC_ENOLOOP
    /// (void functions do nothing), and the object is reported once on
    /// stderr (README, debug mode). The owner is forgotten when the object
    /// is destroyed, initialised again or freed, or its loop ends.
    int debug;
    /// A signal (e.g. SIGQUIT or SIGUSR1) on which the loop prints its
    /// tasks to stderr, as aioc_dump_tasks() does, and goes on running (Go's
    /// SIGQUIT dump, without the exit). 0 takes the environment variable
    /// AIOC_DUMP_SIGNAL (a number or a name: "SIGUSR1", "USR1"), else none.
    /// The handler only wakes the loop: the dump is printed by the loop
    /// itself after its next poll, between two task steps, so a task that
    /// never yields delays it. Every loop asking for the signal dumps.
    /// aioc_run fails with -EBUSY if the program already handles that
    /// signal or another loop dumps on another one (from the environment:
    /// a warning, and no dump signal), -EINVAL for an invalid signal.
    int dump_signal;
    /// The path of a Unix socket on which tools/aioc-ps (`aioc-ps PID`)
    /// reads this program's tasks while it runs, as `python -m asyncio ps`
    /// does; "" takes the default, $XDG_RUNTIME_DIR/aioc-PID.sock (else
    /// /tmp/aioc-PID.sock). NULL takes the environment variable
    /// AIOC_INSPECT (a path; "1": the default), else no socket. Served by a
    /// detached task named "aioc-inspect" on the first loop of the process
    /// that asks; it answers one command per connection ("tasks": the dump;
    /// "stats": aioc_loop_stats, one "name value" line each). The socket is
    /// for its owner only (mode 0600); its file is removed when the loop
    /// ends. A socket that cannot be made is reported on stderr and the
    /// program runs without. While it serves, the loop always has a
    /// descriptor to wait on, so it cannot report a deadlock, and virtual
    /// time runs at real speed (the clock jumps only when no descriptor is
    /// waited on).
    const char *inspect_path;
} aioc_run_opts;

/// Runs `main(arg)` as the first task of a new event loop in this thread and
/// returns when it ends (with several loops, aioc_run_opts.loops: once per
/// loop, returning when all have ended, as the "Loops" section tells).
/// Before returning, every task still alive is cancelled and joined, and
/// unobserved failures are reported.
/// `*result` (if `result` is not NULL) receives main's return value.
/// Returns main's status: 0, the error main returned with aioc_fail(),
/// -ECANCELED if main was cancelled (or a Ctrl-C came, with
/// aioc_run_opts.return_on_sigint; without it a Ctrl-C never returns),
/// -EDEADLK if every task waits and nothing can ever wake one (the waiting
/// tasks are dumped to stderr), -EBUSY if a loop already runs in this
/// thread, -EINVAL if the environment variable AIOC_BACKEND names a
/// backend other than "epoll", -EBUSY or -EINVAL for a dump signal it
/// cannot take (aioc_run_opts.dump_signal), -ENOMEM or another errno if
/// the loop cannot be set up. May be called again after it returns, and in
/// several threads at once (one loop each). With the environment variable
/// AIOC_TRACE=FILE, the loop's timeline (task steps, waits, wake-ups) is
/// written to FILE as Chrome trace-event JSON when the loop ends (Perfetto
/// opens it); see the README's "The timeline".
AIOC_EXTERN int aioc_run(aioc_fn main, void *arg, void **result);

/// aioc_run with options; `opts` may be NULL and is only read during the call.
/// Also -EINVAL for aioc_run_opts.loops (or AIOC_LOOPS) above
/// AIOC_LOOPS_MAX or not a number, and -EAGAIN if a loop's thread cannot
/// be started.
AIOC_EXTERN int aioc_run_with(aioc_fn main, void *arg, void **result, const aioc_run_opts *opts);
/// @}

/* ============================================================== tasks == */
/// @defgroup core_tasks Tasks
/// @{

/// A task handle. Copy it freely; it stays valid until the task is awaited
/// (or, for a detached task, ends). `id == 0` is never a valid task.
typedef struct aioc_task {
    uint64_t id; ///< the task's number in dumps; 0 is never a task
} aioc_task;

/// Options of aioc_spawn_with; zeroed fields take the defaults.
typedef struct aioc_spawn_opts {
    /// Shown in dumps and failure reports; copied. NULL: "task-<n>".
    const char *name;
    /// Stack size in bytes; 0 takes the loop's default.
    size_t stack_size;
} aioc_spawn_opts;

/// Creates a task that will run `fn(arg)` concurrently with the caller; it
/// starts at the loop's next turn (the caller keeps running). Does not
/// suspend. `arg` is borrowed: keep it valid until the task no longer uses
/// it. May be called from a task or a loop callback.
/// If the task cannot be created, the returned handle carries the error
/// (AIOC_ENOLOOP outside a loop, -ESHUTDOWN while the loop shuts down,
/// -ENOMEM): aioc_task_error() returns it and aioc_await() fails with it.
AIOC_EXTERN aioc_task aioc_spawn(aioc_fn fn, void *arg);

/// aioc_spawn with options; `opts` may be NULL. Also fails with -EINVAL for
/// a stack size below 16 KiB or above 1 GiB.
AIOC_EXTERN aioc_task aioc_spawn_with(aioc_fn fn, void *arg, const aioc_spawn_opts *opts);

/// Where a task was spawned: a source file and line. One static record per
/// call site (AIOC_SPAWN_SITE makes it), so a task keeps one pointer to it.
typedef struct aioc_spawn_site {
    const char *file; ///< a string literal such as `__FILE__`
    int line;         ///< the line in `file`
} aioc_spawn_site;

/// aioc_spawn, recording `site` as the place that created the task: the
/// watchdog's reports, debug mode's checks and aioc_tasks() show it.
/// `site` (may be NULL: no site) is borrowed for the task's life; a static
/// record such as AIOC_SPAWN_SITE gives lives as long as the program. The
/// aioc_spawn macro calls it, so every spawn records its site; errors as
/// aioc_spawn.
AIOC_EXTERN aioc_task aioc_spawn_at(const aioc_spawn_site *site, aioc_fn fn, void *arg);

/// aioc_spawn_with, recording `site` as aioc_spawn_at does; the
/// aioc_spawn_with macro calls it. Errors as aioc_spawn_with.
AIOC_EXTERN aioc_task aioc_spawn_with_at(const aioc_spawn_site *site, aioc_fn fn, void *arg,
                                         const aioc_spawn_opts *opts);

/// A pointer to a static aioc_spawn_site holding the file and line where
/// the macro is written (a GNU C statement expression, which GCC and Clang
/// accept in C and C++).
#define AIOC_SPAWN_SITE                                                                            \
    (__extension__({                                                                               \
        static const aioc_spawn_site aioc_spawn_site_here_ = {__FILE__, __LINE__};                 \
        &aioc_spawn_site_here_;                                                                    \
    }))

#if !defined(AIOC_BUILDING) && !defined(AIOC_NO_SPAWN_SITE)
/// Calls aioc_spawn_at with the caller's file and line, so that reports
/// can say where a task was created. The functions aioc_spawn and
/// aioc_spawn_with still exist (take their address, or define
/// AIOC_NO_SPAWN_SITE before including aioc.h, to call them directly).
#define aioc_spawn(...) aioc_spawn_at(AIOC_SPAWN_SITE, __VA_ARGS__)
/// Calls aioc_spawn_with_at with the caller's file and line.
#define aioc_spawn_with(...) aioc_spawn_with_at(AIOC_SPAWN_SITE, __VA_ARGS__)
#endif

/// 0 if `t` came from a successful spawn, else the spawn's error.
AIOC_EXTERN int aioc_task_error(aioc_task t);

/// Waits for `t` to end and consumes the handle. Suspends unless `t` has
/// already ended. `*result` (if not NULL) receives its return value (NULL
/// unless it returned normally). Returns the task's status: 0, the error it
/// gave aioc_fail(), or -ECANCELED if it was cancelled; or, without
/// consuming the handle: -ECANCELED / -ETIMEDOUT if the caller was
/// cancelled or its deadline passed (the task keeps running), AIOC_ESTALE
/// for an invalid handle or one already awaited or detached, -EXDEV for a
/// task of another loop (aioc_run_opts.loops), AIOC_EAWAITED
/// if another task is awaiting it now, -EDEADLK if `t` is the caller,
/// AIOC_ENOTASK outside a task, or the spawn error of a failed spawn.
AIOC_EXTERN int aioc_await(aioc_task t, void **result);

/// Lets `t` run on unobserved: the loop keeps it alive until it ends and
/// reports it if it fails. Consumes the handle. Does not suspend. Returns 0,
/// AIOC_ESTALE, or -EXDEV for a task of another loop.
AIOC_EXTERN int aioc_detach(aioc_task t);

/// Requests cancellation of `t`: its current suspending call (if any) and
/// every later one return -ECANCELED, except inside a shield, until the
/// request count drops back to 0 (aioc_uncancel). A task that has not
/// started yet ends at once with -ECANCELED without running. Does not
/// suspend; the task sees it when it next runs. Returns 0, AIOC_ESTALE, or
/// -EXDEV for a task of another loop (send it a loop call instead);
/// cancelling a finished task is 0 and does nothing.
AIOC_EXTERN int aioc_cancel(aioc_task t);

/// The number of pending cancel requests of the current task (0 outside a
/// task).
AIOC_EXTERN int aioc_cancelling(void);

/// Withdraws one cancel request of the current task and returns how many
/// remain. For code that handled a cancellation and goes on deliberately.
AIOC_EXTERN int aioc_uncancel(void);

/// The handle of the running task; id 0 outside a task.
AIOC_EXTERN aioc_task aioc_current(void);

/// The task's name (static or owned by the task; valid until it ends and
/// is awaited). NULL for an invalid handle.
AIOC_EXTERN const char *aioc_task_name(aioc_task t);

/// Non-zero once `t` has ended (or its spawn failed); 0 while it runs or
/// waits, or for an invalid handle.
AIOC_EXTERN int aioc_task_done(aioc_task t);

/// Marks the current task as failed with `err` (negative) and returns NULL,
/// so a task body can end with `return aioc_fail(-EIO);`. The status is
/// taken when the task function returns. `err` of 0 clears a failure.
/// It marks the running task, whoever calls it: a helper that the task
/// calls directly (the `await f()` case) should return its error code to
/// its caller instead.
AIOC_EXTERN void *aioc_fail(int err);

/// Called when a task fails and nobody observes it: a detached task when it
/// ends, an un-awaited task when the loop shuts down. `name` and the call
/// are valid only during the call.
typedef void (*aioc_failure_handler)(const char *name, int err, void *data);

/// Sets the running loop's handler; NULL restores the default, which
/// prints "aioc: task 'NAME' failed: ERROR" to stderr. Returns 0 or
/// AIOC_ENOLOOP.
AIOC_EXTERN int aioc_set_failure_handler(aioc_failure_handler fn, void *data);
/// @}

/* ========================================================= task-local == */
/// @defgroup core_task_local Task-local
/// @{

/// A task-local variable: declare one per variable with static storage,
/// e.g. `static aioc_local_key request_id = {free};`. The destructor (may
/// be NULL) runs on the value when the task ends.
typedef struct aioc_local_key {
    void (*destructor)(void *value); ///< run on a task's value when it ends; may be NULL
} aioc_local_key;

/// Sets the current task's value for `key` (replacing without destroying
/// the old value). Returns 0, AIOC_ENOTASK or -ENOMEM.
AIOC_EXTERN int aioc_local_set(aioc_local_key *key, void *value);

/// The current task's value for `key`; NULL if unset or outside a task.
AIOC_EXTERN void *aioc_local_get(const aioc_local_key *key);

/// Loop-local storage, for state one loop shares between its tasks (an
/// adapter's per-loop handle, such as libcurl's multi handle): sets the
/// running loop's value for `key`, replacing without destroying the old
/// one. The key's destructor runs on the value when aioc_run ends, after
/// every task has ended. Does not suspend. Returns 0, AIOC_ENOLOOP, or
/// -ENOMEM.
AIOC_EXTERN int aioc_loop_local_set(aioc_local_key *key, void *value);

/// The running loop's value for `key`, or NULL (none, or no loop).
AIOC_EXTERN void *aioc_loop_local_get(const aioc_local_key *key);
/// @}

/* ============================================================ waiting == */
/// @defgroup core_waiting Waiting
/// @{

/// Suspends the current task for `seconds` (≤ 0: like aioc_yield).
/// Returns 0, -ECANCELED, -ETIMEDOUT (deadline scope) or AIOC_ENOTASK.
AIOC_EXTERN int aioc_sleep(double seconds);

/// Suspends until the loop clock reaches `when` (an aioc_now() value).
AIOC_EXTERN int aioc_sleep_until(double when);

/// Lets every other ready task run once, then resumes (asyncio.sleep(0)).
/// Returns 0, -ECANCELED, -ETIMEDOUT or AIOC_ENOTASK.
AIOC_EXTERN int aioc_yield(void);
/// @}

/* ========================================================== callbacks == */
/// @defgroup core_callbacks Callbacks
/// @{

/// A scheduled callback. Like a task handle, a call that could not be
/// scheduled returns a handle carrying the error (aioc_call_error).
typedef struct aioc_call {
    uint64_t id; ///< the call's number; 0 is never a call
} aioc_call;

/// A callback run by the loop outside any task (aioc_call_soon,
/// aioc_call_later, aioc_loop_call): it must not suspend.
typedef void (*aioc_callback)(void *arg);

/// Runs `fn(arg)` on the loop at its next turn, in FIFO order with ready
/// tasks. Callbacks run outside any task: they must not suspend (suspending
/// calls return AIOC_ENOTASK there) but may spawn tasks. Does not suspend.
/// If it cannot be scheduled, the handle carries the error (AIOC_ENOLOOP
/// outside a loop, -EINVAL without `fn`, -ENOMEM): see aioc_call_error.
AIOC_EXTERN aioc_call aioc_call_soon(aioc_callback fn, void *arg);

/// Runs `fn(arg)` once, `seconds` from now.
AIOC_EXTERN aioc_call aioc_call_later(double seconds, aioc_callback fn, void *arg);

/// Runs `fn(arg)` once, when the loop clock reaches `when`.
AIOC_EXTERN aioc_call aioc_call_at(double when, aioc_callback fn, void *arg);

/// 0 if `c` came from a successful aioc_call_soon / _later / _at, else the
/// error it failed with. Does not suspend.
AIOC_EXTERN int aioc_call_error(aioc_call c);

/// Cancels a callback that has not run yet. Returns 0, or AIOC_ESTALE if it
/// already ran, was cancelled or was never scheduled.
AIOC_EXTERN int aioc_call_cancel(aioc_call c);
/// @}

/* ==================================================== waiting on many == */
/// @defgroup core_waiting_on_many Waiting on many
/// @{

/// Waits for every task in `tasks` and consumes all the handles. On the
/// first failure, cancels the others, waits for them, and returns that
/// error. `results[i]` (if `results` is not NULL) receives task i's return
/// value (NULL for a task that failed). Suspends. If the caller is
/// cancelled or its deadline passes, every task is cancelled and awaited
/// before -ECANCELED / -ETIMEDOUT is returned. Returns 0 when all succeed.
/// A handle already awaited, detached or invalid gives AIOC_ESTALE, and a
/// task of another loop -EXDEV, before anything is awaited.
AIOC_EXTERN int aioc_gather(const aioc_task *tasks, size_t n, void **results);

/// Like aioc_gather, but a failure does not cancel the others: every task
/// runs to its end, `statuses[i]` receives task i's own status, and the
/// call returns 0 (or -ECANCELED / -ETIMEDOUT if the caller was cancelled,
/// after cancelling and awaiting every task). Either array may be NULL.
AIOC_EXTERN int aioc_gather_all(const aioc_task *tasks, size_t n, void **results, int *statuses);

/// What aioc_wait waits for (asyncio.wait's return_when).
enum aioc_wait_mode {
    AIOC_WAIT_ANY = 1,           ///< one task has ended
    AIOC_WAIT_ALL = 2,           ///< every task has ended
    AIOC_WAIT_FIRST_FAILURE = 3, ///< one task failed, or all ended
};

/// Waits until `mode` is met, without consuming any handle (await them
/// afterwards). Suspends unless already met. Returns the index of the task
/// that met AIOC_WAIT_ANY or AIOC_WAIT_FIRST_FAILURE (the lowest index if
/// several had), `n` when AIOC_WAIT_ALL is met or no task failed, or a
/// negative error: -ECANCELED, -ETIMEDOUT, -EINVAL (bad mode or n == 0),
/// AIOC_ESTALE (a handle is invalid), -EXDEV (a task of another loop),
/// AIOC_ENOTASK, -ENOMEM.
AIOC_EXTERN long aioc_wait(const aioc_task *tasks, size_t n, int mode);

/// An iterator over tasks in the order they end (asyncio.as_completed).
typedef struct aioc_completion aioc_completion;

/// Starts watching `n` tasks (the array is copied; handles are not
/// consumed). Returns NULL with errno set (ENOMEM, EINVAL) on failure.
AIOC_EXTERN aioc_completion *aioc_completion_new(const aioc_task *tasks, size_t n);

/// Waits for the next task to end and returns its index in the original
/// array; each index is returned once. Suspends. Returns AIOC_EOF when all
/// were returned, or -ECANCELED / -ETIMEDOUT / AIOC_ENOTASK.
AIOC_EXTERN long aioc_completion_next(aioc_completion *c);

/// Stops watching and frees the iterator; the tasks are not affected.
AIOC_EXTERN void aioc_completion_free(aioc_completion *c);
/// @}

/* ============================================================= scopes == */
/// @defgroup core_scopes Scopes
/// @{

/// A deadline/cancel scope (Trio's cancel scopes, asyncio.timeout). The
/// handle may live on the stack; the scope's state lives in the task, so a
/// copy of the handle can cancel it from another task.
typedef struct aioc_scope {
    uint64_t id; ///< the scope's number; 0 is never a scope
} aioc_scope;

/// Enters a scope that expires `seconds` from now (AIOC_NO_TIMEOUT: never;
/// 0 or less: it has expired already, see "Timeouts" above). While it is
/// entered, every suspending call of this task returns -ETIMEDOUT once it
/// has expired, and -ECANCELED once it was cancelled. Scopes nest; the
/// earliest deadline wins; an outer cancellation is reported as
/// -ECANCELED, never as -ETIMEDOUT. Does not suspend. Returns 0,
/// AIOC_ENOTASK, -ENOMEM. Every enter needs its exit.
AIOC_EXTERN int aioc_scope_enter(aioc_scope *s, double seconds);

/// Enters a scope that expires when the loop clock reaches `deadline` (a
/// deadline already passed: at once; AIOC_NO_TIMEOUT: never).
AIOC_EXTERN int aioc_scope_enter_at(aioc_scope *s, double deadline);

/// Enters a shielded scope: inside it, cancellation of the task and the
/// expiry of enclosing scopes are not delivered (they are delivered after
/// the exit). Scopes entered inside the shield still work. For cleanup that
/// must finish.
AIOC_EXTERN int aioc_shield_enter(aioc_scope *s);

/// Leaves the innermost scope, which must be `s`. Returns -ETIMEDOUT if its
/// deadline passed, -ECANCELED if it was cancelled, else 0; AIOC_ESTALE if
/// `s` is not the innermost open scope of the current task.
AIOC_EXTERN int aioc_scope_exit(aioc_scope *s);

/// Cancels scope `s` from any task or callback of the same loop: the owner's
/// suspending calls inside it return -ECANCELED. Returns 0 or AIOC_ESTALE.
AIOC_EXTERN int aioc_scope_cancel(aioc_scope s);

/// Moves the deadline of `s` to `seconds` from now (AIOC_NO_TIMEOUT: none;
/// 0 or less: it expires now). Returns 0, -EALREADY if it has expired
/// already (nothing changes), or AIOC_ESTALE.
AIOC_EXTERN int aioc_scope_reschedule(aioc_scope s, double seconds);

/// Awaits `t` for at most `seconds` (AIOC_NO_TIMEOUT: no limit; 0 or less:
/// no waiting, so `t` is cancelled unless it has ended already); when the
/// time runs out, cancels `t`, waits for it to end, and returns
/// -ETIMEDOUT. Consumes the handle in every case except
/// AIOC_ESTALE/AIOC_EAWAITED. Otherwise as aioc_await.
AIOC_EXTERN int aioc_wait_for(aioc_task t, double seconds, void **result);
/// @}

/* ======================================================== task groups == */
/// @defgroup core_task_groups Task groups
/// @{

/// A task group (asyncio.TaskGroup, a Trio nursery): children cannot
/// outlive it, the first failure cancels the others.
typedef struct aioc_group {
    uint64_t id; ///< the group's number; 0 is never a group
} aioc_group;

/// Creates a group owned by the current task. Returns 0, AIOC_ENOTASK or
/// -ENOMEM. Does not suspend.
AIOC_EXTERN int aioc_group_init(aioc_group *g);

/// Spawns a child of the group; as aioc_spawn_with (`opts` may be NULL).
/// The group owns the child's handle (don't await or detach it). Fails with
/// -ECANCELED (the handle carries it) once the group is cancelled or has
/// failed, and AIOC_ESTALE for an invalid group.
AIOC_EXTERN aioc_task aioc_group_spawn(aioc_group g, aioc_fn fn, void *arg,
                                       const aioc_spawn_opts *opts);

/// Waits for every child and frees the group. Returns 0, the first child
/// failure (the siblings having been cancelled; a child that ended with
/// -ECANCELED because someone cancelled it directly is not a failure, as
/// in asyncio's TaskGroup), -ECANCELED if the group was cancelled, or —
/// if the waiting task itself is cancelled or its deadline passes —
/// cancels the children, waits for them, and returns -ECANCELED /
/// -ETIMEDOUT. Must be called by the task that created the group, exactly
/// once. Suspends.
AIOC_EXTERN int aioc_group_wait(aioc_group g);

/// Cancels every child of `g`; later spawns into it fail. From any task or
/// callback of the loop. Returns 0 or AIOC_ESTALE. Does not suspend.
AIOC_EXTERN int aioc_group_cancel(aioc_group g);
/// @}

/* ============================================== synchronization == */
/// @defgroup core_synchronization Synchronization
/// @{

/* Lock, event, condition, semaphore and barrier, as in asyncio. Each is a
 * small embeddable struct: start it with its AIOC_*_INIT macro (static or
 * automatic storage) or its init function, and end it with its destroy
 * function. Waiting tasks are served in the order they began to wait.
 * Every wait is a suspension point: it returns -ECANCELED or -ETIMEDOUT
 * when the task is cancelled or a deadline scope expires, and a waiter
 * that gives up never takes a wake-up, a permit or a lock that another
 * waiter should get. The structs are opaque: use the functions. A
 * primitive must not be moved or copied while a task waits on it, and is
 * used by the tasks of one loop (thread) only: from another thread it is
 * undefined behaviour, except in debug mode (aioc_run_opts.debug), where
 * the first loop to use it owns it and every use from another thread
 * fails with -EXDEV (another loop) or AIOC_ENOLOOP (no loop), or does
 * nothing for the functions returning void, and is reported once on
 * stderr. Initialise a primitive again (its init function) to hand it to
 * another loop. */

/// An event (asyncio.Event): tasks wait until it is set.
typedef struct aioc_event {
    uintptr_t opaque[3]; ///< private: use the functions
} aioc_event;

// clang-format off
/// A static initializer, the same as aioc_event_init.
#define AIOC_EVENT_INIT {{0, 0, 0}}
// clang-format on

/// Initialises `ev` as not set.
AIOC_EXTERN void aioc_event_init(aioc_event *ev);

/// Ends `ev`. Returns 0, or -EBUSY (and changes nothing) while tasks wait
/// on it.
AIOC_EXTERN int aioc_event_destroy(aioc_event *ev);

/// Sets `ev` and wakes every task waiting on it (in the order they began
/// waiting). Does not suspend; callable from tasks and callbacks.
AIOC_EXTERN void aioc_event_set(aioc_event *ev);

/// Clears `ev`; later waits park until the next set.
AIOC_EXTERN void aioc_event_clear(aioc_event *ev);

/// Non-zero if `ev` is set.
AIOC_EXTERN int aioc_event_is_set(const aioc_event *ev);

/// Waits until `ev` is set; returns at once if it is. Suspends. Returns 0,
/// -ECANCELED, -ETIMEDOUT or AIOC_ENOTASK.
AIOC_EXTERN int aioc_event_wait(aioc_event *ev);

/// A lock (asyncio.Lock), owned by the task that acquired it; not
/// recursive.
typedef struct aioc_lock {
    uintptr_t opaque[4]; ///< private: use the functions
} aioc_lock;

// clang-format off
/// A static initializer, the same as aioc_lock_init.
#define AIOC_LOCK_INIT {{0, 0, 0, 0}}
// clang-format on

/// Initialises `l` as unlocked.
AIOC_EXTERN void aioc_lock_init(aioc_lock *l);

/// Ends `l`. Returns 0, or -EBUSY (changing nothing) if it is held or
/// waited on.
AIOC_EXTERN int aioc_lock_destroy(aioc_lock *l);

/// Acquires `l`, waiting while another task holds it; a release hands the
/// lock straight to the first waiter (no barging). Suspends. Returns 0,
/// -ECANCELED / -ETIMEDOUT (not acquired), -EDEADLK if the caller already
/// holds it, AIOC_ENOTASK.
AIOC_EXTERN int aioc_lock_acquire(aioc_lock *l);

/// Acquires `l` if nobody holds it or waits for it. Does not suspend.
/// Returns 0, -EBUSY, -EDEADLK (the caller holds it), AIOC_ENOTASK.
AIOC_EXTERN int aioc_lock_try_acquire(aioc_lock *l);

/// Releases `l`, handing it to the first waiter if any. Does not suspend.
/// Returns 0, or -EPERM if the caller (a task, or code outside tasks)
/// does not hold it.
AIOC_EXTERN int aioc_lock_release(aioc_lock *l);

/// Non-zero while some task holds `l`.
AIOC_EXTERN int aioc_lock_locked(const aioc_lock *l);

/// A condition variable (asyncio.Condition) used with an aioc_lock.
typedef struct aioc_cond {
    uintptr_t opaque[3]; ///< private: use the functions
} aioc_cond;

// clang-format off
/// A static initializer, the same as aioc_cond_init.
#define AIOC_COND_INIT {{0, 0, 0}}
// clang-format on

/// Initialises `c` with no waiters.
AIOC_EXTERN void aioc_cond_init(aioc_cond *c);

/// Ends `c`. Returns 0, or -EBUSY (changing nothing) while tasks wait.
AIOC_EXTERN int aioc_cond_destroy(aioc_cond *c);

/// Releases `l` (which the caller must hold), waits for a notify, and
/// acquires `l` again before returning, whatever the outcome: even when it
/// returns -ECANCELED or -ETIMEDOUT the caller holds `l` again. Wake-ups
/// can be spurious in effect (another task may change the state first), so
/// wait in a loop over the predicate. Suspends. Returns 0, -ECANCELED,
/// -ETIMEDOUT, -EPERM (the caller does not hold `l`; nothing done),
/// AIOC_ENOTASK.
AIOC_EXTERN int aioc_cond_wait(aioc_cond *c, aioc_lock *l);

/// Wakes up to `n` waiters, first come first served. Does not suspend.
/// Returns how many were woken. A woken waiter that is cancelled before it
/// runs still consumes its notify and returns 0.
AIOC_EXTERN int aioc_cond_notify(aioc_cond *c, int n);

/// Wakes every waiter; returns how many.
AIOC_EXTERN int aioc_cond_notify_all(aioc_cond *c);

/// A counting semaphore (asyncio.Semaphore), or with a bound, a bounded
/// one (asyncio.BoundedSemaphore: releasing above the initial value is an
/// error, not silently allowed).
typedef struct aioc_sem {
    uintptr_t opaque[4]; ///< private: use the functions
} aioc_sem;

// clang-format off
/// A static initializer for a semaphore holding `value` permits.
#define AIOC_SEM_INIT(value) {{0, 0, (uintptr_t)(value), 0}}
/// A static initializer for a bounded semaphore of `value` permits.
#define AIOC_BOUNDED_SEM_INIT(value) {{0, 0, (uintptr_t)(value), (uintptr_t)(value) + 1}}
// clang-format on

/// Initialises `s` with `value` permits, unbounded.
AIOC_EXTERN void aioc_sem_init(aioc_sem *s, unsigned value);

/// Initialises `s` with `value` permits; releasing beyond `value` fails.
AIOC_EXTERN void aioc_sem_init_bounded(aioc_sem *s, unsigned value);

/// Ends `s`. Returns 0, or -EBUSY (changing nothing) while tasks wait.
AIOC_EXTERN int aioc_sem_destroy(aioc_sem *s);

/// Takes a permit, waiting while there is none; a release hands its permit
/// straight to the first waiter. Suspends. Returns 0, -ECANCELED /
/// -ETIMEDOUT (no permit taken), AIOC_ENOTASK.
AIOC_EXTERN int aioc_sem_acquire(aioc_sem *s);

/// Takes a permit if one is free and nobody waits. Does not suspend.
/// Returns 0 or -EAGAIN.
AIOC_EXTERN int aioc_sem_try_acquire(aioc_sem *s);

/// Returns a permit (to the first waiter if any). Does not suspend;
/// callable from tasks and callbacks. Returns 0, or -EOVERFLOW for a
/// bounded semaphore already at its initial value (nothing changes).
AIOC_EXTERN int aioc_sem_release(aioc_sem *s);

/// The number of free permits.
AIOC_EXTERN unsigned aioc_sem_value(const aioc_sem *s);

/// A barrier (asyncio.Barrier): `parties` tasks wait until all have
/// arrived, then all go on together; then it can be used again.
typedef struct aioc_barrier {
    uintptr_t opaque[5]; ///< private: use the functions
} aioc_barrier;

// clang-format off
/// A static initializer for a barrier of `parties` tasks.
#define AIOC_BARRIER_INIT(parties) {{0, 0, (uintptr_t)(parties), 0, 0}}
// clang-format on

/// Initialises `b` for `parties` (at least 1) tasks.
AIOC_EXTERN void aioc_barrier_init(aioc_barrier *b, unsigned parties);

/// Ends `b`. Returns 0, or -EBUSY (changing nothing) while tasks wait.
AIOC_EXTERN int aioc_barrier_destroy(aioc_barrier *b);

/// Waits until `parties` tasks have arrived. Suspends unless the caller is
/// the last. Returns the caller's arrival index (0 .. parties-1, the last
/// to arrive gets parties-1), -ECANCELED / -ETIMEDOUT (the caller leaves
/// and no longer counts), AIOC_EBROKEN if the barrier was aborted or reset
/// while it waited (or is broken), AIOC_ENOTASK.
AIOC_EXTERN int aioc_barrier_wait(aioc_barrier *b);

/// Breaks `b`: every waiter, and every later wait until a reset, returns
/// AIOC_EBROKEN. Does not suspend.
AIOC_EXTERN void aioc_barrier_abort(aioc_barrier *b);

/// Returns `b` to its empty state; current waiters get AIOC_EBROKEN.
AIOC_EXTERN void aioc_barrier_reset(aioc_barrier *b);

/// The number of tasks waiting now.
AIOC_EXTERN unsigned aioc_barrier_waiting(const aioc_barrier *b);
/// @}

/* ============================================================= queues == */
/// @defgroup core_queues Queues
/// @{

/// A queue of `void *` items between tasks (asyncio.Queue, LifoQueue,
/// PriorityQueue), with an optional bound: put waits while it is full,
/// get waits while it is empty, and an item is handed straight to a
/// waiting getter. The queue never owns the items' memory; items it has
/// to drop (an immediate shutdown, aioc_queue_free) go to a drop function.
/// A queue is used by the tasks of one loop; debug mode refuses its use
/// from another thread (-EXDEV, AIOC_ENOLOOP; a shutdown does nothing), as
/// it does a primitive's.
typedef struct aioc_queue aioc_queue;

/// The order in which a queue gives its items back.
enum aioc_queue_kind {
    AIOC_QUEUE_FIFO = 0,     ///< first in, first out (asyncio.Queue)
    AIOC_QUEUE_LIFO = 1,     ///< last in, first out (asyncio.LifoQueue)
    AIOC_QUEUE_PRIORITY = 2, ///< smallest first by `cmp`; ties in put order
};

/// Orders items in a priority queue: negative if `a` comes out before `b`.
typedef int (*aioc_queue_cmp)(const void *a, const void *b);

/// Called for each item a queue drops; `data` is the caller's.
typedef void (*aioc_queue_drop)(void *item, void *data);

/// Creates a queue of `kind`, holding at most `maxsize` items (0: no
/// bound). `cmp` is required for AIOC_QUEUE_PRIORITY and ignored
/// otherwise. Returns NULL with errno EINVAL or ENOMEM.
AIOC_EXTERN aioc_queue *aioc_queue_new(int kind, size_t maxsize, aioc_queue_cmp cmp);

/// Frees `q`, passing every item still in it to `drop` (if not NULL).
/// Returns 0, or -EBUSY (freeing nothing) while tasks wait on it.
AIOC_EXTERN int aioc_queue_free(aioc_queue *q, aioc_queue_drop drop, void *data);

/// Puts `item`, waiting while the queue is full. Suspends only then.
/// Returns 0; -ESHUTDOWN if the queue is (or, while waiting, was) shut
/// down; -ECANCELED / -ETIMEDOUT; -ENOMEM if it could not grow. Unless 0
/// is returned, the queue did not take the item: the caller still owns
/// it. AIOC_ENOTASK outside a task (use aioc_queue_try_put there).
AIOC_EXTERN int aioc_queue_put(aioc_queue *q, void *item);

/// Takes the next item into `*item`, waiting while the queue is empty.
/// Returns 0; -ESHUTDOWN once the queue is shut down and empty (a graceful
/// shutdown lets getters drain what is left first); -ECANCELED /
/// -ETIMEDOUT (nothing taken); AIOC_ENOTASK.
AIOC_EXTERN int aioc_queue_get(aioc_queue *q, void **item);

/// Puts without waiting: 0, -EAGAIN if full, -ESHUTDOWN, -ENOMEM (an
/// unbounded queue could not grow). Callable from tasks and callbacks.
AIOC_EXTERN int aioc_queue_try_put(aioc_queue *q, void *item);

/// Takes without waiting: 0, -EAGAIN if empty, -ESHUTDOWN if shut down and
/// empty. Callable from tasks and callbacks.
AIOC_EXTERN int aioc_queue_try_get(aioc_queue *q, void **item);

/// Items in the queue now (not counting puts still waiting).
AIOC_EXTERN size_t aioc_queue_size(const aioc_queue *q);

/// Marks one item taken by a get as processed (asyncio's task_done).
/// Returns 0, or -EINVAL if called more often than items were put.
AIOC_EXTERN int aioc_queue_task_done(aioc_queue *q);

/// Waits until every item put has been marked done. Suspends. Returns 0,
/// -ECANCELED, -ETIMEDOUT, AIOC_ENOTASK.
AIOC_EXTERN int aioc_queue_join(aioc_queue *q);

/// Shuts `q` down (Python 3.13's Queue.shutdown). Waiting and later puts
/// fail with -ESHUTDOWN. Graceful (`immediate` 0): getters still take what
/// is left, then get -ESHUTDOWN. Immediate: the items left are passed to
/// `drop` (may be NULL) and marked done, and every waiting getter gets
/// -ESHUTDOWN at once. Does not suspend.
AIOC_EXTERN void aioc_queue_shutdown(aioc_queue *q, int immediate, aioc_queue_drop drop,
                                     void *data);
/// @}

/* =================================================== file descriptors == */
/// @defgroup core_file_descriptors File descriptors
/// @{

/* Operations on file descriptors (sockets, pipes, terminals, eventfds) that
 * suspend the task instead of blocking the thread. Each tries the system
 * call first; only when it would block is the descriptor registered with
 * the loop (once, edge-triggered, for as long as it stays open) and the
 * task parked until the descriptor is ready. The descriptor is switched to
 * O_NONBLOCK on first use. That flag belongs to the open file description,
 * which other processes may share (stdin and stdout with the shell or a
 * pipe's other users): where aioc set it, it clears it again when
 * aioc_close closes the descriptor and, for descriptors still open, when
 * aioc_run ends; one already non-blocking stays so. (A descriptor shared
 * by loops in several threads gets it cleared when the loop that set it
 * ends.) Regular files are not pollable and O_NONBLOCK means nothing to
 * them: their reads and writes work here but block the loop's thread
 * while the disk works, so give file work to aioc_to_thread (their flags
 * are left alone). Close descriptors used here with aioc_close: it
 * wakes the tasks waiting on them and forgets the registration (a plain
 * close(2) would leave a stale one behind for the next descriptor that gets
 * the same number). Every call is a suspension point (-ECANCELED,
 * -ETIMEDOUT), and a task whose calls keep completing without waiting (its
 * socket always has data or room) yields every 64 calls, so it cannot
 * starve the others; other errors are the system call's, negated: -EPIPE,
 * -ECONNRESET, ... (SIGPIPE never fires: aioc_run ignores it and sends use
 * MSG_NOSIGNAL). Outside a task they return AIOC_ENOTASK. */

/// Reads up to `n` bytes, waiting until at least one byte (or end of file)
/// is there. Returns the count, 0 at end of file, or a negative error.
AIOC_EXTERN long aioc_read(int fd, void *buf, size_t n);

/// Writes all `n` bytes, waiting for room as often as needed. Returns `n`
/// or a negative error; on an error some bytes may have gone out (use
/// aioc_write_some to know how many).
AIOC_EXTERN long aioc_write(int fd, const void *buf, size_t n);

/// Writes up to `n` bytes, waiting until at least one can be written.
/// Returns the count (≥ 1 for n > 0) or a negative error.
AIOC_EXTERN long aioc_write_some(int fd, const void *buf, size_t n);

struct iovec;
struct sockaddr;

/// readv(2) that waits: as aioc_read, into `cnt` buffers.
AIOC_EXTERN long aioc_readv(int fd, const struct iovec *iov, int cnt);

/// writev(2) that waits: as aioc_write_some (it may write part).
AIOC_EXTERN long aioc_writev(int fd, const struct iovec *iov, int cnt);

/// recv(2) that waits until data (or end of stream) arrives.
AIOC_EXTERN long aioc_recv(int fd, void *buf, size_t n, int flags);

/// send(2) that waits for room; sends all `n` bytes (MSG_NOSIGNAL added).
/// Returns `n` or a negative error.
AIOC_EXTERN long aioc_send(int fd, const void *buf, size_t n, int flags);

/// recvfrom(2) that waits for a datagram; `addr`/`addrlen` as recvfrom.
AIOC_EXTERN long aioc_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                               unsigned *addrlen);

/// sendto(2) that waits for room (one datagram; MSG_NOSIGNAL added).
AIOC_EXTERN long aioc_sendto(int fd, const void *buf, size_t n, int flags,
                             const struct sockaddr *addr, unsigned addrlen);

/// Accepts a connection on listening socket `fd`, waiting for one. The new
/// socket is non-blocking and close-on-exec; `addr`/`addrlen` as accept.
/// Returns it, or a negative error (-EMFILE and -ENFILE included: the
/// caller decides how to back off).
AIOC_EXTERN int aioc_accept(int fd, struct sockaddr *addr, unsigned *addrlen);

/// Connects socket `fd` to `addr`, waiting until the connection is made or
/// refused. Returns 0, or a negative error (-ECONNREFUSED, -ETIMEDOUT
/// from the kernel or a deadline scope, -ENETUNREACH, ...).
AIOC_EXTERN int aioc_connect(int fd, const struct sockaddr *addr, unsigned addrlen);

/// Sends up to `n` bytes of file `in_fd` to socket `out_fd` (sendfile(2)),
/// waiting for room on the socket; from `*offset` (advanced) if `offset`
/// is not NULL, else from in_fd's position. Stops early at the end of the
/// file. Returns the bytes sent, or a negative error if none were.
AIOC_EXTERN long aioc_sendfile(int out_fd, int in_fd, long *offset, size_t n);

/// Waits until `fd` is readable (or at end of file, or in error). Returns 0
/// or a negative error.
AIOC_EXTERN int aioc_wait_readable(int fd);

/// Waits until `fd` is writable (or in error). Returns 0 or a negative
/// error.
AIOC_EXTERN int aioc_wait_writable(int fd);

/// aioc_wait_readable / aioc_wait_writable for a caller that has just seen
/// an operation on `fd` fail with EAGAIN (its own non-blocking read or
/// write, or a library's: OpenSSL's SSL_ERROR_WANT_READ after the socket
/// said EAGAIN). The descriptor is then known not to be ready, so these
/// skip the poll(2) the others make first and wait for the next readiness
/// edge: one system call less per wait. Called when the descriptor may be
/// ready already, they can wait for an edge that never comes. Suspends.
/// Return as aioc_wait_readable (0, -EBADF if it is closed meanwhile,
/// -ECANCELED, -ETIMEDOUT, AIOC_ENOTASK, ...).
AIOC_EXTERN int aioc_wait_readable_after_eagain(int fd);
/// The same for writability: after a write(2) that said EAGAIN.
AIOC_EXTERN int aioc_wait_writable_after_eagain(int fd);

/// Closes `fd`: tasks waiting on it return -EBADF, the loop forgets it, and
/// close(2) runs. Does not suspend. Returns 0 or close's negated errno.
/// Outside a loop it is a plain close.
AIOC_EXTERN int aioc_close(int fd);
/// @}

/* ======================================================== networking == */
/// @defgroup core_networking Networking
/// @{

struct addrinfo;

/// getaddrinfo(3) without blocking the loop: numeric hosts are converted at
/// once; names are looked up on a small resolver pool of their own (4
/// threads, AIOC_RESOLVERS), apart from aioc_to_thread's, so that slow
/// lookups and file or CPU work never starve each other. Suspends. Returns
/// 0 and `*res` (free it with freeaddrinfo); AIOC_EAI_BASE + the EAI_*
/// code of a failed lookup (aioc_strerror names it); -ECANCELED /
/// -ETIMEDOUT at once if the caller gives up (the late answer is freed).
AIOC_EXTERN int aioc_getaddrinfo(const char *host, const char *service,
                                 const struct addrinfo *hints, struct addrinfo **res);

/// Connects over TCP to `host` (a name or an IPv4/IPv6 address) and `port`
/// (a number or service name), as RFC 8305's Happy Eyeballs does: the
/// addresses are tried with families interleaved, the next attempt starts
/// when one fails or 250 ms after the last began, the first to connect
/// wins and the others are cancelled. Suspends; honours cancellation and
/// deadline scopes. Returns a connected socket (non-blocking,
/// close-on-exec: use it with the aioc_* descriptor calls or wrap it in an
/// aioc_stream; TCP_NODELAY set, as asyncio and Go do, so a small write
/// goes out at once), or a negative error: the last attempt's (-ECONNREFUSED,
/// -ENETUNREACH, ...), a resolver error, -ECANCELED, -ETIMEDOUT.
AIOC_EXTERN int aioc_tcp_connect(const char *host, const char *port);

/// Connects to the Unix stream socket at `path` ("@name": Linux's abstract
/// namespace, no file). Suspends. Returns a connected socket (non-blocking,
/// close-on-exec), or a negative error: -ENOENT (no such file),
/// -ECONNREFUSED (nobody listens), -EACCES, -EINVAL (empty path),
/// -ENAMETOOLONG (over 107 bytes), -ECANCELED, -ETIMEDOUT. While the
/// server's backlog is full it retries, backing off up to 100 ms.
AIOC_EXTERN int aioc_unix_connect(const char *path);

/// A UDP socket bound to local `host` (NULL: every address) and `port`
/// ("0": any free one; getsockname tells which), for aioc_recvfrom /
/// aioc_sendto. The first resolved address that binds is used. Suspends
/// only to resolve a name. Returns the socket (non-blocking, close-on-exec;
/// close it with aioc_close) or a negative error: a resolver error,
/// -EADDRINUSE, -EACCES, AIOC_ENOTASK, ...
AIOC_EXTERN int aioc_udp_bind(const char *host, const char *port);

/// A UDP socket connected to `host` and `port` (no packet is sent:
/// connecting a datagram socket only fixes its peer and filters what it
/// receives), for aioc_send / aioc_recv. aioc_recv may then fail with
/// -ECONNREFUSED when the peer's port is closed (an ICMP error came back).
/// Returns the socket or a negative error, as aioc_udp_bind.
AIOC_EXTERN int aioc_udp_connect(const char *host, const char *port);
/// @}

/* ============================================================ streams == */
/// @defgroup core_streams Streams
/// @{

/// A buffered byte stream over a transport (asyncio's StreamReader and
/// StreamWriter in one): a socket or pipe descriptor, or TLS through the
/// same transport interface. Reads are served from a buffer the stream
/// refills. Writes are coalesced per loop turn: a small write is buffered,
/// and once the loop has run the tasks that are ready it sends everything
/// written to the stream meanwhile, by any task, in one transport write
/// (what the transport does not take then is sent in the background by a
/// small task of the stream's). A read flushes first, so a request is out
/// before its reply is awaited, at the cost of one call as before; a write
/// of 16 KiB or more with nothing buffered is sent at once, without a
/// copy. Once the buffer holds `high_water` bytes a write waits, flushing
/// it down to `low_water`, instead of buffering without limit. Tasks that
/// read at the same time are served one after the other, and likewise
/// writers. A stream belongs to one loop; debug mode refuses its reads,
/// writes and drains from another thread (-EXDEV, AIOC_ENOLOOP), as it
/// does a primitive's.
typedef struct aioc_stream aioc_stream;

/// How a stream moves bytes: each call may suspend the task unless it says
/// otherwise. Fill it in with designated initialisers (`.read = ...`): the
/// optional calls left out are NULL, and later versions may add optional
/// calls at the end. The descriptor transport behind aioc_stream_new and
/// the TLS adapter's are the library's own; a program may write others.
typedef struct aioc_transport {
    /// Reads up to n bytes: the count, 0 at the end, or a negative error.
    long (*read)(void *ctx, void *buf, size_t n);
    /// Writes up to n bytes (at least one): the count or a negative error.
    long (*write)(void *ctx, const void *buf, size_t n);
    /// Optional: writes what it can without suspending, -EAGAIN if nothing.
    long (*try_write)(void *ctx, const void *buf, size_t n);
    /// Ends the writing direction (shutdown(SHUT_WR)); 0 or an error.
    int (*write_eof)(void *ctx);
    /// Releases the transport (closes the descriptor) without suspending;
    /// 0 or an error. The stream calls it once, from close or abort.
    int (*close)(void *ctx);
    /// Optional: the socket underneath, for its addresses (see
    /// aioc_stream_peername); a negative error if there is none.
    int (*socket)(void *ctx);
    /// Optional: nonzero if the transport knows that a read now could only
    /// wait (its last read emptied the socket and nothing has come since).
    /// The stream then gives back its empty read buffer and calls
    /// wait_readable before it reads, so that an idle connection holds no
    /// buffer. Does not suspend.
    int (*drained)(void *ctx);
    /// Optional, and needed with drained: suspends until input may have
    /// come; 0 or an error (-ECANCELED, -ETIMEDOUT, the transport's own).
    int (*wait_readable)(void *ctx);
} aioc_transport;

/// Options of a stream (aioc_stream_new, aioc_server_opts.stream); zeroed
/// fields take the defaults.
typedef struct aioc_stream_opts {
    size_t limit;      ///< longest line or separator search; 0: 64 KiB
    size_t high_water; ///< write buffer size at which writes wait; 0: 64 KiB
    size_t low_water;  ///< ... until it is down to this; 0: high_water / 4
} aioc_stream_opts;

/// A stream over descriptor `fd` (a socket, pipe or terminal), which it
/// owns from now on: aioc_stream_close / _abort close it with aioc_close.
/// Writes go out with send(2) and MSG_NOSIGNAL (write(2) if `fd` is no
/// socket); aioc_stream_write_eof is shutdown(SHUT_WR), so -ENOTSOCK on a
/// pipe or terminal (a subprocess's stdin pipe is closed instead).
/// `opts` may be NULL. Does not suspend. Returns NULL with errno ENOMEM or
/// EBADF (`fd` negative); on failure `fd` is untouched and still the
/// caller's to close.
AIOC_EXTERN aioc_stream *aioc_stream_new(int fd, const aioc_stream_opts *opts);

/// A stream over any transport; `ops` and `ctx` must outlive the stream,
/// which calls ops->close(ctx) when it is closed or aborted. `opts` may be
/// NULL. Does not suspend. Returns NULL with errno ENOMEM, or EINVAL (no
/// `ops`, a required call missing, or drained without wait_readable or
/// the other way round); the transport is then untouched, still the
/// caller's.
AIOC_EXTERN aioc_stream *aioc_stream_new_transport(const aioc_transport *ops, void *ctx,
                                                   const aioc_stream_opts *opts);

/// The `ctx` a stream was made with, if its transport is `ops` (the same
/// table passed to aioc_stream_new_transport), else NULL: how a transport
/// answers questions about its own streams (the TLS adapter's peer
/// certificate, say). Does not suspend.
AIOC_EXTERN void *aioc_stream_transport_ctx(const aioc_stream *s, const aioc_transport *ops);

/// Reads up to `n` bytes: what is buffered, or else one read of the
/// transport. Suspends while nothing is there. Returns the count, 0 at the
/// end of the stream, or a negative error.
AIOC_EXTERN long aioc_stream_read(aioc_stream *s, void *buf, size_t n);

/// Reads exactly `n` bytes into `buf`. Suspends. Returns `n` (and `*got`,
/// if not NULL, is `n`); AIOC_EINCOMPLETE if the stream ended first (the
/// bytes that came are in `buf` and consumed, `*got` says how many); or a
/// negative error: -ECANCELED, -ETIMEDOUT, the transport's error, -ENOMEM.
/// On an error nothing is consumed (`*got` is 0), as with asyncio: the
/// bytes that came so far stay buffered in the stream, and a later read
/// (a retry after a deadline) gets them. The stream buffers up to `n`
/// bytes for this.
AIOC_EXTERN long aioc_stream_readexactly(aioc_stream *s, void *buf, size_t n, size_t *got);

/// Reads up to and including the separator `sep` (`seplen` bytes) and sets
/// `*out` to the bytes, which stay valid until the next read on the stream
/// (writes leave them alone: `*out` may be written back as it is).
/// Suspends. Returns their length; AIOC_ELIMIT if no separator came within
/// the stream's limit (the bytes stay buffered: read them with
/// aioc_stream_read, or give up); AIOC_EINCOMPLETE if the stream ended
/// without one, even with nothing buffered (what came stays buffered too:
/// asyncio's IncompleteReadError); or a negative error.
AIOC_EXTERN long aioc_stream_readuntil(aioc_stream *s, const void *sep, size_t seplen,
                                       const char **out);

/// aioc_stream_readuntil with a newline, except at the end of the stream:
/// a last line without its newline is returned as it is (as asyncio's
/// readline does), and 0 means nothing is left.
AIOC_EXTERN long aioc_stream_readline(aioc_stream *s, const char **out);

/// Writes `n` bytes, in order with the stream's other writes. Small writes
/// are buffered until the end of the loop's turn (see above); a large one
/// with nothing buffered ahead sends what the transport takes at once.
/// Suspends only while the buffer is at its high-water mark, flushing it
/// down to the low-water mark first, or while another task's flush is
/// sending from a buffer that must grow to take these bytes (and, like the
/// descriptor calls, a large write yields every 64 writes that did not
/// wait). Returns 0 once
/// the bytes are sent or buffered: a failure to send them shows at the
/// next write, drain or close (as with asyncio's write and drain).
/// Otherwise a negative error, and the bytes were not taken: an earlier
/// send's error (sticky), -EPIPE after aioc_stream_write_eof, -EBADF after
/// aioc_stream_release_fd, -ENOMEM, or -ECANCELED / -ETIMEDOUT while
/// waiting.
AIOC_EXTERN int aioc_stream_write(aioc_stream *s, const void *buf, size_t n);

/// Waits until everything buffered has been written to the transport. Any
/// number of tasks may wait. Suspends. Returns 0 or the write error.
AIOC_EXTERN int aioc_stream_drain(aioc_stream *s);

/// Flushes, then ends the writing direction (half-close); reading goes on.
AIOC_EXTERN int aioc_stream_write_eof(aioc_stream *s);

/// Bytes buffered for writing and not yet written (this turn's small writes
/// among them). Does not suspend.
AIOC_EXTERN size_t aioc_stream_write_buffered(const aioc_stream *s);

/// Flushes what is buffered (waiting, as drain), closes the transport and
/// frees the stream. Returns 0 or the first error (the stream is freed in
/// every case). Must not race other calls on the stream. NULL does nothing.
AIOC_EXTERN int aioc_stream_close(aioc_stream *s);

/// Closes at once and frees the stream: of what is buffered, the transport
/// gets what it takes without waiting, the rest is dropped. Does not
/// suspend. (If the background flush is inside a transport write just
/// then, that write is cancelled and the transport closed as it returns,
/// at the loop's next turn.) NULL does nothing.
AIOC_EXTERN void aioc_stream_abort(aioc_stream *s);

/// Takes the descriptor back from a stream made by aioc_stream_new (or a
/// server), e.g. to start TLS on it (STARTTLS). The stream stays the
/// owner's to close or abort as before, but has no descriptor any more:
/// closing it closes nothing, and reads and writes return -EBADF. Only
/// possible when no byte is buffered either way (a line read ahead of the
/// upgrade would be lost) and no other call is in progress on the stream:
/// drain writes first. The bytes a readuntil or readline handed out are
/// no longer valid afterwards. Does not suspend. Returns the descriptor
/// (now the caller's, still registered with the loop: close it with
/// aioc_close), or -EINVAL (not a stream of aioc_stream_new's or a
/// server's, such as a TLS stream or a subprocess pipe; or released
/// already), -EBUSY (buffered bytes or a call in progress; nothing
/// changes). This turn's writes are sent first if the descriptor takes
/// them at once.
AIOC_EXTERN int aioc_stream_release_fd(aioc_stream *s);

struct sockaddr_storage;

/// The address of the stream's peer (getpeername(2), asyncio's
/// get_extra_info('peername')) into `addr`, `*len` set to its size. Works
/// for streams over sockets, TLS ones included. Does not suspend. Returns
/// 0, -ENOTSOCK (not over a socket: a pipe, or a transport that does not
/// say), -ENOTCONN, -EBADF (the descriptor was released).
AIOC_EXTERN int aioc_stream_peername(const aioc_stream *s, struct sockaddr_storage *addr,
                                     unsigned *len);

/// The stream's own address (getsockname(2), get_extra_info('sockname')),
/// as aioc_stream_peername.
AIOC_EXTERN int aioc_stream_sockname(const aioc_stream *s, struct sockaddr_storage *addr,
                                     unsigned *len);

/// Room for any address aioc_address_format writes, with its NUL.
#define AIOC_ADDRSTRLEN 128

/// Writes `addr` as text into `buf` (`n` bytes): "127.0.0.1:8080",
/// "[::1]:8080", "unix:/run/x.sock", "unix:@name" (abstract), "unix:"
/// (unnamed). Does not suspend. Returns the text's length, or
/// -EAFNOSUPPORT (another family), -ENOSPC (`n` too small: use
/// AIOC_ADDRSTRLEN).
AIOC_EXTERN int aioc_address_format(const struct sockaddr *addr, unsigned len, char *buf, size_t n);

/// The peer's address as text (aioc_stream_peername, then
/// aioc_address_format): its length, or one of their errors.
AIOC_EXTERN int aioc_stream_peer_address(const aioc_stream *s, char *buf, size_t n);

/// The stream's own address as text: its length, or an error.
AIOC_EXTERN int aioc_stream_local_address(const aioc_stream *s, char *buf, size_t n);
/// @}

/* ============================================================ servers == */
/// @defgroup core_servers Servers
/// @{

/// A stream server (TCP or Unix): a task accepts connections and runs a
/// handler task for each (asyncio.start_server, start_unix_server).
typedef struct aioc_server aioc_server;

/// Serves one connection; runs in a task of its own. The server owns the
/// stream: when the handler returns it closes it, flushing what is
/// buffered, or, if the handler's task was cancelled (by aioc_server_close
/// after its grace period, or by the handler itself to drop a peer that
/// stopped reading), aborts it without waiting for the peer.
typedef void (*aioc_stream_handler)(aioc_stream *conn, void *arg);

/// Options of a server (aioc_tcp_serve, aioc_unix_serve); zeroed fields
/// take the defaults.
typedef struct aioc_server_opts {
    int backlog;             ///< listen(2) backlog; 0: 511
    int reuse_port;          ///< non-zero: SO_REUSEPORT, for one loop per core
    size_t stack_size;       ///< handler tasks' stack size; 0: the loop's default
    aioc_stream_opts stream; ///< each connection's stream (line limit, water marks)
    /// Non-zero, in a run of several loops (aioc_run_opts.loops): accept on
    /// the calling loop only and hand each connection to the loop of the
    /// run with the fewest connections of this server open (the lowest
    /// index on a tie), counting the calling loop's own. The descriptor
    /// goes there by a loop call; that loop makes the stream and runs the
    /// handler as one of its tasks, so the handler's stream is its loop's
    /// and aioc_loop_index() in the handler names it. Unlike SO_REUSEPORT,
    /// whose kernel hash may pile few long-lived connections on one loop,
    /// the load stays even; it costs a loop call per connection. The other
    /// loops need not listen, but must keep running (their main not
    /// returned) to serve: a loop that has ended its tasks gets no more
    /// connections, and one handed to it meanwhile is closed (never
    /// leaked). aioc_server_close stops accepting and waits for (then
    /// cancels) the calling loop's connections only: those handed to
    /// siblings are theirs, and end with their handler or their loop.
    /// Ignored with a single loop.
    int spread;
} aioc_server_opts;

/// Listens on `host` (NULL: every address, IPv6 and IPv4) and `port` (a
/// number, "0" for any free one) and starts accepting. Each connection gets
/// a stream and a handler task: fn(stream, arg). Accepting never spins when
/// descriptors run out: on EMFILE / ENFILE it backs off (10 ms, doubling up
/// to 1 s) while the connections it has go on being served. Suspends only
/// to resolve `host`. Connections get TCP_NODELAY, as with
/// aioc_tcp_connect. Returns the server, or NULL with `*err` set (a
/// resolver error, -EADDRINUSE, -EACCES, -ENOMEM, AIOC_ENOTASK).
AIOC_EXTERN aioc_server *aioc_tcp_serve(const char *host, const char *port, aioc_stream_handler fn,
                                        void *arg, const aioc_server_opts *opts, int *err);

/// A server on the Unix stream socket at `path` ("@name": the abstract
/// namespace), otherwise as aioc_tcp_serve (opts->reuse_port is ignored).
/// A socket file nobody listens on any more (left by a process that died)
/// is replaced; one a live server listens on is -EADDRINUSE. The file is
/// removed when the server closes. Does not suspend. Returns the server,
/// or NULL with `*err` set: -EADDRINUSE, -EACCES, -ENOENT (no such
/// directory), -EINVAL, -ENAMETOOLONG, -ENOMEM, AIOC_ENOTASK.
AIOC_EXTERN aioc_server *aioc_unix_serve(const char *path, aioc_stream_handler fn, void *arg,
                                         const aioc_server_opts *opts, int *err);

/// The port the server listens on (useful after port "0"; 0 for a Unix
/// socket).
AIOC_EXTERN int aioc_server_port(const aioc_server *srv);

/// Connections being served now (with aioc_server_opts.spread: on every
/// loop of the run, an instant's count as the other loops update theirs).
AIOC_EXTERN size_t aioc_server_connections(const aioc_server *srv);

/// Stops accepting and closes the listening sockets, then gives the
/// handlers up to `grace` seconds to finish (AIOC_NO_TIMEOUT: as long as
/// they take; 0 or less: no time), cancels those still running, waits for
/// them, and frees the server. Suspends. Returns 0, or -ETIMEDOUT if
/// handlers had to be cancelled. A server still open when aioc_run ends is
/// closed then (its handlers were cancelled with every other task).
AIOC_EXTERN int aioc_server_close(aioc_server *srv, double grace);
/// @}

/* ========================================================= subprocesses == */
/// @defgroup core_subprocesses Subprocesses
/// @{

/// A child process (asyncio.create_subprocess_exec): spawned with each of
/// its stdin, stdout and stderr inherited, connected to a pipe (an
/// aioc_stream owned by the process object), or sent to /dev/null. Tracked
/// through a pidfd: waiting for it is waiting on a descriptor, signals
/// cannot reach a recycled pid, and no SIGCHLD handler is installed (where
/// the kernel has no pidfds, before Linux 5.3, waits poll instead). The
/// program must not reap children behind the library's back (ignore
/// SIGCHLD, SA_NOCLDWAIT, waitpid(-1)). A process belongs to one loop;
/// do not free it while another task still uses it.
typedef struct aioc_process aioc_process;

/// Where a standard descriptor of the child goes.
enum aioc_stdio_mode {
    AIOC_STDIO_INHERIT = 0, ///< the caller's own descriptor (the default)
    AIOC_STDIO_PIPE,        ///< a pipe to a stream of the process object
    AIOC_STDIO_DEVNULL,     ///< /dev/null
    AIOC_STDIO_STDOUT,      ///< stderr only: wherever stdout goes
};

/// Options of aioc_process_spawn; zeroed options inherit stdin, stdout
/// and stderr and the caller's environment and directory.
typedef struct aioc_process_opts {
    /// The child's environment, NULL-terminated "NAME=value" strings; NULL:
    /// the caller's. The program is looked up in the caller's PATH either
    /// way (as execvp does) unless argv[0] contains a '/'.
    const char *const *envp;
    /// The child's working directory; NULL: the caller's.
    const char *cwd;
    int stdin_mode;  ///< enum aioc_stdio_mode of the child's stdin; 0: inherit
    int stdout_mode; ///< the same for its stdout
    int stderr_mode; ///< the same for its stderr
} aioc_process_opts;

/// Starts the program argv[0] (searched in PATH unless it contains a '/')
/// with the arguments `argv` (NULL-terminated); `opts` may be NULL. The
/// child gets no other descriptor of the caller's than its stdio (every
/// descriptor the library makes is close-on-exec), an empty signal mask,
/// and SIGPIPE at its default action (aioc_run ignores it in the caller);
/// signals the caller ignores stay ignored. Does not suspend: the thread
/// waits only until the child has called exec, as with posix_spawn.
/// Everything is copied or done by then; `argv` and `opts` are only read
/// during the call. Returns the process (free it with aioc_process_free),
/// or NULL with `*err` (may be NULL) set: the exec's error when the
/// program cannot be run (-ENOENT, -EACCES, -ENOEXEC, ...), chdir's
/// error for a bad `cwd` (-ENOENT, -ENOTDIR, ...), -EINVAL (no argv[0],
/// a bad mode, or AIOC_STDIO_STDOUT for stdin or stdout), -EMFILE,
/// -ENFILE, -EAGAIN (no more processes), -ENOMEM.
AIOC_EXTERN aioc_process *aioc_process_spawn(const char *const *argv, const aioc_process_opts *opts,
                                             int *err);

/// The child's process id.
AIOC_EXTERN int aioc_process_pid(const aioc_process *p);

/// The stream writing to the child's stdin, or NULL if it is not a pipe.
/// Owned by the process: do not close it; aioc_stream_write_eof closes
/// the pipe, so the child sees the end of its input (later writes give
/// -EPIPE).
AIOC_EXTERN aioc_stream *aioc_process_stdin(aioc_process *p);

/// The stream reading the child's stdout, or NULL if it is not a pipe.
/// Owned by the process.
AIOC_EXTERN aioc_stream *aioc_process_stdout(aioc_process *p);

/// The stream reading the child's stderr, or NULL if it is not a pipe.
/// Owned by the process.
AIOC_EXTERN aioc_stream *aioc_process_stderr(aioc_process *p);

/// Waits for the child to end and reaps it (once; later calls return the
/// same status at once). `*status` (if not NULL) receives its exit code
/// (0-255) if it exited, or minus the signal number if a signal killed it
/// (-9 after SIGKILL), as asyncio's returncode. Suspends unless the child
/// has ended already: an ended child's status is returned even to a
/// cancelled task. Returns 0, -ECANCELED or -ETIMEDOUT (the child goes on
/// running and can be waited for again), -ECHILD if somebody else reaped
/// it, AIOC_ENOTASK outside a task while the child runs.
AIOC_EXTERN int aioc_process_wait(aioc_process *p, int *status);

/// aioc_process_wait without waiting: reaps the child if it has ended.
/// Does not suspend. Returns 0 and `*status` (as aioc_process_wait),
/// -EAGAIN while the child runs, or -ECHILD.
AIOC_EXTERN int aioc_process_poll(aioc_process *p, int *status);

/// Sends signal `sig` to the child (through its pidfd, so never to another
/// process that got the same pid). Does not suspend. Returns 0; -ESRCH
/// once the child has been reaped (by wait or poll); -EINVAL for a bad
/// signal; -EPERM.
AIOC_EXTERN int aioc_process_kill(aioc_process *p, int sig);

/// asyncio's communicate: writes the `n` bytes of `input` to the child's
/// stdin and closes it, while reading its stdout and stderr to their ends
/// (in tasks of its own, so a child that fills one pipe while we write
/// the other cannot deadlock), then waits for the child to end (its
/// status: aioc_process_wait, which then returns at once). A descriptor
/// that is not a pipe is skipped; stdin, if a pipe, is closed even when
/// `n` is 0, and a child that stops reading its input early is not an
/// error. On success `*out` and `*errout` receive the bytes read (malloc'd,
/// NUL-terminated for convenience, owned by the caller; NULL for a
/// descriptor that is not a pipe) and `*out_len` / `*errout_len` their
/// lengths; any of the four may be NULL (`out` or `errout` NULL: those
/// bytes are read and dropped). Suspends. Returns 0, or with nothing
/// handed out (NULL and 0 in all four): -ECANCELED / -ETIMEDOUT (its
/// tasks are cancelled and waited for; what was read is dropped; the
/// child is left running, as in asyncio: kill it, or free the process),
/// -EINVAL (`n` > 0 and stdin is not a pipe), -EPIPE (`n` > 0 and stdin
/// was closed), a stream's read or write error, -ENOMEM, -ECHILD,
/// AIOC_ENOTASK. Must not race other reads or writes of the process's
/// streams.
AIOC_EXTERN int aioc_process_communicate(aioc_process *p, const void *input, size_t n, char **out,
                                         size_t *out_len, char **errout, size_t *errout_len);

/// Closes the pipes (dropping what is buffered) and the pidfd, and frees
/// `p`. A child that has not been reaped is killed with SIGKILL and reaped
/// at once, blocking the thread while the kernel tears it down (normally
/// well under a millisecond; longer only for a child stuck in an
/// uninterruptible wait, such as on a dead network file system): no
/// zombie is left. Wait for the child first to let it end on its own.
/// Does not suspend. NULL does nothing. A process spawned in a loop and
/// not freed when aioc_run ends is freed then, in the same way.
AIOC_EXTERN void aioc_process_free(aioc_process *p);
/// @}

/* ============================================ threads and loops == */
/// @defgroup core_threads_and_loops Threads and loops
/// @{

/// A loop, as seen from other threads. Obtain it in the loop's thread with
/// aioc_loop_current(); keep a reference (aioc_loop_ref) to use it from
/// other threads: calls on a loop that has ended then fail cleanly with
/// -ESHUTDOWN instead of touching freed memory. While another reference is
/// held, the loop counts on calls to come and does not report a deadlock
/// when all its tasks wait on each other.
typedef struct aioc_loop aioc_loop;

/// The loop running in this thread, or NULL (a thread that runs none: a
/// pool thread, one of the program's). Borrowed: valid until that loop's
/// aioc_run returns, unless a reference is taken. Does not suspend; any
/// thread.
AIOC_EXTERN aioc_loop *aioc_loop_current(void);

/// Takes a reference to `loop` and returns it. Thread-safe; does not
/// suspend.
AIOC_EXTERN aioc_loop *aioc_loop_ref(aioc_loop *loop);

/// Drops a reference taken with aioc_loop_ref. Thread-safe; does not
/// suspend.
AIOC_EXTERN void aioc_loop_unref(aioc_loop *loop);

/// Runs fn(arg) on `loop` as a callback (asyncio's call_soon_threadsafe),
/// from any thread, in the order of the calls; it may spawn tasks, which
/// is how work is handed from one loop (thread) to another. Wakes the loop
/// if it sleeps. Thread-safe; does not suspend. Returns 0 (fn will run on
/// the loop, at the latest while it shuts down), -ESHUTDOWN if the loop has
/// ended (fn will not run: `arg` is still the caller's), -ENOMEM.
AIOC_EXTERN int aioc_loop_call(aioc_loop *loop, aioc_callback fn, void *arg);

/// Called with a result (or NULL) that its waiter gave up on, so that it
/// and `arg` are freed, not leaked. It runs on the thread that produced the
/// result if the waiter had given up by then, else on the waiter's thread
/// as it gives up; aioc_to_thread_with says which happens when.
typedef void (*aioc_cleanup)(void *result, void *arg);

/// Runs fn(arg) on a thread of the pool and waits for its return value
/// (asyncio.to_thread). Suspends. Returns 0 and sets `*result` (if not
/// NULL). If the caller is cancelled or its deadline passes, returns
/// -ECANCELED / -ETIMEDOUT at once: fn does not run if it had not started,
/// and cannot be interrupted if it had, so it may still be using `arg`
/// after the return; its late result is discarded. Use
/// aioc_to_thread_with to learn when `arg` and the result are free. Also
/// -ENOMEM, -EAGAIN (no thread could be started), -EINVAL, AIOC_ENOTASK.
AIOC_EXTERN int aioc_to_thread(aioc_fn fn, void *arg, void **result);

/// aioc_to_thread with ownership made exact: whenever the call returns an
/// error (other than AIOC_ENOTASK / -EINVAL), cleanup(result, arg) is
/// called exactly once, when fn no longer runs. On success it is not
/// called: `*result` and `arg` are the caller's. Where and when it runs
/// depends on how far the job got when the caller gave up:
///   - not handed to the pool (cancelled before the call, out of memory,
///     no thread could be started): with result NULL, on the loop's
///     thread, before the call returns;
///   - done already (its result had arrived but was not yet taken): with
///     fn's result, on the loop's thread, before the call returns;
///   - still queued or running: on the pool thread, when the job is
///     over: with fn's result, or NULL if fn had not started (it is then
///     skipped).
/// Since it may run on a pool thread, the cleanup must not touch the
/// loop's objects: to give something back to the loop (a connection to a
/// pool, a permit), queue a call there with aioc_loop_call. A task that
/// waits for what such a cleanup gives back waits on something the loop
/// cannot see, so the deadlock report would count it stuck: hold a loop
/// reference (aioc_loop_ref) while jobs may be out. And release there what
/// a loop callback can release (a semaphore), not a lock, which only its
/// owning task may release.
AIOC_EXTERN int aioc_to_thread_with(aioc_fn fn, void *arg, void **result, aioc_cleanup cleanup);

/// The work aioc_to_thread_map does for one item, on a pool thread: it
/// reads `item`, may store what it makes in `*result` (NULL unless set),
/// and returns 0 or a negative error of its own for this item.
typedef int (*aioc_map_fn)(void *item, void **result);

/// Runs fn(items[i], &results[i]) for every i in [0, n) on the thread pool
/// and waits until all have run: a batched aioc_to_thread, for many small
/// jobs (Python's Executor.map, awaited; Go's errgroup over a slice). The
/// items go to the pool in one hand-off and the caller is woken once, when
/// the last is done, instead of one cross-thread wake-up each way per
/// item. Pool threads claim runs of items until none are left; while some
/// are left, more threads join in (idle ones, or new ones within the
/// pool's limit) as the work proves long enough to pay for waking them
/// (after 20 µs of it, then doubling at each item). So the items run in
/// parallel and in no set order.
/// The call allocates about 2 pointers and 5 bytes per item (its copy of
/// the items, and room for results and statuses), freed by the time the
/// last item is done with.
/// Suspends. `items` is read (copied) before the call suspends and is
/// never written; fn must not keep an item past its return. `results` and
/// `errors` (each may be NULL) are written only when the call returns 0
/// or an item's error: results[i] is what fn stored for item i, errors[i]
/// what it returned; they may be the same array as `items` (results
/// replace items in place). Every item runs, whatever the others return.
/// Returns 0 if every item returned 0; else the error of the first item
/// (lowest index) that failed; -ECANCELED / -ETIMEDOUT if the caller was
/// cancelled or its deadline passed; -ENOMEM (nothing ran); -EAGAIN (no
/// pool thread could be started; nothing ran); -EINVAL (fn NULL, or items
/// NULL with n > 0); AIOC_ENOTASK. n == 0 returns 0 at once (or the
/// pending -ECANCELED / -ETIMEDOUT: it is a cancellation point).
/// A cancelled caller returns at once, as aioc_to_thread does: items not
/// started never run, items running cannot be interrupted and finish on
/// their threads, and their results are discarded (use
/// aioc_to_thread_map_with to free them). Nothing touches `items`,
/// `results` or `errors` after the call has returned.
AIOC_EXTERN int aioc_to_thread_map(aioc_map_fn fn, void *const *items, size_t n, void **results,
                                   int *errors);

/// aioc_to_thread_map with ownership made exact, as aioc_to_thread_with:
/// whenever the call returns an error of its own (-ECANCELED, -ETIMEDOUT,
/// -ENOMEM, -EAGAIN; not an item's error, AIOC_ENOTASK or -EINVAL),
/// cleanup(result, items[i]) is called exactly once for every item i once
/// fn no longer runs on it, so every item is either delivered or cleaned
/// up, never both, never lost: before the call returns, on the caller's
/// thread, for items that never ran (result NULL) and for items already
/// done (fn's result); later, on a pool thread, for each item that was
/// running when the caller gave up, as soon as it finishes (fn's result),
/// or that its thread had claimed but not started (NULL). fn's status for
/// an item that was cleaned up is lost. Such a late cleanup must not touch
/// the loop's objects (see aioc_to_thread_with): count the items still out
/// (an atomic counter the cleanup decrements) to learn when all are free.
/// On 0 or an item's error it is not called: `results` and every item are
/// the caller's.
AIOC_EXTERN int aioc_to_thread_map_with(aioc_map_fn fn, void *const *items, size_t n,
                                        void **results, int *errors, aioc_cleanup cleanup);

/* The pool's threads start on demand and stay while a loop runs. When the
 * last running loop's aioc_run ends, the idle ones end and are joined, so
 * a program back from aioc_run has none left (Valgrind's leak check finds
 * no thread stacks "possibly lost"); the next loop starts them again. A
 * thread still running a job whose caller gave up (see aioc_to_thread)
 * finishes it and stays; if the program exits meanwhile, Valgrind reports
 * that thread's stack, as for any thread still running at exit. */

/// Sets the most threads the process-wide pool may run (default: the
/// environment variable AIOC_THREADS, else the number of CPUs + 4, at most
/// 32, as asyncio's default executor). Running jobs are not affected.
/// Returns the previous limit; 0 leaves it unchanged. Thread-safe.
AIOC_EXTERN unsigned aioc_thread_pool_size(unsigned max_threads);

/// A single result that a plain thread (or any code) hands to a task: the
/// task waits on it, the producer completes it. Two references: the
/// waiter's and the producer's; each side drops its own.
typedef struct aioc_future aioc_future;

/// Creates a future. `cleanup` (may be NULL) receives a result that is
/// completed after the waiter gave up, or never waited for. Returns NULL
/// with errno ENOMEM.
AIOC_EXTERN aioc_future *aioc_future_new(aioc_cleanup cleanup, void *arg);

/// Completes `f` with `result` and `err` (0, or a negative error for the
/// waiter), from any thread, and drops the producer's reference. Returns
/// 0, or -EALREADY if it was already completed (nothing changes; the
/// caller keeps `result`).
AIOC_EXTERN int aioc_future_complete(aioc_future *f, void *result, int err);

/// Waits until `f` is completed, then returns its error (0 or negative)
/// and sets `*result`; drops the waiter's reference in every case, so `f`
/// must not be used by the waiter afterwards. Suspends. If the waiter is
/// cancelled or its deadline passes first, returns -ECANCELED /
/// -ETIMEDOUT, and the result, when it comes, goes to the cleanup. Also
/// AIOC_ENOTASK (nothing dropped).
AIOC_EXTERN int aioc_future_wait(aioc_future *f, void **result);

/// The waiter gives up without waiting (or without waiting again): drops
/// the waiter's reference; a result completed later goes to the cleanup.
/// Does not suspend; any thread.
AIOC_EXTERN void aioc_future_cancel(aioc_future *f);
/// @}

/* ============================================================== loops == */
/// @defgroup core_loops Loops (one per core)
/// @brief Running main on N loops, one thread each, with aioc_run_opts.loops.
///
/// A run of N loops starts N-1 threads; the calling thread is loop 0. Each
/// loop is a whole loop of its own (tasks never move between loops) and
/// runs `main(arg)` as its main task; aioc_loop_index() tells main which
/// loop it is. A server started from every loop with
/// aioc_server_opts.reuse_port shares the port: the kernel spreads
/// connections over the loops by a hash of their addresses; with
/// aioc_server_opts.spread one loop accepts and hands each connection to
/// the least-loaded loop. Loops share work by message passing: a
/// call queued on a sibling with aioc_loop_call(aioc_loop_at(i), fn, arg).
///
/// Every loop is set up before any main runs: if one cannot be (or a
/// thread cannot be started), no main runs and aioc_run returns that
/// error. A loop whose tasks have all ended stays open to calls from its
/// siblings (aioc_loop_at stays valid) until every loop of the run has
/// ended its tasks; such a call may not spawn tasks any more (-ESHUTDOWN).
///
/// aioc_run then returns 0 if every loop's main ended with status 0; else
/// the status of the first main, in the order in which they ended, that
/// ended with a non-zero status (its error, -ECANCELED, or -EDEADLK for a
/// loop reported deadlocked). `*result` receives loop 0's main's return
/// value, as with one loop; give other loops' results to loop 0 by a call.
///
/// Ctrl-C (unless aioc_run_opts.keep_sigint) cancels the main task of every
/// loop of the run; aioc_run_opts.return_on_sigint applies once all have
/// ended. A loop whose tasks all wait on each other is reported deadlocked
/// only when no sibling can wake it any more: every other loop of the run
/// is stuck too or has ended its tasks, and no call is queued anywhere.
/// aioc_dump_tasks dumps every loop of the run, each headed "loop I of N".
/// @{

/// The value of aioc_run_opts.loops for one loop per CPU that the process
/// may use (sched_getaffinity), at most AIOC_LOOPS_MAX.
#define AIOC_LOOPS_AUTO 0xFFFFFFFFu
/// The most loops one aioc_run runs.
#define AIOC_LOOPS_MAX 256u

/* aioc_loop_index, aioc_loop_count and aioc_loop_at answer for the loop
 * running in the calling thread (a task or a callback of it): they never
 * suspend and may be called from any thread, but a thread that runs no
 * loop (a pool thread inside aioc_to_thread, a thread of the program's)
 * is "outside any loop" to them, even while a run is going on. */

/// The index of the calling thread's loop within its run, 0 to
/// aioc_loop_count() - 1; 0 for a loop run alone or outside any loop.
/// Does not suspend; any thread.
AIOC_EXTERN unsigned aioc_loop_index(void);

/// How many loops the calling thread's run has: 1 for a loop run alone, 0
/// outside any loop. Does not suspend; any thread.
AIOC_EXTERN unsigned aioc_loop_count(void);

/// Loop `i` of the calling thread's run, to queue calls on it with
/// aioc_loop_call; aioc_loop_at(aioc_loop_index()) is aioc_loop_current().
/// NULL outside a loop or if `i` >= aioc_loop_count(). Borrowed: valid
/// until aioc_run returns (calls fail with -ESHUTDOWN once every loop of
/// the run has ended its tasks); aioc_loop_ref keeps it for longer, and
/// hands it to threads that run no loop. Does not suspend; any thread.
AIOC_EXTERN aioc_loop *aioc_loop_at(unsigned i);
/// @}

/* ============================================================== files == */
/// @defgroup core_files Files
/// @{

/* Files without blocking the loop (aiofiles, libuv's uv_fs_*, Tokio's fs).
 * Regular files are never "ready" to epoll, so every call here runs its
 * system calls on the thread pool behind aioc_to_thread (the default
 * engine; io_uring's is the other, see aioc_file_engine_set and
 * docs/architecture.md) and suspends the task until they are done.
 *
 * Names: aioc_file_* work on an open file (an aioc_file handle);
 * aioc_fs_* work on paths.
 *
 * One trip per call: each call is one job on the pool, however much it
 * does (aioc_fs_read_file opens, sizes, reads to the end and closes in one
 * job; aioc_file_read loops until it has all `n` bytes in one job), so the
 * cost of a cross-thread hand-off is paid once per call, not once per
 * block or per system call.
 *
 * Every call suspends and is a cancellation point, as everywhere in aioc:
 * a cancelled caller (or one whose deadline scope expires) returns
 * -ECANCELED (-ETIMEDOUT) at once. A job the pool had not started then
 * never runs; one that runs cannot be interrupted and finishes on its
 * thread, and what it made is released there, never leaked and never
 * handed to anybody: a descriptor it opened is closed, a buffer it
 * allocated is freed. The caller's memory is never touched after the call
 * returns: reads go through a buffer of the job's, copied into the
 * caller's on success, and writes copy the caller's bytes before the
 * call suspends (so a write of n bytes allocates n bytes for its time on
 * the pool). A write whose caller gave up may therefore still happen
 * (or have happened): -ECANCELED says the caller stopped waiting, not
 * that nothing was written. aioc_file_set_zero_copy makes a handle's
 * reads and writes use the caller's buffer instead, each call then
 * returning only when its system call is done.
 *
 * Errors: the system calls' errno, negated (-ENOENT, -EACCES, -EISDIR,
 * -ENOSPC, -EFBIG, -EBADF...), and in every call -ECANCELED, -ETIMEDOUT,
 * -ENOMEM (the job or its buffer could not be allocated), -EAGAIN (no
 * pool thread could be started), -EINVAL (a NULL handle, path or
 * out-pointer, a NULL buffer with n > 0, n > LONG_MAX), AIOC_ENOTASK
 * (called outside a task: nothing done). Interrupted system calls are
 * restarted. */

/// An open file: a descriptor that the thread pool's jobs may use. Jobs
/// still running for a caller that gave up hold a reference, so the
/// descriptor is closed only once none uses it (its number is never
/// reused under a running job).
typedef struct aioc_file aioc_file;

struct stat;

/// Opens `path` as open(2) does (`flags` O_RDONLY, O_WRONLY | O_CREAT |
/// O_TRUNC, O_APPEND..., `mode` for a created file; O_CLOEXEC is always
/// added). Suspends. Returns the handle, to be closed with
/// aioc_file_close, or NULL with `*err` (if not NULL) set: -ENOENT,
/// -EACCES, -EISDIR (a directory opened for writing), -EEXIST (O_EXCL),
/// -EMFILE, ... and the codes every file call returns. A descriptor opened
/// by a job whose caller gave up is closed on the pool's thread.
AIOC_EXTERN aioc_file *aioc_file_open(const char *path, int flags, unsigned mode, int *err);

/// Wraps a descriptor the caller opened (a file opened before the loop
/// ran, stdin, stdout, one from openat(2)...) in a handle, which takes it
/// over: aioc_file_close closes it. Does not suspend; any thread, inside a
/// task or not. Returns the handle, or NULL with `*err` (if not NULL) set:
/// -EBADF (`fd` < 0), -ENOMEM; the descriptor is then still the caller's,
/// open. `*err` is 0 on success.
AIOC_EXTERN aioc_file *aioc_file_from_fd(int fd, int *err);

/// Closes `f` and frees the handle (which must not be used again). Does
/// not suspend: close(2) runs at once on the caller's thread (quick for
/// local files; on a network file system that flushes on close, call
/// aioc_file_sync first), or, if a job of a caller that gave up still
/// uses the descriptor, on the pool's thread when that job ends (its error
/// is then lost). Any thread, any time (a cancelled task may close).
/// Returns 0, or close's negated errno (-EIO...). NULL: 0.
AIOC_EXTERN int aioc_file_close(aioc_file *f);

/// The handle's descriptor, borrowed (for fcntl, flock, mmap...: calls that
/// do not block). Do not close it.
AIOC_EXTERN int aioc_file_fd(const aioc_file *f);

/// Reads `n` bytes at the file's position (advancing it), in one trip:
/// read(2) again until it has them all or the file ends. Suspends. Returns
/// the count (less than `n` only at the end of the file, 0 there), or a
/// negative error (-EISDIR, -EBADF not open for reading, -EIO, ...; the
/// bytes read before an error are lost; `buf` is written only on success).
AIOC_EXTERN long aioc_file_read(aioc_file *f, void *buf, size_t n);

/// One read(2) of up to `n` bytes at the file's position. Suspends.
/// Returns the count (0 at the end of the file) or a negative error.
AIOC_EXTERN long aioc_file_read_some(aioc_file *f, void *buf, size_t n);

/// Writes all `n` bytes at the file's position (the end with O_APPEND), in
/// one trip. Suspends. Returns `n` or a negative error (-ENOSPC, -EFBIG,
/// -EDQUOT, -EBADF not open for writing, -EIO, ...); on an error, some
/// bytes may have been written.
AIOC_EXTERN long aioc_file_write(aioc_file *f, const void *buf, size_t n);

/// One write(2) of up to `n` bytes. Suspends. Returns the count or a
/// negative error.
AIOC_EXTERN long aioc_file_write_some(aioc_file *f, const void *buf, size_t n);

/// aioc_file_read at `offset` (pread(2)); the file's position is left
/// alone, so tasks may read one handle at several offsets at once.
/// -EINVAL for a negative offset; -ESPIPE on a pipe.
AIOC_EXTERN long aioc_file_pread(aioc_file *f, void *buf, size_t n, int64_t offset);

/// One pread(2) of up to `n` bytes at `offset`.
AIOC_EXTERN long aioc_file_pread_some(aioc_file *f, void *buf, size_t n, int64_t offset);

/// aioc_file_write at `offset` (pwrite(2)); the position is left alone.
/// (On Linux a file opened with O_APPEND appends whatever the offset.)
AIOC_EXTERN long aioc_file_pwrite(aioc_file *f, const void *buf, size_t n, int64_t offset);

/// One pwrite(2) of up to `n` bytes at `offset`.
AIOC_EXTERN long aioc_file_pwrite_some(aioc_file *f, const void *buf, size_t n, int64_t offset);

/// Zero copy for `f`'s reads and writes (`on` non-zero; 0: back to
/// copies). Without it, a call on `f` goes through a buffer of its own
/// (the copy above, which lets a cancelled caller return at once while
/// the system call finishes on the pool). With it, aioc_file_read, _write,
/// _pread, _pwrite and their _some forms hand the caller's `buf` to the
/// system call itself, as uv_fs_read and Go's os.File do, and so return
/// only when the system call is done with it: a cancel or deadline scope
/// that expires while such a call runs takes effect at the task's next
/// suspension point, after the call has returned its result (as inside
/// aioc_shield_enter); one due before the call still fails it at once with
/// -ECANCELED or -ETIMEDOUT, doing nothing. Worth it for large transfers
/// (the copy of 1 MiB costs about what the system call does; O_DIRECT
/// needs `buf` aligned, as read(2) does, e.g. with posix_memalign); not
/// for files where a call may block for long (a hung network file system,
/// a FIFO with no writer), since the caller cannot give up on it. Does not
/// suspend; the handle's owner sets it, on any thread, while no call of
/// `f` runs. Returns 0, or -EINVAL for a NULL handle.
AIOC_EXTERN int aioc_file_set_zero_copy(aioc_file *f, int on);

/// fsync(2): the file's data and metadata reach the disk. Suspends.
/// Returns 0 or a negative error (-EIO, -ENOSPC, -EDQUOT, -EINVAL for a
/// file that cannot be synced, ...).
AIOC_EXTERN int aioc_file_sync(aioc_file *f);

/// fdatasync(2): the data, and the metadata needed to read it back.
/// Suspends. Returns as aioc_file_sync.
AIOC_EXTERN int aioc_file_datasync(aioc_file *f);

/// fstat(2) into `*st`. Suspends. Returns 0 or a negative error;
/// `*st` is written only on success.
AIOC_EXTERN int aioc_file_stat(aioc_file *f, struct stat *st);

/* The engine: who runs the per-file calls above (aioc_file_open, the
 * reads and writes, the syncs, aioc_file_stat). The thread pool's is
 * built in and the default; the aioc_uring adapter (<aioc_uring.h>)
 * installs one on io_uring. The aioc_fs_* calls on paths are one pool
 * job each whatever the engine. The environment variable
 * AIOC_FILE_ENGINE, read once, names the only engine that may be set
 * ("pool" or "uring"): AIOC_FILE_ENGINE=pool keeps the pool whatever a
 * program installs, AIOC_FILE_ENGINE=uring makes the uring engine's
 * fallbacks to the pool errors (see <aioc_uring.h>). */

/// How an engine's `rw` reads or writes: flags, or'ed.
enum aioc_file_rw_flags {
    AIOC_FILE_RW_WRITE = 1, ///< write (else read)
    AIOC_FILE_RW_ALL = 2,   ///< until all `n` bytes (or the end of the file); else one call
    AIOC_FILE_RW_AT = 4,    ///< at `offset` (pread/pwrite); else at the file's position
    /// the handle is in zero-copy mode (aioc_file_set_zero_copy): the call
    /// runs inside a shield, so the engine may read or write `buf` itself,
    /// returning only once done with it; an engine may still copy
    AIOC_FILE_RW_ZERO_COPY = 8,
};

/// An engine: a table of the per-file operations, each with the contract
/// of the public call it serves (it suspends, is a cancellation point, and
/// never touches the caller's memory once it returns, which a caller that
/// gave up may free at once; with AIOC_FILE_RW_ZERO_COPY it is not
/// interrupted and may use `buf` directly). Arguments arrive checked (non-NULL, `n` ≤
/// LONG_MAX, `offset` ≥ 0 with AIOC_FILE_RW_AT). An operation still in
/// flight for a caller that gave up keeps the handle alive with
/// aioc_file_hold and lets it go with aioc_file_release. The table must
/// outlive every call made through it (static storage).
typedef struct aioc_file_engine {
    const char *name; ///< "pool", "uring", ...: what AIOC_FILE_ENGINE names
    /// open(2) with O_CLOEXEC added: a descriptor or a negative error.
    int (*open)(const char *path, int flags, unsigned mode);
    /// reads or writes as `how` says (aioc_file_rw_flags): the count or a
    /// negative error.
    long (*rw)(aioc_file *f, void *buf, size_t n, int64_t offset, unsigned how);
    /// fsync(2), or fdatasync(2) if `data_only`: 0 or a negative error.
    int (*sync)(aioc_file *f, int data_only);
    /// fstat(2) into `*st` (written only on success): 0 or a negative error.
    int (*stat)(aioc_file *f, struct stat *st);
} aioc_file_engine;

/// Makes `engine` the one the per-file calls use from now on, in every
/// loop of the process (calls already running finish on theirs); NULL
/// restores the thread pool's. Does not suspend; any thread. Returns 0,
/// or -EPERM if the environment variable AIOC_FILE_ENGINE names another
/// engine (nothing changes), -EINVAL if a member of the table is NULL.
AIOC_EXTERN int aioc_file_engine_set(const aioc_file_engine *engine);

/// The engine in use (never NULL). Any thread.
AIOC_EXTERN const aioc_file_engine *aioc_file_engine_get(void);

/// The thread pool's engine, which another engine may fall back to for
/// an operation it cannot run. Any thread.
AIOC_EXTERN const aioc_file_engine *aioc_file_engine_pool(void);

/// What the environment variable AIOC_FILE_ENGINE says ("pool",
/// "uring"...), or NULL when it is unset or empty. Any thread.
AIOC_EXTERN const char *aioc_file_engine_forced(void);

/// For engines: takes a reference to `f` for an operation in flight, so
/// that its descriptor stays open (and its number is not reused) until
/// the matching aioc_file_release, whatever the caller does meanwhile.
/// Any thread.
AIOC_EXTERN void aioc_file_hold(aioc_file *f);

/// Drops a reference taken with aioc_file_hold; the last one (the
/// caller's aioc_file_close, or an engine's late release) closes the
/// descriptor and frees the handle. Any thread. Returns 0, or close's
/// negated errno when this release closed it.
AIOC_EXTERN int aioc_file_release(aioc_file *f);

/// stat(2) of `path` into `*st` (symbolic links followed). Suspends.
/// Returns 0, -ENOENT, -ENOTDIR, -EACCES (a directory on the way may not
/// be searched), -ELOOP, -ENAMETOOLONG, ...; `*st` is written only on
/// success.
AIOC_EXTERN int aioc_fs_stat(const char *path, struct stat *st);

/// Reads the whole file at `path` in one trip (open, read to the end,
/// close). Suspends. On success returns its length and sets `*data` to a
/// buffer from malloc holding the bytes and one NUL after them (so text
/// may be used as a string); the caller frees it. Returns a negative error
/// otherwise (`*data` untouched): -ENOENT, -EACCES, -EISDIR, -EIO,
/// -EFBIG (longer than a long can count)... A buffer made by a job
/// whose caller gave up is freed on the pool's thread.
AIOC_EXTERN long aioc_fs_read_file(const char *path, char **data);

/// Replaces the file at `path` with the `n` bytes at `data`, atomically,
/// in one trip: they are written to a new file in the same directory
/// (".NAME.tmp-..."), synced (fsync), renamed over `path`, and the
/// directory is synced, so that after a crash or a failure `path` holds
/// either its old content or the new one, never a part. The new file gets
/// the old one's permission bits, or `mode` (less the umask) if there was
/// none. A symbolic link at `path` is replaced, not followed. Suspends.
/// `data` is copied before the call suspends. Returns 0 or a negative
/// error (the temporary file is removed, `path` untouched): -ENOENT (no
/// such directory), -EACCES, -EISDIR, -ENOSPC, -EFBIG, -EDQUOT, -EIO...
/// A caller that gave up may find either content: the job, once started,
/// goes to its end.
AIOC_EXTERN int aioc_fs_write_file(const char *path, const void *data, size_t n, unsigned mode);

/// Appends the `n` bytes at `data` to the file at `path` (created with
/// `mode`, less the umask, if missing) in one trip: open with O_APPEND,
/// write them all, close. Suspends. Returns 0 or a negative error, as
/// aioc_file_open and aioc_file_write; on an error some bytes may have
/// been appended.
AIOC_EXTERN int aioc_fs_append(const char *path, const void *data, size_t n, unsigned mode);

/// rename(2): moves `from` to `to`, replacing `to` atomically. Suspends.
/// Returns 0, -ENOENT, -EACCES, -EXDEV (another file system), -EISDIR,
/// -ENOTDIR, -ENOTEMPTY, ...
AIOC_EXTERN int aioc_fs_rename(const char *from, const char *to);

/// unlink(2): removes a name (not a directory: -EISDIR). Suspends.
/// Returns 0, -ENOENT, -EACCES, -EISDIR, ...
AIOC_EXTERN int aioc_fs_unlink(const char *path);

/// mkdir(2) with `mode` (less the umask). Suspends. Returns 0, -EEXIST,
/// -ENOENT (a parent is missing), -EACCES, -ENOSPC, ...
AIOC_EXTERN int aioc_fs_mkdir(const char *path, unsigned mode);

/// rmdir(2): removes an empty directory. Suspends. Returns 0, -ENOENT,
/// -ENOTEMPTY, -ENOTDIR, -EACCES, ...
AIOC_EXTERN int aioc_fs_rmdir(const char *path);

/// One entry of a directory: its name and its type as readdir(3) gives it
/// (DT_REG, DT_DIR, DT_LNK, ...; DT_UNKNOWN on file systems that do not
/// say, where aioc_fs_stat tells).
typedef struct aioc_dirent {
    const char *name;   ///< the entry's name, freed with the array
    unsigned char type; ///< DT_REG, DT_DIR, DT_LNK, ... or DT_UNKNOWN
} aioc_dirent;

/// Lists the directory at `path`, all of it in one trip, without "." and
/// "..", sorted by name (strcmp). Suspends. On success returns the number
/// of entries and sets `*entries` to an array of them from malloc, names
/// included, freed with one free(*entries) (an empty directory gives 0
/// and an array that must be freed too). Returns a negative error
/// otherwise (`*entries` untouched): -ENOENT, -ENOTDIR, -EACCES, ...
AIOC_EXTERN long aioc_fs_readdir(const char *path, aioc_dirent **entries);

/// Copies the file at `from` to `to` in one trip, in the kernel where it
/// can (copy_file_range(2); a read and write loop where it cannot: across
/// file systems on older kernels, from /proc...). `to` is created with
/// `from`'s permission bits (less the umask) or truncated. Suspends.
/// Returns the bytes copied or a negative error: -ENOENT, -EACCES,
/// -EISDIR, -ENOSPC, -EFBIG, -EINVAL (`from` and `to` are one file:
/// nothing done), ...; after an error `to` may hold part of the copy.
AIOC_EXTERN long aioc_fs_copy(const char *from, const char *to);
/// @}

/* ============================================================ signals == */
/// @defgroup core_signals Signals
/// @{

/// Waits until one of the `n` signals listed in `signals` (e.g. SIGTERM,
/// SIGHUP) arrives, received through signalfd, and returns its number. The
/// signals are blocked in the calling thread from then on; block them in
/// every thread (before starting threads) so that none is delivered
/// elsewhere. Suspends. Returns the signal number, -ECANCELED, -ETIMEDOUT,
/// -EINVAL (an invalid signal, or n == 0), AIOC_ENOTASK, or the errno of a
/// failed signalfd.
AIOC_EXTERN int aioc_signal_wait(const int *signals, size_t n);
/// @}

/* ===================================================== tasks as data == */
/// @defgroup core_inspection Tasks as data and loop metrics
/// Python's asyncio.all_tasks(), with what each task waits on, and counters
/// per loop: for programs that show their own state (a status page, a
/// health check). Nothing here suspends. aioc_tasks and
/// aioc_loop_stats_get read the loop running in the calling thread, from
/// one of its tasks or callbacks; another loop's are read by asking it
/// with aioc_loop_call. A snapshot is plain memory: any thread may print
/// or free it.
/// @{

/// A task's state in a snapshot.
typedef enum aioc_task_state {
    AIOC_TASK_NEW,     ///< spawned, not yet started
    AIOC_TASK_READY,   ///< queued to run (it yielded or was woken)
    AIOC_TASK_RUNNING, ///< the task that took the snapshot
    AIOC_TASK_WAITING, ///< parked until something wakes it (aioc_task_info.wait)
    AIOC_TASK_DONE,    ///< ended, not yet awaited (aioc_task_info.status)
} aioc_task_state;

/// What a waiting task waits on.
typedef enum aioc_wait_kind {
    AIOC_WAITS_ON_NOTHING,   ///< not waiting
    AIOC_WAITS_ON_YIELD,     ///< its turn, after aioc_yield()
    AIOC_WAITS_ON_SLEEP,     ///< a timer: aioc_task_info.deadline
    AIOC_WAITS_ON_TASK,      ///< another task's end: aioc_task_info.wait_task
    AIOC_WAITS_ON_TASKS,     ///< several tasks (gather, wait_any, ...)
    AIOC_WAITS_ON_GROUP,     ///< a task group's children
    AIOC_WAITS_ON_SCOPE,     ///< a scope's tasks
    AIOC_WAITS_ON_FD,        ///< a descriptor: aioc_task_info.fd and .fd_write
    AIOC_WAITS_ON_PRIMITIVE, ///< a lock, event, condition, semaphore, queue...
    AIOC_WAITS_ON_THREAD,    ///< another thread: a future, aioc_to_thread
} aioc_wait_kind;

/// Which primitive a task waits on (AIOC_WAITS_ON_PRIMITIVE).
typedef enum aioc_primitive {
    AIOC_PRIMITIVE_NONE,       ///< not waiting on a primitive
    AIOC_PRIMITIVE_EVENT,      ///< aioc_event_wait
    AIOC_PRIMITIVE_LOCK,       ///< aioc_lock_acquire
    AIOC_PRIMITIVE_CONDITION,  ///< aioc_cond_wait
    AIOC_PRIMITIVE_SEMAPHORE,  ///< aioc_sem_acquire
    AIOC_PRIMITIVE_BARRIER,    ///< aioc_barrier_wait
    AIOC_PRIMITIVE_QUEUE_PUT,  ///< aioc_queue_put on a full queue
    AIOC_PRIMITIVE_QUEUE_GET,  ///< aioc_queue_get on an empty queue
    AIOC_PRIMITIVE_QUEUE_JOIN, ///< aioc_queue_join
} aioc_primitive;

/// One task in a snapshot taken by aioc_tasks(). Times are seconds on the
/// loop's clock (aioc_now()).
typedef struct aioc_task_info {
    uint64_t id;           ///< the handle's id (aioc_task.id), as in dumps
    const char *name;      ///< its name, or "task-<n>"; owned by the snapshot
    aioc_task_state state; ///< what it does now
    aioc_wait_kind wait;   ///< what it waits on (AIOC_TASK_WAITING only)
    /// The object waited on: the primitive, the future, the awaited task's
    /// internal record, the group; NULL for a sleep, a descriptor or a yield.
    /// An address to tell waits apart, never to dereference.
    const void *wait_object;
    aioc_primitive primitive; ///< AIOC_WAITS_ON_PRIMITIVE: which kind
    uint64_t wait_task;       ///< AIOC_WAITS_ON_TASK: the awaited task's id
    int fd;                   ///< AIOC_WAITS_ON_FD: the descriptor, else -1
    int fd_write;             ///< AIOC_WAITS_ON_FD: 1 waiting to write, 0 to read
    double deadline;          ///< AIOC_WAITS_ON_SLEEP: when it wakes, else 0
    double waiting; ///< AIOC_TASK_WAITING: for how long so far (to the millisecond), else 0
    /// In debug mode, the id of the task that spawned it; 0 when spawned by
    /// a callback, or outside debug mode (where nothing per task is kept
    /// for it, so that tasks stay small).
    uint64_t parent;
    double age;       ///< time since it was spawned, to the millisecond
    double run_time;  ///< time it has run, in debug mode; -1 when not timed
    int status;       ///< AIOC_TASK_DONE: its status (0, an error)
    unsigned cancels; ///< cancel requests pending
    double taken_at;  ///< the loop's clock when the snapshot was taken
    /// Where it was spawned: the source file of the aioc_spawn or
    /// aioc_spawn_with call (`__FILE__`), or NULL (spawned through the
    /// functions, or main). A string of the program's, not the snapshot's.
    const char *spawn_file;
    int spawn_line; ///< and the line of that call; 0 with no file
} aioc_task_info;

/// A snapshot of every task of the running loop (asyncio.all_tasks(), done
/// tasks not yet awaited included), in handle order. Returns an array of
/// `*count` entries, to release with aioc_tasks_free(); it owns its
/// strings and stays valid after the tasks end. On failure returns NULL
/// with `*err` (if `err` is not NULL) set to AIOC_ENOLOOP outside a loop or
/// -ENOMEM (`*count`, if `count` is not NULL, is then 0). Does not suspend
/// (the loop's thread copies what it keeps, nothing is waited for). From
/// the loop's thread: a task or a loop callback; in a thread that runs no
/// loop (a pool thread, one of the program's) it fails with AIOC_ENOLOOP,
/// and a sibling loop gets its own tasks: to snapshot another loop, call
/// aioc_tasks there with aioc_loop_call.
AIOC_EXTERN aioc_task_info *aioc_tasks(size_t *count, int *err);

/// Frees a snapshot from aioc_tasks() (NULL: nothing). Does not suspend;
/// any thread.
AIOC_EXTERN void aioc_tasks_free(aioc_task_info *tasks);

/// Prints `n` entries of a snapshot to `out`, one line each, the format of
/// aioc_dump_tasks(): id, name, state, what it waits on and for how long,
/// a done task's status, and the run time when known. Returns `n`. Does
/// not suspend (a slow `out`, a full pipe, blocks the thread, as
/// aioc_dump_tasks does); any thread: it reads only the snapshot.
AIOC_EXTERN int aioc_tasks_print(FILE *out, const aioc_task_info *tasks, size_t n);

/// Counters of one loop. Tasks, steps and polls are the loop's own;
/// the thread-pool figures are the process-wide pool's (aioc_to_thread).
typedef struct aioc_loop_stats {
    uint64_t tasks_spawned; ///< tasks spawned since the loop started (main too)
    size_t tasks_alive;     ///< tasks not yet ended
    /// Turns given so far: tasks resumed (each runs a step, until it waits
    /// or yields) and callbacks run.
    uint64_t steps;
    uint64_t polls;        ///< times the loop polled for I/O and timers
    size_t fds_watched;    ///< descriptors registered with the poller
    size_t fd_waiters;     ///< tasks waiting on a descriptor
    size_t timers;         ///< timers pending: sleeps, deadlines, delayed calls
    size_t ready;          ///< tasks and callbacks queued to run
    unsigned pool_threads; ///< the pool's threads
    unsigned pool_queued;  ///< jobs waiting for a thread of the pool
    uint64_t pool_jobs;    ///< jobs the pool has started so far
    double pool_wait;      ///< seconds those jobs waited in its queue, in total
} aioc_loop_stats;

/// Fills `*stats` with the counters of `loop`, which must be the loop of
/// the calling thread (NULL: that one); to read another loop's, ask it
/// through aioc_loop_call(). Does not suspend. From the loop's thread: a
/// task or a loop callback. Returns 0, AIOC_ENOLOOP if no loop runs in
/// this thread (a pool thread, one of the program's), -EINVAL if `stats`
/// is NULL or `loop` is another thread's.
AIOC_EXTERN int aioc_loop_stats_get(aioc_loop *loop, aioc_loop_stats *stats);
/// @}

/* ========================================================== debugging == */
/// @defgroup core_debugging Debugging
/// @{

/// Prints every task of the running loop: id, name, state, what it waits on
/// and for how long, and in debug mode how long it has run (one line per
/// task, as aioc_tasks_print() prints them, after a line that names the
/// loop's clock). Returns the number of tasks, AIOC_ENOLOOP, or -ENOMEM
/// (no room for the snapshot: nothing printed). In a run of several loops,
/// prints every loop's, each headed "loop I of N", and returns the total: a
/// sibling prints its own tasks when it next polls (it is asked with a loop
/// call), waited for up to a second per loop; one that did not answer by
/// then (a task keeps it busy) or that has ended is named as such. Does not
/// suspend (the thread waits).
AIOC_EXTERN int aioc_dump_tasks(FILE *out);

/* Valgrind: task stacks are registered with it, so a program using aioc
 * runs clean under `valgrind --leak-check=full` (see the pool's note
 * above on threads). Valgrind 3.19 (Debian 12) does not know two recent
 * system calls that aioc tries first, and prints "WARNING: unhandled
 * amd64-linux syscall: 434" (pidfd_open: for stack guard pages in batches
 * and for child processes) and "... syscall: 441" (epoll_pwait2: the
 * loop's nanosecond poll timeout). They are harmless: Valgrind answers
 * ENOSYS, as an older kernel would, and aioc takes its fallbacks (guard
 * pages one by one, child processes waited for by polling, epoll_wait's
 * milliseconds rounded up). They are not errors: the exit status stays
 * 0, even with --error-exitcode. */
/// @}

#ifdef __cplusplus
}
#endif
#endif /* AIOC_H */
