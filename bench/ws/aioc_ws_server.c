/* aioc_ws_server: the WebSocket benchmark's server on aioc_http and aioc_ws
 * (bench/ws/run.sh runs it, and the same server written with aiohttp,
 * websockets, Node's ws and Go's gorilla/websocket, under bench/ws/wsload).
 *
 *   aioc_ws_server [PORT [CERT KEY]]   listen on 127.0.0.1:PORT (0: any free
 *                                      one); with CERT and KEY (PEM files),
 *                                      wss:// through the TLS adapter
 *
 * Two routes, the same in every implementation:
 *   GET /echo       every message comes back, text as text, binary as binary
 *   GET /broadcast  every message from any client goes to every client
 *                   connected to /broadcast, the sender included
 *
 * A task per connection (aioc_http's), waiting in aioc_ws_recv. A broadcast
 * is an aioc_ws_send to each client in turn: the frame goes into that
 * connection's write buffer, and the loop writes the buffers out at its
 * next turn, so messages that arrive in one turn leave in one write per
 * client. aioc_ws_send waits only when a client's buffer is at its
 * high-water mark (64 KiB): a client that stops reading holds the
 * broadcast up, no message is dropped. While a broadcast is in the middle
 * of the list (it may wait there) a leaving client only marks itself gone,
 * and waits for the list to be free before it takes itself out.
 *
 * No permessage-deflate unless the client offers it (wsload does not).
 * Prints "READY port=P pid=N" once it listens and serves until killed. */
#define _GNU_SOURCE
#include <aioc.h>
#include <aioc_http.h>
#include <aioc_tls.h>
#include <aioc_ws.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int echo(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    int err;
    aioc_ws *ws = aioc_ws_accept(req, res, NULL, &err);
    if (!ws)
        return err == AIOC_WS_EHANDSHAKE ? 0 : err;
    aioc_ws_msg m;
    while ((err = aioc_ws_recv(ws, &m)) == 0)
        if ((err = aioc_ws_send(ws, m.type, m.data, m.len)) != 0)
            break;
    aioc_ws_free(ws);
    return 0;
}

/* The /broadcast clients: an array, compacted only while no broadcast is
 * walking it. */
static aioc_ws **clients;
static size_t nclients, cap;
static int walking;                            /* broadcasts in the middle of the list */
static aioc_event list_free = AIOC_EVENT_INIT; /* set when walking drops to 0 */

static void broadcast(const aioc_ws_msg *m) {
    walking++;
    for (size_t i = 0; i < nclients; i++)
        if (clients[i]) /* NULL: gone, waiting to be taken out */
            aioc_ws_send(clients[i], m->type, m->data, m->len); /* an error shows at its recv */
    if (--walking == 0)
        aioc_event_set(&list_free);
}

static void leave(aioc_ws *ws) {
    for (size_t i = 0; i < nclients; i++)
        if (clients[i] == ws)
            clients[i] = NULL;
    while (walking) {
        aioc_event_clear(&list_free);
        aioc_event_wait(&list_free);
    }
    size_t k = 0; /* compact out every NULL, others' too */
    for (size_t i = 0; i < nclients; i++)
        if (clients[i])
            clients[k++] = clients[i];
    nclients = k;
}

static int fanout(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    int err;
    aioc_ws *ws = aioc_ws_accept(req, res, NULL, &err);
    if (!ws)
        return err == AIOC_WS_EHANDSHAKE ? 0 : err;
    if (nclients == cap) {
        size_t ncap = cap ? 2 * cap : 1024;
        aioc_ws **n = realloc(clients, ncap * sizeof *n);
        if (!n) {
            aioc_ws_free(ws);
            return 0;
        }
        clients = n, cap = ncap;
    }
    clients[nclients++] = ws;
    aioc_ws_msg m;
    while (aioc_ws_recv(ws, &m) == 0)
        broadcast(&m);
    leave(ws);
    aioc_ws_free(ws);
    return 0;
}

/* wss://: the TLS adapter's listener runs the HTTP server's handler. */
static aioc_http_server *serve_tls(const char *port, const char *cert, const char *key,
                                   aioc_http_router *r, int *err) {
    aioc_tls_ctx *ctx = aioc_tls_server_new(cert, key, err);
    aioc_http_server *srv = ctx ? aioc_http_server_new(aioc_http_router_handle, r, NULL) : NULL;
    if (ctx && !srv)
        *err = -ENOMEM;
    aioc_server *l =
        srv ? aioc_tls_serve("127.0.0.1", port, ctx, aioc_http_stream_handler, srv, NULL, NULL, err)
            : NULL;
    aioc_tls_ctx_free(ctx); /* the listener keeps its reference */
    if (!l) {
        aioc_http_server_close(srv, 0);
        return NULL;
    }
    aioc_http_server_adopt(srv, l);
    return srv;
}

static void *serve(void *argv) {
    char **args = argv; /* PORT [CERT KEY] */
    int err = -ENOMEM;
    aioc_http_router *r = aioc_http_router_new();
    if (!r || aioc_http_route(r, "GET", "/echo", echo, NULL) ||
        aioc_http_route(r, "GET", "/broadcast", fanout, NULL))
        return aioc_fail(-ENOMEM);
    aioc_http_server *srv =
        args[1] ? serve_tls(args[0], args[1], args[2], r, &err)
                : aioc_http_serve("127.0.0.1", args[0], aioc_http_router_handle, r, NULL, &err);
    if (!srv) {
        fprintf(stderr, "aioc_ws_server: %s\n", aioc_ws_strerror(err));
        return aioc_fail(err);
    }
    printf("READY port=%d pid=%ld\n", aioc_http_server_port(srv), (long)getpid());
    fflush(stdout);
    aioc_event forever = AIOC_EVENT_INIT;
    aioc_event_wait(&forever); /* until the process is killed */
    aioc_http_server_close(srv, 0);
    aioc_http_router_free(r);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 3 || argc > 4) {
        fprintf(stderr, "usage: aioc_ws_server [PORT [CERT KEY]]\n");
        return 2;
    }
    char *args[3] = {argc > 1 ? argv[1] : "0", argc > 3 ? argv[2] : NULL,
                     argc > 3 ? argv[3] : NULL};
    return aioc_run(serve, args, NULL) ? 1 : 0;
}
