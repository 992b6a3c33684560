/* See certs.h. EC P-256 keys: quick to make, even under Valgrind. */
#include "certs.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define DAY (24L * 3600L)

static void die(const char *what) {
    fprintf(stderr, "certs: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext || !X509_add_ext(cert, ext, -1))
        die("an extension");
    X509_EXTENSION_free(ext);
}

/* A certificate for `cn` with `key`, valid from `from` to `to` seconds
 * from now, signed by `issuer` with `issuer_key` (NULL, NULL: itself). */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int ca,
                       long from, long to, long serial) {
    X509 *cert = X509_new();
    if (!cert)
        die("X509_new");
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), from);
    X509_gmtime_adj(X509_getm_notAfter(cert), to);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    X509 *signer = issuer ? issuer : cert;
    if (ca) {
        add_ext(cert, signer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(cert, signer, NID_basic_constraints, "CA:FALSE");
        add_ext(cert, signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    }
    if (!X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()))
        die("X509_sign");
    return cert;
}

static void save(const char *path, X509 *cert, EVP_PKEY *key) {
    FILE *f = fopen(path, "w");
    if (!f)
        die(path);
    int ok =
        cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    if (fclose(f) != 0 || !ok)
        die(path);
}

void certs_make(certs *c) {
    snprintf(c->dir, sizeof c->dir, "/tmp/aioc-tls-XXXXXX");
    if (!mkdtemp(c->dir))
        die("mkdtemp");
    snprintf(c->ca, sizeof c->ca, "%s/ca.pem", c->dir);
    snprintf(c->cert, sizeof c->cert, "%s/cert.pem", c->dir);
    snprintf(c->key, sizeof c->key, "%s/key.pem", c->dir);
    snprintf(c->expired, sizeof c->expired, "%s/expired.pem", c->dir);
    snprintf(c->expired_key, sizeof c->expired_key, "%s/expired-key.pem", c->dir);
    snprintf(c->self, sizeof c->self, "%s/self.pem", c->dir);
    snprintf(c->self_key, sizeof c->self_key, "%s/self-key.pem", c->dir);
    snprintf(c->client, sizeof c->client, "%s/client.pem", c->dir);
    snprintf(c->client_key, sizeof c->client_key, "%s/client-key.pem", c->dir);
    snprintf(c->stranger, sizeof c->stranger, "%s/stranger.pem", c->dir);
    snprintf(c->stranger_key, sizeof c->stranger_key, "%s/stranger-key.pem", c->dir);

    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    if (!ca_key || !key)
        die("EVP_EC_gen");
    X509 *ca = make_cert("aioc test CA", ca_key, NULL, NULL, 1, -DAY, 30 * DAY, 1);
    X509 *leaf = make_cert("localhost", key, ca, ca_key, 0, -DAY, 30 * DAY, 2);
    X509 *old = make_cert("localhost", key, ca, ca_key, 0, -3 * DAY, -DAY, 3);
    X509 *self = make_cert("localhost", key, NULL, NULL, 0, -DAY, 30 * DAY, 4);
    X509 *client = make_cert("aioc test client", key, ca, ca_key, 0, -DAY, 30 * DAY, 5);
    X509 *stranger = make_cert("stranger", key, NULL, NULL, 0, -DAY, 30 * DAY, 6);
    save(c->ca, ca, NULL);
    save(c->cert, leaf, NULL);
    save(c->key, NULL, key);
    save(c->expired, old, NULL);
    save(c->expired_key, NULL, key);
    save(c->self, self, NULL);
    save(c->self_key, NULL, key);
    save(c->client, client, NULL);
    save(c->client_key, NULL, key);
    save(c->stranger, stranger, NULL);
    save(c->stranger_key, NULL, key);
    X509_free(ca);
    X509_free(leaf);
    X509_free(old);
    X509_free(self);
    X509_free(client);
    X509_free(stranger);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
}

void certs_remove(certs *c) {
    const char *files[] = {c->ca,          c->cert,     c->key,         c->expired,
                           c->expired_key, c->self,     c->self_key,    c->client,
                           c->client_key,  c->stranger, c->stranger_key};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(c->dir);
}
