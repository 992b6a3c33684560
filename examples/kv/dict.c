/* The hash table (see dict.h). */
#define _POSIX_C_SOURCE 200809L
#include "dict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t seed;

/* Eight bytes at a time, each word mixed in with a multiply, and the
 * result avalanched (MurmurHash3's finaliser) so that the low bits, which
 * pick the bucket, depend on every input bit. The seed makes the buckets a
 * key lands in differ from run to run; unlike Redis's SipHash it is no
 * cryptographic defence against a client that can watch our timing. */
static uint64_t hash_bytes(const char *key, size_t len) {
    if (!seed) { /* once per process: the clock's nanoseconds and an address */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_nsec << 20 ^ (uint64_t)(uintptr_t)&ts ^ (uint64_t)ts.tv_sec) | 1;
    }
    const uint64_t m = 0x9e3779b97f4a7c15ULL;
    uint64_t h = seed ^ (len * m), w;
    for (; len >= 8; key += 8, len -= 8) {
        memcpy(&w, key, 8);
        h = (h ^ (w * m)) * m;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, key, len); /* the last 0 to 7 bytes */
    h = (h ^ (w * m)) * m;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static void *must(void *p) {
    if (!p) {
        fputs("kv: out of memory\n", stderr);
        abort();
    }
    return p;
}

/* Moves every entry into a table of `size` buckets. */
static void resize(dict *d, size_t size) {
    dict_entry **buckets = must(calloc(size, sizeof *buckets));
    for (dict_entry *e = d->first; e; e = e->after) {
        dict_entry **b = &buckets[e->hash & (size - 1)];
        e->next = *b;
        *b = e;
    }
    free(d->buckets);
    d->buckets = buckets;
    d->size = size;
}

dict_entry *dict_find(const dict *d, const char *key, size_t klen) {
    if (!d->size)
        return NULL;
    uint64_t h = hash_bytes(key, klen);
    for (dict_entry *e = d->buckets[h & (d->size - 1)]; e; e = e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

dict_entry *dict_add(dict *d, const char *key, size_t klen, void *val) {
    if (d->count >= d->size)
        resize(d, d->size ? d->size * 2 : 8);
    dict_entry *e = must(malloc(sizeof *e + klen + 1));
    e->hash = hash_bytes(key, klen);
    e->val = val;
    e->klen = klen;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    dict_entry **b = &d->buckets[e->hash & (d->size - 1)];
    e->next = *b;
    *b = e;
    e->after = NULL;
    e->before = d->last;
    if (d->last)
        d->last->after = e;
    else
        d->first = e;
    d->last = e;
    d->count++;
    return e;
}

void dict_delete(dict *d, dict_entry *e) {
    dict_entry **p = &d->buckets[e->hash & (d->size - 1)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    if (e->before)
        e->before->after = e->after;
    else
        d->first = e->after;
    if (e->after)
        e->after->before = e->before;
    else
        d->last = e->before;
    free(e);
    d->count--;
    if (d->count == 0)
        dict_clear(d);
    else if (d->size > 64 && d->count < d->size / 8)
        resize(d, d->size / 2);
}

void dict_clear(dict *d) {
    for (dict_entry *e = d->first, *next; e; e = next) {
        next = e->after;
        free(e);
    }
    free(d->buckets);
    *d = (dict){0};
}
