/**
 * @file
 * aioc_pg — PostgreSQL through libpq's asynchronous API: connecting,
 * queries, results and notifications suspend the calling task instead of
 * blocking the thread.
 *
 * A connection (aioc_pg_conn) runs in libpq's pipeline mode, and any number
 * of tasks may query it at once: the queries made in one turn of the loop
 * leave together, in one write closed by one Sync (a batch, at most 64),
 * without waiting for the replies to the queries before them; a reader
 * task of the connection hands each reply to its task, in order. A task
 * alone costs one round trip per query; many tasks on one connection
 * share round trips and system calls. Each query behaves as its own
 * implicit transaction (autocommit): an error in one fails no other. (A
 * batch is one transaction on the server; when a query of it fails, the
 * others are sent again, each alone, before their tasks see any result,
 * and their tasks never see the difference, except that the queries of
 * one batch share transaction_timestamp().) A transaction (BEGIN ...
 * COMMIT) needs a connection of its own for its duration: take one from a
 * pool with aioc_pg_pool_acquire, so that other tasks' queries do not land
 * inside it; so do statements that commit by themselves (CREATE DATABASE),
 * which would be sent again if their batch failed after them.
 *
 * Results are libpq's PGresult, not hidden: read them with libpq's PQ*
 * functions or the few helpers below, and free them with PQclear (or
 * aioc_pg_result_free, the same).
 *
 * Errors are aioc's (negative errno, AIOC_E*) plus a small range of this
 * adapter's own (AIOC_PG_E*); aioc_pg_strerror() names them all. A query
 * the server refuses returns AIOC_PG_ESERVER and its error result, from
 * which aioc_pg_sqlstate() and aioc_pg_error_message() read the SQLSTATE
 * and the server's message.
 *
 * In a task:
 *
 *     int err;
 *     aioc_pg_conn *c = aioc_pg_connect("postgresql://app@db.example/app", NULL, 0, &err);
 *     PGresult *r;
 *     const char *args[] = {"42"};
 *     err = aioc_pg_query(c, "SELECT $1::int4 + 1", 1, args, &r);
 *     if (!err)
 *         printf("%s\n", PQgetvalue(r, 0, 0));      // 43
 *     else if (err == AIOC_PG_ESERVER)
 *         printf("%s %s\n", aioc_pg_sqlstate(r), aioc_pg_error_message(r));
 *     PQclear(r);                                   // NULL is fine
 *     aioc_pg_close(c);
 *
 * Everything here must be called from the thread of the loop the
 * connection or pool was made in, and suspending calls from a task.
 * libpq's notice processor is left as it is (it prints NOTICEs to
 * stderr): set your own with PQsetNoticeProcessor on aioc_pg_pgconn(c).
 * It is called from inside libpq, on the connection's reader task or the
 * task in a call here, and must not suspend.
 */
#ifndef AIOC_PG_H
#define AIOC_PG_H

#include <stddef.h>
#include <stdint.h>

#include <aioc.h>
#include <libpq-fe.h>

#ifdef __cplusplus
extern "C" {
#endif

/// @cond INTERNAL
#if defined(AIOC_PG_BUILDING) && defined(__GNUC__)
#define AIOC_PG_EXTERN __attribute__((visibility("default")))
#else
#define AIOC_PG_EXTERN
#endif
/// @endcond

/* ============================================================= errors == */
/// @defgroup pg_errors PostgreSQL: errors
/// @{

/// The base of this adapter's error codes (-14001...).
#define AIOC_PG_EBASE (-14000)
/// The server refused the query: the error result carries the SQLSTATE
/// (aioc_pg_sqlstate) and the message (aioc_pg_error_message).
#define AIOC_PG_ESERVER (-14001)
/// The connection could not be made (refused, authentication failed, no
/// such database...): the message, when asked for, says which.
#define AIOC_PG_ECONNECT (-14002)
/// The connection broke (the server ended it or the network failed) or was
/// closed: the query may or may not have run. The connection is unusable;
/// a pool replaces it.
#define AIOC_PG_EBROKEN (-14003)
/// The server answered with something the call did not expect (a COPY
/// where a query was meant, say); the connection is closed.
#define AIOC_PG_EPROTOCOL (-14004)

/// A description of `err`: this adapter's codes, else aioc_strerror's.
/// Static; never NULL.
AIOC_PG_EXTERN const char *aioc_pg_strerror(int err);
/// @}

/* ======================================================== connecting == */
/// @defgroup pg_connecting PostgreSQL: connecting
/// @{

/// A connection to a PostgreSQL server, used by the tasks of one loop.
typedef struct aioc_pg_conn aioc_pg_conn;

/// Connects to the server that `conninfo` names, either "key=value ..." or
/// a postgresql:// URL (libpq's syntax; sslmode and every other key pass
/// through). Host names are resolved with aioc_getaddrinfo, never with
/// libpq's blocking lookup, and handed to libpq as `hostaddr` (the name
/// stays `host`, for TLS's host check); a host starting with '/' is a Unix
/// socket directory. The connection is made with PQconnectStartParams and
/// PQconnectPoll, the task waiting on its socket meanwhile (libpq may
/// change the socket as it tries the next address: the new one is waited
/// on). `connect_timeout` (seconds, at least 2, as libpq counts it) is a
/// deadline for each address tried; when it passes, the call fails with
/// -ETIMEDOUT. Suspends; honours cancellation and deadline scopes (the
/// attempt is abandoned). Returns the connection (free it with
/// aioc_pg_close; `*err` = 0 if `err` is not NULL), or NULL with `*err`
/// (`err` may be NULL) set to: AIOC_PG_ECONNECT (libpq's message copied
/// into `errbuf`, of `errlen` bytes, if not NULL), -EINVAL (conninfo
/// unparsable: message in errbuf), a resolver error (AIOC_EAI_BASE -
/// EAI_*), -ECANCELED, -ETIMEDOUT, -ENOMEM, AIOC_ENOTASK.
AIOC_PG_EXTERN aioc_pg_conn *aioc_pg_connect(const char *conninfo, char *errbuf, size_t errlen,
                                             int *err);

/// Closes `c`: queries still waiting on it return AIOC_PG_EBROKEN, its
/// reader task ends, and the connection is finished (PQfinish). Suspends
/// briefly, to wait for the reader task. NULL does nothing. Must be called
/// from a task; the pool closes its own connections.
AIOC_PG_EXTERN void aioc_pg_close(aioc_pg_conn *c);

/// libpq's connection under `c`, for what this header does not cover
/// (PQserverVersion, PQparameterStatus, PQescapeLiteral...). Do not send,
/// read or finish through it. Borrowed: valid until aioc_pg_close.
AIOC_PG_EXTERN PGconn *aioc_pg_pgconn(aioc_pg_conn *c);

/// Non-zero while `c` is usable (not broken, not closed). Does not
/// suspend.
AIOC_PG_EXTERN int aioc_pg_ok(const aioc_pg_conn *c);

/// The last connection-level error message of `c` (libpq's
/// PQerrorMessage): why it broke. Borrowed until the next call on `c`.
AIOC_PG_EXTERN const char *aioc_pg_conn_message(const aioc_pg_conn *c);
/// @}

/* ============================================================ queries == */
/// @defgroup pg_queries PostgreSQL: queries
/// @{

/// A query's parameters and options. Zero-initialise and fill in what
/// you need: all NULL means text parameters, types inferred by the server,
/// text results.
typedef struct aioc_pg_params {
    int n;                     ///< number of parameters ($1 .. $n)
    const char *const *values; ///< each value (NULL: SQL NULL); borrowed
    const int *lengths;        ///< binary values' lengths (NULL: all text)
    const int *formats;        ///< per value 0 text, 1 binary (NULL: text)
    const Oid *types;          ///< type OIDs (NULL, or 0 entries: inferred)
    int binary_results;        ///< non-zero: every result column in binary
    /// Non-zero: run as a prepared statement from `c`'s cache (by SQL
    /// text, as asyncpg's statement cache): the first use prepares it, in
    /// the same round trip; later uses skip the server's parsing and
    /// planning. The cache keeps up to 256 statements per connection
    /// (beyond that, new texts run unprepared). A statement the server
    /// refuses to prepare is not kept; one whose tables changed shape
    /// fails once with SQLSTATE 0A000 ("cached plan must not change
    /// result type") and is prepared again at its next use.
    int prepare;
} aioc_pg_params;

/// Runs one SQL statement with parameters (libpq's PQsendQueryParams, or
/// PQsendQueryPrepared with `p->prepare`) on `c`, pipelined with the
/// queries of other tasks, and waits for its result. `p` may be NULL (no
/// parameters); `sql`, `p` and what it points to must stay as they are
/// until the call returns (a query whose batch failed because of another
/// query is sent again from them). Suspends. Returns:
///   0: `*res` is the result (PGRES_TUPLES_OK or PGRES_COMMAND_OK);
///   AIOC_PG_ESERVER: `*res` is the server's error result (SQLSTATE and
///     message: aioc_pg_sqlstate, aioc_pg_error_message);
///   and with `*res` NULL: AIOC_PG_EBROKEN (see aioc_pg_conn_message);
///   AIOC_PG_EPROTOCOL (a COPY statement, which libpq does not allow in
///   pipeline mode: the connection is given up, and every query in flight
///   on it fails with this code; use the COPY calls); -EBUSY (a COPY runs
///   on `c`); -ECANCELED or -ETIMEDOUT: nothing is sent if the caller was
///   cancelled or past its deadline already; if it gives up while waiting,
///   the query is cancelled on the server if it is the one running there
///   (PQcancel, run on the thread pool), its result is read and dropped,
///   and the connection stays usable; -ENOMEM; -EINVAL (bad arguments, or
///   libpq refused to send: too many parameters...); AIOC_ENOTASK.
/// The caller owns `*res` and frees it with PQclear. While a query
/// cancelled on the server has not answered, new queries on `c` wait
/// before they are sent, so the cancel cannot reach them; a query already
/// pipelined behind it that the cancel reaches anyway (it ends just before
/// the cancel request arrives) is sent again.
AIOC_PG_EXTERN int aioc_pg_exec(aioc_pg_conn *c, const char *sql, const aioc_pg_params *p,
                                PGresult **res);

/// aioc_pg_exec with `n` text parameters (NULL entries: SQL NULL).
AIOC_PG_EXTERN int aioc_pg_query(aioc_pg_conn *c, const char *sql, int n, const char *const *values,
                                 PGresult **res);

/// The number of queries sent on `c` and not yet answered.
AIOC_PG_EXTERN size_t aioc_pg_in_flight(const aioc_pg_conn *c);
/// @}

/* ============================================================ results == */
/// @defgroup pg_results PostgreSQL: results
/// @{

/// Frees a result (PQclear); NULL does nothing.
AIOC_PG_EXTERN void aioc_pg_result_free(PGresult *res);

/// The SQLSTATE of an error result ("23505"...), or NULL (no result, or
/// not an error). Borrowed from `res`.
AIOC_PG_EXTERN const char *aioc_pg_sqlstate(const PGresult *res);

/// The server's primary message of an error result ("duplicate key value
/// violates unique constraint ..."), or NULL. Borrowed from `res`.
AIOC_PG_EXTERN const char *aioc_pg_error_message(const PGresult *res);

/// Row and column counts (PQntuples, PQnfields; 0 for NULL).
AIOC_PG_EXTERN int aioc_pg_rows(const PGresult *res);
/// @copydoc aioc_pg_rows
AIOC_PG_EXTERN int aioc_pg_cols(const PGresult *res);

/// The value at (row, col) as text (text results only), NULL for SQL NULL
/// or out of range. Borrowed from `res`.
AIOC_PG_EXTERN const char *aioc_pg_text(const PGresult *res, int row, int col);

/// Reads an integer column (int2, int4, int8, oid, or bool as 0/1), text
/// or binary, into `*v`. Returns 0, -ENOENT (SQL NULL), -ERANGE (row or
/// column out of range), -EINVAL (not such a column, or unreadable text).
AIOC_PG_EXTERN int aioc_pg_int(const PGresult *res, int row, int col, int64_t *v);

/// Reads a float4 / float8 (or integer) column, text or binary. As
/// aioc_pg_int.
AIOC_PG_EXTERN int aioc_pg_double(const PGresult *res, int row, int col, double *v);

/// The bytes of a value: for a binary result the raw value (bytea's
/// bytes), for a text one its text. `*len` receives the length. NULL for
/// SQL NULL or out of range. Borrowed from `res`.
AIOC_PG_EXTERN const char *aioc_pg_bytes(const PGresult *res, int row, int col, size_t *len);
/// @}

/* ============================================================== pools == */
/// @defgroup pg_pools PostgreSQL: pools
/// @{

/// A pool of connections to one server, made on demand up to a maximum.
/// Queries on the pool are pipelined onto its connections (the least busy
/// one; a new one while under the maximum and all are busy). A connection
/// idle for a while is checked before reuse (a poll of its socket: the
/// server may have closed it); a broken one is dropped and replaced on
/// demand, so a server that went down gives clear errors
/// (AIOC_PG_ECONNECT, AIOC_PG_EBROKEN) and the pool recovers once it is
/// back.
typedef struct aioc_pg_pool aioc_pg_pool;

/// Options of aioc_pg_pool_new; zeroed fields take the defaults.
typedef struct aioc_pg_pool_opts {
    unsigned max_size; ///< most connections; 0: 10
} aioc_pg_pool_opts;

/// Creates a pool for `conninfo` (copied; as aioc_pg_connect). Connects
/// nothing yet. `opts` may be NULL. Does not suspend. Returns NULL with
/// errno ENOMEM.
AIOC_PG_EXTERN aioc_pg_pool *aioc_pg_pool_new(const char *conninfo, const aioc_pg_pool_opts *opts);

/// Closes every connection and frees `pool`, once no task uses it any
/// more: connections lent out (aioc_pg_pool_acquire) must have been
/// released, and no query on the pool may still be waiting. Suspends (as
/// aioc_pg_close). NULL does nothing.
AIOC_PG_EXTERN void aioc_pg_pool_free(aioc_pg_pool *pool);

/// aioc_pg_exec on one of the pool's connections (connecting one if
/// needed). Returns as aioc_pg_exec, plus aioc_pg_connect's errors when a
/// connection had to be made and could not.
AIOC_PG_EXTERN int aioc_pg_pool_exec(aioc_pg_pool *pool, const char *sql, const aioc_pg_params *p,
                                     PGresult **res);

/// aioc_pg_pool_exec with `n` text parameters.
AIOC_PG_EXTERN int aioc_pg_pool_query(aioc_pg_pool *pool, const char *sql, int n,
                                      const char *const *values, PGresult **res);

/// Takes a connection out of the pool for the caller alone (a
/// transaction, COPY, LISTEN), waiting until its earlier pipelined
/// queries are answered; no other task's query is sent on it until it is
/// released. Waits while the pool is at its maximum and every connection
/// is lent out. Suspends. Returns 0 and `*out`, or aioc_pg_connect's
/// errors, -ECANCELED, -ETIMEDOUT, AIOC_ENOTASK.
AIOC_PG_EXTERN int aioc_pg_pool_acquire(aioc_pg_pool *pool, aioc_pg_conn **out);

/// Gives `c` back to the pool. A connection left inside a transaction
/// (or broken) is closed instead of being reused. Does not suspend.
AIOC_PG_EXTERN void aioc_pg_pool_release(aioc_pg_pool *pool, aioc_pg_conn *c);

/// Connections open now (lent out or not).
AIOC_PG_EXTERN unsigned aioc_pg_pool_size(const aioc_pg_pool *pool);
/// @}

/* ======================================================= transactions == */
/// @defgroup pg_transactions PostgreSQL: transactions
/// @{

/// BEGIN, COMMIT and ROLLBACK on `c` (which the caller holds alone: see
/// aioc_pg_pool_acquire). Suspend. Return as aioc_pg_exec (no result to
/// free).
AIOC_PG_EXTERN int aioc_pg_begin(aioc_pg_conn *c);
/// @copydoc aioc_pg_begin
AIOC_PG_EXTERN int aioc_pg_commit(aioc_pg_conn *c);
/// @copydoc aioc_pg_begin
AIOC_PG_EXTERN int aioc_pg_rollback(aioc_pg_conn *c);

/// A transaction's body, run by aioc_pg_pool_transaction on `c` between
/// BEGIN and COMMIT: return 0 to commit, a negative error to roll back.
typedef int (*aioc_pg_tx_fn)(aioc_pg_conn *c, void *arg);

/// asyncpg's `async with pool.acquire() as c: async with c.transaction():`
/// takes a connection for the caller alone (aioc_pg_pool_acquire), runs
/// BEGIN, fn(c, arg), then COMMIT if fn returned 0, else ROLLBACK, and
/// gives the connection back (closed instead if it is left broken or in a
/// transaction). The ROLLBACK runs shielded, so a caller cancelled or past
/// its deadline inside fn still leaves the server clean. Suspends. Returns
/// 0 (committed), fn's error (rolled back), COMMIT's error
/// (AIOC_PG_ESERVER, e.g. a serialization failure: its result is dropped;
/// use aioc_pg_commit yourself to read its SQLSTATE), aioc_pg_pool_acquire's
/// and BEGIN's errors, AIOC_ENOTASK.
AIOC_PG_EXTERN int aioc_pg_pool_transaction(aioc_pg_pool *pool, aioc_pg_tx_fn fn, void *arg);
/// @}

/* ===================================================== LISTEN/NOTIFY == */
/// @defgroup pg_listen_notify PostgreSQL: LISTEN/NOTIFY
/// @{

/// Waits for the next notification on `c` (after LISTEN on it: use a
/// connection of its own, e.g. from aioc_pg_pool_acquire). Notifications
/// that arrived while nobody waited are kept, in order. Suspends. Returns
/// 0 and `*out` (free it with PQfreemem), AIOC_PG_EBROKEN, -ECANCELED,
/// -ETIMEDOUT (nothing lost: the next call returns it), AIOC_ENOTASK.
AIOC_PG_EXTERN int aioc_pg_notify_next(aioc_pg_conn *c, PGnotify **out);
/// @}

/* =============================================================== COPY == */
/// @defgroup pg_copy PostgreSQL: COPY
/// @{

/// Starts `COPY ... FROM STDIN` (`sql`) on `c`, which the caller holds
/// alone; the pipeline is left while the COPY lasts. Suspends. Returns 0,
/// AIOC_PG_ESERVER (`*err_res` if not NULL receives the error result; free
/// it), AIOC_PG_EPROTOCOL (not a COPY FROM STDIN), AIOC_PG_EBROKEN,
/// -ECANCELED, -ETIMEDOUT, AIOC_ENOTASK.
AIOC_PG_EXTERN int aioc_pg_copy_in_start(aioc_pg_conn *c, const char *sql, PGresult **err_res);

/// Sends `n` bytes of COPY data (PQputCopyData), waiting for room when
/// libpq's buffer is full. Suspends. Returns 0, AIOC_PG_EBROKEN,
/// -ECANCELED / -ETIMEDOUT (the COPY is still open: end it with
/// aioc_pg_copy_in_end and a reason, from a task that is not cancelled,
/// or close the connection), AIOC_ENOTASK.
AIOC_PG_EXTERN int aioc_pg_copy_put(aioc_pg_conn *c, const void *buf, size_t n);

/// Ends a COPY FROM STDIN: `errmsg` NULL to commit it, else the reason it
/// is abandoned (PQputCopyEnd; the server then fails it with SQLSTATE
/// 57014). Waits for the server's verdict, and the connection is back in
/// pipeline mode. Suspends. Returns 0 and, if `res` is not NULL, the
/// command's result in `*res` (PQcmdTuples tells the rows; free it), or
/// AIOC_PG_ESERVER with the error result in `*res`, AIOC_PG_EBROKEN, or
/// -ECANCELED / -ETIMEDOUT: the COPY could not be ended, and the
/// connection is left unusable (AIOC_PG_EBROKEN from then on; a pool
/// replaces it).
AIOC_PG_EXTERN int aioc_pg_copy_in_end(aioc_pg_conn *c, const char *errmsg, PGresult **res);

/// Starts `COPY ... TO STDOUT` (`sql`) on `c`, held alone. As
/// aioc_pg_copy_in_start.
AIOC_PG_EXTERN int aioc_pg_copy_out_start(aioc_pg_conn *c, const char *sql, PGresult **err_res);

/// Takes the next row of COPY TO STDOUT data (PQgetCopyData, asynchronous).
/// Suspends while none has arrived. Returns its length and `*buf` (free
/// it with PQfreemem), or 0 at the end of the data: then `*res` (if not
/// NULL) receives the command's result (free it), or a negative error:
/// AIOC_PG_ESERVER (the COPY failed: `*res` is the error result),
/// AIOC_PG_EBROKEN, -ECANCELED / -ETIMEDOUT (the COPY is cancelled on the
/// server and drained; the connection stays usable), AIOC_ENOTASK.
AIOC_PG_EXTERN long aioc_pg_copy_get(aioc_pg_conn *c, char **buf, PGresult **res);
/// @}

#ifdef __cplusplus
}
#endif
#endif /* AIOC_PG_H */
