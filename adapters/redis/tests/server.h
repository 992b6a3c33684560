/* The Redis server the tests talk to. By default each test starts its own
 * throwaway redis-server (Debian's redis-server package): on 127.0.0.1 and
 * a free port, and on a Unix socket, with no persistence (--save ''), its
 * files in a fresh temporary directory, killed by its pid when the test
 * ends, and by the kernel if the test dies (PR_SET_PDEATHSIG).
 *
 * With AIOC_REDIS_TEST_ADDR=host:port in the environment the tests use
 * that server instead (another Redis, or any server that speaks RESP):
 * they keep to keys of their own ("aioc-test:NAME:...") and delete them,
 * and the few tests that must stop, restart or reconfigure the server
 * skip themselves. */
#ifndef AIOC_REDIS_TEST_SERVER_H
#define AIOC_REDIS_TEST_SERVER_H

#include "child_process.h" /* free_port */

#include <sys/types.h>

typedef struct redis_server {
    pid_t pid;
    int port;
    int external; /* AIOC_REDIS_TEST_ADDR: not ours to stop */
    char dir[64];
    char addr[128]; /* "127.0.0.1:PORT" (or the environment's) */
    char unix_path[96];
} redis_server;

/* Starts the server (or takes AIOC_REDIS_TEST_ADDR). Returns 0, or -1 with
 * a message if redis-server is missing or did not come up in 10 s. */
int redis_server_start(redis_server *s);

/* Starts it again on the same port and socket after redis_server_kill.
 * Returns 0 or -1. Blocks until it listens. */
int redis_server_restart(redis_server *s);

/* Kills it with SIGKILL (as a crash) and reaps it; its directory stays. */
void redis_server_kill(redis_server *s);

/* Stops it (SIGTERM, then SIGKILL after 5 s), reaps it and removes its
 * directory. Safe to call twice; does nothing for an external server. */
void redis_server_stop(redis_server *s);

#endif
