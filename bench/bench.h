/* Helpers shared by the C benchmark programs (aioc and libuv).
 *
 * Every program prints exactly one machine-readable line on stdout:
 *   RESULT name=<bench> impl=<impl> key=value ...
 * which bench/run.sh collects and tabulates. Anything else goes to stderr.
 * Include this header first: the build is strict C11, and clock_gettime
 * and friends need _GNU_SOURCE before any system header. */
#ifndef BENCH_H
#define BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC, the clock aioc, libuv, Go and asyncio all time with. */
static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Peak resident set size of the process so far, KiB. */
static inline long bench_peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Current resident set size, KiB (second field of /proc/self/statm). */
static inline long bench_rss_kb(void) {
    long pages = 0, size;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &pages) != 2)
            pages = 0;
        fclose(f);
    }
    return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Marsaglia's xorshift64 (13, 7, 17). Every language uses this generator
 * with seed 42, so all implementations sleep the same delays. */
static inline uint64_t bench_xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* The i-th delay in ms (0..1000) of the shared sequence, filled for n. */
static inline uint32_t *bench_delays_ms(size_t n) {
    uint32_t *d = malloc(n * sizeof *d);
    uint64_t s = 42;
    for (size_t i = 0; d && i < n; i++)
        d[i] = (uint32_t)(bench_xorshift(&s) % 1001);
    return d;
}

/* Optional first argument: the operation count (default `def`). */
static inline long bench_count(int argc, char **argv, long def) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : def;
    return n > 0 ? n : def;
}

static inline void bench_fail(const char *what) {
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

#endif
