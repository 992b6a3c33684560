/* The keyspace (see store.h). */
#define _POSIX_C_SOURCE 200809L
#include "store.h"

#include <aioc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static dict keys;       /* key -> kv_obj */
static size_t expiring; /* keys with a time to live */
static size_t cursor;   /* the sweep's next bucket */

static void *must(void *p) {
    if (!p) {
        fputs("kv: out of memory\n", stderr);
        abort();
    }
    return p;
}

int64_t now_ms(void) { return (int64_t)(aioc_now_ns() / 1000000); }

/* -------------------------------------------------------------- values -- */

kv_str *str_new(const char *data, size_t len) {
    kv_str *s = must(malloc(sizeof *s + len));
    s->len = len;
    memcpy(s->data, data, len);
    return s;
}

void list_push(kv_list *l, kv_str *s, int left) {
    if (l->len == l->cap) { /* double the ring, unrolling it at the front */
        size_t cap = l->cap ? l->cap * 2 : 8;
        kv_str **items = must(malloc(cap * sizeof *items));
        for (size_t i = 0; i < l->len; i++)
            items[i] = list_at(l, i);
        free(l->items);
        *l = (kv_list){items, 0, l->len, cap};
    }
    if (left) {
        l->head = (l->head - 1) & (l->cap - 1);
        l->items[l->head] = s;
    } else {
        l->items[(l->head + l->len) & (l->cap - 1)] = s;
    }
    l->len++;
}

kv_str *list_pop(kv_list *l, int left) {
    kv_str *s;
    if (left) {
        s = l->items[l->head];
        l->head = (l->head + 1) & (l->cap - 1);
    } else {
        s = list_at(l, l->len - 1);
    }
    l->len--;
    return s;
}

static void obj_free(kv_obj *o) {
    if (o->type == KV_LIST) {
        while (o->list.len)
            free(list_pop(&o->list, 1));
        free(o->list.items);
    } else if (o->type == KV_HASH) {
        for (dict_entry *f = o->hash.first; f; f = f->after)
            free(f->val);
        dict_clear(&o->hash);
    }
    free(o);
}

static kv_obj *obj_new(kv_type type, size_t cap) {
    kv_obj *o = must(calloc(1, sizeof *o + cap));
    o->type = type;
    o->cap = cap;
    return o;
}

/* ------------------------------------------------------------ keyspace -- */

static int expired(const kv_obj *o) { return o->expire_ms && o->expire_ms <= now_ms(); }

dict_entry *store_find(const char *key, size_t klen) {
    dict_entry *e = dict_find(&keys, key, klen);
    if (e && expired(e->val)) {
        store_delete(e);
        return NULL;
    }
    return e;
}

dict_entry *store_set(const char *key, size_t klen, const char *val, size_t vlen, int keep_ttl) {
    dict_entry *e = dict_find(&keys, key, klen);
    kv_obj *o = e ? e->val : NULL;
    int64_t expire = o && keep_ttl && !expired(o) ? o->expire_ms : 0;
    if (!o || o->type != KV_STRING || o->cap < vlen) {
        kv_obj *n = obj_new(KV_STRING, vlen);
        if (o) {
            if (o->expire_ms)
                expiring--;
            obj_free(o);
        }
        o = n;
        if (e)
            e->val = o;
        else
            e = dict_add(&keys, key, klen, o);
    } else if (o->expire_ms) { /* a string with room: overwritten in place */
        expiring--;
        o->expire_ms = 0;
    }
    memcpy(o->data, val, vlen);
    o->len = vlen;
    store_expire(e, expire);
    return e;
}

size_t store_append(dict_entry *e, const char *data, size_t len) {
    kv_obj *o = e->val;
    if (o->cap - o->len < len) { /* grow by doubling: appends are amortised O(1) */
        size_t cap = o->cap * 2 > o->len + len ? o->cap * 2 : o->len + len;
        o = must(realloc(o, sizeof *o + cap));
        o->cap = cap;
        e->val = o;
    }
    memcpy(o->data + o->len, data, len);
    o->len += len;
    return o->len;
}

dict_entry *store_add(const char *key, size_t klen, kv_type type) {
    return dict_add(&keys, key, klen, obj_new(type, 0));
}

void store_delete(dict_entry *e) {
    kv_obj *o = e->val;
    if (o->expire_ms)
        expiring--;
    obj_free(o);
    dict_delete(&keys, e);
}

void store_expire(dict_entry *e, int64_t at_ms) {
    kv_obj *o = e->val;
    if (at_ms && !o->expire_ms)
        expiring++;
    else if (!at_ms && o->expire_ms)
        expiring--;
    o->expire_ms = at_ms;
}

size_t store_size(void) { return keys.count; }

void store_flush(void) {
    for (dict_entry *e = keys.first; e; e = e->after)
        obj_free(e->val);
    dict_clear(&keys);
    expiring = 0;
    cursor = 0;
}

static double clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* As Redis's active expiry, roughly: look at a slice of the table; if a
 * quarter or more of the expiring keys seen there had expired, there are
 * probably many more, so look at the next slice too, within the budget. */
size_t store_sweep(double budget_ms) {
    size_t deleted = 0;
    double until = clock_ms() + budget_ms;
    int64_t now = now_ms();
    while (expiring > 0 && keys.size > 0) {
        size_t seen = 0, gone = 0;
        for (int i = 0; i < 256 && keys.size > 0; i++) {
            if (cursor >= keys.size)
                cursor = 0;
            dict_entry *e = keys.buckets[cursor++];
            while (e) {
                dict_entry *next = e->next;
                kv_obj *o = e->val;
                if (o->expire_ms) {
                    seen++;
                    if (o->expire_ms <= now) {
                        size_t size = keys.size;
                        store_delete(e);
                        gone++;
                        if (keys.size != size)
                            break; /* the table shrank: this bucket's rest moved */
                    }
                }
                e = next;
            }
        }
        deleted += gone;
        if (gone * 4 < seen || (seen == 0 && expiring * 8 < keys.count) || clock_ms() >= until)
            break;
    }
    return deleted;
}
