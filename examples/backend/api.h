/* The notes' HTTP JSON API (api.c) on a store (store.h). */
#ifndef BACKEND_API_H
#define BACKEND_API_H

#include "store.h"
#include <aioc_http.h>

struct api {
    store *store;
    int queries; /* requests waiting for the store (GET /health says) */
};

/* The router of the API's routes, each with `api` as its argument (which
 * must outlive it). Returns NULL when out of memory. */
aioc_http_router *api_routes(struct api *api);

#endif
