/* HTTP calls to Marathon, the Mesos masters and agents through the host's
 * HTTP service, Marathon's with basic authentication (the encoded
 * credentials are given to the service to redact), and ZooKeeper's
 * four-letter words over TCP.
 *
 * Readiness polls would report every refused connection as an error
 * diagnostic while a program starts; the host keeps the first error of a
 * call as its message, which would then hide the real one. So polls first
 * try a plain TCP connection and skip a port that is closed. */
#include "marathon.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_TIMEOUT_MS 1500
#define REQUEST_TIMEOUT_MS 30000L
#define ZK_TIMEOUT_MS 3000

/* base64 of user:password for the Authorization header (caller frees). */
static char *basic(const char *user, const char *password)
{
    char *plain = pu_printf("%s:%s", user, password);
    size_t len = strlen(plain);
    char *out = pu_malloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain, (int)len);
    OPENSSL_cleanse(plain, len);
    free(plain);
    return out;
}

int marathon_api(const marathon_api_ctx *a, const marathon_node *node, marathon_port port,
                 const char *method, const char *path, const char *body, unsigned flags,
                 infra_http_response **out)
{
    const char *ip = marathon_api_ip(&a->ctx->s, node);
    const char *headers[4] = {NULL, NULL, NULL, NULL};
    char *auth = NULL, *token = NULL;
    size_t nh = 0;

    *out = NULL;
    if (ip == NULL)
        return INFRA_ETRANSIENT;
    if ((flags & MARATHON_API_PROBE) && !pu_tcp_probe(ip, (int)port, PROBE_TIMEOUT_MS))
        return INFRA_ETRANSIENT;
    char *hp = pu_host_port(ip, (int)port);
    char *url = pu_printf("http://%s%s", hp, path);
    free(hp);
    if (port == MARATHON_API_MARATHON && !(flags & MARATHON_API_NOAUTH) && a->password) {
        token = basic(a->ctx->s.marathon_user, a->password);
        auth = pu_printf("Authorization: Basic %s", token);
        headers[nh++] = auth;
    }
    headers[nh++] = "Accept: application/json";
    if (body)
        headers[nh++] = "Content-Type: application/json";

    infra_http_request req;
    memset(&req, 0, sizeof(req));
    req.size = sizeof(req);
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.timeout_ms = REQUEST_TIMEOUT_MS;
    req.max_attempts = (flags & MARATHON_API_RETRY) ? 3 : 1;
    req.redact = token;
    int error = pu_host->http->request(a->call, &req, out);
    if (auth) {
        memset(auth, 0, strlen(auth));
        memset(token, 0, strlen(token));
    }
    free(auth);
    free(token);
    free(url);
    return error;
}

int marathon_status_error(long status)
{
    if (status >= 200 && status < 300)
        return 0;
    if (status == 400 || status == 422)
        return INFRA_EINVALID;
    if (status == 401 || status == 403)
        return INFRA_EAUTH;
    if (status == 404)
        return INFRA_ENOTFOUND;
    if (status == 409)
        return INFRA_ECONFLICT;
    if (status == 429 || status >= 500)
        return INFRA_ETRANSIENT;
    return INFRA_EINTERNAL;
}

char *marathon_error_text(const char *body)
{
    infra_json *j = body ? MJ->parse(body, strlen(body)) : NULL;
    const char *message = pu_json_str(j, "message");
    if (message == NULL) {
        MJ->release(j);
        return pu_excerpt(body);
    }
    pu_buf b = {0};
    pu_buf_puts(&b, message);
    const infra_json *details = MJ->get(j, "details");
    for (size_t i = 0; i < MJ->length(details); i++) {
        const infra_json *d = MJ->at(details, i);
        const infra_json *errs = MJ->get(d, "errors");
        pu_buf_printf(&b, "%s%s:", i ? "; " : ": ",
                      pu_json_str(d, "path") ? pu_json_str(d, "path") : "/");
        for (size_t k = 0; k < MJ->length(errs); k++)
            pu_buf_printf(&b, "%s%s", k ? ", " : " ",
                          MJ->string(MJ->at(errs, k)) ? MJ->string(MJ->at(errs, k)) : "?");
    }
    MJ->release(j);
    char *text = pu_buf_take(&b);
    char *out = pu_excerpt(text);
    free(text);
    return out;
}

static const char *port_name(marathon_port port)
{
    return port == MARATHON_API_MARATHON ? "Marathon"
           : port == MARATHON_API_MASTER ? "the Mesos master"
                                         : "the Mesos agent";
}

int marathon_api_json(const marathon_api_ctx *a, const marathon_node *node, marathon_port port,
                      const char *method, const char *path, const char *body, unsigned flags,
                      const char *what, infra_json **out)
{
    infra_http_response *resp = NULL;
    *out = NULL;
    int error = marathon_api(a, node, port, method, path, body, flags, &resp);
    if (error < 0) {
        if (error != INFRA_ECANCELLED && (flags & MARATHON_API_PROBE))
            pu_diagf(a->call, "", "%s: %s on %s does not answer", what, port_name(port),
                     node->name);
        return error;
    }
    if ((error = marathon_status_error(resp->status)) < 0) {
        if (error == INFRA_ENOTFOUND && (flags & MARATHON_API_MISSING_OK))
            goto done;
        char *text = marathon_error_text(resp->body);
        char *secret = marathon_secret_name(a->ctx->cluster, "http_password");
        pu_diagf(a->call, "", "%s: %s %s: %ld %s%s%s%s", what, method, path, resp->status, text,
                 error == INFRA_EAUTH ? " (Marathon refuses the password kept as secret " : "",
                 error == INFRA_EAUTH ? secret : "", error == INFRA_EAUTH ? ")" : "");
        free(secret);
        free(text);
        goto done;
    }
    if (resp->body_len > 0) {
        *out = MJ->parse(resp->body, resp->body_len);
        if (*out == NULL) {
            pu_diagf(a->call, "", "%s: %s %s: the answer is not JSON", what, method, path);
            error = INFRA_EINTERNAL;
        }
    }
done:
    pu_host->http->response_free(resp);
    return error;
}

const marathon_node *marathon_any_master(const marathon_api_ctx *a, const marathon_region *r,
                                         marathon_port port, const marathon_node *except)
{
    for (size_t i = 0; i < r->nmasters; i++) {
        const marathon_node *n = r->masters[i];
        if (except && strcmp(n->name, except->name) == 0)
            continue;
        if (pu_tcp_probe(marathon_api_ip(&a->ctx->s, n), (int)port, PROBE_TIMEOUT_MS))
            return n;
    }
    return NULL;
}

int marathon_lb_get(const marathon_api_ctx *a, const marathon_node *lb, const char *path,
                    const char *host, long *status, char **body)
{
    const char *ip = marathon_api_ip(&a->ctx->s, lb);
    int port = a->ctx->s.lb_port;
    *status = 0;
    *body = NULL;
    if (ip == NULL || !pu_tcp_probe(ip, port, PROBE_TIMEOUT_MS))
        return INFRA_ETRANSIENT;
    char *hp = pu_host_port(ip, port);
    char *url = pu_printf("http://%s%s", hp, path);
    char *host_header = host ? pu_printf("Host: %s", host) : NULL;
    const char *headers[2] = {host_header, NULL};
    infra_http_request req;
    memset(&req, 0, sizeof(req));
    req.size = sizeof(req);
    req.method = "GET";
    req.url = url;
    req.headers = headers;
    req.timeout_ms = 10000;
    req.max_attempts = 1;
    infra_http_response *resp = NULL;
    int error = pu_host->http->request(a->call, &req, &resp);
    if (error == 0) {
        *status = resp->status;
        *body = pu_strdup(resp->body ? resp->body : "");
    } else if (error != INFRA_ECANCELLED) {
        error = INFRA_ETRANSIENT;
    }
    pu_host->http->response_free(resp);
    free(host_header);
    free(url);
    free(hp);
    return error;
}

void marathon_zk_mode(const marathon_settings *s, const marathon_node *node, char mode[16],
                      char why[64])
{
    char *out = NULL;
    mode[0] = why[0] = '\0';
    if (pu_tcp_exchange(marathon_api_ip(s, node), MARATHON_PORT_ZK, "srvr", 65536, ZK_TIMEOUT_MS,
                        &out) < 0) {
        snprintf(why, 64, "no answer on port %d", MARATHON_PORT_ZK);
        return;
    }
    const char *m = strstr(out, "Mode: ");
    if (m != NULL) {
        m += 6;
        size_t len = strcspn(m, "\r\n");
        snprintf(mode, 16, "%.*s", (int)(len < 15 ? len : 15), m);
    } else if (strstr(out, "not currently serving") != NULL) {
        snprintf(why, 64, "not serving: no quorum");
    } else {
        snprintf(why, 64, "an unexpected answer to srvr");
    }
    free(out);
}

int marathon_zk_ok(const marathon_settings *s, const marathon_node *node)
{
    char *out = NULL;
    if (pu_tcp_exchange(marathon_api_ip(s, node), MARATHON_PORT_ZK, "ruok", 64, ZK_TIMEOUT_MS,
                        &out) < 0)
        return 0;
    int ok = strncmp(out, "imok", 4) == 0;
    free(out);
    return ok;
}
