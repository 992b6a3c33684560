/* The test harness, one for every suite (the core's, each adapter's, the
 * adapters together).
 *
 * A suite is a list, NAME-list.h, with a line per test, X(name) or
 * X(name, tags...), or #include "OTHER-list.h" for all of another list's
 * (tests/file-list.h, shared by the core and aioc_uring), and test files
 * that define each listed test:
 *
 *   TEST(name) { ... }               a plain function
 *   TASK_TEST(name) { ...; return NULL; }
 *                                    the main task of a loop: the test
 *                                    fails unless aioc_run returns 0
 *   TASK_TEST_VIRTUAL(name) { ... }  the same under virtual time
 *
 * tests/runner.c, compiled into each suite's program, runs them:
 * `PROGRAM NAME` runs one test in this process, which is what ctest does
 * (one entry per test, with a timeout, so a crash or a hang fails only
 * that test); `PROGRAM` alone runs every test in a forked child and prints
 * a summary. CMake's aioc_test_suite() (cmake/aioc_test_suite.cmake) reads
 * the same list and its tags: stress, no_valgrind, needs("PROGRAM").
 *
 * A failed check prints where and why and exits with status 1. A suite
 * whose task tests need something around their loop (certificates, a
 * server) defines AIOC_TEST_RUN(fn, virtual_time) before including this
 * file; the default is aioc_test_run() below. */
#ifndef AIOC_TEST_H
#define AIOC_TEST_H

#include <aioc.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The declaration first: test functions are called by name through the
 * runner's list, never from the file that defines them. */
#define TEST(name)                                                                                 \
    void test_##name(void);                                                                        \
    void test_##name(void)

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

/* Runs `fn` as main, in real or virtual time, and checks that it returned 0. */
static inline void aioc_test_run(aioc_fn fn, int virtual_time) {
    if (virtual_time) {
        run_virtual(fn, NULL);
    } else {
        CHECK_ERR(aioc_run(fn, NULL, NULL), 0);
    }
}

#ifndef AIOC_TEST_RUN
#define AIOC_TEST_RUN aioc_test_run
#endif

#define TASK_TEST(name) TASK_TEST_AS_(name, 0)
#define TASK_TEST_VIRTUAL(name) TASK_TEST_AS_(name, 1)
#define TASK_TEST_AS_(name, virtual_time)                                                          \
    static void *task_##name(void);                                                                \
    static void *main_##name(void *arg) {                                                          \
        (void)arg;                                                                                 \
        return task_##name();                                                                      \
    }                                                                                              \
    void test_##name(void);                                                                        \
    void test_##name(void) { AIOC_TEST_RUN(main_##name, virtual_time); }                           \
    static void *task_##name(void)

#endif
