/* A load for the timeline check (check_trace.sh many): two threads, a loop
 * each, where two named tasks hand a token back and forth through queues
 * 3,000 times. With AIOC_TRACE_BUFFER=1000 that is twelve buffers of records
 * a loop, so the spill file is used, and two loop threads write into one
 * trace file. */
#include <aioc.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#define ROUNDS 3000

typedef struct pair {
    aioc_queue *ping, *pong;
} pair;

static void *ponger(void *arg) {
    pair *p = arg;
    aioc_queue *ping = p->ping, *pong = p->pong;
    for (int i = 0; i < ROUNDS; i++) {
        void *token;
        if (aioc_queue_get(pong, &token) || aioc_queue_put(ping, token))
            return aioc_fail(-EIO);
    }
    return NULL;
}

static void *pinger(void *arg) {
    (void)arg;
    aioc_queue *ping = aioc_queue_new(AIOC_QUEUE_FIFO, 1, NULL);
    aioc_queue *pong = aioc_queue_new(AIOC_QUEUE_FIFO, 1, NULL);
    if (!ping || !pong)
        return aioc_fail(-ENOMEM);
    pair p = {ping, pong};
    aioc_spawn_opts so = {.name = "ponger"};
    aioc_task t = aioc_spawn_with(ponger, &p, &so);
    for (int i = 0; i < ROUNDS; i++) {
        void *token;
        if (aioc_queue_put(pong, (void *)(intptr_t)i) || aioc_queue_get(ping, &token))
            return aioc_fail(-EIO);
    }
    int err = aioc_await(t, NULL);
    aioc_queue_free(ping, NULL, NULL);
    aioc_queue_free(pong, NULL, NULL);
    return err ? aioc_fail(err) : NULL;
}

static void *loop_thread(void *arg) {
    (void)arg;
    aioc_run_opts opts = {.main_name = "pinger"};
    return (void *)(intptr_t)aioc_run_with(pinger, NULL, NULL, &opts);
}

int main(void) {
    pthread_t other;
    if (pthread_create(&other, NULL, loop_thread, NULL))
        return 1;
    void *mine = loop_thread(NULL), *theirs;
    pthread_join(other, &theirs);
    if (mine || theirs) {
        fprintf(stderr, "trace_load: a loop failed\n");
        return 1;
    }
    puts("done");
    return 0;
}
