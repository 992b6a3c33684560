/* Buffered streams (src/stream.c): what the loop needs of them. */
#ifndef AIOC_STREAM_H
#define AIOC_STREAM_H

typedef struct aioc__loop aioc__loop;

/* Frees the loop's spare stream buffers. */
void aioc__stream_chunks_free(aioc__loop *loop);

#endif
