/* An outside program on the installed aioc_curl (scripts/test-install.sh
 * builds it with pkg-config and with CMake): a one-answer HTTP server made
 * with the core's streams, and aioc_curl_fetch getting that answer: status,
 * a header and the body must be the ones sent. Prints one line and exits 0,
 * or says what failed and exits 1. */
#include <aioc.h>
#include <aioc_curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char answer_text[] = "HTTP/1.1 200 OK\r\n"
                                  "Content-Type: text/plain\r\n"
                                  "Content-Length: 13\r\n"
                                  "Connection: close\r\n"
                                  "\r\n"
                                  "hello, curl!\n";

static void answer(aioc_stream *s, void *arg) {
    (void)arg;
    const char *head;
    if (aioc_stream_readuntil(s, "\r\n\r\n", 4, &head) > 0)
        aioc_stream_write(s, answer_text, sizeof answer_text - 1);
}

static void *failed(const char *what, int err) {
    fprintf(stderr, "use_curl: %s: %s\n", what, aioc_curl_strerror(err));
    return aioc_fail(err ? err : -EIO);
}

static void *main_task(void *arg) {
    (void)arg;
    int err = 0;
    aioc_server *srv = aioc_tcp_serve("127.0.0.1", "0", answer, NULL, NULL, &err);
    if (!srv)
        return failed("serve", err);
    char url[64], type[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", aioc_server_port(srv));

    aioc_curl_response resp;
    if ((err = aioc_curl_fetch(url, NULL, &resp)) != 0)
        return failed("fetch", err);
    int ok = resp.status == 200 && strcmp(resp.body, "hello, curl!\n") == 0 &&
             aioc_curl_response_header(&resp, "content-type", type, sizeof type) > 0 &&
             strcmp(type, "text/plain") == 0;
    aioc_curl_response_free(&resp);
    aioc_server_close(srv, 1.0);
    if (!ok)
        return failed("the answer differs from the one sent", -EIO);
    printf("use_curl: fetched %s: 200, text/plain, \"hello, curl!\"\n", url);
    return NULL;
}

int main(void) { return aioc_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
