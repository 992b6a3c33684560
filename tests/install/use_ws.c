/* An outside program on the installed aioc_ws (scripts/test-install.sh
 * builds it with pkg-config and with CMake): the README's example (between
 * the markers below; test-install.sh checks that the README shows the same
 * code), an echo server on a route of aioc_http, and a client that talks
 * to it over ws://. Prints one line and exits 0, or says what failed and
 * exits 1. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* README example begins */
#include <aioc.h>
#include <aioc_http.h>
#include <aioc_ws.h>

static int echo(aioc_http_request *req, aioc_http_response *res, void *arg) {
    int err;
    aioc_ws *ws = aioc_ws_accept(req, res, NULL, &err);
    if (!ws) /* not a WebSocket handshake: res says 400 (or 426) */
        return err == AIOC_WS_EHANDSHAKE ? 0 : err;
    aioc_ws_msg m;
    while ((err = aioc_ws_recv(ws, &m)) == 0) /* whole messages */
        if ((err = aioc_ws_send(ws, m.type, m.data, m.len)))
            break;
    aioc_ws_free(ws); /* err == AIOC_EOF: the client closed */
    return err == AIOC_EOF ? 0 : err;
}

static int hello(const char *url, char *answer, size_t cap) { /* "ws://host:port/echo" */
    int err;
    aioc_ws *ws = aioc_ws_connect(url, NULL, &err);
    if (!ws)
        return err;
    aioc_ws_msg m;
    if (!(err = aioc_ws_send_text(ws, "hello", 5)) && !(err = aioc_ws_recv(ws, &m)))
        snprintf(answer, cap, "%s", m.data); /* m.data lives until the next recv */
    if (!err)
        err = aioc_ws_close(ws, AIOC_WS_NORMAL, "bye"); /* the close handshake */
    aioc_ws_free(ws);
    return err;
}
/* README example ends */

static void *failed(const char *what, int err) {
    fprintf(stderr, "use_ws: %s: %s\n", what, aioc_ws_strerror(err));
    return aioc_fail(err ? err : -EIO);
}

static void *main_task(void *arg) {
    (void)arg;
    int err = 0;
    aioc_http_router *r = aioc_http_router_new();
    if (!r || aioc_http_route(r, "GET", "/echo", echo, NULL))
        return failed("router", -ENOMEM);
    aioc_http_server *h = aioc_http_serve("127.0.0.1", "0", aioc_http_router_handle, r, NULL, &err);
    if (!h)
        return failed("serve", err);
    char url[64], answer[64] = "";
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/echo", aioc_http_server_port(h));
    err = hello(url, answer, sizeof answer);
    aioc_http_server_close(h, 5);
    aioc_http_router_free(r);
    if (err)
        return failed("the README example", err);
    if (strcmp(answer, "hello"))
        return failed("the echo", -EPROTO);
    printf("aioc_ws: echoed \"%s\" over ws:// and closed cleanly\n", answer);
    return NULL;
}

int main(void) { return aioc_run(main_task, NULL, NULL) ? 1 : 0; }
