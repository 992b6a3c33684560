/* Which store --db names, and the cache --cache puts in front (see store.h). */
#include "store.h"

#include <stdio.h>
#include <string.h>

int store_is_pg(const char *db) {
    static const char *const starts[] = {"postgres://", "postgresql://", "host=", "hostaddr=",
                                         "dbname=",     "user=",         "port=", "service="};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
        if (!strncmp(db, starts[i], strlen(starts[i])))
            return 1;
    return 0;
}

int store_open(const char *db, double delay, store **out, char *msg, size_t n) {
    if (!store_is_pg(db))
        return store_sqlite_open(db, delay, out, msg, n);
#ifdef BACKEND_WITH_PG
    return store_pg_open(db, delay, out, msg, n);
#else
    snprintf(msg, n,
             "%s: this backend was built without PostgreSQL (the aioc_pg adapter needs libpq: "
             "Debian's libpq-dev); use --db FILE for SQLite",
             db);
    return STORE_EDB;
#endif
}

int store_cache(const char *addr, store **s, char *msg, size_t n) {
#ifdef BACKEND_WITH_REDIS
    return store_cache_open(addr, s, msg, n);
#else
    (void)s;
    snprintf(msg, n,
             "--cache %s: this backend was built without Redis (the aioc_redis adapter needs "
             "hiredis: Debian's libhiredis-dev)",
             addr);
    return STORE_EDB;
#endif
}
