/* A counter shared by several loops, by message passing, not locks.
 *
 *     loops [--loops N]     N loops (default 4, at least 2; "auto": one per CPU)
 *
 * aioc_run_opts.loops runs main once per loop, each loop in a thread of
 * its own. Loop 0 owns a table of hit counts: only loop 0's thread ever
 * touches it, so it needs no lock. The other loops record hits by queuing
 * a call on loop 0 (aioc_loop_call(aioc_loop_at(0), ...)), and ask
 * questions the same way: the question carries who asked, and loop 0
 * answers with a call back on the asker's loop, which wakes the asking
 * task. Calls from one loop run on the other in the order they were made,
 * so when loop 0 answers a loop's question, it has counted every hit that
 * loop recorded before asking.
 *
 * Each worker loop records HITS hits spread over KEYS keys, asks loop 0
 * how many of its hits it has, checks the answer, and says it is done;
 * loop 0 then prints the table. */
#include <aioc.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KEYS = 5, HITS = 1000 };

/* ------------------------------------------------- owned by loop 0 -- */

static long counts[KEYS];              /* hits per key */
static long hits_from[AIOC_LOOPS_MAX]; /* hits per recording loop */
static unsigned workers_done;
static aioc_event all_done = AIOC_EVENT_INIT;

/* A hit message: which loop recorded it and for which key, in the pointer
 * itself, so that nothing is allocated per message. */
static void *hit_message(unsigned loop, unsigned key) {
    return (void *)(uintptr_t)(loop * KEYS + key);
}

static void count_hit(void *msg) { /* runs on loop 0 */
    uintptr_t m = (uintptr_t)msg;
    counts[m % KEYS]++;
    hits_from[m / KEYS]++;
}

static void worker_done(void *arg) { /* runs on loop 0 */
    (void)arg;
    if (++workers_done == aioc_loop_count() - 1)
        aioc_event_set(&all_done);
}

/* --------------------------------------------- a question and its answer -- */

/* One per worker loop, for the program's whole life: a question may be
 * answered after its asker was cancelled (Ctrl-C), so it must not live on
 * the asker's stack. */
static struct question {
    unsigned asker;      /* the asking loop's index */
    long answer;         /* set by loop 0 */
    aioc_event answered; /* the asker's: set on the asker's loop */
} questions[AIOC_LOOPS_MAX];

static void answer_arrives(void *arg) { /* runs on the asking loop */
    struct question *q = arg;
    aioc_event_set(&q->answered);
}

static void answer_question(void *arg) { /* runs on loop 0 */
    struct question *q = arg;
    q->answer = hits_from[q->asker];
    aioc_loop_call(aioc_loop_at(q->asker), answer_arrives, q);
}

/* ------------------------------------------------------------- loops -- */

static void *worker(unsigned me) {
    aioc_loop *owner = aioc_loop_at(0);
    for (unsigned i = 0; i < HITS; i++) {
        int err = aioc_loop_call(owner, count_hit, hit_message(me, (i * 7 + me) % KEYS));
        if (err)
            return aioc_fail(err);
        if (i % 100 == 99)
            aioc_yield(); /* a real worker would serve requests in between */
    }
    struct question *q = &questions[me];
    q->asker = me;
    aioc_loop_call(owner, answer_question, q);
    int err = aioc_event_wait(&q->answered);
    if (err)
        return aioc_fail(err);
    if (q->answer != HITS) {
        fprintf(stderr, "loop %u: loop 0 counted %ld of my %d hits\n", me, q->answer, HITS);
        return aioc_fail(-EPROTO);
    }
    aioc_loop_call(owner, worker_done, NULL);
    return NULL;
}

static void *run_loop(void *arg) {
    (void)arg;
    unsigned me = aioc_loop_index();
    if (me != 0)
        return worker(me);
    if (aioc_loop_count() < 2) { /* "auto" on a single CPU */
        fprintf(stderr, "loops: needs at least 2 loops\n");
        return aioc_fail(-EINVAL);
    }
    int err = aioc_event_wait(&all_done); /* the workers' calls wake us */
    if (err)
        return aioc_fail(err);
    unsigned n = aioc_loop_count();
    printf("%u loops: loop 0 owns the counts, loops 1-%u record %d hits each\n", n, n - 1, HITS);
    long total = 0;
    for (unsigned k = 0; k < KEYS; k++) {
        printf("key %u: %ld\n", k, counts[k]);
        total += counts[k];
    }
    printf("total: %ld\n", total);
    return NULL;
}

int main(int argc, char **argv) {
    aioc_run_opts opts = {.loops = 4};
    if (argc == 3 && strcmp(argv[1], "--loops") == 0)
        opts.loops = strcmp(argv[2], "auto") == 0 ? AIOC_LOOPS_AUTO : (unsigned)atoi(argv[2]);
    else if (argc != 1)
        opts.loops = 0;
    if (opts.loops < 2 || (opts.loops > AIOC_LOOPS_MAX && opts.loops != AIOC_LOOPS_AUTO)) {
        fprintf(stderr, "usage: loops [--loops N] (N from 2 to %u)\n", AIOC_LOOPS_MAX);
        return 2;
    }
    for (unsigned i = 0; i < AIOC_LOOPS_MAX; i++)
        aioc_event_init(&questions[i].answered);
    int status = aioc_run_with(run_loop, NULL, NULL, &opts);
    if (status)
        fprintf(stderr, "loops: %s\n", aioc_strerror(status));
    return status ? 1 : 0;
}
