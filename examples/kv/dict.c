/* The hash table (see dict.h). */
#define _POSIX_C_SOURCE 200809L
#include "dict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t seed;

static uint64_t hash_bytes(const char *key, size_t len) {
    if (!seed) { /* once per process: the clock's nanoseconds and an address */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_nsec << 20 ^ (uint64_t)(uintptr_t)&ts ^ (uint64_t)ts.tv_sec) | 1;
    }
    uint64_t h = 14695981039346656037ULL ^ seed; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 32);
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
