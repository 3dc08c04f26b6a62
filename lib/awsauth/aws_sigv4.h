/* AWS Signature Version 4 (AWS4-HMAC-SHA256) with OpenSSL: canonical
 * request, string to sign, signing key and Authorization header. Pure
 * functions, no I/O; checked against every case of the official suite.
 *
 * Part of the awsauth static library, linked by the core (the S3 state
 * backend) and by the aws plugin: one signer for both. */
#ifndef AWS_SIGV4_H
#define AWS_SIGV4_H

#include <stddef.h>

/* A name and a value, both borrowed. */
typedef struct aws_kv {
    const char *key;
    const char *value;
} aws_kv;

/* What is signed. Every field is borrowed. */
typedef struct aws_sigv4_request {
    const char *method;  /* "GET", "POST" */
    const char *path;    /* the path as sent on the wire (already percent-encoded) */
    const aws_kv *query; /* query parameters, not encoded; may be NULL */
    size_t nquery;
    const aws_kv
        *headers; /* every header to sign, in the order sent (host and x-amz-date included) */
    size_t nheaders;
    const char *body; /* the exact bytes sent; may be NULL */
    size_t body_len;
    const char *amz_date; /* "20150830T123600Z", the X-Amz-Date value */
    const char *region;   /* "us-east-1" */
    const char *service;  /* "ec2", "elasticloadbalancing", "autoscaling", "route53", "s3" */
    const char *access_key_id;
    const char *secret_key;
    int s3; /* S3's rules: the path is signed as sent, neither normalised nor encoded again */
    const char *payload_hash; /* x-amz-content-sha256 as sent, or NULL: SHA-256 of body */
} aws_sigv4_request;

/* Percent-encodes s as SigV4 wants: every byte outside A-Za-z0-9-_.~ (and
 * '/' when keep_slash) as %XX with uppercase hex. Caller frees. */
char *aws_uri_encode(const char *s, int keep_slash);

/* The canonical request (caller frees). */
char *aws_sigv4_canonical_request(const aws_sigv4_request *r);
/* The lowercase, sorted, ';'-joined names of the signed headers (caller frees). */
char *aws_sigv4_signed_headers(const aws_sigv4_request *r);
/* The string to sign for a canonical request (caller frees). */
char *aws_sigv4_string_to_sign(const aws_sigv4_request *r, const char *canonical_request);
/* The lowercase hex signature of a string to sign (caller frees). */
char *aws_sigv4_signature(const aws_sigv4_request *r, const char *string_to_sign);
/* The whole Authorization header value (caller frees). */
char *aws_sigv4_authorization(const aws_sigv4_request *r);

/* The X-Amz-Date value for a UTC time (seconds since the epoch). */
void aws_sigv4_date(long long epoch_seconds, char out[17]);

/* Lowercase hex SHA-256 of data, into out[65]. */
void aws_sha256_hex(const void *data, size_t len, char out[65]);

#endif
