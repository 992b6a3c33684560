/* The loop's handle table: generation-checked slots behind every public
 * handle (src/handle.c). */
#ifndef AIOC_HANDLE_H
#define AIOC_HANDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every object a public handle can name (task, scope, group, call) has a
 * slot in the loop's handle table. A handle is (generation << 32 | index+1);
 * freeing the object bumps the slot's generation, so a stale handle is
 * detected instead of followed. A generation is the table's tag (7 bits,
 * one per loop: AIOC__GEN_TAG) over a 24-bit count, so a handle of another
 * loop fails the same comparison, and aioc__handle_foreign tells it from a
 * stale one. A stale handle kept across 2^24 reuses of its slot could name
 * the slot's new object: the price of the tag. */
enum aioc__handle_type {
    AIOC__H_FREE,
    AIOC__H_TASK,
    AIOC__H_SCOPE,
    AIOC__H_GROUP,
    AIOC__H_CALL,
};

typedef struct aioc__slot {
    void *obj; /* the object, or the next free index when free */
    uint32_t gen;
    uint32_t type;
} aioc__slot;

#define AIOC__SLOTS_PER_CHUNK 4096u
#define AIOC__ERROR_HANDLE (1ULL << 63)

/* An error handle: what a handle constructor (aioc_spawn, aioc_call_soon)
 * returns when it fails, carrying the error (negative) in its low bits. */
static inline uint64_t aioc__error_id(int err) { return AIOC__ERROR_HANDLE | (uint32_t)-err; }
/* The error an error handle carries; 0 for any other id. */
static inline int aioc__id_error(uint64_t id) {
    return (id & AIOC__ERROR_HANDLE) ? -(int)(uint32_t)id : 0;
}

#define AIOC__GEN_COUNT 0x00ffffffu /* the generation's count */
#define AIOC__GEN_TAG 0x7f000000u   /* its tag: bit 31 stays clear (error handles) */

typedef struct aioc__handles {
    aioc__slot **chunks;
    uint32_t nchunks, used; /* slots handed out so far (high-water mark) */
    uint32_t free_head;     /* index+1 of the first free slot, 0 if none */
    uint32_t tag;           /* in every generation of this table (AIOC__GEN_TAG bits) */
} aioc__handles;

/* An empty table with a tag of its own (the next of 127, round robin). */
void aioc__handles_init(aioc__handles *h);
uint64_t aioc__handle_new(aioc__handles *h, uint32_t type, void *obj);
void aioc__handle_free(aioc__handles *h, uint64_t id);
void aioc__handles_free(aioc__handles *h);
static inline aioc__slot *aioc__handle_slot(const aioc__handles *h, uint32_t i) {
    return &h->chunks[i / AIOC__SLOTS_PER_CHUNK][i % AIOC__SLOTS_PER_CHUNK];
}

/* The slot of a live handle, or NULL for a stale, invalid or error handle. */
static inline aioc__slot *aioc__handle_lookup(const aioc__handles *h, uint64_t id) {
    uint32_t index = (uint32_t)id;
    if (index == 0 || index > h->used || (id & AIOC__ERROR_HANDLE))
        return NULL;
    aioc__slot *s = aioc__handle_slot(h, index - 1);
    return s->gen == (uint32_t)(id >> 32) ? s : NULL;
}

/* Whether `id`, which aioc__handle_lookup refused, is a handle of another
 * table (another loop's, or one that has ended) rather than a stale one. */
static inline bool aioc__handle_foreign(const aioc__handles *h, uint64_t id) {
    uint32_t tag = (uint32_t)(id >> 32) & AIOC__GEN_TAG; /* 0: no table made it */
    return !(id & AIOC__ERROR_HANDLE) && (uint32_t)id != 0 && tag && tag != h->tag;
}

static inline void *aioc__handle_get(const aioc__handles *h, uint64_t id, uint32_t type) {
    aioc__slot *s = aioc__handle_lookup(h, id);
    return s && s->type == type ? s->obj : NULL;
}

#endif
