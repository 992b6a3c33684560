/* An nginx the test starts itself: on 127.0.0.1 and a free port, with its
 * configuration, pid file, logs and files in a fresh temporary directory,
 * in the foreground as a single process (daemon off, no master), so the
 * pid we fork is the server and stopping it is one kill of that pid. */
#ifndef AIOC_CURL_TEST_NGINX_H
#define AIOC_CURL_TEST_NGINX_H

#include "child_process.h" /* free_port */

#include <stddef.h>
#include <sys/types.h>

typedef struct nginx {
    pid_t pid;
    int port;
    char dir[64];
} nginx;

#define LARGE_SIZE ((size_t)16 << 20)
#define MEDIUM_SIZE ((size_t)256 << 10)
#define SMALL_BODY "hello from nginx\n"

/* The byte at `offset` of the generated large and medium files. */
static inline unsigned char pattern_byte(size_t offset) {
    return (unsigned char)((offset * 31u) ^ (offset >> 11));
}

/* Starts nginx serving small.txt, medium.bin, large.bin, /redirect (301 to
 * /small.txt) and a 404 for anything else. Returns 0, or -1 (with a
 * message) if nginx is missing or did not come up in 10 s. */
int nginx_start(nginx *n);

/* nginx_start, serving HTTPS instead with certificate `cert` and its key
 * `key` (PEM files, read when nginx starts). */
int nginx_start_tls(nginx *n, const char *cert, const char *key);

/* Stops the server by its pid (SIGTERM, then SIGKILL after 5 s), reaps it
 * and removes the directory. */
void nginx_stop(nginx *n);

#endif
