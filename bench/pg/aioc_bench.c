/* aioc_pg on one connection: TASKS tasks, each running `SELECT $1::int4`
 * (a text parameter, the answer checked) one after the other until
 * SECONDS have passed; the tasks' queries are pipelined by aioc_pg.
 *   aioc_bench CONNINFO SECONDS TASKS [prepare]
 * Prints one line: RESULT name=aioc-TASKS queries=N seconds=S qps=Q
 * cpu_us=C (this process's user+system CPU per query, in µs). */
#define _GNU_SOURCE
#include <aioc.h>
#include <aioc_pg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static aioc_pg_conn *conn;
static double end;
static long done;
static int prepare;

static void *worker(void *arg) {
    long i = (long)(intptr_t)arg * 1000;
    aioc_pg_params p = {.n = 1, .prepare = prepare};
    while (aioc_now() < end) {
        char v[24];
        snprintf(v, sizeof v, "%ld", i % 1000000);
        const char *args[] = {v};
        p.values = args;
        PGresult *r;
        int err = aioc_pg_exec(conn, "SELECT $1::int4", &p, &r);
        if (err || atol(PQgetvalue(r, 0, 0)) != i % 1000000) {
            fprintf(stderr, "aioc_bench: %s\n", aioc_pg_strerror(err));
            exit(1);
        }
        PQclear(r);
        done++;
        i++;
    }
    return NULL;
}

static double cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
           (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

static char **args;

static void *main_task(void *arg) {
    (void)arg;
    char msg[256];
    int err;
    if (!(conn = aioc_pg_connect(args[1], msg, sizeof msg, &err))) {
        fprintf(stderr, "aioc_bench: %s: %s\n", aioc_pg_strerror(err), msg);
        return aioc_fail(err);
    }
    int n = atoi(args[3]);
    aioc_task *t = calloc((size_t)n, sizeof *t);
    double t0 = aioc_now(), c0 = cpu();
    end = t0 + atof(args[2]);
    for (int i = 0; i < n; i++)
        t[i] = aioc_spawn(worker, (void *)(intptr_t)i);
    err = aioc_gather(t, (size_t)n, NULL);
    double secs = aioc_now() - t0, u = cpu() - c0;
    printf("RESULT name=aioc-%d%s queries=%ld seconds=%.3f qps=%.0f cpu_us=%.2f\n", n,
           prepare ? "-prepared" : "", done, secs, (double)done / secs, u * 1e6 / (double)done);
    free(t);
    aioc_pg_close(conn);
    return err ? aioc_fail(err) : NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: aioc_bench CONNINFO SECONDS TASKS [prepare]\n");
        return 2;
    }
    args = argv;
    prepare = argc > 4 && !strcmp(argv[4], "prepare");
    return aioc_run(main_task, NULL, NULL) ? 1 : 0;
}
