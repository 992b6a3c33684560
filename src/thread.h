/* The thread pools (src/thread.c). */
#ifndef AIOC_THREAD_H
#define AIOC_THREAD_H

#include "aioc.h"

/* Applies aioc_run_opts' pool settings. */
void aioc__pool_configure(const aioc_run_opts *opts);
/* aioc_to_thread_with on the resolver pool, which only name lookups use
 * (src/net.c). */
int aioc__resolve_on_pool(aioc_fn fn, void *arg, void **result, aioc_cleanup cleanup);

#endif
