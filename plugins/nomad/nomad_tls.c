/* The cluster CA and the node certificates, with libcrypto.
 *
 * Keys are EC P-256 (every TLS stack Nomad, Consul and curl use accepts
 * them). A node's certificate serves both its agents: servers and clients
 * of both, as TLS server and client, with the names the agents verify
 * (server.REGION.nomad, client.REGION.nomad, server.DC.consul). */
#include "nomad.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CA_DAYS 3650
#define CERT_DAYS 1825
#define RENEW_DAYS 30

void nomad_node_cert_names(const nomad_node *n, nomad_cert_names *out)
{
    memset(out, 0, sizeof(*out));
    out->common_name = n->name;
    snprintf(out->role_nomad, sizeof(out->role_nomad), "%s.%s.nomad", n->role, n->region);
    snprintf(out->role_consul, sizeof(out->role_consul), "%s.%s.consul", n->role,
             n->consul_dc ? n->consul_dc : n->region);
    out->dns[out->ndns++] = out->role_nomad;
    out->dns[out->ndns++] = out->role_consul;
    /* A combined node's Nomad client speaks RPC as a client too. */
    if (n->server && n->client) {
        snprintf(out->role_nomad_client, sizeof(out->role_nomad_client), "client.%s.nomad",
                 n->region);
        out->dns[out->ndns++] = out->role_nomad_client;
    }
    out->dns[out->ndns++] = "localhost";
    if (n->hostname && strcmp(n->hostname, "localhost") != 0)
        out->dns[out->ndns++] = n->hostname;
    out->ip[out->nip++] = "127.0.0.1";
    if (n->private_ip)
        out->ip[out->nip++] = n->private_ip;
    if (n->public_ip && (n->private_ip == NULL || strcmp(n->public_ip, n->private_ip) != 0))
        out->ip[out->nip++] = n->public_ip;
}

/* The first queued libcrypto error, for a message. */
static char *ssl_error(const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return pu_printf("%s: %s", what, e ? buf : "failed");
}

static char *bio_text(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *out = pu_malloc((size_t)(n > 0 ? n : 0) + 1);
    if (n > 0)
        memcpy(out, data, (size_t)n);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

static EVP_PKEY *key_load(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return key;
}

static X509 *cert_load(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return x;
}

int nomad_tls_key_new(char **key_pem, char **err)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    int error = 0;
    if (key == NULL || bio == NULL ||
        PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
        *err = ssl_error("cannot make an EC P-256 key");
        error = INFRA_EINTERNAL;
    } else {
        *key_pem = bio_text(bio);
    }
    BIO_free(bio); /* a memory BIO's buffer is cleared when freed */
    EVP_PKEY_free(key);
    return error;
}

static int random_serial(X509 *x)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    raw[0] &= 0x7f; /* positive */
    raw[0] |= 0x01; /* and never zero-led */
    BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
    ASN1_INTEGER *serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = serial && X509_set_serialNumber(x, serial) == 1;
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok ? 0 : -1;
}

static int add_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

static int name_set(X509_NAME *name, const char *field, const char *value)
{
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1,
                                      -1, 0) == 1
               ? 0
               : -1;
}

static char *cert_pem_text(X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (bio && PEM_write_bio_X509(bio, x) == 1)
        out = bio_text(bio);
    BIO_free(bio);
    return out;
}

int nomad_tls_ca_new(const char *key_pem, const char *cluster, char **cert_pem, char **err)
{
    EVP_PKEY *key = key_load(key_pem);
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    char *cn = pu_printf("%s cluster CA", cluster);
    int error = INFRA_EINTERNAL;

    if (key == NULL || x == NULL || name == NULL) {
        *err = ssl_error("cannot load the CA key");
        goto done;
    }
    if (X509_set_version(x, 2) != 1 || random_serial(x) < 0 || name_set(name, "O", "infra") < 0 ||
        name_set(name, "CN", cn) < 0 || X509_set_subject_name(x, name) != 1 ||
        X509_set_issuer_name(x, name) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), CA_DAYS, 0, NULL) == NULL ||
        X509_set_pubkey(x, key) != 1 ||
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") < 0 ||
        add_ext(x, x, NID_subject_key_identifier, "hash") < 0 ||
        X509_sign(x, key, EVP_sha256()) <= 0) {
        *err = ssl_error("cannot make the CA certificate");
        goto done;
    }
    if ((*cert_pem = cert_pem_text(x)) == NULL) {
        *err = ssl_error("cannot write the CA certificate");
        goto done;
    }
    error = 0;
done:
    free(cn);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(key);
    return error;
}

static char *san_text(const nomad_cert_names *names)
{
    pu_buf b = {0};
    for (size_t i = 0; i < names->ndns; i++)
        pu_buf_printf(&b, "%sDNS:%s", b.len ? "," : "", names->dns[i]);
    for (size_t i = 0; i < names->nip; i++)
        pu_buf_printf(&b, "%sIP:%s", b.len ? "," : "", names->ip[i]);
    return pu_buf_take(&b);
}

int nomad_tls_cert_new(const char *ca_cert_pem, const char *ca_key_pem, const char *key_pem,
                       const nomad_cert_names *names, char **cert_pem, char **err)
{
    EVP_PKEY *ca_key = key_load(ca_key_pem), *key = key_load(key_pem);
    X509 *ca = cert_load(ca_cert_pem), *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    char *san = san_text(names);
    int error = INFRA_EINTERNAL;

    if (ca_key == NULL || key == NULL || ca == NULL || x == NULL || name == NULL) {
        *err = ssl_error("cannot load the CA or the node key");
        goto done;
    }
    if (X509_set_version(x, 2) != 1 || random_serial(x) < 0 || name_set(name, "O", "infra") < 0 ||
        name_set(name, "CN", names->common_name) < 0 || X509_set_subject_name(x, name) != 1 ||
        X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), CERT_DAYS, 0, NULL) == NULL ||
        X509_set_pubkey(x, key) != 1 || add_ext(ca, x, NID_basic_constraints, "CA:FALSE") < 0 ||
        add_ext(ca, x, NID_key_usage, "critical,digitalSignature,keyEncipherment") < 0 ||
        add_ext(ca, x, NID_ext_key_usage, "serverAuth,clientAuth") < 0 ||
        add_ext(ca, x, NID_subject_key_identifier, "hash") < 0 ||
        add_ext(ca, x, NID_authority_key_identifier, "keyid:always") < 0 ||
        add_ext(ca, x, NID_subject_alt_name, san) < 0 || X509_sign(x, ca_key, EVP_sha256()) <= 0) {
        *err = ssl_error("cannot make the node certificate");
        goto done;
    }
    if ((*cert_pem = cert_pem_text(x)) == NULL) {
        *err = ssl_error("cannot write the node certificate");
        goto done;
    }
    error = 0;
done:
    free(san);
    X509_NAME_free(name);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return error;
}

/* 1 when x stays valid for RENEW_DAYS more days and is already valid. */
static int time_fits(X509 *x)
{
    time_t later = time(NULL) + (time_t)RENEW_DAYS * 86400;
    return X509_cmp_current_time(X509_get0_notBefore(x)) < 0 &&
           X509_cmp_time(X509_get0_notAfter(x), &later) > 0;
}

/* 1 when every name of want is in have and the counts agree. */
static int same_set(const nomad_strs *have, const char *const *want, size_t nwant)
{
    if (have->n != nwant)
        return 0;
    for (size_t i = 0; i < nwant; i++)
        if (!nomad_strs_has(have, want[i]))
            return 0;
    return 1;
}

static int sans_fit(X509 *x, const nomad_cert_names *names)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    nomad_strs dns = {0}, ips = {0};
    int ok = gens != NULL;
    for (int i = 0; ok && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS) {
            const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
            int len = ASN1_STRING_length(g->d.dNSName);
            char *text = pu_printf("%.*s", len, (const char *)s);
            nomad_strs_add(&dns, text);
            free(text);
        } else if (g->type == GEN_IPADD) {
            char text[64];
            int len = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *raw = ASN1_STRING_get0_data(g->d.iPAddress);
            if ((len == 4 && inet_ntop(AF_INET, raw, text, sizeof(text))) ||
                (len == 16 && inet_ntop(AF_INET6, raw, text, sizeof(text))))
                nomad_strs_add(&ips, text);
            else
                ok = 0;
        } else {
            ok = 0;
        }
    }
    /* IPv6 literals compare in inet_ntop's canonical form. */
    nomad_strs want_ips = {0};
    for (size_t i = 0; ok && i < names->nip; i++) {
        unsigned char raw[16];
        char text[64];
        if (inet_pton(AF_INET, names->ip[i], raw) == 1)
            inet_ntop(AF_INET, raw, text, sizeof(text));
        else if (inet_pton(AF_INET6, names->ip[i], raw) == 1)
            inet_ntop(AF_INET6, raw, text, sizeof(text));
        else
            snprintf(text, sizeof(text), "%s", names->ip[i]);
        nomad_strs_add(&want_ips, text);
    }
    ok = ok && same_set(&dns, names->dns, names->ndns) &&
         same_set(&ips, (const char *const *)want_ips.v, want_ips.n);
    nomad_strs_free(&want_ips);
    nomad_strs_free(&dns);
    nomad_strs_free(&ips);
    GENERAL_NAMES_free(gens);
    return ok;
}

static int cn_fits(X509 *x, const char *cn)
{
    char buf[256];
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof(buf));
    return n >= 0 && strcmp(buf, cn) == 0;
}

int nomad_tls_cert_fits(const char *ca_cert_pem, const char *key_pem, const char *cert_pem,
                        const nomad_cert_names *names)
{
    X509 *ca = cert_load(ca_cert_pem), *x = cert_load(cert_pem);
    EVP_PKEY *key = key_load(key_pem);
    EVP_PKEY *ca_pub = ca ? X509_get0_pubkey(ca) : NULL;
    int ok = ca && x && key && ca_pub && X509_check_private_key(x, key) == 1 &&
             X509_verify(x, ca_pub) == 1 &&
             X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)) == 0 &&
             time_fits(x) && cn_fits(x, names->common_name) && sans_fit(x, names);
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(x);
    X509_free(ca);
    return ok;
}

int nomad_tls_ca_fits(const char *cert_pem, const char *key_pem)
{
    X509 *x = cert_load(cert_pem);
    EVP_PKEY *key = key_load(key_pem);
    int ok =
        x && key && X509_check_private_key(x, key) == 1 && X509_check_ca(x) >= 1 && time_fits(x);
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(x);
    return ok;
}
