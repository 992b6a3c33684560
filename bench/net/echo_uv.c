/* echo_uv: a TCP echo server on libuv, written as libuv servers usually
 * are: uv_listen, uv_accept and uv_read_start per connection, one shared
 * 64 KiB read buffer (alloc_cb hands out the same one: read_cb runs before
 * the next read), and each chunk written back with uv_try_write; what the
 * socket does not take at once goes out through uv_write from a copy.
 *
 *   echo_uv [PORT]     listen on 127.0.0.1:PORT (default 0: any)
 *
 * Prints "READY port=P pid=N" once it listens and serves until killed;
 * drive it with loadgen as in echo_aioc_stream.c. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

typedef struct write_req {
    uv_write_t req;
    uv_buf_t buf;
    char data[];
} write_req;

static char shared[65536];

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)h;
    (void)hint;
    *buf = uv_buf_init(shared, sizeof shared);
}

static void on_close(uv_handle_t *h) { free(h); }

static void on_written(uv_write_t *req, int status) {
    (void)status; /* a failed write shows up as a read error too */
    free(req);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    int w = n > 0 ? uv_try_write(s, &out, 1) : 0;
    if (w == n)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    size_t off = w > 0 ? (size_t)w : 0, left = (size_t)n - off;
    write_req *r = malloc(sizeof *r + left);
    if (!r) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    memcpy(r->data, buf->base + off, left);
    r->buf = uv_buf_init(r->data, (unsigned)left);
    uv_write(&r->req, s, &r->buf, 1, on_written);
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) == 0)
        uv_read_start((uv_stream_t *)c, on_alloc, on_read);
    else
        uv_close((uv_handle_t *)c, on_close);
}

int main(int argc, char **argv) {
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof bound, err;
    uv_ip4_addr("127.0.0.1", argc > 1 ? atoi(argv[1]) : 0, &addr);
    uv_tcp_init(loop, &server);
    if ((err = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0)) ||
        (err = uv_listen((uv_stream_t *)&server, 511, on_connection)) ||
        (err = uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len))) {
        fprintf(stderr, "echo_uv: %s\n", uv_strerror(err));
        return 1;
    }
    printf("READY port=%d pid=%ld\n", ntohs(((struct sockaddr_in *)&bound)->sin_port),
           (long)getpid());
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
