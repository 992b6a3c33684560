/* What the descriptor streams (src/fd_stream.c) need of the generic stream
 * (src/stream.c), which itself knows no descriptor. */
#ifndef AIOC_STREAM_H
#define AIOC_STREAM_H

#include <stddef.h>

#include "aioc.h"

/* aioc_stream_new_transport with the transport's state in the stream's own
 * allocation: `size` zeroed bytes, aligned for any type, at *ctx. They go
 * with the stream, after ops->close (which must not free them). NULL with
 * errno ENOMEM. */
aioc_stream *aioc__stream_new_with_state(const aioc_transport *ops, size_t size, void **ctx,
                                         const aioc_stream_opts *opts);

/* Empties the stream so that its transport's connection can be handed to
 * another layer (aioc_stream_release_fd): sends this turn's writes if the
 * transport takes them at once, then fails with -EBUSY if a call is in
 * progress or bytes are still buffered either way (nothing changes). On
 * success the stream holds no buffer, and every later write, drain or
 * write_eof fails with -EBADF; what its reads return is the transport's
 * business. */
int aioc__stream_hand_over(aioc_stream *s);

/* The socket under the stream (its transport's socket call), or a negative
 * error: -ENOTSOCK if the transport names none. */
int aioc__stream_socket(const aioc_stream *s);

#endif
