/* A chat server, and a small client for it.
 *
 *     chat server [PORT]        serve on 127.0.0.1 (PORT 0: any free port)
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
 * from a bounded queue. A broadcast never waits: it puts the line in every
 * queue without waiting (aioc_queue_try_put). A client whose queue is full
 * has stopped reading; it is disconnected ("* NICK was too slow"), so it
 * can never stall the others.
 *
 * The server prints "listening on 127.0.0.1:PORT" once it is ready and
 * stops on Ctrl-C: the main task is cancelled, everyone is told, and the
 * connections are closed after a second's grace. */
#define _POSIX_C_SOURCE 200809L
#include <aioc.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_NICK 16
#define MAX_LINE 1024     /* bytes of a line from a client, newline included */
#define QUEUE_LINES 4096  /* lines waiting for a client before it is too slow:
                             room for a line from each of thousands at once */
#define LINGER 2.0        /* seconds a leaving client has to take what is queued */

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

/* ---------------------------------------------------------------- room -- */

typedef struct client {
    struct client *prev, *next; /* in the room, once it has a nickname */
    char nick[MAX_NICK + 1];
    aioc_stream *conn;
    aioc_queue *out;            /* messages for this client */
    aioc_task reader, writer;
    int kicked;                 /* its queue overflowed */
} client;

/* Everyone who has a nickname, in a circular list. */
static client room = {.prev = &room, .next = &room};
static size_t online;

/* Queues `m` for `c`, without waiting. A full queue means that `c` does
 * not read what it is sent: it is kicked out. Its reader task is cancelled
 * (the read it waits in returns -ECANCELED), and it leaves the room itself;
 * from now on it is sent nothing more. */
static void send_to(client *c, msg *m) {
    if (c->kicked)
        return;
    m->refs++;
    if (aioc_queue_try_put(c->out, m) == 0)
        return;
    m->refs--;
    c->kicked = 1;
    aioc_queue_shutdown(c->out, 1, msg_drop, NULL); /* free its backlog now */
    aioc_cancel(c->reader);
}

/* Sends `m` to everyone in the room except `from`, and drops the caller's
 * reference. Never suspends, so the room cannot change meanwhile. */
static void broadcast(msg *m, const client *from) {
    if (!m)
        return; /* out of memory: the line is lost */
    for (client *c = room.next; c != &room; c = c->next)
        if (c != from)
            send_to(c, m);
    msg_unref(m);
}

/* Sends `m` to `c` alone (through its queue, so in order with the rest). */
static void tell(client *c, msg *m) {
    if (m) {
        send_to(c, m);
        msg_unref(m);
    }
}

static client *find(const char *nick) {
    for (client *c = room.next; c != &room; c = c->next)
        if (strcmp(c->nick, nick) == 0)
            return c;
    return NULL;
}

static void join(client *c) {
    broadcast(msg_printf("* %s joined\n", c->nick), NULL);
    c->prev = room.prev;
    c->next = &room;
    room.prev->next = c;
    room.prev = c;
    online++;
    tell(c, msg_printf("* welcome, %s: %zu online (/who, /quit)\n", c->nick, online));
}

static void leave(client *c, const char *why) {
    c->prev->next = c->next;
    c->next->prev = c->prev;
    online--;
    broadcast(msg_printf("* %s %s\n", c->nick, why), NULL);
}

/* "/who": one line with every nickname. */
static void who(client *c) {
    size_t len = strlen("* online:\n");
    for (client *o = room.next; o != &room; o = o->next)
        len += 1 + strlen(o->nick);
    msg *m = malloc(sizeof *m + len + 1);
    if (!m)
        return;
    m->refs = 1;
    m->len = len;
    char *p = m->text + sprintf(m->text, "* online:");
    for (client *o = room.next; o != &room; o = o->next)
        p += sprintf(p, " %s", o->nick);
    strcpy(p, "\n");
    tell(c, m);
}

/* ------------------------------------------------------------ sessions -- */

/* The writer task of a client: sends what its queue holds, in order. It
 * ends when the queue is shut down and empty (the client leaves), or when
 * the connection fails. */
static void *writer(void *arg) {
    client *c = arg;
    void *item;
    int err;
    while ((err = aioc_queue_get(c->out, &item)) == 0) {
        msg *m = item;
        err = aioc_stream_write(c->conn, m->text, m->len);
        msg_unref(m);
        if (err) {
            aioc_cancel(c->reader); /* the peer is gone: stop reading it too */
            return NULL;
        }
    }
    if (err == -ESHUTDOWN)
        aioc_stream_drain(c->conn); /* what the stream still buffers */
    return NULL;
}

/* Reads a line into `text` (MAX_LINE + 1 bytes) without its end of line,
 * printable. Returns its length; AIOC_ELIMIT if it is too long (the client
 * is told); or another negative code once the client is gone: at the end
 * of the stream (a last line without newline is dropped), on an error, or
 * when the reader is cancelled (kicked, or the server closes). */
static long read_line(client *c, char *text) {
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
    for (long i = 0; i < n; i++) /* no terminal escapes for the others */
        text[i] = (unsigned char)line[i] < ' ' || line[i] == 0x7f ? '?' : line[i];
    text[n] = '\0';
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
    tell(c, msg_printf("* nickname?\n"));
    for (;;) {
        long n = read_line(c, text);
        if (n < 0)
            return (int)n;
        if (!valid_nick(text))
            tell(c, msg_printf("* a nickname is 1 to %d letters, digits, - or _; "
                               "nickname?\n", MAX_NICK));
        else if (find(text))
            tell(c, msg_printf("* %s is taken; nickname?\n", text));
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
        else
            broadcast(msg_printf("%s: %s\n", c->nick, text), c);
        /* Let the writers run before the next line: one read brings many
         * lines, and a client that floods us would otherwise fill the
         * others' queues faster than their writers empty them (the loop
         * itself makes a busy reader give way only every 64 reads). */
        aioc_yield();
    }
}

/* One connection, in the handler task the server gives it. */
static void session(aioc_stream *conn, void *arg) {
    (void)arg;
    char text[MAX_LINE + 1];
    client c = {.conn = conn, .reader = aioc_current()};
    if (!(c.out = aioc_queue_new(AIOC_QUEUE_FIFO, QUEUE_LINES, NULL)))
        return;
    c.writer = aioc_spawn(writer, &c);
    if (aioc_task_error(c.writer) == 0 && choose_nick(&c, text) == 0) {
        join(&c);
        leave(&c, talk(&c, text));
    }
    /* The writer sends what is left in the queue, then ends. A client that
     * does not take it within LINGER seconds (or was kicked, or the server
     * closes: this task is cancelled then) has its writer cancelled. */
    aioc_queue_shutdown(c.out, c.kicked, msg_drop, NULL);
    if (aioc_wait_for(c.writer, LINGER, NULL) == -ETIMEDOUT)
        aioc_cancel(aioc_current()); /* so the server drops the connection
                                        rather than wait to flush it */
    aioc_queue_free(c.out, msg_drop, NULL);
}

static void *server(void *arg) {
    const char *port = arg;
    int err;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", port, session, NULL, NULL, &err);
    if (!srv) {
        fprintf(stderr, "chat: cannot listen on port %s: %s\n", port, aioc_strerror(err));
        return aioc_fail(err);
    }
    printf("listening on 127.0.0.1:%d\n", aioc_server_port(srv));
    fflush(stdout);
    aioc_event forever = AIOC_EVENT_INIT;
    aioc_event_wait(&forever); /* until Ctrl-C cancels us */
    aioc_scope shield;         /* then close properly, even though cancelled */
    aioc_shield_enter(&shield);
    broadcast(msg_printf("* the server is shutting down\n"), NULL);
    aioc_server_close(srv, 1.0);
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

int main(int argc, char **argv) {
    if (argc >= 2 && argc <= 3 && strcmp(argv[1], "server") == 0) {
        int status = aioc_run(server, argc > 2 ? argv[2] : "0", NULL);
        return status ? 1 : 0;
    }
    if (argc == 4 && strcmp(argv[1], "client") == 0) {
        struct target t = {argv[2], argv[3]};
        int status = aioc_run(client_main, &t, NULL);
        if (status)
            fprintf(stderr, "chat: %s:%s: %s\n", t.host, t.port, aioc_strerror(status));
        return status ? 1 : 0;
    }
    fprintf(stderr, "usage: chat server [PORT] | chat client HOST PORT\n");
    return 2;
}
