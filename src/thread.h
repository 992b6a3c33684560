/* The thread pools (src/thread.c). */
#ifndef AIOC_THREAD_H
#define AIOC_THREAD_H

#include <stdint.h>

#include "aioc.h"

/* A loop starts (applies opts->threads) and ends; when the last running
 * loop ends, the pools' idle threads end and are joined. */
void aioc__pools_enter(const aioc_run_opts *opts);
void aioc__pools_leave(void);
/* aioc_to_thread_with on the resolver pool, which only name lookups use
 * (src/net.c). */
/* The aioc_to_thread pool's figures for aioc_loop_stats: threads, jobs
 * queued, jobs started so far and the time they waited in the queue. */
void aioc__pool_stats(unsigned *threads, unsigned *queued, uint64_t *jobs, uint64_t *wait_ns);
int aioc__resolve_on_pool(aioc_fn fn, void *arg, void **result, aioc_cleanup cleanup);

#endif
