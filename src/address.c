/* Socket addresses, a stream's among them, and as text: "127.0.0.1:8080",
 * "[::1]:8080", "unix:PATH". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "aioc.h"
#include "stream.h"

int aioc_address_format(const struct sockaddr *addr, unsigned len, char *buf, size_t n) {
    char host[INET6_ADDRSTRLEN];
    int w;
    if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        w = snprintf(buf, n, "%s:%u", host, ntohs(a->sin_port));
    } else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        w = snprintf(buf, n, "[%s]:%u", host, ntohs(a->sin6_port));
    } else if (addr->sa_family == AF_UNIX) {
        const struct sockaddr_un *a = (const struct sockaddr_un *)addr;
        size_t path = len > offsetof(struct sockaddr_un, sun_path)
                          ? len - offsetof(struct sockaddr_un, sun_path)
                          : 0;
        if (path > 0 && a->sun_path[0] == '\0') /* abstract: "@name", not NUL-ended */
            w = snprintf(buf, n, "unix:@%.*s", (int)(path - 1), a->sun_path + 1);
        else
            w = snprintf(buf, n, "unix:%.*s", (int)strnlen(a->sun_path, path), a->sun_path);
    } else {
        return -EAFNOSUPPORT;
    }
    return w < 0 || (size_t)w >= n ? -ENOSPC : w;
}

typedef int (*stream_name_fn)(const aioc_stream *, struct sockaddr_storage *, unsigned *);

static int name_text(const aioc_stream *s, stream_name_fn fn, char *buf, size_t n) {
    struct sockaddr_storage addr;
    unsigned len;
    int err = fn(s, &addr, &len);
    return err ? err : aioc_address_format((const struct sockaddr *)&addr, len, buf, n);
}

typedef int (*socket_name_fn)(int, struct sockaddr *, socklen_t *);

/* A stream's socket address: its transport names the socket (aioc__stream_socket). */
static int socket_name(const aioc_stream *s, socket_name_fn fn, struct sockaddr_storage *addr,
                       unsigned *len) {
    int fd = aioc__stream_socket(s);
    if (fd < 0)
        return fd;
    socklen_t l = sizeof *addr;
    if (fn(fd, (struct sockaddr *)addr, &l) != 0)
        return -errno;
    *len = (unsigned)l;
    return 0;
}

int aioc_stream_peername(const aioc_stream *s, struct sockaddr_storage *addr, unsigned *len) {
    return socket_name(s, getpeername, addr, len);
}

int aioc_stream_sockname(const aioc_stream *s, struct sockaddr_storage *addr, unsigned *len) {
    return socket_name(s, getsockname, addr, len);
}

int aioc_stream_peer_address(const aioc_stream *s, char *buf, size_t n) {
    return name_text(s, aioc_stream_peername, buf, n);
}

int aioc_stream_local_address(const aioc_stream *s, char *buf, size_t n) {
    return name_text(s, aioc_stream_sockname, buf, n);
}
