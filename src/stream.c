/* Buffered streams over a transport (asyncio's StreamReader/StreamWriter).
 *
 * The read buffer is refilled by transport reads; readuntil searches it and
 * hands out a pointer into it, valid until the next call. A lock per
 * direction serialises tasks that read (or write) the same stream at once:
 * a transport call may suspend, and two tasks must not interleave halves
 * of a refill or a flush. The first write error sticks: later writes and
 * drains return it.
 *
 * Writes are coalesced per loop turn. A small write only appends to the
 * write buffer and asks the loop to flush the stream once the turn's ready
 * tasks have run (an aioc__deferred record): everything any task wrote to
 * the stream in the meantime leaves in one transport write, in order. A
 * read flushes first, so a request is out before its reply is awaited and
 * a request/response exchange costs no more calls than before; a write of
 * WRITE_DIRECT bytes or more with nothing queued goes straight to the
 * transport, without a copy. Writers wait (parked on the write lock) once
 * the buffer reaches the high-water mark, so memory stays bounded without
 * asking callers to drain.
 *
 * What the end-of-turn flush cannot send at once is sent by a small flusher
 * task, as asyncio's loop sends a transport's buffer, so the bytes go out
 * although the writer went on to wait for something else. Being a task it
 * may outlive its stream's owner by a moment: if the stream is closed or
 * aborted meanwhile, the flusher frees it when it ends (a task-local
 * destructor, which runs even for a flusher cancelled before it started).
 *
 * The stream knows nothing of descriptors: it moves bytes through its
 * transport's calls only (aioc_transport). Streams over descriptors,
 * sockets and pipes alike, are src/fd_stream.c's. */
#define _GNU_SOURCE
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "debug_checks.h"
#include "scheduler.h"
#include "stream.h"

#define DEFAULT_LIMIT (64u * 1024u)
#define DEFAULT_HIGH (64u * 1024u)
#define CHUNK 4096u                /* a buffer's first size */
#define SPARE_CHUNKS 64u           /* first-size buffers a loop keeps for reuse */
#define WRITE_DIRECT (16u * 1024u) /* writes this large skip the buffer when it is empty */

typedef struct buffer {
    char *data;
    size_t start, end, cap; /* bytes in [start, end) */
} buffer;

struct aioc_stream {
    const aioc_transport *ops;
    void *ctx;
    size_t limit, high, low;
    buffer in, out;
    bool eof;          /* the transport said end of stream */
    int write_error;   /* sticky */
    bool write_closed; /* write_eof done: writes fail with -EPIPE */
    size_t consumed;   /* bytes handed out by the last readuntil */
    aioc_lock reading, writing;
    /* debug mode's record of the stream (src/debug_checks.c) */
    struct aioc__debug_stream *debug;
    aioc_task flusher;         /* id 0 when none runs */
    bool flushing;             /* the flusher is inside a transport write */
    bool abandoned;            /* closed while the flusher lives: it frees */
    bool close_pending;        /* ... and it closes the transport first */
    aioc__deferred flush_soon; /* queued while small writes wait for the turn's end */
    alignas(max_align_t) unsigned char state[]; /* the transport's, if it lives here */
};

/* ------------------------------------------------------------- buffers -- */

static size_t used(const buffer *b) { return b->end - b->start; }

/* First-size buffers come from, and go back to, a small spare list of the
 * loop's: an idle stream gives its read buffer back while it waits (see
 * refill), and takes one again when data comes, without a malloc. */
static char *chunk_get(void) {
    aioc__loop *loop = aioc__loop_get();
    return loop ? aioc__spare_get(&loop->spare_buffers, CHUNK) : malloc(CHUNK);
}

static void chunk_put(char *c) {
    aioc__loop *loop = aioc__loop_get();
    if (loop)
        aioc__spare_put(&loop->spare_buffers, c, SPARE_CHUNKS);
    else
        free(c);
}

/* Debug mode: 0, or the error that refuses another thread's stream
 * (src/debug_checks.h). */
static inline int owned(const aioc_stream *s) {
    return aioc__debug_owned(aioc__loop_get(), s, "stream");
}

static void buffer_release(buffer *b) {
    if (b->cap == CHUNK)
        chunk_put(b->data);
    else
        free(b->data);
    *b = (buffer){0};
}

/* Makes room for `n` more bytes at the end. */
static int reserve(buffer *b, size_t n) {
    if (b->cap - b->end >= n)
        return 0;
    if (b->start > 0) { /* slide down first */
        memmove(b->data, b->data + b->start, used(b));
        b->end -= b->start;
        b->start = 0;
        if (b->cap - b->end >= n)
            return 0;
    }
    if (b->cap == 0 && n <= CHUNK) {
        if (!(b->data = chunk_get()))
            return -ENOMEM;
        b->cap = CHUNK;
        return 0;
    }
    size_t cap = b->cap ? b->cap : CHUNK;
    while (cap - b->end < n)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data)
        return -ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

/* ------------------------------------------------------------ creation -- */

static void flush_at_turn_end(aioc__deferred *d);

aioc_stream *aioc__stream_new_with_state(const aioc_transport *ops, size_t size, void **ctx,
                                         const aioc_stream_opts *opts) {
    aioc_stream *s = calloc(1, sizeof *s + size);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    s->ops = ops;
    s->ctx = *ctx = size ? s->state : NULL;
    s->limit = opts && opts->limit ? opts->limit : DEFAULT_LIMIT;
    s->high = opts && opts->high_water ? opts->high_water : DEFAULT_HIGH;
    s->low = opts && opts->low_water ? opts->low_water : s->high / 4;
    if (s->low > s->high)
        s->low = s->high;
    aioc_lock_init(&s->reading);
    aioc_lock_init(&s->writing);
    aioc__list_init(&s->flush_soon.link);
    s->flush_soon.run = flush_at_turn_end;
    aioc__debug_stream_opened(&s->debug);
    return s;
}

aioc_stream *aioc_stream_new_transport(const aioc_transport *ops, void *ctx,
                                       const aioc_stream_opts *opts) {
    if (!ops || !ops->read || !ops->write || !ops->write_eof || !ops->close ||
        !ops->drained != !ops->wait_readable) {
        errno = EINVAL;
        return NULL;
    }
    void *none;
    aioc_stream *s = aioc__stream_new_with_state(ops, 0, &none, opts);
    if (s)
        s->ctx = ctx;
    return s;
}

/* -------------------------------------------------------------- reading -- */

static int flush_before_read(aioc_stream *s);

void *aioc_stream_transport_ctx(const aioc_stream *s, const aioc_transport *ops) {
    return s && ops && s->ops == ops ? s->ctx : NULL;
}

/* Drops what the last readuntil handed out. */
static void settle(aioc_stream *s) {
    s->in.start += s->consumed;
    s->consumed = 0;
    if (s->in.start == s->in.end)
        s->in.start = s->in.end = 0;
}

/* One transport read into the buffer: > 0 bytes, 0 at the end, or an error. */
static long refill(aioc_stream *s) {
    if (s->eof)
        return 0;
    if (used(&s->in) == 0 && s->ops->drained && s->ops->drained(s->ctx)) {
        /* Nothing buffered and nothing to read until the transport hears
         * of more: wait without a buffer, so an idle connection holds none. */
        buffer_release(&s->in);
        int err = s->ops->wait_readable(s->ctx);
        if (err)
            return err;
    }
    int err = reserve(&s->in, CHUNK);
    if (err)
        return err;
    long n = s->ops->read(s->ctx, s->in.data + s->in.end, s->in.cap - s->in.end);
    if (n > 0)
        s->in.end += (size_t)n;
    else if (n == 0)
        s->eof = true;
    return n;
}

long aioc_stream_read(aioc_stream *s, void *buf, size_t n) {
    int err = owned(s);
    if (err || (err = flush_before_read(s)) || (err = aioc_lock_acquire(&s->reading)))
        return err;
    settle(s);
    long r = 0;
    if (used(&s->in) == 0 && n >= CHUNK && !s->eof) {
        /* a large read with nothing buffered: straight into the caller's
         * buffer, without a copy (and without a buffer of our own) */
        buffer_release(&s->in);
        r = s->ops->read(s->ctx, buf, n);
        if (r == 0)
            s->eof = true;
        aioc_lock_release(&s->reading);
        return r;
    }
    if (used(&s->in) == 0 && n > 0)
        r = refill(s);
    if (r >= 0) {
        size_t take = used(&s->in) < n ? used(&s->in) : n;
        if (take) /* no buffer at all at the end of the stream */
            memcpy(buf, s->in.data + s->in.start, take);
        s->in.start += take;
        r = (long)take;
    }
    aioc_lock_release(&s->reading);
    return r;
}

/* As asyncio's readexactly: the bytes wait in the read buffer until all
 * `n` are there, so a call cut short by a cancel, a deadline or an error
 * consumes nothing and a retry reads them. Only the end of the stream
 * hands out a partial read. */
long aioc_stream_readexactly(aioc_stream *s, void *buf, size_t n, size_t *got) {
    if (got)
        *got = 0;
    int err = owned(s);
    if (err || (err = flush_before_read(s)) || (err = aioc_lock_acquire(&s->reading)))
        return err;
    settle(s);
    long r = 1;
    while (used(&s->in) < n && r > 0) {
        /* room for the rest, so that a large read takes few transport calls */
        if ((r = used(&s->in) ? reserve(&s->in, n - used(&s->in)) : 0) == 0)
            r = refill(s);
    }
    size_t have = used(&s->in) < n ? used(&s->in) : n;
    if (r == 0 || have == n) { /* all of it, or the end of the stream */
        if (have)
            memcpy(buf, s->in.data + s->in.start, have);
        s->in.start += have;
        if (got)
            *got = have;
        r = have == n ? (long)n : AIOC_EINCOMPLETE;
    }
    aioc_lock_release(&s->reading);
    return r;
}

/* Finds `sep` in the buffer from `from`; returns the end of the match. */
static size_t find(const aioc_stream *s, const void *sep, size_t seplen, size_t from) {
    const char *base = s->in.data + s->in.start;
    size_t len = used(&s->in);
    if (len < seplen)
        return 0;
    for (size_t i = from; i + seplen <= len; i++) {
        const char *hit = memchr(base + i, *(const char *)sep, len - seplen + 1 - i);
        if (!hit)
            return 0;
        i = (size_t)(hit - base);
        if (memcmp(hit, sep, seplen) == 0)
            return i + seplen;
    }
    return 0;
}

static long until(aioc_stream *s, const void *sep, size_t seplen, const char **out,
                  bool last_line) {
    if (!sep || seplen == 0)
        return -EINVAL;
    int err = owned(s);
    if (err || (err = flush_before_read(s)) || (err = aioc_lock_acquire(&s->reading)))
        return err;
    settle(s);
    size_t searched = 0;
    long r;
    for (;;) {
        size_t end = find(s, sep, seplen, searched);
        if (end) { /* a line longer than the limit is refused, and kept */
            r = end > s->limit ? AIOC_ELIMIT : (long)end;
            break;
        }
        if (used(&s->in) >= s->limit) {
            r = AIOC_ELIMIT; /* what came stays buffered */
            break;
        }
        searched = used(&s->in) >= seplen ? used(&s->in) - seplen + 1 : 0;
        long n = refill(s);
        if (n < 0) {
            r = n;
            break;
        }
        if (n == 0) { /* the end, without a separator */
            size_t left = used(&s->in);
            if (!last_line)
                r = AIOC_EINCOMPLETE; /* even with nothing left, as asyncio */
            else
                r = (long)left; /* readline: the last line as it is, or 0 */
            break;
        }
    }
    if (r > 0) {
        *out = s->in.data + s->in.start;
        s->consumed = (size_t)r; /* dropped at the next call */
    }
    aioc_lock_release(&s->reading);
    return r;
}

long aioc_stream_readuntil(aioc_stream *s, const void *sep, size_t seplen, const char **out) {
    return until(s, sep, seplen, out, false);
}

long aioc_stream_readline(aioc_stream *s, const char **out) { return until(s, "\n", 1, out, true); }

/* -------------------------------------------------------------- writing -- */

/* Writes buffered bytes until at most `target` remain. Caller holds the
 * write lock. */
static int flush_to(aioc_stream *s, size_t target) {
    while (used(&s->out) > target) {
        if (s->write_error)
            return s->write_error;
        long n = s->ops->write(s->ctx, s->out.data + s->out.start, used(&s->out));
        if (n < 0) {
            if (n != -ECANCELED && n != -ETIMEDOUT) /* ours, not the stream's */
                s->write_error = (int)n;
            return (int)n;
        }
        s->out.start += (size_t)n;
    }
    if (s->out.start == s->out.end)
        buffer_release(&s->out); /* most writes need none: hold none */
    return 0;
}

/* --------------------------------------------- flushing in the background -- */

static void stream_free(aioc_stream *s);

static void *flush_in_background(void *arg) {
    aioc_stream *s = arg;
    if (!s->abandoned && aioc_lock_acquire(&s->writing) == 0) {
        if (!s->abandoned) { /* the owner may have let go while we waited */
            s->flushing = true;
            flush_to(s, 0); /* an error sticks for the next write to report */
            s->flushing = false;
        }
        aioc_lock_release(&s->writing);
    }
    return NULL;
}

/* Runs when the flusher ends, however it ends. */
static void flusher_ended(void *arg) {
    aioc_stream *s = arg;
    s->flusher.id = 0;
    if (!s->abandoned)
        return;
    if (s->close_pending)
        s->ops->close(s->ctx);
    stream_free(s);
}

static aioc_local_key flusher_key = {flusher_ended};

/* Bytes stayed behind: have them sent without waiting for the next call.
 * Without memory for a flusher they go with the next write, drain, close
 * or read, as before. */
static void start_flusher(aioc_stream *s) {
    if (s->flusher.id)
        return;
    aioc_spawn_opts o = {.name = "stream-flush", .stack_size = 64 * 1024};
    aioc_task t = aioc_spawn_with(flush_in_background, s, &o);
    if (aioc_task_error(t))
        return;
    if (aioc__local_set_for(t, &flusher_key, s)) {
        aioc_cancel(t); /* not started: it ends without running */
        aioc_detach(t);
        return;
    }
    aioc_detach(t);
    s->flusher = t;
}

/* Sends what the transport takes without waiting: 0 (some bytes may stay
 * buffered) or the write error, which sticks. Caller holds no lock, and no
 * one else is inside a transport write. */
static int try_flush(aioc_stream *s) {
    while (used(&s->out)) {
        long sent = s->ops->try_write(s->ctx, s->out.data + s->out.start, used(&s->out));
        if (sent == -EAGAIN)
            return 0;
        if (sent < 0)
            return s->write_error = (int)sent;
        s->out.start += (size_t)sent;
    }
    buffer_release(&s->out);
    return 0;
}

/* The end of a loop turn: what was written during it leaves together. */
static void flush_at_turn_end(aioc__deferred *d) {
    aioc_stream *s = aioc__container_of(d, aioc_stream, flush_soon);
    if (aioc_lock_locked(&s->writing) || s->flusher.id || s->write_error)
        return; /* a flush in progress takes these bytes too */
    if (s->ops->try_write)
        try_flush(s);
    if (used(&s->out) && !s->write_error)
        start_flusher(s);
}

int aioc_stream_write(aioc_stream *s, const void *buf, size_t n) {
    int err = owned(s);
    if (err)
        return err;
    if (s->write_error || s->write_closed)
        return s->write_error ? s->write_error : -EPIPE;
    if (used(&s->out) >= s->high) { /* at the mark: make room first */
        if ((err = aioc_lock_acquire(&s->writing)))
            return err;
        err = flush_to(s, s->low);
        aioc_lock_release(&s->writing);
        if (err)
            return err;
    }
    aioc__loop *loop;
    aioc__task *t = aioc__running(&loop, &err);
    /* A large write with nothing queued ahead: send what the transport
     * takes right now, without copying it (an I/O call that does not wait:
     * it counts against the budget). Outside a task there is no turn to
     * wait for: small writes go at once too. */
    if (used(&s->out) == 0 && s->ops->try_write && !aioc_lock_locked(&s->writing) &&
        (n >= WRITE_DIRECT || !t)) {
        if (t && (err = aioc__io_budget(loop, t)))
            return err;
        while (n > 0) {
            long sent = s->ops->try_write(s->ctx, buf, n);
            if (sent == -EAGAIN)
                break;
            if (sent < 0)
                return s->write_error = (int)sent;
            buf = (const char *)buf + sent;
            n -= (size_t)sent;
        }
    }
    if (n == 0)
        return 0;
    /* A task holding the write lock may be inside a transport write that
     * points into the buffer: bytes may be added after the end, but making
     * room by sliding or growing the buffer would move them under it. */
    bool wait_for_flush = s->out.cap - s->out.end < n && aioc_lock_locked(&s->writing);
    if (wait_for_flush && (err = aioc_lock_acquire(&s->writing)))
        return err;
    if (!(err = s->write_error) && !(err = reserve(&s->out, n))) {
        memcpy(s->out.data + s->out.end, buf, n);
        s->out.end += n;
    }
    if (wait_for_flush)
        aioc_lock_release(&s->writing);
    if (err)
        return err;
    if (t && n < WRITE_DIRECT)
        aioc__defer(loop, &s->flush_soon);
    else
        start_flusher(s);
    return 0;
}

/* Before a read: what was written goes out first, so a request is sent
 * before its reply is awaited (skipped while another task flushes). */
static int flush_before_read(aioc_stream *s) {
    if (used(&s->out) == 0 || aioc_lock_locked(&s->writing))
        return 0;
    int err = aioc_lock_acquire(&s->writing);
    if (!err) {
        err = flush_to(s, 0);
        aioc_lock_release(&s->writing);
    }
    return err == -ECANCELED || err == -ETIMEDOUT ? err : 0; /* write errors: reads go on */
}

int aioc_stream_drain(aioc_stream *s) {
    int err = owned(s);
    if (err)
        return err;
    if (s->write_error)
        return s->write_error;
    if ((err = aioc_lock_acquire(&s->writing)))
        return err;
    err = flush_to(s, 0);
    aioc_lock_release(&s->writing);
    return err;
}

size_t aioc_stream_write_buffered(const aioc_stream *s) { return used(&s->out); }

int aioc_stream_write_eof(aioc_stream *s) {
    int err = aioc_stream_drain(s);
    if (!err && !(err = s->ops->write_eof(s->ctx)))
        s->write_closed = true;
    return err;
}

static void stream_free(aioc_stream *s) {
    aioc__debug_stream_closed(&s->debug);
    aioc__debug_forget(s);
    aioc__debug_forget(&s->reading);
    aioc__debug_forget(&s->writing);
    aioc__deferred_cancel(&s->flush_soon);
    buffer_release(&s->in);
    buffer_release(&s->out);
    free(s);
}

/* The owner lets go: closes the transport and frees the stream, or, if
 * the flusher is inside a transport write, stops it and leaves both to it
 * (never closing the transport under its feet). */
static int release(aioc_stream *s) {
    int closed = 0;
    if (!s->flushing && !aioc_lock_locked(&s->writing) && s->ops->try_write && !s->write_error)
        try_flush(s); /* an abort sends what goes without waiting, as before */
    aioc__deferred_cancel(&s->flush_soon);
    if (s->flushing)
        s->close_pending = true;
    else
        closed = s->ops->close(s->ctx);
    if (s->flusher.id) {
        s->abandoned = true;
        aioc_cancel(s->flusher); /* whatever it is waiting for */
    } else {
        stream_free(s);
    }
    return closed;
}

int aioc_stream_close(aioc_stream *s) {
    if (!s)
        return 0;
    int err = used(&s->out) ? aioc_stream_drain(s) : 0;
    int closed = release(s);
    return err ? err : closed;
}

void aioc_stream_abort(aioc_stream *s) {
    if (s)
        release(s);
}

/* ------------------------------------------- handing the transport over -- */

int aioc__stream_hand_over(aioc_stream *s) {
    if (aioc_lock_locked(&s->reading) || aioc_lock_locked(&s->writing) || s->flushing)
        return -EBUSY;
    if (s->ops->try_write && !s->write_error)
        try_flush(s); /* this turn's writes, if the transport takes them now */
    settle(s);
    if (used(&s->in) || used(&s->out))
        return -EBUSY; /* bytes would be lost, or read by the wrong layer */
    buffer_release(&s->in);
    buffer_release(&s->out);
    s->write_error = -EBADF;
    return 0;
}

/* ------------------------------------------------------------ questions -- */

int aioc__stream_socket(const aioc_stream *s) {
    return s->ops->socket ? s->ops->socket(s->ctx) : -ENOTSOCK;
}
