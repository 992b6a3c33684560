/* An outside program on the installed aioc_tls (scripts/test-install.sh
 * builds it with pkg-config and with CMake): a TLS echo server showing the
 * certificate in argv[1] (key in argv[2]), a client that trusts only that
 * certificate and checks that it names 127.0.0.1 and gets its line back, and
 * a client on the system's trust store, which must refuse it. Prints one
 * line and exits 0, or says what failed and exits 1. */
#include <aioc.h>
#include <aioc_tls.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *cert_file, *key_file;

static void echo_line(aioc_stream *s, void *arg) {
    (void)arg;
    const char *line;
    long n = aioc_stream_readline(s, &line);
    if (n > 0)
        aioc_stream_write(s, line, (size_t)n);
}

static void *failed(const char *what, int err) {
    fprintf(stderr, "use_tls: %s: %s\n", what, aioc_tls_strerror(err));
    return aioc_fail(err ? err : -EIO);
}

/* Connects with a client context trusting `ca_file` (NULL: the system's
 * store), sends a line and reads it back into `got`. Returns 0 or the error. */
static int round_trip(const char *port, const char *ca_file, char *got, size_t cap) {
    int err = 0;
    aioc_tls_client_opts opts = {.ca_file = ca_file};
    aioc_tls_ctx *ctx = aioc_tls_client_new(&opts, &err);
    if (!ctx)
        return err;
    aioc_stream *s = aioc_tls_connect_host("127.0.0.1", port, ctx, NULL, &err);
    aioc_tls_ctx_free(ctx);
    if (!s)
        return err;
    const char *line;
    long n;
    if ((err = aioc_stream_write(s, "hello over TLS\n", 15)) == 0 &&
        (n = aioc_stream_readline(s, &line)) >= 0)
        snprintf(got, cap, "%.*s", (int)n, line);
    else if (err == 0)
        err = (int)n;
    aioc_stream_close(s);
    return err;
}

static void *main_task(void *arg) {
    (void)arg;
    int err = 0;
    aioc_tls_ctx *ctx = aioc_tls_server_new(cert_file, key_file, &err);
    if (!ctx)
        return failed("server context", err);
    aioc_server *srv = aioc_tls_serve("127.0.0.1", "0", ctx, echo_line, NULL, NULL, NULL, &err);
    aioc_tls_ctx_free(ctx);
    if (!srv)
        return failed("serve", err);
    char port[16], got[64] = "";
    snprintf(port, sizeof port, "%d", aioc_server_port(srv));

    if ((err = round_trip(port, cert_file, got, sizeof got)) != 0)
        return failed("client trusting the certificate", err);
    if (strcmp(got, "hello over TLS\n") != 0)
        return failed("the echoed line differs", -EIO);
    if ((err = round_trip(port, NULL, got, sizeof got)) != AIOC_TLS_EVERIFY)
        return failed("a client on the system's store did not refuse a self-signed certificate",
                      err);
    aioc_server_close(srv, 1.0);
    printf("use_tls: verified 127.0.0.1's certificate, echoed a line; the system's store refused "
           "it\n");
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: use_tls CERT.pem KEY.pem\n");
        return 2;
    }
    cert_file = argv[1];
    key_file = argv[2];
    return aioc_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
