/* Name resolution and connecting (src/net.c). */
#ifndef AIOC_NET_H
#define AIOC_NET_H

struct addrinfo;
struct sockaddr_un;

/* Happy Eyeballs over a resolved list (tests use it directly). */
int aioc__connect_any(struct addrinfo *res);
/* The delay before the next address is tried: 0.25 s. */
extern double aioc__attempt_delay;
/* A Unix socket address from a path, or "@name" in the abstract namespace:
 * 0, -EINVAL or -ENAMETOOLONG. */
int aioc__unix_address(const char *path, struct sockaddr_un *addr, unsigned *len);

#endif
