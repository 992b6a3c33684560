/**
 * @file
 * aioc_redis — a Redis client for tasks (redis.asyncio, go-redis), on
 * hiredis's RESP parser.
 *
 * One connection is shared by any number of tasks, and pipelines on its
 * own: each task sends its command as soon as it calls, without waiting for
 * the others' round trips, and the replies, which Redis sends in the order
 * of the commands, are handed back in that order to the tasks waiting for
 * them. A task cancelled, or past its deadline scope, while its reply is
 * outstanding returns -ECANCELED / -ETIMEDOUT at once; its reply is read
 * and dropped when it comes, so the connection stays in step.
 *
 * How: hiredis's `redisReader` (the RESP parser alone) over an aioc_stream,
 * not hiredis's async context with the loop watching its socket. The
 * stream already coalesces every task's writes of a loop turn into one
 * send (the pipelining comes for free: 50 tasks' GETs are one write), its
 * reads and writes are cancellation points that honour deadline scopes
 * (hiredis 0.14's async context has no timeouts at all), connect and name
 * resolution are aioc's own awaitable ones (hiredis's async connect
 * resolves names with a blocking getaddrinfo), and the FIFO matching of
 * replies to waiting tasks is a few lines here instead of callbacks. A
 * reader task per connection feeds the bytes it reads to the parser and
 * wakes the task each reply belongs to.
 *
 * Replies are hiredis's own `redisReply` trees, handed to the caller, who
 * frees them with aioc_redis_reply_free (hiredis's freeReplyObject).
 *
 * Conventions are aioc.h's: errors are negative (errno values, AIOC_E*, or
 * the AIOC_REDIS_E* codes below, named by aioc_redis_strerror); "suspends"
 * means a cancellation point that honours deadline scopes; every call is
 * made from the thread of the loop the object was made in, from a task
 * (suspending calls return AIOC_ENOTASK elsewhere).
 *
 * In a task:
 *
 *     int err;
 *     redisReply *reply;
 *     aioc_redis *r = aioc_redis_connect("redis://127.0.0.1:6379/0", NULL, &err);
 *     if (!r)
 *         return aioc_fail(err);
 *     err = aioc_redis_command(r, NULL, "SET %s %b", "key", value, len);
 *     if (!err && !(err = aioc_redis_command(r, &reply, "GET key"))) {
 *         // reply->type == REDIS_REPLY_STRING: reply->str, reply->len
 *         aioc_redis_reply_free(reply);
 *     }
 *     // err == AIOC_REDIS_ESERVER: the server's "-ERR ..." (see the codes)
 *     aioc_redis_close(r);
 */
#ifndef AIOC_REDIS_H
#define AIOC_REDIS_H

#include <stdarg.h>
#include <stddef.h>

#include <aioc.h>
#include <hiredis/hiredis.h>

#ifdef __cplusplus
extern "C" {
#endif

/// @cond INTERNAL
#if defined(AIOC_REDIS_BUILDING) && defined(__GNUC__)
#define AIOC_REDIS_EXTERN __attribute__((visibility("default")))
#else
#define AIOC_REDIS_EXTERN
#endif
/// @endcond

/* ============================================================= errors == */
/// @defgroup redis_errors Redis: errors
/// @{

/// The base of this adapter's error codes (-15001...).
#define AIOC_REDIS_EBASE (-15000)
/// The server answered with an error reply ("-ERR ...", "-WRONGTYPE ...",
/// "-NOAUTH ..."). The command's call hands that reply out (type
/// REDIS_REPLY_ERROR; its text, e.g. "WRONGTYPE Operation against a key
/// holding the wrong kind of value", in reply->str, reply->len) when the
/// caller asked for the reply; the connection is fine.
#define AIOC_REDIS_ESERVER (-15001)
/// The server sent bytes that are not RESP: the connection is dropped (the
/// next command reconnects).
#define AIOC_REDIS_EPROTO (-15002)
/// EXEC answered nil: a WATCHed key changed, the transaction did not run.
#define AIOC_REDIS_EABORTED (-15003)
/// The address is not one aioc_redis_connect understands (see there).
#define AIOC_REDIS_EADDRESS (-15004)
/// Not a failure: a pub/sub connection with aioc_redis_opts.resubscribe
/// broke and was made again, subscribed to everything as before; what was
/// published in between is lost (pub/sub keeps nothing).
#define AIOC_REDIS_ERESUBSCRIBED (-15005)

/// A description of `err`: the codes above, or anything aioc_strerror
/// knows. Static; never NULL. Callable anywhere.
AIOC_REDIS_EXTERN const char *aioc_redis_strerror(int err);
/// @}

/* ======================================================== connections == */
/// @defgroup redis_connections Redis: connections
/// @{

/// A connection, shared by the tasks of one loop (see the top).
typedef struct aioc_redis aioc_redis;

/// Options of aioc_redis_connect, aioc_redis_pubsub_connect and
/// aioc_redis_pool_new; zeroed options take the defaults and what the
/// address says. Strings are copied.
typedef struct aioc_redis_opts {
    /// AUTH with this password after connecting (over the address's); NULL:
    /// the address's password, else none.
    const char *password;
    /// The ACL user for AUTH (Redis 6+: AUTH user password); NULL: the
    /// address's user, else none (AUTH password).
    const char *username;
    /// SELECT this database after connecting when > 0; 0: the address's
    /// (redis://host/3), else 0.
    int db;
    /// Time allowed for each connect (TCP or Unix connect, AUTH, SELECT);
    /// 0: 10 s; AIOC_NO_TIMEOUT: none. A deadline scope of the caller's
    /// applies too.
    double connect_timeout;
    /// After a reconnect fails, the next is not tried for this long,
    /// doubling at each failure up to backoff_max; a connect that works
    /// resets it. 0: 0.05 s and 2 s.
    double backoff_min;
    double backoff_max; ///< the longest wait between reconnects; 0: 2 s
    /// Messages a pub/sub connection buffers before it stops reading its
    /// socket (and the server, once its own output buffer for us is full,
    /// drops the connection: Redis's client-output-buffer-limit pubsub);
    /// 0: 1024.
    size_t pubsub_buffer;
    /// Pub/sub only. Non-zero: when the connection breaks, the iterator
    /// (aioc_redis_pubsub_next) connects again and subscribes to every
    /// channel and pattern asked for, with the backoff above between
    /// attempts, and says so (go-redis and redis-py resubscribe too, but
    /// silently). 0: a broken connection stays broken.
    int resubscribe;
} aioc_redis_opts;

/// Connects to the server at `addr` and returns the connection.
/// `addr` is one of:
///   "redis://[[user]:password@]host[:port][/db]"  (port 6379, db 0; the
///                       user and password may be %-encoded)
///   "unix:/path/to/socket" or "/path/to/socket"
///   "host:port", "host" (port 6379), "[ipv6]:port"
/// Names are resolved and connected to without blocking the loop
/// (aioc_tcp_connect: Happy Eyeballs); then AUTH and SELECT are sent if
/// asked for (opts or the address). `opts` may be NULL. Suspends. Returns
/// the connection (free it with aioc_redis_close; `*err` = 0 if `err` is
/// not NULL), or NULL with `*err` (`err` may be NULL) set to:
/// AIOC_REDIS_EADDRESS, the connect's (-ECONNREFUSED, -ENOENT, a resolver
/// error, ...), -ETIMEDOUT (connect_timeout or the caller's deadline),
/// -ECANCELED, AIOC_REDIS_ESERVER (AUTH or SELECT refused), -ECONNRESET
/// (the server closed the connection), -ENOMEM, AIOC_ENOTASK.
AIOC_REDIS_EXTERN aioc_redis *aioc_redis_connect(const char *addr, const aioc_redis_opts *opts,
                                                 int *err);

/// Closes the connection and frees it. Replies still due to tasks that
/// gave up are dropped. Must not race other calls on `r`: call it once the
/// tasks that use it are done, from a task or callback of its loop (before
/// aioc_run returns). Does not suspend. NULL does nothing.
AIOC_REDIS_EXTERN void aioc_redis_close(aioc_redis *r);

/// Non-zero while the connection is up (0 after it broke, until a command
/// reconnects it). Does not suspend.
AIOC_REDIS_EXTERN int aioc_redis_connected(const aioc_redis *r);

/// Sends the command made of `argc` arguments `argv[i]` of `argvlen[i]`
/// bytes each (binary-safe; `argvlen` NULL: each is a NUL-terminated
/// string) and waits for its reply. Any number of tasks may call at once:
/// the commands go out as they come (coalesced into one write per loop
/// turn) and each caller gets its own reply. If the connection has broken
/// since the last command, it is reconnected first (AUTH and SELECT
/// again), unless the last reconnect failed less than the backoff ago
/// (aioc_redis_opts): then the call fails at once with that failure's
/// error. Suspends. Returns:
///   0                 the reply is in `*reply` (if `reply` is not NULL;
///                     else it is freed): the caller's, to free with
///                     aioc_redis_reply_free. Replies of type
///                     REDIS_REPLY_STRING, _INTEGER, _STATUS, _NIL, _ARRAY
///                     (elements may be error replies, as in EXEC's);
///   AIOC_REDIS_ESERVER the server answered with an error: `*reply` (if not
///                     NULL) holds it, type REDIS_REPLY_ERROR, its text in
///                     reply->str; free it likewise;
///   -ECANCELED, -ETIMEDOUT  the caller was cancelled or its deadline
///                     passed; if the command had gone out, its reply is
///                     dropped when it comes. (If the reply had already
///                     come when the cancellation was seen, the reply is
///                     returned as above and the cancellation stays pending
///                     for the next suspending call);
///   -ECONNRESET       the connection broke (the server closed it, or was
///                     killed) before the reply came: the command may or
///                     may not have run. Every command waiting on that
///                     connection fails so; the next one reconnects;
///   -EPIPE or another write/read error of the socket, likewise;
///   AIOC_REDIS_EPROTO the server's bytes were not RESP (likewise);
///   a reconnect's error (see aioc_redis_connect);
///   -EINVAL           argc < 1 or argv NULL;
///   -ENOMEM, AIOC_ENOTASK.
/// On every error but AIOC_REDIS_ESERVER, `*reply` is NULL.
AIOC_REDIS_EXTERN int aioc_redis_command_argv(aioc_redis *r, int argc, const char *const *argv,
                                              const size_t *argvlen, redisReply **reply);

/// aioc_redis_command_argv with the command made by hiredis's
/// redisFormatCommand from `fmt`: words split at spaces, "%s" a C string
/// argument, "%b" a binary one (a pointer and a size_t length), "%d",
/// "%lld", ... as printf (e.g. "SET %s %b", key, buf, len). Returns as
/// aioc_redis_command_argv, or -EINVAL if hiredis cannot format it.
AIOC_REDIS_EXTERN int aioc_redis_command(aioc_redis *r, redisReply **reply, const char *fmt, ...);

/// aioc_redis_command with a va_list.
AIOC_REDIS_EXTERN int aioc_redis_vcommand(aioc_redis *r, redisReply **reply, const char *fmt,
                                          va_list ap);

/// Frees a reply (and its elements) this library handed out: hiredis's
/// freeReplyObject. NULL does nothing. Callable anywhere.
AIOC_REDIS_EXTERN void aioc_redis_reply_free(redisReply *reply);
/// @}

/* ======================================================= transactions == */
/// @defgroup redis_transactions Redis: transactions
/// @{

/// A transaction: commands gathered, then sent as MULTI, the commands and
/// EXEC in one write, so that no other task's command on the shared
/// connection comes in between. WATCH belongs to a connection, not to a
/// transaction: with other tasks on the same connection their commands
/// (or their EXEC) would end it, so to WATCH, take a connection of your
/// own (aioc_redis_pool_acquire) and send WATCH on it before EXEC.
typedef struct aioc_redis_tx aioc_redis_tx;

/// An empty transaction. Does not suspend. Returns NULL (errno ENOMEM) if
/// out of memory.
AIOC_REDIS_EXTERN aioc_redis_tx *aioc_redis_tx_new(void);

/// Adds a command (arguments as aioc_redis_command_argv). Does not
/// suspend. Returns 0, -EINVAL, -ENOMEM.
AIOC_REDIS_EXTERN int aioc_redis_tx_add_argv(aioc_redis_tx *tx, int argc, const char *const *argv,
                                             const size_t *argvlen);

/// Adds a command made from `fmt` (as aioc_redis_command). Returns 0,
/// -EINVAL, -ENOMEM.
AIOC_REDIS_EXTERN int aioc_redis_tx_add(aioc_redis_tx *tx, const char *fmt, ...);

/// Sends MULTI, the commands added so far and EXEC on `r`, and waits for
/// EXEC's answer. The transaction keeps its commands (exec it again, or
/// free it). Suspends. Returns 0 and, in `*reply` (if not NULL), EXEC's
/// array: one reply per command, in order, the caller's to free (a command
/// that failed as it ran is an error element: Redis runs the others);
/// AIOC_REDIS_EABORTED if EXEC answered nil (a WATCHed key changed);
/// AIOC_REDIS_ESERVER if the server refused the transaction (a command it
/// could not queue: EXECABORT; `*reply` holds the first error, e.g. "ERR
/// unknown command"); -EINVAL for an empty transaction; else as
/// aioc_redis_command_argv.
AIOC_REDIS_EXTERN int aioc_redis_tx_exec(aioc_redis *r, aioc_redis_tx *tx, redisReply **reply);

/// Frees a transaction. NULL does nothing. Does not suspend.
AIOC_REDIS_EXTERN void aioc_redis_tx_free(aioc_redis_tx *tx);
/// @}

/* ============================================================ pub/sub == */
/// @defgroup redis_pub_sub Redis: pub/sub
/// @{

/// A pub/sub connection: a dedicated connection that subscribes to
/// channels and patterns and delivers their messages, in the order the
/// server sent them, through aioc_redis_pubsub_next. By default it does
/// not reconnect: when it breaks, next returns the error once the messages
/// it buffered are taken; make a new one and subscribe again. With
/// aioc_redis_opts.resubscribe it reconnects and subscribes again itself
/// (see aioc_redis_pubsub_next).
typedef struct aioc_redis_pubsub aioc_redis_pubsub;

/// A message. The pointers point into `reply`, which the message owns;
/// free it with aioc_redis_message_free.
typedef struct aioc_redis_message {
    const char *channel; ///< the channel it was published on
    size_t channel_len;  ///< its length
    const char *pattern; ///< the pattern it matched (psubscribe), else NULL
    size_t pattern_len;  ///< its length (0 without a pattern)
    const char *payload; ///< the message, binary-safe
    size_t payload_len;  ///< its length
    redisReply *reply;   ///< the whole "message" / "pmessage" reply
} aioc_redis_message;

/// Connects for pub/sub (addresses and options as aioc_redis_connect).
/// Suspends. Returns the connection (free it with aioc_redis_pubsub_close;
/// `*err` = 0 if `err` is not NULL), or NULL with `*err` (`err` may be
/// NULL) set to one of aioc_redis_connect's errors.
AIOC_REDIS_EXTERN aioc_redis_pubsub *
aioc_redis_pubsub_connect(const char *addr, const aioc_redis_opts *opts, int *err);

/// SUBSCRIBE to the `n` channels `channels` (NUL-terminated names), and
/// wait until the server has confirmed each. Messages on them are delivered
/// from then on. Suspends. Returns 0, -EINVAL (n == 0), AIOC_REDIS_ESERVER,
/// -ECANCELED / -ETIMEDOUT (the subscriptions may still take effect), the
/// connection's error (with aioc_redis_opts.resubscribe the channels are
/// still made at the reconnect), -ENOMEM, AIOC_ENOTASK.
AIOC_REDIS_EXTERN int aioc_redis_subscribe(aioc_redis_pubsub *ps, const char *const *channels,
                                           size_t n);

/// PSUBSCRIBE to `n` glob-style patterns ("news.*"), as aioc_redis_subscribe.
AIOC_REDIS_EXTERN int aioc_redis_psubscribe(aioc_redis_pubsub *ps, const char *const *patterns,
                                            size_t n);

/// UNSUBSCRIBE from `n` channels (n ≥ 1), waiting for the confirmations;
/// messages published before it stay buffered. Returns as subscribe.
AIOC_REDIS_EXTERN int aioc_redis_unsubscribe(aioc_redis_pubsub *ps, const char *const *channels,
                                             size_t n);

/// PUNSUBSCRIBE from `n` patterns (n ≥ 1), as aioc_redis_unsubscribe.
AIOC_REDIS_EXTERN int aioc_redis_punsubscribe(aioc_redis_pubsub *ps, const char *const *patterns,
                                              size_t n);

/// The next message, waiting for one: the iterator's step. Suspends while
/// none is buffered. Returns 0 and `*msg` (the caller's: free it with
/// aioc_redis_message_free); AIOC_EOF when nothing is subscribed any more
/// (the server's count of subscriptions fell to 0, or nothing was ever
/// subscribed) and no message is buffered, the end of the iteration as for
/// aioc's other iterators (a later subscribe starts it again); the
/// connection's error once it broke and the buffered messages were taken
/// (-ECONNRESET...); -ECANCELED / -ETIMEDOUT (no message taken); -EINVAL
/// (`ps` or `msg` NULL); AIOC_ENOTASK. Taking a message lets the connection read on if its
/// buffer was full.
/// With aioc_redis_opts.resubscribe, a broken connection is not the end:
/// once its buffered messages are taken, each call makes one attempt to
/// connect again and subscribe to every channel and pattern asked for
/// (subscribe calls that failed because the connection was broken
/// included; unsubscribed ones not), after waiting the backoff (none
/// before the first attempt, then backoff_min doubling to backoff_max).
/// It returns AIOC_REDIS_ERESUBSCRIBED once the new connection is
/// subscribed (messages published in between were lost: tell the user,
/// reload state), or the attempt's error (a connect error, -ECONNREFUSED,
/// ...): call again to try again. -ECANCELED / -ETIMEDOUT during the
/// attempt leave the connection broken, to be tried at the next call.
AIOC_REDIS_EXTERN int aioc_redis_pubsub_next(aioc_redis_pubsub *ps, aioc_redis_message **msg);

/// Frees a message. NULL does nothing. Callable anywhere.
AIOC_REDIS_EXTERN void aioc_redis_message_free(aioc_redis_message *msg);

/// Closes the pub/sub connection and frees it with the messages still
/// buffered. Must not race other calls on `ps`. Does not suspend. NULL
/// does nothing.
AIOC_REDIS_EXTERN void aioc_redis_pubsub_close(aioc_redis_pubsub *ps);
/// @}

/* ============================================================== pools == */
/// @defgroup redis_pools Redis: pools
/// @{

/// A pool of up to `max_size` connections to one server, each lent to one
/// task at a time (for commands that hold a connection: WATCH ... EXEC,
/// BLPOP, a long pipeline of one's own). Connections are made when needed
/// and kept when given back; one that broke is closed when it is given
/// back or found broken when lent, and a new one made in its place.
typedef struct aioc_redis_pool aioc_redis_pool;

/// A pool for `addr` (checked now, connected to later) with `opts` (may be
/// NULL; copied). Does not suspend. Returns the pool (free it with
/// aioc_redis_pool_free; `*err` = 0 if `err` is not NULL), or NULL with
/// `*err` (`err` may be NULL) set to: -EINVAL (max_size 0 or above 2^20),
/// AIOC_REDIS_EADDRESS, -ENOMEM.
AIOC_REDIS_EXTERN aioc_redis_pool *
aioc_redis_pool_new(const char *addr, const aioc_redis_opts *opts, size_t max_size, int *err);

/// Lends a connection to the caller, waiting while all `max_size` are
/// lent (first come, first served), connecting a new one if none is idle.
/// Suspends. Returns 0 and `*out` (give it back with
/// aioc_redis_pool_release, never close it), or -ECANCELED, -ETIMEDOUT, a
/// connect error (see aioc_redis_connect; after a failed connect, within
/// the backoff of aioc_redis_opts, that error again at once, without
/// trying), AIOC_ENOTASK.
AIOC_REDIS_EXTERN int aioc_redis_pool_acquire(aioc_redis_pool *pool, aioc_redis **out);

/// Gives a lent connection back (closed if it broke). Does not suspend.
AIOC_REDIS_EXTERN void aioc_redis_pool_release(aioc_redis_pool *pool, aioc_redis *r);

/// Acquire, aioc_redis_command_argv, release. Returns as those.
AIOC_REDIS_EXTERN int aioc_redis_pool_command_argv(aioc_redis_pool *pool, int argc,
                                                   const char *const *argv, const size_t *argvlen,
                                                   redisReply **reply);

/// Acquire, aioc_redis_vcommand, release.
AIOC_REDIS_EXTERN int aioc_redis_pool_command(aioc_redis_pool *pool, redisReply **reply,
                                              const char *fmt, ...);

/// Connections open now (lent and idle).
AIOC_REDIS_EXTERN size_t aioc_redis_pool_size(const aioc_redis_pool *pool);

/// Closes the idle connections and frees the pool. Every lent connection
/// must have been given back. Does not suspend. NULL does nothing.
AIOC_REDIS_EXTERN void aioc_redis_pool_free(aioc_redis_pool *pool);
/// @}

#ifdef __cplusplus
}
#endif
#endif /* AIOC_REDIS_H */
