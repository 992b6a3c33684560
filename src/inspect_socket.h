/* The inspection socket (src/inspect_socket.c): what the loop asks of it. */
#ifndef AIOC_INSPECT_SOCKET_H
#define AIOC_INSPECT_SOCKET_H

#include "scheduler.h"

/* After main is spawned: if `opts` or AIOC_INSPECT ask for it and no other
 * loop of the process serves one, starts the inspector task. A socket that
 * cannot be made is reported on stderr; the program runs on without. */
void aioc__inspect_socket_start(aioc__loop *loop, const aioc_run_opts *opts);

#endif
