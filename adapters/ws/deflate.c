/* permessage-deflate (RFC 7692) on zlib: the negotiation of its
 * parameters and the compression of whole messages. Raw deflate streams;
 * a message ends with a sync flush whose 00 00 ff ff tail is not sent
 * (§7.2.1) and is put back before inflating (§7.2.2). The zlib streams are
 * made at a connection's first compressed message (a deflater with a 32 KiB
 * window holds some 256 KiB), so idle connections hold none. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "ws_internal.h"

struct ws_deflate {
    z_stream z;
    bool inflater;
};

void aioc__ws_deflate_free(ws_deflate *d) {
    if (!d)
        return;
    if (d->inflater)
        inflateEnd(&d->z);
    else
        deflateEnd(&d->z);
    free(d);
}

long aioc__ws_deflate(ws_deflate **zp, const ws_pmd *pmd, int level, const uint8_t *in, size_t n,
                      uint8_t **out, size_t *cap) {
    if (!*zp) {
        ws_deflate *d = calloc(1, sizeof *d);
        if (!d)
            return -ENOMEM;
        if (deflateInit2(&d->z, level, Z_DEFLATED, -pmd->our_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(d);
            return -ENOMEM;
        }
        *zp = d;
    }
    z_stream *z = &(*zp)->z;
    if (aioc__ws_grow(out, cap, deflateBound(z, n) + 16))
        return -ENOMEM;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)n;
    size_t len = 0;
    for (;;) {
        z->next_out = *out + len;
        z->avail_out = (uInt)(*cap - len);
        int r = deflate(z, Z_SYNC_FLUSH);
        len = *cap - z->avail_out;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return -ENOMEM;
        if (z->avail_in == 0 && z->avail_out > 0)
            break;
        if (aioc__ws_grow(out, cap, *cap * 2))
            return -ENOMEM;
    }
    if (pmd->our_no_takeover)
        deflateReset(z);
    /* the sync flush ends with an empty stored block: 00 00 ff ff */
    if (len >= 4 && !memcmp(*out + len - 4, "\x00\x00\xff\xff", 4))
        len -= 4;
    return (long)len;
}

long aioc__ws_inflate(ws_deflate **zp, const ws_pmd *pmd, const uint8_t *in, size_t n,
                      uint8_t **out, size_t *cap, size_t max) {
    (void)pmd;
    if (!*zp) {
        ws_deflate *d = calloc(1, sizeof *d);
        if (!d)
            return -ENOMEM;
        /* a 32 KiB window reads any window the peer may use */
        d->inflater = true;
        if (inflateInit2(&d->z, -15) != Z_OK) {
            free(d);
            return -ENOMEM;
        }
        *zp = d;
    }
    z_stream *z = &(*zp)->z;
    static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
    size_t len = 0, limit = max + 1; /* one byte past the limit says it is over */
    for (int part = 0; part < 2; part++) {
        z->next_in = (Bytef *)(uintptr_t)(part ? tail : in);
        z->avail_in = part ? 4 : (uInt)n;
        bool full = false; /* the last inflate filled the room: more may come */
        while (z->avail_in > 0 || full) {
            size_t end = *cap < limit ? *cap : limit;
            if (len == end) {
                if (end == limit)
                    return AIOC_WS_ETOOBIG;
                size_t want = *cap ? *cap * 2 : 4096;
                if (aioc__ws_grow(out, cap, want < limit ? want : limit))
                    return -ENOMEM;
                continue;
            }
            size_t room = end - len;
            z->next_out = *out + len;
            z->avail_out = (uInt)room;
            int r = inflate(z, Z_SYNC_FLUSH);
            len += room - z->avail_out;
            full = z->avail_out == 0;
            if (len > max)
                return AIOC_WS_ETOOBIG;
            if (r == Z_STREAM_END) {
                /* a final block: the peer's stream is over; the next
                 * message starts a new one */
                inflateReset(z);
                if (z->avail_in && part == 0)
                    return AIOC_WS_EDEFLATE; /* bytes after the end */
                break;
            }
            if (r == Z_BUF_ERROR && !full)
                break; /* no progress: all input is in */
            if (r != Z_OK && r != Z_BUF_ERROR)
                return r == Z_MEM_ERROR ? -ENOMEM : AIOC_WS_EDEFLATE;
        }
    }
    return (long)len;
}

/* The next parameter of an extension element: its name and value (without
 * quotes) in `name` and `value`; returns false at the element's end (a ','
 * or the string's). */
static bool next_param(const char **sp, char *name, size_t ncap, char *value, size_t vcap) {
    const char *s = *sp + strspn(*sp, " \t");
    if (*s != ';')
        return false;
    s += 1 + strspn(s + 1, " \t");
    size_t n = strcspn(s, " \t=;,");
    snprintf(name, ncap, "%.*s", (int)n, s);
    s += n;
    s += strspn(s, " \t");
    value[0] = '\0';
    if (*s == '=') {
        s += 1 + strspn(s + 1, " \t");
        bool quoted = *s == '"';
        s += quoted;
        size_t v = strcspn(s, quoted ? "\"" : " \t;,");
        snprintf(value, vcap, "%.*s", (int)v, s);
        s += v + (quoted && s[v] == '"');
    }
    *sp = s;
    return true;
}

/* A window-bits value: 8 to 15, digits only. */
static int bits_of(const char *v) {
    if (strlen(v) != 1 && strlen(v) != 2)
        return -1;
    int b = atoi(v);
    for (const char *p = v; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    return b >= 8 && b <= 15 ? b : -1;
}

bool aioc__ws_pmd_accept(const char *offers, int bits, ws_pmd *pmd, char *answer, size_t cap) {
    const char *s = offers;
    while (s && *s) {
        s += strspn(s, " \t,");
        size_t n = strcspn(s, " \t;,");
        bool ours = n == 18 && !strncasecmp(s, "permessage-deflate", 18);
        s += n;
        ws_pmd p = {.on = true, .our_bits = bits};
        bool ok = ours, seen[4] = {0};
        char name[32], value[16];
        while (next_param(&s, name, sizeof name, value, sizeof value)) {
            int i = !strcmp(name, "server_no_context_takeover")   ? 0
                    : !strcmp(name, "client_no_context_takeover") ? 1
                    : !strcmp(name, "server_max_window_bits")     ? 2
                    : !strcmp(name, "client_max_window_bits")     ? 3
                                                                  : -1;
            if (i < 0 || seen[i]) {
                ok = false; /* §7: an unknown or repeated parameter: decline */
                continue;
            }
            seen[i] = true;
            if (i == 0 && !*value)
                p.our_no_takeover = true;
            else if (i == 1 && !*value)
                p.peer_no_takeover = true;
            else if (i == 2 && bits_of(value) >= 9) /* zlib has no 8-bit raw window */
                p.our_bits = bits_of(value) < bits ? bits_of(value) : bits;
            else if (i == 3 && (!*value || bits_of(value) > 0))
                ; /* the client may use any window: ours inflates them all */
            else
                ok = false;
        }
        s += strcspn(s, ",");
        if (!ok)
            continue;
        *pmd = p;
        char win[40] = "";
        if (seen[2] || p.our_bits < 15)
            snprintf(win, sizeof win, "; server_max_window_bits=%d", p.our_bits);
        snprintf(answer, cap, "permessage-deflate%s%s%s",
                 p.our_no_takeover ? "; server_no_context_takeover" : "",
                 p.peer_no_takeover ? "; client_no_context_takeover" : "", win);
        return true;
    }
    return false;
}

int aioc__ws_pmd_answer(const char *answer, int bits, ws_pmd *pmd) {
    const char *s = answer + strspn(answer, " \t");
    if (strncasecmp(s, "permessage-deflate", 18))
        return AIOC_WS_EHANDSHAKE;
    s += 18;
    ws_pmd p = {.on = true, .our_bits = bits};
    bool seen[4] = {0};
    char name[32], value[16];
    while (next_param(&s, name, sizeof name, value, sizeof value)) {
        int i = !strcmp(name, "server_no_context_takeover")   ? 0
                : !strcmp(name, "client_no_context_takeover") ? 1
                : !strcmp(name, "server_max_window_bits")     ? 2
                : !strcmp(name, "client_max_window_bits")     ? 3
                                                              : -1;
        if (i < 0 || seen[i])
            return AIOC_WS_EHANDSHAKE;
        seen[i] = true;
        if (i == 0 && !*value)
            p.peer_no_takeover = true;
        else if (i == 1 && !*value)
            p.our_no_takeover = true;
        else if (i == 2 && bits_of(value) > 0)
            ; /* the server's window: ours inflates any */
        else if (i == 3 && bits_of(value) >= 9)
            p.our_bits = bits_of(value) < bits ? bits_of(value) : bits;
        else
            return AIOC_WS_EHANDSHAKE; /* 8 bits: zlib cannot keep to it */
    }
    s += strspn(s, " \t");
    if (*s)
        return AIOC_WS_EHANDSHAKE; /* a second extension: none was offered */
    *pmd = p;
    return 0;
}
