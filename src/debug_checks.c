/* Debug mode's checks besides the watchdog: a lock held longer than ten
 * watchdog thresholds (reported by its holder when it releases it), and a
 * stream the program never closed (reported when the loop ends). Both
 * measure with the loop's clock and cost nothing but a branch when debug
 * mode is off. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "debug_checks.h"

/* "task 'NAME' (id N, spawned at FILE:LINE)" for `t`, or "no task". */
static void describe(char *buf, size_t n, const aioc__task *t) {
    if (!t) {
        snprintf(buf, n, "no task (a callback)");
        return;
    }
    char name[64];
    aioc__task_display_name(t, name, sizeof name);
    if (t->spawn_file)
        snprintf(buf, n, "task '%s' (id %u, spawned at %s:%u)", name, (uint32_t)t->id,
                 t->spawn_file, t->spawn_line);
    else
        snprintf(buf, n, "task '%s' (id %u)", name, (uint32_t)t->id);
}

/* ------------------------------------------------------------ locks -- */

void aioc__debug_lock_released_slow(aioc__loop *loop, const void *lock, uint64_t acquired_at) {
    uint64_t limit = aioc__watchdog_threshold_ns() * AIOC__LOCK_HELD_THRESHOLDS;
    aioc__clock_update(loop);
    if (!acquired_at || loop->now - acquired_at < limit)
        return;
    char who[512];
    describe(who, sizeof who, loop->current);
    fprintf(stderr, "aioc debug: lock %p was held %.3f s by %s\n", lock,
            (double)(loop->now - acquired_at) / 1e9, who);
}

/* ---------------------------------------------------------- streams -- */

struct aioc__debug_stream {
    aioc__list link;
    aioc__debug_stream **slot; /* the stream's pointer to this record */
    char creator[512];
};

/* This thread's open streams, created while debug mode was on. */
static _Thread_local aioc__list open_streams;

void aioc__debug_stream_opened(aioc__debug_stream **slot) {
    *slot = NULL;
    if (!aioc__watchdog_tls)
        return;
    aioc__debug_stream *r = malloc(sizeof *r);
    if (!r)
        return; /* a debugging aid: the stream works without */
    aioc__loop *loop = aioc__loop_get();
    describe(r->creator, sizeof r->creator, loop ? loop->current : NULL);
    r->slot = slot;
    aioc__list_push_back(aioc__lazy_list(&open_streams), &r->link);
    *slot = r;
}

void aioc__debug_stream_closed(aioc__debug_stream **slot) {
    aioc__debug_stream *r = *slot;
    if (!r)
        return;
    aioc__list_remove(&r->link);
    *slot = NULL;
    free(r);
}

void aioc__debug_streams_report(void) {
    for (aioc__list *n; (n = aioc__list_pop_front(aioc__lazy_list(&open_streams)));) {
        aioc__debug_stream *r = aioc__container_of(n, aioc__debug_stream, link);
        fprintf(stderr, "aioc debug: a stream created by %s was never closed\n", r->creator);
        *r->slot = NULL; /* the stream may still be closed later */
        free(r);
    }
}
