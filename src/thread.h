/* The thread pools (src/thread.c). */
#ifndef AIOC_THREAD_H
#define AIOC_THREAD_H

#include "aioc.h"

/* A loop starts (applies opts->threads) and ends; when the last running
 * loop ends, the pools' idle threads end and are joined. */
void aioc__pools_enter(const aioc_run_opts *opts);
void aioc__pools_leave(void);
/* aioc_to_thread_with on the resolver pool, which only name lookups use
 * (src/net.c). */
int aioc__resolve_on_pool(aioc_fn fn, void *arg, void **result, aioc_cleanup cleanup);

#endif
