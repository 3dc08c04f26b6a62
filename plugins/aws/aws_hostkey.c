/* The SSH host key infra gives an instance, and the user data that hands
 * it over.
 *
 * An instance boots with a host key given in its user data: cloud-init's
 * ssh_keys, which removes the keys an image carries and generates none.
 * Its fingerprint is therefore known before the instance exists, and no
 * create waits for the console to print it (docs/aws.md, "SSH host
 * keys", says why and who can read user data).
 *
 * The key is derived, never stored: 40 bytes of HKDF-SHA256 over a seed
 * kept in the secrets file beside the state (one per topology and
 * environment) and the create's token, reduced to a P-256 scalar as FIPS
 * 186-4 B.4.1 does (c mod (n - 1) + 1, with 64 bits more than n). A create
 * repeated under the same token sends the same user data, as RunInstances'
 * ClientToken requires, and only the fingerprint reaches the state. The
 * private key is written in the PEM form ssh-keygen -m PEM writes, which
 * every sshd loads. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#define SEED_SECRET "aws.host_key_seed"
#define SEED_BYTES 32
#define KDF_SALT "infra aws ssh host key"
#define SCALAR_BYTES 40 /* 256 bits of P-256's order and 64 more */
#define POINT_BYTES 65  /* uncompressed: 04 || X || Y */
#define KEY_COMMENT "infra"

void aws_host_key_clear(aws_host_key *k)
{
    if (k == NULL)
        return;
    if (k->private_pem != NULL) {
        OPENSSL_cleanse(k->private_pem, strlen(k->private_pem));
        free(k->private_pem);
    }
    free(k->public_line);
    free(k->fingerprint);
    memset(k, 0, sizeof(*k));
}

/* Appends a uint32 length and the bytes, as SSH wire strings are. */
static void wire_string(pu_buf *b, const void *data, size_t len)
{
    unsigned char n[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                          (unsigned char)(len >> 8), (unsigned char)len};
    pu_buf_put(b, (const char *)n, 4);
    pu_buf_put(b, data, len);
}

/* "ecdsa-sha2-nistp256 BASE64 comment" and "SHA256:..." of the public point. */
static void public_forms(const unsigned char point[POINT_BYTES], aws_host_key *out)
{
    pu_buf blob = {0};
    unsigned char digest[32];
    wire_string(&blob, "ecdsa-sha2-nistp256", 19);
    wire_string(&blob, "nistp256", 8);
    wire_string(&blob, point, POINT_BYTES);
    char *b64 = aws_base64_encode(blob.data, blob.len);
    out->public_line = pu_printf("ecdsa-sha2-nistp256 %s %s", b64, KEY_COMMENT);
    free(b64);
    EVP_Digest(blob.data, blob.len, digest, NULL, EVP_sha256(), NULL);
    char *fp = aws_base64_encode(digest, sizeof(digest));
    size_t n = strlen(fp);
    while (n > 0 && fp[n - 1] == '=') /* OpenSSH prints it unpadded */
        fp[--n] = '\0';
    out->fingerprint = pu_printf("SHA256:%s", fp);
    free(fp);
    free(blob.data);
}

static int hkdf(const void *seed, size_t seed_len, const char *token, unsigned char *out,
                size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)seed, seed_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)KDF_SALT,
                                          sizeof(KDF_SALT) - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)token, strlen(token)),
        OSSL_PARAM_construct_end(),
    };
    int ok = ctx != NULL && EVP_KDF_derive(ctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : INFRA_EINTERNAL;
}

int aws_host_key_derive(const void *seed, size_t seed_len, const char *token, aws_host_key *out)
{
    unsigned char c[SCALAR_BYTES], point[POINT_BYTES];
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BN_CTX *bn = BN_CTX_secure_new();
    BIGNUM *cn = NULL, *d = NULL, *n1 = NULL;
    EC_POINT *q = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;
    BIO *bio = NULL;
    int error = INFRA_EINTERNAL;

    memset(out, 0, sizeof(*out));
    if (group == NULL || bn == NULL || token == NULL || *token == '\0' ||
        hkdf(seed, seed_len, token, c, sizeof(c)) < 0)
        goto done;
    cn = BN_secure_new();
    d = BN_secure_new();
    n1 = BN_dup(EC_GROUP_get0_order(group));
    q = EC_POINT_new(group);
    if (cn == NULL || d == NULL || n1 == NULL || q == NULL || BN_bin2bn(c, sizeof(c), cn) == NULL ||
        !BN_sub_word(n1, 1) || !BN_mod(d, cn, n1, bn) || !BN_add_word(d, 1) ||
        !EC_POINT_mul(group, q, d, NULL, NULL, bn) ||
        EC_POINT_point2oct(group, q, POINT_CONVERSION_UNCOMPRESSED, point, sizeof(point), bn) !=
            sizeof(point))
        goto done;
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(pctx) <= 0 ||
        EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0)
        goto done;
    char *pem = NULL;
    long len;
    if ((bio = BIO_new(BIO_s_secmem())) == NULL ||
        !PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL) ||
        (len = BIO_get_mem_data(bio, &pem)) <= 0)
        goto done;
    out->private_pem = pu_strndup(pem, (size_t)len);
    public_forms(point, out);
    error = 0;
done:
    OPENSSL_cleanse(c, sizeof(c));
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EC_POINT_free(q);
    BN_clear_free(cn);
    BN_clear_free(d);
    BN_free(n1);
    BN_CTX_free(bn);
    EC_GROUP_free(group);
    if (error < 0)
        aws_host_key_clear(out);
    return error;
}

int aws_host_key_for(infra_call *call, aws_host_key *out)
{
    const char *token = pu_host->call_token(call);
    infra_secret *seed = NULL;
    memset(out, 0, sizeof(*out));
    if (token == NULL || *token == '\0' || pu_host->secrets == NULL ||
        !INFRA_HAS_SLOT(pu_host->secrets, generate))
        return INFRA_ENOTSUP;
    int error = pu_host->secrets->generate(call, SEED_SECRET, SEED_BYTES, INFRA_SECRET_HEX, &seed);
    if (error == 0) {
        const char *text = pu_host->secrets->value(seed);
        error = aws_host_key_derive(text, strlen(text), token, out);
        if (error < 0)
            pu_diagf(call, "", "aws: cannot derive the instance's SSH host key (libcrypto)");
    }
    pu_host->secrets->free(seed);
    return error;
}

/* ------------------------------------------------------------------ */
/* User data                                                          */

/* The cloud-config that installs k as the host key. */
static void key_config(pu_buf *b, const aws_host_key *k)
{
    pu_buf_puts(b, "#cloud-config\nssh_keys:\n  ecdsa_private: |\n");
    for (const char *s = k->private_pem; *s;) {
        size_t n = strcspn(s, "\n");
        if (n > 0) {
            pu_buf_puts(b, "    ");
            pu_buf_put(b, s, n);
            pu_buf_puts(b, "\n");
        }
        s += n + (s[n] == '\n');
    }
    pu_buf_printf(b, "  ecdsa_public: %s\n", k->public_line);
}

/* 1 when text is a MIME document, as cloud-init tells one: "MIME-Version:"
 * in its first 4096 bytes. */
static int is_mime(const char *text)
{
    size_t n = strnlen(text, 4096);
    for (size_t i = 0; i + 13 <= n; i++)
        if (strncasecmp(text + i, "mime-version:", 13) == 0)
            return 1;
    return 0;
}

char *aws_user_data_with_key(const char *user_data, const aws_host_key *k)
{
    pu_buf b = {0};
    if (user_data == NULL || *user_data == '\0') {
        key_config(&b, k);
        return pu_buf_take(&b);
    }
    /* Two parts: the key, then the user's own data, which cloud-init reads
     * as if it came alone (text/x-not-multipart: typed by its first line),
     * or as the MIME document it is. The boundary is made from the data so
     * that a repeated create sends the same bytes, and never occurs in it. */
    char hex[65], boundary[48];
    aws_sha256_hex(user_data, strlen(user_data), hex);
    for (int i = 0;; i++) {
        snprintf(boundary, sizeof(boundary), "==infra-%.24s-%d==", hex, i);
        if (strstr(user_data, boundary) == NULL && strstr(k->private_pem, boundary) == NULL)
            break;
    }
    pu_buf_printf(&b,
                  "Content-Type: multipart/mixed; boundary=\"%s\"\n"
                  "MIME-Version: 1.0\n\n"
                  "--%s\n"
                  "Content-Type: text/cloud-config; charset=\"us-ascii\"\n"
                  "MIME-Version: 1.0\n"
                  "Content-Disposition: attachment; filename=\"infra-ssh-host-key.cfg\"\n\n",
                  boundary, boundary);
    key_config(&b, k);
    pu_buf_printf(&b, "\n--%s\n", boundary);
    if (!is_mime(user_data))
        pu_buf_puts(&b, "Content-Type: text/x-not-multipart; charset=\"utf-8\"\n"
                        "MIME-Version: 1.0\n"
                        "Content-Disposition: attachment; filename=\"user-data\"\n\n");
    pu_buf_puts(&b, user_data);
    size_t n = strlen(user_data);
    pu_buf_printf(&b, "%s--%s--\n", user_data[n - 1] == '\n' ? "" : "\n", boundary);
    return pu_buf_take(&b);
}
