/* What the connection, response and router files of aioc_http share. */
#ifndef AIOC_HTTP_INTERNAL_H
#define AIOC_HTTP_INTERNAL_H

#include <stdbool.h>

#include "aioc_http.h"

#define HTTP_MAX_PARAMS 8

struct aioc_http_request {
    aioc_stream *stream; /* the connection's */
    const char *method, *path, *query;
    int minor;
    bool head;          /* a HEAD request: the response has no body */
    const char **names; /* header names and values, in the head arena */
    const char **values;
    size_t nheaders;
    const char *body;
    size_t body_len;
    const char *param_names[HTTP_MAX_PARAMS]; /* set by the router */
    const char *param_values[HTTP_MAX_PARAMS];
    size_t nparams;
    char *param_buf; /* the router's copy of the path, split into values */
};

struct aioc_http_response {
    aioc_stream *s;
    const bool *closing; /* the server's: a closing server ends keep-alive */
    double write_timeout;
    bool head_only;  /* answering HEAD: never send a body */
    bool http10;     /* an HTTP/1.0 client: no chunks, close after */
    bool keep_alive; /* may the connection go on after this response */
    bool head_sent, ended, streamed, chunked, broken;
    int status;
    char *headers; /* "Name: value\r\n" lines the handler added */
    size_t headers_len, headers_cap;
    bool has_length;  /* the handler set Content-Length */
    const char *body; /* the buffered body: borrowed, or `owned` */
    size_t body_len;
    char *owned;
    /* aioc_http_response_upgrade: the bytes read past the request (the
     * connection's read buffer), and whether the handler took it over */
    const char *pending;
    size_t npending;
    bool upgraded;
    /* conn.c's: gives back what only HTTP needs, once the connection is
     * upgraded (the read buffer; the head arena down to the request) */
    void (*release)(void *conn);
    void *conn;
    char *pending_copy; /* what an upgrade hands over, owned until the end */
};

/* response.c */
void aioc__http_response_init(aioc_http_response *res, aioc_stream *s, const bool *closing,
                              double write_timeout, bool head_only, bool http10, bool keep_alive);
/* aioc_stream_write under the response's write deadline. */
int aioc__http_write(aioc_http_response *res, const void *buf, size_t n);
/* Sends what the handler left (a buffered response, or the end of a
 * streamed one); `err` is the handler's status. Returns 0, or an error
 * after which the connection must close. */
int aioc__http_response_finish(aioc_http_response *res, int err);
void aioc__http_response_free(aioc_http_response *res);
/* A complete short response with "Connection: close", for the server's own
 * errors (400, 408, 413, 414, 417, 431, 501, 505). */
int aioc__http_send_error(aioc_stream *s, int status, double timeout);
const char *aioc__http_reason(int status);

#endif
