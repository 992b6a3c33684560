/* The loop's handle table: generation-checked slots for every object a
 * public handle names. Slots live in fixed chunks (never moved, so a slot
 * pointer stays valid) and are reused LIFO through a free list. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "handle.h"

static uint64_t make_id(uint32_t gen, uint32_t index) {
    return ((uint64_t)gen << 32) | (uint64_t)(index + 1);
}

void aioc__handles_init(aioc__handles *h) {
    static atomic_uint tables;
    uint32_t n = atomic_fetch_add_explicit(&tables, 1, memory_order_relaxed);
    *h = (aioc__handles){.tag = (n % 127 + 1) << 24};
}

/* The generation after `gen`: the same tag, the next nonzero count. */
static uint32_t next_gen(const aioc__handles *h, uint32_t gen) {
    uint32_t count = (gen + 1) & AIOC__GEN_COUNT;
    return h->tag | (count ? count : 1);
}

uint64_t aioc__handle_new(aioc__handles *h, uint32_t type, void *obj) {
    uint32_t index;
    if (h->free_head) {
        index = h->free_head - 1;
        h->free_head = (uint32_t)(uintptr_t)aioc__handle_slot(h, index)->obj;
    } else {
        if (h->used == UINT32_MAX - 1)
            return 0;
        index = h->used;
        uint32_t c = index / AIOC__SLOTS_PER_CHUNK;
        if (c == h->nchunks) {
            aioc__slot **chunks = realloc(h->chunks, (c + 1) * sizeof *chunks);
            if (!chunks)
                return 0;
            h->chunks = chunks;
            chunks[c] = calloc(AIOC__SLOTS_PER_CHUNK, sizeof(aioc__slot));
            if (!chunks[c])
                return 0;
            h->nchunks++;
        }
        h->used++;
    }
    aioc__slot *s = aioc__handle_slot(h, index);
    if (s->gen == 0)
        s->gen = h->tag | 1; /* a slot never used */
    s->obj = obj;
    s->type = type;
    return make_id(s->gen, index);
}

void aioc__handle_free(aioc__handles *h, uint64_t id) {
    aioc__slot *s = aioc__handle_lookup(h, id);
    if (!s)
        return;
    s->gen = next_gen(h, s->gen);
    s->type = AIOC__H_FREE;
    s->obj = (void *)(uintptr_t)h->free_head;
    h->free_head = (uint32_t)id;
}

void aioc__handles_free(aioc__handles *h) {
    for (uint32_t c = 0; c < h->nchunks; c++)
        free(h->chunks[c]);
    free(h->chunks);
    *h = (aioc__handles){.tag = h->tag};
}
