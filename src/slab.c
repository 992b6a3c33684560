/* A per-loop allocator for fixed-size objects (tasks). Objects are carved
 * from chunks that double in size from 64 KiB to 2 MiB; the large ones ask
 * for transparent huge pages, since a million tasks otherwise cost a page
 * fault every twenty objects and those faults dominate spawning. Freed
 * objects go on a LIFO free list and are reused while warm; chunks are
 * returned to the system only when the loop ends. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "slab.h"

#define FIRST_CHUNK (64u << 10)
#define LAST_CHUNK (2u << 20)

typedef struct chunk_hdr {
    struct chunk_hdr *next;
    size_t len;
} chunk_hdr;

static int grow(aioc__slab *s) {
    size_t len = s->next_len ? s->next_len : FIRST_CHUNK;
    s->next_len = len < LAST_CHUNK ? len * 2 : LAST_CHUNK;
    size_t map_len = len == LAST_CHUNK ? 2 * len : len; /* room to align */
    char *p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    if (map_len != len) { /* trim to a 2 MiB-aligned chunk, so it can be one huge page */
        char *aligned = (char *)(((uintptr_t)p + len - 1) & ~(uintptr_t)(len - 1));
        if (aligned > p)
            munmap(p, (size_t)(aligned - p));
        if (aligned + len < p + map_len)
            munmap(aligned + len, (size_t)(p + map_len - (aligned + len)));
        p = aligned;
        madvise(p, len, MADV_HUGEPAGE);
    }
    chunk_hdr *h = (chunk_hdr *)p;
    h->next = s->chunks;
    h->len = len;
    s->chunks = h;
    s->cur = p + ((sizeof *h + 63) & ~(size_t)63);
    s->end = p + len;
    return 0;
}

void *aioc__slab_alloc_slow(aioc__slab *s) {
    if (grow(s))
        return NULL;
    return aioc__slab_alloc(s);
}

void aioc__slab_destroy(aioc__slab *s) {
    chunk_hdr *h = s->chunks;
    while (h) {
        chunk_hdr *next = h->next;
        munmap(h, h->len);
        h = next;
    }
    *s = (aioc__slab){.size = s->size};
}

void *aioc__spare_get(aioc__spares *s, size_t size) {
    void *p = s->head;
    if (!p)
        return malloc(size);
    s->head = *(void **)p;
    s->n--;
    return p;
}

void aioc__spare_put(aioc__spares *s, void *p, unsigned max) {
    if (s->n >= max) {
        free(p);
        return;
    }
    *(void **)p = s->head;
    s->head = p;
    s->n++;
}

void aioc__spares_free(aioc__spares *s) {
    while (s->head) {
        void *p = s->head;
        s->head = *(void **)p;
        free(p);
    }
    s->n = 0;
}
