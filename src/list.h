/* Intrusive circular doubly linked list. A node is embedded in the owning
 * struct, so linking never allocates. An unlinked node points at itself. */
#ifndef AIOC_LIST_H
#define AIOC_LIST_H

#include <stddef.h>

typedef struct aioc__list {
    struct aioc__list *next, *prev;
} aioc__list;

#define aioc__container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void aioc__list_init(aioc__list *l) { l->next = l->prev = l; }

static inline int aioc__list_empty(const aioc__list *l) { return l->next == l; }

static inline void aioc__list_push_back(aioc__list *head, aioc__list *n) {
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void aioc__list_remove(aioc__list *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

/* Moves every node of `from` to the back of `to`; `from` ends empty. */
static inline void aioc__list_splice(aioc__list *to, aioc__list *from) {
    if (from->next == from)
        return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    from->next = from->prev = from;
}

static inline aioc__list *aioc__list_pop_front(aioc__list *head) {
    aioc__list *n = head->next;
    if (n == head)
        return NULL;
    aioc__list_remove(n);
    return n;
}

#endif
