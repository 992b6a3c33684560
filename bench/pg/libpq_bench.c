/* The baselines for bench/pg: plain libpq on one connection, no aioc.
 *   libpq_bench rt CONNINFO SECONDS          one query per round trip
 *                                            (PQexecParams)
 *   libpq_bench pipeline CONNINFO SECONDS D  pipeline mode, D queries in
 *                                            flight, a Sync after each (what
 *                                            aioc_pg does: each query its
 *                                            own transaction)
 *   libpq_bench batch CONNINFO SECONDS D     pipeline mode, batches of D
 *                                            queries and one Sync per batch
 *                                            (libpq's best case: one
 *                                            transaction per batch)
 * Every query is `SELECT $1::int4` with a text parameter; each answer is
 * checked. Prints one line: RESULT name=... queries=N seconds=S qps=Q
 * cpu_us=C (this process's user+system CPU per query, in µs). */
#define _GNU_SOURCE
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
           (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

static void die(PGconn *c, const char *what) {
    fprintf(stderr, "libpq_bench: %s: %s", what, PQerrorMessage(c));
    exit(1);
}

static void send_one(PGconn *c, long i) {
    char v[24];
    snprintf(v, sizeof v, "%ld", i % 1000000);
    const char *args[] = {v};
    if (!PQsendQueryParams(c, "SELECT $1::int4", 1, NULL, args, NULL, NULL, 0))
        die(c, "send");
}

static void check(PGconn *c, PGresult *r, long i) {
    if (PQresultStatus(r) != PGRES_TUPLES_OK || atol(PQgetvalue(r, 0, 0)) != i % 1000000)
        die(c, "wrong answer");
}

static void wait_in(PGconn *c) {
    struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
    if (PQflush(c) == 1)
        p.events |= POLLOUT;
    poll(&p, 1, -1);
    if (!PQconsumeInput(c))
        die(c, "read");
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: libpq_bench rt|pipeline|batch CONNINFO SECONDS [DEPTH]\n");
        return 2;
    }
    const char *mode = argv[1];
    double secs = atof(argv[3]);
    long depth = argc > 4 ? atol(argv[4]) : 100;
    PGconn *c = PQconnectdb(argv[2]);
    if (PQstatus(c) != CONNECTION_OK)
        die(c, "connect");
    long done = 0;
    double t0 = now(), c0 = cpu(), end = t0 + secs;
    if (!strcmp(mode, "rt")) {
        while (done % 256 || now() < end) {
            char v[24];
            snprintf(v, sizeof v, "%ld", done % 1000000);
            const char *args[] = {v};
            PGresult *r = PQexecParams(c, "SELECT $1::int4", 1, NULL, args, NULL, NULL, 0);
            check(c, r, done);
            PQclear(r);
            done++;
        }
    } else if (!strcmp(mode, "pipeline")) {
        PQsetnonblocking(c, 1);
        PQenterPipelineMode(c);
        long sent = 0;
        int stop = 0;
        for (; sent < depth; sent++) {
            send_one(c, sent);
            PQpipelineSync(c);
        }
        while (done < sent) {
            wait_in(c);
            while (done < sent && !PQisBusy(c)) {
                PGresult *r = PQgetResult(c);
                if (!r)
                    continue;
                ExecStatusType s = PQresultStatus(r);
                if (s == PGRES_PIPELINE_SYNC) {
                    done++;
                    if (!stop && !(done % 256) && now() >= end)
                        stop = 1;
                    if (!stop) {
                        send_one(c, sent++);
                        PQpipelineSync(c);
                    }
                } else {
                    check(c, r, done);
                }
                PQclear(r);
            }
        }
    } else if (!strcmp(mode, "batch")) {
        PQsetnonblocking(c, 1);
        PQenterPipelineMode(c);
        while (now() < end) {
            for (long i = 0; i < depth; i++)
                send_one(c, done + i);
            PQpipelineSync(c);
            long got = 0;
            int synced = 0;
            while (!synced) {
                wait_in(c);
                while (!synced && !PQisBusy(c)) {
                    PGresult *r = PQgetResult(c);
                    if (!r)
                        continue;
                    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC)
                        synced = 1;
                    else
                        check(c, r, done + got++);
                    PQclear(r);
                }
            }
            done += got;
        }
    } else {
        fprintf(stderr, "libpq_bench: unknown mode %s\n", mode);
        return 2;
    }
    double t = now() - t0, u = cpu() - c0;
    printf("RESULT name=libpq-%s queries=%ld seconds=%.3f qps=%.0f cpu_us=%.2f\n", mode, done, t,
           (double)done / t, u * 1e6 / (double)done);
    PQfinish(c);
    return 0;
}
