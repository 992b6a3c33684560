/* Name resolution and TCP connect with Happy Eyeballs, on loopback. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "test.h"

static int listen_on(int family, const char *addr, char *port, size_t cap) {
    int l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(l >= 0);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        inet_pton(AF_INET, addr, &a->sin_addr);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        inet_pton(AF_INET6, addr, &a->sin6_addr);
        len = sizeof *a;
    }
    CHECK(bind(l, (struct sockaddr *)&ss, len) == 0);
    CHECK(getsockname(l, (struct sockaddr *)&ss, &len) == 0);
    CHECK(listen(l, 16) == 0);
    int p = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    snprintf(port, cap, "%d", p);
    return l;
}

TASK_TEST(getaddrinfo_numeric_named_failed_cancelled) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    CHECK_ERR(aioc_getaddrinfo("127.0.0.1", "80", &hints, &res), 0); /* numeric: no thread */
    CHECK_EQ(res->ai_family, AF_INET);
    freeaddrinfo(res);
    CHECK_ERR(aioc_getaddrinfo("localhost", "http", &hints, &res), 0); /* on the pool */
    CHECK(res != NULL);
    freeaddrinfo(res);
    int err = aioc_getaddrinfo("no-such-host.invalid", "80", &hints, &res);
    CHECK(err <= AIOC_EAI_BASE && err > AIOC_EAI_BASE - 1000);
    CHECK(strcmp(aioc_err_name(err), "AIOC_EAI") == 0);
    CHECK(strlen(aioc_strerror(err)) > 0);
    /* a caller that gives up returns at once (the answer is freed later) */
    aioc_scope s;
    aioc_scope_enter(&s, 0);
    CHECK_ERR(aioc_getaddrinfo("localhost", "80", &hints, &res), -ETIMEDOUT);
    aioc_scope_exit(&s);
    return NULL;
}

TASK_TEST(tcp_connect_ipv4_and_refused) {
    char port[16];
    int l = listen_on(AF_INET, "127.0.0.1", port, sizeof port);
    int c = aioc_tcp_connect("127.0.0.1", port);
    CHECK(c >= 0);
    int s = aioc_accept(l, NULL, NULL);
    CHECK(s >= 0);
    CHECK_EQ(aioc_write(c, "hi", 2), 2);
    char buf[2];
    CHECK_EQ(aioc_read(s, buf, 2), 2);
    aioc_close(s);
    aioc_close(c);
    aioc_close(l);
    /* nobody listens there now */
    CHECK_ERR(aioc_tcp_connect("127.0.0.1", port), -ECONNREFUSED);
    return NULL;
}

TASK_TEST(tcp_connect_ipv6) {
    char port[16];
    int l = listen_on(AF_INET6, "::1", port, sizeof port);
    int c = aioc_tcp_connect("::1", port);
    CHECK(c >= 0);
    aioc_close(c);
    aioc_close(l);
    return NULL;
}

/* "localhost" resolves to ::1 and 127.0.0.1; with only IPv4 listening, the
 * IPv6 attempt is refused and the IPv4 one wins, quickly. */
TASK_TEST(tcp_connect_happy_eyeballs_falls_back) {
    char port[16];
    int l = listen_on(AF_INET, "127.0.0.1", port, sizeof port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    CHECK_ERR(aioc_getaddrinfo("localhost", port, &hints, &res), 0);
    int families = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        families |= a->ai_family == AF_INET6 ? 2 : a->ai_family == AF_INET ? 1 : 0;
    freeaddrinfo(res);
    double t0 = aioc_now();
    int c = aioc_tcp_connect("localhost", port);
    CHECK(c >= 0);
    CHECK(aioc_now() - t0 < 5);
    aioc_close(c);
    aioc_close(l);
    if (families != 3)
        fprintf(stderr, "note: localhost has only one family here (%d)\n", families);
    return NULL;
}

TASK_TEST(tcp_connect_honours_deadlines) {
    char port[16];
    int l = listen_on(AF_INET, "127.0.0.1", port, sizeof port);
    aioc_scope s;
    aioc_scope_enter(&s, 0);
    CHECK_ERR(aioc_tcp_connect("127.0.0.1", port), -ETIMEDOUT); /* out of time already */
    aioc_scope_exit(&s);
    aioc_close(l);
    return NULL;
}

/* The same race over a list made here: IPv6 first, where nobody listens,
 * then IPv4, where somebody does; the refusal starts the next attempt at
 * once, without waiting out the delay (lengthened to 60 s here, so that
 * a wait cannot pass for a slow machine). */
TASK_TEST(happy_eyeballs_moves_on_after_a_refusal) {
    char port[16];
    int l = listen_on(AF_INET, "127.0.0.1", port, sizeof port);
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)atoi(port))};
    inet_pton(AF_INET6, "::1", &v6.sin6_addr);
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
    struct addrinfo a4 = {.ai_family = AF_INET,
                          .ai_socktype = SOCK_STREAM,
                          .ai_addr = (struct sockaddr *)&v4,
                          .ai_addrlen = sizeof v4};
    struct addrinfo a6 = {.ai_family = AF_INET6,
                          .ai_socktype = SOCK_STREAM,
                          .ai_addr = (struct sockaddr *)&v6,
                          .ai_addrlen = sizeof v6,
                          .ai_next = &a4};
    double delay = aioc__attempt_delay;
    aioc__attempt_delay = 60;
    double t0 = aioc_now();
    int c = aioc__connect_any(&a6);
    aioc__attempt_delay = delay;
    CHECK(c >= 0);
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    CHECK(getpeername(c, (struct sockaddr *)&peer, &len) == 0);
    CHECK_EQ(peer.ss_family, AF_INET); /* the IPv4 attempt won */
    CHECK(aioc_now() - t0 < 30);       /* a refusal does not wait the delay */
    aioc_close(c);
    aioc_close(l);
    return NULL;
}

/* UDP helpers: a bound socket and a connected one talk; a connected
 * socket learns that nobody listens at its peer. */
TASK_TEST(udp_bind_and_connect_helpers) {
    int server = aioc_udp_bind("127.0.0.1", "0");
    CHECK(server >= 0);
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    CHECK(getsockname(server, (struct sockaddr *)&addr, &len) == 0);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(addr.sin_port));
    int client = aioc_udp_connect("localhost", port);
    CHECK(client >= 0);
    CHECK_EQ(aioc_send(client, "ping", 4, 0), 4);
    char buf[16];
    struct sockaddr_storage from;
    unsigned flen = sizeof from;
    CHECK_EQ(aioc_recvfrom(server, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK_EQ(aioc_sendto(server, "pong", 4, 0, (struct sockaddr *)&from, flen), 4);
    CHECK_EQ(aioc_recv(client, buf, sizeof buf, 0), 4);
    CHECK(memcmp(buf, "pong", 4) == 0);
    CHECK_ERR(aioc_udp_bind("127.0.0.1", port), -EADDRINUSE);
    /* the server goes away: the next exchange reports it */
    aioc_close(server);
    CHECK_EQ(aioc_send(client, "ping", 4, 0), 4);
    aioc_scope bound; /* an ICMP error on loopback comes at once; bound the wait anyway */
    CHECK_ERR(aioc_scope_enter(&bound, 10), 0);
    CHECK_ERR(aioc_recv(client, buf, sizeof buf, 0), -ECONNREFUSED);
    CHECK_ERR(aioc_scope_exit(&bound), 0);
    aioc_close(client);
    int err = aioc_udp_bind("no-such-host.invalid", "0");
    CHECK(err <= AIOC_EAI_BASE && err > AIOC_EAI_BASE - 1000); /* a resolver error */
    return NULL;
}
