/* Task stacks: pooled, lazily committed, guarded.
 *
 * Stacks are carved from large MAP_NORESERVE mappings ("chunks") as slots of
 * [guard page][stack]. Memory is committed only where a task touches it, so
 * a task that stays shallow costs one page however large its stack is.
 * Freed stacks go on a per-loop, per-size LIFO free list and are reused
 * while still warm; chunks are unmapped when the loop ends.
 *
 * The guard page below each stack is made one of three ways, probed once:
 *  - MADV_GUARD_INSTALL (Linux 6.13+): guard markers inside the chunk's one
 *    mapping, so a million stacks cost no extra entries against
 *    vm.max_map_count (65530 by default);
 *  - mprotect(PROT_NONE), which splits the mapping: two map entries per
 *    stack, so only the first AIOC__MPROTECT_BUDGET stacks get one;
 *  - beyond that budget, a canary word at the bottom of the stack, checked
 *    whenever the task parks or ends (this commits the stack's lowest page).
 * AIOC_STACK_GUARD=mprotect (or =canary) in the environment forces the
 * fallbacks; tests use it to cover them on kernels that have
 * MADV_GUARD_INSTALL.
 *
 * A fault in a running task's guard page is caught by a SIGSEGV handler on
 * an alternate signal stack, which names the task and its stack size on
 * stderr and aborts. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "scheduler.h"
#include "stack.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define AIOC__HAVE_VALGRIND 1
#endif
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define CHUNK_BYTES (64u << 20) /* virtual size a chunk aims for */
#define AIOC__MPROTECT_BUDGET 16384
#define CANARY 0x61696f6363616e79ULL /* "aioccany" */

typedef struct chunk {
    struct chunk *next;
    char *base;
    size_t len;
    uint32_t nslots;
} chunk;

struct aioc__stack_pool {
    uint32_t size; /* usable bytes per stack */
    size_t stride; /* guard + stack */
    chunk *chunks;
    uint32_t carved;   /* slots of chunks->base handed out so far */
    uint32_t prepared; /* slots of chunks->base guarded ahead (prepare_batch) */
    void *free;        /* LIFO of freed stacks, linked through their top word */
};

enum guard_method { GUARD_UNKNOWN, GUARD_INSTALL, GUARD_MPROTECT, GUARD_CANARY };
static _Atomic int guard_method;
static atomic_int mprotect_used;
static size_t page_size;

/* Some emulators (qemu-user 7.2) accept any madvise and do nothing: check
 * that the guard really faults, without faulting, by letting the kernel
 * read it (write() from it must fail with EFAULT). */
static bool guard_is_real(const void *page) {
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    bool real = write(fds[1], page, 1) < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
    return real;
}

static int probe_guard_method(void) {
    int m = atomic_load(&guard_method);
    if (m != GUARD_UNKNOWN)
        return m;
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    m = GUARD_MPROTECT;
    const char *env = getenv("AIOC_STACK_GUARD");
    if (env && strcmp(env, "canary") == 0) {
        m = GUARD_CANARY;
    } else if (!env || strcmp(env, "mprotect") != 0) {
        void *p = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            if (madvise(p, page_size, MADV_GUARD_INSTALL) == 0 && guard_is_real(p))
                m = GUARD_INSTALL;
            munmap(p, 2 * page_size);
        }
    }
    atomic_store(&guard_method, m);
    return m;
}

const char *aioc__stack_guard_method(void) {
    static const char *names[] = {"?", "guard-install", "mprotect+canary", "canary"};
    return names[probe_guard_method()];
}

static aioc__stack_pool *pool_for(aioc__loop *loop, uint32_t size) {
    if (loop->last_pool && loop->last_pool->size == size)
        return loop->last_pool;
    for (uint32_t i = 0; i < loop->npools; i++)
        if (loop->pools[i].size == size)
            return loop->last_pool = &loop->pools[i];
    aioc__stack_pool *pools = realloc(loop->pools, (loop->npools + 1) * sizeof *pools);
    if (!pools)
        return NULL;
    loop->pools = pools;
    aioc__stack_pool *p = &pools[loop->npools++];
    *p = (aioc__stack_pool){.size = size, .stride = size + page_size};
    return loop->last_pool = p;
}

static int new_chunk(aioc__stack_pool *p) {
    uint32_t nslots = (uint32_t)(CHUNK_BYTES / p->stride);
    if (nslots < 4)
        nslots = 4;
    size_t len = nslots * p->stride;
    char *base =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return -errno;
    chunk *c = malloc(sizeof *c);
    if (!c) {
        munmap(base, len);
        return -ENOMEM;
    }
    *c = (chunk){.next = p->chunks, .base = base, .len = len, .nslots = nslots};
    p->chunks = c;
    p->carved = p->prepared = 0;
    return 0;
}

/* Guards a freshly carved slot. Returns true if a canary must be used. */
static bool guard_slot(char *slot) {
    int m = atomic_load(&guard_method);
    if (m == GUARD_CANARY)
        return true;
    if (m == GUARD_INSTALL && madvise(slot, page_size, MADV_GUARD_INSTALL) == 0)
        return false;
    if (atomic_fetch_add(&mprotect_used, 1) < AIOC__MPROTECT_BUDGET &&
        mprotect(slot, page_size, PROT_NONE) == 0)
        return false;
    return true;
}

/* madvise over a list of ranges of this process, in one system call
 * (process_madvise). The pidfd is reopened after a fork: an inherited one
 * would name the parent. Returns -1 where the kernel refuses. */
static int self_madvise(struct iovec *iov, size_t n, int advice) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int fd = -1;
    static pid_t fd_pid;
    pid_t pid = getpid();
    pthread_mutex_lock(&lock);
    if (fd_pid != pid) {
        if (fd >= 0)
            close(fd);
        fd = (int)syscall(SYS_pidfd_open, pid, 0);
        fd_pid = pid;
    }
    int pidfd = fd;
    pthread_mutex_unlock(&lock);
    if (pidfd < 0)
        return -1;
    ssize_t done = syscall(SYS_process_madvise, pidfd, iov, n, advice, 0);
    return done == (ssize_t)(n * page_size) ? 0 : -1;
}

#define BATCH 64

/* With MADV_GUARD_INSTALL, fresh slots are prepared BATCH at a time: one
 * process_madvise installs their guard pages and a second commits the top
 * page of each stack, which every task touches at once. Measured here,
 * that is about 1.0 us per stack against 1.6 us for a madvise call and a
 * page fault each. Returns false where the kernel does not allow it; the
 * caller then guards slot by slot. */
static bool prepare_batch(aioc__stack_pool *p) {
    chunk *c = p->chunks;
    uint32_t n = c->nslots - p->prepared < BATCH ? c->nslots - p->prepared : BATCH;
    struct iovec iov[BATCH];
    for (uint32_t i = 0; i < n; i++)
        iov[i] = (struct iovec){c->base + (p->prepared + i) * p->stride, page_size};
    if (self_madvise(iov, n, MADV_GUARD_INSTALL) != 0)
        return false;
    for (uint32_t i = 0; i < n; i++)
        iov[i].iov_base = (char *)iov[i].iov_base + p->stride - page_size;
    self_madvise(iov, n, MADV_POPULATE_WRITE); /* only faster; fine if refused */
    p->prepared += n;
    return true;
}

int aioc__stack_get(aioc__loop *loop, size_t size, aioc__stack *out) {
    size = (size + page_size - 1) & ~(page_size - 1); /* page_size: probed at loop start */
    aioc__stack_pool *p = pool_for(loop, (uint32_t)size);
    if (!p)
        return -ENOMEM;
    if (p->free) {
        char *top = p->free;
        void **link = (void **)(top - sizeof(void *));
        p->free = *link;
        out->lo = top - p->size;
        out->size = p->size;
        out->canary = (uint64_t) * (uint64_t *)(top - 2 * sizeof(void *)) == CANARY;
        return 0;
    }
    if (!p->chunks || p->carved == p->chunks->nslots) {
        int err = new_chunk(p);
        if (err)
            return err;
    }
    if (p->carved == p->prepared && atomic_load(&guard_method) == GUARD_INSTALL)
        prepare_batch(p);
    bool guarded = p->carved < p->prepared;
    char *slot = p->chunks->base + p->carved++ * p->stride;
    out->lo = slot + page_size;
    out->size = p->size;
    out->canary = !guarded && guard_slot(slot);
    if (out->canary)
        *(uint64_t *)out->lo = CANARY;
#ifdef AIOC__HAVE_VALGRIND
    VALGRIND_STACK_REGISTER(out->lo, out->lo + out->size);
#endif
    return 0;
}

bool aioc__stack_canary_ok(const aioc__stack *s) {
    return !s->canary || *(const uint64_t *)s->lo == CANARY;
}

void aioc__stack_put(aioc__loop *loop, const aioc__stack *s) {
    aioc__stack_pool *p = pool_for(loop, s->size);
    if (!p)
        return; /* cannot happen: the pool exists since the stack came from it */
    char *top = s->lo + s->size;
    *(void **)(top - sizeof(void *)) = p->free;
    /* remember the guard kind across reuse, next to the link */
    *(uint64_t *)(top - 2 * sizeof(void *)) = s->canary ? CANARY : 0;
    p->free = top;
}

void aioc__stacks_free(aioc__loop *loop) {
    for (uint32_t i = 0; i < loop->npools; i++) {
        chunk *c = loop->pools[i].chunks;
        while (c) {
            chunk *next = c->next;
            munmap(c->base, c->len);
            free(c);
            c = next;
        }
    }
    free(loop->pools);
    loop->pools = NULL;
    loop->last_pool = NULL;
    loop->npools = 0;
}

/* ------------------------------------------------- overflow reporting -- */

static struct sigaction old_segv, old_bus;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static _Thread_local void *altstack;

static size_t put_str(char *buf, size_t at, size_t cap, const char *s) {
    while (*s && at < cap)
        buf[at++] = *s++;
    return at;
}

static size_t put_num(char *buf, size_t at, size_t cap, size_t v) {
    char digits[24];
    int n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < 24);
    while (n && at < cap)
        buf[at++] = digits[--n];
    return at;
}

/* Writes the overflow report with async-signal-safe calls only, then aborts. */
_Noreturn void aioc__stack_overflow_abort(const aioc__task *t) {
    char buf[256], name[64];
    aioc__task_display_name(t, name, sizeof name);
    size_t n = 0;
    n = put_str(buf, n, sizeof buf, "aioc: task '");
    n = put_str(buf, n, sizeof buf, name);
    n = put_str(buf, n, sizeof buf, "' overflowed its stack of ");
    n = put_num(buf, n, sizeof buf, t->stack.size);
    n = put_str(buf, n, sizeof buf, " bytes (raise aioc_spawn_opts.stack_size)\n");
    ssize_t w = write(2, buf, n);
    (void)w;
    signal(SIGABRT, SIG_DFL);
    abort();
}

static void chain(const struct sigaction *old, int sig, siginfo_t *si, void *uc) {
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
        signal(sig, SIG_DFL); /* the fault repeats and takes the default */
    } else {
        old->sa_handler(sig);
    }
}

static void on_fault(int sig, siginfo_t *si, void *uc) {
    aioc__loop *loop = aioc__loop_tls;
    aioc__task *t = loop ? loop->current : NULL;
    if (t && t->stack.lo) {
        char *addr = si->si_addr;
        if (addr < t->stack.lo && addr >= t->stack.lo - page_size)
            aioc__stack_overflow_abort(t);
    }
    chain(sig == SIGSEGV ? &old_segv : &old_bus, sig, si, uc);
}

static void install_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
}

int aioc__overflow_guard_start(void) {
    probe_guard_method();
    pthread_once(&handler_once, install_handler);
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
        return 0; /* the thread already has one (ASan installs its own) */
    size_t size = 64 * 1024;
    altstack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (altstack == MAP_FAILED) {
        altstack = NULL;
        return -errno;
    }
    stack_t ss = {.ss_sp = altstack, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(altstack, size);
        altstack = NULL;
        return -errno;
    }
    return 0;
}

void aioc__overflow_guard_stop(void) {
    if (!altstack)
        return;
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(altstack, 64 * 1024);
    altstack = NULL;
}
