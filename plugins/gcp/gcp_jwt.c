/* The assertion of Google's JWT bearer grant (RFC 7523): a JSON Web Token
 * with header {"alg":"RS256","typ":"JWT","kid":KEY_ID} and claims iss,
 * scope, aud, iat and exp, signed with the service account's RSA key
 * (RSASSA-PKCS1-v1_5 over SHA-256, OpenSSL EVP), every part base64url
 * without padding. The JSON goes through host->json. */
#include "gcp_api.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

/* base64url of the compact JSON text of v (caller frees); NULL on failure. */
static char *encoded_json(infra_json *v)
{
    char *text = v != NULL ? GJ->dump(v) : NULL;
    if (text == NULL)
        return NULL;
    char *out = gcp_base64url(text, strlen(text));
    pu_host->free(text);
    return out;
}

static int build_parts(const gcp_jwt_claims *c, char **header, char **claims)
{
    infra_json *h = GJ->new_object(), *b = GJ->new_object();
    int error = 0;
    *header = *claims = NULL;
    if (h == NULL || b == NULL || (error = pu_json_set_str(h, "alg", "RS256")) < 0 ||
        (error = pu_json_set_str(h, "typ", "JWT")) < 0 ||
        (c->kid != NULL && *c->kid && (error = pu_json_set_str(h, "kid", c->kid)) < 0) ||
        (error = pu_json_set_str(b, "iss", c->iss)) < 0 ||
        (error = pu_json_set_str(b, "scope", c->scope)) < 0 ||
        (error = pu_json_set_str(b, "aud", c->aud)) < 0 ||
        (error = pu_json_set_int(b, "iat", c->iat)) < 0 ||
        (error = pu_json_set_int(b, "exp", c->iat + c->lifetime)) < 0)
        goto done;
    *header = encoded_json(h);
    *claims = encoded_json(b);
    if (*header == NULL || *claims == NULL)
        error = INFRA_EINTERNAL;
done:
    GJ->release(h);
    GJ->release(b);
    if (error < 0) {
        free(*header);
        free(*claims);
        *header = *claims = NULL;
        return error < 0 ? error : INFRA_EINTERNAL;
    }
    return 0;
}

int gcp_jwt_sign(const char *pem_key, const gcp_jwt_claims *claims, char **out, char **why)
{
    char *header = NULL, *body = NULL, *input = NULL;
    unsigned char *sig = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    BIO *bio = NULL;
    size_t sig_len = 0;
    int error = 0;

    *out = NULL;
    *why = NULL;
    if (claims->iss == NULL || claims->aud == NULL || claims->scope == NULL) {
        *why = pu_strdup("the claims need iss, aud and scope");
        return INFRA_EINVALID;
    }
    if (pem_key == NULL || (bio = BIO_new_mem_buf(pem_key, -1)) == NULL ||
        (key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
        *why = pu_strdup("private_key is not a PEM private key");
        error = INFRA_EINVALID;
        goto done;
    }
    if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        *why = pu_strdup("private_key is not an RSA key (RS256 needs one)");
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = build_parts(claims, &header, &body)) < 0)
        goto done;
    input = pu_printf("%s.%s", header, body);
    if ((md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)input, strlen(input)) != 1) {
        *why = pu_strdup("the key cannot sign with RS256");
        error = INFRA_EINVALID;
        goto done;
    }
    sig = pu_malloc(sig_len);
    if (EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)input, strlen(input)) != 1) {
        *why = pu_strdup("signing failed");
        error = INFRA_EINVALID;
        goto done;
    }
    char *encoded = gcp_base64url(sig, sig_len);
    *out = pu_printf("%s.%s", input, encoded);
    free(encoded);
done:
    ERR_clear_error(); /* nothing of the key may linger in OpenSSL's error queue */
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    BIO_free(bio);
    free(sig);
    free(input);
    free(header);
    free(body);
    return error;
}
