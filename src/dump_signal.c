/* The dump signal: on a signal the program chose (aioc_run_opts.dump_signal
 * or AIOC_DUMP_SIGNAL), each loop that asked prints its tasks to stderr and
 * goes on (Go's SIGQUIT dump, without the exit).
 *
 * The handler does what the SIGINT handler does (src/signal.c): it counts
 * (a generation number) and wakes each registered loop through its
 * backend's wake-up, both async-signal-safe. The loop itself notices the
 * new generation after its next poll and prints, on its own thread and
 * between two task steps, where walking the tasks and calling stdio are
 * safe. A loop unregisters before it is freed and waits for a handler that
 * might still be waking it, as the SIGINT owner does. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "dump_signal.h"

#define MAX_LOOPS 64 /* loops dumping at once; more get a warning */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int installed;  /* the signal handled; 0: none (under lock) */
static unsigned users; /* loops registered (under lock) */
static struct sigaction previous;
static _Atomic(aioc__loop *) loops[MAX_LOOPS];
static atomic_uint generation; /* signals received so far */
static atomic_int waking;      /* handlers between reading loops[] and waking */

static void on_dump_signal(int sig) {
    (void)sig;
    int saved = errno;
    atomic_fetch_add(&generation, 1);
    atomic_fetch_add(&waking, 1);
    for (int i = 0; i < MAX_LOOPS; i++) {
        aioc__loop *loop = atomic_load(&loops[i]);
        if (loop)
            loop->backend->wakeup(loop); /* async-signal-safe (backend.h) */
    }
    atomic_fetch_sub(&waking, 1);
    errno = saved;
}

/* "SIGUSR1", "USR1" or "10": the signal number, or 0. */
static int parse_signal(const char *s) {
    char *end;
    long n = strtol(s, &end, 10);
    if (end != s && !*end)
        return n > 0 && n < NSIG ? (int)n : 0;
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    for (int i = 1; i < NSIG; i++) {
        const char *name = sigabbrev_np(i);
        if (name && strcmp(name, s) == 0)
            return i;
    }
    return 0;
}

/* Whether the program left `sig` alone (default action, no handler). */
static bool untouched(int sig) {
    struct sigaction cur;
    return sigaction(sig, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL &&
           !(cur.sa_flags & SA_SIGINFO);
}

/* Installs the handler for `sig`, or checks that it is already ours.
 * Under `lock`. */
static int install(int sig) {
    if (installed)
        return installed == sig ? 0 : -EBUSY;
    if (!untouched(sig))
        return -EBUSY;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_dump_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(sig, &sa, &previous) != 0)
        return -errno;
    installed = sig;
    return 0;
}

int aioc__dump_signal_start(aioc__loop *loop, const aioc_run_opts *opts) {
    int sig = opts ? opts->dump_signal : 0;
    const char *env = getenv("AIOC_DUMP_SIGNAL");
    bool from_env = !sig && env && *env;
    if (from_env && !(sig = parse_signal(env))) {
        fprintf(stderr, "aioc: AIOC_DUMP_SIGNAL=%s: not a signal, ignored\n", env);
        return 0;
    }
    if (!sig)
        return 0;
    if (sig < 1 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
        return from_env ? 0 : -EINVAL;
    pthread_mutex_lock(&lock);
    int err = install(sig);
    bool other_signal = err && installed && installed != sig;
    int slot = -1;
    for (int i = 0; !err && i < MAX_LOOPS && slot < 0; i++)
        if (!atomic_load(&loops[i]))
            slot = i;
    if (!err && slot < 0)
        err = -EBUSY;
    if (!err) {
        users++;
        loop->dump_slot = (unsigned)slot + 1;
        loop->dump_generation = atomic_load(&generation);
        atomic_store(&loops[slot], loop);
    } else if (!users && installed) { /* installed just now, for nobody */
        sigaction(installed, &previous, NULL);
        installed = 0;
    }
    pthread_mutex_unlock(&lock);
    if (err && from_env) {
        fprintf(stderr, "aioc: AIOC_DUMP_SIGNAL=%s: %s, no dump on that signal\n", env,
                other_signal ? "another loop dumps on another signal" : "the program handles it");
        return 0;
    }
    return err;
}

void aioc__dump_signal_stop(aioc__loop *loop) {
    if (!loop->dump_slot)
        return;
    pthread_mutex_lock(&lock);
    atomic_store(&loops[loop->dump_slot - 1], NULL);
    while (atomic_load(&waking)) /* a handler on another thread: */
        sched_yield();           /* a few instructions from done */
    loop->dump_slot = 0;
    if (--users == 0) {
        sigaction(installed, &previous, NULL);
        installed = 0;
    }
    pthread_mutex_unlock(&lock);
}

void aioc__dump_if_requested(aioc__loop *loop) {
    unsigned now = atomic_load(&generation);
    if (!loop->dump_slot || now == loop->dump_generation)
        return;
    loop->dump_generation = now;
    /* whole, in one write: several loops may dump at once */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out) {
        aioc_dump_tasks(out);
        fclose(out);
        fwrite(text, 1, len, stderr);
        fflush(stderr);
        free(text);
    } else {
        aioc_dump_tasks(stderr);
    }
}
