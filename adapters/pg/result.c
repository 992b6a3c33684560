/* Reading results: thin helpers over libpq's PQget* that also decode the
 * binary format of the common types (int2/4/8, oid, bool, float4/8). */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aioc_pg.h"

/* type OIDs (pg_type.dat; stable across releases) */
#define BOOLOID 16
#define INT8OID 20
#define INT2OID 21
#define INT4OID 23
#define OIDOID 26
#define FLOAT4OID 700
#define FLOAT8OID 701

void aioc_pg_result_free(PGresult *res) { PQclear(res); }

static int is_error(const PGresult *res) {
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_FATAL_ERROR || s == PGRES_NONFATAL_ERROR || s == PGRES_PIPELINE_ABORTED;
}

const char *aioc_pg_sqlstate(const PGresult *res) {
    return res && is_error(res) ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
}

const char *aioc_pg_error_message(const PGresult *res) {
    if (!res || !is_error(res))
        return NULL;
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    return m ? m : PQresultErrorMessage(res);
}

int aioc_pg_rows(const PGresult *res) { return res ? PQntuples(res) : 0; }
int aioc_pg_cols(const PGresult *res) { return res ? PQnfields(res) : 0; }

static int in_range(const PGresult *res, int row, int col) {
    return res && row >= 0 && col >= 0 && row < PQntuples(res) && col < PQnfields(res);
}

const char *aioc_pg_text(const PGresult *res, int row, int col) {
    if (!in_range(res, row, col) || PQgetisnull(res, row, col))
        return NULL;
    return PQgetvalue(res, row, col);
}

const char *aioc_pg_bytes(const PGresult *res, int row, int col, size_t *len) {
    *len = 0;
    if (!in_range(res, row, col) || PQgetisnull(res, row, col))
        return NULL;
    *len = (size_t)PQgetlength(res, row, col);
    return PQgetvalue(res, row, col);
}

/* The binary value of an integer column, big-endian on the wire. */
static int binary_int(const char *v, int len, Oid type, int64_t *out) {
    uint64_t u = 0;
    if ((type == INT2OID && len == 2) || (type == INT4OID && len == 4) ||
        (type == INT8OID && len == 8) || (type == OIDOID && len == 4) ||
        (type == BOOLOID && len == 1)) {
        for (int i = 0; i < len; i++)
            u = (u << 8) | (unsigned char)v[i];
        if (type == INT2OID)
            *out = (int16_t)u;
        else if (type == INT4OID)
            *out = (int32_t)u;
        else
            *out = (int64_t)u;
        return 0;
    }
    return -EINVAL;
}

/* The text (or binary) value at row, col in `*s`: 0, -ERANGE past the
 * result's rows or columns, or -ENOENT for a NULL. */
static int cell(const PGresult *res, int row, int col, const char **s) {
    if (!in_range(res, row, col))
        return -ERANGE;
    if (PQgetisnull(res, row, col))
        return -ENOENT;
    *s = PQgetvalue(res, row, col);
    return 0;
}

int aioc_pg_int(const PGresult *res, int row, int col, int64_t *v) {
    const char *s;
    int err = cell(res, row, col, &s);
    if (err)
        return err;
    Oid type = PQftype(res, col);
    if (PQfformat(res, col) == 1)
        return binary_int(s, PQgetlength(res, row, col), type, v);
    if (type == BOOLOID) {
        *v = s[0] == 't';
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -EINVAL;
    *v = x;
    return 0;
}

int aioc_pg_double(const PGresult *res, int row, int col, double *v) {
    const char *s;
    int err = cell(res, row, col, &s);
    if (err)
        return err;
    Oid type = PQftype(res, col);
    int len = PQgetlength(res, row, col);
    if (PQfformat(res, col) == 1) {
        if (type == FLOAT8OID && len == 8) {
            uint64_t u;
            memcpy(&u, s, 8);
            u = be64toh(u);
            memcpy(v, &u, 8);
            return 0;
        }
        if (type == FLOAT4OID && len == 4) {
            uint32_t u;
            float f;
            memcpy(&u, s, 4);
            u = be32toh(u);
            memcpy(&f, &u, 4);
            *v = f;
            return 0;
        }
        int64_t i;
        err = binary_int(s, len, type, &i);
        if (!err)
            *v = (double)i;
        return err;
    }
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end)
        return -EINVAL;
    *v = x;
    return 0;
}
