/* The aioc side of bench/redis: TASKS tasks share one aioc_redis
 * connection and GET one key until REQUESTS GETs are done (each task
 * sends its next GET as soon as its reply is in: the connection pipelines
 * what the tasks have out). Prints
 *   RESULT impl=aioc requests=N seconds=S rps=R cpu_us_per_req=C
 * (the client's own CPU time, user + system, from getrusage).
 *   get_aioc ADDR [TASKS=50] [REQUESTS=1000000] */
#include <aioc.h>
#include <aioc_redis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char *addr;
static long tasks = 50, requests = 1000000, left, bad;
static aioc_redis *conn;

static void *getter(void *arg) {
    (void)arg;
    const char *argv[2] = {"GET", "bench:key"};
    size_t lens[2] = {3, 9};
    while (left > 0) {
        left--;
        redisReply *reply;
        int err = aioc_redis_command_argv(conn, 2, argv, lens, &reply);
        if (err || reply->type != REDIS_REPLY_STRING || reply->len != 3)
            bad++;
        aioc_redis_reply_free(reply);
    }
    return NULL;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void *main_task(void *arg) {
    (void)arg;
    int err;
    if (!(conn = aioc_redis_connect(addr, NULL, &err))) {
        fprintf(stderr, "get_aioc: %s: %s\n", addr, aioc_redis_strerror(err));
        return aioc_fail(err);
    }
    aioc_redis_command(conn, NULL, "SET bench:key xyz");
    left = requests;
    aioc_task *t = malloc((size_t)tasks * sizeof *t);
    double cpu0 = cpu_seconds(), t0 = aioc_now();
    for (long i = 0; i < tasks; i++)
        t[i] = aioc_spawn(getter, NULL);
    aioc_gather(t, (size_t)tasks, NULL);
    double secs = aioc_now() - t0, cpu = cpu_seconds() - cpu0;
    free(t);
    aioc_redis_close(conn);
    if (bad) {
        fprintf(stderr, "get_aioc: %ld wrong replies\n", bad);
        return aioc_fail(-1);
    }
    printf("RESULT impl=aioc requests=%ld seconds=%.3f rps=%.0f cpu_us_per_req=%.3f\n", requests,
           secs, (double)requests / secs, cpu * 1e6 / (double)requests);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: get_aioc ADDR [TASKS] [REQUESTS]\n");
        return 2;
    }
    addr = argv[1];
    if (argc > 2)
        tasks = atol(argv[2]);
    if (argc > 3)
        requests = atol(argv[3]);
    return aioc_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
