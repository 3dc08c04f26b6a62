/* The cluster CA and node certificates: names (SANs), the CA signature and
 * chain, and the checks that decide whether a stored certificate is kept. */
#include "nomad_test.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static nomad_node node(const char *name, const char *role, const char *priv, const char *pub,
                       const char *hostname)
{
    nomad_node n;
    memset(&n, 0, sizeof(n));
    n.name = name;
    n.role = role;
    n.server = strcmp(role, "server") == 0;
    n.region = "europe";
    n.datacenter = "dc-a";
    n.private_ip = priv;
    n.public_ip = pub;
    n.hostname = hostname;
    return n;
}

static X509 *load(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(x);
    return x;
}

static void make_ca(char **key, char **cert)
{
    char *err = NULL;
    assert_int_equal(nomad_tls_key_new(key, &err), 0);
    assert_int_equal(nomad_tls_ca_new(*key, "main", cert, &err), 0);
    assert_null(err);
}

/* The SANs of x as "DNS:name" / "IP:addr" strings. */
static void sans(X509 *x, nomad_strs *out)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS) {
            nomad_strs_addf(out, "DNS:%.*s", ASN1_STRING_length(g->d.dNSName),
                            (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        } else if (g->type == GEN_IPADD) {
            char text[64];
            inet_ntop(ASN1_STRING_length(g->d.iPAddress) == 4 ? AF_INET : AF_INET6,
                      ASN1_STRING_get0_data(g->d.iPAddress), text, sizeof(text));
            nomad_strs_addf(out, "IP:%s", text);
        }
    }
    GENERAL_NAMES_free(gens);
}

static void test_ca_is_a_self_signed_ca_certificate_of_its_key(void **state)
{
    char *key = NULL, *cert = NULL;
    make_ca(&key, &cert);
    X509 *x = load(cert);
    assert_int_equal(X509_check_ca(x), 1);
    assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
    assert_int_equal(nomad_tls_ca_fits(cert, key), 1);
    char *other = NULL, *err = NULL;
    assert_int_equal(nomad_tls_key_new(&other, &err), 0);
    assert_int_equal(nomad_tls_ca_fits(cert, other), 0);
    X509_free(x);
    free(key);
    free(cert);
    free(other);
}

static void test_server_certificate_names_its_ips_and_the_agents_server_names(void **state)
{
    char *ca_key, *ca, *key, *cert, *err = NULL;
    make_ca(&ca_key, &ca);
    nomad_node n =
        node("main-europe-dc-a-server-0", "server", "10.213.64.2", "203.0.113.9", "server-0");
    nomad_cert_names names;
    nomad_node_cert_names(&n, &names);
    assert_int_equal(nomad_tls_key_new(&key, &err), 0);
    assert_int_equal(nomad_tls_cert_new(ca, ca_key, key, &names, &cert, &err), 0);

    X509 *x = load(cert), *cax = load(ca);
    nomad_strs got = {0};
    sans(x, &got);
    static const char *const want[] = {"DNS:server.europe.nomad",
                                       "DNS:server.europe.consul",
                                       "DNS:localhost",
                                       "DNS:server-0",
                                       "IP:127.0.0.1",
                                       "IP:10.213.64.2",
                                       "IP:203.0.113.9"};
    assert_int_equal(got.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < got.n; i++)
        if (!nomad_strs_has(&got, want[i]))
            fail_msg("missing SAN %s", want[i]);
    nomad_strs_free(&got);

    /* signed by the CA, a leaf, for TLS servers and clients, chain verifies */
    assert_int_equal(X509_verify(x, X509_get0_pubkey(cax)), 1);
    assert_int_equal(X509_check_ca(x), 0);
    assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
    assert_true(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
    assert_int_equal(X509_check_host(x, "server.europe.nomad", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "10.213.64.2", 0), 1);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, cax);
    X509_STORE_CTX *vctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(vctx, store, x, NULL);
    X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_SERVER);
    assert_int_equal(X509_verify_cert(vctx), 1);
    X509_STORE_CTX_free(vctx);
    X509_STORE_free(store);

    char cn[128];
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, "main-europe-dc-a-server-0");
    X509_free(x);
    X509_free(cax);
    free(ca_key);
    free(ca);
    free(key);
    free(cert);
}

static void test_client_certificate_carries_the_client_names(void **state)
{
    char *ca_key, *ca, *key, *cert, *err = NULL;
    make_ca(&ca_key, &ca);
    nomad_node n = node("c0", "client", "10.213.64.5", NULL, NULL);
    nomad_cert_names names;
    nomad_node_cert_names(&n, &names);
    assert_int_equal(nomad_tls_key_new(&key, &err), 0);
    assert_int_equal(nomad_tls_cert_new(ca, ca_key, key, &names, &cert, &err), 0);
    X509 *x = load(cert);
    assert_int_equal(X509_check_host(x, "client.europe.nomad", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "client.europe.consul", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "server.europe.nomad", 0, 0, NULL), 0);
    nomad_strs got = {0};
    sans(x, &got);
    assert_int_equal(got.n, 5); /* two role names, localhost, 127.0.0.1, the private IP */
    nomad_strs_free(&got);
    X509_free(x);
    free(ca_key);
    free(ca);
    free(key);
    free(cert);
}

static void test_a_kept_certificate_fits_only_its_ca_key_and_exact_names(void **state)
{
    char *ca_key, *ca, *ca2_key, *ca2, *key, *key2, *cert, *err = NULL;
    make_ca(&ca_key, &ca);
    make_ca(&ca2_key, &ca2);
    nomad_node n = node("s0", "server", "10.213.64.2", NULL, "s0");
    nomad_cert_names names;
    nomad_node_cert_names(&n, &names);
    assert_int_equal(nomad_tls_key_new(&key, &err), 0);
    assert_int_equal(nomad_tls_key_new(&key2, &err), 0);
    assert_int_equal(nomad_tls_cert_new(ca, ca_key, key, &names, &cert, &err), 0);

    assert_int_equal(nomad_tls_cert_fits(ca, key, cert, &names), 1);
    assert_int_equal(nomad_tls_cert_fits(ca2, key, cert, &names), 0);   /* another CA */
    assert_int_equal(nomad_tls_cert_fits(ca, key2, cert, &names), 0);   /* another key */
    nomad_node moved = node("s0", "server", "10.213.64.9", NULL, "s0"); /* a new address */
    nomad_cert_names moved_names;
    nomad_node_cert_names(&moved, &moved_names);
    assert_int_equal(nomad_tls_cert_fits(ca, key, cert, &moved_names), 0);
    nomad_node client = node("s0", "client", "10.213.64.2", NULL, "s0"); /* another role */
    nomad_cert_names client_names;
    nomad_node_cert_names(&client, &client_names);
    assert_int_equal(nomad_tls_cert_fits(ca, key, cert, &client_names), 0);
    assert_int_equal(nomad_tls_cert_fits(ca, key, "not a certificate", &names), 0);
    ERR_clear_error();
    free(ca_key);
    free(ca);
    free(ca2_key);
    free(ca2);
    free(key);
    free(key2);
    free(cert);
}

int main(void)
{
    test_use_host();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ca_is_a_self_signed_ca_certificate_of_its_key),
        cmocka_unit_test(test_server_certificate_names_its_ips_and_the_agents_server_names),
        cmocka_unit_test(test_client_certificate_carries_the_client_names),
        cmocka_unit_test(test_a_kept_certificate_fits_only_its_ca_key_and_exact_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
