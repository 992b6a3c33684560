/* An outside program on the installed aioc_pg (scripts/test-install.sh
 * builds it with pkg-config and with CMake): with a conninfo argument (the
 * script starts a throwaway server), ten tasks query it at once on one
 * pool and check their answers, and a query the server refuses must give
 * its SQLSTATE; with none, a connection to a socket directory that does not exist must
 * give
 * AIOC_PG_ECONNECT. Prints one line and exits 0, or says what failed and
 * exits 1. */
#include <aioc.h>
#include <aioc_pg.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static aioc_pg_pool *pool;

static void *ask(void *arg) {
    char v[16];
    snprintf(v, sizeof v, "%d", (int)(intptr_t)arg);
    const char *args[] = {v};
    PGresult *r;
    int err = aioc_pg_pool_query(pool, "SELECT $1::int4 * 3", 1, args, &r);
    int64_t got = -1;
    if (!err)
        err = aioc_pg_int(r, 0, 0, &got);
    PQclear(r);
    if (!err && got != 3 * (intptr_t)arg)
        err = -EPROTO;
    return err ? aioc_fail(err) : NULL;
}

static void *main_task(void *conninfo) {
    if (!conninfo) {
        char msg[256];
        int err;
        aioc_pg_conn *c = aioc_pg_connect("host=/nonexistent", msg, sizeof msg, &err);
        if (c || err != AIOC_PG_ECONNECT) {
            fprintf(stderr, "use_pg: host=/nonexistent: %s\n", aioc_pg_strerror(err));
            return aioc_fail(-EPROTO);
        }
        printf("a refused connection: %s\n", msg);
        return NULL;
    }
    pool = aioc_pg_pool_new(conninfo, NULL);
    aioc_task t[10];
    for (int i = 0; i < 10; i++)
        t[i] = aioc_spawn(ask, (void *)(intptr_t)i);
    int err = aioc_gather(t, 10, NULL);
    PGresult *r = NULL;
    int bad = err ? err : aioc_pg_pool_query(pool, "SELECT 1 / 0", 0, NULL, &r);
    const char *state = aioc_pg_sqlstate(r);
    if (!err && (bad != AIOC_PG_ESERVER || !state || strcmp(state, "22012")))
        err = -EPROTO;
    PQclear(r);
    aioc_pg_pool_free(pool);
    if (err) {
        fprintf(stderr, "use_pg: %s\n", aioc_pg_strerror(err));
        return aioc_fail(err);
    }
    printf("10 queries at once answered; 1 / 0 gave SQLSTATE 22012\n");
    return NULL;
}

int main(int argc, char **argv) {
    return aioc_run(main_task, argc > 1 ? argv[1] : NULL, NULL) ? 1 : 0;
}
