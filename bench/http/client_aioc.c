/* client_aioc: the HTTP client benchmark on the aioc_curl adapter. CONC
 * tasks share a count of REQS GET requests to URL; each takes the next
 * one while any are left.
 *
 *   client_aioc URL REQS CONC [perform|fetch]
 *
 * perform (the default): each task keeps one easy handle (its connection
 * stays open between requests, keep-alive) and calls aioc_curl_perform in
 * a loop; the body goes to a write callback that only counts it. fetch:
 * each request is an aioc_curl_fetch (a fresh easy handle, the body
 * collected into memory and freed), the connection coming from the loop's
 * multi-handle cache (aioc_curl keeps room in it for CONC connections).
 *
 * Prints
 *   RESULT name=client impl=IMPL reqs=... seconds=... req_per_s=...
 *          client_ns_per_req=... client_cpu_pct=...
 * where the CPU time is getrusage(RUSAGE_SELF) from the first request to
 * the last response (start-up excluded). Any non-200 answer or transfer
 * error makes it fail (exit status 1). bench/http/run.sh runs it against
 * nginx; by hand:
 *   taskset -c 1 build/release/bench/http/client_aioc http://127.0.0.1:8080/ 10000 100 */
#define _GNU_SOURCE
#include <aioc.h>
#include <aioc_curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char *url;
static long reqs, conc, next_req, failed;
static size_t body_bytes;
static int use_fetch;

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
    (void)p;
    (void)arg;
    body_bytes += size * n;
    return size * n;
}

static void *worker(void *arg) {
    (void)arg;
    CURL *easy = NULL;
    if (!use_fetch) {
        easy = curl_easy_init();
        if (!easy)
            return aioc_fail(-ENOMEM);
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    }
    while (next_req < reqs && !failed) {
        next_req++;
        long status = 0;
        int err;
        if (use_fetch) {
            aioc_curl_response r;
            err = aioc_curl_fetch(url, NULL, &r);
            if (!err) {
                status = r.status;
                body_bytes += r.body_len;
                aioc_curl_response_free(&r);
            }
        } else {
            err = aioc_curl_perform(easy);
            if (!err)
                curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        }
        if (err || status != 200) {
            fprintf(stderr, "client_aioc: %s (status %ld)\n", aioc_curl_strerror(err), status);
            failed = 1;
        }
    }
    if (easy)
        curl_easy_cleanup(easy);
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void *run(void *arg) {
    (void)arg;
    CURLM *multi = aioc_curl_multi();
    if (!multi)
        return aioc_fail(-ENOMEM);
    aioc_task *tasks = calloc((size_t)conc, sizeof *tasks);
    if (!tasks)
        return aioc_fail(-ENOMEM);
    double t0 = now_s(), c0 = cpu_s();
    for (long i = 0; i < conc; i++)
        tasks[i] = aioc_spawn(worker, NULL);
    int err = aioc_gather(tasks, (size_t)conc, NULL);
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    free(tasks);
    if (err || failed)
        return aioc_fail(err ? err : -EIO);
    printf("RESULT name=client impl=%s reqs=%ld conc=%ld seconds=%.4f req_per_s=%.0f "
           "client_ns_per_req=%.0f client_cpu_pct=%.1f body_bytes=%zu\n",
           use_fetch ? "aioc-fetch" : "aioc", reqs, conc, secs, (double)reqs / secs,
           cpu * 1e9 / (double)reqs, 100 * cpu / secs, body_bytes);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: client_aioc URL REQS CONC [perform|fetch]\n");
        return 2;
    }
    url = argv[1];
    reqs = atol(argv[2]);
    conc = atol(argv[3]);
    use_fetch = argc > 4 && strcmp(argv[4], "fetch") == 0;
    if (reqs < 1 || conc < 1) {
        fprintf(stderr, "client_aioc: REQS and CONC must be positive\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int st = aioc_run(run, NULL, NULL);
    curl_global_cleanup();
    return st ? 1 : 0;
}
