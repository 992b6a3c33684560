/* Shared between the adapter's files; not installed. */
#ifndef AIOC_TLS_INTERNAL_H
#define AIOC_TLS_INTERNAL_H

#include <stdbool.h>

#include "aioc_tls.h"

/* Another reference to `ctx`, dropped by aioc_tls_ctx_free. */
void aioc__tls_ctx_ref(aioc_tls_ctx *ctx);

/* Whether `ctx` was made by aioc_tls_server_new. */
bool aioc__tls_ctx_is_server(const aioc_tls_ctx *ctx);

#endif
