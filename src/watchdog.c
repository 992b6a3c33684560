/* The watchdog: a monitor thread per loop that reports, while it still
 * runs, a task or callback that has run longer than a threshold without
 * yielding, with the backtrace of the loop thread at that moment; and then
 * again when it yields.
 *
 * The loop thread's cost is the marks of watchdog.h: a step counter, bumped
 * where each step begins and ends. The monitor wakes every fifth of the
 * threshold and reads it; a counter that is odd (a step runs) and has not
 * moved for a threshold is a stall. The monitor then asks the loop thread
 * for its own backtrace with a signal (SIGURG, as Go's preemption: ignored
 * by default and raised by nothing else but out-of-band socket data): the
 * handler, running on the loop thread, records the return addresses with
 * glibc's backtrace() (warmed up at start, so that it does not load libgcc
 * in the handler) and the running task's id and name; the monitor
 * symbolizes them (dladdr) and writes the report to stderr with write(2),
 * not stdio, so that a loop thread stuck inside stdio cannot hold it up.
 * A loop thread blocked in a system call is not signalled (the signal
 * would cut a sleep or a poll short with EINTR): the monitor reads where
 * it stopped from /proc and scans the task's stack instead. The same
 * lines also report a step's end. docs/architecture.md ("Watchdog") says
 * why this is safe and where it is not. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "debug_checks.h"
#include "debug_mode.h"
#include "watchdog.h"

_Thread_local struct aioc__watchdog_marks *aioc__watchdog_tls
    __attribute__((tls_model("initial-exec")));

/* The signal that asks a loop thread for its backtrace. */
#define WATCHDOG_SIGNAL SIGURG
#define MAX_FRAMES 48
/* How long the monitor waits for the loop thread to take its sample: long,
 * for Valgrind, which delivers a signal only when it next schedules the
 * thread. A thread that blocks the signal never answers; the report then
 * goes out without a backtrace. */
#define SAMPLE_WAIT_NS (5 * AIOC__NS)

/* What the signal handler records on the loop thread. */
typedef struct sample {
    bool taken;   /* the stalled step was still running */
    bool scanned; /* frames found by a stack scan, not by the unwinder */
    bool is_task; /* a task ran (else a callback or the scheduler) */
    int nframes;
    uint64_t task_id;
    const aioc_spawn_site *site; /* static: lives as long as the program */
    char name[64];
    void *frames[MAX_FRAMES];
} sample;

struct aioc__watchdog {
    struct aioc__watchdog_marks marks; /* first: the thread-local points here */
    aioc__loop *loop;
    pthread_t loop_thread;
    pid_t loop_tid;
    pthread_t monitor;
    uint64_t threshold_ns;
    uint64_t tick_ns;

    pthread_mutex_t mu; /* the monitor's sleep, and stopping */
    pthread_cond_t cv;
    bool stopping;

    /* Held while a report is made, so that the end of a stall (written by
     * the loop thread) never comes before its report. */
    pthread_mutex_t print_mu;
    _Atomic uint64_t stall_start; /* the stalled step's estimated start, ns */

    _Atomic uint64_t request; /* the step the monitor wants sampled; 0 none */
    _Atomic uint64_t sampled; /* the step last answered by the handler */
    sample sample;            /* written by the handler, read under print_mu */
};

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * AIOC__NS + (uint64_t)ts.tv_nsec;
}

/* Writes all of `buf` to stderr, without stdio. */
static void write_stderr(const char *buf, size_t len) {
    while (len) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* ---------------------------------------------------- the handler -- */

static struct sigaction previous_action; /* chained for signals not ours */
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

/* The address where the signal interrupted the thread, or NULL. */
static void *interrupted_pc(void *ucontext) {
    ucontext_t *uc = ucontext;
#if defined(__x86_64__)
    return (void *)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (void *)uc->uc_mcontext.pc;
#else
    (void)uc;
    return NULL;
#endif
}

/* Copies `src` into `dst` (bounded): strncpy is not on POSIX's list of
 * async-signal-safe functions before POSIX 2008's update, this is. */
static void copy_name(char *dst, size_t n, const char *src) {
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++)
        dst[i] = src[i];
    dst[i] = '\0';
}

static void take_sample(struct aioc__watchdog *w, uint64_t want, void *ucontext) {
    sample *s = &w->sample;
    s->taken = atomic_load_explicit(&w->marks.step, memory_order_relaxed) == want;
    if (s->taken) {
        int n = backtrace(s->frames, MAX_FRAMES);
        /* drop the handler's own frames and the signal trampoline: the
         * interrupted frame is the one at the interrupted pc */
        void *pc = interrupted_pc(ucontext);
        int first = 0;
        for (int i = 0; pc && i < n; i++)
            if (s->frames[i] == pc) {
                first = i;
                break;
            }
        memmove(s->frames, s->frames + first, (size_t)(n - first) * sizeof *s->frames);
        s->nframes = n - first;
        aioc__loop *loop = aioc__loop_get();
        aioc__task *t = loop ? loop->current : NULL;
        s->is_task = t != NULL;
        s->task_id = t ? t->id : 0;
        s->site = t ? t->spawn_site : NULL;
        copy_name(s->name, sizeof s->name, t ? t->name : NULL);
    }
    atomic_store_explicit(&w->sampled, want, memory_order_release);
}

static void on_signal(int sig, siginfo_t *info, void *ucontext) {
    int saved_errno = errno;
    struct aioc__watchdog_marks *m = aioc__watchdog_tls;
    struct aioc__watchdog *w = (struct aioc__watchdog *)m; /* marks come first */
    uint64_t want = w ? atomic_exchange_explicit(&w->request, 0, memory_order_acquire) : 0;
    if (want) {
        take_sample(w, want, ucontext);
    } else if (previous_action.sa_flags & SA_SIGINFO) {
        previous_action.sa_sigaction(sig, info, ucontext); /* not ours */
    } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
        previous_action.sa_handler(sig);
    }
    errno = saved_errno;
}

static void install_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    /* SA_RESTART: a read or write the signal interrupts is restarted;
     * SA_ONSTACK: the task's stack may be small, the loop thread has an
     * alternate stack (src/stack.c) */
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(WATCHDOG_SIGNAL, &sa, &previous_action);
}

/* ---------------------------------------------------- the monitor -- */

/* Appends to `buf` (of `cap` bytes, `*len` used) what printf makes. */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t cap, size_t *len,
                                                         const char *fmt, ...) {
    if (*len >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

/* "task 'NAME' (id N)", or what ran instead of a task. */
static void append_who(char *buf, size_t cap, size_t *len, const sample *s) {
    if (!s->taken)
        append(buf, cap, len, "a step (its backtrace could not be taken)");
    else if (!s->is_task)
        append(buf, cap, len, "a callback (no task)");
    else if (s->name[0])
        append(buf, cap, len, "task '%s' (id %u", s->name, (uint32_t)s->task_id);
    else
        append(buf, cap, len, "task 'task-%u' (id %u", (uint32_t)s->task_id, (uint32_t)s->task_id);
    if (s->taken && s->is_task && s->site)
        append(buf, cap, len, ", spawned at %s:%d)", s->site->file, s->site->line);
    else if (s->taken && s->is_task)
        append(buf, cap, len, ")");
}

/* One line per frame: symbol+offset (module+offset), the second for
 * addr2line where the symbol is not exported. */
static void append_frames(char *buf, size_t cap, size_t *len, const sample *s) {
    for (int i = 0; i < s->nframes; i++) {
        /* a return address points after its call: look up the call */
        void *pc = i == 0 ? s->frames[i] : (char *)s->frames[i] - 1;
        Dl_info info;
        if (dladdr(pc, &info) && info.dli_fname) {
            uintptr_t rel = (uintptr_t)pc - (uintptr_t)info.dli_fbase;
            if (info.dli_sname)
                append(buf, cap, len, "    #%-2d %s+0x%zx (%s+0x%zx)\n", i, info.dli_sname,
                       (size_t)((uintptr_t)pc - (uintptr_t)info.dli_saddr), info.dli_fname,
                       (size_t)rel);
            else
                append(buf, cap, len, "    #%-2d ?? (%s+0x%zx)\n", i, info.dli_fname, (size_t)rel);
        } else {
            append(buf, cap, len, "    #%-2d %p\n", i, pc);
        }
    }
}

/* ------------------------------------- a thread blocked in the kernel -- */

/* A handled signal cuts short a sleep, poll, select or epoll_wait (EINTR,
 * SA_RESTART or not). So when the loop thread is blocked in a system call
 * the monitor does not signal it: it reads where the thread stopped from
 * /proc (its pc and stack pointer) and scans the task's stack above that
 * for words that are return addresses (a call instruction just before
 * them, in executable code), as crash reporters do when they have no
 * unwind tables. Live frames can hold stale return addresses too, so the
 * report says the frames were scanned. */

/* Executable segments of the loaded objects, so that a word is read as
 * code only where code is mapped. */
typedef struct code_ranges {
    int n;
    uintptr_t lo[128], hi[128];
} code_ranges;

static int collect_code(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    code_ranges *r = arg;
    for (int i = 0; i < info->dlpi_phnum && r->n < 128; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            r->lo[r->n] = info->dlpi_addr + ph->p_vaddr;
            r->hi[r->n] = r->lo[r->n] + ph->p_memsz;
            r->n++;
        }
    }
    return 0;
}

static bool in_code(const code_ranges *r, uintptr_t a, size_t before) {
    for (int i = 0; i < r->n; i++)
        if (a >= r->lo[i] + before && a < r->hi[i])
            return true;
    return false;
}

/* Whether `a` follows a call instruction: what a return address does. */
static bool after_call(const code_ranges *r, uintptr_t a) {
#if defined(__x86_64__)
    if (!in_code(r, a, 7))
        return false;
    const unsigned char *p = (const unsigned char *)a;
    if (p[-5] == 0xe8)
        return true; /* call rel32 */
    if (p[-6] == 0xff && (p[-5] & 0x38) == 0x10)
        return true; /* call [mem] with a 32-bit displacement */
    if (p[-3] == 0xff && (p[-2] & 0x38) == 0x10)
        return true; /* call [reg + disp8] */
    if (p[-2] == 0xff && (p[-1] & 0x38) == 0x10)
        return true; /* call reg, call [reg] */
    return false;
#elif defined(__aarch64__)
    if (!in_code(r, a, 4))
        return false;
    uint32_t insn = *(const uint32_t *)(a - 4);
    return (insn & 0xfc000000) == 0x94000000 || (insn & 0xfffffc1f) == 0xd63f0000; /* bl, blr */
#else
    return in_code(r, a, 1);
#endif
}

/* Adds the return addresses found in [sp, hi) to s->frames. Another
 * thread's stack: ASan's redzones in it are not this thread's errors. */
__attribute__((no_sanitize("address"))) static void scan_stack(sample *s, const code_ranges *code,
                                                               uintptr_t sp, uintptr_t hi) {
    for (uintptr_t a = sp & ~(uintptr_t)7; a + 8 <= hi && s->nframes < MAX_FRAMES; a += 8) {
        uintptr_t word = *(const uintptr_t *)a;
        if (after_call(code, word))
            s->frames[s->nframes++] = (void *)word;
    }
}

/* Where the loop thread is blocked in a system call: true with its pc and
 * stack pointer, false if it runs (or /proc cannot say). */
static bool blocked_in_kernel(pid_t tid, uintptr_t *pc, uintptr_t *sp) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n <= 0)
        return false;
    line[n] = '\0';
    /* "nr a1 a2 a3 a4 a5 a6 sp pc" in a system call, "-1 sp pc" blocked
     * elsewhere, "running" on a CPU */
    long nr;
    unsigned long a[6], s, p;
    if (sscanf(line, "%ld %lx %lx %lx %lx %lx %lx %lx %lx", &nr, &a[0], &a[1], &a[2], &a[3], &a[4],
               &a[5], &s, &p) != 9 ||
        nr < 0)
        return false;
    *sp = s;
    *pc = p;
    return true;
}

/* Samples the stalled `step` from this thread, without disturbing the
 * loop thread: true if it was blocked in a system call inside a task (the
 * task's stack bounds the scan), with s->taken false if the step ended
 * meanwhile; false if the loop thread must be asked with the signal.
 * The task's fields are read racily, and kept only if the step did not
 * move meanwhile (the task still runs). */
static bool sample_blocked(struct aioc__watchdog *w, uint64_t step) {
    sample *s = &w->sample;
    s->taken = s->scanned = false;
    uintptr_t pc, sp;
    if (RUNNING_ON_VALGRIND || !blocked_in_kernel(w->loop_tid, &pc, &sp))
        return false;
    if (atomic_load_explicit(&w->marks.step, memory_order_acquire) != step)
        return true; /* over already */
    aioc__task *t = w->loop->current;
    if (!t || !t->stack.lo)
        return false;
    uintptr_t lo = (uintptr_t)t->stack.lo, hi = lo + t->stack.size;
    if (sp < lo || sp >= hi)
        return false; /* on another stack (a callback's, the scheduler's) */
    s->is_task = true;
    s->task_id = t->id;
    s->site = t->spawn_site;
    copy_name(s->name, sizeof s->name, t->name);
    code_ranges *code = malloc(sizeof *code);
    if (!code)
        return false;
    code->n = 0;
    dl_iterate_phdr(collect_code, code);
    s->nframes = 0;
    s->frames[s->nframes++] = (void *)pc;
    scan_stack(s, code, sp, hi);
    free(code);
    s->scanned = true;
    /* kept only if the task still runs; else the stall is over: no report,
     * and no signal either */
    s->taken = atomic_load_explicit(&w->marks.step, memory_order_acquire) == step;
    return true;
}

/* Asks the loop thread for its sample of step `step`; true once it has
 * answered (s->taken says whether the step was still running). */
static bool ask_for_sample(struct aioc__watchdog *w, uint64_t step) {
    w->sample.taken = false;
    w->sample.scanned = false;
    atomic_store_explicit(&w->request, step, memory_order_release);
    if (pthread_kill(w->loop_thread, WATCHDOG_SIGNAL) != 0) {
        atomic_store_explicit(&w->request, 0, memory_order_relaxed);
        return false;
    }
    uint64_t give_up = monotonic_ns() + SAMPLE_WAIT_NS;
    for (;;) {
        if (atomic_load_explicit(&w->sampled, memory_order_acquire) == step)
            return true;
        if (monotonic_ns() > give_up &&
            atomic_exchange_explicit(&w->request, 0, memory_order_relaxed) == step)
            return false; /* withdrawn before the handler took it */
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

/* Reports the stall of `step`, which started about `start`. */
static void report_stall(struct aioc__watchdog *w, uint64_t step, uint64_t start) {
    pthread_mutex_lock(&w->print_mu);
    atomic_store_explicit(&w->stall_start, start, memory_order_relaxed);
    atomic_store_explicit(&w->marks.stalled, step, memory_order_relaxed);
    bool answered = sample_blocked(w, step) || ask_for_sample(w, step);
    const sample *s = &w->sample;
    if (!answered || s->taken) {
        size_t cap = 16384, len = 0;
        char *buf = malloc(cap);
        if (buf) {
            uint64_t ms = (monotonic_ns() - start) / 1000000;
            append(buf, cap, &len, "aioc watchdog: ");
            if (answered)
                append_who(buf, cap, &len, s);
            else
                append(buf, cap, &len, "a step (the loop thread did not answer %s)",
                       strsignal(WATCHDOG_SIGNAL));
            append(buf, cap, &len, " has run %llu ms without yielding%s\n", (unsigned long long)ms,
                   !answered    ? ""
                   : s->scanned ? "; its stack (blocked in a system call; frames found by a "
                                  "scan, some may be stale):"
                                : "; its stack:");
            if (answered)
                append_frames(buf, cap, &len, s);
            write_stderr(buf, len);
            free(buf);
        }
    }
    pthread_mutex_unlock(&w->print_mu);
}

void aioc__watchdog_stall_ended(struct aioc__watchdog_marks *m) {
    struct aioc__watchdog *w = (struct aioc__watchdog *)m;
    pthread_mutex_lock(&w->print_mu); /* its report is out */
    uint64_t start = atomic_load_explicit(&w->stall_start, memory_order_relaxed);
    char buf[256];
    size_t len = 0;
    append(buf, sizeof buf, &len, "aioc watchdog: ");
    append_who(buf, sizeof buf, &len, &w->sample);
    append(buf, sizeof buf, &len, " yielded after %llu ms\n",
           (unsigned long long)((monotonic_ns() - start) / 1000000));
    write_stderr(buf, len);
    pthread_mutex_unlock(&w->print_mu);
}

/* Sleeps one tick; false once the loop is stopping. */
static bool tick(struct aioc__watchdog *w) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + w->tick_ns;
    until.tv_sec += (time_t)(ns / AIOC__NS);
    until.tv_nsec = (long)(ns % AIOC__NS);
    pthread_mutex_lock(&w->mu);
    while (!w->stopping && pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT)
        ;
    bool go_on = !w->stopping;
    pthread_mutex_unlock(&w->mu);
    return go_on;
}

/* Each tick: a step that was not running at the previous tick started in
 * between, so its start is estimated as the middle of the two (off by at
 * most half a tick); once it has run a threshold, it is reported, once. */
static void *monitor_main(void *arg) {
    struct aioc__watchdog *w = arg;
    uint64_t seen = 0, seen_start = 0, last_tick = monotonic_ns();
    bool reported = false;
    while (tick(w)) {
        uint64_t now = monotonic_ns();
        uint64_t step = atomic_load_explicit(&w->marks.step, memory_order_relaxed);
        if (step != seen) {
            seen = step;
            seen_start = last_tick + (now - last_tick) / 2;
            reported = false;
        } else if ((step & 1) && !reported && now - seen_start >= w->threshold_ns) {
            report_stall(w, step, seen_start);
            reported = true;
        }
        last_tick = now;
    }
    return NULL;
}

/* ---------------------------------------------------- start, stop -- */

/* The threshold in ms: the option, else AIOC_WATCHDOG_MS, else 100 in
 * debug mode (aioc_run_opts.debug, or AIOC_DEBUG set, not empty, not "0"),
 * else 0 (off). */
static unsigned threshold_ms(const aioc_run_opts *opts) {
    if (opts && opts->watchdog_ms)
        return opts->watchdog_ms;
    const char *ms = getenv("AIOC_WATCHDOG_MS");
    if (ms && *ms)
        return (unsigned)strtoul(ms, NULL, 10);
    return aioc__debug_requested(opts) ? 100 : 0; /* debug mode's default */
}

void aioc__watchdog_start(const aioc_run_opts *opts) {
    unsigned ms = threshold_ms(opts);
    if (!ms)
        return;
    struct aioc__watchdog *w = calloc(1, sizeof *w);
    if (!w) {
        fprintf(stderr, "aioc: watchdog not started: %s\n", strerror(ENOMEM));
        return;
    }
    atomic_init(&w->marks.step, 2);
    atomic_init(&w->marks.stalled, 0);
    w->loop = aioc__loop_get();
    w->loop_thread = pthread_self();
    w->loop_tid = (pid_t)syscall(SYS_gettid);
    w->threshold_ns = (uint64_t)ms * 1000000;
    w->tick_ns = w->threshold_ns / 5 ? w->threshold_ns / 5 : 1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->print_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);

    /* backtrace() loads libgcc's unwinder on first use: not in a handler */
    void *warm[4];
    backtrace(warm, 4);
    pthread_once(&install_once, install_handler);

    /* the monitor takes no signal meant for the process */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&w->monitor, NULL, monitor_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        pthread_mutex_destroy(&w->print_mu);
        free(w);
        fprintf(stderr, "aioc: watchdog not started: %s\n", strerror(err));
        return;
    }
    aioc__watchdog_tls = &w->marks;
}

uint64_t aioc__watchdog_threshold_ns(void) {
    struct aioc__watchdog *w = (struct aioc__watchdog *)aioc__watchdog_tls;
    return w ? w->threshold_ns : 0;
}

void aioc__watchdog_stop(void) {
    struct aioc__watchdog *w = (struct aioc__watchdog *)aioc__watchdog_tls;
    if (!w)
        return;
    aioc__debug_streams_report();
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->monitor, NULL);
    aioc__watchdog_tls = NULL;
    atomic_signal_fence(memory_order_seq_cst); /* the handler sees NULL from here */
    /* a request the handler has not taken yet finds no watchdog */
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->print_mu);
    free(w);
}
