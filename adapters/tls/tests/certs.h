/* Certificates for the TLS tests, made at run time with OpenSSL's API in
 * a temporary directory: a CA, a server certificate it signed for
 * "localhost" and 127.0.0.1, an expired one, a self-signed one, and two
 * client certificates: one the CA signed, one self-signed. */
#ifndef TLS_TEST_CERTS_H
#define TLS_TEST_CERTS_H

typedef struct certs {
    char dir[64];
    char ca[128];                          /* the CA's certificate */
    char cert[128], key[128];              /* localhost, signed by the CA */
    char expired[128], expired_key[128];   /* the same, expired yesterday */
    char self[128], self_key[128];         /* localhost, self-signed */
    char client[128], client_key[128];     /* "aioc test client", signed by the CA */
    char stranger[128], stranger_key[128]; /* "stranger", self-signed */
} certs;

/* Makes them all; exits the test on failure. */
void certs_make(certs *c);

/* Removes the files and the directory. */
void certs_remove(certs *c);

#endif
