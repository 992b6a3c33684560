/* Task stacks: pools, guard pages or canaries, the overflow report
 * (src/stack.c). */
#ifndef AIOC_STACK_H
#define AIOC_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AIOC__DEFAULT_STACK (256u * 1024u)
#define AIOC__MIN_STACK (16u * 1024u)
#define AIOC__MAX_STACK (1024u * 1024u * 1024u)

typedef struct aioc__loop aioc__loop;
typedef struct aioc__task aioc__task;

typedef struct aioc__stack_pool aioc__stack_pool;

/* A stack: usable memory [lo, lo + size). */
typedef struct aioc__stack {
    char *lo;
    uint32_t size;
    uint8_t canary; /* no guard page: a canary word at lo is checked */
} aioc__stack;

int aioc__stack_get(aioc__loop *loop, size_t size, aioc__stack *out);
void aioc__stack_put(aioc__loop *loop, const aioc__stack *s);
void aioc__stacks_free(aioc__loop *loop);
bool aioc__stack_canary_ok(const aioc__stack *s);
int aioc__overflow_guard_start(void); /* per thread: alternate signal stack */
void aioc__overflow_guard_stop(void);
const char *aioc__stack_guard_method(void);
_Noreturn void aioc__stack_overflow_abort(const aioc__task *t);

#endif
