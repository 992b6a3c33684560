/* The thread-facing part of a loop, struct aioc_loop: calls from other
 * threads and the loop's sleep (src/remote.c). */
#ifndef AIOC_REMOTE_H
#define AIOC_REMOTE_H

#include "scheduler.h"

aioc_loop *aioc__remote_open(aioc__loop *loop);
bool aioc__remote_pending(aioc_loop *h);
bool aioc__remote_referenced(aioc_loop *h);
aioc_loop *aioc__remote_hold_quiet(aioc_loop *h);
bool aioc__remote_prepare_sleep(aioc_loop *h);
void aioc__remote_awake(aioc_loop *h);
size_t aioc__remote_run(aioc_loop *h);
void aioc__remote_close(aioc_loop *h);

#endif
