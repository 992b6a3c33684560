/**
 * @file
 * aioc_curl — libcurl transfers that suspend the calling task instead of
 * blocking the thread, driven by the loop through libcurl's multi-socket
 * interface.
 *
 * Each loop lazily gets one CURLM multi handle, kept in loop-local storage
 * and cleaned up when aioc_run ends, so every transfer of that loop shares
 * its connection cache: a second request to the same host reuses the
 * connection. Any number of tasks may run transfers at once.
 *
 * libcurl's callbacks (write, read, header, progress, ...) are called from
 * inside libcurl, on a watcher task or a loop callback that is driving the
 * multi handle, not on the task that called aioc_curl_perform. They must
 * not suspend (no aioc_* call that suspends): use CURL_WRITEFUNC_PAUSE and
 * curl_easy_pause() for back-pressure instead.
 *
 * Errors are aioc's (negative errno, AIOC_E*) plus one range for libcurl's
 * own: AIOC_CURL_EBASE - CURLcode. aioc_curl_strerror() names them all.
 *
 * In a task:
 *
 *     aioc_curl_response r;
 *     int err = aioc_curl_fetch("http://127.0.0.1:8080/", NULL, &r);
 *     if (!err) {
 *         printf("%ld: %.*s\n", r.status, (int)r.body_len, r.body);
 *         aioc_curl_response_free(&r);
 *     }
 *
 * or, with every libcurl option at hand:
 *
 *     CURL *easy = curl_easy_init();
 *     curl_easy_setopt(easy, CURLOPT_URL, url);
 *     curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
 *     err = aioc_curl_perform(easy);   // other tasks run meanwhile
 *     curl_easy_cleanup(easy);
 */
#ifndef AIOC_CURL_H
#define AIOC_CURL_H

#include <stddef.h>

#include <aioc.h>
#include <curl/curl.h>

#ifdef __cplusplus
extern "C" {
#endif

/// @cond INTERNAL
#if defined(AIOC_CURL_BUILDING) && defined(__GNUC__)
#define AIOC_CURL_EXTERN __attribute__((visibility("default")))
#else
#define AIOC_CURL_EXTERN
#endif
/// @endcond

/// A libcurl failure: AIOC_CURL_EBASE - CURLcode (CURLE_COULDNT_CONNECT, 7,
/// gives -13007). The few failures with a natural errno are returned as that
/// errno instead (see aioc_curl_perform).
#define AIOC_CURL_EBASE (-13000)
/// The largest CURLcode the range holds.
#define AIOC_CURL_EMAX_CODE 999

/// The error code for a libcurl result: 0 for CURLE_OK, -ETIMEDOUT for
/// CURLE_OPERATION_TIMEDOUT, -ENOMEM for CURLE_OUT_OF_MEMORY, else
/// AIOC_CURL_EBASE - code (a code above AIOC_CURL_EMAX_CODE, which libcurl
/// does not have, gives AIOC_CURL_EBASE - AIOC_CURL_EMAX_CODE). Does not
/// suspend; callable anywhere.
AIOC_CURL_EXTERN int aioc_curl_error(CURLcode code);

/// The CURLcode behind `err` if it lies in libcurl's range, else -1.
/// Callable anywhere.
AIOC_CURL_EXTERN int aioc_curl_code(int err);

/// A description of `err`: libcurl's curl_easy_strerror() text for the
/// libcurl range, aioc_strerror() for every other code. Static; never NULL.
/// Callable anywhere.
AIOC_CURL_EXTERN const char *aioc_curl_strerror(int err);

/// Runs the transfer that `easy` (fully configured by the caller) describes
/// on the loop's multi handle, and suspends the calling task until it ends.
/// The easy handle stays the caller's in every case; the call sets its
/// CURLOPT_OPENSOCKETFUNCTION / CLOSESOCKETFUNCTION (and their data) so that
/// the loop sees every socket close, and leaves them set. Suspends.
/// Returns 0 when libcurl reports CURLE_OK (an HTTP error status is a
/// success here: read CURLINFO_RESPONSE_CODE), or:
///   -ECANCELED  the task was cancelled (or a cancel scope around it);
///   -ETIMEDOUT  an enclosing deadline scope expired, or libcurl's own
///               CURLOPT_TIMEOUT / CURLOPT_CONNECTTIMEOUT ran out;
///   -ECONNREFUSED  the server refused the connection;
///   -ENOMEM     out of memory (ours or libcurl's);
///   -EBUSY      `easy` is already in a transfer (on this or another loop);
///   -EINVAL     `easy` is NULL;
///   AIOC_ENOTASK  called outside a task (nothing done);
///   AIOC_CURL_EBASE - CURLcode for every other libcurl failure
///               (CURLE_COULDNT_RESOLVE_HOST, CURLE_SSL_CONNECT_ERROR, ...).
/// When cancelled or timed out, the transfer is removed from the multi
/// handle before the call returns (its connection is closed if it was in
/// mid-transfer); what the callbacks received so far stays received. If the
/// transfer had already ended when the cancellation arrived, its result is
/// returned and the cancellation stays pending for the next suspension.
AIOC_CURL_EXTERN int aioc_curl_perform(CURL *easy);

/// The loop's multi handle, created if needed (for curl_multi_setopt, e.g.
/// CURLMOPT_MAX_HOST_CONNECTIONS). Owned by the loop: never clean it up or
/// change its SOCKETFUNCTION / TIMERFUNCTION. Its CURLMOPT_MAXCONNECTS is
/// kept at 4 per transfer of the most run at once so far (libcurl sizes
/// its cache by the handles added at the moment, and every transfer adds
/// and removes its own), so that a burst's connections stay for the next.
/// Does not suspend. Returns
/// NULL outside a loop or when out of memory.
AIOC_CURL_EXTERN CURLM *aioc_curl_multi(void);

/* ===================================================== convenience == */
/// @defgroup curl_convenience HTTP client (libcurl): convenience
/// @{

/// A request for aioc_curl_fetch; zeroed options make a plain GET.
typedef struct aioc_curl_fetch_opts {
    /// "GET" (the default for NULL), "POST", "PUT", "DELETE", "HEAD", ...
    const char *method;
    /// Request headers ("Name: value"), `nheaders` of them; may be NULL.
    const char *const *headers;
    size_t nheaders; ///< the number of `headers`
    /// Request body (sent as is, with Content-Length), `body_len` bytes;
    /// NULL for none. Borrowed for the call.
    const void *body;
    size_t body_len; ///< the size of `body` in bytes
    /// Whole-transfer limit in seconds (CURLOPT_TIMEOUT_MS); 0 or
    /// AIOC_NO_TIMEOUT: none. Running out gives -ETIMEDOUT; a negative
    /// (or NaN) limit has run out already: -ETIMEDOUT, nothing is sent.
    double timeout;
    /// Non-zero: follow redirects (up to 10).
    int follow_redirects;
    /// Refuse bodies over this many bytes (AIOC_CURL_EBASE -
    /// CURLE_WRITE_ERROR); 0: 1 GiB.
    size_t max_body;
    /// HTTPS: trust the CA certificates in this PEM file instead of the
    /// system's store (CURLOPT_CAINFO); NULL: the system's. Certificates
    /// and host names are always verified here (a failure is
    /// AIOC_CURL_EBASE - CURLE_PEER_FAILED_VERIFICATION); anything else,
    /// client certificates included, is aioc_curl_perform's.
    const char *ca_file;
} aioc_curl_fetch_opts;

/// What a fetch returns. Owned by the caller: free it with
/// aioc_curl_response_free.
typedef struct aioc_curl_response {
    long status;         ///< HTTP status code (0 if none was received)
    char *body;          ///< malloc'd, NUL-terminated (for convenience)
    size_t body_len;     ///< bytes in `body`, not counting the NUL
    char *effective_url; ///< malloc'd: the last URL after redirects
    /// malloc'd, NUL-terminated: the header lines of the last response
    /// ("Name: value\r\n" each; without the status line, and only the
    /// final response's after redirects or a 100 Continue); at most 1 MiB,
    /// more fails the fetch. Read one with aioc_curl_response_header.
    char *headers;
    size_t headers_len; ///< bytes in `headers`, not counting the NUL
} aioc_curl_response;

/// Makes one HTTP request with a fresh easy handle through
/// aioc_curl_perform, collecting the body into memory. `opts` may be NULL
/// (a plain GET). Suspends. On success returns 0 and fills `*resp` (any
/// status: 404 is a success with status 404). On failure returns an error
/// as aioc_curl_perform, or -EINVAL (NULL url or resp), -ENOMEM, with
/// `*resp` zeroed (nothing to free). `url` and `opts` are only read during
/// the call.
AIOC_CURL_EXTERN int aioc_curl_fetch(const char *url, const aioc_curl_fetch_opts *opts,
                                     aioc_curl_response *resp);

/// Frees what a fetch put in `resp` and zeroes it. NULL does nothing.
AIOC_CURL_EXTERN void aioc_curl_response_free(aioc_curl_response *resp);

/// The value of the first response header named `name` (case-insensitive),
/// without surrounding blanks, copied into `buf` (`cap` bytes,
/// NUL-terminated). Does not suspend. Returns its length, -ENOENT (no such
/// header), -ENOSPC (`buf` too small).
AIOC_CURL_EXTERN long aioc_curl_response_header(const aioc_curl_response *resp, const char *name,
                                                char *buf, size_t cap);
/// @}

#ifdef __cplusplus
}
#endif
#endif /* AIOC_CURL_H */
