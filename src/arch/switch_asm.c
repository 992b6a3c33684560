/* The C half of the assembly context switches: building a new context's
 * first frame. The frame is what aioc__ctx_swap pops: the callee-saved
 * registers (zero, except the entry function in the slot the entry
 * trampoline reads) and then the trampoline's address. */
#include <stdint.h>

#include "switch.h"

void aioc__ctx_entry(void);

#if defined(__x86_64__)
const char aioc__switch_name[] = "x86_64-asm";
/* Popped in order r15, r14, r13, r12, rbx, rbp, then the resume address. */
enum { FRAME_WORDS = 7, ENTRY_SLOT = 2, RESUME_SLOT = 6 };
#elif defined(__aarch64__)
const char aioc__switch_name[] = "aarch64-asm";
/* Loaded from ascending addresses as x19..x28, x29 (fp), x30 (lr = resume
 * address), d8..d15: 20 words, a multiple of 16 bytes as sp must stay. The
 * entry function goes in x19, which aioc__ctx_entry calls; fp (word 10)
 * stays 0 so frame-pointer walks end at the task's first frame. */
enum { FRAME_WORDS = 20, ENTRY_SLOT = 0, RESUME_SLOT = 11 };
#else
#error "no assembly context switch for this architecture; configure with AIOC_SWITCH=ucontext"
#endif

void aioc__ctx_make(aioc__ctx *ctx, void *lo, size_t size, void (*entry)(void)) {
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    /* Once the frame is popped, the stack pointer must be 16-byte aligned
     * at the trampoline: top - 16 on both ABIs (7 words + 16 bytes on
     * x86-64 leaves top - 16; 20 words on aarch64 likewise). */
    uintptr_t *frame = (uintptr_t *)(top - FRAME_WORDS * sizeof(uintptr_t) - 16);
    for (int i = 0; i < FRAME_WORDS; i++)
        frame[i] = 0;
    frame[ENTRY_SLOT] = (uintptr_t)entry;
    frame[RESUME_SLOT] = (uintptr_t)aioc__ctx_entry;
    ctx->sp = frame;
}
