/* A producer-consumer data pipeline, the asyncio way:
 *
 *     reader -> lines -> N parsers -> records -> M transformers -> results -> writer
 *
 * Every arrow is a bounded queue, so a slow stage holds the faster ones back
 * instead of letting memory grow. All stages are tasks of one task group
 * (asyncio.TaskGroup): the first failure cancels the rest, and Ctrl-C, which
 * cancels the main task, cancels the group too. The end of the input travels
 * down the pipe as a graceful queue shutdown (Python 3.13's Queue.shutdown):
 * each stage drains its input, and the last of its workers shuts down the
 * next queue. Disk reads and writes go through aioc's file API
 * (aioc_file_*, aiofiles' counterpart: the thread pool here, io_uring in
 * a program that calls aioc_uring_install) and the CPU-bound transform runs on the thread pool
 * (asyncio.to_thread), so the loop itself never blocks; the transformers hand records to the pool
 * in batches (aioc_to_thread_map, a batch closed when full or after a short delay, as the writer's
 * are), so that handing work to other threads costs next to nothing per record.
 *
 *   pipeline [--quiet] [--parsers N] [--transformers M] [--records K]
 *            [--out FILE] [--unwritten FILE] [INPUT]
 *
 * INPUT has one record per line, ID,NAME,VALUE (without INPUT the reader
 * makes up K records); each record written is a line ID,NAME,RESULT. Every
 * record read is written exactly once or, after Ctrl-C or an error, listed
 * as not written (--unwritten FILE gets their IDs). */
#define _POSIX_C_SOURCE 200809L
#include <aioc.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QUEUE_SIZE 256
#define CHUNK_SIZE 65536      /* bytes per read */
#define BATCH 256             /* records per write */
#define MAX_DELAY 0.1         /* seconds a record may wait for its batch */
#define TRANSFORM_BATCH 64    /* records per hand-off to the pool */
#define TRANSFORM_DELAY 0.005 /* seconds a record may wait for its batch */
#define MAX_NAME 64
#define OUT_LINE_MAX (20 + 1 + MAX_NAME + 1 + 20 + 1)
#define MODULUS 1000000007 /* the transform's hash, see tests/check_pipeline.sh */
#define ROUNDS 600         /* about 24 us of work per record */

struct line { /* as read */
    size_t seq, len;
    char text[];
};

struct record { /* as parsed, then transformed */
    size_t seq;
    uint64_t id, result;
    int64_t value;
    char name[MAX_NAME + 1];
};

/* The ledger: what became of each line read, by sequence number. */
enum fate { READ, MALFORMED, WRITTEN };
struct entry {
    uint64_t id; /* known once the line is parsed */
    unsigned char fate;
};

struct pipeline {
    int parsers, transformers;
    aioc_file *in, *out;         /* the input (NULL: none), the output */
    unsigned long long generate; /* records to make up when there is no input */
    const char *in_name, *unwritten_name;
    bool progress;
    aioc_queue *lines, *records, *results;
    int parsers_left, transformers_left;
    struct entry *ledger;
    size_t nread, cap, parsed, malformed, written;
    double start;
};

/* Jobs handed to the thread pool and not yet finished with. A job that its
 * task gave up on (Ctrl-C) runs on and is freed on its pool thread, so the
 * files and the ledger must outlive it: main waits for this to reach 0. */
static atomic_long jobs_in_pool;

/* The cleanup of a job given away (a batch of records): on the pool thread
 * after fn ran, or at once (result NULL) if it never did. The job is the
 * argument. */
static void free_late(void *result, void *job) {
    (void)result;
    free(job);
    atomic_fetch_sub(&jobs_in_pool, 1);
}

/* ------------------------------------------------------------ reader -- */

/* Enters a line in the ledger and hands it on. Returns 0 or an error (the
 * line then stays READ: read, not written). */
static void drop_line(void *item, void *data);
static int send_line(struct pipeline *p, const char *text, size_t len) {
    if (p->nread == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 4096;
        struct entry *grown = realloc(p->ledger, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        p->ledger = grown;
        p->cap = cap;
    }
    struct line *l = malloc(sizeof *l + len + 1);
    if (!l)
        return -ENOMEM;
    memcpy(l->text, text, len);
    l->text[len] = '\0';
    l->len = len;
    l->seq = p->nread++;
    p->ledger[l->seq] = (struct entry){0, READ};
    int err = aioc_queue_put(p->lines, l);
    if (err) /* cancelled while the queue was full: the line is still ours */
        drop_line(l, p);
    return err;
}

/* Reads the input a chunk at a time (aioc_file_read_some: the engine's
 * buffer, copied into ours on success, so a cancelled read never writes
 * here late) and sends its lines on. */
static int read_file(struct pipeline *p) {
    char *data = malloc(CHUNK_SIZE);
    if (!data)
        return -ENOMEM;
    size_t kept = 0;   /* the start of a line, from the previous read */
    bool skip = false; /* the rest of a line too long to be valid */
    long got;
    int err = 0;
    while ((got = aioc_file_read_some(p->in, data + kept, CHUNK_SIZE - kept)) > 0) {
        char *s = data, *end = data + kept + got, *nl;
        for (; !err && (nl = memchr(s, '\n', (size_t)(end - s))); s = nl + 1, skip = false)
            if (!skip)
                err = send_line(p, s, (size_t)(nl - s));
        kept = (size_t)(end - s);
        if (!err && kept == CHUNK_SIZE) { /* no newline in sight */
            if (!skip)
                err = send_line(p, data, kept); /* as a malformed line */
            skip = true;
            kept = 0;
        }
        memmove(data, s, kept);
        if (err)
            break;
    }
    if (!err && got < 0) {
        if (got != -ECANCELED)
            fprintf(stderr, "pipeline: %s: %s\n", p->in_name, strerror((int)-got));
        err = (int)got;
    } else if (!err && kept && !skip) { /* a last line without its newline */
        err = send_line(p, data, kept);
    }
    free(data);
    return err;
}

static void *reader(void *arg) {
    struct pipeline *p = arg;
    int err = 0;
    if (p->in) {
        err = read_file(p);
    } else { /* make up records: no I/O, so no need for the pool */
        char text[64];
        for (unsigned long long i = 0; i < p->generate && !err; i++) {
            long long value = (long long)(i * 7919 % 1000003) - 500000;
            int n = snprintf(text, sizeof text, "%llu,item-%llu,%lld", i, i, value);
            err = send_line(p, text, (size_t)n);
        }
    }
    if (err)
        return aioc_fail(err);
    aioc_queue_shutdown(p->lines, 0, NULL, NULL); /* parsers drain what is left */
    return NULL;
}

/* ----------------------------------------------------------- parsers -- */

/* Parses "ID,NAME,VALUE" (a \r before the end is allowed) into `r`, and
 * enters the outcome in the ledger: the ID, or MALFORMED. */
static bool parse(struct pipeline *p, struct line *l, struct record *r) {
    char *s = l->text, *end;
    if (l->len && s[l->len - 1] == '\r')
        s[l->len - 1] = '\0';
    bool ok = false;
    errno = 0;
    if (*s >= '0' && *s <= '9') {
        r->id = strtoull(s, &end, 10);
        char *name = end + 1, *comma = *end == ',' ? strchr(name, ',') : NULL;
        if (comma && comma > name && comma - name <= MAX_NAME) {
            memcpy(r->name, name, (size_t)(comma - name));
            r->name[comma - name] = '\0';
            s = comma + 1;
            if ((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')) {
                r->value = strtoll(s, &end, 10);
                ok = !errno && *end == '\0';
            }
        }
    }
    r->seq = l->seq;
    if (ok) {
        p->ledger[l->seq].id = r->id;
    } else {
        p->ledger[l->seq].fate = MALFORMED;
        p->malformed++;
    }
    return ok;
}

/* The lines queue's drop function, also used by hand: a line that never
 * got through is parsed all the same, so that a valid one can be reported
 * as not written by its ID. */
static void drop_line(void *item, void *data) {
    struct record r;
    parse(data, item, &r);
    free(item);
}

static void drop_record(void *item, void *data) {
    (void)data;
    free(item);
}

static void *parser(void *arg) {
    struct pipeline *p = arg;
    void *item;
    int err;
    while (!(err = aioc_queue_get(p->lines, &item))) {
        struct line *l = item;
        struct record *r = malloc(sizeof *r);
        if (!r) {
            drop_line(l, p);
            return aioc_fail(-ENOMEM);
        }
        bool ok = parse(p, l, r);
        free(l);
        if (!ok) {
            free(r);
            continue;
        }
        p->parsed++;
        if ((err = aioc_queue_put(p->records, r))) {
            free(r);
            break;
        }
    }
    if (err != -ESHUTDOWN)
        return aioc_fail(err);
    if (--p->parsers_left == 0) /* the last parser out closes the next queue */
        aioc_queue_shutdown(p->records, 0, NULL, NULL);
    return NULL;
}

/* ------------------------------------------------------ transformers -- */

/* Stands for real CPU-bound work: a polynomial hash of the fields, ROUNDS
 * times over. Kept below 2^53 so that the test can redo it in awk. */
static int transform(void *item, void **result) { /* on a pool thread */
    /* the record is transformed in place: no result */
    struct record *r = item;
    (void)result;
    const int64_t m = MODULUS;
    int64_t h = 0, id = (int64_t)(r->id % MODULUS), value = (r->value % m + m) % m;
    for (int round = 0; round < ROUNDS; round++) {
        for (const char *c = r->name; *c; c++)
            h = (h * 31 + (unsigned char)*c) % m;
        h = (h * 31 + id) % m;
        h = (h * 31 + value) % m;
    }
    r->result = (uint64_t)h;
    return 0;
}

/* Takes up to TRANSFORM_BATCH records into `batch`: waits for the first,
 * then for more until the batch is full or the first has waited
 * TRANSFORM_DELAY. Returns how many (*err 0), or 0 with *err set
 * (-ESHUTDOWN: no more records; -ECANCELED). */
static size_t take_batch(struct pipeline *p, void **batch, int *err) {
    size_t n = 0;
    if ((*err = aioc_queue_get(p->records, &batch[0])))
        return 0;
    n = 1;
    aioc_scope deadline;
    if (aioc_scope_enter(&deadline, TRANSFORM_DELAY) != 0)
        return n; /* (cancelled) the map call will tell */
    while (n < TRANSFORM_BATCH && !aioc_queue_get(p->records, &batch[n]))
        n++;
    aioc_scope_exit(&deadline);
    /* An error here (due time, end of input, a cancel) ends the batch; a
     * cancel shows again at the next suspending call. */
    return n;
}

static void *transformer(void *arg) {
    struct pipeline *p = arg;
    void *batch[TRANSFORM_BATCH];
    size_t n;
    int err;
    while ((n = take_batch(p, batch, &err)) > 0) {
        /* The batch goes to the pool in one hand-off and comes back in
         * one wake-up (aioc_to_thread_map); one at a time, the hand-offs
         * would cost as much as the work. A failed call has handed every
         * record to free_late. */
        atomic_fetch_add(&jobs_in_pool, (long)n);
        if ((err = aioc_to_thread_map_with(transform, batch, n, NULL, NULL, free_late)))
            break;
        atomic_fetch_sub(&jobs_in_pool, (long)n);
        size_t i = 0;
        while (i < n && !(err = aioc_queue_put(p->results, batch[i])))
            i++;
        if (err) {
            for (; i < n; i++)
                free(batch[i]);
            break;
        }
    }
    if (err != -ESHUTDOWN)
        return aioc_fail(err);
    if (--p->transformers_left == 0)
        aioc_queue_shutdown(p->results, 0, NULL, NULL);
    return NULL;
}

/* ------------------------------------------------------------ writer -- */

struct batch {
    size_t n, len;
    struct record *recs[BATCH];
    char text[BATCH * OUT_LINE_MAX];
};

/* Writes the batch. The write is shielded: a batch is written whole (or
 * fails) and only then marked WRITTEN, so a Ctrl-C can never leave records
 * on disk that the ledger calls unwritten. */
static int flush(struct pipeline *p, struct batch *b) {
    b->len = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct record *r = b->recs[i];
        b->len += (size_t)sprintf(b->text + b->len, "%" PRIu64 ",%s,%" PRIu64 "\n", r->id, r->name,
                                  r->result);
    }
    aioc_scope shield;
    int err = aioc_shield_enter(&shield);
    if (!err) { /* unshielded, a cancel could leave the batch half written */
        long n = aioc_file_write(p->out, b->text, b->len);
        aioc_scope_exit(&shield);
        if (n < 0) {
            fprintf(stderr, "pipeline: writing output: %s\n", strerror((int)-n));
            err = (int)n;
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        if (!err) {
            struct entry *e = &p->ledger[b->recs[i]->seq];
            if (e->fate == WRITTEN)
                abort(); /* the one thing a pipeline must never do */
            e->fate = WRITTEN;
            p->written++;
        }
        free(b->recs[i]);
    }
    b->n = 0;
    return err;
}

static void *writer(void *arg) {
    struct pipeline *p = arg;
    struct batch *b = malloc(sizeof *b);
    if (!b)
        return aioc_fail(-ENOMEM);
    b->n = 0;
    double due = 0;
    int err = 0;
    while (!err) {
        /* Records are written in batches, but none waits long for its batch
         * to fill: the wait for the next result ends at the batch's due
         * time (asyncio.timeout around queue.get). */
        aioc_scope deadline;
        bool timed = b->n && aioc_scope_enter_at(&deadline, due) == 0;
        void *item;
        err = aioc_queue_get(p->results, &item);
        if (timed)
            aioc_scope_exit(&deadline);
        if (err == -ETIMEDOUT) {
            err = flush(p, b);
        } else if (!err) {
            if (b->n == 0)
                due = aioc_now() + MAX_DELAY;
            b->recs[b->n++] = item;
            if (b->n == BATCH)
                err = flush(p, b);
        }
    }
    if (err == -ESHUTDOWN) /* the end of the input: write what is left */
        err = flush(p, b);
    for (size_t i = 0; i < b->n; i++) /* cancelled: they stay unwritten */
        free(b->recs[i]);
    free(b);
    return err ? aioc_fail(err) : NULL;
}

/* -------------------------------------------------------------- main -- */

static void *progress(void *arg) {
    struct pipeline *p = arg;
    do {
        double elapsed = aioc_now() - p->start;
        fprintf(stderr,
                "\r%8.0f records/s  read %zu  parsed %zu  written %zu  queues %zu/%zu/%zu"
                "  %.1f s\033[K",
                elapsed > 0 ? (double)p->written / elapsed : 0.0, p->nread, p->parsed, p->written,
                aioc_queue_size(p->lines), aioc_queue_size(p->records), aioc_queue_size(p->results),
                elapsed);
    } while (aioc_sleep(0.1) == 0);
    fprintf(stderr, "\r\033[K");
    return NULL;
}

/* The IDs of records read but not written; returns how many. */
static size_t report_unwritten(struct pipeline *p) {
    FILE *f = p->unwritten_name ? fopen(p->unwritten_name, "w") : NULL;
    if (p->unwritten_name && !f)
        fprintf(stderr, "pipeline: %s: %s\n", p->unwritten_name, strerror(errno));
    size_t n = 0;
    for (size_t seq = 0; seq < p->nread; seq++) {
        if (p->ledger[seq].fate == READ) {
            n++;
            if (f)
                fprintf(f, "%" PRIu64 "\n", p->ledger[seq].id);
        }
    }
    if (f && fclose(f) != 0)
        fprintf(stderr, "pipeline: %s: %s\n", p->unwritten_name, strerror(errno));
    return n;
}

static int spawn_stage(aioc_group g, aioc_fn fn, struct pipeline *p, const char *what, int i) {
    char name[32];
    if (i)
        snprintf(name, sizeof name, "%s-%d", what, i);
    else
        snprintf(name, sizeof name, "%s", what);
    return aioc_task_error(aioc_group_spawn(g, fn, p, &(aioc_spawn_opts){.name = name}));
}

static void *run(void *arg) {
    struct pipeline *p = arg;
    p->start = aioc_now();
    p->parsers_left = p->parsers;
    p->transformers_left = p->transformers;
    aioc_group g;
    int err = aioc_group_init(&g);
    if (err)
        return aioc_fail(err);
    err = spawn_stage(g, reader, p, "reader", 0);
    for (int i = 1; i <= p->parsers && !err; i++)
        err = spawn_stage(g, parser, p, "parser", i);
    for (int i = 1; i <= p->transformers && !err; i++)
        err = spawn_stage(g, transformer, p, "transformer", i);
    if (!err)
        err = spawn_stage(g, writer, p, "writer", 0);
    if (err) /* stop the stages already started; wait for them below */
        aioc_group_cancel(g);
    aioc_task bar = {0};
    if (p->progress)
        bar = aioc_spawn_with(progress, p, &(aioc_spawn_opts){.name = "progress"});

    /* Returns when every stage has ended: all went well, one failed (the
     * others cancelled), or Ctrl-C cancelled us and so the group. */
    int status = aioc_group_wait(g);
    err = err ? err : status;

    /* From here on only cleanup and the report, which a second cancel must
     * not cut short. */
    aioc_scope shield;
    aioc_shield_enter(&shield);
    if (bar.id && !aioc_task_error(bar)) {
        aioc_cancel(bar);
        aioc_await(bar, NULL);
    }
    while (atomic_load(&jobs_in_pool) > 0) /* abandoned jobs, still running */
        aioc_sleep(0.001);
    aioc_queue_free(p->lines, drop_line, p);
    aioc_queue_free(p->records, drop_record, NULL);
    aioc_queue_free(p->results, drop_record, NULL);
    p->lines = p->records = p->results = NULL;
    size_t unwritten = report_unwritten(p);
    free(p->ledger); /* here, not in main(): after Ctrl-C, aioc_run never returns */
    p->ledger = NULL;
    double elapsed = aioc_now() - p->start;
    if (err == -ECANCELED)
        fprintf(stderr, "pipeline: interrupted\n");
    else if (err)
        fprintf(stderr, "pipeline: stopped: %s\n", aioc_strerror(err));
    fprintf(stderr,
            "pipeline: %zu read, %zu written, %zu malformed, %zu not written, "
            "%.2f s, %.0f records/s\n",
            p->nread, p->written, p->malformed, unwritten, elapsed,
            elapsed > 0 ? (double)p->written / elapsed : 0.0);
    aioc_scope_exit(&shield);
    return err ? aioc_fail(err) : NULL;
}

/* A handle taking over `fd`, the result of an open(2) or fcntl(2) that
 * may have failed: NULL with *err set (that call's errno, negated). */
static aioc_file *adopt(int fd, int *err) {
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    return aioc_file_from_fd(fd, err);
}

static int usage(void) {
    fprintf(stderr, "usage: pipeline [--quiet] [--parsers N] [--transformers M] "
                    "[--records K] [--out FILE] [--unwritten FILE] [INPUT]\n");
    return 2;
}

int main(int argc, char **argv) {
    /* Four transformers per CPU: while one waits for its batch on the pool,
     * others fill theirs, so the pool always has a few milliseconds of work
     * queued and never idles while the loop's thread waits for a CPU. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct pipeline p = {
        .parsers = 2, .transformers = 4 * (cpus > 0 ? (int)cpus : 2), .generate = 200000};
    const char *out_name = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "--out") && v) {
            out_name = argv[++i];
        } else if (!strcmp(a, "--unwritten") && v) {
            p.unwritten_name = argv[++i];
        } else if ((!strcmp(a, "--parsers") || !strcmp(a, "--transformers") ||
                    !strcmp(a, "--records")) &&
                   v) {
            unsigned long long n = strtoull(v, &end, 10);
            if (*v < '0' || *v > '9' || *end || (a[2] != 'r' && (n < 1 || n > 1000)))
                return usage();
            if (a[2] == 'p')
                p.parsers = (int)n;
            else if (a[2] == 't')
                p.transformers = (int)n;
            else
                p.generate = n;
            i++;
        } else if (a[0] == '-' || p.in_name) {
            return usage();
        } else {
            p.in_name = a;
        }
    }
    /* opened before the loop runs (nothing to block yet), then handed to
     * aioc_file handles; stdout is a duplicate, so that closing the handle
     * leaves it open for stdio */
    int err = 0;
    if (p.in_name && !(p.in = adopt(open(p.in_name, O_RDONLY | O_CLOEXEC), &err))) {
        fprintf(stderr, "pipeline: %s: %s\n", p.in_name, aioc_strerror(err));
        return 1;
    }
    int out_fd = out_name ? open(out_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)
                          : fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (!(p.out = adopt(out_fd, &err))) {
        fprintf(stderr, "pipeline: %s: %s\n", out_name ? out_name : "stdout", aioc_strerror(err));
        return 1;
    }
    p.progress = !quiet && isatty(STDERR_FILENO);
    p.lines = aioc_queue_new(AIOC_QUEUE_FIFO, QUEUE_SIZE, NULL);
    p.records = aioc_queue_new(AIOC_QUEUE_FIFO, QUEUE_SIZE, NULL);
    p.results = aioc_queue_new(AIOC_QUEUE_FIFO, QUEUE_SIZE, NULL);
    if (!p.lines || !p.records || !p.results) {
        fprintf(stderr, "pipeline: out of memory\n");
        return 1;
    }
    /* A pool thread per CPU for the transforms, and two more for the
     * reader's and the writer's calls, which at worst wait behind a batch
     * (a millisecond or two: more threads than CPUs would not run it any
     * sooner). With the default options, the first Ctrl-C cancels run(), and once it
     * has cleaned up the process dies of SIGINT (status 130). */
    aioc_run_opts opts = {.main_name = "pipeline", .threads = (unsigned)(cpus > 0 ? cpus : 2) + 2};
    int status = aioc_run_with(run, &p, NULL, &opts);
    aioc_file_close(p.in);
    err = aioc_file_close(p.out);
    if (err) {
        fprintf(stderr, "pipeline: %s: %s\n", out_name ? out_name : "stdout", strerror(-err));
        status = err;
    }
    return status ? 1 : 0;
}
