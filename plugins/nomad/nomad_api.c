/* HTTP calls to the agents through the host's HTTP service: https with the
 * cluster CA when TLS is on, the management token in X-Nomad-Token or
 * X-Consul-Token (and given to the service to redact).
 *
 * Readiness polls would report every refused connection as an error
 * diagnostic while an agent starts; the host keeps the first error of a
 * call as its message, which would then hide the real one. So polls first
 * try a plain TCP connection to the port and skip a port that is closed.
 * A node behind a bastion is probed and called through it (the probe by
 * pu_tcp_probe, the calls by the host's HTTP service). */
#include "nomad.h"

#include "plugin_remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_TIMEOUT_MS 1500
#define REQUEST_TIMEOUT_MS 30000L

int nomad_tcp_probe(const char *ip, int port, int timeout_ms)
{
    return pu_tcp_probe(ip, port, timeout_ms); /* through the node's bastion when it has one */
}

static int agent_port(const nomad_settings *s, nomad_agent agent)
{
    if (agent == NOMAD_AGENT_NOMAD)
        return NOMAD_PORT_HTTP;
    return s->tls ? CONSUL_PORT_HTTPS : CONSUL_PORT_HTTP;
}

int nomad_api(const nomad_api_ctx *a, const nomad_node *node, nomad_agent agent, const char *method,
              const char *path, const char *body, unsigned flags, infra_http_response **out)
{
    const char *token = (flags & NOMAD_API_NOTOKEN) ? NULL : nomad_keys_token(a->keys, agent);
    return nomad_api_token(a, node, agent, method, path, body, token, flags, out);
}

int nomad_api_token(const nomad_api_ctx *a, const nomad_node *node, nomad_agent agent,
                    const char *method, const char *path, const char *body, const char *token,
                    unsigned flags, infra_http_response **out)
{
    const nomad_settings *s = &a->ctx->s;
    const char *ip = nomad_node_api_ip(s, node);
    int port = agent_port(s, agent);
    char *url, *auth = NULL;
    const char *headers[3] = {NULL, NULL, NULL};
    size_t nh = 0;

    *out = NULL;
    if (ip == NULL)
        return INFRA_ETRANSIENT;
    if ((flags & NOMAD_API_PROBE) && !nomad_tcp_probe(ip, port, PROBE_TIMEOUT_MS))
        return INFRA_ETRANSIENT;
    int v6 = strchr(ip, ':') != NULL;
    url = pu_printf("%s://%s%s%s:%d%s", s->tls ? "https" : "http", v6 ? "[" : "", ip, v6 ? "]" : "",
                    port, path);
    if (token) {
        auth = pu_printf("%s: %s", agent == NOMAD_AGENT_CONSUL ? "X-Consul-Token" : "X-Nomad-Token",
                         token);
        headers[nh++] = auth;
    }
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
    req.max_attempts = (flags & NOMAD_API_RETRY) ? 3 : 1;
    req.redact = token;
    if (s->tls && a->keys && a->keys->ca_cert)
        req.ca_pem = pu_host->secrets->value(a->keys->ca_cert);
    int error = pu_host->http->request(a->call, &req, out);
    if (auth) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    free(url);
    return error;
}

int nomad_api_status_error(long status)
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

char *nomad_api_excerpt(const char *body)
{
    pu_buf b = {0};
    int space = 0;
    for (const char *p = body ? body : ""; *p && b.len < 600; p++) {
        if (*p == '\n' || *p == '\r') {
            if (b.len > 0 && !space)
                pu_buf_puts(&b, " | ");
            space = 1;
        } else if ((unsigned char)*p < ' ' || *p == '\t') {
            if (!space)
                pu_buf_puts(&b, " ");
            space = 1;
        } else {
            pu_buf_put(&b, p, 1);
            space = 0;
        }
    }
    while (b.len >= 3 && strcmp(b.data + b.len - 3, " | ") == 0)
        b.data[b.len -= 3] = '\0';
    if (body && strlen(body) > 600 && b.len >= 600)
        pu_buf_puts(&b, "...");
    return pu_buf_take(&b);
}

int nomad_api_json(const nomad_api_ctx *a, const nomad_node *node, nomad_agent agent,
                   const char *method, const char *path, const char *body, unsigned flags,
                   const char *what, infra_json **out)
{
    infra_http_response *resp = NULL;
    *out = NULL;
    int error = nomad_api(a, node, agent, method, path, body, flags, &resp);
    if (error < 0)
        return error;
    if ((error = nomad_api_status_error(resp->status)) < 0) {
        if (error == INFRA_ENOTFOUND && (flags & NOMAD_API_MISSING_OK))
            goto done;
        /* Job.Register's checks fail as a 500 with a multierror ("1 error
         * occurred: ..."): the job is wrong, retrying will not help. */
        if (resp->status == 500 && (flags & NOMAD_API_VALIDATES) && resp->body &&
            strstr(resp->body, "error occurred") != NULL)
            error = INFRA_EINVALID;
        char *excerpt = nomad_api_excerpt(resp->body);
        char *shown =
            error == INFRA_EAUTH
                ? pu_printf(" (the %s ACL token kept as secret nomad.%s.%s_management_token "
                            "is not accepted)",
                            agent == NOMAD_AGENT_NOMAD ? "Nomad" : "Consul", a->ctx->cluster,
                            nomad_agent_name(agent))
                : pu_strdup("");
        pu_diagf(a->call, "", "%s: %s %s %s: %ld %s%s", what, nomad_agent_name(agent), method, path,
                 resp->status, excerpt, shown);
        free(shown);
        free(excerpt);
        goto done;
    }
    if (resp->body_len > 0) {
        *out = NJ->parse(resp->body, resp->body_len);
        if (*out == NULL) {
            pu_diagf(a->call, "", "%s: %s %s %s: the answer is not JSON", what,
                     nomad_agent_name(agent), method, path);
            error = INFRA_EINTERNAL;
        }
    }
done:
    pu_host->http->response_free(resp);
    return error;
}

const nomad_node *nomad_api_any_server(const nomad_api_ctx *a, const nomad_region *r,
                                       nomad_agent agent, const nomad_node *except)
{
    int port = agent_port(&a->ctx->s, agent);
    for (size_t i = 0; i < r->nservers; i++) {
        const nomad_node *n = r->servers[i];
        if (except && strcmp(n->name, except->name) == 0)
            continue;
        if (nomad_tcp_probe(nomad_node_api_ip(&a->ctx->s, n), port, PROBE_TIMEOUT_MS))
            return n;
    }
    return NULL;
}
