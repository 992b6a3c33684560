/* Queues: FIFO, LIFO and priority, bounded or not (asyncio.Queue and
 * friends, with Python 3.13's shutdown).
 *
 * Items are handed over, never left in limbo: a put that finds a getter
 * waiting gives the item to that getter directly (in the getter's task,
 * t->wait_data), and a get that makes room moves the first waiting put's
 * item into the queue and completes that put. The hand-over happens before
 * the woken task runs, so a cancellation that arrives in between cannot
 * lose the item; a waiter interrupted before the hand-over is off the list
 * and keeps (or never took) its item.
 *
 * Storage: a ring buffer for FIFO, used from one end for LIFO, and a
 * binary heap of (item, put order) for priority, which keeps equal items
 * in put order. It grows on demand, in powers of two. */
#include <stdlib.h>
#include <string.h>

#include "debug_checks.h"
#include "scheduler.h"

typedef struct entry {
    void *item;
    uint64_t seq; /* priority queues: put order, for ties */
} entry;

struct aioc_queue {
    int kind;
    size_t maxsize; /* 0: no bound */
    aioc_queue_cmp cmp;
    entry *buf;
    size_t cap, head, len; /* ring: [head, head + len) mod cap */
    uint64_t seq;
    size_t unfinished; /* put and not yet marked done */
    int shutdown;
    aioc__list getters, putters, joiners;
};

aioc_queue *aioc_queue_new(int kind, size_t maxsize, aioc_queue_cmp cmp) {
    if (kind < AIOC_QUEUE_FIFO || kind > AIOC_QUEUE_PRIORITY ||
        (kind == AIOC_QUEUE_PRIORITY && !cmp)) {
        errno = EINVAL;
        return NULL;
    }
    aioc_queue *q = calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    q->kind = kind;
    q->maxsize = maxsize;
    q->cmp = cmp;
    aioc__list_init(&q->getters);
    aioc__list_init(&q->putters);
    aioc__list_init(&q->joiners);
    return q;
}

/* ------------------------------------------------------------ storage -- */

/* cap is a power of two, so the ring index is a mask, not a division */
static entry *at(aioc_queue *q, size_t i) { return &q->buf[(q->head + i) & (q->cap - 1)]; }

static bool before(aioc_queue *q, const entry *a, const entry *b) {
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static int grow(aioc_queue *q) {
    size_t cap = q->cap ? q->cap * 2 : 16; /* may pass maxsize: full() bounds */
    entry *buf = malloc(cap * sizeof *buf);
    if (!buf)
        return -ENOMEM;
    for (size_t i = 0; i < q->len; i++)
        buf[i] = *at(q, i);
    free(q->buf);
    q->buf = buf;
    q->cap = cap;
    q->head = 0;
    return 0;
}

static inline int store(aioc_queue *q, void *item) {
    if (q->len == q->cap && grow(q))
        return -ENOMEM;
    if (q->kind != AIOC_QUEUE_PRIORITY) {
        at(q, q->len++)->item = item;
        return 0;
    }
    entry e = {item, q->seq++};
    size_t i = q->len++; /* sift up; the heap uses the ring from head 0 */
    while (i > 0 && before(q, &e, &q->buf[(i - 1) / 2])) {
        q->buf[i] = q->buf[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->buf[i] = e;
    return 0;
}

static inline void *take(aioc_queue *q) {
    if (q->kind == AIOC_QUEUE_FIFO) {
        void *item = at(q, 0)->item;
        q->head = (q->head + 1) & (q->cap - 1);
        q->len--;
        return item;
    }
    if (q->kind == AIOC_QUEUE_LIFO)
        return at(q, --q->len)->item;
    void *item = q->buf[0].item;
    entry last = q->buf[--q->len];
    size_t i = 0;
    for (;;) { /* sift down */
        size_t c = 2 * i + 1;
        if (c >= q->len)
            break;
        if (c + 1 < q->len && before(q, &q->buf[c + 1], &q->buf[c]))
            c++;
        if (!before(q, &q->buf[c], &last))
            break;
        q->buf[i] = q->buf[c];
        i = c;
    }
    if (q->len)
        q->buf[i] = last;
    return item;
}

static inline bool full(const aioc_queue *q) { return q->maxsize && q->len >= q->maxsize; }

/* After an item left the buffer: complete the first waiting put, if any. */
static inline void admit_putter(aioc__loop *loop, aioc_queue *q) {
    aioc__list *n = q->putters.next;
    if (n == &q->putters || full(q))
        return;
    aioc__task *p = aioc__container_of(n, aioc__task, link);
    if (store(q, (void *)p->wait_data))
        return; /* no memory: it stays waiting, still owning its item */
    aioc__list_remove(n);
    q->unfinished++;
    aioc__wake(loop, p, AIOC__WOKEN);
}

/* ---------------------------------------------------------- put, get -- */

/* Everything a put does that cannot wait; -EAGAIN if it would have to. */
static inline int put_now(aioc__loop *loop, aioc_queue *q, void *item) {
    int err = aioc__debug_owned(loop, q, "queue");
    if (err)
        return err;
    if (q->shutdown)
        return -ESHUTDOWN;
    aioc__list *n = aioc__list_pop_front(&q->getters);
    if (n) { /* a getter waits, so the queue is empty: hand it over */
        aioc__task *g = aioc__container_of(n, aioc__task, link);
        g->wait_data = (uintptr_t)item;
        q->unfinished++;
        aioc__wake(loop, g, AIOC__WOKEN);
        return 0;
    }
    if (full(q) || !aioc__list_empty(&q->putters))
        return -EAGAIN;
    if ((err = store(q, item)))
        return err;
    q->unfinished++;
    return 0;
}

/* Everything a get does that cannot wait; -EAGAIN if it would have to. */
static inline int get_now(aioc__loop *loop, aioc_queue *q, void **item) {
    int err = aioc__debug_owned(loop, q, "queue");
    if (err)
        return err;
    if (q->len) {
        *item = take(q);
        admit_putter(loop, q);
        return 0;
    }
    return q->shutdown ? -ESHUTDOWN : -EAGAIN;
}

int aioc_queue_try_put(aioc_queue *q, void *item) { return put_now(aioc__loop_get(), q, item); }

int aioc_queue_try_get(aioc_queue *q, void **item) { return get_now(aioc__loop_get(), q, item); }

int aioc_queue_put(aioc_queue *q, void *item) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__suspension_point(&loop, &err);
    if (!t)
        return err;
    err = put_now(loop, q, item);
    if (err != -EAGAIN)
        return err;
    /* full: wait with the item in our task; a get moves it in for us */
    t->wait_data = (uintptr_t)item;
    return aioc__wait_on(loop, t, &q->putters, q, AIOC_PRIMITIVE_QUEUE_PUT);
}

int aioc_queue_get(aioc_queue *q, void **item) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__suspension_point(&loop, &err);
    if (!t)
        return err;
    err = get_now(loop, q, item);
    if (err != -EAGAIN)
        return err;
    /* empty: wait; a put hands its item to us directly */
    err = aioc__wait_on(loop, t, &q->getters, q, AIOC_PRIMITIVE_QUEUE_GET);
    if (err == 0)
        *item = (void *)t->wait_data;
    return err;
}

size_t aioc_queue_size(const aioc_queue *q) { return q->len; }

/* ----------------------------------------- task_done, join, shutdown -- */

int aioc_queue_task_done(aioc_queue *q) {
    aioc__loop *loop = aioc__loop_get();
    int err = aioc__debug_owned(loop, q, "queue");
    if (err)
        return err;
    if (q->unfinished == 0)
        return -EINVAL;
    if (--q->unfinished == 0)
        aioc__wake_all(loop, &q->joiners, AIOC__WOKEN);
    return 0;
}

int aioc_queue_join(aioc_queue *q) {
    aioc__loop *loop;
    int err;
    aioc__task *t = aioc__running(&loop, &err);
    if (!t)
        return err;
    if ((err = aioc__debug_owned_here(loop, q, "queue")) || (err = aioc__interruption(t)) ||
        q->unfinished == 0)
        return err;
    return aioc__wait_on(loop, t, &q->joiners, q, AIOC_PRIMITIVE_QUEUE_JOIN);
}

void aioc_queue_shutdown(aioc_queue *q, int immediate, aioc_queue_drop drop, void *data) {
    aioc__loop *loop = aioc__loop_get();
    if (aioc__debug_owned(loop, q, "queue"))
        return; /* debug mode: another thread's queue, left alone */
    q->shutdown = 1;
    aioc__wake_all(loop, &q->putters, -ESHUTDOWN); /* they keep their items */
    if (immediate) {
        while (q->len) {
            void *item = take(q);
            if (drop)
                drop(item, data);
            q->unfinished--;
        }
        if (q->unfinished == 0)
            aioc__wake_all(loop, &q->joiners, AIOC__WOKEN);
    }
    /* waiting getters wait on an empty queue: nothing more will come */
    aioc__wake_all(loop, &q->getters, -ESHUTDOWN);
}

int aioc_queue_free(aioc_queue *q, aioc_queue_drop drop, void *data) {
    if (!q)
        return 0;
    if (!aioc__list_empty(&q->getters) || !aioc__list_empty(&q->putters) ||
        !aioc__list_empty(&q->joiners))
        return -EBUSY;
    while (q->len) {
        void *item = take(q);
        if (drop)
            drop(item, data);
    }
    free(q->buf);
    aioc__debug_forget(q);
    free(q);
    return 0;
}
