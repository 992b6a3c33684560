/* The outside servers the adapter tests start themselves (redis-server,
 * nginx) are child processes of the test: forked here so that they die
 * with it, waited for until they serve, stopped by their pid, their
 * scratch directory removed. Blocking calls, for before the loop starts,
 * after it ends, or where a test wants the loop to stand still. */
#ifndef AIOC_TEST_CHILD_PROCESS_H
#define AIOC_TEST_CHILD_PROCESS_H

#include <sys/types.h>

/* A loopback port nobody listens on (bound, then closed), or -1. */
int free_port(void);

/* Sleeps `ms` milliseconds (nanosleep). */
void sleep_ms(int ms);

/* fork(), with the child killed by the kernel when the test dies
 * (PR_SET_PDEATHSIG, even before it is set up). Returns 0 in the child,
 * the child's pid in the test, or -1 if fork failed. */
pid_t child_fork(void);

/* Waits up to 10 s until `ready(port)` is true. Returns 0 once it is, -1
 * if the child died meanwhile (reaped), or 1 if it still runs unready. */
int child_wait_ready(pid_t pid, int (*ready)(int port), int port);

/* Kills `*pid` with SIGKILL, reaps it and sets *pid to 0. */
void child_kill(pid_t *pid);

/* Stops `*pid` (SIGTERM, then SIGKILL after 5 s), reaps it and sets *pid
 * to 0. Nothing if *pid is 0. */
void child_stop(pid_t *pid);

/* Removes the directory `dir` and all below it (not following links). */
void remove_tree(const char *dir);

#endif
