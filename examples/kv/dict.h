/* A hash table from byte strings to pointers, in insertion order.
 *
 * Chained buckets, a power of two of them, doubled when there are more
 * keys than buckets and halved when there are eight times fewer (so that
 * memory comes back when keys go). Every entry is also on a list in the
 * order it was added, which is the order iteration follows, as in
 * Python's dict: HGETALL answers in the order the fields were set, as
 * Redis does for small hashes. The hash function is seeded at random per
 * process, so that a client cannot pick keys that all land in one bucket
 * as easily. (Redis rehashes incrementally, a few buckets per operation,
 * so that a table of millions never stops the server at once; this one
 * rehashes all at once, which is simpler to read.) */
#ifndef KV_DICT_H
#define KV_DICT_H

#include <stddef.h>
#include <stdint.h>

typedef struct dict_entry {
    struct dict_entry *next;           /* in its bucket */
    struct dict_entry *before, *after; /* in insertion order */
    uint64_t hash;
    void *val; /* the caller's */
    size_t klen;
    char key[]; /* the key's bytes, then a NUL (handy for printing) */
} dict_entry;

typedef struct dict {
    dict_entry **buckets;
    size_t size;  /* buckets: 0 or a power of two */
    size_t count; /* entries */
    dict_entry *first, *last;
} dict;

/* The entry for `key`, or NULL. */
dict_entry *dict_find(const dict *d, const char *key, size_t klen);

/* Adds `key` (which must not be there) with `val`: the new entry. */
dict_entry *dict_add(dict *d, const char *key, size_t klen, void *val);

/* Unlinks and frees `e` (not its val). */
void dict_delete(dict *d, dict_entry *e);

/* Frees every entry (not their vals) and the buckets: an empty dict. */
void dict_clear(dict *d);

/* Buckets as an array, for the expiry sweep's cursor: d->buckets[i]. */
static inline size_t dict_buckets(const dict *d) { return d->size; }

#endif
