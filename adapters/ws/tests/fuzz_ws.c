/* libFuzzer target: arbitrary bytes as what a peer sends on an open
 * WebSocket connection, through the whole receive path (frame headers,
 * their checks, masking, fragments and interleaved control frames, UTF-8,
 * permessage-deflate's inflation with its size limit, close frames), with
 * each message echoed back through the send path. The first byte picks the
 * role (server or client side) and whether permessage-deflate is on; the
 * rest is written, then the write side is shut, and what comes back is
 * read to the end and dropped. The same bytes, as text, also go through
 * the Sec-WebSocket-Extensions parsers of both sides. Built with clang when
 * it is found (see CMakeLists.txt), from the sources (not the library), so
 * ASan knows the task stacks. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ws_internal.h"

typedef struct input {
    const uint8_t *data;
    size_t size;
    int fd;
} input;

static void *writer(void *arg) {
    input *in = arg;
    aioc_send(in->fd, in->data, in->size, 0);
    shutdown(in->fd, SHUT_WR);
    return NULL;
}

static void *serve(void *arg) {
    aioc_ws *ws = arg;
    aioc_ws_msg m;
    while (aioc_ws_recv(ws, &m) == 0)
        if (aioc_ws_send(ws, m.type, m.data, m.len))
            break;
    aioc_ws_close(ws, AIOC_WS_NORMAL, NULL);
    aioc_stream_write_eof(aioc_ws_stream(ws)); /* the reader's end */
    return NULL;
}

static void *run(void *arg) {
    input *in = arg;
    uint8_t mode = in->size ? in->data[0] : 0;
    in->data += in->size ? 1 : 0;
    in->size -= in->size ? 1 : 0;
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
    aioc_stream *s = aioc_stream_new(sv[0], NULL);
    aioc_ws_opts o = {
        .max_message = 4096, .fragment_size = 100, .close_timeout = 1, .deflate_min = 1};
    /* bit 3: the first bytes come as the HTTP server's leftovers */
    size_t pending = (mode & 8) && in->size > 7 ? 7 : 0;
    aioc_ws *ws = aioc__ws_new(s, mode & 1, &o, in->data, pending);
    in->data += pending;
    in->size -= pending;
    if (mode & 2)
        ws->pmd =
            (ws_pmd){.on = true, .our_bits = 9 + (mode >> 4) % 7, .our_no_takeover = mode & 4};
    in->fd = sv[1];
    aioc_task t = aioc_spawn(serve, ws);
    aioc_task w = aioc_spawn(writer, in);
    char buf[4096];
    while (aioc_recv(sv[1], buf, sizeof buf, 0) > 0)
        ;
    aioc_await(w, NULL);
    aioc_await(t, NULL);
    aioc_ws_free(ws);
    aioc_stream_close(s);
    aioc_close(sv[1]);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input in = {data, size, -1};
    aioc_run_opts opts = {.keep_sigint = 1};
    aioc_run_with(run, &in, NULL, &opts);
    /* the extension negotiation, on the same bytes as text */
    char *text = strndup((const char *)data, size > 512 ? 512 : size);
    if (text) {
        ws_pmd pmd;
        char answer[160];
        aioc__ws_pmd_accept(text, 15, &pmd, answer, sizeof answer);
        aioc__ws_pmd_answer(text, 12, &pmd);
        free(text);
    }
    return 0;
}
