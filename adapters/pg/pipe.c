/* The pipeline: queries sent by their tasks, replies read by the
 * connection's reader task and handed back in order (see pg.c's opening
 * comment), cancellation, the prepared-statement cache and notifications.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* --------------------------------------------------------- cancelling -- */

static void *cancel_job(void *arg) {
    char buf[256];
    PQcancel(arg, buf, sizeof buf); /* blocks this pool thread only */
    return NULL;
}

static void cancel_cleanup(void *result, void *arg) {
    (void)result;
    PQfreeCancel(arg);
}

static void *cancel_main(void *arg) {
    if (aioc_to_thread_with(cancel_job, arg, NULL, cancel_cleanup) == 0)
        PQfreeCancel(arg);
    return NULL;
}

/* Cancels the query at the head if its task gave up: it is the one the
 * server runs now (or is about to). Not once a reply to it has come: the
 * server is done with it, and the cancel would hit the next query. */
static void maybe_cancel(aioc_pg_conn *c) {
    pg_req *q = c->head;
    if (!q || !q->abandoned || q->cancel_sent || q->replied || c->broken)
        return;
    q->cancel_sent = 1;
    PGcancel *k = PQgetCancel(c->pg);
    if (!k)
        return;
    aioc_spawn_opts o = {.name = "pg-cancel"};
    aioc_task t = aioc_spawn_with(cancel_main, k, &o);
    if (aioc_task_error(t))
        PQfreeCancel(k);
    else {
        aioc_detach(t);
        aioc_event_clear(&c->settled); /* until q's answer comes */
    }
}

/* ------------------------------------------------------------ replies -- */

static void req_free(pg_req *q) {
    PQclear(q->res);
    free(q);
}

static void stmt_drop_name(aioc_pg_conn *c, const char *name);

static int is_state(const PGresult *r, const char *state) {
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s && !strcmp(s, state);
}
static void send_internal(aioc_pg_conn *c, const char *sql);

/* The head's Sync came: it is answered. */
static void complete_head(aioc_pg_conn *c) {
    pg_req *q = c->head;
    c->head = q->next;
    if (!c->head)
        c->tail = NULL;
    c->in_flight--;
    c->last_used = aioc_now();
    if (q->prepares && q->err_part == 2) {
        stmt_drop_name(c, q->stmt); /* the Prepare failed: again next time */
    } else if (q->stmt[0] && q->res && PQresultStatus(q->res) == PGRES_FATAL_ERROR &&
               is_state(q->res, "0A000")) {
        /* "cached plan must not change result type": the table changed
         * under the statement; prepare it again next time, and let the
         * server forget this one */
        char sql[48];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", q->stmt);
        stmt_drop_name(c, q->stmt);
        send_internal(c, sql);
    }
    if (!c->in_flight)
        aioc_event_set(&c->idle);
    if (q->abandoned) {
        req_free(q);
    } else {
        q->done = 1;
        aioc_event_set(&q->ev);
    }
    maybe_cancel(c);
}

void pg__fail_all(aioc_pg_conn *c, int err) {
    c->broken = 1;
    aioc_event_set(&c->settled);
    while (c->head) {
        pg_req *q = c->head;
        c->head = q->next;
        if (q->abandoned) {
            req_free(q);
            continue;
        }
        PQclear(q->res);
        q->res = NULL;
        q->err = err;
        q->done = 1;
        aioc_event_set(&q->ev);
    }
    c->tail = NULL;
    c->in_flight = 0;
    aioc_event_set(&c->idle);
    if (c->notifies)
        aioc_queue_shutdown(c->notifies, 0, NULL, NULL);
}

static int is_error(const PGresult *r) {
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_FATAL_ERROR || s == PGRES_PIPELINE_ABORTED || s == PGRES_BAD_RESPONSE ||
           s == PGRES_NONFATAL_ERROR;
}

/* Hands every reply that has arrived to its request. Returns 0, or
 * AIOC_PG_EPROTOCOL for a reply the pipeline cannot take (COPY). */
static int drain(aioc_pg_conn *c) {
    while (c->head && !PQisBusy(c->pg)) {
        pg_req *q = c->head;
        PGresult *r = PQgetResult(c->pg);
        if (q->parts <= 1) { /* its last statement: done on the server */
            q->replied = 1;
            if (q->cancel_sent)
                aioc_event_set(&c->settled);
        }
        if (!r) { /* the end of one statement's results */
            if (q->parts > 0)
                q->parts--;
            continue;
        }
        switch (PQresultStatus(r)) {
        case PGRES_PIPELINE_SYNC:
            PQclear(r);
            complete_head(c);
            break;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
            PQclear(r);
            return AIOC_PG_EPROTOCOL;
        default:
            if (is_error(r)) {
                if (q->res && is_error(q->res)) {
                    PQclear(r); /* the first error is the answer */
                } else {
                    PQclear(q->res);
                    q->res = r;
                    q->err_part = q->parts;
                }
            } else if (q->res && is_error(q->res)) {
                PQclear(r);
            } else {
                PQclear(q->res);
                q->res = r;
            }
        }
    }
    return 0;
}

static void take_notifies(aioc_pg_conn *c) {
    PGnotify *n;
    while ((n = PQnotifies(c->pg))) {
        if (!c->notifies || aioc_queue_try_put(c->notifies, n))
            PQfreemem(n);
    }
}

static void break_conn(aioc_pg_conn *c, int err) {
    pg__fail_all(c, err);
    aioc_event_set(&c->flush); /* lets the flusher see it */
}

static void *reader_main(void *arg) {
    aioc_pg_conn *c = arg;
    while (!c->broken && !c->closing) {
        if (c->exclusive || (!c->head && !c->listening)) {
            aioc_event_clear(&c->work);
            if (aioc_event_wait(&c->work))
                return NULL; /* cancelled: the connection closes */
            continue;
        }
        int err = aioc_wait_readable(c->wfd);
        if (err == -ECANCELED || err == -ETIMEDOUT)
            return NULL;
        if (c->exclusive || c->broken)
            continue;
        if (err || !PQconsumeInput(c->pg)) {
            break_conn(c, AIOC_PG_EBROKEN);
            return NULL;
        }
        err = drain(c);
        take_notifies(c);
        if (err || PQstatus(c->pg) == CONNECTION_BAD) {
            break_conn(c, err ? err : AIOC_PG_EBROKEN);
            return NULL;
        }
    }
    return NULL;
}

/* Sends what libpq could not send at once, while the reader reads. */
static void *flusher_main(void *arg) {
    aioc_pg_conn *c = arg;
    for (;;) {
        if (aioc_event_wait(&c->flush))
            return NULL;
        aioc_event_clear(&c->flush);
        if (c->broken || c->closing)
            return NULL;
        int r;
        while ((r = PQflush(c->pg)) == 1) {
            int err = aioc_wait_writable(c->wfd);
            if (err == -ECANCELED || err == -ETIMEDOUT)
                return NULL;
            if (err) {
                r = -1;
                break;
            }
        }
        if (r < 0) {
            break_conn(c, AIOC_PG_EBROKEN);
            return NULL;
        }
    }
}

int pg__conn_start(aioc_pg_conn *c) {
    aioc_event_init(&c->work);
    aioc_event_init(&c->flush);
    aioc_event_init(&c->idle);
    aioc_event_set(&c->idle);
    aioc_event_init(&c->probe);
    aioc_event_set(&c->probe);
    aioc_event_init(&c->settled);
    aioc_event_set(&c->settled);
    c->last_used = aioc_now();
    aioc_spawn_opts o = {.name = "pg-reader"};
    c->reader = aioc_spawn_with(reader_main, c, &o);
    o.name = "pg-flusher";
    c->flusher = aioc_spawn_with(flusher_main, c, &o);
    int err = aioc_task_error(c->reader);
    if (!err)
        err = aioc_task_error(c->flusher);
    if (err) {
        pg__conn_stop(c);
        return err;
    }
    return 0;
}

void pg__conn_stop(aioc_pg_conn *c) {
    aioc_task *tasks[] = {&c->reader, &c->flusher};
    for (int i = 0; i < 2; i++) {
        if (!tasks[i]->id)
            continue;
        if (!aioc_task_error(*tasks[i])) {
            aioc_cancel(*tasks[i]);
        }
        aioc_await(*tasks[i], NULL);
        tasks[i]->id = 0;
    }
}

int pg__wait_idle(aioc_pg_conn *c) {
    while (c->in_flight && !c->broken) {
        int err = aioc_event_wait(&c->idle);
        if (err)
            return err;
    }
    return c->broken ? AIOC_PG_EBROKEN : 0;
}

int pg__check_idle(aioc_pg_conn *c) {
    if (c->broken || c->closing)
        return AIOC_PG_EBROKEN;
    if (c->in_flight || c->listening || c->exclusive)
        return 0;
    /* a notice, a notification, or the server's goodbye (a FATAL error,
     * then the end of the stream): libpq takes what came in, as long as
     * more comes (a few rounds at most) */
    struct pollfd p = {.fd = c->wfd, .events = POLLIN};
    for (int i = 0; i < 4 && poll(&p, 1, 0) > 0; i++) {
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
            break_conn(c, AIOC_PG_EBROKEN);
            return AIOC_PG_EBROKEN;
        }
        take_notifies(c);
    }
    return 0;
}

/* Puts `q`, just sent, at the tail of the queue of requests in flight:
 * the connection is no longer idle. */
static void queue_push(aioc_pg_conn *c, pg_req *q) {
    q->next = NULL;
    if (c->tail)
        c->tail->next = q;
    else
        c->head = q;
    c->tail = q;
    c->in_flight++;
    aioc_event_clear(&c->idle);
}

/* Sends `sql` for the connection's own sake; its answer is dropped. */
static void send_internal(aioc_pg_conn *c, const char *sql) {
    pg_req *q = calloc(1, sizeof *q);
    if (!q)
        return;
    q->parts = 1;
    q->abandoned = q->cancel_sent = 1;
    if (!PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0) || !PQpipelineSync(c->pg)) {
        free(q); /* the connection is failing: the reader will find out */
        return;
    }
    queue_push(c, q);
    if (PQflush(c->pg) == 1)
        aioc_event_set(&c->flush);
}

/* ---------------------------------------------- prepared statements -- */

/* Finds `sql` in the cache and moves it to the front (the statements in
 * use stay near it). */
static pg_stmt *stmt_find(aioc_pg_conn *c, const char *sql) {
    for (pg_stmt **pp = &c->stmts; *pp; pp = &(*pp)->next) {
        pg_stmt *s = *pp;
        if (!strcmp(s->sql, sql)) {
            *pp = s->next;
            s->next = c->stmts;
            c->stmts = s;
            return s;
        }
    }
    return NULL;
}

static void stmt_drop_name(aioc_pg_conn *c, const char *name) {
    for (pg_stmt **pp = &c->stmts; *pp; pp = &(*pp)->next) {
        if (!strcmp((*pp)->name, name)) {
            pg_stmt *s = *pp;
            *pp = s->next;
            c->ncached--;
            free(s->sql);
            free(s);
            return;
        }
    }
}

void pg__stmt_cache_free(aioc_pg_conn *c) {
    while (c->stmts) {
        pg_stmt *s = c->stmts;
        c->stmts = s->next;
        free(s->sql);
        free(s);
    }
}

/* ------------------------------------------------------------ queries -- */

int aioc_pg_exec(aioc_pg_conn *c, const char *sql, const aioc_pg_params *p, PGresult **res) {
    if (res)
        *res = NULL;
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    if (!c || !sql || !res || (p && p->n < 0) || (p && p->n > 0 && !p->values))
        return -EINVAL;
    if (c->broken || c->closing)
        return AIOC_PG_EBROKEN;
    if (c->exclusive)
        return -EBUSY;
    /* a caller cancelled already (or past its deadline) sends nothing: a
     * query sent only to be cancelled would race the ones behind it; and
     * none is sent while a query cancelled on the server still runs */
    int err = aioc_event_wait(&c->settled);
    if (err)
        return err;
    if (c->broken || c->closing)
        return AIOC_PG_EBROKEN;
    pg_req *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->parts = 1;
    static const aioc_pg_params none;
    if (!p)
        p = &none;
    int ok;
    pg_stmt *s = p->prepare ? stmt_find(c, sql) : NULL;
    if (p->prepare && !s && c->ncached < AIOC_PG_STMT_CACHE_MAX) {
        s = calloc(1, sizeof *s);
        if (!s || !(s->sql = strdup(sql))) {
            free(s);
            free(q);
            return -ENOMEM;
        }
        snprintf(s->name, sizeof s->name, "aioc_%u", ++c->nstmts);
        s->next = c->stmts;
        c->stmts = s;
        c->ncached++;
        if (!PQsendPrepare(c->pg, s->name, sql, p->n, p->types)) {
            stmt_drop_name(c, s->name);
            goto send_failed;
        }
        q->parts++;
        q->prepares = 1;
    }
    if (s) {
        memcpy(q->stmt, s->name, sizeof q->stmt);
        ok = PQsendQueryPrepared(c->pg, s->name, p->n, p->values, p->lengths, p->formats,
                                 p->binary_results ? 1 : 0);
    } else { /* no cache asked, or it is full: the unnamed statement */
        ok = PQsendQueryParams(c->pg, sql, p->n, p->types, p->values, p->lengths, p->formats,
                               p->binary_results ? 1 : 0);
    }
    if (!ok && q->parts == 2) {
        q->parts = 1; /* the Prepare went out: let its Sync follow */
        q->abandoned = 1;
    }
    if ((!ok && !q->abandoned) || !PQpipelineSync(c->pg))
        goto send_failed;
    if (q->abandoned) { /* answered with nothing: the error is libpq's */
        q->cancel_sent = 1;
        queue_push(c, q);
        aioc_event_set(&c->work);
        stmt_drop_name(c, q->stmt);
        return -EINVAL;
    }
    queue_push(c, q);
    int fl = PQflush(c->pg); /* no system call unless output is left */
    if (fl == 1)
        aioc_event_set(&c->flush);
    aioc_event_set(&c->work);
    if (fl < 0) {
        break_conn(c, AIOC_PG_EBROKEN);
    }

    err = aioc_event_wait(&q->ev);
    if (!q->done) { /* gave up: the reader drops the answer */
        q->abandoned = 1;
        maybe_cancel(c);
        return err ? err : -ECANCELED;
    }
    /* answered: `c` may be gone already, so only `q` is touched */
    err = q->err;
    if (!err && q->res && is_error(q->res))
        err = AIOC_PG_ESERVER;
    if (!err || err == AIOC_PG_ESERVER) {
        *res = q->res;
        q->res = NULL;
    }
    req_free(q);
    return err;

send_failed:
    free(q);
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        break_conn(c, AIOC_PG_EBROKEN);
        return AIOC_PG_EBROKEN;
    }
    return -EINVAL;
}

int aioc_pg_query(aioc_pg_conn *c, const char *sql, int n, const char *const *values,
                  PGresult **res) {
    aioc_pg_params p = {.n = n, .values = values};
    return aioc_pg_exec(c, sql, &p, res);
}

static int simple(aioc_pg_conn *c, const char *sql) {
    PGresult *r;
    int err = aioc_pg_exec(c, sql, NULL, &r);
    PQclear(r);
    return err;
}

int aioc_pg_begin(aioc_pg_conn *c) { return simple(c, "BEGIN"); }
int aioc_pg_commit(aioc_pg_conn *c) { return simple(c, "COMMIT"); }
int aioc_pg_rollback(aioc_pg_conn *c) { return simple(c, "ROLLBACK"); }

/* ----------------------------------------------------- notifications -- */

int aioc_pg_notify_next(aioc_pg_conn *c, PGnotify **out) {
    *out = NULL;
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    if (!c->notifies) {
        c->notifies = aioc_queue_new(AIOC_QUEUE_FIFO, 0, NULL);
        if (!c->notifies)
            return -ENOMEM;
        if (c->broken)
            aioc_queue_shutdown(c->notifies, 0, NULL, NULL);
    }
    if (!c->listening) {
        c->listening = 1;
        take_notifies(c); /* any that came with earlier replies */
        aioc_event_set(&c->work);
    }
    void *n;
    int err = aioc_queue_get(c->notifies, &n);
    if (err == -ESHUTDOWN)
        return AIOC_PG_EBROKEN;
    if (err)
        return err;
    *out = n;
    return 0;
}
