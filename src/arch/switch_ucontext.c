/* Portable context switch on <ucontext.h>, chosen with AIOC_SWITCH=ucontext.
 * Slower than the assembly versions (swapcontext saves and restores the
 * signal mask with a system call) but works on any glibc architecture. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>

#include "switch.h"

const char aioc__switch_name[] = "ucontext";

void aioc__ctx_make(aioc__ctx *ctx, void *lo, size_t size, void (*entry)(void)) {
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, entry, 0);
}

void aioc__ctx_switch(aioc__ctx *from, aioc__ctx *to) {
    /* swapcontext installs the signal mask saved with `to`; but tasks share
     * the thread's mask (aioc_signal_wait blocks signals for the thread),
     * so carry the current mask over. One more system call per switch, in
     * the fallback that already makes one. */
    pthread_sigmask(SIG_SETMASK, NULL, &to->uc.uc_sigmask);
    swapcontext(&from->uc, &to->uc);
}
