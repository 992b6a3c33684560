/* The test runner, one for every suite (see test.h for the harness). It
 * runs the tests listed in the header named by AIOC_TEST_LIST (CMake's
 * aioc_test_suite() sets it: tests/test-list.h for the core, an adapter's
 * own list for its suite):
 *
 *   PROGRAM NAME     runs one test in this process (what ctest does)
 *   PROGRAM --list   prints every test's name
 *   PROGRAM          runs every test, each in a forked child of its own
 *                    with a 120 s alarm, and prints a summary
 *
 * A list line is X(name) or X(name, tags...); the tags are CMake's. */
#define _POSIX_C_SOURCE 200809L /* fork, alarm */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#ifndef AIOC_TEST_LIST
#define AIOC_TEST_LIST "test-list.h"
#endif

/* X(name) and X(name, tags...) alike: the name is the first argument. */
#define DECLARE_TEST(name, ...) void test_##name(void);
#define X(...) DECLARE_TEST(__VA_ARGS__, )
#include AIOC_TEST_LIST
#undef X

#define TEST_ENTRY(name, ...) {#name, test_##name},
static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
#define X(...) TEST_ENTRY(__VA_ARGS__, )
#include AIOC_TEST_LIST
#undef X
};

#define NTESTS (sizeof tests / sizeof tests[0])

static int run_forked(size_t i) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(120);
        tests[i].fn();
        _exit(0);
    }
    int ws;
    waitpid(pid, &ws, 0);
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
        return 1;
    if (WIFSIGNALED(ws))
        fprintf(stderr, "%s: killed by signal %d\n", tests[i].name, WTERMSIG(ws));
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < NTESTS; i++)
            puts(tests[i].name);
        return 0;
    }
    if (argc == 2) {
        for (size_t i = 0; i < NTESTS; i++) {
            if (strcmp(argv[1], tests[i].name) == 0) {
                tests[i].fn();
                return 0;
            }
        }
        fprintf(stderr, "no test named %s\n", argv[1]);
        return 2;
    }
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < NTESTS; i++) {
        if (run_forked(i)) {
            passed++;
        } else {
            failed++;
            printf("FAIL %s\n", tests[i].name);
        }
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}
