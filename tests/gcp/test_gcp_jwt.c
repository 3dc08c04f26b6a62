/* The service account's JWT: three base64url parts without padding, the
 * header and claims Google's token endpoint reads, and an RS256 signature
 * that OpenSSL verifies with the key's public half. Keys that cannot sign
 * RS256 are refused with a reason that shows nothing of the key. */
#include "gcp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

/* base64url (no padding) to bytes; caller frees. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len)
{
    char *std = calloc(n + 4, 1);
    for (size_t i = 0; i < n; i++)
        std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    size_t len = n;
    while (len % 4)
        std[len++] = '=';
    unsigned char *out = calloc(len, 1);
    int got = EVP_DecodeBlock(out, (unsigned char *)std, (int)len);
    assert_true(got >= 0);
    size_t pad = (len - n);
    *out_len = (size_t)got - pad;
    free(std);
    return out;
}

static infra_json *part_json(const char *s, size_t n)
{
    size_t len = 0;
    unsigned char *raw = b64url_decode(s, n, &len);
    infra_json *v = pu_host->json->parse((const char *)raw, len);
    free(raw);
    assert_non_null(v);
    return v;
}

static void test_jwt_is_rs256_over_header_and_claims_and_verifies(void **state)
{
    (void)state;
    gct_reset();
    const char *pem = gct_private_pem();
    gcp_jwt_claims c = {
        .iss = "infra@infra-test.iam.gserviceaccount.com",
        .scope = "https://www.googleapis.com/auth/cloud-platform",
        .aud = "https://oauth2.googleapis.com/token",
        .kid = "0123abcd",
        .iat = 1700000000,
        .lifetime = 3600,
    };
    char *jwt = NULL, *why = NULL;
    assert_int_equal(gcp_jwt_sign(pem, &c, &jwt, &why), 0);
    assert_null(why);
    assert_null(strchr(jwt, '='));
    assert_null(strchr(jwt, '+'));
    assert_null(strchr(jwt, '/'));
    char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    assert_non_null(dot2);
    assert_null(strchr(dot2 + 1, '.'));

    infra_json *header = part_json(jwt, (size_t)(dot1 - jwt));
    assert_string_equal(pu_json_str(header, "alg"), "RS256");
    assert_string_equal(pu_json_str(header, "typ"), "JWT");
    assert_string_equal(pu_json_str(header, "kid"), "0123abcd");
    infra_json *claims = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    assert_string_equal(pu_json_str(claims, "iss"), c.iss);
    assert_string_equal(pu_json_str(claims, "scope"), c.scope);
    assert_string_equal(pu_json_str(claims, "aud"), c.aud);
    assert_int_equal(gcp_json_long(claims, "iat", 0), 1700000000);
    assert_int_equal(gcp_json_long(claims, "exp", 0), 1700003600);
    pu_host->json->release(header);
    pu_host->json->release(claims);

    /* OpenSSL verifies the signature with the public key. */
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(key);
    size_t sig_len = 0;
    unsigned char *sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig_len);
    assert_int_equal(sig_len, 256);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(
        EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    /* A changed claim no longer verifies. */
    char *tampered = strdup(jwt);
    tampered[(dot1 - jwt) + 3] ^= 1;
    EVP_MD_CTX_reset(md);
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_not_equal(
        EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)tampered, (size_t)(dot2 - jwt)),
        1);
    free(tampered);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    free(sig);
    free(jwt);
}

static void test_jwt_without_kid_has_no_kid(void **state)
{
    (void)state;
    gct_reset();
    gcp_jwt_claims c = {
        .iss = "a@b", .scope = "s", .aud = "http://x/token", .iat = 1, .lifetime = 60};
    char *jwt = NULL, *why = NULL;
    assert_int_equal(gcp_jwt_sign(gct_private_pem(), &c, &jwt, &why), 0);
    infra_json *header = part_json(jwt, (size_t)(strchr(jwt, '.') - jwt));
    assert_null(pu_host->json->get(header, "kid"));
    pu_host->json->release(header);
    free(jwt);
}

static void test_keys_that_cannot_sign_rs256_are_refused(void **state)
{
    (void)state;
    gct_reset();
    gcp_jwt_claims c = {
        .iss = "a@b", .scope = "s", .aud = "http://x/token", .iat = 1, .lifetime = 60};
    char *jwt = NULL, *why = NULL;
    assert_int_equal(gcp_jwt_sign("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE "
                                  "KEY-----\n",
                                  &c, &jwt, &why),
                     INFRA_EINVALID);
    assert_null(jwt);
    assert_string_equal(why, "private_key is not a PEM private key");
    free(why);

    EVP_PKEY *ec = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL);
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    char *pem = strndup(data, (size_t)len);
    BIO_free(bio);
    EVP_PKEY_free(ec);
    assert_int_equal(gcp_jwt_sign(pem, &c, &jwt, &why), INFRA_EINVALID);
    assert_non_null(strstr(why, "not an RSA key"));
    free(why);
    free(pem);
    c.aud = NULL;
    assert_int_equal(gcp_jwt_sign(gct_private_pem(), &c, &jwt, &why), INFRA_EINVALID);
    free(why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_is_rs256_over_header_and_claims_and_verifies),
        cmocka_unit_test(test_jwt_without_kid_has_no_kid),
        cmocka_unit_test(test_keys_that_cannot_sign_rs256_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
