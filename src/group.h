/* Task groups: the record behind an aioc_group (src/group.c). */
#ifndef AIOC_GROUP_H
#define AIOC_GROUP_H

#include "scheduler.h"

struct aioc__group_rec {
    aioc__list children;
    aioc__task *owner;
    uint64_t id;
    uint32_t live;   /* children not yet ended */
    int32_t error;   /* first failure, or -ECANCELED once cancelled */
    uint8_t waiting; /* owner is parked in aioc_group_wait */
};

void aioc__group_child_done(aioc__loop *loop, aioc__task *t);

#endif
