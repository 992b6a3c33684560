/* queue_throughput (aioc): N items through one bounded FIFO queue, from P
 * producer tasks to C consumer tasks, each producer putting its share
 * (N / P, the first N % P one more). Once every producer has finished the
 * queue is shut down gracefully, so the consumers drain what is left and
 * then get -ESHUTDOWN: no sentinel items to count.
 *
 *   queue_throughput_aioc [N] [CASE]
 *
 * CASE is PxC_maxM (e.g. 8x8_max1024) and gives the RESULT line its name,
 * queue_PxC_maxM. Without it the four standard cases run one after the
 * other, one RESULT line each (run.sh passes the case, one run each). The
 * figure is ns per item from the first spawn to the last consumer's end. */
#include "bench_aioc.h" /* first: it sets _GNU_SOURCE */

#include <errno.h>

static const char *const cases[] = {"1x1_max1", "1x1_max1024", "8x8_max1", "8x8_max1024"};

typedef struct producer {
    aioc_queue *q;
    size_t first, count; /* puts the items first+1 .. first+count */
} producer;

typedef struct consumer {
    aioc_queue *q;
    uint64_t count, sum; /* what it got, checked at the end */
} consumer;

static void *produce(void *arg) {
    producer *p = arg;
    for (size_t i = p->first + 1; i <= p->first + p->count; i++) {
        int err = aioc_queue_put(p->q, (void *)(uintptr_t)i);
        if (err)
            return aioc_fail(err);
    }
    return NULL;
}

static void *consume(void *arg) {
    consumer *c = arg;
    for (;;) {
        void *item;
        int err = aioc_queue_get(c->q, &item);
        if (err == -ESHUTDOWN)
            return NULL; /* shut down and drained: every item is taken */
        if (err)
            return aioc_fail(err);
        c->count++;
        c->sum += (uintptr_t)item;
    }
}

static void one_case(size_t n, const char *name) {
    unsigned np, nc;
    size_t maxsize;
    char tail;
    if (sscanf(name, "%ux%u_max%zu%c", &np, &nc, &maxsize, &tail) != 3 || np == 0 || nc == 0 ||
        maxsize == 0)
        bench_fail("case must look like 8x8_max1024");
    aioc_queue *q = aioc_queue_new(AIOC_QUEUE_FIFO, maxsize, NULL);
    producer *ps = calloc(np, sizeof *ps);
    consumer *cs = calloc(nc, sizeof *cs);
    aioc_task *pt = calloc(np, sizeof *pt), *ct = calloc(nc, sizeof *ct);
    if (!q || !ps || !cs || !pt || !ct)
        bench_fail("out of memory");
    for (size_t i = 0, first = 0; i < np; i++) {
        ps[i] = (producer){q, first, n / np + (i < n % np)};
        first += ps[i].count;
    }
    for (size_t i = 0; i < nc; i++)
        cs[i].q = q;

    uint64_t t0 = bench_now_ns();
    for (size_t i = 0; i < nc; i++)
        ct[i] = aioc_spawn(consume, &cs[i]);
    for (size_t i = 0; i < np; i++)
        pt[i] = aioc_spawn(produce, &ps[i]);
    int err = aioc_gather(pt, np, NULL);
    /* every put has returned: whatever is in the queue is all that is left */
    aioc_queue_shutdown(q, 0, NULL, NULL);
    int cerr = aioc_gather(ct, nc, NULL);
    uint64_t t1 = bench_now_ns();
    if (err || cerr)
        bench_fail(aioc_strerror(err ? err : cerr));

    uint64_t count = 0, sum = 0;
    for (size_t i = 0; i < nc; i++) {
        count += cs[i].count;
        sum += cs[i].sum;
    }
    if (count != n || sum != (uint64_t)n * (n + 1) / 2)
        bench_fail("wrong item count or sum");
    double ns = (double)(t1 - t0);
    printf("RESULT name=queue_%s impl=aioc n=%zu producers=%u consumers=%u maxsize=%zu "
           "ns_per_op=%.1f items_per_s=%.0f wall_s=%.3f\n",
           name, n, np, nc, maxsize, ns / (double)n, (double)n * 1e9 / ns, ns / 1e9);
    fflush(stdout);
    if (aioc_queue_free(q, NULL, NULL))
        bench_fail("queue still busy");
    free(ps);
    free(cs);
    free(pt);
    free(ct);
}

static const char *only; /* the case from the command line, or NULL */

static void *run(void *arg) {
    size_t n = (size_t)arg;
    if (only)
        one_case(n, only);
    else
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
            one_case(n, cases[i]);
    return NULL;
}

int main(int argc, char **argv) {
    only = argc > 2 ? argv[2] : NULL;
    return bench_aioc_main(argc, argv, 1000000, run);
}
