/* Stacks: overflow reports, guard fallbacks, a million tasks at once. */
#include <alloca.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scheduler.h"
#include "test.h"

/* Runs fn in a forked child with stderr captured; returns the wait status
 * and the child's stderr in buf. */
static int in_child(void (*fn)(void), const char *guard_env, char *buf, size_t cap) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        if (guard_env)
            setenv("AIOC_STACK_GUARD", guard_env, 1);
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fds[0], buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(fds[0]);
    int ws;
    CHECK(waitpid(pid, &ws, 0) == pid);
    return ws;
}

static int recurse(int depth) {
    volatile char pad[512];
    pad[0] = (char)depth;
    return depth > 1000000000 ? 0 : recurse(depth + 1) + pad[0];
}

static void *overflows(void *arg) {
    (void)arg;
    return P(recurse(0));
}

static void *spawn_overflow(void *arg) {
    (void)arg;
    aioc_spawn_opts o = {.name = "deep-recursion", .stack_size = 64 * 1024};
    aioc_await(aioc_spawn_with(overflows, NULL, &o), NULL);
    return NULL;
}

static void overflow_child(void) { aioc_run(spawn_overflow, NULL, NULL); }

static void check_overflow_report(const char *guard) {
    char buf[4096];
    int ws = in_child(overflow_child, guard, buf, sizeof buf);
    if (!WIFSIGNALED(ws) || WTERMSIG(ws) != SIGABRT || !strstr(buf, "deep-recursion") ||
        !strstr(buf, "65536")) {
        fprintf(stderr, "guard %s: status %#x, stderr:\n%s\n", guard ? guard : "default", ws, buf);
        CHECK(!"overflow was not reported");
    }
}

TEST(stack_overflow_is_reported_default_guard) { check_overflow_report(NULL); }
TEST(stack_overflow_is_reported_mprotect_guard) { check_overflow_report("mprotect"); }

/* With a canary instead of a guard page, the overflow is caught when the
 * task next switches out. Only the unprotected page below the stack is
 * written, so nothing else is harmed before the check. */
static void *tramples_canary(void *arg) {
    (void)arg;
    char marker;
    char *lo = aioc__loop_get()->current->stack.lo;
    size_t used = (size_t)(&marker - lo) + 256; /* just past the bottom */
    volatile char *p = alloca(used);
    for (size_t i = 0; i < used; i++) /* volatile: not optimised away */
        p[i] = 0x5a;                  /* down over the canary at lo */
    aioc_yield();
    return NULL;
}

static void *spawn_trampler(void *arg) {
    (void)arg;
    aioc_spawn_opts o = {.name = "canary-victim", .stack_size = 64 * 1024};
    aioc_await(aioc_spawn_with(tramples_canary, NULL, &o), NULL);
    return NULL;
}

static void canary_child(void) { aioc_run(spawn_trampler, NULL, NULL); }

TEST(stack_overflow_is_reported_canary) {
    char buf[4096];
    int ws = in_child(canary_child, "canary", buf, sizeof buf);
    if (!WIFSIGNALED(ws) || WTERMSIG(ws) != SIGABRT || !strstr(buf, "canary-victim")) {
        fprintf(stderr, "status %#x, stderr:\n%s\n", ws, buf);
        CHECK(!"canary overflow was not reported");
    }
}

static size_t map_count(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f);
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static size_t max_maps;

static void *sleep_one(void *arg) {
    (void)arg;
    aioc_sleep(1);
    return P(1);
}

static void *count_maps(void *arg) {
    (void)arg;
    aioc_sleep(0.5); /* every task has started and sleeps now */
    max_maps = map_count();
    return NULL;
}

static void *many_alive(void *arg) {
    size_t n = (size_t)(uintptr_t)arg;
    aioc_task *t = calloc(n + 1, sizeof *t);
    CHECK(t);
    for (size_t i = 0; i < n; i++)
        t[i] = aioc_spawn(sleep_one, NULL);
    t[n] = aioc_spawn(count_maps, NULL);
    CHECK_ERR(aioc_gather_all(t, n + 1, NULL, NULL), 0);
    free(t);
    return NULL;
}

TEST(million_tasks_alive_at_once) {
    /* 64 KiB stacks keep the virtual reservation modest (64 GiB); the map
     * count does not depend on the size. */
    aioc_run_opts o = {.virtual_time = 1, .stack_size = 64 * 1024};
#ifdef __SANITIZE_ADDRESS__
    /* ASan's bookkeeping per stack, not aioc, is the cost here: 100,000
     * tasks still need three times the guard pages the map limit allows */
    size_t n = 100000;
#else
    size_t n = 1000000;
#endif
    CHECK_ERR(aioc_run_with(many_alive, (void *)(uintptr_t)n, NULL, &o), 0);
    fprintf(stderr, "guard method %s: %zu mappings with %zu tasks alive\n",
            aioc__stack_guard_method(), max_maps, n);
    CHECK(max_maps < 65530);
}

static void fallback_child(void) {
    /* 20,000 tasks: past the mprotect budget, so the last ones get canaries */
    aioc_run_opts o = {.virtual_time = 1, .stack_size = 64 * 1024};
    int err = aioc_run_with(many_alive, (void *)(uintptr_t)20000, NULL, &o);
    fprintf(stderr, "status %d maps %zu\n", err, max_maps);
    _exit(err == 0 && max_maps < 65530 ? 0 : 1);
}

TEST(mprotect_guard_fallback_past_its_budget) {
    char buf[4096];
    int ws = in_child(fallback_child, "mprotect", buf, sizeof buf);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "%s\n", buf);
        CHECK(!"fallback failed");
    }
}
