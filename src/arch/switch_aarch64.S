/* AArch64 (AAPCS64) context switch.
 *
 * aioc__ctx_swap(void **save_sp, void *load_sp) saves the registers AAPCS64
 * makes callee-saved on the current stack, stores the stack pointer in
 * *save_sp, loads load_sp, restores the other side's registers and resumes
 * it at its saved lr. Saved, as one 160-byte frame (a multiple of 16, so sp
 * stays 16-byte aligned as AArch64 requires whenever sp is used):
 *
 *     [sp +   0]  x19 x20      [sp +  96]  d8  d9
 *     [sp +  16]  x21 x22      [sp + 112]  d10 d11
 *     [sp +  32]  x23 x24      [sp + 128]  d12 d13
 *     [sp +  48]  x25 x26      [sp + 144]  d14 d15
 *     [sp +  64]  x27 x28
 *     [sp +  80]  x29 (fp) x30 (lr = where to resume)
 *
 * switch_asm.c builds a new context's first frame to this layout: word 0
 * (x19) holds the entry function, word 11 (x30) aioc__ctx_entry.
 *
 * AAPCS64 makes only the low 64 bits of v8-v15 callee-saved, hence d8-d15
 * and not q8-q15. Not saved: FPCR/FPSR (tasks share the thread's
 * floating-point environment, as with MXCSR on x86-64), x18 (the platform
 * register: Linux gives it no meaning for user code, and code that reserves
 * it, such as a shadow call stack, is not supported), and SVE/SME state
 * beyond d8-d15, which the ABI makes caller-saved anyway.
 *
 * Resuming: with `br x30` by default, `ret` when built with BTI.
 *  - `ret` is a hint to pop the return-address stack predictor, which
 *    predicts the return to the site that called *this* switch. The switch
 *    returns to the other context's call site instead, so a `ret` would
 *    mispredict on every switch. `br` goes through the indirect-branch
 *    predictor, which learns the scheduler <-> task ping-pong; this is the
 *    same reasoning, and the same shape, as the x86-64 `pop; jmp`.
 *  - With BTI (-mbranch-protection=bti or =standard; the compiler defines
 *    __ARM_FEATURE_BTI_DEFAULT), `br` may only land on a `bti j`/`bti jc`
 *    instruction, and the instruction after a `bl` is not one: `br x30`
 *    would fault on every switch. `ret` needs no landing pad, so a BTI
 *    build uses it, pays the misprediction, and gets this object marked
 *    BTI-compatible (without the note the linker would silently turn BTI
 *    off for the whole program).
 * Pointer authentication (pac-ret) needs nothing here to work: C callers
 * sign and check their own lr against their own sp, which a switch gives
 * back intact. The lr saved in a switch frame is stored unsigned, like the
 * other registers there (signing it would also mean signing the first
 * frame that switch_asm.c builds).
 *
 * aioc__ctx_entry is the first frame of every task. Its CFI marks the
 * return address (x30) undefined, so a debugger's backtrace ends there. */

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define AIOC_BTI 1
#define BTI_C bti c
#define RESUME ret x30
#else
#define BTI_C
#define RESUME br x30
#endif

    .text

    .globl  aioc__ctx_swap
    .hidden aioc__ctx_swap
    .type   aioc__ctx_swap, %function
    .p2align 4
aioc__ctx_swap:
    .cfi_startproc
    BTI_C
    stp     x19, x20, [sp, #-160]!
    .cfi_def_cfa_offset 160
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    /* Saying where x29/x30 went lets a debugger stopped inside the switch
     * unwind whichever context the stack pointer belongs to at that moment. */
    .cfi_offset x29, -80
    .cfi_offset x30, -72
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    /* fp and lr last, with the pop: the CFI above stays true until here */
    ldp     x29, x30, [sp, #80]
    add     sp, sp, #160
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    RESUME
    .cfi_endproc
    .size   aioc__ctx_swap, .-aioc__ctx_swap

/* Entered by the first switch to a new context, with x19 holding the entry
 * function and sp 16-byte aligned (switch_asm.c leaves 16 bytes above it).
 * x29 = 0 ends the frame-record chain for frame-pointer unwinders (perf,
 * the C code's own frame records): the entry function stores it as its
 * caller's fp. lr needs no clearing: blr overwrites it, and the CFI, not
 * its value, is what tells DWARF unwinders that this frame has no caller.
 * No BTI landing pad: it is only ever reached by the switch's `ret` (BTI
 * builds) or `br` (no BTI), and a `ret` needs none. */
    .globl  aioc__ctx_entry
    .hidden aioc__ctx_entry
    .type   aioc__ctx_entry, %function
    .p2align 4
aioc__ctx_entry:
    .cfi_startproc
    .cfi_undefined x30
    mov     x29, #0
    blr     x19
    brk     #0              /* entry must not return */
    .cfi_endproc
    .size   aioc__ctx_entry, .-aioc__ctx_entry

    .section .note.GNU-stack,"",%progbits

#ifdef AIOC_BTI
/* GNU property note: this object is BTI-compatible (bit 0), and PAC-
 * compatible (bit 1) when pac-ret is on too. The linker marks the program
 * BTI only if every object says so. */
#if defined(__ARM_FEATURE_PAC_DEFAULT) && __ARM_FEATURE_PAC_DEFAULT
#define AIOC_FEATURE_1 3
#else
#define AIOC_FEATURE_1 1
#endif
    .section .note.gnu.property,"a"
    .p2align 3
    .word   4                   /* name size: "GNU\0" */
    .word   16                  /* descriptor size */
    .word   5                   /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .word   0xc0000000          /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .word   4                   /* property data size */
    .word   AIOC_FEATURE_1
    .word   0                   /* pad to 8 bytes */
#endif
