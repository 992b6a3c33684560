/* A JSON API client: many items fetched concurrently, with retries,
 * per-request deadlines and an overall deadline.
 *
 *   api_client [--quiet] [--count N] [--concurrency N] [--retries N]
 *              [--timeout S] [--deadline S] URL
 *
 * e.g. `api_client --count 200 --concurrency 20 https://api.example.com/v1`
 * (without a URL it prints its usage).
 *
 * It lists the API's items (GET URL/items?limit=N, which answers
 * {"ids": [1, 2, ...]}), then fetches the first --count of them (default
 * 1000) as GET URL/items/ID, each {"id": 1, "name": "...", "price": 1.37},
 * checks each item's shape and adds up the prices.
 *
 * Concurrency: --concurrency worker tasks (default 50) in one task group,
 * each taking the next id from the list until none is left. A task per item
 * behind a semaphore (as in crawler.c) would work as well; workers are
 * clearer here because the whole list is known up front: the number of
 * workers is the bound on requests in flight, each worker keeps one libcurl
 * handle (and so its connection) for all its requests, and the ids no
 * worker took are exactly the summary's "not attempted". Taking the next id
 * needs no lock: the tasks of a loop run one at a time and switch only
 * where they suspend.
 *
 * Deadlines are aioc scopes. Each request runs in a scope of --timeout
 * seconds (default 2) around aioc_curl_perform: when it expires, the
 * transfer is removed and its connection closed. The whole run is in a
 * scope of --deadline seconds (default 60) entered by the main task: when
 * it expires, the group's wait cancels the workers, and their requests (or
 * back-off sleeps) end with -ECANCELED.
 *
 * Retries: up to --retries more attempts (default 3) after a timeout, a
 * connection error, a 5xx or a 429, with exponential back-off and jitter
 * (0.1 s, 0.2 s, 0.4 s, ..., at most 5 s, each drawn between half and all
 * of that), or after the 429's Retry-After seconds (at most 10). Another
 * 4xx, a body that is not the JSON expected, or one over the size limit is
 * an error at once: asking again would get the same answer.
 *
 * JSON is read with jansson (Debian's libjansson-dev). Its parse errors
 * carry a line, a column and a text; it rejects invalid UTF-8 and, with
 * JSON_REJECT_DUPLICATES, duplicate keys; json_unpack_ex checks a
 * document's shape and extracts its fields in one call, with a clear error
 * ("Expected integer, got string"); and each call documents which
 * references it takes or returns.
 *
 * A real API answers with whatever faults it has; to see them all, try it
 * against tests/fixtures/demo_api.c (on loopback, faults on purpose: 503s,
 * 429s with Retry-After, answers slower than the timeout, broken JSON with
 * --bad-json), as `make demo` and tests/check_api_client.sh do:
 *   demo_api &            prints "serving the demo API on URL"
 *   api_client URL
 *
 * A progress line is redrawn on a terminal; a summary line ends the run,
 * then the errors of the first few items that had one. The first Ctrl-C
 * cancels the main task: the requests in flight are cancelled, the summary
 * is printed, and the process exits with status 130. Otherwise the exit
 * status is 0 if every item listed was fetched and valid, else 1. */
#define _POSIX_C_SOURCE 200809L
#include <aioc.h>
#include <aioc_curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_COUNT 100000         /* the most --count */
#define MAX_ITEM_BODY (64 << 10) /* an item is ~60 bytes: more is wrong */
#define MAX_LIST_BODY (8 << 20)  /* the ids of MAX_COUNT items fit easily */
#define MAX_BASE_URL 1900        /* leaves room in a 2 KiB URL buffer */
#define BACKOFF_FIRST 0.1        /* seconds before the first retry */
#define BACKOFF_MAX 5.0
#define RETRY_AFTER_MAX 10.0
#define ERRORS_SHOWN 10
#define WHY_LEN 256 /* a reason, with room for jansson's 160-byte error text */

/* -------------------------------------------------------- the client -- */

struct client {
    const char *base; /* the API's URL, without a trailing '/' */
    size_t count;     /* items asked for */
    int concurrency, retries;
    double timeout, deadline;
    bool quiet, progress;
    struct curl_slist *headers;
    json_int_t *ids; /* the items listed, at most `count` */
    size_t nids;     /* 0 until the list is in */
    size_t next;     /* ids[next] is the first no worker took yet */
    bool listed;
    /* outcomes, for the progress line and the summary */
    size_t done, errors, retries_made, cancelled, in_flight;
    long long cents; /* the sum of the prices, in cents: exact */
    /* the errors of the lowest ids, with those ids */
    char shown[ERRORS_SHOWN][WHY_LEN + 32];
    json_int_t shown_id[ERRORS_SHOWN];
    double start;
};

/* A worker's libcurl handle and the body of its current response. */
struct conn {
    CURL *easy;
    char *body;
    size_t len, cap, limit;
    const char *refused; /* why on_data stopped the transfer, or NULL */
};

/* libcurl's write callback: collects the body up to the call's limit. It
 * runs inside libcurl, so it must not suspend; returning less than it was
 * given fails the transfer with CURLE_WRITE_ERROR. */
static size_t on_data(char *p, size_t size, size_t n, void *arg) {
    struct conn *k = arg;
    size_t add = size * n;
    if (add > k->limit - k->len) {
        k->refused = "body over the size limit";
        return 0;
    }
    if (k->len + add + 1 > k->cap) {
        size_t cap = k->cap ? k->cap : 4096;
        while (cap < k->len + add + 1)
            cap *= 2;
        char *grown = realloc(k->body, cap);
        if (!grown) {
            k->refused = "out of memory";
            return 0;
        }
        k->body = grown;
        k->cap = cap;
    }
    memcpy(k->body + k->len, p, add);
    k->len += add;
    return add;
}

static int conn_open(struct client *c, struct conn *k) {
    *k = (struct conn){0};
    if (!(k->easy = curl_easy_init()))
        return -ENOMEM;
    curl_easy_setopt(k->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(k->easy, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(k->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(k->easy, CURLOPT_USERAGENT, "aioc-api-client/0.1");
    curl_easy_setopt(k->easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(k->easy, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(k->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(k->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    return 0;
}

static void conn_close(struct conn *k) {
    curl_easy_cleanup(k->easy);
    free(k->body);
}

/* A 429's Retry-After in seconds (capped), or -1 if it has none that is a
 * number (an HTTP date gets the usual back-off). */
static double retry_after(CURL *easy) {
    struct curl_header *h;
    if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return -1;
    char *end;
    long v = strtol(h->value, &end, 10);
    if (end == h->value || *end || v < 0)
        return -1;
    return v < RETRY_AFTER_MAX ? (double)v : RETRY_AFTER_MAX;
}

/* GETs `url` and parses its body as JSON, retrying what may succeed on
 * another try. Returns 0 with `*doc` (a new reference: the caller's), 1
 * with the reason in `why` when it failed for good, or -ECANCELED /
 * -ETIMEDOUT when the run is stopping (Ctrl-C, the overall deadline). */
/* Whether a failed transfer may succeed when tried again: the connection
 * could not be made or broke. Not a bad URL, a certificate that does not
 * verify, too many redirects: asking again gets the same answer. */
static bool transient(int err) {
    if (err == -ECONNREFUSED || err == -ECONNRESET || err == -ETIMEDOUT)
        return true;
    switch (aioc_curl_code(err)) {
    case CURLE_COULDNT_RESOLVE_HOST: /* a resolver that hiccuped */
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

static int call(struct client *c, struct conn *k, const char *url, size_t limit, json_t **doc,
                char *why, size_t n) {
    curl_easy_setopt(k->easy, CURLOPT_URL, url);
    for (int tries = 1;; tries++) {
        k->len = 0;
        k->limit = limit;
        k->refused = NULL;
        aioc_scope request; /* this request's own deadline */
        int err = aioc_scope_enter(&request, c->timeout);
        if (err) {
            snprintf(why, n, "%s", aioc_strerror(err));
            return 1;
        }
        c->in_flight++;
        err = aioc_curl_perform(k->easy); /* suspends: the other tasks run */
        c->in_flight--;
        bool expired = aioc_scope_exit(&request) == -ETIMEDOUT;
        /* -ETIMEDOUT from an enclosing scope (only the main task, which
         * lists the items, has one) is the overall deadline; libcurl's own
         * connect timeout (300 s) counts as this request's */
        bool overall = aioc_now() >= c->start + c->deadline;
        if (err == -ECANCELED || (err == -ETIMEDOUT && !expired && overall))
            return err;

        bool again;       /* worth another try */
        double wait = -1; /* the server's Retry-After */
        long status = 0;
        if (err == -ETIMEDOUT) {
            snprintf(why, n, "no answer within %g s", c->timeout);
            again = true;
        } else if (err) { /* refused, reset, closed mid-answer, ... */
            snprintf(why, n, "%s", k->refused ? k->refused : aioc_curl_strerror(err));
            again = !k->refused && transient(err);
        } else {
            curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
            if (status >= 200 && status < 300) {
                /* jansson's parser recurses, but stops at 2048 levels of
                 * nesting, well within a task's 256 KiB stack (even under
                 * ASan) */
                json_error_t jerr;
                *doc = json_loadb(k->body ? k->body : "", k->len, JSON_REJECT_DUPLICATES, &jerr);
                if (*doc)
                    return 0;
                snprintf(why, n, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                         jerr.text);
                return 1;
            }
            snprintf(why, n, "HTTP status %ld", status);
            again = status == 429 || status >= 500;
            if (status == 429)
                wait = retry_after(k->easy);
        }
        if (!again || tries > c->retries) {
            if (tries > 1) {
                size_t used = strlen(why);
                snprintf(why + used, n - used, " (%d attempts)", tries);
            }
            return 1;
        }
        if (wait < 0) { /* exponential back-off, "equal jitter" */
            double b = fmin(BACKOFF_FIRST * pow(2, tries - 1), BACKOFF_MAX);
            wait = b / 2 + b / 2 * (rand() / (RAND_MAX + 1.0));
        }
        c->retries_made++;
        if ((err = aioc_sleep(wait)))
            return err; /* -ECANCELED / -ETIMEDOUT: stopping */
    }
}

/* Counts an error and keeps its message if it is among the ERRORS_SHOWN of
 * the lowest ids so far: requests end in no set order, the ids do. */
static void record_error(struct client *c, json_int_t id, const char *why) {
    size_t kept = c->errors < ERRORS_SHOWN ? c->errors : ERRORS_SHOWN, i = kept;
    c->errors++;
    for (; i > 0 && c->shown_id[i - 1] > id; i--) /* make room, in order */
        if (i < ERRORS_SHOWN) {
            c->shown_id[i] = c->shown_id[i - 1];
            memcpy(c->shown[i], c->shown[i - 1], sizeof c->shown[0]);
        }
    if (i < ERRORS_SHOWN) {
        c->shown_id[i] = id;
        snprintf(c->shown[i], sizeof c->shown[0], "item %lld: %s", (long long)id, why);
    }
}

/* Fetches and checks one item. Returns 0, or -ECANCELED when stopping. */
static int fetch_item(struct client *c, struct conn *k, json_int_t id) {
    char url[2048], why[WHY_LEN];
    snprintf(url, sizeof url, "%s/items/%lld", c->base, (long long)id);
    json_t *doc = NULL;
    int r = call(c, k, url, MAX_ITEM_BODY, &doc, why, sizeof why);
    if (r < 0)
        return r;
    if (r == 0) {
        json_error_t jerr;
        json_int_t got;
        const char *name; /* borrowed from doc */
        double price;
        /* the shape and the fields in one call; other keys are allowed */
        if (json_unpack_ex(doc, &jerr, 0, "{s:I, s:s, s:F}", "id", &got, "name", &name, "price",
                           &price)) {
            snprintf(why, sizeof why, "unexpected JSON: %s", jerr.text);
            r = 1;
        } else if (got != id) {
            snprintf(why, sizeof why, "the answer is item %lld", (long long)got);
            r = 1;
        } else if (!(price >= 0 && price < 1e12)) {
            snprintf(why, sizeof why, "price %g out of range", price);
            r = 1;
        } else {
            c->cents += llround(price * 100);
        }
        json_decref(doc);
    }
    if (r)
        record_error(c, id, why);
    else
        c->done++;
    return 0;
}

/* One worker: takes the next id until none is left or the run stops. It
 * never fails the group for an item: that is counted as an error. */
static void *worker(void *arg) {
    struct client *c = arg;
    struct conn k;
    if (conn_open(c, &k))
        return aioc_fail(-ENOMEM);
    while (c->next < c->nids) {
        if (fetch_item(c, &k, c->ids[c->next++])) {
            c->cancelled++; /* the item it was on */
            break;
        }
    }
    conn_close(&k);
    return NULL;
}

/* Fetches the list of ids. Returns 0, 1 with the reason in `why`, or
 * -ECANCELED / -ETIMEDOUT. */
static int list_items(struct client *c, struct conn *k, char *why, size_t n) {
    char url[2048];
    snprintf(url, sizeof url, "%s/items?limit=%zu", c->base, c->count);
    json_t *doc = NULL, *ids = NULL; /* ids is borrowed from doc */
    int r = call(c, k, url, MAX_LIST_BODY, &doc, why, n);
    if (r)
        return r;
    json_error_t jerr;
    if (json_unpack_ex(doc, &jerr, 0, "{s:o}", "ids", &ids)) {
        snprintf(why, n, "unexpected JSON: %s", jerr.text);
        r = 1;
    } else if (!json_is_array(ids)) {
        snprintf(why, n, "unexpected JSON: \"ids\" is not an array");
        r = 1;
    } else {
        size_t len = json_array_size(ids);
        len = len < c->count ? len : c->count;
        if (!(c->ids = malloc((len ? len : 1) * sizeof *c->ids))) {
            snprintf(why, n, "%s", aioc_strerror(-ENOMEM));
            r = 1;
        }
        for (size_t i = 0; !r && i < len; i++) {
            json_t *v = json_array_get(ids, i);
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                snprintf(why, n, "unexpected JSON: ids[%zu] is not a positive integer", i);
                r = 1;
            } else {
                c->ids[i] = json_integer_value(v);
            }
        }
        c->nids = r ? 0 : len;
    }
    json_decref(doc);
    return r;
}

static void *progress(void *arg) {
    struct client *c = arg;
    do {
        printf("\r  %zu of %zu done, %zu errors, %zu retries, %zu in flight, %.1f s\033[K", c->done,
               c->listed ? c->nids : c->count, c->errors, c->retries_made, c->in_flight,
               aioc_now() - c->start);
        fflush(stdout);
    } while (aioc_sleep(0.1) == 0); /* ten redraws a second at most */
    printf("\r\033[K");
    fflush(stdout);
    return NULL;
}

/* Lists the items and fetches them; prints the summary. Returns 0 if every
 * item listed was fetched and valid, 1 if not, or -ECANCELED / -ETIMEDOUT
 * (or -ENOMEM) if the run was stopped. */
static int fetch_all(struct client *c) {
    c->start = aioc_now();
    aioc_task bar = {0};
    if (c->progress)
        bar = aioc_spawn_with(progress, c, &(aioc_spawn_opts){.name = "progress"});

    aioc_scope deadline; /* the whole run's */
    int err = aioc_scope_enter(&deadline, c->deadline), listing = err;
    bool entered = !err;
    char why[WHY_LEN] = "";
    struct conn k;
    if (entered) {
        listing = conn_open(c, &k) ? -ENOMEM : list_items(c, &k, why, sizeof why);
        conn_close(&k); /* safe after a failed open too: it zeroes k */
    }
    if (listing == 0) {
        c->listed = true;
        size_t workers = c->nids < (size_t)c->concurrency ? c->nids : (size_t)c->concurrency;
        if (!c->quiet) {
            printf("%sapi_client: %zu items listed, fetching them %zu at a time\n",
                   c->progress ? "\r\033[K" : "", c->nids, workers);
            fflush(stdout);
        }
        aioc_group g;
        if (!(err = aioc_group_init(&g))) {
            for (size_t i = 0; i < workers; i++) {
                aioc_task t = aioc_group_spawn(g, worker, c, &(aioc_spawn_opts){.name = "worker"});
                if ((err = aioc_task_error(t))) {
                    aioc_group_cancel(g);
                    break;
                }
            }
            /* Returns when every worker has ended: the list is done, or
             * Ctrl-C or the deadline cancelled the wait and so the workers. */
            int status = aioc_group_wait(g);
            err = err ? err : status;
        }
    } else {
        err = listing < 0 ? listing : 0;
    }
    if (entered)
        aioc_scope_exit(&deadline);

    aioc_scope shield; /* a second cancel must not cut the report short */
    aioc_shield_enter(&shield);
    if (bar.id && !aioc_task_error(bar)) {
        aioc_cancel(bar);
        aioc_await(bar, NULL);
    }
    if (err == -ECANCELED)
        printf("api_client: interrupted\n");
    else if (err == -ETIMEDOUT)
        printf("api_client: the deadline of %g s passed\n", c->deadline);
    else if (err)
        printf("api_client: stopped: %s\n", aioc_strerror(err));
    if (listing > 0)
        printf("api_client: cannot list the items: %s\n", why);
    size_t total = c->listed ? c->nids : c->count;
    printf("api_client: %zu items, %zu errors, %zu retries, total price %lld.%02lld, "
           "%zu cancelled, %zu not attempted, in %.2f s\n",
           c->done, c->errors, c->retries_made, c->cents / 100, c->cents % 100, c->cancelled,
           total - c->next, aioc_now() - c->start);
    for (size_t i = 0; i < c->errors && i < ERRORS_SHOWN; i++)
        printf("  %s\n", c->shown[i]);
    if (c->errors > ERRORS_SHOWN)
        printf("  (and %zu more)\n", c->errors - ERRORS_SHOWN);
    fflush(stdout); /* after Ctrl-C the process ends by SIGINT, not exit() */
    aioc_scope_exit(&shield);
    if (err)
        return err;
    return c->listed && c->done == c->nids ? 0 : 1;
}

/* -------------------------------------------------------------- main -- */

/* The main task: the whole run against the API at c->base. */
static void *run(void *arg) {
    int err = fetch_all(arg);
    return err ? aioc_fail(err < 0 ? err : -EIO) : NULL;
}

static int usage(void) {
    fprintf(stderr, "usage: api_client [--quiet] [--count N] [--concurrency N] [--retries N]\n"
                    "                  [--timeout S] [--deadline S] URL\n"
                    "  URL: the API's base; it lists URL/items?limit=N, then gets each\n"
                    "  item as URL/items/ID\n");
    return 2;
}

static bool number(const char *s, double lo, double hi, double *out) {
    char *end;
    *out = s ? strtod(s, &end) : NAN;
    return s && *s && !*end && *out >= lo && *out <= hi;
}

static bool integer(const char *s, double lo, double hi, double *out) {
    return number(s, lo, hi, out) && *out == floor(*out);
}

int main(int argc, char **argv) {
    struct client c = {
        .count = 1000, .concurrency = 50, .retries = 3, .timeout = 2, .deadline = 60};
    const char *url = NULL;
    double v;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--quiet")) {
            c.quiet = true;
        } else if (!strcmp(o, "--count") && integer(next, 1, MAX_COUNT, &v)) {
            c.count = (size_t)v, i++;
        } else if (!strcmp(o, "--concurrency") && integer(next, 1, 10000, &v)) {
            c.concurrency = (int)v, i++;
        } else if (!strcmp(o, "--retries") && integer(next, 0, 100, &v)) {
            c.retries = (int)v, i++;
        } else if (!strcmp(o, "--timeout") && number(next, 0.001, 3600, &c.timeout)) {
            i++;
        } else if (!strcmp(o, "--deadline") && number(next, 0.001, 1e6, &c.deadline)) {
            i++;
        } else if (o[0] == '-' || url || strlen(o) > MAX_BASE_URL) {
            return usage();
        } else {
            url = o;
        }
    }
    if (!url)
        return usage();
    char *base = strdup(url); /* without trailing slashes */
    if (!base)
        return 1;
    for (size_t n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
        base[n - 1] = '\0';
    c.base = base;
    c.progress = !c.quiet && isatty(STDOUT_FILENO);
    srand((unsigned)time(NULL) ^ (unsigned)getpid()); /* for the jitter */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        !(c.headers = curl_slist_append(NULL, "Accept: application/json"))) {
        fprintf(stderr, "api_client: libcurl failed to start\n");
        free(base);
        return 1;
    }
    /* With the default options, the first Ctrl-C cancels run(); once it
     * has printed the summary, the process dies of SIGINT (status 130). */
    int status = aioc_run_with(run, &c, NULL, &(aioc_run_opts){.main_name = "api_client"});
    curl_slist_free_all(c.headers);
    curl_global_cleanup();
    free(c.ids);
    free(base);
    return status ? 1 : 0;
}
