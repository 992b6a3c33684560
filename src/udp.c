/* UDP sockets (asyncio.create_datagram_endpoint): a socket bound to a
 * local address, or connected to a peer, ready for aioc_sendto /
 * aioc_recvfrom (or aioc_send / aioc_recv once connected). Names are
 * resolved on the resolver pool; the first address that works is used. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aioc.h"

/* A datagram socket on the first resolved address that `setup` accepts. */
static int udp_socket(const char *host, const char *port, int flags,
                      int (*setup)(int, const struct sockaddr *, socklen_t)) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = flags};
    struct addrinfo *res = NULL;
    int err = aioc_getaddrinfo(host, port, &hints, &res);
    if (err)
        return err;
    int fd = -EADDRNOTAVAIL;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            fd = -errno;
            continue;
        }
        if (setup(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        int e = -errno;
        close(fd);
        fd = e;
    }
    freeaddrinfo(res);
    return fd;
}

int aioc_udp_bind(const char *host, const char *port) {
    return udp_socket(host, port, AI_PASSIVE, bind);
}

int aioc_udp_connect(const char *host, const char *port) {
    /* connecting a datagram socket sends nothing: it never blocks */
    return udp_socket(host, port, AI_ADDRCONFIG, connect);
}
