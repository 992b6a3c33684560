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

/* Cancels the query the server runs now (or is about to), the first
 * whose results have not all come, if its task gave up. Not once a reply
 * to it has come: the server is done with it, and the cancel would hit
 * the next query. */
static void maybe_cancel(aioc_pg_conn *c) {
    pg_req *q = c->cur;
    if (!q || !q->abandoned || q->internal || q->cancel_sent || q->replied || c->broken)
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
        c->cancels++;
        aioc_event_clear(&c->settled); /* until q's answer comes */
    }
}

/* ------------------------------------------------------------ sending -- */

static void break_conn(aioc_pg_conn *c, int err);

/* Puts `q`, just sent, at the tail of the queue of requests in flight,
 * in the open batch: the connection is no longer idle. */
static void queue_push(aioc_pg_conn *c, pg_req *q) {
    q->next = NULL;
    if (c->tail)
        c->tail->next = q;
    else
        c->head = q;
    c->tail = q;
    if (!c->cur)
        c->cur = q;
    c->in_flight++;
    c->unsynced++;
    q->cancels_at_send = c->cancels;
    aioc_event_clear(&c->idle);
}

/* Closes the open batch: one Sync after every query sent since the last
 * (PQpipelineSync also sends what libpq holds). Returns 0, or -1 when
 * libpq refused (the connection is failing). */
static int send_sync(aioc_pg_conn *c) {
    if (!c->unsynced)
        return 0;
    c->unsynced = 0;
    c->tail->seg_end = 1;
    return PQpipelineSync(c->pg) ? 0 : -1;
}

/* After a Sync: the flusher sends what libpq could not send at once. */
static void push_out(aioc_pg_conn *c) {
    int fl = PQflush(c->pg); /* no system call unless output is left */
    if (fl == 1)
        aioc_event_set(&c->flush);
    else if (fl < 0)
        break_conn(c, AIOC_PG_EBROKEN);
}

/* Sends `sql` for the connection's own sake, in a batch of its own; its
 * answer is dropped. */
static void send_internal(aioc_pg_conn *c, const char *sql) {
    pg_req *q = calloc(1, sizeof *q);
    if (!q)
        return;
    q->parts = 1;
    q->abandoned = q->internal = 1;
    if (send_sync(c) || !PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0)) {
        free(q); /* the connection is failing: the reader will find out */
        return;
    }
    queue_push(c, q);
    if (!send_sync(c))
        push_out(c);
}

static int send_req(aioc_pg_conn *c, pg_req *q);

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

static int is_error(const PGresult *r) {
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_FATAL_ERROR || s == PGRES_PIPELINE_ABORTED || s == PGRES_BAD_RESPONSE ||
           s == PGRES_NONFATAL_ERROR;
}

/* `q` is answered (its batch's Sync came): its task gets the answer. */
static void finish(aioc_pg_conn *c, pg_req *q) {
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
    if (q->abandoned) {
        req_free(q);
    } else {
        q->done = 1;
        aioc_event_set(&q->ev);
    }
}

/* Whether `q`'s answer cannot stand, so that it is sent again. A batch
 * (the queries one Sync closes) is one implicit transaction on the server:
 * when one of its queries failed, the work of those before it was rolled
 * back and those after it were skipped (PGRES_PIPELINE_ABORTED), so every
 * other query of a failed batch goes again, alone; the failing one keeps
 * its error, unless the error came from sharing the batch: "cannot run
 * inside a transaction block" (VACUUM and the like, 25001), a deadlock
 * (40P01: locks held to the batch's end) or a serialization failure
 * (40001). A query that failed with "canceling statement" (57014) when
 * the connection sent a cancel meant for another since it was sent goes
 * again too. */
static int must_resend(const aioc_pg_conn *c, const pg_req *q, int batch_failed) {
    if (q->res && PQresultStatus(q->res) == PGRES_FATAL_ERROR) {
        if (is_state(q->res, "57014"))
            return c->cancels != q->cancels_at_send;
        return batch_failed && (is_state(q->res, "25001") || is_state(q->res, "40P01") ||
                                is_state(q->res, "40001"));
    }
    return batch_failed;
}

/* The most times a query is sent again: once for its batch, once more
 * for a stray cancel. */
#define RESEND_MAX 2

/* Sends `q` again, in a batch of its own, at the tail of the queue. From
 * the reader, while q's task waits (its query and parameters are still
 * there). Returns 0, or an error for q's task. */
static int resend(aioc_pg_conn *c, pg_req *q) {
    if (q->prepares && q->err_part == 2)
        stmt_drop_name(c, q->stmt); /* skipped with the batch: prepare again */
    PQclear(q->res);
    q->res = NULL;
    q->err_part = q->prepares = q->replied = q->cancel_sent = q->seg_end = 0;
    q->stmt[0] = 0;
    q->retries++;
    if (send_sync(c)) /* the open batch goes first: q goes alone */
        return AIOC_PG_EBROKEN;
    int err = send_req(c, q);
    if (err)
        return err;
    queue_push(c, q);
    if (send_sync(c))
        return 0; /* q is queued: the reader finds the connection broken */
    push_out(c);
    return 0;
}

/* A Sync came: the batch at the head of the queue is answered. */
static void complete_batch(aioc_pg_conn *c) {
    pg_req *first = c->head, *last = first;
    if (!first)
        return;
    size_t n = 1;
    int failed = 0;
    for (;; last = last->next, n++) {
        if (last->res && is_error(last->res))
            failed = 1;
        if (last->seg_end || !last->next)
            break;
    }
    c->head = last->next;
    if (!c->head)
        c->tail = NULL;
    c->cur = c->head; /* the next batch's replies come after this Sync */
    last->next = NULL;
    c->in_flight -= n;
    c->last_used = aioc_now();
    for (pg_req *q = first, *next; q; q = next) {
        next = q->next;
        if (!q->abandoned && !q->internal && must_resend(c, q, failed && n > 1)) {
            int err = AIOC_PG_EBROKEN;
            if (q->retries < RESEND_MAX && !c->broken && !c->closing && !(err = resend(c, q)))
                continue;
            if (!q->res || !is_error(q->res)) { /* rolled back: no answer to give */
                PQclear(q->res);
                q->res = NULL;
                q->err = err;
            }
        }
        finish(c, q);
    }
    if (!c->in_flight)
        aioc_event_set(&c->idle);
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
    c->tail = c->cur = NULL;
    c->in_flight = 0;
    c->unsynced = 0;
    aioc_event_set(&c->idle);
    if (c->notifies)
        aioc_queue_shutdown(c->notifies, 0, NULL, NULL);
}

/* Hands every reply that has arrived to its request. Returns 0, or
 * AIOC_PG_EPROTOCOL for a reply the pipeline cannot take (COPY). */
static int drain(aioc_pg_conn *c) {
    while (c->head && !PQisBusy(c->pg)) {
        pg_req *q = c->cur;
        PGresult *r = PQgetResult(c->pg);
        if (!r) { /* the end of one statement's results */
            if (!q)
                break; /* libpq is idle: the open batch has no Sync yet */
            if (q->parts > 0 && --q->parts == 0)
                c->cur = q->next;
            continue;
        }
        switch (PQresultStatus(r)) {
        case PGRES_PIPELINE_SYNC:
            PQclear(r);
            complete_batch(c);
            continue;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
            PQclear(r);
            return AIOC_PG_EPROTOCOL;
        default:
            break;
        }
        if (!q) { /* no query waits for it: cannot happen */
            PQclear(r);
            continue;
        }
        if (q->parts <= 1) { /* its last statement: done on the server */
            q->replied = 1;
            if (q->cancel_sent)
                aioc_event_set(&c->settled);
        }
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
    maybe_cancel(c);
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

/* Closes the open batch once the tasks ready in this turn have sent
 * their queries (it runs after them), and sends what libpq could not
 * send at once, while the reader goes on reading. */
static void *flusher_main(void *arg) {
    aioc_pg_conn *c = arg;
    for (;;) {
        if (aioc_event_wait(&c->flush))
            return NULL;
        aioc_event_clear(&c->flush);
        if (c->broken || c->closing)
            return NULL;
        int r = send_sync(c);
        while (!r && (r = PQflush(c->pg)) == 1) {
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

/* Puts `q`'s query into libpq's output, a Parse first when it prepares a
 * statement the cache lacks. Returns 0, -ENOMEM, -EINVAL (libpq refused
 * it: nothing was sent), or AIOC_PG_EBROKEN. */
static int send_req(aioc_pg_conn *c, pg_req *q) {
    const aioc_pg_params *p = q->params;
    q->parts = 1;
    pg_stmt *s = p->prepare ? stmt_find(c, q->sql) : NULL;
    if (p->prepare && !s && c->ncached < AIOC_PG_STMT_CACHE_MAX) {
        s = calloc(1, sizeof *s);
        if (!s || !(s->sql = strdup(q->sql))) {
            free(s);
            return -ENOMEM;
        }
        snprintf(s->name, sizeof s->name, "aioc_%u", ++c->nstmts);
        s->next = c->stmts;
        c->stmts = s;
        c->ncached++;
        if (!PQsendPrepare(c->pg, s->name, q->sql, p->n, p->types)) {
            stmt_drop_name(c, s->name);
            return PQstatus(c->pg) == CONNECTION_BAD ? AIOC_PG_EBROKEN : -EINVAL;
        }
        q->parts++;
        q->prepares = 1;
    }
    int ok;
    if (s) {
        memcpy(q->stmt, s->name, sizeof q->stmt);
        ok = PQsendQueryPrepared(c->pg, s->name, p->n, p->values, p->lengths, p->formats,
                                 p->binary_results ? 1 : 0);
    } else { /* no cache asked, or it is full: the unnamed statement */
        ok = PQsendQueryParams(c->pg, q->sql, p->n, p->types, p->values, p->lengths, p->formats,
                               p->binary_results ? 1 : 0);
    }
    if (ok)
        return 0;
    if (q->prepares) {
        /* the Parse went out and its reply would have no request: libpq
         * refuses an Execute its Parse took only when out of memory */
        stmt_drop_name(c, q->stmt);
        break_conn(c, AIOC_PG_EBROKEN);
        return AIOC_PG_EBROKEN;
    }
    return PQstatus(c->pg) == CONNECTION_BAD ? AIOC_PG_EBROKEN : -EINVAL;
}

/* The most queries one Sync closes. A batch is one implicit transaction
 * on the server: the larger it is, the fewer Syncs (the server flushes
 * its output at each), and the more a failing query costs (the others of
 * its batch are sent again). */
#define BATCH_MAX 64

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
    static const aioc_pg_params none;
    q->sql = sql;
    q->params = p ? p : &none;
    err = send_req(c, q);
    if (err) {
        free(q);
        if (err != AIOC_PG_EBROKEN && PQstatus(c->pg) == CONNECTION_BAD)
            err = AIOC_PG_EBROKEN;
        if (err == AIOC_PG_EBROKEN)
            break_conn(c, err);
        return err;
    }
    queue_push(c, q);
    if (c->unsynced >= BATCH_MAX) {
        if (send_sync(c))
            break_conn(c, AIOC_PG_EBROKEN);
        else
            push_out(c);
    } else {
        aioc_event_set(&c->flush); /* the flusher closes the batch */
    }
    aioc_event_set(&c->work);

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
