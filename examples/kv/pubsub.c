/* Publish/subscribe: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE and
 * PUBLISH (https://redis.io/docs/latest/develop/interact/pubsub/).
 *
 * Two tables: channel -> its subscribers, and pattern -> its subscribers.
 * Each client also keeps the channels and patterns it has, to answer with
 * its count and to leave them all when it goes. PUBLISH never waits for a
 * subscriber: it adds the message to each one's output (client_output_ready
 * wakes its writer, or drops it if it lets too much pile up), so one slow
 * subscriber slows no one else down. */
#define _POSIX_C_SOURCE 200809L
#include "kv.h"

#include <stdlib.h>
#include <string.h>

typedef struct subscribers {
    client **v;
    size_t n, cap;
} subscribers;

static dict channels, patterns; /* name -> subscribers */

static void *must(void *p) {
    if (!p)
        abort(); /* out of memory: see resp.c */
    return p;
}

/* Adds `c` to `name`'s subscribers in `table` and `name` to `mine`, unless
 * it is there already. */
static void join(dict *table, dict *mine, const char *name, size_t len, client *c) {
    if (dict_find(mine, name, len))
        return;
    dict_add(mine, name, len, NULL);
    dict_entry *e = dict_find(table, name, len);
    if (!e)
        e = dict_add(table, name, len, must(calloc(1, sizeof(subscribers))));
    subscribers *s = e->val;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->v = must(realloc(s->v, s->cap * sizeof *s->v));
    }
    s->v[s->n++] = c;
}

/* Removes `c` from `name`'s subscribers; 0 if it was not one. */
static int part(dict *table, dict *mine, const char *name, size_t len, client *c) {
    dict_entry *m = dict_find(mine, name, len);
    if (!m)
        return 0;
    dict_entry *e = dict_find(table, name, len);
    subscribers *s = e->val;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == c) {
            s->v[i] = s->v[--s->n]; /* order among subscribers does not matter */
            break;
        }
    if (s->n == 0) {
        free(s->v);
        free(s);
        dict_delete(table, e);
    }
    dict_delete(mine, m); /* last: `name` may be its key */
    return 1;
}

size_t pubsub_count(const client *c) { return c->channels.count + c->patterns.count; }

/* ["subscribe", name, count], and the like */
static void confirm(client *c, const char *kind, const char *name, size_t len) {
    reply_array(&c->out, 3);
    reply_bulk_str(&c->out, kind);
    if (name)
        reply_bulk(&c->out, name, len);
    else
        reply_nil(&c->out);
    reply_int(&c->out, (long long)pubsub_count(c));
}

void cmd_subscribe(client *c) {
    for (size_t i = 1; i < c->argc; i++) {
        join(&channels, &c->channels, c->argv[i].p, c->argv[i].len, c);
        confirm(c, "subscribe", c->argv[i].p, c->argv[i].len);
    }
}

void cmd_psubscribe(client *c) {
    for (size_t i = 1; i < c->argc; i++) {
        join(&patterns, &c->patterns, c->argv[i].p, c->argv[i].len, c);
        confirm(c, "psubscribe", c->argv[i].p, c->argv[i].len);
    }
}

/* UNSUBSCRIBE / PUNSUBSCRIBE: the names given, or with none every one the
 * client has (and with none at all, one reply with a nil name). */
static void unsubscribe(client *c, dict *table, dict *mine, const char *kind) {
    if (c->argc > 1) {
        for (size_t i = 1; i < c->argc; i++) {
            part(table, mine, c->argv[i].p, c->argv[i].len, c);
            confirm(c, kind, c->argv[i].p, c->argv[i].len);
        }
    } else if (mine->count == 0) {
        confirm(c, kind, NULL, 0);
    } else {
        while (mine->first) {
            dict_entry *e = mine->first;
            /* the name must outlive its entry in `mine` for the reply */
            kv_buf name = {0};
            buf_append(&name, e->key, e->klen);
            part(table, mine, name.data, name.len, c);
            confirm(c, kind, name.data, name.len);
            buf_free(&name);
        }
    }
}

void cmd_unsubscribe(client *c) { unsubscribe(c, &channels, &c->channels, "unsubscribe"); }
void cmd_punsubscribe(client *c) { unsubscribe(c, &patterns, &c->patterns, "punsubscribe"); }

void pubsub_leave(client *c) {
    while (c->channels.first)
        part(&channels, &c->channels, c->channels.first->key, c->channels.first->klen, c);
    while (c->patterns.first)
        part(&patterns, &c->patterns, c->patterns.first->key, c->patterns.first->klen, c);
}

/* PUBLISH channel message: the number of clients that got it. */
void cmd_publish(client *c) {
    const kv_arg *ch = &c->argv[1], *msg = &c->argv[2];
    long long receivers = 0;
    dict_entry *e = dict_find(&channels, ch->p, ch->len);
    if (e) {
        subscribers *s = e->val;
        for (size_t i = 0; i < s->n; i++) {
            client *to = s->v[i];
            if (to->dropped)
                continue; /* too slow: it is on its way out */
            reply_array(&to->out, 3);
            reply_bulk(&to->out, "message", 7);
            reply_bulk(&to->out, ch->p, ch->len);
            reply_bulk(&to->out, msg->p, msg->len);
            client_output_ready(to); /* may drop it: it stays listed until its task ends */
            receivers++;
        }
    }
    for (dict_entry *p = patterns.first; p; p = p->after) {
        if (!glob_match(p->key, p->klen, ch->p, ch->len))
            continue;
        subscribers *s = p->val;
        for (size_t i = 0; i < s->n; i++) {
            client *to = s->v[i];
            if (to->dropped)
                continue;
            reply_array(&to->out, 4);
            reply_bulk(&to->out, "pmessage", 8);
            reply_bulk(&to->out, p->key, p->klen);
            reply_bulk(&to->out, ch->p, ch->len);
            reply_bulk(&to->out, msg->p, msg->len);
            client_output_ready(to);
            receivers++;
        }
    }
    reply_int(&c->out, receivers);
}

/* One "[...]" class at pat[*i] (just past the '['), against byte ch;
 * leaves *i past the closing ']'. */
static int class_match(const char *pat, size_t plen, size_t *i, unsigned char ch) {
    int negate = *i < plen && pat[*i] == '^', hit = 0;
    if (negate)
        (*i)++;
    while (*i < plen && pat[*i] != ']') {
        unsigned char a = (unsigned char)pat[*i];
        if (a == '\\' && *i + 1 < plen) {
            a = (unsigned char)pat[++*i];
            hit |= a == ch;
        } else if (*i + 2 < plen && pat[*i + 1] == '-') {
            unsigned char b = (unsigned char)pat[*i + 2];
            if (a > b) {
                unsigned char t = a;
                a = b;
                b = t;
            }
            hit |= ch >= a && ch <= b;
            *i += 2;
        } else {
            hit |= a == ch;
        }
        (*i)++;
    }
    if (*i < plen)
        (*i)++; /* the ']' */
    return negate ? !hit : hit;
}

/* Glob matching without recursion: on a mismatch, go back to the last '*'
 * and let it take one more byte (so a pattern of many stars cannot take
 * exponential time). */
int glob_match(const char *pat, size_t plen, const char *s, size_t slen) {
    size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;
    while (i < slen) {
        if (p < plen && pat[p] == '*') {
            star_p = ++p;
            star_i = i;
            continue;
        }
        if (p < plen) {
            size_t q = p;
            int ok;
            if (pat[q] == '?') {
                ok = 1;
                q++;
            } else if (pat[q] == '[') {
                q++;
                ok = class_match(pat, plen, &q, (unsigned char)s[i]);
            } else {
                if (pat[q] == '\\' && q + 1 < plen)
                    q++;
                ok = pat[q] == s[i];
                q++;
            }
            if (ok) {
                p = q;
                i++;
                continue;
            }
        }
        if (star_p == (size_t)-1)
            return 0;
        p = star_p;
        i = ++star_i;
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}
