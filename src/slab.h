/* Per-loop object slabs: fixed-size objects (tasks, scopes, calls) carved
 * from growing chunks, freed ones reused LIFO; and spare lists, which keep
 * a few freed blocks of one size (I/O buffers) for reuse (src/slab.c). */
#ifndef AIOC_SLAB_H
#define AIOC_SLAB_H

#include <stddef.h>

typedef struct aioc__slab {
    size_t size;     /* object size, a multiple of 16 */
    char *cur, *end; /* unused part of the newest chunk */
    void *free;      /* freed objects, linked through their first word */
    void *chunks;
    size_t next_len;
} aioc__slab;

void *aioc__slab_alloc_slow(aioc__slab *s);
void aioc__slab_destroy(aioc__slab *s);

static inline void *aioc__slab_alloc(aioc__slab *s) {
    void *p = s->free;
    if (p) {
        s->free = *(void **)p;
        return p;
    }
    if ((size_t)(s->end - s->cur) >= s->size) {
        p = s->cur;
        s->cur += s->size;
        return p;
    }
    return aioc__slab_alloc_slow(s);
}

static inline void aioc__slab_free(aioc__slab *s, void *p) {
    *(void **)p = s->free;
    s->free = p;
}

/* Spare blocks of one size, most recently freed first (so still warm),
 * linked through their first word. A zeroed list is empty. */
typedef struct aioc__spares {
    void *head;
    unsigned n;
} aioc__spares;

/* A block of `size` bytes: a spare one, else from malloc (NULL if that
 * fails). Every get from one list must ask for the same size. */
void *aioc__spare_get(aioc__spares *s, size_t size);
/* Keeps `p` (from aioc__spare_get) if fewer than `max` are spare, else
 * frees it. */
void aioc__spare_put(aioc__spares *s, void *p, unsigned max);
/* Frees every spare block. */
void aioc__spares_free(aioc__spares *s);

#endif
