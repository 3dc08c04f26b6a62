/* cluster_status: what each region's servers report (leader, servers,
 * clients, jobs). A region that does not answer is described as such, not
 * an error: a status report must show a cluster that is half down. */
#include "nomad.h"

#include <stdlib.h>
#include <string.h>

static int add_entry(infra_json *list, infra_json *e)
{
    if (e == NULL)
        return INFRA_EINTERNAL;
    return NJ->append(list, e) < 0 ? INFRA_EINTERNAL : 0;
}

static infra_json *server_entry(const char *name, const char *address, const char *status)
{
    infra_json *e = NJ->new_object();
    if (e && (nomad_jset_str(e, "name", name) < 0 || nomad_jset_str(e, "address", address) < 0 ||
              nomad_jset_str(e, "status", status) < 0)) {
        NJ->release(e);
        return NULL;
    }
    return e;
}

static int region_status(const nomad_api_ctx *a, const nomad_region *r, infra_json *reg)
{
    infra_json *servers = NJ->new_array(), *clients = NJ->new_array(), *jobs = NJ->new_array();
    infra_json *j = NULL;
    char *what = pu_printf("region %s", r->name);
    nomad_strs listed = {0};
    int error = 0;

    if ((error = pu_json_set(reg, "servers", servers)) < 0 ||
        (error = pu_json_set(reg, "clients", clients)) < 0 ||
        (error = pu_json_set(reg, "jobs", jobs)) < 0)
        goto done;
    const nomad_node *via = nomad_api_any_server(a, r, NOMAD_AGENT_NOMAD, NULL);
    if (via == NULL) {
        if ((error = pu_json_set(reg, "leader", NJ->new_null())) < 0 ||
            (error = nomad_jset_str(reg, "error", "no Nomad server answers")) < 0)
            goto done;
        for (size_t i = 0; i < r->nservers && error == 0; i++)
            error = add_entry(servers, server_entry(r->servers[i]->name, r->servers[i]->private_ip,
                                                    "unreachable"));
        goto done;
    }
    if (nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", "/v1/status/leader", NULL, NOMAD_API_RETRY,
                       what, &j) == 0 &&
        NJ->string(j) && *NJ->string(j))
        error = nomad_jset_str(reg, "leader", NJ->string(j));
    else
        error = pu_json_set(reg, "leader", NJ->new_null());
    NJ->release(j);
    j = NULL;
    if (error < 0)
        goto done;
    if (nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", "/v1/agent/members", NULL, NOMAD_API_RETRY,
                       what, &j) == 0) {
        const infra_json *members = NJ->get(j, "Members");
        for (size_t i = 0; i < NJ->length(members) && error == 0; i++) {
            const infra_json *m = NJ->at(members, i);
            const char *tag = pu_json_str(NJ->get(m, "Tags"), "region");
            if (tag && strcmp(tag, r->name) != 0)
                continue; /* a federated region's server */
            const char *name = pu_json_str(m, "Name");
            nomad_strs_add(&listed, name ? name : "");
            error = add_entry(servers,
                              server_entry(name, pu_json_str(m, "Addr"), pu_json_str(m, "Status")));
        }
    }
    NJ->release(j);
    j = NULL;
    for (size_t i = 0; i < r->nservers && error == 0; i++) {
        char *full = pu_printf("%s.%s", r->servers[i]->name, r->name);
        if (!nomad_strs_has(&listed, full) && !nomad_strs_has(&listed, r->servers[i]->name))
            error = add_entry(servers, server_entry(full, r->servers[i]->private_ip, "absent"));
        free(full);
    }
    if (error == 0 && nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", "/v1/nodes", NULL,
                                     NOMAD_API_RETRY, what, &j) == 0) {
        for (size_t i = 0; i < NJ->length(j) && error == 0; i++) {
            const infra_json *n = NJ->at(j, i);
            infra_json *e = NJ->new_object();
            if (e &&
                (nomad_jset_str(e, "name", pu_json_str(n, "Name")) < 0 ||
                 nomad_jset_str(e, "datacenter", pu_json_str(n, "Datacenter")) < 0 ||
                 nomad_jset_str(e, "status", pu_json_str(n, "Status")) < 0 ||
                 nomad_jset_str(e, "eligibility", pu_json_str(n, "SchedulingEligibility")) < 0)) {
                NJ->release(e);
                e = NULL;
            }
            error = add_entry(clients, e);
        }
    }
    NJ->release(j);
    j = NULL;
    if (error == 0 && nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", "/v1/jobs", NULL,
                                     NOMAD_API_RETRY, what, &j) == 0) {
        for (size_t i = 0; i < NJ->length(j) && error == 0; i++) {
            const infra_json *job = NJ->at(j, i);
            const char *id = pu_json_str(job, "ID");
            infra_json *e = NJ->new_object(), *dep = NULL;
            if (id && nomad_name_ok(id)) {
                char *path = pu_printf("/v1/job/%s/deployment", id);
                nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", path, NULL,
                               NOMAD_API_RETRY | NOMAD_API_MISSING_OK, what, &dep);
                free(path);
            }
            const char *ds = pu_json_str(dep, "Status");
            if (e && (nomad_jset_str(e, "id", id) < 0 ||
                      nomad_jset_str(e, "status", pu_json_str(job, "Status")) < 0 ||
                      pu_json_set(e, "deployment", ds ? NJ->new_string(ds) : NJ->new_null()) < 0)) {
                NJ->release(e);
                e = NULL;
            }
            NJ->release(dep);
            error = add_entry(jobs, e);
        }
    }
done:
    NJ->release(j);
    nomad_strs_free(&listed);
    free(what);
    return error;
}

/* One variable of a region's "env" (plugin.h, cluster_status): kind is
 * "value" (the text itself), "secret" (the named secret's value) or
 * "secret_file" (a file holding it). */
static int env_set(infra_json *env, const char *var, const char *kind, const char *text)
{
    infra_json *v = nomad_jobj(env, var);
    return v ? nomad_jset_str(v, kind, text) : INFRA_EINTERNAL;
}

/* What Nomad's and Consul's own CLIs need to reach region r: the API of
 * via (a server that answered, else the region's first), the CA and the
 * management tokens by the names of their secrets, never their values.
 * Client certificates are not needed: the agents do not verify them on
 * HTTP (verify_https_client and verify_incoming are off). */
static int region_env(const infra_scheduler *self, const nomad_region *r, const nomad_node *via,
                      infra_json *reg)
{
    const nomad_settings *s = &self->s;
    infra_json *env = nomad_jobj(reg, "env");
    const char *ip = via ? nomad_node_api_ip(s, via) : NULL;
    char *nomad_addr = NULL, *consul_addr = NULL, *ca = NULL, *nomad_token = NULL,
         *consul_token = NULL;
    int error = 0;

    if (env == NULL)
        return INFRA_EINTERNAL;
    if (ip == NULL)
        return 0; /* no server yet: nothing to reach */
    nomad_addr = pu_printf("%s://%s:%d", s->tls ? "https" : "http", ip, NOMAD_PORT_HTTP);
    consul_addr = pu_printf("%s://%s:%d", s->tls ? "https" : "http", ip,
                            s->tls ? CONSUL_PORT_HTTPS : CONSUL_PORT_HTTP);
    ca = nomad_secret_name(self->cluster, "ca.cert");
    nomad_token = nomad_secret_name(self->cluster, "nomad_management_token");
    consul_token = nomad_secret_name(self->cluster, "consul_management_token");
    if ((error = env_set(env, "NOMAD_ADDR", "value", nomad_addr)) < 0 ||
        (error = env_set(env, "NOMAD_REGION", "value", r->name)) < 0 ||
        (error = env_set(env, "CONSUL_HTTP_ADDR", "value", consul_addr)) < 0)
        goto done;
    if (s->tls && ((error = env_set(env, "NOMAD_CACERT", "secret_file", ca)) < 0 ||
                   (error = env_set(env, "CONSUL_CACERT", "secret_file", ca)) < 0))
        goto done;
    if (s->acl && ((error = env_set(env, "NOMAD_TOKEN", "secret", nomad_token)) < 0 ||
                   (error = env_set(env, "CONSUL_HTTP_TOKEN", "secret", consul_token)) < 0))
        goto done;
done:
    free(nomad_addr);
    free(consul_addr);
    free(ca);
    free(nomad_token);
    free(consul_token);
    return error;
}

int nomad_cluster_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         infra_json **out)
{
    nomad_cluster c;
    nomad_keys keys = {0};
    infra_json *doc = NULL, *regions;
    int error;

    if ((error = nomad_cluster_parse(call, cluster, 0, &c)) < 0)
        return error;
    if ((error = nomad_keys_load(self, call, 0, &keys)) < 0)
        goto done;
    if ((doc = NJ->new_object()) == NULL || (regions = nomad_jobj(doc, "regions")) == NULL) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    nomad_api_ctx a = {self, call, &keys};
    for (size_t i = 0; i < c.nregions && error == 0; i++) {
        infra_json *reg = nomad_jobj(regions, c.regions[i].name);
        error = reg ? region_status(&a, &c.regions[i], reg) : INFRA_EINTERNAL;
        if (error == 0) {
            const nomad_region *r = &c.regions[i];
            const nomad_node *via = nomad_api_any_server(&a, r, NOMAD_AGENT_NOMAD, NULL);
            error = region_env(self, r, via ? via : r->nservers ? r->servers[0] : NULL, reg);
        }
        /* a federated region: where its ACLs come from, and how far they came */
        infra_json *rep = NULL;
        if (error == 0 && c.primary &&
            nomad_cluster_authority(&c, c.regions[i].name) == c.primary &&
            (error = nomad_replication_status(&a, &c, &c.regions[i], &rep)) == 0)
            error = pu_json_set(reg, "replication", rep);
    }
    if (error == 0) {
        *out = doc;
        doc = NULL;
    }
done:
    NJ->release(doc);
    nomad_keys_free(&keys);
    nomad_cluster_free(&c);
    return error;
}
