/* A small test harness. Each test is a function in some tests/test_*.c,
 * listed in test-list.h. `aioc_tests NAME` runs one test in this process
 * (ctest does that, one entry per test, with a timeout, so a crash or a
 * hang fails only that test); `aioc_tests` alone runs every test in a
 * forked child of its own and prints a summary. A failed check prints
 * where and why and exits with status 1. */
#ifndef AIOC_TEST_H
#define AIOC_TEST_H

#include <aioc.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST(name) void test_##name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ != vb_) {                                                                          \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    va_, vb_);                                                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* What names a code in CHECK_ERR's message: an adapter's tests may name
 * its own codes too (define it before including this file). */
#ifndef AIOC_TEST_ERR_NAME
#define AIOC_TEST_ERR_NAME aioc_err_name
#endif

/* Checks an aioc status, naming both codes on failure. */
#define CHECK_ERR(a, b)                                                                            \
    do {                                                                                           \
        int ea_ = (int)(a), eb_ = (int)(b);                                                        \
        if (ea_ != eb_) {                                                                          \
            fprintf(stderr, "%s:%d: %s == %s failed: %s != %s\n", __FILE__, __LINE__, #a, #b,      \
                    AIOC_TEST_ERR_NAME(ea_), AIOC_TEST_ERR_NAME(eb_));                             \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define P(x) ((void *)(intptr_t)(x))
#define I(p) ((int)(intptr_t)(p))

/* Runs `fn` as main under virtual time and checks that it returned 0. */
static inline void run_virtual(aioc_fn fn, void *arg) {
    aioc_run_opts opts = {.virtual_time = 1};
    int status = aioc_run_with(fn, arg, NULL, &opts);
    if (status) {
        fprintf(stderr, "main failed: %s\n", aioc_err_name(status));
        exit(1);
    }
}

#endif
