/* COPY FROM STDIN and COPY TO STDOUT as streams. libpq allows no COPY in
 * pipeline mode, so a COPY waits until nothing is in flight on the
 * connection (which the caller holds alone), leaves pipeline mode, and
 * enters it again when the COPY's result has been read. The reader task
 * keeps off the connection meanwhile (`exclusive`). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "pg_internal.h"

/* Waits until libpq has sent everything. */
static int flush_all(aioc_pg_conn *c) {
    int r;
    while ((r = PQflush(c->pg)) == 1) {
        int err = aioc_wait_writable(c->wfd);
        if (err)
            return err;
    }
    return r < 0 ? AIOC_PG_EBROKEN : 0;
}

/* The next result, waiting for it; NULL result: the end of the command. */
static int next_result(aioc_pg_conn *c, PGresult **r) {
    *r = NULL;
    while (PQisBusy(c->pg)) {
        int err = aioc_wait_readable(c->wfd);
        if (err)
            return err;
        if (!PQconsumeInput(c->pg))
            return AIOC_PG_EBROKEN;
    }
    *r = PQgetResult(c->pg);
    return 0;
}

static void broken(aioc_pg_conn *c) {
    c->exclusive = 0;
    pg__fail_all(c, AIOC_PG_EBROKEN);
}

/* Back to pipeline mode once the command's results are all read. */
static int resume(aioc_pg_conn *c) {
    c->exclusive = 0;
    if (!PQenterPipelineMode(c->pg)) {
        broken(c);
        return AIOC_PG_EBROKEN;
    }
    return 0;
}

/* Reads results until the end; the last (or first error) in `*res`. */
static int finish(aioc_pg_conn *c, PGresult **res) {
    PGresult *keep = NULL, *r;
    int err;
    aioc_scope shield; /* the connection must be left clean */
    aioc_shield_enter(&shield);
    while (!(err = next_result(c, &r)) && r) {
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT) { /* should not be */
            PQclear(r);
            err = AIOC_PG_EPROTOCOL;
            break;
        }
        if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(keep);
            keep = r;
        }
    }
    aioc_scope_exit(&shield);
    if (err) {
        PQclear(keep);
        broken(c);
        return err == AIOC_PG_EPROTOCOL ? err : AIOC_PG_EBROKEN;
    }
    err = resume(c);
    if (!err && keep && PQresultStatus(keep) == PGRES_FATAL_ERROR)
        err = AIOC_PG_ESERVER;
    if (res && (!err || err == AIOC_PG_ESERVER))
        *res = keep;
    else
        PQclear(keep);
    return err;
}

static int copy_start(aioc_pg_conn *c, const char *sql, ExecStatusType want, PGresult **err_res) {
    if (err_res)
        *err_res = NULL;
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    if (!aioc_pg_ok(c))
        return AIOC_PG_EBROKEN;
    if (c->exclusive)
        return -EBUSY;
    int err = aioc_event_wait(&c->probe); /* cancelled already: nothing sent */
    if (!err)
        err = pg__wait_idle(c);
    if (err)
        return err;
    c->exclusive = 1;
    if (!PQexitPipelineMode(c->pg) || !PQsendQuery(c->pg, sql)) {
        broken(c);
        return AIOC_PG_EBROKEN;
    }
    PGresult *r = NULL;
    err = flush_all(c);
    if (!err)
        err = next_result(c, &r);
    if (err) { /* the COPY may have started: the connection cannot go on */
        PQclear(r);
        broken(c);
        return err == -ECANCELED || err == -ETIMEDOUT ? err : AIOC_PG_EBROKEN;
    }
    if (r && PQresultStatus(r) == want) {
        PQclear(r);
        return 0;
    }
    int bad = !r || PQresultStatus(r) != PGRES_FATAL_ERROR;
    PGresult *rest = NULL;
    err = finish(c, &rest); /* reads to the end (NULL), back to the pipeline */
    PQclear(rest);
    if (err) {
        PQclear(r);
        return err == AIOC_PG_ESERVER ? AIOC_PG_EBROKEN : err;
    }
    if (bad) {
        PQclear(r);
        return AIOC_PG_EPROTOCOL;
    }
    if (err_res)
        *err_res = r;
    else
        PQclear(r);
    return AIOC_PG_ESERVER;
}

int aioc_pg_copy_in_start(aioc_pg_conn *c, const char *sql, PGresult **err_res) {
    return copy_start(c, sql, PGRES_COPY_IN, err_res);
}

int aioc_pg_copy_out_start(aioc_pg_conn *c, const char *sql, PGresult **err_res) {
    return copy_start(c, sql, PGRES_COPY_OUT, err_res);
}

int aioc_pg_copy_put(aioc_pg_conn *c, const void *buf, size_t n) {
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    if (!c->exclusive || c->broken)
        return AIOC_PG_EBROKEN;
    if (n > 0x7fffffff)
        return -EINVAL;
    for (;;) {
        int r = PQputCopyData(c->pg, buf, (int)n);
        if (r == 1)
            return 0;
        if (r < 0) {
            broken(c);
            return AIOC_PG_EBROKEN;
        }
        int err = aioc_wait_writable(c->wfd); /* libpq's buffer is full */
        if (err)
            return err;
        if (PQflush(c->pg) < 0) {
            broken(c);
            return AIOC_PG_EBROKEN;
        }
    }
}

int aioc_pg_copy_in_end(aioc_pg_conn *c, const char *errmsg, PGresult **res) {
    if (res)
        *res = NULL;
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    if (!c->exclusive || c->broken)
        return AIOC_PG_EBROKEN;
    int r, err = 0;
    while ((r = PQputCopyEnd(c->pg, errmsg)) == 0) {
        if ((err = aioc_wait_writable(c->wfd)))
            break;
    }
    if (!err && r < 0)
        err = AIOC_PG_EBROKEN;
    if (!err)
        err = flush_all(c);
    if (err) {
        broken(c);
        return err == -ECANCELED || err == -ETIMEDOUT ? err : AIOC_PG_EBROKEN;
    }
    return finish(c, res);
}

/* The task gave up during COPY TO: cancel it on the server and read the
 * rest, so the connection can go on. */
static void *cancel_job(void *arg) {
    char buf[256];
    PQcancel(arg, buf, sizeof buf);
    return NULL;
}

static int copy_out_abort(aioc_pg_conn *c) {
    aioc_scope shield;
    aioc_shield_enter(&shield);
    PGcancel *k = PQgetCancel(c->pg);
    if (k) {
        aioc_to_thread(cancel_job, k, NULL);
        PQfreeCancel(k);
    }
    int err = 0;
    for (;;) {
        char *buf;
        int r = PQgetCopyData(c->pg, &buf, 1);
        if (r > 0) {
            PQfreemem(buf);
            continue;
        }
        if (r == 0) {
            if ((err = aioc_wait_readable(c->wfd)) || !PQconsumeInput(c->pg)) {
                err = AIOC_PG_EBROKEN;
                break;
            }
            continue;
        }
        break;
    }
    aioc_scope_exit(&shield);
    if (err) {
        broken(c);
        return err;
    }
    PGresult *r = NULL;
    finish(c, &r);
    PQclear(r);
    return 0;
}

long aioc_pg_copy_get(aioc_pg_conn *c, char **buf, PGresult **res) {
    *buf = NULL;
    if (res)
        *res = NULL;
    if (!aioc_current().id)
        return AIOC_ENOTASK;
    if (!c->exclusive || c->broken)
        return AIOC_PG_EBROKEN;
    for (;;) {
        int r = PQgetCopyData(c->pg, buf, 1);
        if (r > 0)
            return r;
        if (r == -1)
            return finish(c, res);
        if (r < -1) {
            broken(c);
            return AIOC_PG_EBROKEN;
        }
        int err = aioc_wait_readable(c->wfd);
        if (err == -ECANCELED || err == -ETIMEDOUT) {
            copy_out_abort(c);
            return err;
        }
        if (err || !PQconsumeInput(c->pg)) {
            broken(c);
            return AIOC_PG_EBROKEN;
        }
    }
}
