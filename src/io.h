/* File-descriptor operations that suspend: what other modules need of
 * src/io.c's per-descriptor state (the backend's side is backend/backend.h). */
#ifndef AIOC_IO_H
#define AIOC_IO_H

#include <stdbool.h>
#include <stddef.h>

typedef struct aioc__loop aioc__loop;

/* Frees the loop's per-descriptor table. */
void aioc__fds_free(aioc__loop *loop);
/* Whether a read on `fd` would wait for an event (a short read emptied it;
 * see io.c): aioc_wait_readable_after_eagain is then the wait. */
bool aioc__fd_drained(int fd);
/* One send(2) (MSG_NOSIGNAL added), waiting while the socket has no room:
 * the count sent, which may be short, or a negative error. */
long aioc__send_some(int fd, const void *buf, size_t n, int flags);
/* How many descriptors are registered with the backend (aioc_loop_stats):
 * a walk of the table, not for hot paths. */
size_t aioc__fds_watched(const aioc__loop *loop);

#endif
