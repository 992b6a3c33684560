/* A pool of pipelined connections. Queries go to the least busy
 * connection that is not lent out; a new one is made while the pool is
 * under its maximum and every connection has queries in flight. A
 * connection found broken is dropped (and closed by a small task of its
 * own), so a server that restarts costs the queries in flight then, and
 * the next ones connect again. A connection idle for a second is looked at
 * (a zero-timeout poll of its socket) before it is used again. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

#define IDLE_CHECK_AFTER 1.0 /* seconds idle after which a connection is checked */

/* A connection being closed by a task of its own. */
typedef struct closing {
    struct closing *next;
    aioc_pg_pool *pool;
    aioc_pg_conn *c;
    aioc_task task;
} closing;

struct aioc_pg_pool {
    char *conninfo;
    unsigned max;
    aioc_pg_conn **conns;
    unsigned n, connecting;
    aioc_event changed; /* set (and cleared) when a connection comes or goes */
    closing *closings;  /* awaited by aioc_pg_pool_free */
};

aioc_pg_pool *aioc_pg_pool_new(const char *conninfo, const aioc_pg_pool_opts *opts) {
    aioc_pg_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->max = opts && opts->max_size ? opts->max_size : 10;
    p->conninfo = strdup(conninfo ? conninfo : "");
    p->conns = calloc(p->max, sizeof *p->conns);
    if (!p->conninfo || !p->conns) {
        free(p->conninfo);
        free(p->conns);
        free(p);
        errno = ENOMEM;
        return NULL;
    }
    aioc_event_init(&p->changed);
    return p;
}

unsigned aioc_pg_pool_size(const aioc_pg_pool *p) { return p ? p->n : 0; }

static void changed(aioc_pg_pool *p) {
    aioc_event_set(&p->changed);   /* wakes every waiter... */
    aioc_event_clear(&p->changed); /* ...and later ones wait for the next */
}

static void *close_main(void *arg) {
    closing *k = arg;
    aioc_pg_close(k->c);
    k->c = NULL;
    return NULL;
}

/* Closes `c` in a task of its own: the caller does not wait, and
 * aioc_pg_pool_free waits for every such task. */
static void close_later(aioc_pg_pool *p, aioc_pg_conn *c) {
    c->pool = NULL;
    /* what earlier closes left behind */
    for (closing **pp = &p->closings; *pp;) {
        closing *k = *pp;
        if (!k->c && aioc_task_done(k->task)) {
            aioc_await(k->task, NULL); /* ended: does not suspend */
            *pp = k->next;
            free(k);
        } else {
            pp = &k->next;
        }
    }
    closing *k = calloc(1, sizeof *k);
    if (k) {
        k->pool = p;
        k->c = c;
        aioc_spawn_opts o = {.name = "pg-close"};
        k->task = aioc_spawn_with(close_main, k, &o);
        if (!aioc_task_error(k->task)) {
            k->next = p->closings;
            p->closings = k;
            return;
        }
        free(k);
    }
    aioc_pg_close(c); /* in the caller, then */
}

static void drop(aioc_pg_pool *p, unsigned i) {
    aioc_pg_conn *c = p->conns[i];
    p->conns[i] = p->conns[--p->n];
    p->conns[p->n] = NULL;
    close_later(p, c);
    changed(p);
}

/* Picks the least busy connection not lent out, or makes one. */
static int pick(aioc_pg_pool *p, aioc_pg_conn **out) {
    *out = NULL;
    for (;;) {
        aioc_pg_conn *best = NULL;
        double now = aioc_now();
        for (unsigned i = 0; i < p->n;) {
            aioc_pg_conn *c = p->conns[i];
            if (!aioc_pg_ok(c) ||
                (!c->in_flight && now - c->last_used > IDLE_CHECK_AFTER && pg__check_idle(c))) {
                drop(p, i);
                continue;
            }
            i++;
            if (c->lent)
                continue;
            if (!best || c->in_flight < best->in_flight)
                best = c;
        }
        if (best && (best->in_flight == 0 || p->n + p->connecting >= p->max)) {
            *out = best;
            return 0;
        }
        if (p->n + p->connecting < p->max) {
            p->connecting++;
            int err;
            aioc_pg_conn *c = aioc_pg_connect(p->conninfo, NULL, 0, &err);
            p->connecting--;
            if (err) {
                changed(p);
                return err;
            }
            c->pool = p;
            p->conns[p->n++] = c;
            changed(p);
            *out = c;
            return 0;
        }
        int err = aioc_event_wait(&p->changed);
        if (err)
            return err;
    }
}

int aioc_pg_pool_exec(aioc_pg_pool *p, const char *sql, const aioc_pg_params *params,
                      PGresult **res) {
    *res = NULL;
    aioc_pg_conn *c;
    int err = pick(p, &c);
    if (err)
        return err;
    return aioc_pg_exec(c, sql, params, res);
}

int aioc_pg_pool_query(aioc_pg_pool *p, const char *sql, int n, const char *const *values,
                       PGresult **res) {
    aioc_pg_params params = {.n = n, .values = values};
    return aioc_pg_pool_exec(p, sql, &params, res);
}

int aioc_pg_pool_acquire(aioc_pg_pool *p, aioc_pg_conn **out) {
    *out = NULL;
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    for (;;) {
        aioc_pg_conn *c;
        int err = pick(p, &c);
        if (err)
            return err;
        c->lent = 1; /* no new query lands on it */
        err = pg__wait_idle(c);
        if (!err) {
            *out = c;
            return 0;
        }
        c->lent = 0;
        changed(p);
        if (err != AIOC_PG_EBROKEN)
            return err;
        /* it broke meanwhile: pick again (it is dropped) */
    }
}

void aioc_pg_pool_release(aioc_pg_pool *p, aioc_pg_conn *c) {
    if (!c)
        return;
    c->lent = 0;
    /* inside a transaction, a COPY or a LISTEN: not for the next user */
    if (!aioc_pg_ok(c) || PQtransactionStatus(c->pg) != PQTRANS_IDLE || c->exclusive ||
        c->listening) {
        for (unsigned i = 0; i < p->n; i++)
            if (p->conns[i] == c) {
                drop(p, i);
                return;
            }
        close_later(p, c);
        return;
    }
    changed(p);
}

void aioc_pg_pool_free(aioc_pg_pool *p) {
    if (!p)
        return;
    while (p->n) {
        aioc_pg_conn *c = p->conns[--p->n];
        aioc_pg_close(c);
    }
    while (p->closings) {
        closing *k = p->closings;
        p->closings = k->next;
        aioc_scope shield; /* the closes must end before the pool does */
        aioc_shield_enter(&shield);
        aioc_await(k->task, NULL);
        aioc_scope_exit(&shield);
        if (k->c) /* cancelled before it ran (the loop is ending) */
            aioc_pg_close(k->c);
        free(k);
    }
    free(p->conns);
    free(p->conninfo);
    free(p);
}

int aioc_pg_pool_transaction(aioc_pg_pool *p, aioc_pg_tx_fn fn, void *arg) {
    aioc_pg_conn *c;
    int err = aioc_pg_pool_acquire(p, &c);
    if (err)
        return err;
    err = aioc_pg_begin(c);
    if (!err) {
        err = fn(c, arg);
        if (!err) {
            err = aioc_pg_commit(c);
        } else {
            aioc_scope shield; /* the server must not be left inside it */
            aioc_shield_enter(&shield);
            aioc_pg_rollback(c);
            aioc_scope_exit(&shield);
        }
    }
    aioc_pg_pool_release(p, c);
    return err;
}
