/* Deadline and cancel scopes: the record behind an aioc_scope (src/scope.c). */
#ifndef AIOC_SCOPE_H
#define AIOC_SCOPE_H

#include "scheduler.h"

struct aioc__scope_rec {
    aioc__scope_rec *outer;
    aioc__task *owner;
    uint64_t id;
    aioc__timer timer;
    uint8_t shield;
    uint8_t expired;
    uint8_t cancelled;
};

void aioc__scope_expire(aioc__loop *loop, aioc__scope_rec *s);
void aioc__scopes_unwind(aioc__loop *loop, aioc__task *t);

#endif
