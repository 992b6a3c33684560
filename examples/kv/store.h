/* The keyspace: keys to values (strings, lists, hashes), with expiry.
 *
 * A key with a time to live expires twice over: lazily, when a command
 * looks it up after its time (it is deleted then, and the command sees
 * no key), and actively, by store_sweep, which a task of the server calls
 * ten times a second to free the memory of keys nobody asks for any more.
 * Times are milliseconds on the loop's monotonic clock. */
#ifndef KV_STORE_H
#define KV_STORE_H

#include "dict.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { KV_STRING, KV_LIST, KV_HASH } kv_type;

/* A string inside a list or a hash. */
typedef struct kv_str {
    size_t len;
    char data[];
} kv_str;

kv_str *str_new(const char *data, size_t len);

/* A list: a ring of strings, so that both ends push and pop in O(1). */
typedef struct kv_list {
    kv_str **items;
    size_t head, len, cap;
} kv_list;

/* The i-th item (0 <= i < len). */
static inline kv_str *list_at(const kv_list *l, size_t i) {
    return l->items[(l->head + i) & (l->cap - 1)];
}
void list_push(kv_list *l, kv_str *s, int left);
kv_str *list_pop(kv_list *l, int left); /* the caller frees it */

/* A value. A string's bytes follow the struct, so a string key is two
 * allocations (the dict entry with the key, this with the value), and
 * overwriting it with a value no longer than the room it has is none. */
typedef struct kv_obj {
    kv_type type;
    int64_t expire_ms; /* when it expires; 0: never */
    kv_list list;      /* KV_LIST */
    dict hash;         /* KV_HASH: field -> kv_str */
    size_t len, cap;   /* KV_STRING: bytes in data, room for them */
    char data[];
} kv_obj;

/* The loop's clock in milliseconds (cached for the loop's turn). */
int64_t now_ms(void);

/* The key's entry (its val is the kv_obj), or NULL if there is none or
 * it has expired (it is deleted then). */
dict_entry *store_find(const char *key, size_t klen);

/* Sets `key` to a string (a new key, or replacing any value); its time to
 * live is cleared unless `keep_ttl`. Returns the entry. */
dict_entry *store_set(const char *key, size_t klen, const char *val, size_t vlen, int keep_ttl);

/* Appends to an existing string key; returns the new length. */
size_t store_append(dict_entry *e, const char *data, size_t len);

/* Adds an empty list or hash under `key` (which must not exist). */
dict_entry *store_add(const char *key, size_t klen, kv_type type);

/* Deletes the entry and frees its value. */
void store_delete(dict_entry *e);

/* Sets or clears (ms 0) the entry's expiry time. */
void store_expire(dict_entry *e, int64_t at_ms);

size_t store_size(void);
void store_flush(void);

/* Deletes expired keys, walking the table from where the last call
 * stopped; it goes on while at least a quarter of the keys with a time to
 * live it sees have expired, for at most `budget_ms`. Returns how many it
 * deleted. */
size_t store_sweep(double budget_ms);

#endif
