/* Percent-decoding (RFC 3986 section 2.1) and the query string's
 * name=value pairs (the application/x-www-form-urlencoded form: '&'
 * between pairs, '+' for a space), which the server leaves as sent. */
#include <errno.h>
#include <string.h>

#include "http_internal.h"

static int hex(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes `n` bytes of `in` into `out`, or only counts with `out` NULL;
 * returns the decoded length or -EINVAL. */
static long decode(const char *in, size_t n, char *out, bool plus_is_space) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++, o++) {
        char c = in[i];
        if (c == '%') {
            if (n - i < 3 || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0)
                return -EINVAL;
            c = (char)(hex(in[i + 1]) << 4 | hex(in[i + 2]));
            if (c == '\0') /* it would cut the C string short */
                return -EINVAL;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (out)
            out[o] = c;
    }
    if (out)
        out[o] = '\0';
    return (long)o;
}

long aioc_http_percent_decode(const char *in, size_t n, char *out, size_t cap, bool plus_is_space) {
    long len = decode(in, n, NULL, plus_is_space);
    if (len < 0)
        return len;
    if (cap < (size_t)len + 1)
        return -ENOSPC;
    return decode(in, n, out, plus_is_space);
}

long aioc_http_request_query_get(const aioc_http_request *req, const char *name, char *buf,
                                 size_t cap) {
    size_t want = strlen(name);
    for (const char *p = req->query; *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t key_len = eq ? (size_t)(eq - p) : len;
        /* the name as sent may be encoded: decode it to compare */
        char key[256];
        if (aioc_http_percent_decode(p, key_len, key, sizeof key, true) == (long)want &&
            memcmp(key, name, want) == 0) {
            const char *value = eq ? eq + 1 : p + len; /* "name" alone: "" */
            return aioc_http_percent_decode(value, (size_t)(p + len - value), buf, cap, true);
        }
        if (!end)
            break;
        p = end + 1;
    }
    return -ENOENT;
}
