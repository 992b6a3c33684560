/* Telling AddressSanitizer about stack switches. Without these calls ASan
 * mistakes a switch for a huge stack frame and reports false errors. Each
 * switch is bracketed: start_switch before leaving a stack (NULL fake-stack
 * slot when leaving it for good), finish_switch after arriving on one. */
#ifndef AIOC_SANITIZER_H
#define AIOC_SANITIZER_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define AIOC__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AIOC__ASAN 1
#endif
#endif

#ifdef AIOC__ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define aioc__asan_start_switch(save, lo, size) __sanitizer_start_switch_fiber((save), (lo), (size))
#define aioc__asan_finish_switch(save, lo_old, size_old)                                           \
    __sanitizer_finish_switch_fiber((save), (lo_old), (size_old))
#define aioc__asan_unpoison(addr, size) __asan_unpoison_memory_region((addr), (size))
#else
/* Without ASan the arguments are not evaluated (they may name fields
 * that exist only in ASan builds). */
#define aioc__asan_start_switch(save, lo, size) ((void)0)
#define aioc__asan_finish_switch(save, lo_old, size_old) ((void)0)
#define aioc__asan_unpoison(addr, size) ((void)0)
#endif

#endif
