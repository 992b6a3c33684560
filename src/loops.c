/* aioc_run on N loops, one thread each (aioc_run_opts.loops).
 *
 * The calling thread runs loop 0 and N-1 threads run the others; each is a
 * whole loop of src/loop.c, which calls in here at a few points (loops.h):
 *
 * - Start: every loop is set up before any main runs (a barrier), so that
 *   aioc_loop_at(i) is valid for every i from main's first line; if one
 *   loop cannot be set up, no main runs.
 * - End: a loop whose tasks have all ended stays open to its siblings'
 *   calls until every loop has ended its tasks (a counter that loop 0 owns
 *   stays reachable while others still count); then all close.
 * - Deadlock: a loop with nothing to do and nothing of its own that could
 *   wake it (loop.c's stuck()) may still be woken by a sibling's
 *   aioc_loop_call. It sleeps, marked stuck, and is deadlocked only when
 *   the run as a whole is: every loop stuck or finished, and no call
 *   queued on any loop. A sibling's call is queued (and seen by this
 *   check, made under the run's lock) before the caller can itself be
 *   marked stuck, and a woken loop unmarks itself under the lock before it
 *   runs the calls it was woken for, so a loop with work coming is never
 *   counted stuck with nothing queued. The loop that finds the run stuck
 *   wakes the other stuck ones to report their own deadlock.
 * - Ctrl-C: only loop 0 handles SIGINT (the others run with keep_sigint);
 *   it cancels its main and queues the same on every sibling.
 * - Dumps: each loop dumps its own tasks, in its own thread, when a
 *   sibling asks with a loop call: a loop's tables are never read from
 *   another thread. */
#define _GNU_SOURCE
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "loops.h"
#include "remote.h"
#include "signals.h"

typedef struct member {
    pthread_t thread;
    bool has_thread;
    aioc__loop *loop;  /* while it runs: to wake it when marked sleeping */
    aioc_loop *handle; /* the run's own (quiet) reference, for aioc_loop_at */
    bool sleeping;     /* stuck, waiting for a sibling */
    bool finished;     /* every task of it ended */
    bool deadlocked;   /* found stuck with the whole run: report it */
    struct aioc__run *run;
    unsigned index;
} member;

struct aioc__run {
    pthread_mutex_t lock; /* guards all below but the constants */
    pthread_cond_t joined;
    unsigned count; /* constant */
    aioc_fn main;   /* constant, with arg and opts */
    void *arg;
    aioc_run_opts opts; /* loop 0's; siblings add keep_sigint */
    unsigned arrived;   /* loops at the start barrier */
    int start_error;    /* first set-up error */
    int failure;        /* first non-zero main status */
    unsigned finished;  /* loops whose tasks have all ended */
    unsigned sleeping;  /* loops marked stuck */
    bool interrupted;   /* a Ctrl-C came */
    member members[];
};

/* ----------------------------------------------------- how many loops -- */

static unsigned cpus_allowed(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* The number of loops asked for: opts->loops, else AIOC_LOOPS, else 1;
 * or 0 for an invalid one. */
static unsigned loops_wanted(const aioc_run_opts *opts) {
    unsigned n = opts ? opts->loops : 0;
    const char *env = getenv("AIOC_LOOPS");
    if (!n && env && *env) {
        if (strcmp(env, "auto") == 0) {
            n = AIOC_LOOPS_AUTO;
        } else {
            char *end;
            unsigned long v = strtoul(env, &end, 10);
            if (*end || v > AIOC_LOOPS_MAX)
                return 0;
            n = (unsigned)v;
        }
    }
    if (n == AIOC_LOOPS_AUTO) {
        n = cpus_allowed();
        return n < AIOC_LOOPS_MAX ? n : AIOC_LOOPS_MAX;
    }
    if (n > AIOC_LOOPS_MAX)
        return 0;
    return n ? n : 1;
}

/* ------------------------------------------------- start and finish -- */

int aioc__loops_join(struct aioc__run *run, unsigned index, aioc__loop *loop, int err) {
    pthread_mutex_lock(&run->lock);
    member *m = &run->members[index];
    if (loop) {
        m->loop = loop;
        m->handle = aioc__remote_hold_quiet(loop->handle);
        loop->run = run;
        loop->run_index = index;
    } else if (!run->start_error) {
        run->start_error = err;
    }
    if (++run->arrived == run->count)
        pthread_cond_broadcast(&run->joined);
    /* a loop that failed (or a thread that never started, told by the
     * calling thread) has nothing to wait for */
    while (loop && run->arrived < run->count)
        pthread_cond_wait(&run->joined, &run->lock);
    err = run->start_error;
    if (err && loop) {
        loop->run = NULL;
        m->loop = NULL;
    }
    pthread_mutex_unlock(&run->lock);
    return err;
}

void aioc__loops_main_ended(aioc__loop *loop, int status) {
    struct aioc__run *run = loop->run;
    pthread_mutex_lock(&run->lock);
    if (status && !run->failure)
        run->failure = status;
    pthread_mutex_unlock(&run->lock);
}

/* ----------------------------------------------------------- sleeping -- */

static void wake(member *m) { m->loop->backend->wakeup(m->loop); }

/* With the run's lock held, `self` about to sleep or finished: if every
 * loop is stuck or finished and no call is queued anywhere, marks the
 * stuck ones (but `self`) deadlocked, wakes them, and returns true. When every loop has finished,
 * wakes the sleeping ones so that they close. */
static bool check_run(struct aioc__run *run, const member *self) {
    if (run->finished == run->count) {
        for (unsigned i = 0; i < run->count; i++)
            if (run->members[i].sleeping)
                wake(&run->members[i]);
        return false;
    }
    unsigned stuck = 0;
    for (unsigned i = 0; i < run->count; i++) {
        const member *m = &run->members[i];
        bool is_self = m == self;
        if (!(m->finished || m->sleeping || is_self) || aioc__remote_pending(m->handle))
            return false;
        if (!m->finished)
            stuck++;
    }
    if (!stuck)
        return false;
    for (unsigned i = 0; i < run->count; i++) {
        member *m = &run->members[i];
        if (m != self && m->sleeping && !m->finished) {
            m->deadlocked = true;
            wake(m);
        }
    }
    return true;
}

bool aioc__loops_stuck(aioc__loop *loop) {
    struct aioc__run *run = loop->run;
    member *m = &run->members[loop->run_index];
    pthread_mutex_lock(&run->lock);
    /* a finished loop that goes back to sleep may leave the rest stuck */
    bool deadlocked = check_run(run, m) && !m->finished;
    if (!deadlocked) {
        m->sleeping = true;
        loop->run_sleeping = true;
        run->sleeping++;
        if (run->finished == run->count)
            wake(m); /* the run ended meanwhile: don't sleep */
    }
    pthread_mutex_unlock(&run->lock);
    return deadlocked;
}

bool aioc__loops_awake(aioc__loop *loop) {
    struct aioc__run *run = loop->run;
    member *m = &run->members[loop->run_index];
    pthread_mutex_lock(&run->lock);
    m->sleeping = false;
    loop->run_sleeping = false;
    run->sleeping--;
    bool deadlocked = m->deadlocked;
    m->deadlocked = false;
    pthread_mutex_unlock(&run->lock);
    return deadlocked;
}

void aioc__loops_finished(aioc__loop *loop) {
    struct aioc__run *run = loop->run;
    pthread_mutex_lock(&run->lock);
    run->members[loop->run_index].finished = true;
    run->finished++;
    check_run(run, &run->members[loop->run_index]);
    pthread_mutex_unlock(&run->lock);
}

bool aioc__loops_over(struct aioc__run *run) {
    pthread_mutex_lock(&run->lock);
    bool over = run->finished == run->count;
    pthread_mutex_unlock(&run->lock);
    return over;
}

/* ------------------------------------------------------------- Ctrl-C -- */

static void interrupt_here(void *arg) {
    (void)arg;
    aioc__loop *loop = aioc__loop_get();
    if (loop)
        aioc__interrupt_main(loop);
}

void aioc__loops_interrupt(aioc__loop *loop) {
    struct aioc__run *run = loop->run;
    pthread_mutex_lock(&run->lock);
    run->interrupted = true;
    pthread_mutex_unlock(&run->lock);
    for (unsigned i = 0; i < run->count; i++)
        if (i != loop->run_index) /* -ESHUTDOWN: that one has closed */
            aioc_loop_call(run->members[i].handle, interrupt_here, NULL);
}

/* -------------------------------------------------------------- dumps -- */

void aioc__loops_report(aioc__loop *loop, const char *what) {
    flockfile(stderr); /* siblings may report at the same time */
    if (loop->run)
        fprintf(stderr, "aioc: loop %u of %u: %s\n", loop->run_index, loop->run->count, what);
    else
        fprintf(stderr, "aioc: %s\n", what);
    aioc__dump_loop(loop, stderr);
    funlockfile(stderr);
}

/* A sibling's dump, asked for by a loop call. Whoever of the asker (which
 * may give up waiting) and the sibling comes last frees it. */
typedef struct dump_request {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done, abandoned;
    char *text;
    size_t len;
    int count;
} dump_request;

static void dump_request_free(dump_request *r) {
    free(r->text);
    pthread_cond_destroy(&r->done_cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static void dump_here(void *arg) {
    dump_request *r = arg;
    char *text = NULL;
    size_t len = 0;
    int count = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) {
        count = aioc__dump_loop(aioc__loop_get(), f);
        fclose(f);
    }
    pthread_mutex_lock(&r->lock);
    r->text = text;
    r->len = len;
    r->count = count;
    r->done = true;
    bool abandoned = r->abandoned;
    pthread_cond_signal(&r->done_cond);
    pthread_mutex_unlock(&r->lock);
    if (abandoned)
        dump_request_free(r);
}

/* Loop `i`'s tasks, printed by that loop; returns their number. */
static int dump_sibling(struct aioc__run *run, unsigned i, FILE *out) {
    dump_request *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(out, "  (out of memory)\n");
        return 0;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->done_cond, &attr);
    pthread_condattr_destroy(&attr);
    if (aioc_loop_call(run->members[i].handle, dump_here, r) != 0) {
        fprintf(out, "  (ended)\n");
        dump_request_free(r);
        return 0;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&r->lock);
    while (!r->done && pthread_cond_timedwait(&r->done_cond, &r->lock, &until) == 0)
        ;
    bool done = r->done;
    r->abandoned = !done;
    pthread_mutex_unlock(&r->lock);
    if (!done) {
        fprintf(out, "  (busy: did not answer within a second)\n");
        return 0; /* dump_here frees it */
    }
    fwrite(r->text, 1, r->len, out);
    int count = r->count;
    dump_request_free(r);
    return count;
}

int aioc__loops_dump(aioc__loop *loop, FILE *out) {
    struct aioc__run *run = loop->run;
    int total = 0;
    for (unsigned i = 0; i < run->count; i++) {
        fprintf(out, "aioc: loop %u of %u%s\n", i, run->count,
                i == loop->run_index ? " (this one)" : "");
        total += i == loop->run_index ? aioc__dump_loop(loop, out) : dump_sibling(run, i, out);
    }
    return total;
}

/* ------------------------------------------------------------ queries -- */

unsigned aioc_loop_index(void) {
    aioc__loop *loop = aioc__loop_get();
    return loop && loop->run ? loop->run_index : 0;
}

unsigned aioc_loop_count(void) {
    aioc__loop *loop = aioc__loop_get();
    return !loop ? 0 : loop->run ? loop->run->count : 1;
}

aioc_loop *aioc_loop_at(unsigned i) {
    aioc__loop *loop = aioc__loop_get();
    if (!loop)
        return NULL;
    if (!loop->run)
        return i == 0 ? loop->handle : NULL;
    return i < loop->run->count ? loop->run->members[i].handle : NULL;
}

/* ---------------------------------------------------------------- run -- */

/* What aioc_run does once the loops have ended, as after a Ctrl-C. */
static int finish(int status, bool interrupted, const aioc_run_opts *opts) {
    if (interrupted && opts && opts->return_on_sigint)
        return -ECANCELED; /* the program exits as it likes */
    if (interrupted)       /* Ctrl-C, handled cleanly: now die of it, as expected */
        aioc__signals_stop(NULL, true);
    return status;
}

static void *sibling_thread(void *arg) {
    member *m = arg;
    struct aioc__run *run = m->run;
    char name[16];
    snprintf(name, sizeof name, "aioc-loop-%u", m->index);
    pthread_setname_np(pthread_self(), name);
    aioc_run_opts opts = run->opts;
    opts.keep_sigint = 1; /* loop 0 handles Ctrl-C for the run */
    bool interrupted;
    aioc__loop_run(run->main, run->arg, NULL, &opts, run, m->index, &interrupted);
    return NULL;
}

static int run_loops(aioc_fn main, void *arg, void **result, const aioc_run_opts *opts,
                     unsigned n) {
    struct aioc__run *run = calloc(1, sizeof *run + n * sizeof(member));
    if (!run)
        return -ENOMEM;
    pthread_mutex_init(&run->lock, NULL);
    pthread_cond_init(&run->joined, NULL);
    run->count = n;
    run->main = main;
    run->arg = arg;
    if (opts)
        run->opts = *opts;
    for (unsigned i = 0; i < n; i++) {
        run->members[i].run = run;
        run->members[i].index = i;
    }
    for (unsigned i = 1; i < n; i++) {
        member *m = &run->members[i];
        int err = pthread_create(&m->thread, NULL, sibling_thread, m);
        m->has_thread = err == 0;
        if (err) /* this loop will never come: fail the start for all */
            aioc__loops_join(run, i, NULL, -err);
    }
    bool interrupted;
    /* loop 0's status, like every loop's, is in run->failure if non-zero */
    aioc__loop_run(main, arg, result, &run->opts, run, 0, &interrupted);
    for (unsigned i = 1; i < n; i++)
        if (run->members[i].has_thread)
            pthread_join(run->members[i].thread, NULL);
    int err = run->start_error ? run->start_error : run->failure;
    interrupted = run->interrupted || interrupted;
    for (unsigned i = 0; i < n; i++)
        aioc_loop_unref(run->members[i].handle);
    pthread_cond_destroy(&run->joined);
    pthread_mutex_destroy(&run->lock);
    free(run);
    return finish(err, interrupted, opts);
}

int aioc_run(aioc_fn main, void *arg, void **result) {
    return aioc_run_with(main, arg, result, NULL);
}

int aioc_run_with(aioc_fn main, void *arg, void **result, const aioc_run_opts *opts) {
    if (result)
        *result = NULL;
    if (!main)
        return -EINVAL;
    if (aioc__loop_get())
        return -EBUSY;
    unsigned n = loops_wanted(opts);
    if (n == 0)
        return -EINVAL;
    if (n > 1)
        return run_loops(main, arg, result, opts, n);
    bool interrupted;
    int status = aioc__loop_run(main, arg, result, opts, NULL, 0, &interrupted);
    return finish(status, interrupted, opts);
}
