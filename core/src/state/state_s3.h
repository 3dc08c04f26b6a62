/* What the s3 backend's two files share (state_s3.c: the backend;
 * state_s3_http.c: signed requests and answers). Not for other modules. */
#ifndef INFRA_STATE_S3_H
#define INFRA_STATE_S3_H

#include <stddef.h>

#include <infra/plugin.h>

#include "aws_sigv4.h"

/* Where the bucket is and how to sign for it. */
typedef struct s3_client {
    char *base; /* "http://127.0.0.1:9000/bucket" or "https://bucket.s3.eu-west-1.amazonaws.com" */
    char *host; /* the Host header of base */
    char *path_prefix; /* "/bucket" (path-style) or "" (virtual-hosted) */
    char *region;
    char *access_key_id;
    char *secret_key;    /* registered with the log redaction */
    char *session_token; /* or NULL */
    char *ca_file;       /* extra CA bundle, or NULL */
} s3_client;

/* One S3 call: method, object key (NULL: the bucket), query parameters
 * (not encoded; may be NULL), extra headers "Name: value" (all signed),
 * body. 0 with *out for any HTTP answer (free with http_response_free);
 * otherwise INFRA_E* with *err (transport failure after retries). */
int s3_send(const s3_client *c, const char *method, const char *key, const aws_kv *query,
            size_t nquery, const char *const *headers, const char *body, size_t len,
            infra_http_response **out, char **err);

/* "Code: Message" of an S3 error answer ("HTTP 404" when it has no body).
 * Caller frees. */
char *s3_error_text(const infra_http_response *r);

/* The text of the first element called name in an XML answer, or NULL.
 * Caller frees. */
char *s3_xml_text(const char *body, size_t len, const char *name);

void s3_client_free(s3_client *c);

#endif
