/* ACL replication between federated regions.
 *
 * The primary region holds the ACLs: Consul's primary datacenter (its
 * initial management token) and Nomad's authoritative region (its
 * bootstrap token). The secondaries' servers copy policies and global
 * tokens from there: Consul with the replication token (made here in the
 * primary, with the secret the plugin chose and keeps in the secrets
 * file), Nomad with its management token. Until a secondary has replicated,
 * it knows neither management token, so its readiness is checked again
 * after the federation (nomad_ready.c). */
#include "nomad.h"

#include <stdlib.h>
#include <string.h>

#define REPLICATION_POLICY "infra-acl-replication"
/* What Consul's documentation asks of a replication token: ACLs to write
 * them, operator and service reads for intentions and config entries. */
#define REPLICATION_RULES                                                                          \
    "acl = \\\"write\\\"\\noperator = \\\"write\\\"\\nservice_prefix \\\"\\\" {\\n  policy = "     \
    "\\\"read\\\"\\n  intentions = \\\"read\\\"\\n}\\n"

/* One request with the given token instead of the management one. */
static int call_with_token(const nomad_api_ctx *a, const nomad_node *node, nomad_agent agent,
                           const char *method, const char *path, const char *body,
                           const char *token, long *status)
{
    infra_http_response *resp = NULL;
    *status = 0;
    int error = nomad_api_token(a, node, agent, method, path, body, token,
                                NOMAD_API_PROBE | NOMAD_API_RETRY, &resp);
    if (error == 0)
        *status = resp->status;
    pu_host->http->response_free(resp);
    return error;
}

int nomad_consul_replication_ensure(const nomad_api_ctx *a, const nomad_region *primary)
{
    const char *secret =
        a->keys->replication ? pu_host->secrets->value(a->keys->replication) : NULL;
    if (!a->ctx->s.acl || secret == NULL)
        return 0;
    const nomad_node *via = nomad_api_any_server(a, primary, NOMAD_AGENT_CONSUL, NULL);
    if (via == NULL) {
        pu_diagf(a->call, "", "region %s: no Consul server answers to make the replication token",
                 primary->name);
        return INFRA_ETRANSIENT;
    }
    long status = 0;
    int error = call_with_token(a, via, NOMAD_AGENT_CONSUL, "GET", "/v1/acl/token/self", NULL,
                                secret, &status);
    if (error < 0 || status == 200)
        return error;
    infra_http_response *resp = NULL;
    const char *policy = "{\"Name\":\"" REPLICATION_POLICY "\","
                         "\"Description\":\"ACL replication of the secondary datacenters (infra)\","
                         "\"Rules\":\"" REPLICATION_RULES "\"}";
    if ((error = nomad_api(a, via, NOMAD_AGENT_CONSUL, "PUT", "/v1/acl/policy", policy,
                           NOMAD_API_RETRY, &resp)) < 0)
        return error;
    /* 400 "A Policy with name ... already exists": made by an earlier run */
    int ok = resp->status == 200 ||
             (resp->status == 400 && resp->body && strstr(resp->body, "already exists") != NULL);
    if (!ok) {
        char *ex = nomad_api_excerpt(resp->body);
        pu_diagf(a->call, "", "region %s: Consul refused the replication policy: %ld %s",
                 primary->name, resp->status, ex);
        free(ex);
        error = nomad_api_status_error(resp->status);
    }
    pu_host->http->response_free(resp);
    resp = NULL;
    if (error < 0)
        return error;
    char *body = pu_printf("{\"SecretID\":\"%s\",\"Description\":\"ACL replication (infra)\","
                           "\"Policies\":[{\"Name\":\"" REPLICATION_POLICY "\"}],\"Local\":false}",
                           secret);
    error =
        nomad_api(a, via, NOMAD_AGENT_CONSUL, "PUT", "/v1/acl/token", body, NOMAD_API_RETRY, &resp);
    memset(body, 0, strlen(body));
    free(body);
    if (error == 0 && resp->status != 200) {
        char *ex = nomad_api_excerpt(resp->body);
        pu_diagf(a->call, "", "region %s: Consul refused the replication token: %ld %s",
                 primary->name, resp->status, ex);
        free(ex);
        error = nomad_api_status_error(resp->status);
    } else if (error == 0) {
        pu_logf(a->call, INFRA_LOG_INFO, "region %s: made Consul's ACL replication token",
                primary->name);
    }
    pu_host->http->response_free(resp);
    return error;
}

int nomad_tokens_resolve(const nomad_api_ctx *a, const nomad_region *r)
{
    int resolved = 1;
    for (int ag = 0; ag < NOMAD_AGENT_COUNT && resolved == 1; ag++) {
        const nomad_node *via = nomad_api_any_server(a, r, (nomad_agent)ag, NULL);
        infra_http_response *resp = NULL;
        if (via == NULL || nomad_api(a, via, (nomad_agent)ag, "GET", "/v1/acl/token/self", NULL,
                                     NOMAD_API_PROBE, &resp) < 0)
            resolved = INFRA_ETRANSIENT;
        else if (resp->status != 200)
            resolved = 0;
        pu_host->http->response_free(resp);
    }
    return resolved;
}

/* Consul's /v1/acl/replication of a secondary server, as status keys. */
static void consul_replication(const nomad_api_ctx *a, const nomad_region *r, infra_json *out)
{
    const nomad_node *via = nomad_api_any_server(a, r, NOMAD_AGENT_CONSUL, NULL);
    infra_json *j = NULL, *o = NJ->new_object();
    if (o == NULL)
        return;
    if (via == NULL || nomad_api_json(a, via, NOMAD_AGENT_CONSUL, "GET", "/v1/acl/replication",
                                      NULL, NOMAD_API_PROBE, "", &j) < 0) {
        nomad_jset_str(o, "error", "no answer");
    } else {
        static const char *const bools[] = {"Enabled", "Running"};
        for (int i = 0; i < 2; i++) {
            int v = 0;
            nomad_jbool(j, bools[i], 0, &v);
            pu_json_set_bool(o, i == 0 ? "enabled" : "running", v);
        }
        int64_t idx = 0;
        nomad_jint(j, "ReplicatedTokenIndex", &idx);
        pu_json_set_int(o, "replicated_token_index", idx);
        nomad_jset_str(o, "source", pu_json_str(j, "SourceDatacenter"));
        nomad_jset_str(o, "last_success", pu_json_str(j, "LastSuccess"));
        const char *err = pu_json_str(j, "LastErrorMessage");
        if (err && *err)
            nomad_jset_str(o, "last_error", err);
    }
    NJ->release(j);
    pu_json_set(out, "consul", o);
}

/* The number of ACL policies Nomad lists in region r (-1: no answer). */
static int64_t nomad_policies(const nomad_api_ctx *a, const nomad_region *r)
{
    const nomad_node *via = nomad_api_any_server(a, r, NOMAD_AGENT_NOMAD, NULL);
    infra_json *j = NULL;
    int64_t n = -1;
    if (via != NULL && nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", "/v1/acl/policies", NULL,
                                      NOMAD_API_PROBE, "", &j) == 0)
        n = (int64_t)NJ->length(j);
    NJ->release(j);
    return n;
}

int nomad_replication_status(const nomad_api_ctx *a, const nomad_cluster *c, const nomad_region *r,
                             infra_json **out)
{
    const char *authority = nomad_cluster_authority(c, r->name);
    infra_json *o = NJ->new_object();
    *out = NULL;
    if (o == NULL)
        return INFRA_EINTERNAL;
    int secondary = strcmp(authority, r->name) != 0;
    nomad_jset_str(o, "role", secondary ? "secondary" : "primary");
    nomad_jset_str(o, "primary", authority);
    if (secondary && a->ctx->s.acl) {
        const nomad_region *p = nomad_cluster_region(c, authority);
        int resolved = nomad_tokens_resolve(a, r);
        pu_json_set_bool(o, "tokens_replicated", resolved == 1);
        infra_json *n = NJ->new_object();
        if (n != NULL) {
            pu_json_set_int(n, "policies", nomad_policies(a, r));
            pu_json_set_int(n, "policies_primary", p ? nomad_policies(a, p) : -1);
            pu_json_set(o, "nomad", n);
        }
        consul_replication(a, r, o);
    }
    *out = o;
    return 0;
}
