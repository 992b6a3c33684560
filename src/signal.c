/* Signals: Ctrl-C handling by aioc_run, SIGPIPE, and aioc_signal_wait.
 *
 * SIGINT: the first loop to start (unless it asks to keep SIGINT alone,
 * or the program already handles or ignores SIGINT) installs a handler.
 * The first Ctrl-C only counts and wakes the loop through its backend's
 * wake-up (both async-signal-safe); the loop then cancels its main task, so
 * every task gets to clean up, and aioc_run finally flushes stdio and dies
 * of SIGINT as an unhandled Ctrl-C would (status 130 in a shell), or
 * returns -ECANCELED if asked to (aioc_run_opts.return_on_sigint). A
 * second Ctrl-C kills at once.
 *
 * SIGPIPE: a write to a closed pipe or socket must be an EPIPE error, not
 * the death of the process, so SIGPIPE is ignored unless the program set
 * its own handler.
 *
 * aioc_signal_wait blocks the signals and reads them from a signalfd that
 * the loop polls. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "backend/backend.h"
#include "scheduler.h"
#include "signals.h"

static pthread_mutex_t owner_lock = PTHREAD_MUTEX_INITIALIZER;
static aioc__loop *sigint_owner; /* guarded by owner_lock */
static struct sigaction previous_sigint;
static _Atomic(aioc__loop *) sigint_loop; /* the owner, for the handler */
static atomic_int sigint_count;
/* Handlers between reading sigint_loop and waking it: the owner, when it
 * stops, waits for them to finish before its loop may be freed (a Ctrl-C
 * can land on any thread of the process). */
static atomic_int sigint_waking;

static void on_sigint(int sig) {
    (void)sig;
    int saved = errno;
    if (atomic_fetch_add(&sigint_count, 1) >= 1) {
        signal(SIGINT, SIG_DFL); /* the second Ctrl-C: die now */
        raise(SIGINT);
    }
    atomic_fetch_add(&sigint_waking, 1);
    aioc__loop *loop = atomic_load(&sigint_loop);
    if (loop)
        loop->backend->wakeup(loop); /* async-signal-safe (backend.h) */
    atomic_fetch_sub(&sigint_waking, 1);
    errno = saved;
}

int aioc__signals_start(aioc__loop *loop, const aioc_run_opts *opts) {
    struct sigaction cur;
    if (sigaction(SIGPIPE, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL &&
        !(cur.sa_flags & SA_SIGINFO))
        signal(SIGPIPE, SIG_IGN);
    if (opts && opts->keep_sigint)
        return 0;
    pthread_mutex_lock(&owner_lock);
    if (!sigint_owner && sigaction(SIGINT, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL &&
        !(cur.sa_flags & SA_SIGINFO)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        atomic_store(&sigint_count, 0);
        atomic_store(&sigint_loop, loop);
        if (sigaction(SIGINT, &sa, &previous_sigint) == 0) {
            sigint_owner = loop;
            loop->sigint = true;
        }
    }
    pthread_mutex_unlock(&owner_lock);
    return 0;
}

bool aioc__sigint_pending(aioc__loop *loop) {
    (void)loop;
    return atomic_load(&sigint_count) > 0;
}

void aioc__signals_stop(aioc__loop *loop, bool interrupted) {
    if (interrupted) { /* after a clean shutdown: die of the Ctrl-C */
        fflush(NULL);  /* what the program printed, piped output too */
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    pthread_mutex_lock(&owner_lock);
    if (loop && sigint_owner == loop) {
        sigaction(SIGINT, &previous_sigint, NULL);
        atomic_store(&sigint_loop, NULL);
        while (atomic_load(&sigint_waking)) /* a handler on another thread: */
            sched_yield();                  /* a few instructions from done */
        sigint_owner = NULL;
        loop->sigint = false;
    }
    pthread_mutex_unlock(&owner_lock);
}

int aioc_signal_wait(const int *signals, size_t n) {
    aioc__loop *loop;
    int err;
    if (!aioc__suspension_point(&loop, &err))
        return err;
    if (!signals || n == 0)
        return -EINVAL;
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < n; i++)
        if (sigaddset(&set, signals[i]) != 0)
            return -EINVAL;
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct signalfd_siginfo info;
    long r = aioc_read(fd, &info, sizeof info); /* waits like any descriptor */
    aioc_close(fd);
    if (r < 0)
        return (int)r;
    return r == (long)sizeof info ? (int)info.ssi_signo : -EIO;
}
