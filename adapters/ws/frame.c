/* RFC 6455 §5.2's frame header, the receiver's checks on it, masking, the
 * UTF-8 check text messages and close reasons need, and §7.4's close codes.
 * No I/O and no allocation: ws.c feeds these from the stream, and the fuzz
 * target drives them through a whole connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

size_t aioc__ws_header_size(const uint8_t b[2]) {
    uint8_t len7 = b[1] & 0x7f;
    size_t n = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
    return n + ((b[1] & 0x80) ? 4 : 0);
}

void aioc__ws_parse_header(const uint8_t *b, ws_frame *f) {
    f->fin = b[0] & 0x80;
    f->rsv = b[0] & 0x70;
    f->rsv1 = b[0] & 0x40;
    f->op = b[0] & 0x0f;
    f->masked = b[1] & 0x80;
    uint8_t len7 = b[1] & 0x7f;
    const uint8_t *p = b + 2;
    if (len7 == 126) {
        f->len = (uint64_t)p[0] << 8 | p[1];
        p += 2;
    } else if (len7 == 127) {
        f->len = 0;
        for (int i = 0; i < 8; i++)
            f->len = f->len << 8 | p[i];
        p += 8;
    } else {
        f->len = len7;
    }
    if (f->masked)
        memcpy(f->mask, p, 4);
}

int aioc__ws_check_frame(const ws_frame *f, bool from_client, bool deflate, bool in_message) {
    if (f->masked != from_client)
        return AIOC_WS_EPROTOCOL; /* §5.1: clients mask, servers do not */
    if (f->len >> 63)
        return AIOC_WS_EPROTOCOL; /* §5.2: the most significant bit is 0 */
    bool control = f->op & 0x8;
    if (f->rsv & ~0x40)
        return AIOC_WS_EPROTOCOL; /* RSV2, RSV3: no extension defines them */
    /* RFC 7692 §6: RSV1 marks a compressed message, on its first frame */
    if (f->rsv1 && (!deflate || control || f->op == WS_OP_CONT))
        return AIOC_WS_EPROTOCOL;
    switch (f->op) {
    case WS_OP_CONT:
        return in_message ? 0 : AIOC_WS_EPROTOCOL;
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        return in_message ? AIOC_WS_EPROTOCOL : 0;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        /* §5.5: control frames are final and carry at most 125 bytes */
        return f->fin && f->len <= 125 ? 0 : AIOC_WS_EPROTOCOL;
    default:
        return AIOC_WS_EPROTOCOL; /* reserved opcodes */
    }
}

size_t aioc__ws_put_header(uint8_t *out, bool fin, bool rsv1, uint8_t op, uint64_t len,
                           const uint8_t *mask) {
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | op);
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = (uint8_t)(m | len);
    } else if (len <= 0xffff) {
        out[n++] = m | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void aioc__ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off) {
    size_t i = 0;
    /* eight bytes at a time once the key is lined up */
    uint8_t k[8];
    unsigned r = (unsigned)(off & 3);
    for (unsigned j = 0; j < 4; j++)
        k[j] = mask[(r + j) & 3];
    memcpy(k + 4, k, 4);
    uint64_t k8;
    memcpy(&k8, k, 8);
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        v ^= k8;
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++)
        p[i] ^= k[i & 7];
}

/* The state holds what the characters begun so far still need: the count
 * of continuation bytes left (bits 0-2) and, for the first of them, the
 * range it must fall in (bits 8-15 low, 16-23 high), which is how the
 * overlong forms, the surrogates and what lies past U+10FFFF are refused
 * (RFC 3629 §4's table). */
bool aioc__ws_utf8(uint32_t *state, const uint8_t *p, size_t n) {
    uint32_t st = *state;
    size_t i = 0;
    while (i < n) {
        if (st == 0) {
            /* ASCII runs, eight bytes at a time */
            while (i + 8 <= n) {
                uint64_t v;
                memcpy(&v, p + i, 8);
                if (v & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            if (i == n)
                break;
            uint8_t c = p[i++];
            if (c < 0x80)
                continue;
            uint32_t lo = 0x80, hi = 0xbf, left;
            if (c >= 0xc2 && c <= 0xdf)
                left = 1;
            else if (c == 0xe0)
                left = 2, lo = 0xa0;
            else if (c >= 0xe1 && c <= 0xec)
                left = 2;
            else if (c == 0xed)
                left = 2, hi = 0x9f;
            else if (c >= 0xee && c <= 0xef)
                left = 2;
            else if (c == 0xf0)
                left = 3, lo = 0x90;
            else if (c >= 0xf1 && c <= 0xf3)
                left = 3;
            else if (c == 0xf4)
                left = 3, hi = 0x8f;
            else
                return false;
            st = left | lo << 8 | hi << 16;
            continue;
        }
        uint8_t c = p[i++];
        uint32_t lo = (st >> 8) & 0xff, hi = (st >> 16) & 0xff;
        if (c < lo || c > hi)
            return false;
        uint32_t left = (st & 7) - 1;
        st = left ? (left | 0x80u << 8 | 0xbfu << 16) : 0;
    }
    *state = st;
    return true;
}

bool aioc__ws_close_code_ok(int code) {
    /* 1004 is reserved, 1005 and 1006 are never on the wire, 1015 is TLS's;
     * 1012-1014 were registered after RFC 6455 (IANA) */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int aioc__ws_grow(uint8_t **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    uint8_t *b = realloc(*buf, c);
    if (!b)
        return -ENOMEM;
    *buf = b;
    *cap = c;
    return 0;
}
