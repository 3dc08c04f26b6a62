/* S3 requests for the s3 backend: SigV4 with S3's rules (the awsauth
 * library's signer: the path signed as sent, the payload's SHA-256 sent in
 * x-amz-content-sha256 and signed), through the core's HTTP client, and
 * the XML of S3's answers (libxml2). */
#define _GNU_SOURCE
#include "state/state_s3.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "plugin/host.h"
#include "services/http.h"
#include "state/xml_lib.h"

/* The HTTP client reports through the call's diagnostics; the backend
 * builds its own messages from the first error kept there. */
static void quiet_diag(void *ud, infra_call *call, int severity, const char *attr,
                       const char *message)
{
    (void)ud;
    (void)call;
    (void)severity;
    (void)attr;
    (void)message;
}

int s3_send(const s3_client *c, const char *method, const char *key, const aws_kv *query,
            size_t nquery, const char *const *headers, const char *body, size_t len,
            infra_http_response **out, char **err)
{
    int error = 0;
    char date[17], payload[65];
    util_buf path = {0}, url = {0};
    size_t nextra = 0;
    while (headers && headers[nextra])
        nextra++;

    *out = NULL;
    aws_sigv4_date((long long)time(NULL), date);
    aws_sha256_hex(body ? body : "", body ? len : 0, payload);
    util_buf_puts(&path, c->path_prefix);
    if (key) {
        char *encoded = aws_uri_encode(key, 1);
        util_buf_printf(&path, "/%s", encoded);
        free(encoded);
    } else if (!*c->path_prefix) {
        util_buf_puts(&path, "/");
    }
    util_buf_printf(&url, "%s%s", c->base, path.data + strlen(c->path_prefix));
    for (size_t i = 0; i < nquery; i++) {
        char *v = aws_uri_encode(query[i].value ? query[i].value : "", 0);
        if (query[i].value && *query[i].value)
            util_buf_printf(&url, "%c%s=%s", i ? '&' : '?', query[i].key, v);
        else
            util_buf_printf(&url, "%c%s", i ? '&' : '?', query[i].key);
        free(v);
    }

    /* Every header sent is signed: host, date, payload hash, token, and
     * the caller's (conditions, encryption, metadata). */
    size_t nkv = 0;
    aws_kv *kv = util_calloc(nextra + 4, sizeof(*kv));
    char **split = util_calloc(nextra + 1, sizeof(*split));
    kv[nkv++] = (aws_kv){"host", c->host};
    kv[nkv++] = (aws_kv){"x-amz-content-sha256", payload};
    kv[nkv++] = (aws_kv){"x-amz-date", date};
    if (c->session_token)
        kv[nkv++] = (aws_kv){"x-amz-security-token", c->session_token};
    for (size_t i = 0; i < nextra; i++) {
        split[i] = util_strdup(headers[i]);
        char *colon = strchr(split[i], ':');
        if (!colon)
            continue;
        *colon = '\0';
        const char *value = colon + 1;
        while (*value == ' ')
            value++;
        kv[nkv++] = (aws_kv){split[i], value};
    }
    aws_sigv4_request r = {.method = method,
                           .path = path.data,
                           .query = query,
                           .nquery = nquery,
                           .headers = kv,
                           .nheaders = nkv,
                           .body = body,
                           .body_len = len,
                           .amz_date = date,
                           .region = c->region,
                           .service = "s3",
                           .access_key_id = c->access_key_id,
                           .secret_key = c->secret_key,
                           .s3 = 1,
                           .payload_hash = payload};
    char *authz = aws_sigv4_authorization(&r);

    const char **lines = util_calloc(nkv + 2, sizeof(*lines));
    char **owned = util_calloc(nkv + 2, sizeof(*owned));
    size_t nl = 0;
    for (size_t i = 0; i < nkv; i++)
        lines[nl++] = owned[i] = util_printf("%s: %s", kv[i].key, kv[i].value);
    lines[nl++] = owned[nkv] = util_printf("Authorization: %s", authz);
    lines[nl] = NULL;

    infra_call call;
    host_call_init(&call, "", "state");
    call.diag = quiet_diag;
    infra_http_request req = {.size = sizeof(req),
                              .method = method,
                              .url = url.data,
                              .headers = lines,
                              .body = body,
                              .body_len = body ? len : 0,
                              .ca_file = c->ca_file,
                              .redact = c->session_token};
    error = http_request(&call, &req, out);
    if (error < 0 && err)
        *err = util_printf("%s %s: %s", method, url.data,
                           call.first_error ? call.first_error : "no answer");
    host_call_clear(&call);

    for (size_t i = 0; i <= nkv; i++)
        free(owned[i]);
    free(owned);
    free(lines);
    free(authz);
    for (size_t i = 0; i < nextra; i++)
        free(split[i]);
    free(split);
    free(kv);
    util_buf_free(&path);
    util_buf_free(&url);
    return error;
}

static xmlDoc *parse(const xml_lib *xml, const char *body, size_t len)
{
    if (!body || len == 0 || len > 0x7fffffff)
        return NULL;
    return xml->ReadMemory(body, (int)len, NULL, NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static const xmlNode *find(const xmlNode *n, const char *name)
{
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name))
            return n;
        const xmlNode *inner = find(n->children, name);
        if (inner)
            return inner;
    }
    return NULL;
}

char *s3_xml_text(const char *body, size_t len, const char *name)
{
    char *why = NULL;
    /* Loaded by state_s3_open already: an answer is never parsed otherwise. */
    const xml_lib *xml = xml_lib_get(&why);
    free(why);
    if (!xml)
        return NULL;
    xmlDoc *doc = parse(xml, body, len);
    if (!doc)
        return NULL;
    const xmlNode *n = find(xml->DocGetRootElement(doc), name);
    char *out = NULL;
    xmlBuffer *text = n ? xml->BufferCreate() : NULL;
    if (text && xml->NodeBufGetContent(text, n) == 0)
        out = util_strdup((const char *)xml->BufferContent(text));
    xml->BufferFree(text);
    xml->FreeDoc(doc);
    return out;
}

char *s3_error_text(const infra_http_response *r)
{
    char *code = s3_xml_text(r->body, r->body_len, "Code");
    char *message = s3_xml_text(r->body, r->body_len, "Message");
    char *out = code ? util_printf("%s: %s (HTTP %ld)", code, message ? message : "", r->status)
                     : util_printf("HTTP %ld", r->status);
    free(code);
    free(message);
    return out;
}

void s3_client_free(s3_client *c)
{
    if (!c)
        return;
    free(c->base);
    free(c->host);
    free(c->path_prefix);
    free(c->region);
    free(c->access_key_id);
    if (c->secret_key) {
        util_zero(c->secret_key, strlen(c->secret_key));
        free(c->secret_key);
    }
    if (c->session_token) {
        util_zero(c->session_token, strlen(c->session_token));
        free(c->session_token);
    }
    free(c->ca_file);
    memset(c, 0, sizeof(*c));
}
