/* aioc_tls_serve: the plain stream server with a TLS handshake at the
 * start of each handler task.
 *
 * The core server hands each handler a plain stream and closes it when
 * the handler returns. The wrapper takes the descriptor out of it
 * (aioc_tls_start), so the plain stream is an empty shell whose close
 * does nothing, and closes the TLS stream itself. The core server has no
 * hook for its own end, so each wrapper's record (handler, context
 * reference, options) lives on a loop-local list, freed when aioc_run
 * ends, after every handler. */
#include <errno.h>
#include <stdlib.h>

#include "tls_internal.h"

typedef struct record {
    struct record *next;
    aioc_tls_ctx *ctx;
    aioc_stream_handler fn;
    void *arg;
    aioc_tls_opts opts;
} record;

static void records_free(void *value) {
    for (record *r = value, *next; r; r = next) {
        next = r->next;
        aioc_tls_ctx_free(r->ctx);
        free(r);
    }
}

static aioc_local_key records_key = {records_free};

static void serve_tls(aioc_stream *plain, void *arg) {
    record *r = arg;
    aioc_stream *s = aioc_tls_start(plain, r->ctx, &r->opts, NULL);
    if (!s)
        return; /* the server closes the shell */
    r->fn(s, r->arg);
    aioc_scope shield;
    int shielded = aioc_shield_enter(&shield) == 0;
    if (aioc_cancelling())
        aioc_tls_abort(s);
    else
        aioc_stream_close(s);
    if (shielded)
        aioc_scope_exit(&shield);
}

aioc_server *aioc_tls_serve(const char *host, const char *port, aioc_tls_ctx *ctx,
                            aioc_stream_handler fn, void *arg, const aioc_server_opts *opts,
                            const aioc_tls_opts *tls_opts, int *errp) {
    int err = 0;
    record *r = NULL;
    if (!ctx || !fn || (tls_opts && tls_opts->verify_result))
        err = -EINVAL;
    else if (!aioc__tls_ctx_is_server(ctx))
        err = AIOC_TLS_EROLE;
    else if (!aioc_loop_current())
        err = AIOC_ENOLOOP;
    else if (!(r = calloc(1, sizeof *r)))
        err = -ENOMEM;
    if (err) {
        if (errp)
            *errp = err;
        return NULL;
    }
    r->ctx = ctx;
    r->fn = fn;
    r->arg = arg;
    if (tls_opts)
        r->opts = *tls_opts;
    r->opts.server_name = NULL;
    r->opts.stream = opts ? opts->stream : (aioc_stream_opts){0};
    r->next = aioc_loop_local_get(&records_key);
    aioc_server *srv = aioc_tcp_serve(host, port, serve_tls, r, opts, &err);
    if (!srv || (err = aioc_loop_local_set(&records_key, r))) {
        if (srv)
            aioc_server_close(srv, 0);
        free(r);
        if (errp)
            *errp = err;
        return NULL;
    }
    aioc__tls_ctx_ref(ctx);
    if (errp)
        *errp = 0;
    return srv;
}
