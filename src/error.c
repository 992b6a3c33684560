/* Error names and messages, from one table. errno values go to strerror;
 * library codes and the common errno names are listed here. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <string.h>

#include "aioc.h"
#include "arch/switch.h"

#define AIOC_LIBRARY_ERRORS(X)                                                                     \
    X(AIOC_EOF, "end of stream")                                                                   \
    X(AIOC_ESTALE, "invalid handle, or its object is gone (a task already awaited or detached?)")  \
    X(AIOC_ENOTASK, "must be called from inside a task")                                           \
    X(AIOC_ENOLOOP, "no aioc loop is running in this thread")                                      \
    X(AIOC_EAWAITED, "the task is already being awaited")                                          \
    X(AIOC_EBROKEN, "the barrier was aborted or reset")                                            \
    X(AIOC_ELIMIT, "no separator within the stream's limit")                                       \
    X(AIOC_EINCOMPLETE, "the stream ended before what was asked for")

// clang-format off
#define AIOC_ERRNO_NAMES(X)                                                   \
    X(EPERM) X(ENOENT) X(EINTR) X(EIO) X(EBADF) X(EAGAIN) X(ENOMEM)           \
    X(EACCES) X(EFAULT) X(EBUSY) X(EEXIST) X(EINVAL) X(ENFILE) X(EMFILE)      \
    X(ENOSPC) X(EPIPE) X(ERANGE) X(EDEADLK) X(ENOSYS) X(ECANCELED)            \
    X(ETIMEDOUT) X(ECONNRESET) X(ECONNREFUSED) X(ECONNABORTED) X(ESHUTDOWN)   \
    X(EALREADY) X(EINPROGRESS) X(ENOTCONN) X(EADDRINUSE) X(EHOSTUNREACH)      \
    X(ENETUNREACH) X(ESRCH) X(EMSGSIZE) X(ENOTSUP) X(EPROTO) X(ENOBUFS)       \
    X(EOVERFLOW) X(EXDEV) X(EISDIR) X(ENOTDIR) X(ENOTEMPTY) X(EROFS)         \
    X(EFBIG) X(ESPIPE) X(ELOOP) X(ENAMETOOLONG) X(EDQUOT)
// clang-format on

const char *aioc_strerror(int err) {
    switch (err) {
#define MSG(code, text)                                                                            \
    case code:                                                                                     \
        return text;
        AIOC_LIBRARY_ERRORS(MSG)
#undef MSG
    case 0:
        return "success";
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    if (err <= AIOC_EAI_BASE && err > AIOC_EAI_BASE - 1000)
        return gai_strerror(err - AIOC_EAI_BASE);
    return "unknown error";
}

const char *aioc_err_name(int err) {
    switch (err) {
#define NAME(code, text)                                                                           \
    case code:                                                                                     \
        return #code;
        AIOC_LIBRARY_ERRORS(NAME)
#undef NAME
#define ERRNO_NAME(e)                                                                              \
    case -e:                                                                                       \
        return #e;
        AIOC_ERRNO_NAMES(ERRNO_NAME)
#undef ERRNO_NAME
    case 0:
        return "0";
    }
    if (err <= AIOC_EAI_BASE && err > AIOC_EAI_BASE - 1000)
        return "AIOC_EAI";
    return "EUNKNOWN";
}

const char *aioc_version(void) { return "0.1.0"; }

const char *aioc_switch_method(void) { return aioc__switch_name; }
