/* Queues: order, backpressure, try, task_done/join, shutdown, hand-over
 * races, and many producers and consumers under seeded schedules. */
#include "test.h"

static int cmp_int(const void *a, const void *b) { return (int)((intptr_t)a - (intptr_t)b); }

TASK_TEST_VIRTUAL(queue_fifo_lifo_priority_order) {
    const int in[] = {5, 1, 4, 1, 3};
    const char *expect[] = {"51413", "31415", "11345"};
    for (int kind = AIOC_QUEUE_FIFO; kind <= AIOC_QUEUE_PRIORITY; kind++) {
        aioc_queue *q = aioc_queue_new(kind, 0, cmp_int);
        CHECK(q);
        for (int i = 0; i < 5; i++)
            CHECK_ERR(aioc_queue_put(q, P(in[i])), 0);
        CHECK_EQ(aioc_queue_size(q), 5);
        char out[6] = {0};
        for (int i = 0; i < 5; i++) {
            void *item;
            CHECK_ERR(aioc_queue_get(q, &item), 0);
            out[i] = (char)('0' + I(item));
        }
        CHECK(strcmp(out, expect[kind]) == 0);
        void *item;
        CHECK_ERR(aioc_queue_try_get(q, &item), -EAGAIN);
        CHECK_ERR(aioc_queue_free(q, NULL, NULL), 0);
    }
    errno = 0;
    CHECK(aioc_queue_new(AIOC_QUEUE_PRIORITY, 0, NULL) == NULL && errno == EINVAL);
    CHECK(aioc_queue_new(7, 0, NULL) == NULL && errno == EINVAL);
    return NULL;
}

typedef struct {
    const char *tag; /* distinguishes equal priorities */
    int prio;
} job;

static int cmp_job(const void *a, const void *b) {
    return ((const job *)a)->prio - ((const job *)b)->prio;
}

TASK_TEST_VIRTUAL(priority_queue_keeps_put_order_for_ties) {
    job jobs[] = {{"a", 2}, {"b", 1}, {"c", 2}, {"d", 1}, {"e", 2}};
    aioc_queue *q = aioc_queue_new(AIOC_QUEUE_PRIORITY, 0, cmp_job);
    for (int i = 0; i < 5; i++)
        aioc_queue_put(q, &jobs[i]);
    char out[6] = {0};
    for (int i = 0; i < 5; i++) {
        void *j;
        aioc_queue_get(q, &j);
        out[i] = ((job *)j)->tag[0];
    }
    CHECK(strcmp(out, "bdace") == 0); /* equal priorities in put order */
    aioc_queue_free(q, NULL, NULL);
    return NULL;
}

static aioc_queue *shared;

static void *producer(void *arg) {
    int n = I(arg);
    for (int i = 1; i <= n; i++) {
        int err = aioc_queue_put(shared, P(i));
        if (err)
            return P(err);
    }
    return NULL;
}

TASK_TEST_VIRTUAL(queue_put_waits_while_full) {
    shared = aioc_queue_new(AIOC_QUEUE_FIFO, 2, NULL);
    aioc_task p = aioc_spawn(producer, P(5));
    aioc_sleep(1);
    CHECK_EQ(aioc_queue_size(shared), 2); /* the producer waits: full */
    CHECK(!aioc_task_done(p));
    CHECK_ERR(aioc_queue_try_put(shared, P(99)), -EAGAIN);
    for (int i = 1; i <= 5; i++) {
        void *item;
        CHECK_ERR(aioc_queue_get(shared, &item), 0);
        CHECK_EQ(I(item), i); /* the waiting put went in, in order */
    }
    CHECK_ERR(aioc_await(p, NULL), 0);
    aioc_queue_free(shared, NULL, NULL);
    return NULL;
}

static void *getter(void *arg) {
    (void)arg;
    void *item = NULL;
    int err = aioc_queue_get(shared, &item);
    return err ? P(err) : item;
}

/* An item handed to a waiting getter stays with it even if the getter is
 * cancelled before it runs; a getter cancelled while waiting takes nothing. */
TASK_TEST_VIRTUAL(queue_get_cancel_races_lose_no_item) {
    shared = aioc_queue_new(AIOC_QUEUE_FIFO, 0, NULL);
    aioc_task a = aioc_spawn(getter, NULL), b = aioc_spawn(getter, NULL),
              c = aioc_spawn(getter, NULL);
    aioc_yield();
    aioc_cancel(a);                             /* waiting: leaves empty-handed */
    CHECK_ERR(aioc_queue_put(shared, P(7)), 0); /* handed to b */
    aioc_cancel(b);                             /* too late to lose it */
    CHECK_ERR(aioc_queue_put(shared, P(8)), 0); /* to c */
    CHECK_ERR(aioc_await(a, NULL), -ECANCELED);
    CHECK_ERR(aioc_await(b, NULL), -ECANCELED); /* cancelled, but it took 7: */
    void *r;
    CHECK_ERR(aioc_await(c, &r), 0);
    CHECK_EQ(I(r), 8); /* ...so c got 8, and nothing is left over */
    CHECK_EQ(aioc_queue_size(shared), 0);
    aioc_queue_free(shared, NULL, NULL);
    return NULL;
}

static void *put_one(void *arg) { return P(aioc_queue_put(shared, arg)); }

TASK_TEST_VIRTUAL(queue_put_cancel_keeps_the_item_out) {
    shared = aioc_queue_new(AIOC_QUEUE_FIFO, 1, NULL);
    CHECK_ERR(aioc_queue_put(shared, P(1)), 0);
    aioc_task a = aioc_spawn(put_one, P(2)), b = aioc_spawn(put_one, P(3));
    aioc_yield();
    aioc_cancel(a); /* waiting while full: its item never enters */
    void *item;
    CHECK_ERR(aioc_queue_get(shared, &item), 0);
    CHECK_EQ(I(item), 1);
    CHECK_ERR(aioc_queue_get(shared, &item), 0);
    CHECK_EQ(I(item), 3);
    void *r;
    CHECK_ERR(aioc_await(a, &r), -ECANCELED);
    CHECK_ERR(aioc_await(b, &r), 0);
    CHECK_EQ(aioc_queue_size(shared), 0);
    aioc_queue_free(shared, NULL, NULL);
    return NULL;
}

static int done_count;

static void *worker(void *arg) {
    (void)arg;
    void *item;
    while (aioc_queue_get(shared, &item) == 0) {
        aioc_sleep(0.1);
        done_count++;
        CHECK_ERR(aioc_queue_task_done(shared), 0);
    }
    return NULL;
}

TASK_TEST_VIRTUAL(queue_task_done_and_join) {
    done_count = 0;
    shared = aioc_queue_new(AIOC_QUEUE_FIFO, 0, NULL);
    CHECK_ERR(aioc_queue_join(shared), 0); /* nothing put: at once */
    aioc_task w[3];
    for (int i = 0; i < 3; i++)
        w[i] = aioc_spawn(worker, NULL);
    for (int i = 0; i < 30; i++)
        aioc_queue_put(shared, P(i));
    CHECK_ERR(aioc_queue_join(shared), 0);
    CHECK_EQ(done_count, 30);
    CHECK_ERR(aioc_queue_task_done(shared), -EINVAL); /* one too many */
    aioc_queue_shutdown(shared, 0, NULL, NULL);
    CHECK_ERR(aioc_gather(w, 3, NULL), 0); /* workers saw -ESHUTDOWN */
    aioc_queue_free(shared, NULL, NULL);
    return NULL;
}

static int dropped;
static void count_drop(void *item, void *data) {
    CHECK_EQ(I(data), 42);
    dropped += I(item);
}

TASK_TEST_VIRTUAL(queue_shutdown_graceful_and_immediate) {
    /* graceful: putters fail, getters drain, then fail */
    shared = aioc_queue_new(AIOC_QUEUE_FIFO, 2, NULL);
    aioc_queue_put(shared, P(1));
    aioc_queue_put(shared, P(2));
    aioc_task p = aioc_spawn(put_one, P(3));
    aioc_yield();
    aioc_queue_shutdown(shared, 0, count_drop, P(42));
    void *r, *item;
    CHECK_ERR(aioc_await(p, &r), 0);
    CHECK_ERR(I(r), -ESHUTDOWN); /* the waiting put failed; 3 is still its */
    CHECK_ERR(aioc_queue_put(shared, P(4)), -ESHUTDOWN);
    CHECK_ERR(aioc_queue_try_put(shared, P(4)), -ESHUTDOWN);
    CHECK_ERR(aioc_queue_get(shared, &item), 0);
    CHECK_EQ(I(item), 1);
    CHECK_ERR(aioc_queue_try_get(shared, &item), 0);
    CHECK_EQ(I(item), 2);
    CHECK_ERR(aioc_queue_get(shared, &item), -ESHUTDOWN);
    CHECK_EQ(dropped, 0);
    aioc_queue_free(shared, NULL, NULL);

    /* immediate: items dropped, waiting getters and joiners released */
    dropped = 0;
    shared = aioc_queue_new(AIOC_QUEUE_LIFO, 0, NULL);
    aioc_task g = aioc_spawn(getter, NULL);
    aioc_yield();
    aioc_queue_put(shared, P(0)); /* goes to g */
    aioc_queue_put(shared, P(10));
    aioc_queue_put(shared, P(20));
    aioc_task g2 = aioc_spawn(getter, NULL); /* will take 20 */
    aioc_task g3 = aioc_spawn(getter, NULL); /* will take 10 */
    aioc_task g4 = aioc_spawn(getter, NULL); /* waits */
    aioc_yield();
    aioc_queue_put(shared, P(30)); /* to g4 */
    aioc_queue_put(shared, P(40));
    aioc_queue_put(shared, P(50));
    aioc_queue_shutdown(shared, 1, count_drop, P(42));
    CHECK_EQ(dropped, 90);
    CHECK_EQ(aioc_queue_size(shared), 0);
    aioc_task g5 = aioc_spawn(getter, NULL);
    void *rs[5];
    aioc_task gs[5] = {g, g2, g3, g4, g5};
    CHECK_ERR(aioc_gather(gs, 5, rs), 0);
    CHECK_EQ(I(rs[0]), 0);
    CHECK_EQ(I(rs[1]), 20);
    CHECK_EQ(I(rs[2]), 10);
    CHECK_EQ(I(rs[3]), 30);
    CHECK_ERR(I(rs[4]), -ESHUTDOWN);
    aioc_queue_free(shared, NULL, NULL);
    return NULL;
}

TASK_TEST_VIRTUAL(queue_free_drops_items_and_refuses_while_waited) {
    dropped = 0;
    shared = aioc_queue_new(AIOC_QUEUE_FIFO, 0, NULL);
    aioc_task g = aioc_spawn(getter, NULL);
    aioc_yield();
    CHECK_ERR(aioc_queue_free(shared, NULL, NULL), -EBUSY);
    aioc_cancel(g);
    aioc_await(g, NULL);
    aioc_queue_try_put(shared, P(5));
    aioc_queue_try_put(shared, P(6));
    CHECK_ERR(aioc_queue_free(shared, count_drop, P(42)), 0);
    CHECK_EQ(dropped, 11);
    return NULL;
}

/* Many producers and consumers, small and large bounds, several seeded
 * schedules: every item arrives exactly once. */
enum { PRODUCERS = 8, CONSUMERS = 8, PER_PRODUCER = 2000 };
static unsigned char seen[PRODUCERS * PER_PRODUCER];

static void *stress_producer(void *arg) {
    int base = I(arg) * PER_PRODUCER;
    for (int i = 0; i < PER_PRODUCER; i++)
        CHECK_ERR(aioc_queue_put(shared, P(base + i + 1)), 0);
    return NULL;
}

static void *stress_consumer(void *arg) {
    (void)arg;
    void *item;
    long n = 0;
    while (aioc_queue_get(shared, &item) == 0) {
        int v = I(item) - 1;
        CHECK(v >= 0 && v < PRODUCERS * PER_PRODUCER);
        CHECK_EQ(seen[v], 0);
        seen[v] = 1;
        n++;
        if (v % 7 == 0)
            aioc_yield();
    }
    return P(n);
}

static void *stress(void *arg) {
    size_t maxsize = (size_t)(uintptr_t)arg;
    memset(seen, 0, sizeof seen);
    shared = aioc_queue_new(AIOC_QUEUE_FIFO, maxsize, NULL);
    aioc_task p[PRODUCERS], c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        c[i] = aioc_spawn(stress_consumer, NULL);
    for (int i = 0; i < PRODUCERS; i++)
        p[i] = aioc_spawn(stress_producer, P(i));
    CHECK_ERR(aioc_gather(p, PRODUCERS, NULL), 0);
    aioc_queue_shutdown(shared, 0, NULL, NULL);
    void *n[CONSUMERS];
    CHECK_ERR(aioc_gather(c, CONSUMERS, n), 0);
    long total = 0;
    for (int i = 0; i < CONSUMERS; i++)
        total += (long)(intptr_t)n[i];
    CHECK_EQ(total, PRODUCERS * PER_PRODUCER);
    for (int i = 0; i < PRODUCERS * PER_PRODUCER; i++)
        CHECK_EQ(seen[i], 1);
    aioc_queue_free(shared, NULL, NULL);
    return NULL;
}

TEST(queue_many_producers_consumers_seeded) {
    size_t bounds[] = {1, 7, 1024, 0};
    for (uint64_t seed = 1; seed <= 5; seed++) {
        for (size_t b = 0; b < 4; b++) {
            aioc_run_opts o = {.virtual_time = 1, .seed = seed * 7919};
            CHECK_ERR(aioc_run_with(stress, (void *)(uintptr_t)bounds[b], NULL, &o), 0);
        }
    }
}

TEST(queue_try_ops_outside_tasks) {
    aioc_queue *q = aioc_queue_new(AIOC_QUEUE_FIFO, 1, NULL);
    CHECK_ERR(aioc_queue_try_put(q, P(1)), 0);
    CHECK_ERR(aioc_queue_try_put(q, P(2)), -EAGAIN);
    void *item;
    CHECK_ERR(aioc_queue_get(q, &item), AIOC_ENOTASK);
    CHECK_ERR(aioc_queue_try_get(q, &item), 0);
    CHECK_EQ(I(item), 1);
    CHECK_ERR(aioc_queue_free(q, NULL, NULL), 0);
}
