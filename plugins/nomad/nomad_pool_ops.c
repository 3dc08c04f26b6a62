/* What infra does with a client pool it never logs in to: wait until the
 * expected number of its clients registered (through the region's
 * servers), and drain the clients of instances about to be removed by a
 * scale-in, so that the cloud terminates only empty nodes. A pool's
 * clients are its datacenter's nodes in Nomad's /v1/nodes, known by their
 * address: the instances' private addresses. */
#include "nomad.h"

#include <stdlib.h>
#include <string.h>

/* The pool's entry for address in a /v1/nodes list: its latest
 * registration (an instance replaced on the same address registers anew),
 * or NULL (borrowed). */
static const infra_json *entry_at(const infra_json *nodes, const char *datacenter,
                                  const char *address)
{
    const infra_json *best = NULL;
    for (size_t i = 0; i < NJ->length(nodes); i++) {
        const infra_json *e = NJ->at(nodes, i);
        const char *dc = pu_json_str(e, "Datacenter"), *addr = pu_json_str(e, "Address");
        if (dc && addr && strcmp(dc, datacenter) == 0 && strcmp(addr, address) == 0 &&
            (best == NULL ||
             NJ->integer(NJ->get(e, "CreateIndex")) > NJ->integer(NJ->get(best, "CreateIndex"))))
            best = e;
    }
    return best;
}

static int entry_ready(const infra_json *e)
{
    const char *st = pu_json_str(e, "Status"), *elig = pu_json_str(e, "SchedulingEligibility");
    int drain = 0;
    if (nomad_jbool(e, "Drain", 0, &drain) < 0)
        drain = 0;
    return st && strcmp(st, "ready") == 0 && (!elig || strcmp(elig, "eligible") == 0) && !drain;
}

/* One look: how many of the pool's clients are ready; the named addresses
 * are sorted into ready / not ready (with Nomad's status) / absent. */
static int pool_look(const nomad_api_ctx *a, const nomad_node *via, const char *region,
                     const char *datacenter, const char *const *addresses, size_t naddresses,
                     size_t *nready, nomad_strs *ready, nomad_strs *waiting, nomad_strs *absent)
{
    infra_json *nodes = NULL;
    char *what = pu_printf("region %s", region);
    int error = nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", "/v1/nodes", NULL, NOMAD_API_RETRY,
                               what, &nodes);
    free(what);
    if (error < 0)
        return error;
    *nready = 0;
    for (size_t i = 0; i < NJ->length(nodes); i++) {
        const infra_json *e = NJ->at(nodes, i);
        const char *dc = pu_json_str(e, "Datacenter"), *addr = pu_json_str(e, "Address");
        /* latest registration per address only */
        if (dc && addr && strcmp(dc, datacenter) == 0 && entry_at(nodes, dc, addr) == e &&
            entry_ready(e))
            (*nready)++;
    }
    for (size_t i = 0; i < naddresses; i++) {
        const infra_json *e = entry_at(nodes, datacenter, addresses[i]);
        if (e == NULL)
            nomad_strs_add(absent, addresses[i]);
        else if (entry_ready(e))
            nomad_strs_add(ready, addresses[i]);
        else
            nomad_strs_addf(waiting, "%s (%s%s)", addresses[i],
                            pu_json_str(e, "Status") ? pu_json_str(e, "Status") : "?",
                            pu_json_str(e, "SchedulingEligibility") &&
                                    strcmp(pu_json_str(e, "SchedulingEligibility"), "eligible")
                                ? ", ineligible"
                                : "");
    }
    NJ->release(nodes);
    return 0;
}

int nomad_pool_wait(const nomad_api_ctx *a, const nomad_region *r, const char *datacenter,
                    size_t expected, const char *const *addresses, size_t naddresses,
                    int64_t deadline)
{
    int64_t start = pu_host->now_ms();
    nomad_strs ready = {0}, waiting = {0}, absent = {0};
    size_t nready = 0;
    int error = 0, answered = 0;
    for (;;) {
        nomad_strs_free(&ready);
        nomad_strs_free(&waiting);
        nomad_strs_free(&absent);
        const nomad_node *via = nomad_api_any_server(a, r, NOMAD_AGENT_NOMAD, NULL);
        answered = via != NULL;
        if (via != NULL &&
            (error = pool_look(a, via, r->name, datacenter, addresses, naddresses, &nready, &ready,
                               &waiting, &absent)) < 0 &&
            error != INFRA_ETRANSIENT)
            goto done;
        error = 0;
        if (answered && nready >= expected && absent.n == 0 && waiting.n == 0)
            break;
        if (pu_host->now_ms() >= deadline) {
            long long secs = (long long)((pu_host->now_ms() - start) / 1000);
            if (!answered) {
                pu_diagf(a->call, "", "region %s, pool %s: no Nomad server answers after %lld s",
                         r->name, datacenter, secs);
            } else {
                char *r1 = nomad_strs_join(&ready), *r2 = nomad_strs_join(&waiting);
                char *r3 = nomad_strs_join(&absent);
                pu_diagf(a->call, "",
                         "region %s, pool %s: %zu of %zu clients ready after %lld s; ready: %s; "
                         "registered, not ready: %s; instances not registered: %s",
                         r->name, datacenter, nready, expected, secs, r1, r2, r3);
                free(r1);
                free(r2);
                free(r3);
            }
            error = INFRA_ETRANSIENT;
            goto done;
        }
        if ((error = nomad_sleep_until(a->call, 1000, deadline)) < 0)
            goto done;
    }
    pu_logf(a->call, INFRA_LOG_INFO, "region %s, pool %s: %zu clients ready", r->name, datacenter,
            nready);
done:
    nomad_strs_free(&ready);
    nomad_strs_free(&waiting);
    nomad_strs_free(&absent);
    return error;
}

int nomad_pool_drain(const nomad_api_ctx *a, const nomad_region *r, const char *datacenter,
                     const char *address, int64_t drain_deadline_ms)
{
    const nomad_node *via = nomad_api_any_server(a, r, NOMAD_AGENT_NOMAD, NULL);
    if (via == NULL) {
        /* Terminating an undrained node is what this is for avoiding. */
        pu_diagf(a->call, "", "region %s, pool %s: no Nomad server answers to drain %s", r->name,
                 datacenter, address);
        return INFRA_ETRANSIENT;
    }
    infra_json *nodes = NULL;
    char *what = pu_printf("region %s", r->name);
    int error = nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", "/v1/nodes", NULL, NOMAD_API_RETRY,
                               what, &nodes);
    free(what);
    if (error < 0)
        return error;
    const infra_json *e = entry_at(nodes, datacenter, address);
    char *id = e && pu_json_str(e, "ID") ? pu_strdup(pu_json_str(e, "ID")) : NULL;
    const char *status = pu_json_str(e, "Status");
    int down = status && strcmp(status, "down") == 0;
    NJ->release(nodes);
    if (id == NULL || down) {
        /* Nothing runs there that Nomad does not already place elsewhere. */
        pu_logf(a->call, INFRA_LOG_INFO, "region %s, pool %s: %s is %s; nothing to drain", r->name,
                datacenter, address, id ? "down" : "not registered");
        free(id);
        return 0;
    }
    char *label = pu_printf("%s (pool %s)", address, datacenter);
    error = nomad_node_drain(a, via, id, label, drain_deadline_ms);
    free(label);
    free(id);
    return error;
}

/* ------------------------------------------------------------------ */
/* The scheduler ops (ABI 1.3)                                        */

/* The pool of region's datacenter in the host's cluster JSON (borrowed),
 * or NULL with a diagnostic. */
static const infra_json *pool_of(infra_call *call, const infra_json *cluster, const char *region,
                                 const char *datacenter)
{
    const infra_json *dc =
        NJ->get(NJ->get(NJ->get(NJ->get(cluster, "regions"), region), "datacenters"), datacenter);
    const infra_json *pool = NJ->get(dc, "pool");
    if (pool == NULL || NJ->type(pool) != INFRA_JSON_OBJECT)
        pu_diagf(call, "", "region %s, datacenter %s: no client pool", region ? region : "",
                 datacenter ? datacenter : "");
    return pool != NULL && NJ->type(pool) == INFRA_JSON_OBJECT ? pool : NULL;
}

int nomad_op_pool_user_data(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                            const char *region, const char *datacenter, infra_secret **out)
{
    nomad_cluster c;
    nomad_keys keys = {0};
    nomad_node_cert cert = {0};
    infra_secret *token = NULL;
    char *tag = NULL, *join = NULL, *script = NULL;
    int error;

    *out = NULL;
    const infra_json *pool = pool_of(call, cluster, region, datacenter);
    if (pool == NULL)
        return INFRA_EINVALID;
    const char *cloud = pu_json_str(pool, "cloud");
    int gce = cloud != NULL && strcmp(cloud, "gcp") == 0;
    if (cloud == NULL || (strcmp(cloud, "aws") != 0 && !gce)) {
        /* Consul's cloud auto-join is written per provider (go-discover). */
        pu_diagf(call, "",
                 "region %s, pool %s: client pools on %s are not supported (aws and gcp only)",
                 region, datacenter, cloud ? cloud : "this provider");
        return INFRA_ENOTSUP;
    }
    if ((error = nomad_cluster_parse(call, cluster, 0, &c)) < 0)
        return error;
    if ((error = nomad_keys_load(self, call, 1, &keys)) < 0 ||
        (error = nomad_keys_pool_token(self, call, 1, &token)) < 0 ||
        (self->s.tls &&
         (error = nomad_pool_cert_load(self, call, &keys, region, datacenter, &cert)) < 0))
        goto done;
    const char *topology =
        INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(call) : "";
    tag = nomad_pool_join_tag(topology, self->environment, self->cluster, region);
    if (gce) {
        char *network_tag = nomad_pool_join_gce_tag(tag);
        join = nomad_pool_join_gce(pu_json_str(pool, "cloud_project"),
                                   pu_json_str(pool, "cloud_region"), network_tag);
        free(network_tag);
    } else {
        join = nomad_pool_join_aws(pu_json_str(pool, "cloud_region"), tag);
    }
    nomad_pool_in in = {.s = &self->s,
                        .cluster = self->cluster,
                        .region = region,
                        .datacenter = datacenter,
                        .authority = nomad_cluster_authority(&c, region),
                        .join = join};
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++)
        in.gossip[a] = keys.gossip[a] ? pu_host->secrets->value(keys.gossip[a]) : NULL;
    in.consul_token = token ? pu_host->secrets->value(token) : NULL;
    if (self->s.tls) {
        in.ca_pem = pu_host->secrets->value(keys.ca_cert);
        in.cert_pem = pu_host->secrets->value(cert.cert);
        in.key_pem = pu_host->secrets->value(cert.key);
    }
    if ((error = nomad_pool_user_data(&in, &script)) < 0)
        goto done;
    *out = pu_host->secrets->wrap(script);
    if (*out == NULL)
        error = INFRA_EINTERNAL;
done:
    if (script != NULL) {
        memset(script, 0, strlen(script));
        free(script);
    }
    free(tag);
    free(join);
    pu_host->secrets->free(token);
    nomad_node_cert_free(&cert);
    nomad_keys_free(&keys);
    nomad_cluster_free(&c);
    return error;
}

/* The cluster's region (with its servers' addresses) and the keys to ask
 * it with; the caller frees c and keys. */
static int pool_region(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                       const char *region, nomad_cluster *c, nomad_keys *keys,
                       const nomad_region **r)
{
    int error;
    if ((error = nomad_cluster_parse(call, cluster, 1, c)) < 0)
        return error;
    *r = nomad_cluster_region(c, region);
    if (*r == NULL || (*r)->nservers == 0) {
        pu_diagf(call, "", "region %s is not a region of cluster %s with servers",
                 region ? region : "", c->name);
        return INFRA_EINVALID;
    }
    return nomad_keys_load(self, call, 1, keys);
}

int nomad_op_pool_wait(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                       const char *region, const char *datacenter, const infra_json *instances,
                       int64_t expected, int64_t deadline_ms)
{
    nomad_cluster c;
    nomad_keys keys = {0};
    infra_secret *token = NULL;
    const nomad_region *r = NULL;
    const char **addresses = pu_calloc(NJ->length(instances) + 1, sizeof(*addresses));
    size_t n = 0;
    int error;

    memset(&c, 0, sizeof(c));
    for (size_t i = 0; i < NJ->length(instances); i++) {
        const char *ip = pu_json_str(NJ->at(instances, i), "private_ip");
        if (ip != NULL && *ip)
            addresses[n++] = ip;
    }
    if ((error = pool_region(self, call, cluster, region, &c, &keys, &r)) < 0)
        goto done;
    nomad_api_ctx a = {self, call, &keys};
    /* The pool's Consul token exists before its clients need it: made
     * here, once the region's servers answer, if an earlier run did not. */
    const nomad_region *auth = nomad_cluster_region(&c, nomad_cluster_authority(&c, region));
    if ((error = nomad_keys_pool_token(self, call, 1, &token)) < 0 ||
        (error = nomad_pool_token_ensure(&a, auth ? auth : r,
                                         token ? pu_host->secrets->value(token) : NULL)) < 0)
        goto done;
    int64_t limit = deadline_ms > 0 ? deadline_ms : self->s.node_deadline_ms;
    error = nomad_pool_wait(&a, r, datacenter, expected > 0 ? (size_t)expected : 0, addresses, n,
                            pu_host->now_ms() + limit);
done:
    pu_host->secrets->free(token);
    free(addresses);
    nomad_keys_free(&keys);
    nomad_cluster_free(&c);
    return error;
}

int nomad_op_pool_drain(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                        const char *region, const char *datacenter, const char *private_ip,
                        int64_t deadline_ms)
{
    nomad_cluster c;
    nomad_keys keys = {0};
    const nomad_region *r = NULL;
    int error;
    memset(&c, 0, sizeof(c));
    if ((error = pool_region(self, call, cluster, region, &c, &keys, &r)) == 0) {
        nomad_api_ctx a = {self, call, &keys};
        error = nomad_pool_drain(&a, r, datacenter, private_ip,
                                 deadline_ms > 0 ? deadline_ms : self->s.node_deadline_ms);
    }
    nomad_keys_free(&keys);
    nomad_cluster_free(&c);
    return error;
}
