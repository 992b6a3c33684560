/* aioc_pg's internals shared by its files (pg.c: connecting; pipe.c: the
 * pipeline, its reader and requests; pool.c; copy.c; result.c). */
#ifndef AIOC_PG_INTERNAL_H
#define AIOC_PG_INTERNAL_H

#include "aioc_pg.h"

/* A query sent and not yet answered (see pipe.c). */
typedef struct pg_req {
    struct pg_req *next;
    PGresult *res; /* the answer: the last result, or the first error */
    int err;       /* 0, or an error for the whole request */
    int parts;     /* statements whose end (a NULL result) is still due */
    int seg_end;   /* a Sync follows it: the last query of its batch */
    int done;      /* its batch's Sync came (or the connection broke) */
    int abandoned; /* its task gave up: drop the answer */
    int internal;  /* sent for the connection's own sake (never cancelled) */
    int cancel_sent;
    int replied;              /* a reply to it has been read: the server is done */
    int err_part;             /* `parts` when the first error came */
    int prepares;             /* it prepares statement `stmt` first (parts 2) */
    char stmt[24];            /* the cached statement it runs, if any */
    int retries;              /* times it was sent again (see pipe.c) */
    unsigned cancels_at_send; /* the connection's `cancels` when it was sent */
    /* the caller's query, valid while it waits (not once abandoned): a
     * query of a failed batch is sent again from them */
    const char *sql;
    const aioc_pg_params *params;
    aioc_event ev;
} pg_req;

/* The most statements a connection's cache keeps (see aioc_pg_params). */
#define AIOC_PG_STMT_CACHE_MAX 256

/* A prepared statement of the cache, by SQL text. */
typedef struct pg_stmt {
    struct pg_stmt *next;
    char *sql;
    char name[24];
} pg_stmt;

struct aioc_pg_conn {
    PGconn *pg;
    int pgfd;   /* libpq's socket, as last seen */
    int wfd;    /* our duplicate of it, which we wait on */
    int broken; /* unusable: every request fails */
    int closing;
    int exclusive;       /* a COPY runs: the reader keeps off */
    pg_req *head, *tail; /* sent, not answered: head's batch is the oldest */
    pg_req *cur;         /* the first whose results have not all come */
    size_t in_flight;
    int unsynced;     /* queries sent since the last Sync (the open batch) */
    unsigned cancels; /* cancel requests sent so far */
    aioc_task reader, flusher;
    aioc_event work;  /* set when the reader has something to read */
    aioc_event flush; /* set when a batch awaits its Sync, or libpq holds
                       * output it could not send */
    aioc_event idle;  /* set while nothing is in flight */
    aioc_event probe; /* always set: waiting on it checks for a cancellation */
    /* set unless a query cancelled on the server has not answered yet:
     * new queries wait for it, so the server's cancel cannot hit them */
    aioc_event settled;
    int listening;
    aioc_queue *notifies; /* PGnotify * that arrived, in order */
    pg_stmt *stmts;       /* most recently used first */
    unsigned nstmts;      /* statements named so far (aioc_1, aioc_2...) */
    unsigned ncached;
    double last_used; /* aioc_now() of the last completed request */
    /* the pool's bookkeeping */
    struct aioc_pg_pool *pool;
    int lent;
};

int pg__conn_start(aioc_pg_conn *c);
void pg__conn_stop(aioc_pg_conn *c);
void pg__fail_all(aioc_pg_conn *c, int err);
void pg__stmt_cache_free(aioc_pg_conn *c);
/* waits until nothing is in flight on `c` */
int pg__wait_idle(aioc_pg_conn *c);
/* a zero-timeout look at an idle connection: 0, or AIOC_PG_EBROKEN */
int pg__check_idle(aioc_pg_conn *c);

#endif
