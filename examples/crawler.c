/* A web crawler: from a start URL, follow links breadth-first to a given
 * depth, many requests at a time, each URL requested at most once.
 *
 *   crawler [--quiet] [--list] [--depth N] [--concurrency N] [--per-host N]
 *           [--timeout S] [--all-hosts] [--ignore-robots] URL
 *
 * e.g. `crawler --depth 2 --list https://example.org/` (a bare host name
 * gets http://; without a URL it prints its usage).
 *
 * The crawl goes level by level. Level 0 is the start URL; level d+1 holds
 * the URLs that level d's pages link to and no earlier level holds, so a
 * page's level is its shortest link distance from the start, whatever
 * order the answers come in. Each URL of a level gets a task of its own,
 * spawned into the level's task group (asyncio.TaskGroup); when the
 * group's wait returns, the next level starts. Tasks are cheap, so nothing
 * is queued by hand: a task waits for its origin's semaphore (at most
 * --per-host requests to one origin, default 4), then for the crawl's (at
 * most --concurrency in all, default 16), and fetches its URL with libcurl
 * (aioc_curl_perform: the task suspends, the loop runs the others). Pages
 * past level --depth (default 10) are not fetched. The price of the
 * levels: the last slow page of a level holds up the next one.
 *
 * Each URL is requested at most once. A set holds every URL seen,
 * normalised: resolved against its page (libcurl's URL API, which also
 * removes dot segments), without its fragment, host in lower case, default
 * port left out. Redirects are followed here, not by libcurl: a redirect's
 * target is a URL like any other, requested by the same task (same level:
 * a redirect is not a link) only if the set does not hold it yet. So a
 * chain is requested hop by hop, once, a loop stops where it closes, and
 * after 10 redirects in a row the task gives up. The links a level finds
 * enter the set only when the level ends, so that a redirect in the level
 * takes its target first, whichever answer comes first. Only links and
 * redirects to the start URL's origin (same scheme, host and port) are
 * followed, unless --all-hosts. Only HTML pages are read for links (their
 * first MiB); any other 2xx answer is cut off once its headers are in.
 *
 * Before the first page of an origin, its /robots.txt is fetched, once (it
 * is not a page: it is not counted or listed), and the rules of its group
 * for "aioc-crawler", else of its group for "*", are obeyed as RFC 9309
 * says: the longest matching Allow or Disallow pattern wins (Allow on a
 * tie), '*' matches any characters and a final '$' the end of the path. A
 * robots.txt that is missing (4xx) or redirects allows everything; a
 * server error or no answer at all forbids the whole origin. Patterns are
 * compared with the path as it is spelled (no percent-decoding).
 * --ignore-robots skips all that.
 *
 * To watch it without troubling anyone's server, crawl the demo site in
 * tests/fixtures/demo_site.c (200 pages on loopback, with cross links,
 * broken links, a slow page and a robots.txt), as `make demo` and
 * tests/check_crawler.sh do:
 *   demo_site &           prints "serving the demo site on URL"
 *   crawler URL
 * The checks also crawl a generated site of thousands of pages served by
 * nginx (tests/fixtures/crawler_site.py).
 *
 * --list prints a line per URL requested as its answer comes in: the
 * status and the URL ("301 http://...", "ERR http://..." when no answer
 * came), a redirect and its target each on a line of their own. A progress
 * line is redrawn on a terminal; a summary ends the crawl. The first
 * Ctrl-C cancels the main task and so the level's group: the requests in
 * flight are cancelled, the summary is printed, and the process exits
 * with status 130. Otherwise the exit status is 0 if at least one page
 * could be fetched, else 1. */
#define _POSIX_C_SOURCE 200809L
#include <aioc.h>
#include <aioc_curl.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define USER_AGENT "aioc-crawler" /* the name robots.txt groups are matched with */
#define MAX_BODY (1 << 20)        /* bytes of a page kept for link scanning */
#define MAX_HOPS 10               /* redirects followed in a row */

/* ------------------------------------------------------------- state -- */

struct rule { /* a robots.txt Allow or Disallow line */
    bool allow;
    char *pattern;
};

struct origin { /* one per scheme, host and port */
    struct origin *next;
    aioc_sem sem;            /* must not move while tasks wait: origins are never realloc'd */
    bool robots_asked;       /* a task fetches robots.txt, or has */
    aioc_event robots_ready; /* set once the rules are known */
    struct rule *rules;
    size_t nrules;
    char name[]; /* "http://example.org:80" */
};

struct crawl {
    int depth, per_host;
    bool all_hosts, ignore_robots, list, progress;
    double timeout;
    char *start_origin;
    aioc_sem slots; /* requests in flight, crawl-wide */
    struct origin *origins;
    char **seen; /* an open-addressing set of every URL seen */
    size_t nseen, cap;
    char **next; /* links found in this level, not in the set when found */
    size_t nnext, capnext;
    /* for the progress line and the summary */
    int level;
    size_t queued; /* this level's tasks not ended yet */
    size_t fetched, pages, not_found, errors, redirects, disallowed;
    size_t in_flight, most_in_flight;
    unsigned long long bytes;
    double start;
};

struct task { /* a URL's task: what it needs to know */
    struct crawl *c;
    const char *url;
};

static size_t hash(const char *s) { /* FNV-1a */
    size_t h = 14695981039346656037u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The slot of `url` in the seen set, or of the NULL where it would go. */
static size_t slot(const struct crawl *c, const char *url) {
    size_t i = hash(url) & (c->cap - 1);
    while (c->seen[i] && strcmp(c->seen[i], url))
        i = (i + 1) & (c->cap - 1);
    return i;
}

static bool seen(const struct crawl *c, const char *url) { return c->cap && c->seen[slot(c, url)]; }

/* Adds `url` to the seen set and sets `*kept` to the set's copy. Returns 1
 * if it is new, 0 if it was there, -ENOMEM. */
static int see(struct crawl *c, const char *url, const char **kept) {
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
    size_t i = slot(c, url);
    if (c->seen[i]) {
        *kept = c->seen[i];
        return 0;
    }
    if (!(c->seen[i] = strdup(url)))
        return -ENOMEM;
    c->nseen++;
    *kept = c->seen[i];
    return 1;
}

static struct origin *origin_get(struct crawl *c, const char *name) {
    struct origin *o = c->origins;
    while (o && strcmp(o->name, name))
        o = o->next;
    if (!o && (o = calloc(1, sizeof *o + strlen(name) + 1))) {
        strcpy(o->name, name);
        aioc_sem_init(&o->sem, (unsigned)c->per_host);
        aioc_event_init(&o->robots_ready);
        o->next = c->origins;
        c->origins = o;
    }
    return o;
}

/* -------------------------------------------------------------- URLs -- */

/* Normalises `u` in place (no fragment, host in lower case) and gives the
 * URL without a default port, and its origin "scheme://host:port" (either
 * may be NULL: not wanted). Returns 0, or -EINVAL if it is not an http(s)
 * URL (the outputs are then NULL), or -ENOMEM. Free both with free(). */
static int normalise(CURLU *u, char **url, char **origin) {
    char *scheme = NULL, *host = NULL, *port = NULL, *s = NULL;
    int err = -EINVAL;
    if (curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (!strcmp(scheme, "http") || !strcmp(scheme, "https")) &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        for (char *h = host; *h; h++)
            *h = (char)tolower((unsigned char)*h);
        err = curl_url_set(u, CURLUPART_HOST, host, 0) == CURLUE_OK ? 0 : -EINVAL;
    }
    if (url)
        *url = NULL;
    if (!err && url) {
        if (curl_url_get(u, CURLUPART_URL, &s, CURLU_NO_DEFAULT_PORT) != CURLUE_OK)
            err = -EINVAL;
        else if (!(*url = strdup(s)))
            err = -ENOMEM;
    }
    if (origin && (*origin = NULL, !err)) {
        size_t n = strlen(scheme) + strlen(host) + strlen(port) + 5;
        if ((*origin = malloc(n)))
            snprintf(*origin, n, "%s://%s:%s", scheme, host, port);
        else
            err = -ENOMEM;
    }
    if (err && url) {
        free(*url);
        *url = NULL;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(s);
    return err;
}

/* Resolves `href` against `base` (if not NULL). Returns 1 and the URL
 * normalised in `*url` (to be freed) if the crawl may request it: http(s),
 * and the start origin unless --all-hosts. Else 0 (or -ENOMEM). */
static int resolve(struct crawl *c, const char *base, const char *href, char **url) {
    CURLU *u = curl_url();
    char *origin = NULL;
    int err = !u ? -ENOMEM : -EINVAL;
    *url = NULL;
    if (u && (base ? curl_url_set(u, CURLUPART_URL, base, 0) : CURLUE_OK) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, href, 0) == CURLUE_OK &&
        !(err = normalise(u, url, &origin)) && !c->all_hosts && strcmp(origin, c->start_origin))
        err = -EINVAL; /* another origin */
    free(origin);
    curl_url_cleanup(u);
    if (err) {
        free(*url);
        *url = NULL;
    }
    return err == -EINVAL ? 0 : err ? err : 1;
}

/* Puts `url` (taking it) into the next level, unless it is in the seen set
 * already. Returns 0 or -ENOMEM. */
static int enqueue(struct crawl *c, char *url) {
    if (seen(c, url)) {
        free(url);
        return 0;
    }
    if (c->nnext == c->capnext) {
        size_t cap = c->capnext ? 2 * c->capnext : 256;
        char **grown = realloc(c->next, cap * sizeof *grown);
        if (!grown) {
            free(url);
            return -ENOMEM;
        }
        c->next = grown;
        c->capnext = cap;
    }
    c->next[c->nnext++] = url;
    return 0;
}

/* Finds every <a href="..."> in `html` and puts the links not seen before
 * into the next level. Attribute values may be double-quoted,
 * single-quoted or bare; a '>' inside quotes does not end the tag;
 * comments are skipped; "&amp;" becomes "&". Returns 0 or -ENOMEM. */
static int scan_links(struct crawl *c, const char *base, const char *html) {
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
            char *url;
            int err = resolve(c, base, link, &url);
            free(link);
            if (err == 1)
                err = enqueue(c, url);
            if (err)
                return err;
        }
    }
    return 0;
}

/* ---------------------------------------------------------- fetching -- */

struct response {
    CURL *e;
    bool any_type;            /* keep whatever comes (robots.txt), not only HTML */
    bool checked;             /* the status and type were looked at */
    bool keep;                /* the body is kept */
    bool cut;                 /* the transfer was stopped on purpose */
    size_t len;               /* bytes kept in data */
    unsigned long long bytes; /* bytes received */
    char data[MAX_BODY + 1];
};

/* libcurl's write callback. Keeps the first MAX_BODY bytes of a 2xx HTML
 * page (of any 2xx answer, with any_type), then stops the transfer: a
 * short count makes libcurl fail it with CURLE_WRITE_ERROR. Any other 2xx
 * answer (a file, not a page: no links) is stopped at its first bytes; the
 * short text of a redirect or an error is read and dropped (stopping it
 * would cost the connection, and libcurl's record of the redirect). It
 * runs inside libcurl, so it must not suspend. */
static size_t on_data(char *p, size_t size, size_t n, void *arg) {
    struct response *r = arg;
    size_t add = size * n;
    r->bytes += add;
    if (!r->checked) { /* the first bytes: the headers are in */
        long status = 0;
        char *type = NULL;
        curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(r->e, CURLINFO_CONTENT_TYPE, &type);
        bool ok = status >= 200 && status <= 299;
        r->checked = true;
        r->keep = ok && (r->any_type || (type && !strncasecmp(type, "text/html", 9)));
        if (ok && !r->keep) {
            r->cut = true;
            return 0;
        }
    }
    if (!r->keep)
        return add;
    size_t take = add < MAX_BODY - r->len ? add : MAX_BODY - r->len;
    memcpy(r->data + r->len, p, take);
    r->len += take;
    r->cut = take < add;
    return take;
}

/* Fetches `url`, holding the origin's permit and then the crawl's (a task
 * waiting for a busy origin must not sit on one of the crawl's slots
 * meanwhile). The answer, allocated only then (so at most --concurrency
 * at once), goes to `*out` (to be freed, even on error); keeps any type
 * of content with `any_type`, else only HTML. Returns 0 and the status
 * (and for a redirect its target in `*location`, to be freed), or an
 * error. */
static int request(struct crawl *c, struct origin *o, const char *url, bool any_type,
                   struct response **out, long *status, char **location) {
    *out = NULL;
    *status = 0;
    if (location)
        *location = NULL;
    int err = aioc_sem_acquire(&o->sem);
    if (err)
        return err;
    if ((err = aioc_sem_acquire(&c->slots))) {
        aioc_sem_release(&o->sem);
        return err;
    }
    struct response *r = *out = malloc(sizeof *r);
    if (!r || !(r->e = curl_easy_init())) {
        err = -ENOMEM;
    } else {
        CURL *e = r->e;
        r->any_type = any_type;
        r->checked = r->keep = r->cut = false;
        r->len = 0;
        r->bytes = 0;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT "/0.2");
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->timeout * 1000));
        if (++c->in_flight > c->most_in_flight)
            c->most_in_flight = c->in_flight;
        err = aioc_curl_perform(e); /* suspends: the other tasks run */
        c->in_flight--;
        if (err == aioc_curl_error(CURLE_WRITE_ERROR) && r->cut)
            err = 0; /* stopped on purpose */
        if (err != -ECANCELED)
            c->bytes += r->bytes;
        if (!err) {
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
            char *target = NULL; /* absolute: libcurl resolves the Location */
            curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &target);
            if (location && target && *status >= 300 && *status < 400 &&
                !(*location = strdup(target)))
                err = -ENOMEM;
        }
        curl_easy_cleanup(e);
        r->data[r->len] = '\0';
    }
    aioc_sem_release(&c->slots);
    aioc_sem_release(&o->sem);
    return err;
}

/* ------------------------------------------------------------ robots -- */

/* Does a robots.txt `pattern` match `path`? A pattern matches the start
 * of a path; '*' matches any characters, a final '$' the end. On a
 * mismatch it goes back to the last '*' only, to let it take one more
 * character: time at most the product of the lengths, never exponential. */
static bool robots_match(const char *pattern, const char *path) {
    size_t n = strlen(pattern), p = 0, s = 0, star = SIZE_MAX, from = 0;
    bool anchored = n && pattern[n - 1] == '$';
    n -= anchored;
    for (;;) {
        if (p == n && (!anchored || !path[s]))
            return true;
        if (p < n && pattern[p] == '*') {
            star = p++;
            from = s;
        } else if (p < n && path[s] && pattern[p] == path[s]) {
            p++;
            s++;
        } else if (star != SIZE_MAX && path[from]) {
            p = star + 1;
            s = ++from;
        } else {
            return false;
        }
    }
}

/* Reads robots.txt `text` into `o`'s rules: those of the groups naming
 * USER_AGENT, or if none does, of the groups for "*". A group is a run of
 * User-agent lines and the rules after it. Returns 0 or -ENOMEM. */
static int robots_parse(struct origin *o, char *text) {
    bool agents = false, ours = false, star = false, named = false;
    struct rule *rules = NULL; /* ours and star's together, tagged */
    bool *mine = NULL;
    size_t n = 0;
    char *rest;
    for (char *line = strtok_r(text, "\r\n", &rest); line; line = strtok_r(NULL, "\r\n", &rest)) {
        line[strcspn(line, "#")] = '\0';
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *key = line, *value = colon + 1, *end = colon;
        while (end > key && isspace((unsigned char)end[-1]))
            end--;
        *end = '\0';
        while (isspace((unsigned char)*key))
            key++;
        value += strspn(value, " \t");
        for (end = value + strlen(value); end > value && isspace((unsigned char)end[-1]); end--)
            end[-1] = '\0';
        if (!strcasecmp(key, "user-agent")) {
            if (!agents) /* a new group */
                ours = star = false;
            agents = true;
            value[strcspn(value, "/ \t")] = '\0'; /* "name/1.0": the name */
            if (!strcmp(value, "*"))
                star = true;
            else if (!strcasecmp(value, USER_AGENT))
                ours = named = true;
        } else if (!strcasecmp(key, "allow") || !strcasecmp(key, "disallow")) {
            agents = false;
            if (!*value || (!ours && !star)) /* "Disallow:" forbids nothing */
                continue;
            struct rule *grown = realloc(rules, (n + 1) * sizeof *rules);
            bool *grown_mine = realloc(mine, (n + 1) * sizeof *mine);
            if (grown)
                rules = grown;
            if (grown_mine)
                mine = grown_mine;
            if (!grown || !grown_mine || !(rules[n].pattern = strdup(value)))
                goto nomem;
            rules[n].allow = tolower((unsigned char)*key) == 'a';
            mine[n++] = ours;
        }
    }
    for (size_t i = 0; i < n; i++) /* keep ours, or star's if none names us */
        if (mine[i] == named)
            rules[o->nrules++] = rules[i];
        else
            free(rules[i].pattern);
    o->rules = rules;
    free(mine);
    return 0;
nomem:
    for (size_t i = 0; i < n; i++)
        free(rules[i].pattern);
    free(rules);
    free(mine);
    return -ENOMEM;
}

/* Makes sure `o`'s rules are known: the first task to ask fetches its
 * robots.txt, the others wait for that. Returns 0, -ECANCELED, -ENOMEM. */
static int robots_load(struct crawl *c, struct origin *o) {
    if (o->robots_asked)
        return aioc_event_wait(&o->robots_ready);
    o->robots_asked = true;
    char url[512]; /* an origin name is a scheme, a host name and a port */
    snprintf(url, sizeof url, "%.490s/robots.txt", o->name);
    struct response *r;
    long status;
    int err = request(c, o, url, true, &r, &status, NULL);
    if (!err && status >= 200 && status < 300) {
        err = robots_parse(o, r->data);
    } else if (err != -ECANCELED && err != -ENOMEM && (err || status >= 500)) {
        /* unreachable: RFC 9309 says assume every path is forbidden */
        fprintf(stderr, "crawler: %s: %s: not crawling that origin\n", url,
                err ? aioc_curl_strerror(err) : "server error");
        if (!(o->rules = calloc(1, sizeof *o->rules)) || !(o->rules->pattern = strdup("/")))
            err = -ENOMEM;
        else
            o->nrules = 1, err = 0;
    } /* else 3xx or 4xx: no rules */
    free(r);
    aioc_event_set(&o->robots_ready); /* even when failed: nobody waits forever */
    return err;
}

/* Returns 1 if robots.txt lets us fetch `path` (path and query), else 0. */
static int robots_allow(const struct origin *o, const char *path) {
    size_t best = 0;
    bool allow = true;
    for (size_t i = 0; i < o->nrules; i++) {
        size_t len = strlen(o->rules[i].pattern);
        if ((len > best || (len == best && o->rules[i].allow)) &&
            robots_match(o->rules[i].pattern, path))
            best = len, allow = o->rules[i].allow;
    }
    return allow;
}

/* ------------------------------------------------------------- pages -- */

/* Finds `url`'s origin (into `*o`) and asks its robots.txt. Returns 1 if
 * we may fetch `url`, 0 if not, or an error. */
static int allowed(struct crawl *c, const char *url, struct origin **o) {
    CURLU *u = curl_url();
    char *origin = NULL, *path = NULL, *query = NULL;
    int ok = !u ? -ENOMEM : curl_url_set(u, CURLUPART_URL, url, 0) ? -EINVAL : 0;
    if (!ok)
        ok = normalise(u, NULL, &origin);
    if (!ok)
        ok = !(*o = origin_get(c, origin)) ? -ENOMEM : c->ignore_robots ? 1 : robots_load(c, *o);
    if (!ok && curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
            query = NULL;
        size_t n = strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
        char *full = malloc(n); /* what the rules are matched with: path?query */
        if (full)
            snprintf(full, n, "%s%s%s", path, query ? "?" : "", query ? query : "");
        ok = !full ? -ENOMEM : robots_allow(*o, full);
        free(full);
    }
    free(origin);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return ok;
}

static void list(struct crawl *c, const char *url, int err, long status) {
    if (!c->list)
        return;
    if (c->progress) /* above the progress line */
        printf("\r\033[K");
    if (err)
        printf("ERR %s\n", url);
    else
        printf("%ld %s\n", status, url);
}

/* Fetches a URL of this level, and the targets of its redirects, and puts
 * the links of the page it ends on into the next level. Counts the
 * outcome. Returns 0, -ECANCELED, or -ENOMEM. */
static int visit(struct crawl *c, const char *url) {
    for (int hop = 0;; hop++) {
        struct origin *o = NULL;
        int err = allowed(c, url, &o);
        if (err <= 0) {
            c->disallowed += err == 0;
            return err;
        }
        struct response *r;
        char *location, *next = NULL;
        long status;
        err = request(c, o, url, false, &r, &status, &location);
        if (err != -ECANCELED && err != -ENOMEM) {
            c->fetched++;
            list(c, url, err, status);
            if (err) {
                c->errors++;
                if (!c->progress) /* on a terminal, the count will do */
                    fprintf(stderr, "crawler: %s: %s\n", url, aioc_curl_strerror(err));
                err = 0;
            } else if (status >= 200 && status < 300) {
                c->pages++;
                if (c->level < c->depth)
                    err = scan_links(c, url, r->data);
            } else if (status < 300 || status >= 400 || !location) {
                c->errors++;
                c->not_found += status == 404;
            } else if (hop == MAX_HOPS) {
                c->redirects++;
                c->errors++;
                if (!c->progress)
                    fprintf(stderr, "crawler: %s: over %d redirects in a row\n", url, MAX_HOPS);
            } else {
                c->redirects++;
                /* its target is the next hop, if it is a URL not seen yet */
                if ((err = resolve(c, NULL, location, &next)) == 1 &&
                    (err = see(c, next, &url)) == 1)
                    err = -EAGAIN;
                free(next);
            }
        }
        free(location);
        free(r);
        if (err != -EAGAIN)
            return err;
    }
}

/* One URL's task. It never fails the group (which would cancel the whole
 * crawl) for a page that cannot be fetched: that is counted as an error.
 * Only running out of memory stops everything. */
static void *crawl_url(void *arg) {
    struct task *t = arg;
    int err = visit(t->c, t->url);
    t->c->queued--;
    free(t);
    return err == -ENOMEM ? aioc_fail(err) : NULL;
}

/* ---------------------------------------------------------- the crawl -- */

static void human(char *out, size_t n, unsigned long long bytes) {
    if (bytes < 10000)
        snprintf(out, n, "%llu B", bytes);
    else if (bytes < 10000000)
        snprintf(out, n, "%.1f kB", (double)bytes / 1e3);
    else
        snprintf(out, n, "%.1f MB", (double)bytes / 1e6);
}

static void *progress(void *arg) {
    struct crawl *c = arg;
    do {
        char bytes[32];
        human(bytes, sizeof bytes, c->bytes);
        printf("\r  depth %d: %zu done, %zu queued, %zu in flight, %s, %zu errors, %.1f s\033[K",
               c->level, c->fetched, c->queued - c->in_flight + c->nnext, c->in_flight, bytes,
               c->errors, aioc_now() - c->start);
        fflush(stdout);
    } while (aioc_sleep(0.1) == 0); /* ten redraws a second at most */
    printf("\r\033[K");
    fflush(stdout);
    return NULL;
}

/* Runs a level: the links in c->next not seen yet (a redirect of the
 * level before may have taken one) enter the seen set, each gets a task in
 * one group, and the group is waited for; the links its pages hold form
 * the next level. Returns 0 or an error (-ECANCELED after Ctrl-C). */
static int crawl_level(struct crawl *c) {
    char **links = c->next;
    size_t n = c->nnext;
    c->next = NULL;
    c->nnext = c->capnext = 0;
    aioc_group group;
    int init = aioc_group_init(&group), err = init;
    for (size_t i = 0; i < n; i++) {
        const char *url;
        struct task *t = NULL;
        if (!err && (err = see(c, links[i], &url)) == 1) {
            err = !(t = malloc(sizeof *t)) ? -ENOMEM : 0;
            if (t)
                *t = (struct task){c, url};
            if (t && (err = aioc_task_error(aioc_group_spawn(group, crawl_url, t, NULL))))
                free(t);
            else if (t)
                c->queued++;
            if (err)
                aioc_group_cancel(group);
        }
        free(links[i]);
    }
    free(links);
    /* Returns when every task of the level has ended, or Ctrl-C cancelled
     * us and with us the group. */
    int status = init ? init : aioc_group_wait(group);
    return err ? err : status;
}

/* Crawls from `url`; prints the summary. Returns 0 or an error. */
static int crawl(struct crawl *c, const char *url) {
    CURLU *u = curl_url();
    char *start = NULL; /* "example.org" becomes "http://example.org/" */
    int err = !u ? -ENOMEM : 0;
    if (!err && (curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME) != CURLUE_OK ||
                 normalise(u, &start, &c->start_origin))) {
        fprintf(stderr, "crawler: %s: not an http or https URL\n", url);
        err = -EINVAL;
    }
    curl_url_cleanup(u);
    if (!err)
        err = enqueue(c, start); /* level 0: the start URL */
    if (err)
        return err;
    c->start = aioc_now();
    aioc_task bar = {0};
    if (c->progress)
        bar = aioc_spawn_with(progress, c, &(aioc_spawn_opts){.name = "progress"});

    for (c->level = 0; c->level <= c->depth && c->nnext && !err; c->level++)
        err = crawl_level(c);

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
    printf("crawler: %zu pages, %zu errors (%zu not found), %zu redirects, "
           "%zu disallowed by robots.txt, %s, %.2f s, %.0f pages/s, at most %zu in flight\n",
           c->pages, c->errors, c->not_found, c->redirects, c->disallowed, bytes, elapsed,
           elapsed > 0 ? (double)c->pages / elapsed : 0.0, c->most_in_flight);
    fflush(stdout); /* after Ctrl-C the process ends by SIGINT, not exit() */
    aioc_scope_exit(&shield);
    return err;
}

/* -------------------------------------------------------------- main -- */

struct args {
    struct crawl *c;
    const char *url;
};

static void *run(void *arg) {
    struct args *a = arg;
    int err = crawl(a->c, a->url);
    return err ? aioc_fail(err) : NULL;
}

static int usage(void) {
    fprintf(stderr, "usage: crawler [--quiet] [--list] [--depth N] [--concurrency N] "
                    "[--per-host N]\n"
                    "               [--timeout S] [--all-hosts] [--ignore-robots] URL\n");
    return 2;
}

static bool number(const char *s, double lo, double hi, double *out) {
    char *end;
    *out = s ? strtod(s, &end) : NAN;
    return s && *s && !*end && *out >= lo && *out <= hi;
}

int main(int argc, char **argv) {
    struct crawl c = {.depth = 10, .per_host = 4, .timeout = 10};
    struct args a = {.c = &c};
    double concurrency = 16, v;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--quiet")) {
            quiet = true;
        } else if (!strcmp(o, "--list")) {
            c.list = true;
        } else if (!strcmp(o, "--all-hosts")) {
            c.all_hosts = true;
        } else if (!strcmp(o, "--ignore-robots")) {
            c.ignore_robots = true;
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
    if (!a.url)
        return usage();
    aioc_sem_init(&c.slots, (unsigned)concurrency);
    c.progress = !quiet && isatty(STDOUT_FILENO);
    if (c.list) /* a line as soon as it is known, even into a pipe */
        setvbuf(stdout, NULL, _IOLBF, 0);
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
    free(c.next);
    while (c.origins) {
        struct origin *o = c.origins;
        c.origins = o->next;
        for (size_t i = 0; i < o->nrules; i++)
            free(o->rules[i].pattern);
        free(o->rules);
        aioc_event_destroy(&o->robots_ready);
        aioc_sem_destroy(&o->sem);
        free(o);
    }
    free(c.start_origin);
    curl_global_cleanup();
    return status || !c.pages ? 1 : 0; /* 1: not one page */
}
