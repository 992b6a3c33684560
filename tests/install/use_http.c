/* An outside program on the installed aioc_http (scripts/test-install.sh
 * builds it with pkg-config and with CMake, and against the shared library
 * with CMake's run path): an HTTP server that greets the name in the query
 * string, and one request to it sent with the core's streams; the answer
 * must be a 200 with the greeting. Prints one line and exits 0, or says
 * what failed and exits 1. */
#include <aioc.h>
#include <aioc_http.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int greet(aioc_http_request *req, aioc_http_response *res, void *arg) {
    (void)arg;
    char name[32], body[64];
    if (aioc_http_request_query_get(req, "name", name, sizeof name) < 0)
        return aioc_http_response_status(res, 400);
    int n = snprintf(body, sizeof body, "hello, %s\n", name);
    aioc_http_response_header(res, "Content-Type", "text/plain");
    return aioc_http_response_body(res, body, (size_t)n);
}

static void *failed(const char *what, int err) {
    fprintf(stderr, "use_http: %s: %s\n", what, aioc_strerror(err));
    return aioc_fail(err ? err : -EIO);
}

static void *main_task(void *arg) {
    (void)arg;
    int err = 0;
    aioc_http_server *h = aioc_http_serve("127.0.0.1", "0", greet, NULL, NULL, &err);
    if (!h)
        return failed("serve", err);
    char port[16];
    snprintf(port, sizeof port, "%d", aioc_http_server_port(h));
    int fd = aioc_tcp_connect("127.0.0.1", port);
    if (fd < 0)
        return failed("connect", fd);
    aioc_stream *s = aioc_stream_new(fd, NULL);
    if (!s)
        return failed("stream", -errno);
    static const char request[] = "GET /greet?name=Ada%20L HTTP/1.1\r\n"
                                  "Host: 127.0.0.1\r\n"
                                  "Connection: close\r\n\r\n";
    char answer[1024];
    size_t got = 0;
    long n = aioc_stream_write(s, request, sizeof request - 1);
    while (n >= 0 && got < sizeof answer - 1 &&
           (n = aioc_stream_read(s, answer + got, sizeof answer - 1 - got)) > 0)
        got += (size_t)n;
    answer[got] = '\0';
    aioc_stream_close(s);
    aioc_http_server_close(h, 1.0);
    if (n < 0)
        return failed("request", (int)n);
    const char *body = strstr(answer, "\r\n\r\n");
    if (strncmp(answer, "HTTP/1.1 200 ", 13) != 0 || !body ||
        strcmp(body + 4, "hello, Ada L\n") != 0)
        return failed("the answer is not the greeting", -EIO);
    printf("use_http: GET /greet?name=Ada%%20L answered 200 \"hello, Ada L\"\n");
    return NULL;
}

int main(void) { return aioc_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
