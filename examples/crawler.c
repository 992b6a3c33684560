/* A web crawler: from a start URL, follow links to a given depth, many
 * requests at a time.
 *
 *   crawler [--quiet] [--depth N] [--concurrency N] [--per-host N]
 *           [--timeout S] [--all-hosts] [URL]
 *   crawler --serve-demo-site [PORT [DELAY]]
 *
 * Each URL gets a task of its own, spawned into one task group
 * (asyncio.TaskGroup). Tasks are cheap, so nothing is queued by hand: a
 * task waits for its host's semaphore (at most --per-host requests to one
 * host, default 4), then for the crawl's (at most --concurrency in all,
 * default 16), fetches the page with libcurl (aioc_curl_perform: the task
 * suspends, the loop runs the others), and spawns a task for every link
 * not seen before. When the last task ends, the group's wait returns. Only
 * links to the start URL's host are followed, unless --all-hosts; pages
 * deeper than --depth (default 10) are not fetched; a URL is fetched at
 * most once (fragments removed, relative links resolved by libcurl's URL
 * API).
 *
 * Without a URL it serves a demo site on a free loopback port (the aioc
 * HTTP adapter, in this same loop) and crawls that: 200 pages in a tree
 * with cross links, 20 links to missing pages, one slow page. With
 * --serve-demo-site it only serves the site (PORT 0: any free port; each
 * page takes DELAY seconds, default 0.002), and on Ctrl-C prints how many
 * requests it served, for how many distinct paths, and how many it served
 * at once at most: tests/check_crawler.sh checks a crawl with those.
 *
 * A progress line is redrawn on a terminal; a summary ends the crawl. The
 * first Ctrl-C cancels the main task and so the group: the requests in
 * flight are cancelled, the summary is printed, and the process exits
 * with status 130. Otherwise the exit status is 0 if at least the start
 * page could be fetched, else 1. */
#define _POSIX_C_SOURCE 200809L
#include <aioc.h>
#include <aioc_curl.h>
#include <aioc_http.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_BODY (1 << 20) /* bytes of a page kept for link scanning */
#define SITE_PAGES 200
#define SITE_SLOW 150 /* the page that takes 0.2 s */

/* ------------------------------------------------------------- state -- */

struct host { /* one per host name, each with its own semaphore */
    struct host *next;
    aioc_sem sem; /* must not move while tasks wait: hosts are never realloc'd */
    char name[];
};

struct crawl {
    int depth, per_host;
    bool all_hosts, progress;
    double timeout;
    char *start_host;
    aioc_group group;
    aioc_sem slots; /* requests in flight, crawl-wide */
    struct host *hosts;
    char **seen; /* an open-addressing set of every URL spawned */
    size_t nseen, cap;
    /* for the progress line and the summary */
    size_t queued; /* page tasks not ended yet */
    size_t fetched, pages, not_found, errors, in_flight, most_in_flight;
    unsigned long long bytes;
    double start;
};

struct page {
    struct crawl *c;
    int depth;
    char url[];
};

static size_t hash(const char *s) { /* FNV-1a */
    size_t h = 14695981039346656037u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Adds `url` to the seen set. Returns 1 if it is new, 0 if it was there,
 * -ENOMEM. */
static int see(struct crawl *c, const char *url) {
    if (2 * (c->nseen + 1) > c->cap) { /* keep it at most half full */
        size_t cap = c->cap ? 2 * c->cap : 1024;
        char **grown = calloc(cap, sizeof *grown);
        if (!grown)
            return -ENOMEM;
        for (size_t i = 0; i < c->cap; i++)
            if (c->seen[i]) {
                size_t j = hash(c->seen[i]) & (cap - 1);
                while (grown[j])
                    j = (j + 1) & (cap - 1);
                grown[j] = c->seen[i];
            }
        free(c->seen);
        c->seen = grown;
        c->cap = cap;
    }
    size_t i = hash(url) & (c->cap - 1);
    for (; c->seen[i]; i = (i + 1) & (c->cap - 1))
        if (!strcmp(c->seen[i], url))
            return 0;
    if (!(c->seen[i] = strdup(url)))
        return -ENOMEM;
    c->nseen++;
    return 1;
}

static struct host *host_get(struct crawl *c, const char *name) {
    struct host *h = c->hosts;
    while (h && strcasecmp(h->name, name))
        h = h->next;
    if (!h && (h = malloc(sizeof *h + strlen(name) + 1))) {
        strcpy(h->name, name);
        aioc_sem_init(&h->sem, (unsigned)c->per_host);
        h->next = c->hosts;
        c->hosts = h;
    }
    return h;
}

/* ------------------------------------------------------------- links -- */

static void *crawl_page(void *arg);

/* Resolves `href` against the page's URL `base` and spawns a task for it,
 * unless it is not http(s), leaves the start host (without --all-hosts),
 * or was seen before. Returns 0 or -ENOMEM. */
static int follow(struct crawl *c, CURLU *base, const char *href, int depth) {
    CURLU *u = curl_url_dup(base);
    if (!u)
        return -ENOMEM;
    char *scheme = NULL, *host = NULL, *url = NULL;
    int err = 0;
    if (curl_url_set(u, CURLUPART_URL, href, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (!strcmp(scheme, "http") || !strcmp(scheme, "https")) &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        (c->all_hosts || !strcasecmp(host, c->start_host)) &&
        curl_url_get(u, CURLUPART_URL, &url, 0) == CURLUE_OK && (err = see(c, url)) == 1) {
        struct page *p = malloc(sizeof *p + strlen(url) + 1);
        if (!p)
            err = -ENOMEM;
        else {
            *p = (struct page){c, depth};
            strcpy(p->url, url);
            aioc_task t = aioc_group_spawn(c->group, crawl_page, p, NULL);
            if ((err = aioc_task_error(t)))
                free(p); /* -ECANCELED after Ctrl-C: fine, not fetched */
            else
                c->queued++;
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(url);
    curl_url_cleanup(u);
    return err == -ECANCELED || err == 1 ? 0 : err;
}

/* Finds every <a href="..."> in `html` and follows it. Attribute values may
 * be double-quoted, single-quoted or bare; a '>' inside quotes does not
 * end the tag; comments are skipped; "&amp;" becomes "&". Returns 0 or
 * -ENOMEM. */
static int scan_links(struct crawl *c, CURLU *base, const char *html, int depth) {
    const char *s = html;
    while ((s = strchr(s, '<'))) {
        if (!strncmp(s, "<!--", 4)) {
            const char *end = strstr(s + 4, "-->");
            if (!end)
                break;
            s = end + 3;
            continue;
        }
        s++;
        bool anchor = (*s == 'a' || *s == 'A') && (s[1] == ' ' || s[1] == '\t' || s[1] == '\n');
        while (*s && *s != '>') { /* attribute by attribute */
            while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '/')
                s++;
            const char *name = s;
            while (*s && !strchr(" \t\r\n=>", *s))
                s++;
            bool href = anchor && s - name == 4 && !strncasecmp(name, "href", 4);
            while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                s++;
            if (*s != '=') /* an attribute without a value */
                continue;
            s++;
            while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                s++;
            const char *value = s, *end;
            if (*s == '"' || *s == '\'') {
                if (!(end = strchr(++value, *s)))
                    return 0; /* unterminated: the page is cut off */
                s = end + 1;
            } else {
                while (*s && !strchr(" \t\r\n>", *s))
                    s++;
                end = s;
            }
            /* "#name" is a place in this same page (and libcurl 7.88 would
             * resolve it as "./", another page) */
            if (!href || end == value || *value == '#')
                continue;
            char *link = malloc((size_t)(end - value) + 1), *o = link;
            if (!link)
                return -ENOMEM;
            for (const char *v = value; v < end; v++) {
                *o++ = *v;
                if (!strncmp(v, "&amp;", 5))
                    v += 4;
            }
            *o = '\0';
            int err = follow(c, base, link, depth);
            free(link);
            if (err)
                return err;
        }
    }
    return 0;
}

/* ---------------------------------------------------------- fetching -- */

struct body {
    size_t len;
    char data[MAX_BODY + 1];
};

/* libcurl's write callback: keeps the first MAX_BODY bytes, then stops the
 * transfer (a short count makes libcurl fail it with CURLE_WRITE_ERROR). It
 * runs inside libcurl, so it must not suspend. */
static size_t on_data(char *p, size_t size, size_t n, void *arg) {
    struct body *b = arg;
    size_t add = size * n, take = add < MAX_BODY - b->len ? add : MAX_BODY - b->len;
    memcpy(b->data + b->len, p, take);
    b->len += take;
    return take;
}

/* Fetches `url` into `b`. Returns 0 and the status, or an error. */
static int fetch(struct crawl *c, const char *url, struct body *b, long *status, CURLU *base) {
    CURL *e = curl_easy_init();
    if (!e)
        return -ENOMEM;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "aioc-crawler/0.1");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->timeout * 1000));
    int err = aioc_curl_perform(e); /* suspends: the other tasks run */
    if (err == aioc_curl_error(CURLE_WRITE_ERROR) && b->len == MAX_BODY)
        err = 0; /* a long page: its first MAX_BODY bytes will do */
    char *effective = NULL;
    if (!err) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
        curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &effective);
        /* links are relative to where the redirects ended */
        if (curl_url_set(base, CURLUPART_URL, effective ? effective : url, 0) != CURLUE_OK)
            err = -EINVAL;
    }
    curl_easy_cleanup(e);
    return err;
}

/* Fetches a page, counts the outcome, and follows the page's links. Its
 * task holds both permits. Returns 0, -ECANCELED, or -ENOMEM. */
static int visit(struct crawl *c, struct page *p, CURLU *base) {
    struct body *b = malloc(sizeof *b); /* here: at most --concurrency at once */
    if (!b)
        return -ENOMEM;
    b->len = 0;
    if (++c->in_flight > c->most_in_flight)
        c->most_in_flight = c->in_flight;
    long status = 0;
    int err = fetch(c, p->url, b, &status, base);
    c->in_flight--;
    if (err != -ECANCELED) {
        c->fetched++;
        c->bytes += b->len;
        if (err) {
            c->errors++;
            if (!c->progress) /* on a terminal, the count will do */
                fprintf(stderr, "crawler: %s: %s\n", p->url, aioc_curl_strerror(err));
            err = 0;
        } else if (status >= 200 && status < 300) {
            c->pages++;
            b->data[b->len] = '\0';
            if (p->depth < c->depth)
                err = scan_links(c, base, b->data, p->depth + 1);
        } else {
            c->errors++;
            c->not_found += status == 404;
        }
    }
    free(b);
    return err;
}

/* One URL's task. It never fails the group (which would cancel the whole
 * crawl) for a page that cannot be fetched: that is counted as an error.
 * Only running out of memory stops everything. */
static void *crawl_page(void *arg) {
    struct page *p = arg;
    struct crawl *c = p->c;
    CURLU *base = curl_url();
    char *host = NULL;
    struct host *h;
    int err = -ENOMEM;
    if (base && curl_url_set(base, CURLUPART_URL, p->url, 0) == CURLUE_OK &&
        curl_url_get(base, CURLUPART_HOST, &host, 0) == CURLUE_OK && (h = host_get(c, host))) {
        /* The host's permit first, then the crawl's: a task waiting for a
         * busy host must not sit on one of the crawl's slots meanwhile. */
        if (!(err = aioc_sem_acquire(&h->sem))) {
            if (!(err = aioc_sem_acquire(&c->slots))) {
                err = visit(c, p, base);
                aioc_sem_release(&c->slots);
            }
            aioc_sem_release(&h->sem);
        }
    }
    c->queued--;
    curl_free(host);
    curl_url_cleanup(base);
    free(p);
    return err == -ENOMEM ? aioc_fail(err) : NULL;
}

/* ---------------------------------------------------------- the crawl -- */

static void human(char *out, size_t n, unsigned long long bytes) {
    if (bytes < 10000)
        snprintf(out, n, "%llu B", bytes);
    else if (bytes < 10000000)
        snprintf(out, n, "%.1f kB", bytes / 1e3);
    else
        snprintf(out, n, "%.1f MB", bytes / 1e6);
}

static void *progress(void *arg) {
    struct crawl *c = arg;
    do {
        char bytes[32];
        human(bytes, sizeof bytes, c->bytes);
        printf("\r  %zu done, %zu queued, %zu in flight, %s, %zu errors, %.1f s\033[K", c->fetched,
               c->queued - c->in_flight, c->in_flight, bytes, c->errors, aioc_now() - c->start);
        fflush(stdout);
    } while (aioc_sleep(0.1) == 0); /* ten redraws a second at most */
    printf("\r\033[K");
    fflush(stdout);
    return NULL;
}

/* Crawls from `url`; prints the summary. Returns 0 or an error. */
static int crawl(struct crawl *c, const char *url) {
    CURLU *u = curl_url();
    char *start = NULL; /* "example.org" becomes "http://example.org/" */
    int err = !u ? -ENOMEM : 0;
    if (!err && (curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME) != CURLUE_OK ||
                 curl_url_get(u, CURLUPART_HOST, &c->start_host, 0) != CURLUE_OK ||
                 curl_url_get(u, CURLUPART_URL, &start, 0) != CURLUE_OK ||
                 (strncmp(start, "http://", 7) && strncmp(start, "https://", 8)))) {
        fprintf(stderr, "crawler: %s: not an http or https URL\n", url);
        err = -EINVAL;
    }
    c->start = aioc_now();
    if (!err)
        err = aioc_group_init(&c->group);
    if (err) {
        curl_free(start);
        curl_url_cleanup(u);
        return err;
    }
    err = follow(c, u, start, 0); /* the start page, depth 0 */
    curl_free(start);
    curl_url_cleanup(u);
    if (err)
        aioc_group_cancel(c->group);
    aioc_task bar = {0};
    if (c->progress)
        bar = aioc_spawn_with(progress, c, &(aioc_spawn_opts){.name = "progress"});

    /* Returns when every page task has ended: the crawl is complete, or
     * Ctrl-C cancelled us and with us the group. */
    int status = aioc_group_wait(c->group);
    err = err ? err : status;

    aioc_scope shield; /* a second cancel must not cut the report short */
    aioc_shield_enter(&shield);
    if (bar.id && !aioc_task_error(bar)) {
        aioc_cancel(bar);
        aioc_await(bar, NULL);
    }
    double elapsed = aioc_now() - c->start;
    char bytes[32];
    human(bytes, sizeof bytes, c->bytes);
    if (err == -ECANCELED)
        printf("crawler: interrupted\n");
    else if (err)
        printf("crawler: stopped: %s\n", aioc_strerror(err));
    printf("crawler: %zu pages, %zu errors (%zu not found), %s, %.2f s, %.0f pages/s, "
           "at most %zu in flight\n",
           c->pages, c->errors, c->not_found, bytes, elapsed,
           elapsed > 0 ? c->pages / elapsed : 0.0, c->most_in_flight);
    fflush(stdout); /* after Ctrl-C the process ends by SIGINT, not exit() */
    aioc_scope_exit(&shield);
    return err;
}

/* ------------------------------------------------------- demo site -- */

/* Page 0 is "/", page i is "/page/i". Page i links to its children 4i+1
 * .. 4i+4 (so the tree is 4 levels deep below the root), its parent, one
 * page across the tree, and, for every tenth page, a missing page. Links
 * come in every form the scanner must read. */
struct site {
    double delay;
    size_t requests, distinct, others, in_flight, most_in_flight;
    unsigned hits[SITE_PAGES + SITE_PAGES / 10]; /* pages, then missing ones */
};

static void page_path(char *out, size_t n, int i) {
    if (i == 0)
        snprintf(out, n, "/");
    else
        snprintf(out, n, "/page/%d", i);
}

static int site_page(aioc_http_request *req, aioc_http_response *res, void *arg) {
    struct site *s = arg;
    const char *path = aioc_http_request_path(req);
    char *end = "";
    long i = -1, missing = -1; /* the page, or the missing page's number */
    if (!strcmp(path, "/"))
        i = 0;
    else if (!strncmp(path, "/page/", 6) && path[6] >= '1' && path[6] <= '9')
        i = strtol(path + 6, &end, 10);
    else if (!strncmp(path, "/missing/", 9) && path[9] >= '0' && path[9] <= '9')
        missing = strtol(path + 9, &end, 10);
    if (*end || i >= SITE_PAGES || missing >= SITE_PAGES || missing % 10 > 0)
        i = missing = -1; /* not a path of the site */
    unsigned *hit = i >= 0         ? &s->hits[i]
                    : missing >= 0 ? &s->hits[SITE_PAGES + missing / 10]
                                   : NULL;
    s->requests++;
    if (!hit)
        s->others++;
    else if ((*hit)++ == 0)
        s->distinct++;

    if (++s->in_flight > s->most_in_flight)
        s->most_in_flight = s->in_flight;
    int err = aioc_sleep(i == SITE_SLOW ? 0.2 : s->delay); /* a server's think time */
    s->in_flight--;
    if (err)
        return err;
    if (i < 0) {
        aioc_http_response_status(res, 404);
        return aioc_http_response_body(res, "not found\n", 10);
    }

    char html[2048], self[32], parent[32], across[32];
    int n = snprintf(html, sizeof html,
                     "<!doctype html>\n<html><head><title>Page %ld</title></head><body>\n"
                     "<h1 id=top>Page %ld</h1>\n<!-- <a href=\"/commented-out\"> -->\n<ul>\n",
                     i, i);
    for (long child = 4 * i + 1; child <= 4 * i + 4 && child < SITE_PAGES; child++) {
        page_path(self, sizeof self, (int)child);
        n += snprintf(html + n, sizeof html - n, "<li><a href=\"%s\">page %ld</a>\n", self, child);
    }
    if (i > 0) { /* a relative link, single-quoted */
        page_path(parent, sizeof parent, (int)(i - 1) / 4);
        n += snprintf(html + n, sizeof html - n, "<li><a class='up' href='..%s'>up</a>\n", parent);
    }
    /* an absolute URL with a fragment, through the Host header */
    const char *host = aioc_http_request_header(req, "Host");
    page_path(across, sizeof across, (int)((i * 37 + 11) % SITE_PAGES));
    n += snprintf(html + n, sizeof html - n,
                  "<li><a title=\"see > also\" href=\"http://%s%s#section\">across</a>\n",
                  host ? host : "127.0.0.1", across);
    if (i % 10 == 0)
        n += snprintf(html + n, sizeof html - n, "<li><a href=/missing/%ld>gone</a>\n", i);
    n += snprintf(html + n, sizeof html - n,
                  "</ul>\n<p><a href=\"#top\">top</a> <a href=\"mailto:site@example.org\">mail</a>"
                  "</p>\n<p>%s</p>\n</body></html>\n",
                  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
                  "tempor incididunt ut labore et dolore magna aliqua.");
    err = aioc_http_response_header(res, "Content-Type", "text/html; charset=utf-8");
    return err ? err : aioc_http_response_body(res, html, (size_t)n);
}

static aioc_http_server *site_start(struct site *s, const char *port) {
    int err;
    aioc_http_server *srv = aioc_http_serve("127.0.0.1", port, site_page, s, NULL, &err);
    if (!srv)
        fprintf(stderr, "crawler: cannot serve the demo site: %s\n", aioc_strerror(err));
    return srv;
}

/* -------------------------------------------------------------- main -- */

struct args {
    struct crawl *c;
    const char *url, *port;
    bool serve_only;
    double delay;
};

static void *run(void *arg) {
    struct args *a = arg;
    struct site site = {.delay = a->delay};
    aioc_http_server *srv = NULL;
    char url[64];
    if (a->serve_only || !a->url) {
        if (!(srv = site_start(&site, a->port)))
            return aioc_fail(-EADDRNOTAVAIL);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", aioc_http_server_port(srv));
    }
    int err;
    if (a->serve_only) {
        printf("serving the demo site on %s\n", url);
        fflush(stdout);
        aioc_event never = AIOC_EVENT_INIT;
        err = aioc_event_wait(&never); /* until Ctrl-C */
    } else {
        err = crawl(a->c, a->url ? a->url : url);
    }
    aioc_scope shield;
    aioc_shield_enter(&shield);
    aioc_http_server_close(srv, 1.0);
    if (a->serve_only) {
        printf("served %zu requests, %zu distinct, %zu outside the site, at most %zu at once\n",
               site.requests, site.distinct, site.others, site.most_in_flight);
        fflush(stdout);
    }
    aioc_scope_exit(&shield);
    return err ? aioc_fail(err) : NULL;
}

static int usage(void) {
    fprintf(stderr, "usage: crawler [--quiet] [--depth N] [--concurrency N] [--per-host N] "
                    "[--timeout S] [--all-hosts] [URL]\n"
                    "       crawler --serve-demo-site [PORT [DELAY]]\n");
    return 2;
}

static bool number(const char *s, double lo, double hi, double *out) {
    char *end;
    *out = s ? strtod(s, &end) : NAN;
    return s && *s && !*end && *out >= lo && *out <= hi;
}

int main(int argc, char **argv) {
    struct crawl c = {.depth = 10, .per_host = 4, .timeout = 10};
    struct args a = {.c = &c, .port = "0", .delay = 0.002};
    double concurrency = 16, v;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--quiet")) {
            quiet = true;
        } else if (!strcmp(o, "--all-hosts")) {
            c.all_hosts = true;
        } else if (!strcmp(o, "--serve-demo-site")) {
            a.serve_only = true;
            if (next && next[0] != '-')
                a.port = argv[++i];
            if (i + 1 < argc && argv[i + 1][0] != '-') {
                if (!number(argv[++i], 0, 60, &a.delay))
                    return usage();
            }
        } else if (!strcmp(o, "--depth") && number(next, 0, 1000, &v)) {
            c.depth = (int)v, i++;
        } else if (!strcmp(o, "--concurrency") && number(next, 1, 10000, &concurrency)) {
            i++;
        } else if (!strcmp(o, "--per-host") && number(next, 1, 10000, &v)) {
            c.per_host = (int)v, i++;
        } else if (!strcmp(o, "--timeout") && number(next, 0.001, 3600, &c.timeout)) {
            i++;
        } else if (o[0] == '-' || a.url) {
            return usage();
        } else {
            a.url = o;
        }
    }
    aioc_sem_init(&c.slots, (unsigned)concurrency);
    c.progress = !quiet && isatty(STDOUT_FILENO);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "crawler: libcurl failed to start\n");
        return 1;
    }
    /* With the default options, the first Ctrl-C cancels run(); once it
     * has printed the summary, the process dies of SIGINT (status 130). */
    int status = aioc_run_with(run, &a, NULL, &(aioc_run_opts){.main_name = "crawler"});
    for (size_t i = 0; i < c.cap; i++)
        free(c.seen[i]);
    free(c.seen);
    while (c.hosts) {
        struct host *h = c.hosts;
        c.hosts = h->next;
        aioc_sem_destroy(&h->sem);
        free(h);
    }
    curl_free(c.start_host);
    curl_global_cleanup();
    return status || (!a.serve_only && !c.pages) ? 1 : 0; /* 1: not even the start page */
}
