/* Streams over descriptors (src/fd_stream.c): what subprocess pipes need
 * beyond aioc_stream_new. */
#ifndef AIOC_FD_STREAM_H
#define AIOC_FD_STREAM_H

#include <stdbool.h>

#include "aioc.h"

/* A stream over `fd`, which it owns from now on, as aioc_stream_new; a
 * `pipe` ends writing by closing `fd` (pipes have no shutdown) and names
 * no socket. NULL with errno ENOMEM (`fd` is then untouched). */
aioc_stream *aioc__fd_stream_new(int fd, bool pipe, const aioc_stream_opts *opts);

/* The descriptor under a descriptor stream: -1 once write_eof closed it (a
 * pipe) or it was released, or if `s` is no descriptor stream. */
int aioc__fd_stream_fd(const aioc_stream *s);

/* The transport's write_eof, past the stream (which neither flushes nor
 * marks writing ended): a pipe is closed, once; 0 or an error. */
int aioc__fd_stream_end_writing(aioc_stream *s);

#endif
