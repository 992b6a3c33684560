/* A chat server, and a small client for it.
 *
 *     chat server [PORT] [--web PORT] [--redis URL] [--loops N]
 *                               serve on 127.0.0.1 (PORT 0: any free port),
 *                               and the page for browsers on the --web port
 *                               (default: any free one); with --redis,
 *                               share the room with the other servers on
 *                               that Redis (see the end); with --loops N
 *                               (a number or "auto"), serve on N loops, a
 *                               thread each (see "Several loops")
 *     chat client HOST PORT     send stdin's lines, print what comes back
 *
 * The protocol is lines of text (any client will do: socat, nc, telnet):
 *
 *   - The server greets with "* nickname?". The first line a client sends
 *     is its nickname: 1 to 16 letters, digits, '-' or '_', not taken. An
 *     invalid or taken nickname gets an error line and the question again.
 *   - Then every line is sent to all the other clients as "NICK: text".
 *     They also see "* NICK joined" and "* NICK left".
 *   - "/who" lists who is here; "/quit" leaves, as does closing the
 *     connection. A last line without its newline (the client vanished
 *     mid-line) is dropped. Empty lines are ignored, control characters
 *     become '?', and a line longer than 1024 bytes ends the session.
 *
 * Each client has two tasks: the server's handler task reads its lines,
 * and a writer task of its own sends it what other clients said, taken
 * from its queue. The writer takes everything queued at once, and the
 * stream sends what it is given within a loop turn in one system call;
 * after a send the writer lets lines gather for GATHER seconds (a lone
 * line goes out at once, a busy room's in batches), so a busy room costs
 * a send per client every 25 ms, not one per line.
 *
 * A client that reads slowly slows the room down instead of losing lines:
 * before a line is broadcast, its sender waits until every queue has room
 * (QUEUE_LINES), so a flooding sender is itself read more slowly (TCP's
 * own back-pressure). A client whose queue is full, whose writer has taken
 * nothing from it and whose stream has sent nothing for STUCK seconds has
 * stopped reading: it is disconnected ("* NICK was too slow"), and the
 * room goes on.
 *
 * Browsers join the same room (where the WebSocket adapter aioc_ws is
 * built; see "browsers" below): the server also serves a page at
 * http://127.0.0.1:WEBPORT/ whose script speaks the same protocol over a
 * WebSocket at /ws, a message for a line.
 *
 * Several loops (--loops N). Loop 0 listens and hands each connection
 * to the loop with the fewest connections open (aioc_server_opts.spread):
 * chat connections live long and are few per second, so an even share
 * matters more than the hand-off's cost (a loop call per connection),
 * and SO_REUSEPORT's hash could pile them on one loop. Each loop has a
 * room of its own (its members, their queues: the room's variables are
 * _Thread_local), so no lock is shared; lines, notices, /who and
 * nicknames cross by loop calls ("across loops" below says how, and how
 * order and back-pressure hold). Browsers are served by loop 0 alone (the
 * HTTP adapter's server keeps its connections in a list of the loop that
 * accepts them, so it is not spread) and join loop 0's room: the same
 * room for everyone. On Ctrl-C every loop tells its clients and gives
 * them a second, as one loop does.
 *
 * The server prints "listening on 127.0.0.1:PORT" once it is ready (then
 * "page at http://127.0.0.1:WEBPORT/") and
 * stops on Ctrl-C: the main task is cancelled, everyone is told, and the
 * connections are closed after a second's grace.
 *
 * Several servers, one room (--redis URL: redis://host:port, unix:/path,
 * ...; only where the Redis adapter aioc_redis is built, else --redis is
 * refused with an error). Each server delivers its own clients' lines and
 * notices to its own clients at once, as above, and also PUBLISHes each
 * one, tagged with a tag of its process, on the channel "aioc-chat:room";
 * a subscriber task of each server reads the channel and gives its
 * clients what the OTHER servers published (its own tag is skipped: those
 * were delivered already). A sender's lines all go out from its server's
 * one PUBLISH connection, each after the previous one's answer, and Redis
 * hands a channel's messages to each subscriber in the order it got them,
 * so every client gets every other client's lines in the order they were
 * sent, once. (Delivering everything only through Redis would keep that
 * order too, but would stop the room, even on one server, whenever Redis
 * is away, and cost every line a round trip.) Lines from other servers
 * wait for room in the queues like a local sender's; meanwhile they
 * gather in the subscription's buffer, then in Redis's (which drops a
 * subscriber past its client-output-buffer-limit: see below).
 *
 * Nicknames are unique per server only, and /who and the count in the
 * welcome list this server's clients (on all its loops): a shared set in
 * Redis would outlive a server that crashes, and leave its names taken.
 *
 * With --loops too, each loop publishes its own clients' lines on a
 * PUBLISH connection of its own (a sender's lines still go out in order,
 * on one connection), and one subscriber per process, on loop 0, reads
 * the channel and gives the other servers' lines to loop 0's clients and,
 * forwarded like a local line, to every other loop's. Lines of this
 * process's other loops carry its tag and are skipped: they arrived by
 * loop calls.
 *
 * If the connection to Redis breaks, the server says so on stderr, its
 * clients are told ("* lost the other servers: ..."), and its own clients
 * still hear each other; the subscriber subscribes again after a backoff
 * (0.1 s doubling up to 5 s), and the clients are told when it is back.
 * Pub/sub keeps nothing: lines sent meanwhile do not reach the other
 * servers, then or later. The server prints "redis: subscribed to ..."
 * each time its subscription is confirmed. */
#define _POSIX_C_SOURCE 200809L
#include <aioc.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef CHAT_WEB
#include <aioc_http.h>
#include <aioc_ws.h>
#endif

#define MAX_NICK 16
#define MAX_LINE 1024 /* bytes of a line from a client, newline included */
#define QUEUE_LINES                                                                                \
    4096             /* lines waiting for a client before senders wait:                            \
                        room for a line from each of thousands at once */
#define STUCK 2.0    /* seconds a full queue may go untaken: too slow */
#define GATHER 0.025 /* seconds a writer lets lines gather after a send */
#define LINGER 2.0   /* seconds a leaving client has to take what is queued */

/* ------------------------------------------------------------ messages -- */

/* A line on its way to clients. It is allocated once and shared by every
 * queue it is put in, with a count of references: a broadcast to 1,000
 * clients costs one allocation, not 1,000 copies. Tasks of one loop never
 * run at the same time, so the count needs no atomics. */
typedef struct msg {
    size_t refs, len;
    char text[];
} msg;

/* A new message with one reference (the caller's), or NULL. */
static msg *msg_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    msg *m = len < 0 ? NULL : malloc(sizeof *m + (size_t)len + 1);
    if (!m)
        return NULL;
    m->refs = 1;
    m->len = (size_t)len;
    va_start(ap, fmt);
    vsnprintf(m->text, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return m;
}

static void msg_unref(msg *m) {
    if (--m->refs == 0)
        free(m);
}

/* For the items a queue drops when it is shut down at once, or freed. */
static void msg_drop(void *item, void *data) {
    (void)data;
    msg_unref(item);
}

/* Copies the `n` bytes of `line` into `text` and NUL-terminates it, made
 * fit to show: control characters (C1 ones too) and bytes that are not
 * part of well-formed UTF-8 become '?' (a browser takes only UTF-8, and
 * nobody's terminal should take escapes from others). */
static void printable(char *text, const char *line, size_t n) {
    const unsigned char *u = (const unsigned char *)line;
    for (size_t i = 0; i < n;) {
        unsigned b = u[i];
        /* the length of the sequence b starts, and its second byte's range
         * (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF) */
        size_t len = b < 0x80                ? 1
                     : b >= 0xc2 && b < 0xe0 ? 2
                     : b >= 0xe0 && b < 0xf0 ? 3
                     : b >= 0xf0 && b < 0xf5 ? 4
                                             : 0;
        unsigned lo = b == 0xe0 ? 0xa0 : b == 0xf0 ? 0x90 : 0x80;
        unsigned hi = b == 0xed ? 0x9f : b == 0xf4 ? 0x8f : 0xbf;
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = k == 1 ? u[i + 1] >= lo && u[i + 1] <= hi : (u[i + k] & 0xc0) == 0x80;
        if (len == 1)
            ok = b >= ' ' && b != 0x7f;
        else if (ok && b == 0xc2)
            ok = u[i + 1] >= 0xa0; /* U+0080-U+009F: C1 controls */
        if (!ok) {
            text[i++] = '?';
            continue;
        }
        memcpy(text + i, line + i, len);
        i += len;
    }
    text[n] = '\0';
}

/* ---------------------------------------------------------------- room -- */

typedef struct client {
    struct client *prev, *next; /* in the room, once it has a nickname */
    char nick[MAX_NICK + 1];
    aioc_stream *conn;
#ifdef CHAT_WEB
    aioc_ws *ws; /* a browser's WebSocket (conn is its stream), or NULL */
#endif
    aioc_queue *out; /* messages for this client */
    aioc_task reader, writer;
    double last_moved; /* when its writer last took from the queue,
                          or bytes were last seen leaving its stream */
    size_t buffered;   /* the stream's write buffer when last looked at */
    int full;          /* QUEUE_LINES or more lines wait in its queue */
    int kicked;        /* it stopped reading: dropped */
} client;

static int is_browser(const client *c) {
#ifdef CHAT_WEB
    return c->ws != NULL;
#else
    (void)c;
    return 0;
#endif
}

/* The room's state is per loop (with --loops N, each loop has its own
 * members: see "across loops"), hence _Thread_local. */

/* Everyone who has a nickname (on this loop), in a circular list; made
 * empty by room_init when the loop starts. */
static _Thread_local client room;
static _Thread_local size_t online;

static void room_init(void) { room.prev = room.next = &room; }

/* Clients whose queue is full, and an event set whenever one of them
 * takes from it: senders waiting for room look again then. */
static _Thread_local size_t nfull;
static _Thread_local aioc_event room_freed = AIOC_EVENT_INIT;

static void set_full(client *c, int full) {
    if (c->full == full)
        return;
    c->full = full;
    if (full) {
        nfull++;
    } else {
        nfull--;
        aioc_event_set(&room_freed);
    }
}

/* `c` does not read what it is sent: it is dropped. Its reader task is
 * cancelled (the read it waits in returns -ECANCELED), and it leaves the
 * room itself; from now on it is sent nothing more. */
static void kick(client *c) {
    c->kicked = 1;
    set_full(c, 0);
    aioc_queue_shutdown(c->out, 1, msg_drop, NULL); /* free its backlog now */
    aioc_cancel(c->reader);
}

/* Whether `c` has stopped reading: its queue is full, its stream holds
 * bytes the connection does not take, and neither did its writer take a
 * line nor did a byte leave the stream for STUCK seconds. (A slow reader
 * still drains the stream while its writer waits; a stream with nothing
 * buffered means the server, not the client, is behind.) */
static int stuck(client *c) {
    size_t buffered = aioc_stream_write_buffered(c->conn);
    if (buffered != c->buffered) {
        c->buffered = buffered;
        c->last_moved = aioc_now();
    }
    return c->full && buffered > 0 && aioc_now() - c->last_moved >= STUCK;
}

/* Queues `m` for `c`, without waiting (the queue has no bound of its own:
 * senders keep it near QUEUE_LINES, see wait_for_room). */
static void send_to(client *c, msg *m) {
    if (c->kicked)
        return;
    if (c->full && stuck(c)) { /* never a stream call for the others */
        kick(c);
        return;
    }
    m->refs++;
    if (aioc_queue_try_put(c->out, m) != 0)
        m->refs--; /* out of memory: this line is lost for `c` */
    else if (aioc_queue_size(c->out) >= QUEUE_LINES)
        set_full(c, 1);
}

/* Waits until every client in the room but `from` has room in its queue,
 * dropping those whose full queue has not moved for STUCK seconds.
 * Returns 0, or -ECANCELED if the sender is cancelled meanwhile. */
static int wait_for_local_room(const client *from) {
    while (nfull > (from->full ? 1u : 0u)) {
        int waiting = 0;
        double deadline = INFINITY; /* when the first full queue could count as stuck */
        for (client *c = room.next; c != &room; c = c->next) {
            if (c == from || !c->full)
                continue;
            if (stuck(c)) {
                kick(c); /* it stays in the room until its reader leaves */
                continue;
            }
            waiting = 1;
            if (c->buffered > 0 && c->last_moved + STUCK < deadline)
                deadline = c->last_moved + STUCK; /* else its writer has yet to run */
        }
        if (!waiting)
            break;
        aioc_scope scope;
        aioc_event_clear(&room_freed);
        aioc_scope_enter_at(&scope, deadline);
        int err = aioc_event_wait(&room_freed);
        aioc_scope_exit(&scope);
        if (err && err != -ETIMEDOUT)
            return err;
    }
    return 0;
}

/* Sends `m` to everyone in the room except `from`; the caller keeps its
 * reference. Never suspends, so the room cannot change meanwhile. */
static void send_to_room(msg *m, const client *from) {
    for (client *c = room.next; c != &room; c = c->next)
        if (c != from)
            send_to(c, m);
}

/* send_to_room, and drops the caller's reference. */
static void broadcast(msg *m, const client *from) {
    if (!m)
        return; /* out of memory: the line is lost */
    send_to_room(m, from);
    msg_unref(m);
}

/* Sends `m` to `c` alone (through its queue, so in order with the rest). */
static void tell(client *c, msg *m) {
    if (m) {
        send_to(c, m);
        msg_unref(m);
    }
}

/* -------------------------------------------------------- across loops -- */

/* With --loops N, each loop has a room of its own: its members, their
 * queues, its count, touched by that loop's thread only, so no lock is
 * shared between loops. What crosses is messages, by aioc_loop_call:
 *
 *   - every line and notice a loop gives its own clients is also
 *     forwarded to each other loop, which gives it to its clients. Lines
 *     for a loop gather in an outbox during the loop's turn and leave in
 *     one call at its end (a busy room costs a call per loop per turn,
 *     not per line). Calls between two loops run in the order made, so a
 *     sender's lines arrive everywhere in the order sent;
 *   - each loop's relay task takes what arrives and gives it to its
 *     clients, waiting for room in their queues as a local sender does,
 *     then tells the sending loop how many lines it has delivered. A loop
 *     lets at most QUEUE_LINES lines be on their way to another one:
 *     beyond that, its senders wait (as for a full queue), so a flood
 *     from one loop slows to what the slowest loop takes, and memory
 *     stays bounded;
 *   - /who asks every other loop for its names and waits for the answers;
 *   - nicknames are unique across the loops: loop 0 keeps the list of
 *     those taken, and a client on another loop claims its nickname there
 *     (a round trip) before it joins;
 *   - joins and leaves carry +1 / -1, which every loop adds up: the count
 *     in the welcome is everyone's. */

typedef struct batch {
    struct batch *next; /* in the receiving loop's inbox */
    unsigned from;      /* the sending loop */
    size_t lines, len, cap;
    char data[]; /* a record per line, each followed by the line's bytes */
} batch;

typedef struct record {
    long delta; /* +1: a join, -1: a leave, 0: a line or a notice */
    size_t len;
} record;

static _Thread_local batch *outbox[AIOC_LOOPS_MAX];    /* lines for each loop, this turn */
static _Thread_local size_t in_flight[AIOC_LOOPS_MAX]; /* lines sent to each, not yet delivered */
static _Thread_local aioc_event credit_freed = AIOC_EVENT_INIT;
static _Thread_local int flush_scheduled;       /* flush_outboxes is due at the turn's end */
static _Thread_local int loop_closing;          /* the loop ends: send at once */
static _Thread_local long online_elsewhere;     /* members of the other loops' rooms */
static _Thread_local batch *inbox, *inbox_last; /* arrived, for the relay */
static _Thread_local aioc_event inbox_ready = AIOC_EVENT_INIT;
static _Thread_local int relaying; /* the relay task runs */

/* On the sending loop: `n` lines it sent to loop `to` were delivered. */
static void credit_back(void *arg) {
    uintptr_t v = (uintptr_t)arg;
    in_flight[v % AIOC_LOOPS_MAX] -= v / AIOC_LOOPS_MAX;
    aioc_event_set(&credit_freed);
}

static void acknowledge(const batch *b) {
    uintptr_t v = (uintptr_t)b->lines * AIOC_LOOPS_MAX + aioc_loop_index();
    aioc_loop_call(aioc_loop_at(b->from), credit_back, (void *)v);
}

/* On the receiving loop: a batch arrives for the relay. */
static void inbox_put(void *arg) {
    batch *b = arg;
    if (!relaying) { /* this loop is closing: nobody to give it to */
        acknowledge(b);
        free(b);
        return;
    }
    b->next = NULL;
    if (inbox_last)
        inbox_last->next = b;
    else
        inbox = b;
    inbox_last = b;
    aioc_event_set(&inbox_ready);
}

static void send_batch(unsigned to) {
    batch *b = outbox[to];
    outbox[to] = NULL;
    if (b && aioc_loop_call(aioc_loop_at(to), inbox_put, b)) {
        in_flight[to] -= b->lines; /* that loop has ended */
        free(b);
    }
}

static void flush_outboxes(void *arg) {
    (void)arg;
    flush_scheduled = 0;
    for (unsigned i = 0; i < aioc_loop_count(); i++)
        send_batch(i);
}

/* Hands `m` (a line or a notice, as given to this loop's clients) to every
 * other loop, for its clients; `delta`: +1 for a join, -1 for a leave. */
static void forward(const msg *m, long delta) {
    unsigned loops = aioc_loop_count(), me = aioc_loop_index();
    if (loops < 2 || !m)
        return;
    size_t need = sizeof(record) + m->len;
    for (unsigned i = 0; i < loops; i++) {
        batch *b = outbox[i];
        if (i == me)
            continue;
        if (!b || b->len + need > b->cap) {
            size_t cap = b ? 2 * b->cap : 4096;
            while (cap < (b ? b->len : 0) + need)
                cap *= 2;
            batch *grown = realloc(b, sizeof *grown + cap);
            if (!grown)
                continue; /* out of memory: this line is lost for loop i */
            if (!b)
                grown->from = me, grown->lines = grown->len = 0;
            grown->cap = cap;
            b = outbox[i] = grown;
        }
        record r = {delta, m->len};
        memcpy(b->data + b->len, &r, sizeof r);
        memcpy(b->data + b->len + sizeof r, m->text, m->len);
        b->len += need;
        b->lines++;
        in_flight[i]++;
        if (loop_closing)
            send_batch(i);
    }
    if (loop_closing || flush_scheduled)
        return;
    if (aioc_call_error(aioc_call_soon(flush_outboxes, NULL)) == 0)
        flush_scheduled = 1;
    else
        flush_outboxes(NULL); /* cannot wait for the turn's end */
}

/* Waits until no other loop has QUEUE_LINES lines of ours to deliver.
 * Returns 0, or -ECANCELED. */
static int wait_for_credit(void) {
    for (unsigned i = 0; i < aioc_loop_count(); i++)
        while (in_flight[i] >= QUEUE_LINES) {
            aioc_event_clear(&credit_freed);
            int err = aioc_event_wait(&credit_freed);
            if (err)
                return err;
        }
    return 0;
}

/* Waits until the room has space for a line from `from`: in this loop's
 * queues, and on its way to the other loops. */
static int wait_for_room(const client *from) {
    int err = wait_for_credit();
    return err ? err : wait_for_local_room(from);
}

/* The relay task of a loop: gives its clients what the other loops
 * forward, in order, waiting for room in their queues like a local
 * sender. Runs until cancelled. */
static void *relay(void *arg) {
    (void)arg;
    client elsewhere = {0}; /* the sender of what comes from other loops */
    int err = 0;
    while (!err) {
        while (!inbox && !err) {
            aioc_event_clear(&inbox_ready);
            err = aioc_event_wait(&inbox_ready);
        }
        if (err)
            break;
        batch *b = inbox;
        if (!(inbox = b->next))
            inbox_last = NULL;
        for (size_t off = 0; off < b->len;) {
            record r;
            memcpy(&r, b->data + off, sizeof r);
            const char *text = b->data + off + sizeof r;
            off += sizeof r + r.len;
            online_elsewhere += r.delta;
            if (err || (err = wait_for_local_room(&elsewhere)))
                continue; /* cancelled: the loop closes, counts only */
            msg *m = malloc(sizeof *m + r.len + 1);
            if (!m)
                continue;
            m->refs = 1;
            m->len = r.len;
            memcpy(m->text, text, r.len);
            m->text[r.len] = '\0';
            broadcast(m, NULL);
        }
        acknowledge(b);
        free(b);
    }
    relaying = 0;
    while (inbox) {
        batch *b = inbox;
        inbox = b->next;
        acknowledge(b);
        free(b);
    }
    inbox_last = NULL;
    return NULL;
}

/* Starts this loop's relay (with several loops). Returns 0 or an error. */
static int relay_start(aioc_task *t) {
    if (aioc_loop_count() < 2)
        return 0;
    relaying = 1;
    *t = aioc_spawn(relay, NULL);
    return aioc_task_error(*t);
}

/* The loop ends: what is still for other loops goes at once, and the
 * relay stops. */
static void relay_stop(aioc_task t) {
    if (aioc_loop_count() < 2)
        return;
    loop_closing = 1;
    flush_outboxes(NULL);
    aioc_cancel(t);
    aioc_await(t, NULL);
}

#ifdef CHAT_REDIS
/* Sends `m` to this loop's room and to every other loop's; drops the
 * caller's reference. (Lines from other servers arrive on loop 0 only.) */
static void broadcast_everywhere(msg *m) {
    forward(m, 0);
    broadcast(m, NULL);
}
#endif

/* --- /who on every loop. The question lives on the asking loop's heap:
 * the asker may be gone (cancelled) before the last answer comes, which
 * then frees it. */
typedef struct who_answer {
    size_t len;
    char names[]; /* "a b c" */
} who_answer;

typedef struct who_question {
    unsigned asker; /* the asking loop */
    size_t pending; /* answers still to come */
    int abandoned;  /* the asker went away */
    aioc_event answered;
    who_answer *answers[AIOC_LOOPS_MAX]; /* each loop's names */
} who_question;

/* This loop's names, space-separated, as an answer (NULL: no memory). */
static who_answer *room_names(void) {
    size_t len = 0;
    for (client *o = room.next; o != &room; o = o->next)
        len += strlen(o->nick) + 1;
    who_answer *a = malloc(sizeof *a + len + 1);
    if (!a)
        return NULL;
    char *p = a->names;
    for (client *o = room.next; o != &room; o = o->next)
        p += sprintf(p, p == a->names ? "%s" : " %s", o->nick);
    *p = '\0';
    a->len = (size_t)(p - a->names);
    return a;
}

static void who_free(who_question *q) {
    for (unsigned i = 0; i < AIOC_LOOPS_MAX; i++)
        free(q->answers[i]);
    free(q);
}

typedef struct who_reply {
    who_question *q;
    unsigned loop;
    who_answer *answer;
} who_reply;

static void who_answered(void *arg) { /* on the asking loop */
    who_reply *r = arg;
    who_question *q = r->q;
    q->answers[r->loop] = r->answer;
    free(r);
    if (--q->pending == 0) {
        if (q->abandoned)
            who_free(q);
        else
            aioc_event_set(&q->answered);
    }
}

static void who_asked(void *arg) { /* on each other loop */
    who_question *q = arg;
    who_reply *r = malloc(sizeof *r);
    if (!r)
        abort(); /* no way to answer: the asker would wait forever */
    r->q = q;
    r->loop = aioc_loop_index();
    r->answer = room_names(); /* NULL (no memory): no names from here */
    if (aioc_loop_call(aioc_loop_at(q->asker), who_answered, r)) {
        free(r->answer);
        free(r);
    }
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "/who": one line with every nickname, on every loop, sorted. */
static void who(client *c) {
    unsigned loops = aioc_loop_count(), me = aioc_loop_index();
    who_question *q = calloc(1, sizeof *q);
    if (!q)
        return;
    q->asker = me;
    aioc_event_init(&q->answered);
    for (unsigned i = 0; i < loops; i++)
        if (i != me && aioc_loop_call(aioc_loop_at(i), who_asked, q) == 0)
            q->pending++;
    while (q->pending) {
        if (aioc_event_wait(&q->answered)) { /* cancelled: the last answer frees it */
            q->abandoned = 1;
            return;
        }
    }
    q->answers[me] = room_names();
    size_t len = strlen("* online:\n"), n = 0;
    for (unsigned i = 0; i < loops; i++)
        if (q->answers[i] && q->answers[i]->len) {
            len += 1 + q->answers[i]->len;
            n++;
            for (const char *p = q->answers[i]->names; *p; p++)
                n += *p == ' ';
        }
    char **names = malloc((n ? n : 1) * sizeof *names);
    msg *m = malloc(sizeof *m + len + 1);
    if (names && m) {
        size_t k = 0;
        for (unsigned i = 0; i < loops; i++) {
            char *save, *name;
            if (q->answers[i])
                for (name = strtok_r(q->answers[i]->names, " ", &save); name;
                     name = strtok_r(NULL, " ", &save))
                    names[k++] = name;
        }
        qsort(names, k, sizeof *names, by_name);
        m->refs = 1;
        char *p = m->text + sprintf(m->text, "* online:");
        for (size_t i = 0; i < k; i++)
            p += sprintf(p, " %s", names[i]);
        strcpy(p, "\n");
        m->len = (size_t)(p + 1 - m->text);
        tell(c, m);
    } else {
        free(m);
    }
    free(names);
    who_free(q);
}

/* --- Nicknames, unique across loops: loop 0's list of those taken. */
typedef struct claim {
    struct claim *next;
    unsigned asker;   /* the asking loop */
    int granted;      /* loop 0's answer */
    int answered;     /* the answer has come back */
    int abandoned;    /* the asker went away first */
    aioc_event event; /* the asker's */
    char nick[MAX_NICK + 1];
} claim;

static claim *claimed; /* loop 0's: the nicknames taken, one node each */

/* On loop 0: takes the node's nickname if free. Returns whether it did
 * (the node is then in the list). */
static int take_nick(claim *c) {
    for (claim *o = claimed; o; o = o->next)
        if (strcmp(o->nick, c->nick) == 0)
            return 0;
    c->next = claimed;
    claimed = c;
    return 1;
}

/* On loop 0: frees the nickname of the node (a release message). */
static void nick_released(void *arg) {
    claim *c = arg;
    for (claim **p = &claimed; *p; p = &(*p)->next)
        if (strcmp((*p)->nick, c->nick) == 0) {
            claim *gone = *p;
            *p = gone->next;
            free(gone);
            break;
        }
    free(c);
}

/* Frees `nick` on loop 0, from any loop. */
static void release_nick(const char *nick) {
    if (aioc_loop_count() < 2)
        return;
    claim *c = calloc(1, sizeof *c);
    if (!c)
        return; /* the nickname stays taken */
    strcpy(c->nick, nick);
    if (aioc_loop_index() == 0)
        nick_released(c);
    else if (aioc_loop_call(aioc_loop_at(0), nick_released, c))
        free(c);
}

static void nick_answered(void *arg) { /* on the asking loop */
    claim *c = arg;
    c->answered = 1;
    if (!c->abandoned) {
        aioc_event_set(&c->event);
    } else {
        if (c->granted)
            release_nick(c->nick);
        free(c);
    }
}

static void nick_asked(void *arg) { /* on loop 0 */
    claim *c = arg;
    claim *kept = malloc(sizeof *kept);
    if (kept) {
        *kept = *c;
        if (!(c->granted = take_nick(kept)))
            free(kept);
    }
    if (aioc_loop_call(aioc_loop_at(c->asker), nick_answered, c)) {
        if (c->granted)
            nick_released(c); /* frees c too */
        else
            free(c);
    }
}

/* Claims `nick` on every loop. Returns 1 if it was free (it is now this
 * client's), 0 if taken, or -ECANCELED. */
static int claim_nick(const char *nick) {
    if (aioc_loop_count() < 2)
        return 1;
    claim *c = calloc(1, sizeof *c);
    if (!c)
        return 0;
    strcpy(c->nick, nick);
    if (aioc_loop_index() == 0) {
        int granted = take_nick(c);
        if (!granted)
            free(c);
        return granted;
    }
    c->asker = aioc_loop_index();
    aioc_event_init(&c->event);
    if (aioc_loop_call(aioc_loop_at(0), nick_asked, c)) {
        free(c);
        return 0;
    }
    while (!c->answered) {
        int err = aioc_event_wait(&c->event);
        if (err) { /* the answer frees it, and the nickname if granted */
            c->abandoned = 1;
            return err;
        }
    }
    int granted = c->granted;
    free(c);
    return granted;
}

/* ------------------------------------------------ across processes (Redis) -- */

#ifdef CHAT_REDIS
#include <aioc_redis.h>
#include <time.h>

#define CHANNEL "aioc-chat:room"
#define BACKOFF_MIN 0.1 /* seconds before resubscribing, doubling up to */
#define BACKOFF_MAX 5.0

static const char *redis_url; /* NULL: this process is the whole room */
/* (each loop publishes its clients' lines on a connection of its own;
 * loop 0's subscriber takes the other servers' lines for every loop) */
static _Thread_local aioc_redis *pub; /* PUBLISH goes out on it (it reconnects) */
static _Thread_local int pub_down;    /* its last PUBLISH failed (logged once) */
static char origin[96];               /* this process's tag on what it publishes */
static _Thread_local client nobody;   /* the sender of lines from other servers */

/* Tells the other servers about `m` (a line for the room, as broadcast
 * gives it to local clients): PUBLISH "ORIGIN LINE" on CHANNEL. The caller
 * waits for Redis's answer, so one sender's lines go out in their order
 * (a sender's lines all go through the one connection). `last`: the
 * sender is leaving, maybe cancelled (Ctrl-C): try anyway, for a second.
 * If Redis is away the line reaches this server's clients only. */
static void publish(const msg *m, int last) {
    if (!pub || !m)
        return;
    aioc_scope shield, bound;
    if (last) {
        aioc_shield_enter(&shield);
        aioc_scope_enter(&bound, 1.0);
    }
    size_t tag = strlen(origin);
    char *payload = malloc(tag + 1 + m->len);
    int err = -ENOMEM;
    if (payload) {
        memcpy(payload, origin, tag);
        payload[tag] = ' ';
        memcpy(payload + tag + 1, m->text, m->len);
        const char *argv[] = {"PUBLISH", CHANNEL, payload};
        const size_t argvlen[] = {7, strlen(CHANNEL), tag + 1 + m->len};
        err = aioc_redis_command_argv(pub, 3, argv, argvlen, NULL);
        free(payload);
    }
    if (last) {
        aioc_scope_exit(&bound);
        aioc_scope_exit(&shield);
    }
    if (err && !pub_down)
        fprintf(stderr, "chat: redis: cannot publish (%s): lines stay on this server\n",
                aioc_redis_strerror(err));
    else if (!err && pub_down)
        fprintf(stderr, "chat: redis: publishing again\n");
    pub_down = err != 0;
}

/* One message from the channel: a line from another server's client goes
 * to this server's clients (this server's own were delivered already). */
static void deliver(const aioc_redis_message *rm) {
    const char *space = memchr(rm->payload, ' ', rm->payload_len);
    if (!space)
        return; /* not ours */
    size_t tag = (size_t)(space - rm->payload), len = rm->payload_len - tag - 1;
    if (tag == strlen(origin) && memcmp(rm->payload, origin, tag) == 0)
        return;
    if (len > 0 && space[len] == '\n') /* (space[len]: the payload's last byte) */
        len--;
    msg *m = malloc(sizeof *m + len + 2);
    if (!m)
        return;
    m->refs = 1;
    m->len = len + 1;
    printable(m->text, space + 1, len); /* whoever published it */
    strcpy(m->text + len, "\n");
    broadcast_everywhere(m);
}

/* The subscriber task: reads the channel and hands the other servers'
 * lines to this server's clients, waiting for room in their queues like a
 * local sender (meanwhile the pub/sub connection buffers, then Redis).
 * When the connection breaks, the clients are told, and it subscribes
 * again after a backoff (what was published meanwhile is lost to them:
 * pub/sub keeps nothing). Runs until cancelled. */
static void *subscriber(void *arg) {
    (void)arg;
    double backoff = BACKOFF_MIN;
    int was_up = 0, told = 0;
    for (;;) {
        aioc_redis_message *rm;
        const char *channel = CHANNEL;
        int err;
        aioc_redis_pubsub *ps = aioc_redis_pubsub_connect(redis_url, NULL, &err);
        if (ps && !(err = aioc_redis_subscribe(ps, &channel, 1))) {
            printf("redis: subscribed to %s\n", CHANNEL);
            fflush(stdout);
            if (told)
                broadcast_everywhere(msg_printf("* the other servers are back\n"));
            was_up = 1, told = 0;
            backoff = BACKOFF_MIN;
            while (!(err = aioc_redis_pubsub_next(ps, &rm))) {
                if (wait_for_room(&nobody) == 0)
                    deliver(rm);
                aioc_redis_message_free(rm);
            }
        }
        aioc_redis_pubsub_close(ps);
        if (err == -ECANCELED)
            return NULL;
        fprintf(stderr, "chat: redis: %s: %s; subscribing again in %.1f s\n", redis_url,
                aioc_redis_strerror(err), backoff);
        if (was_up && !told) {
            broadcast_everywhere(msg_printf("* lost the other servers: only this server's "
                                            "users hear you for now\n"));
            told = 1;
        }
        if (aioc_sleep(backoff))
            return NULL;
        backoff = fmin(2 * backoff, BACKOFF_MAX);
    }
}

/* Connects the PUBLISH connection and starts the subscriber. Returns 0 or
 * the connect's error. */
static void make_origin(void) {
    char host[64] = "?";
    struct timespec ts;
    gethostname(host, sizeof host - 1);
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(origin, sizeof origin, "%s/%ld/%ld", host, (long)getpid(), (long)ts.tv_nsec);
}

static int redis_start(aioc_task *sub) {
    int err;
    if (!(pub = aioc_redis_connect(redis_url, NULL, &err))) {
        fprintf(stderr, "chat: redis: cannot connect to %s: %s\n", redis_url,
                aioc_redis_strerror(err));
        return err;
    }
    if (aioc_loop_index() > 0)
        return 0; /* one subscriber per process, on loop 0 */
    *sub = aioc_spawn(subscriber, NULL);
    return aioc_task_error(*sub);
}

static void redis_stop(aioc_task sub) {
    if (aioc_loop_index() == 0) {
        aioc_cancel(sub);
        aioc_await(sub, NULL);
    }
    aioc_redis_close(pub);
    pub = NULL;
}
#else
static void publish(const msg *m, int last) { (void)m, (void)last; }
#endif

static client *find(const char *nick) {
    for (client *c = room.next; c != &room; c = c->next)
        if (strcmp(c->nick, nick) == 0)
            return c;
    return NULL;
}

/* (join, leave and a line publish what they broadcast, after the
 * broadcast: publishing suspends, the room may change meanwhile) */
static void join(client *c) {
    msg *m = msg_printf("* %s joined\n", c->nick);
    if (m)
        send_to_room(m, NULL);
    forward(m, +1);
    c->prev = room.prev;
    c->next = &room;
    room.prev->next = c;
    room.prev = c;
    online++;
    tell(c, msg_printf("* welcome, %s: %ld online (/who, /quit)\n", c->nick,
                       (long)online + online_elsewhere));
    if (m) {
        publish(m, 0);
        msg_unref(m);
    }
}

static void leave(client *c, const char *why) {
    set_full(c, 0); /* no one waits for it any more */
    c->prev->next = c->next;
    c->next->prev = c->prev;
    online--;
    release_nick(c->nick);
    msg *m = msg_printf("* %s %s\n", c->nick, why);
    forward(m, -1);
    if (m) {
        send_to_room(m, NULL);
        publish(m, 1);
        msg_unref(m);
    }
}

/* ------------------------------------------------------------ sessions -- */

/* Sends `m` (a line ending in '\n') to `c`: as it is on TCP, as a text
 * message without the newline to a browser. Returns 0 or the error that
 * ended the connection. */
static int send_line(client *c, const msg *m) {
#ifdef CHAT_WEB
    if (c->ws)
        return aioc_ws_send_text(c->ws, m->text, m->len - 1);
#endif
    return aioc_stream_write(c->conn, m->text, m->len);
}

/* The writer task of a client: sends what its queue holds, in order. It
 * takes everything queued at once (the stream sends all it is given
 * within a loop turn in one system call), so a busy room costs a send per
 * client per turn, not one per line. It ends when the queue is shut down
 * and empty (the client leaves), or when the connection fails. */
static void *writer(void *arg) {
    client *c = arg;
    void *item;
    int err;
    while ((err = aioc_queue_get(c->out, &item)) == 0) {
        do {
            /* a write may wait, and senders fill the queue meanwhile: every
             * take may be the one that frees room for them */
            c->last_moved = aioc_now();
            set_full(c, 0);
            msg *m = item;
            err = send_line(c, m);
            msg_unref(m);
        } while (!err && aioc_queue_try_get(c->out, &item) == 0);
        if (err) {
            aioc_cancel(c->reader); /* the peer is gone: stop reading it too */
            return NULL;
        }
        if ((err = aioc_sleep(GATHER)))
            return NULL; /* cancelled: the server drops the connection */
    }
    if (err == -ESHUTDOWN && !is_browser(c))
        aioc_stream_drain(c->conn); /* what the stream still buffers (a
                                       WebSocket's close frame follows it) */
    return NULL;
}

#ifdef CHAT_WEB
static long read_message(client *c, char *text);
#endif

/* Reads a line into `text` (MAX_LINE + 1 bytes) without its end of line,
 * printable. Returns its length; AIOC_ELIMIT if it is too long (the client
 * is told); or another negative code once the client is gone: at the end
 * of the stream (a last line without newline is dropped), on an error, or
 * when the reader is cancelled (kicked, or the server closes). */
static long read_line(client *c, char *text) {
#ifdef CHAT_WEB
    if (c->ws)
        return read_message(c, text);
#endif
    const char *line;
    long n = aioc_stream_readline(c->conn, &line);
    if (n == AIOC_ELIMIT || n > MAX_LINE) { /* ELIMIT: past the stream's 64 KiB */
        tell(c, msg_printf("* lines are at most %d bytes: bye\n", MAX_LINE));
        return AIOC_ELIMIT;
    }
    if (n <= 0 || line[n - 1] != '\n')
        return n < 0 ? n : AIOC_EOF;
    n--;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    printable(text, line, (size_t)n);
    return n;
}

static int valid_nick(const char *s) {
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789-_");
    return n > 0 && n <= MAX_NICK && s[n] == '\0';
}

/* Asks until the client gives a valid, free nickname. Returns 0, or a
 * negative code if the client went away first. */
static int choose_nick(client *c, char *text) {
    int claimed_here;
    tell(c, msg_printf("* nickname?\n"));
    for (;;) {
        long n = read_line(c, text);
        if (n < 0)
            return (int)n;
        if (!valid_nick(text))
            tell(c, msg_printf("* a nickname is 1 to %d letters, digits, - or _; "
                               "nickname?\n",
                               MAX_NICK));
        else if (find(text) || (claimed_here = claim_nick(text)) == 0)
            tell(c, msg_printf("* %s is taken; nickname?\n", text));
        else if (claimed_here < 0)
            return claimed_here; /* cancelled while loop 0 looked */
        else
            break;
    }
    strcpy(c->nick, text);
    return 0;
}

/* Relays the client's lines until it leaves; returns how it left. */
static const char *talk(client *c, char *text) {
    for (;;) {
        long n = read_line(c, text);
        if (n < 0)
            return c->kicked ? "was too slow" : "left";
        if (n == 0)
            continue;
        if (strcmp(text, "/quit") == 0) {
            tell(c, msg_printf("* bye\n"));
            return "left";
        }
        if (strcmp(text, "/who") == 0)
            who(c);
        else if (text[0] == '/')
            tell(c, msg_printf("* unknown command; try /who or /quit\n"));
        else if (wait_for_room(c) == 0) {
            msg *m = msg_printf("%s: %s\n", c->nick, text);
            if (m) {
                send_to_room(m, c);
                forward(m, 0);
                publish(m, 0);
                msg_unref(m);
            }
        }
        /* Let the writers run before the next line: one read brings many
         * lines, and a client that floods us would otherwise fill the
         * others' queues faster than their writers empty them (the loop
         * itself makes a busy reader give way only every 64 reads). */
        aioc_yield();
    }
}

/* A client's whole stay, in the task that reads it (the handler task of
 * its connection): nickname, lines, leaving. Returns 1 once its writer has
 * sent it everything that was queued for it; 0 if it was kicked, or did
 * not take what was left within LINGER seconds (its writer is cancelled
 * then), or the server closes (this task is cancelled): the caller drops
 * the connection rather than wait to flush it. */
static int stay(client *c) {
    char text[MAX_LINE + 1];
    if (!(c->out = aioc_queue_new(AIOC_QUEUE_FIFO, 0, NULL)))
        return 0;
    c->writer = aioc_spawn(writer, c);
    if (aioc_task_error(c->writer) == 0 && choose_nick(c, text) == 0) {
        join(c);
        leave(c, talk(c, text));
    }
    /* The writer sends what is left in the queue, then ends. */
    aioc_queue_shutdown(c->out, c->kicked, msg_drop, NULL);
    int err = aioc_wait_for(c->writer, LINGER, NULL);
    if (err && err != -ETIMEDOUT) {
        /* this task was cancelled (the server closes), and the wait with
         * it: the writer, which uses `c`, must end before `c` does */
        aioc_scope shield;
        aioc_shield_enter(&shield);
        aioc_cancel(c->writer);
        aioc_await(c->writer, NULL);
        aioc_scope_exit(&shield);
    }
    aioc_queue_free(c->out, msg_drop, NULL);
    return err == 0 && !c->kicked;
}

/* A TCP connection, in the handler task the server gives it. */
static _Thread_local size_t sessions;                            /* this loop's connections */
static _Thread_local aioc_event sessions_over = AIOC_EVENT_INIT; /* none left */

static void session(aioc_stream *conn, void *arg) {
    (void)arg;
    client c = {.conn = conn, .reader = aioc_current(), .last_moved = aioc_now()};
    sessions++;
    if (!stay(&c))
        aioc_cancel(aioc_current()); /* so the server drops the connection */
    if (--sessions == 0)
        aioc_event_set(&sessions_over);
}

/* ------------------------------------------------------------ browsers -- */

#ifdef CHAT_WEB
#define HEARTBEAT 30.0 /* seconds of silence before a browser is pinged */

/* The page (examples/chat.html, made into a C array at build time). */
extern const unsigned char chat_page[];
extern const size_t chat_page_len;

static const char *web_port = "0"; /* --web */
static _Thread_local int closing;  /* the server (this loop) is shutting down */

/* Reads a browser's next line: a text message, its last end of line
 * dropped, made printable into `text` (MAX_LINE + 1 bytes; a longer
 * message ends the connection with 1009). Binary messages are not lines:
 * skipped. Returns the length, or a negative code once the browser is gone
 * (AIOC_EOF after its close frame, a WebSocket error, -ECANCELED). */
static long read_message(client *c, char *text) {
    aioc_ws_msg m;
    int err;
    while ((err = aioc_ws_recv(c->ws, &m)) == 0) {
        if (m.type != AIOC_WS_TEXT)
            continue;
        size_t n = m.len;
        if (n > 0 && m.data[n - 1] == '\n')
            n--;
        if (n > 0 && m.data[n - 1] == '\r')
            n--;
        printable(text, m.data, n);
        return (long)n;
    }
    return err;
}

/* GET /: the page. */
static int page(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)req, (void)arg;
    int err = aioc_http_response_header(res, "Content-Type", "text/html; charset=utf-8");
    if (!err)
        err = aioc_http_response_header(res, "Cache-Control", "no-cache");
    return err ? err : aioc_http_response_body_borrowed(res, chat_page, chat_page_len);
}

/* Whether the handshake comes from this server's own page, or from a
 * client that is not a browser. A browser sends the Origin of the page
 * that opens a WebSocket, and lets any site's page open one to any
 * server: without this check a page of another site, open in the user's
 * browser, could join the chat in the user's name (cross-site WebSocket
 * hijacking). */
static int same_origin(const aioc_http_request *req) {
    const char *page_origin = aioc_http_request_header(req, "Origin");
    const char *host = aioc_http_request_header(req, "Host");
    if (!page_origin)
        return 1;
    const char *authority = strstr(page_origin, "://");
    return host && authority && strcmp(authority + 3, host) == 0;
}

/* GET /ws: a browser (or any WebSocket client) joins, in the handler task
 * of its HTTP connection. */
static int browser(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    if (!same_origin(req))
        return aioc_http_response_status(res, 403);
    aioc_ws_opts opts = {.max_message = MAX_LINE, .heartbeat = HEARTBEAT, .close_timeout = 1.0};
    int err;
    aioc_ws *ws = aioc_ws_accept(req, res, &opts, &err);
    if (!ws)
        return err == AIOC_WS_EHANDSHAKE ? 0 : err; /* its 400 or 426 */
    client c = {
        .conn = aioc_ws_stream(ws), .ws = ws, .reader = aioc_current(), .last_moved = aioc_now()};
    err = -ECANCELED; /* dropped, unless the close handshake is done */
    if (stay(&c) || (closing && !c.kicked)) {
        aioc_scope shield; /* once its lines are out, end properly, even
                              on Ctrl-C (bounded by close_timeout) */
        aioc_shield_enter(&shield);
        err = closing ? aioc_ws_close(ws, AIOC_WS_GOING_AWAY, "the server is shutting down")
                      : aioc_ws_close(ws, AIOC_WS_NORMAL, NULL);
        aioc_scope_exit(&shield);
    }
    aioc_ws_free(ws);
    return err ? -ECANCELED : 0; /* -ECANCELED: the server aborts the connection */
}

/* Serves the page and the WebSocket on 127.0.0.1:web_port. Returns the
 * server, or NULL (the reason told on stderr). */
static aioc_http_server *web_start(aioc_http_router **router) {
    int err = -ENOMEM;
    aioc_http_server *web = NULL;
    if ((*router = aioc_http_router_new()) &&
        !(err = aioc_http_route(*router, "GET", "/", page, NULL)) &&
        !(err = aioc_http_route(*router, "GET", "/ws", browser, NULL)))
        web = aioc_http_serve("127.0.0.1", web_port, aioc_http_router_handle, *router, NULL, &err);
    if (!web) {
        fprintf(stderr, "chat: cannot serve the page on port %s: %s\n", web_port,
                aioc_ws_strerror(err));
        aioc_http_router_free(*router);
    }
    return web;
}
#endif

/* Several loops: loop 0 listens and hands each connection to the loop
 * with the fewest (aioc_server_opts.spread); the others serve what they
 * get until Ctrl-C, or until loop 0 tells them it could not start. */
static aioc_event stop_sibling[AIOC_LOOPS_MAX]; /* each sibling's own */

static void stop_here(void *arg) {
    (void)arg;
    aioc_event_set(&stop_sibling[aioc_loop_index()]);
}

/* A loop other than 0: its room, its relay, its PUBLISH connection. */
static void *sibling(void) {
    aioc_task relay_task = {0};
    int err = relay_start(&relay_task);
    if (err)
        return aioc_fail(err);
#ifdef CHAT_REDIS
    aioc_task sub = {0};
    if (redis_url && (err = redis_start(&sub))) {
        relay_stop(relay_task);
        return aioc_fail(err);
    }
#endif
    aioc_event_wait(&stop_sibling[aioc_loop_index()]); /* until Ctrl-C */
    aioc_scope shield, grace; /* then close properly, even though cancelled */
    aioc_shield_enter(&shield);
    broadcast(msg_printf("* the server is shutting down\n"), NULL);
    /* as aioc_server_close's grace on loop 0: a second for the notice to
     * go out; the loop cancels the connections left when this returns */
    aioc_scope_enter(&grace, 1.0);
    while (sessions > 0 && aioc_event_wait(&sessions_over) == 0)
        aioc_event_clear(&sessions_over);
    aioc_scope_exit(&grace);
    relay_stop(relay_task);
#ifdef CHAT_REDIS
    if (redis_url)
        redis_stop(sub);
#endif
    aioc_scope_exit(&shield);
    return NULL;
}

static void stop_siblings(void) {
    for (unsigned i = 1; i < aioc_loop_count(); i++)
        aioc_loop_call(aioc_loop_at(i), stop_here, NULL);
}

static void *server(void *arg) {
    const char *port = arg;
    int err;
    room_init();
    if (aioc_loop_index() > 0)
        return sibling();
    aioc_server_opts opts = {.spread = 1}; /* (ignored with one loop) */
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", port, session, NULL, &opts, &err);
    if (!srv) {
        fprintf(stderr, "chat: cannot listen on port %s: %s\n", port, aioc_strerror(err));
        stop_siblings();
        return aioc_fail(err);
    }
    aioc_task relay_task = {0};
    if ((err = relay_start(&relay_task))) {
        aioc_server_close(srv, 0);
        stop_siblings();
        return aioc_fail(err);
    }
#ifdef CHAT_REDIS
    aioc_task sub = {0};
    if (redis_url && (err = redis_start(&sub))) {
        aioc_server_close(srv, 0);
        relay_stop(relay_task);
        stop_siblings();
        return aioc_fail(err);
    }
#endif
#ifdef CHAT_WEB
    aioc_http_router *router;
    aioc_http_server *web = web_start(&router);
    if (!web) {
        aioc_server_close(srv, 0);
        relay_stop(relay_task);
#ifdef CHAT_REDIS
        if (redis_url)
            redis_stop(sub);
#endif
        stop_siblings();
        return aioc_fail(-EADDRNOTAVAIL);
    }
#endif
    printf("listening on 127.0.0.1:%d\n", aioc_server_port(srv));
#ifdef CHAT_WEB
    printf("page at http://127.0.0.1:%d/\n", aioc_http_server_port(web));
#endif
    fflush(stdout);
    aioc_event forever = AIOC_EVENT_INIT;
    aioc_event_wait(&forever); /* until Ctrl-C cancels us */
    aioc_scope shield;         /* then close properly, even though cancelled */
    aioc_shield_enter(&shield);
#ifdef CHAT_WEB
    closing = 1;
#endif
    broadcast(msg_printf("* the server is shutting down\n"), NULL);
#ifdef CHAT_WEB
    aioc_http_server_close(web, 1.0);
    aioc_http_router_free(router);
#endif
    aioc_server_close(srv, 1.0);
    relay_stop(relay_task);
#ifdef CHAT_REDIS
    if (redis_url)
        redis_stop(sub);
#endif
    aioc_scope_exit(&shield);
    return NULL;
}

/* -------------------------------------------------------------- client -- */

/* Sends stdin's lines to the server; at the end of stdin, half-closes the
 * connection: the server takes it as leaving, and closes it in turn. */
static void *send_lines(void *arg) {
    aioc_stream *conn = arg;
    int flags = fcntl(STDIN_FILENO, F_GETFL);
    aioc_stream *in = aioc_stream_new(STDIN_FILENO, NULL);
    if (!in)
        return aioc_fail(-errno);
    const char *line;
    long n = 0;
    int err = 0;
    while (!err && (n = aioc_stream_readline(in, &line)) > 0) {
        err = aioc_stream_write(conn, line, (size_t)n);
        if (!err && line[n - 1] != '\n')
            err = aioc_stream_write(conn, "\n", 1);
    }
    if (flags >= 0) /* aioc made it non-blocking; the shell shares it */
        fcntl(STDIN_FILENO, F_SETFL, flags);
    aioc_stream_close(in);
    if (!err && n == 0)
        err = aioc_stream_write_eof(conn);
    return err ? aioc_fail(err) : NULL;
}

struct target {
    const char *host, *port;
};

static void *client_main(void *arg) {
    struct target *t = arg;
    int fd = aioc_tcp_connect(t->host, t->port);
    if (fd < 0)
        return aioc_fail(fd);
    aioc_stream *conn = aioc_stream_new(fd, NULL);
    if (!conn) {
        aioc_close(fd);
        return aioc_fail(-ENOMEM);
    }
    aioc_group g; /* the sender cannot outlive this task */
    if (aioc_group_init(&g)) {
        aioc_stream_abort(conn);
        return aioc_fail(-ENOMEM);
    }
    aioc_group_spawn(g, send_lines, conn, NULL);
    /* Print what the server sends until it closes the connection. */
    const char *line;
    long n;
    while ((n = aioc_stream_readline(conn, &line)) > 0) {
        fwrite(line, 1, (size_t)n, stdout);
        fflush(stdout);
    }
    aioc_group_cancel(g); /* stdin does not matter any more */
    aioc_group_wait(g);
    aioc_stream_abort(conn);
    return n < 0 ? aioc_fail((int)n) : NULL;
}

/* A connection is a descriptor: allow as many as the system lets us (as
 * Go's runtime does at start), not the shell's default soft limit of
 * 1,024. */
static void raise_descriptor_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "server") == 0) {
        static char any_port[] = "0";
        char *port = any_port;
        aioc_run_opts opts = {.loops = 1};
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--web") == 0 && i + 1 < argc) {
#ifdef CHAT_WEB
                web_port = argv[++i];
#else
                fprintf(stderr, "chat: --web: this chat was built without the WebSocket "
                                "adapter (aioc_ws)\n");
                return 2;
#endif
            } else if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc) {
#ifdef CHAT_REDIS
                redis_url = argv[++i];
#else
                fprintf(stderr, "chat: --redis: this chat was built without the Redis "
                                "adapter (aioc_redis, hiredis)\n");
                return 2;
#endif
            } else if (strcmp(argv[i], "--loops") == 0 && i + 1 < argc) {
                const char *n = argv[++i];
                opts.loops = strcmp(n, "auto") == 0 ? AIOC_LOOPS_AUTO : (unsigned)atoi(n);
                if (!opts.loops || (opts.loops > AIOC_LOOPS_MAX && opts.loops != AIOC_LOOPS_AUTO)) {
                    fprintf(stderr, "chat: --loops: 1 to %u, or auto\n", AIOC_LOOPS_MAX);
                    return 2;
                }
            } else if (i == 2 && argv[i][0] != '-') {
                port = argv[i];
            } else {
                fprintf(stderr, "usage: chat server [PORT] [--web PORT] [--redis URL] "
                                "[--loops N]\n");
                return 2;
            }
        }
        raise_descriptor_limit();
        for (unsigned i = 0; i < AIOC_LOOPS_MAX; i++)
            aioc_event_init(&stop_sibling[i]);
#ifdef CHAT_REDIS
        make_origin();
#endif
        int status = aioc_run_with(server, port, NULL, &opts);
        return status ? 1 : 0;
    }
    if (argc == 4 && strcmp(argv[1], "client") == 0) {
        struct target t = {argv[2], argv[3]};
        int status = aioc_run(client_main, &t, NULL);
        if (status)
            fprintf(stderr, "chat: %s:%s: %s\n", t.host, t.port, aioc_strerror(status));
        return status ? 1 : 0;
    }
    fprintf(stderr, "usage: chat server [PORT] [--web PORT] [--redis URL] [--loops N] | "
                    "chat client HOST PORT\n");
    return 2;
}
