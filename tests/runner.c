/* The test runner: see test.h. It runs the tests listed in test-list.h,
 * or in the header an adapter names with -DAIOC_TEST_LIST="its-list.h". */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#ifndef AIOC_TEST_LIST
#define AIOC_TEST_LIST "test-list.h"
#endif

#define X(name) void test_##name(void);
#include AIOC_TEST_LIST
#undef X

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
#define X(name) {#name, test_##name},
#include AIOC_TEST_LIST
#undef X
};

#define NTESTS (sizeof tests / sizeof tests[0])

static int run_forked(size_t i) {
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
