/* Context switch between the loop's scheduler and tasks.
 *
 * One implementation per ABI, picked at configure time: switch_x86_64.S,
 * switch_aarch64.S, or switch_ucontext.c (portable, slower: swapcontext
 * makes a sigprocmask system call on every switch). Sanitizer and Valgrind
 * annotations are the caller's business: task.c brackets each switch with
 * ASan's fiber calls (sanitizer.h), stack.c registers stacks with
 * Valgrind. */
#ifndef AIOC_SWITCH_H
#define AIOC_SWITCH_H

#include <stddef.h>

#if defined(AIOC_SWITCH_UCONTEXT)
#include <ucontext.h>
typedef struct aioc__ctx {
    ucontext_t uc;
} aioc__ctx;
#else
/* The assembly versions push the callee-saved registers on the stack being
 * left, so a context is only its saved stack pointer. */
typedef struct aioc__ctx {
    void *sp;
} aioc__ctx;
#endif

/* Prepares `ctx` so that switching to it calls `entry()` on the stack
 * [lo, lo + size). `entry` must never return: it switches away for good. */
void aioc__ctx_make(aioc__ctx *ctx, void *lo, size_t size, void (*entry)(void));

/* Saves the running context into `from` and resumes `to`. Inline for the
 * assembly switches: one call level less to return through afterwards. */
#if defined(AIOC_SWITCH_UCONTEXT)
void aioc__ctx_switch(aioc__ctx *from, aioc__ctx *to);
#else
void aioc__ctx_swap(void **save_sp, void *load_sp);
static inline void aioc__ctx_switch(aioc__ctx *from, aioc__ctx *to) {
    aioc__ctx_swap(&from->sp, to->sp);
}
#endif

/* "x86_64-asm", "aarch64-asm" or "ucontext". */
extern const char aioc__switch_name[];

#endif
