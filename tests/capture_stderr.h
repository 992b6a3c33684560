/* stderr in a pipe, for tests that read what the library reports there
 * (the watchdog, debug mode's checks). One capture at a time:
 *   capture_start();  ...run...  captured_has("...") while it runs;
 *   capture_stop();   then `captured` holds all of it, also shown on the
 *                     real stderr (for a failing check). */
#ifndef AIOC_TEST_CAPTURE_STDERR_H
#define AIOC_TEST_CAPTURE_STDERR_H

#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

#include "test.h"

static int saved_stderr = -1, capture_fd = -1;
static char captured[65536];
static size_t captured_len;

static void capture_start(void) {
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
    saved_stderr = dup(STDERR_FILENO);
    CHECK(saved_stderr >= 0);
    CHECK(dup2(p[1], STDERR_FILENO) == STDERR_FILENO);
    close(p[1]);
    capture_fd = p[0];
    captured_len = 0;
    captured[0] = '\0';
}

/* Reads what has been written so far; true if it holds `needle`. */
static bool captured_has(const char *needle) {
    ssize_t n;
    while (captured_len + 1 < sizeof captured &&
           (n = read(capture_fd, captured + captured_len, sizeof captured - 1 - captured_len)) > 0)
        captured_len += (size_t)n;
    captured[captured_len] = '\0';
    return strstr(captured, needle) != NULL;
}

/* Puts stderr back and shows what was captured. */
static void capture_stop(void) {
    captured_has("");
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    close(capture_fd);
    fprintf(stderr, "--- captured stderr ---\n%s-----------------------\n", captured);
}

#endif
