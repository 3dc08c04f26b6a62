/* The scheduler bridge (see scheduler.h). */
#include "engine/scheduler.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/util.h"
#include "engine/call.h"
#include "engine/ssh_login.h"
#include "plugin/host.h"
#include "services/log.h"
#include "topology/topology_int.h"

/* How long a region may take to elect a leader and register every node. */
#define SCHEDULER_READY_MS (20 * 60 * 1000)

/* ------------------------------------------------------------------ */
/* The cluster and node descriptions                                  */

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* NODE of plugin.h for the instance at address, from its state attributes
 * (attrs may be NULL: a node whose instance is gone). */
static json_t *node_json(engine *e, const topo_cluster *c, const char *address, const char *role,
                         int also_client, const char *region, const char *dc, json_int_t index,
                         const json_t *attrs)
{
    char *name = topo_node_name(address);
    const char *private_ip = str(attrs, "private_ip");
    const char *public_ip = str(attrs, "public_ip");
    json_t *ssh = ssh_login_json(e, address, attrs, c->settings);
    json_t *node = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "address",
                             address, "name", name, "role", role, "region", region, "datacenter",
                             dc, "index", index, "id", str_or_null(str(attrs, "id")),
                             "private_ip", str_or_null(private_ip), "public_ip",
                             str_or_null(public_ip), "hostname",
                             str_or_null(str(attrs, "hostname")), "ssh", ssh);
    if (also_client)
        json_object_set_new(node, "client", json_true());
    free(name);
    return node;
}

/* The state attributes of the resource at address (new reference), or NULL. */
static json_t *state_attributes(engine *e, const char *address)
{
    json_t *entry = state_get(e->st, address);
    json_t *attrs = json_incref(json_object_get(entry, "attributes"));
    json_decref(entry);
    return attrs;
}

/* A pool datacenter's "pool": its group, and the cloud its instances run
 * on (the provider's plugin and region), for the scheduler's auto-join. */
static json_t *pool_json(const engine *e, const topo_datacenter *dc)
{
    int p = dc->provider ? engine_provider_index(e, dc->provider) : -1;
    const char *cloud = p >= 0 && e->providers[p].desc ? e->providers[p].desc->name : "";
    const char *region = p >= 0 ? str(e->providers[p].settings, "region") : NULL;
    json_t *pool = json_pack("{s:s, s:s, s:s}", "resource", dc->pool, "template",
                             dc->pool_template ? dc->pool_template : "", "cloud", cloud);
    if (region && !strstr(region, "${"))
        json_object_set_new(pool, "cloud_region", json_string(region));
    /* gcp: the project the instances look for their servers in */
    const char *project = p >= 0 ? str(e->providers[p].settings, "project") : NULL;
    if (project && *project && !strstr(project, "${"))
        json_object_set_new(pool, "cloud_project", json_string(project));
    return pool;
}

static json_t *cluster_json(engine *e, const topo_cluster *c)
{
    json_t *regions = json_object();
    for (size_t r = 0; r < c->nregions; r++) {
        const topo_region *reg = &c->regions[r];
        json_t *dcs = json_object();
        for (size_t d = 0; d < reg->ndatacenters; d++) {
            const topo_datacenter *dc = &reg->datacenters[d];
            json_t *roles[2] = {json_array(), json_array()};
            for (int role = 0; role < 2; role++) {
                const char *rname = role ? "client" : "server";
                int n = role ? dc->clients : dc->servers;
                for (int i = 0; i < n; i++) {
                    char *address = util_printf("cluster.%s.%s.%s.%s[%d]", c->name, reg->name,
                                                dc->name, rname, i);
                    json_t *attrs = e->st ? state_attributes(e, address) : NULL;
                    if (attrs || !e->st)
                        json_array_append_new(roles[role],
                                              node_json(e, c, address, rname,
                                                        role == 0 && dc->servers_client, reg->name,
                                                        dc->name, i, attrs));
                    json_decref(attrs);
                    free(address);
                }
            }
            json_object_set_new(
                dcs, dc->name,
                json_pack("{s:s, s:O, s:o, s:o, s:o}", "provider", dc->provider ? dc->provider : "",
                          "settings", dc->settings, "node_settings",
                          dc->node_settings ? json_deep_copy(dc->node_settings) : json_object(),
                          "servers", roles[0], "clients", roles[1]));
            if (dc->pool)
                json_object_set_new(json_object_get(dcs, dc->name), "pool", pool_json(e, dc));
        }
        json_object_set_new(regions, reg->name, json_pack("{s:o}", "datacenters", dcs));
    }
    json_t *federate = json_array();
    for (size_t i = 0; i < c->nfederate; i++)
        json_array_append_new(federate, json_string(c->federate[i]));
    return json_pack("{s:s, s:s, s:s, s:O, s:o, s:o}", "name", c->name, "scheduler",
                     c->scheduler ? c->scheduler : "", "environment", e->env, "settings",
                     c->settings, "regions", regions, "federate", federate);
}

static const topo_cluster *provider_cluster(const engine *e, size_t i)
{
    return &e->topo->clusters[e->providers[i].decl->cluster];
}

json_t *scheduler_cluster_json(engine *e, size_t i)
{
    return cluster_json(e, provider_cluster(e, i));
}

/* The NODE of an agent resource: config (planned or prior) names its
 * instance, role, region, datacenter and index. */
static json_t *agent_node(engine *e, const topo_cluster *cluster, const json_t *config)
{
    const char *address = str(config, "instance");
    if (!address)
        return NULL;
    json_t *attrs = state_attributes(e, address);
    json_t *node = node_json(e, cluster, address, str(config, "role") ? str(config, "role") : "",
                             json_is_true(json_object_get(config, "client")),
                             str(config, "region") ? str(config, "region") : "",
                             str(config, "datacenter") ? str(config, "datacenter") : "",
                             json_integer_value(json_object_get(config, "index")), attrs);
    json_decref(attrs);
    return node;
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */

static void say(engine_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(engine_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    host_table()->diag(&c->call, INFRA_DIAG_ERROR, "", msg);
    free(msg);
}

static int agent_apply(engine_call *c, const topo_cluster *cluster, const json_t *prior,
                       const json_t *planned)
{
    int error = 0;
    json_t *cj = cluster_json(c->e, cluster);
    json_t *node = agent_node(c->e, cluster, planned ? planned : prior);
    if (!node) {
        say(c, "the agent does not name its instance");
        error = INFRA_EINTERNAL;
    } else if (planned) {
        error = call_node_bootstrap(c, cj, node);
    } else {
        error = call_node_remove(c, cj, node);
    }
    json_decref(node);
    json_decref(cj);
    return error;
}

/* After the region's servers changed (one replaced, one added), every
 * node is bootstrapped again, one at a time and servers first, so that
 * each names the current servers; the plugin restarts only the agents
 * whose configuration really changed. */
static int region_refresh(engine_call *c, const json_t *cluster, const char *region)
{
    const json_t *dcs =
        json_object_get(json_object_get(json_object_get(cluster, "regions"), region),
                        "datacenters");
    static const char *const roles[] = {"servers", "clients"};
    int error = 0;
    for (int role = 0; role < 2 && error == 0; role++) {
        const char *name;
        json_t *dc;
        json_object_foreach((json_t *)dcs, name, dc) {
            size_t k;
            json_t *node;
            json_array_foreach(json_object_get(dc, roles[role]), k, node) {
                if ((error = call_node_bootstrap(c, cluster, node)) < 0)
                    return error;
            }
        }
    }
    return error;
}

static int region_apply(engine_call *c, const topo_cluster *cluster, const json_t *prior,
                        const json_t *planned)
{
    if (!planned)
        return 0; /* a region is gone when its nodes are */
    json_t *cj = cluster_json(c->e, cluster);
    int error = 0;
    /* Only a change of servers changes what the other nodes are told. */
    if (prior && call_sched_has_bootstrap(c->e, c->provider) &&
        !json_equal(json_object_get(prior, "servers"), json_object_get(planned, "servers")))
        error = region_refresh(c, cj, str(planned, "region"));
    if (error == 0)
        error = call_wait_ready(c, cj, str(planned, "region"), SCHEDULER_READY_MS);
    json_decref(cj);
    return error;
}

static int federation_apply(engine_call *c, const topo_cluster *cluster, const json_t *planned)
{
    if (!planned)
        return 0;
    const json_t *regions = json_object_get(planned, "regions");
    if (json_array_size(regions) < 2)
        return 0;
    json_t *cj = cluster_json(c->e, cluster);
    const char *first = json_string_value(json_array_get(regions, 0));
    int error = 0;
    for (size_t i = 1; i < json_array_size(regions) && error == 0; i++)
        error = call_federate(c, cj, first, json_string_value(json_array_get(regions, i)));
    json_decref(cj);
    return error;
}

/* The job of plugin.h: the planned config plus the file's text. */
static int job_json(engine_call *c, const json_t *planned, json_t **out)
{
    const char *file = str(planned, "file");
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    if (!file || util_read_file(file, &text, &len) < 0) {
        say(c, "cannot read the job file %s", file ? file : "(none)");
        return INFRA_EINVALID;
    }
    json_t *job = json_deep_copy(planned);
    json_t *content = json_stringn(text, len);
    free(text);
    if (!content) {
        json_decref(job);
        say(c, "the job file %s is not UTF-8 text", file);
        return INFRA_EINVALID;
    }
    json_object_set_new(job, "kind", json_string(str(planned, "kind") ? str(planned, "kind")
                                                                      : "job"));
    json_object_set_new(job, "content", content);
    json_object_del(job, "status");
    *out = job;
    return 0;
}

static int job_apply(engine_call *c, const topo_cluster *cluster, const char *type,
                     const json_t *prior, const json_t *planned, json_t **status)
{
    int error = 0;
    json_t *cj = cluster_json(c->e, cluster);
    *status = NULL;
    if (!planned) {
        error = call_job_stop(c, cj, str(prior, "id"));
    } else if (!call_sched_has_jobs(c->e, c->provider)) {
        say(c, "scheduler \"%s\" cannot run %ss", cluster->scheduler, type);
        error = INFRA_ENOTSUP;
    } else {
        json_t *job = NULL;
        if ((error = job_json(c, planned, &job)) == 0) {
            json_object_set_new(job, "kind", json_string(type));
            error = call_job_submit(c, cj, job, status);
        }
        json_decref(job);
    }
    json_decref(cj);
    return error;
}

/* The instances of a pool's group as its state records them:
 * [{"id", "private_ip"}] (new value). */
static json_t *group_instances(const json_t *attrs)
{
    json_t *out = json_array();
    const json_t *addrs = json_object_get(attrs, "instance_addresses");
    size_t i;
    json_t *v;
    if (json_is_array(addrs)) {
        json_array_foreach(addrs, i, v)
            if (json_is_object(v))
                json_array_append_new(out, json_deep_copy(v));
        return out;
    }
    json_array_foreach(json_object_get(attrs, "instances"), i, v)
        if (json_is_string(v))
            json_array_append_new(out, json_pack("{s:O}", "id", v));
    return out;
}

/* How many instances the group keeps: its desired capacity (a gcp
 * managed group's size), else its min, else as many as it has. */
static json_int_t group_expected(const json_t *attrs)
{
    static const char *const keys[] = {"desired", "desired_capacity", "target_size", "size", "min",
                                       NULL};
    for (size_t k = 0; keys[k]; k++) {
        const json_t *v = json_object_get(attrs, keys[k]);
        if (json_is_integer(v))
            return json_integer_value(v);
        if (json_is_string(v) && *json_string_value(v))
            return strtoll(json_string_value(v), NULL, 10);
    }
    return (json_int_t)json_array_size(json_object_get(attrs, "instances"));
}

/* A client pool: once its group is up, until the expected number of its
 * clients registered by themselves (infra never logs in to them). */
static int pool_apply(engine_call *c, const topo_cluster *cluster, const json_t *planned)
{
    if (!planned)
        return 0; /* a pool is gone when its group is */
    const char *group = str(planned, "group");
    json_t *attrs = group ? state_attributes(c->e, group) : NULL;
    if (!attrs) {
        say(c, "the pool's group %s is not in the state", group ? group : "(none)");
        return INFRA_EINTERNAL;
    }
    json_t *cj = cluster_json(c->e, cluster);
    json_t *instances = group_instances(attrs);
    int error = call_pool_wait(c, cj, str(planned, "region"), str(planned, "datacenter"),
                               instances, group_expected(attrs), SCHEDULER_READY_MS);
    json_decref(instances);
    json_decref(attrs);
    json_decref(cj);
    return error;
}

static int bridge_apply(engine_call *c, const char *type, const json_t *prior,
                        const json_t *planned, json_t **new_state)
{
    const topo_cluster *cluster = provider_cluster(c->e, c->provider);
    json_t *status = NULL;
    int error = 0;

    *new_state = NULL;
    if (!strcmp(type, "cluster_agent"))
        error = agent_apply(c, cluster, prior, planned);
    else if (!strcmp(type, "cluster_region"))
        error = region_apply(c, cluster, prior, planned);
    else if (!strcmp(type, "cluster_federation"))
        error = federation_apply(c, cluster, planned);
    else if (!strcmp(type, "cluster_pool"))
        error = pool_apply(c, cluster, planned);
    else if (!strcmp(type, "job") || !strcmp(type, "app"))
        error = job_apply(c, cluster, type, prior, planned, &status);
    else
        error = INFRA_ENOTSUP;
    if (error == 0 && planned) {
        json_t *st = json_deep_copy(planned);
        const char *id = !strcmp(type, "cluster_agent") ? str(planned, "node")
                         : !strcmp(type, "cluster_region") ? str(planned, "region")
                         : !strcmp(type, "cluster_federation") ? cluster->name
                         : !strcmp(type, "cluster_pool")       ? str(planned, "group")
                                                               : str(planned, "id");
        json_object_set_new(st, "id", json_string(id ? id : ""));
        if (status)
            json_object_set(st, "status", status);
        *new_state = st;
    }
    json_decref(status);
    return error;
}

static int bridge_read(engine_call *c, const char *type, const json_t *st, json_t **out)
{
    *out = NULL;
    if (!st)
        return INFRA_ENOTFOUND; /* creates are idempotent: nothing to adopt */
    json_t *now = json_deep_copy(st);
    if (!strcmp(type, "job") || !strcmp(type, "app")) {
        json_t *cj = cluster_json(c->e, provider_cluster(c->e, c->provider));
        json_t *status = NULL;
        int error = call_job_status(c, cj, str(st, "id"), &status);
        json_decref(cj);
        if (error < 0 && error != INFRA_ENOTSUP) {
            json_decref(now);
            return error;
        }
        if (status)
            json_object_set_new(now, "status", status);
    }
    *out = now;
    return 0;
}

static const engine_bridge bridge = {
    .apply = bridge_apply,
    .read = bridge_read,
};

/* ------------------------------------------------------------------ */
/* Loading                                                            */

static json_t *attr(const char *type, int required, int computed, int force_new, const char *desc)
{
    return json_pack("{s:s, s:b, s:b, s:b, s:s}", "type", type, "required", required, "computed",
                     computed, "force_new", force_new, "description", desc);
}

static json_t *job_type(void)
{
    return json_pack(
        "{s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}}", "attributes", "name",
        attr("string", 1, 0, 0, "the topology key"), "id",
        attr("string", 1, 0, 1, "the id it is submitted under: a new id is a new job"), "regions",
        attr("list", 1, 0, 0, "regions it runs in"), "file", attr("string", 1, 0, 0, "job file"),
        "format", attr("string", 1, 0, 0, "json or hcl"), "content_sha256",
        attr("string", 1, 0, 0, "digest of the file, so an edit is a change"), "set",
        attr("map", 0, 0, 0, "overrides"), "kind", attr("string", 0, 0, 0, "job or app"),
        "status", attr("any", 0, 1, 0, "health per region"));
}

static json_t *bridge_schema(const json_t *settings)
{
    json_t *agent = json_pack(
        "{s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}}", "attributes", "instance",
        attr("string", 1, 0, 0, "address of the node's instance"), "instance_id",
        attr("string", 1, 0, 1, "its id: a new instance is a new node"), "node",
        attr("string", 1, 0, 0, "node name"), "role", attr("string", 1, 0, 0, "server or client"),
        "region", attr("string", 1, 0, 0, "region"), "datacenter",
        attr("string", 1, 0, 0, "datacenter"), "index", attr("integer", 1, 0, 0, "index in role"),
        "private_ip", attr("string", 1, 0, 0, "node address"), "settings",
        attr("any", 0, 0, 0, "cluster settings"), "node_settings",
        attr("any", 0, 0, 0, "the datacenter's node_settings"), "id",
        attr("string", 0, 1, 0, "node name"));
    json_object_set_new(json_object_get(agent, "attributes"), "client",
                        attr("bool", 0, 0, 0, "a server that is also a client"));
    json_t *region = json_pack("{s:{s:o, s:o, s:o, s:o}}", "attributes", "region",
                               attr("string", 1, 0, 0, "region"), "servers",
                               attr("list", 0, 0, 0, "server addresses"), "nodes",
                               attr("any", 0, 0, 0, "instance ids of its nodes"), "id",
                               attr("string", 0, 1, 0, "region"));
    json_t *federation = json_pack("{s:{s:o, s:o, s:o}}", "attributes", "regions",
                                   attr("list", 1, 0, 0, "federated regions"), "servers",
                                   attr("any", 0, 0, 0, "server addresses per region"), "id",
                                   attr("string", 0, 1, 0, "cluster"));
    json_t *pool = json_pack(
        "{s:{s:o, s:o, s:o, s:o, s:o, s:o}}", "attributes", "region",
        attr("string", 1, 0, 0, "region"), "datacenter", attr("string", 1, 0, 0, "datacenter"),
        "group", attr("string", 1, 0, 0, "address of the autoscaling group"), "group_id",
        attr("string", 1, 0, 0, "its id"), "instances",
        attr("any", 0, 0, 0, "its instances: a change waits again"), "id",
        attr("string", 0, 1, 0, "the group's address"));
    json_t *job = job_type(), *app = job_type();
    json_t *schema = json_pack("{s:{s:o, s:o, s:o, s:o, s:o, s:o}}", "resources", "cluster_agent",
                               agent, "cluster_region", region, "cluster_federation", federation,
                               "cluster_pool", pool, "job", job, "app", app);
    if (json_is_object(settings)) {
        /* What the bridge itself reads: how to log in to nodes whose
         * instances do not say. */
        json_t *all = json_deep_copy(settings);
        if (!json_object_get(all, "ssh_user"))
            json_object_set_new(all, "ssh_user",
                                attr("string", 0, 0, 0, "login user on nodes whose instance has no ssh_user"));
        if (!json_object_get(all, "ssh_private_key"))
            json_object_set_new(all, "ssh_private_key",
                                attr("string", 0, 0, 0,
                                     "private key file for nodes whose instance has no ssh_private_key"));
        json_object_set_new(schema, "settings", all);
    }
    return schema;
}

static const infra_plugin *find_scheduler(engine *e, const char *name, char **err)
{
    for (size_t i = 0; e->builtin && e->builtin[i]; i++)
        if (e->builtin[i]->kind == INFRA_PLUGIN_SCHEDULER && !strcmp(e->builtin[i]->name, name))
            return e->builtin[i];
    const loader_plugin *lp = loader_require(&e->ld, name, INFRA_PLUGIN_SCHEDULER, err);
    return lp ? lp->desc : NULL;
}

int scheduler_provider_load(engine *e, size_t i, diag_list *diags)
{
    engine_provider *p = &e->providers[i];
    const topo_cluster *c = provider_cluster(e, i);
    char *key = util_printf("clusters.%s.scheduler", c->name);
    char *err = NULL;
    int error = 0;

    const infra_plugin *desc = find_scheduler(e, p->decl->plugin, &err);
    if (!desc || !desc->scheduler) {
        diag_add(diags, DIAG_ERROR, &c->loc, key, "%s",
                 err ? err : "the plugin has no scheduler operations");
        error = INFRA_EINVALID;
        goto done;
    }
    p->desc = desc;
    p->plugin = engine_plugin_add(e, desc);
    p->bridge = &bridge;
    /* Bootstrapping and submitting are idempotent: a retried create after a
     * crash is simply done again. */
    p->capabilities = INFRA_CAP_TOKEN_CREATE | (desc->capabilities & INFRA_CAP_CONCURRENT);
    p->limit = p->decl->parallelism > 0 ? p->decl->parallelism : 0;
    if (!(desc->capabilities & INFRA_CAP_CONCURRENT))
        p->limit = 1;
    p->settings = json_deep_copy(c->settings);
    json_object_set_new(p->settings, "name", json_string(c->name));
    json_object_set_new(p->settings, "environment", json_string(e->env));

    json_t *schema = NULL, *settings = NULL;
    engine_call call;
    call_init(&call, e, i, "", "schema", NULL);
    int rc = call_sched_schema(&call, &schema);
    if (rc == 0)
        settings = json_incref(json_object_get(schema, "settings"));
    else if (rc != INFRA_ENOTSUP)
        diag_add(diags, DIAG_ERROR, &c->loc, key, "scheduler \"%s\": cannot read its schema: %s",
                 desc->name, call_error(&call, rc));
    json_decref(schema);
    call_clear(&call);
    p->schema = bridge_schema(settings);
    p->types = json_object_get(p->schema, "resources");
    json_decref(settings);
done:
    free(err);
    free(key);
    return error;
}

int scheduler_provider_validate(engine *e, size_t i, engine_call *c)
{
    engine_provider *p = &e->providers[i];
    if (!p->bridge)
        return 0;
    json_t *cluster = cluster_json(e, provider_cluster(e, i));
    int error = call_sched_validate(c, cluster);
    json_decref(cluster);
    return error;
}

int scheduler_cluster_status(engine *e, size_t i, json_t **out, char **err)
{
    engine_provider *p = &e->providers[i];
    *out = NULL;
    if (!p->bridge)
        return INFRA_ENOTSUP;
    engine_call c;
    json_t *cluster = cluster_json(e, provider_cluster(e, i));
    call_init(&c, e, i, "", "cluster_status", NULL);
    int error = call_cluster_status(&c, cluster, out);
    if (error < 0 && error != INFRA_ENOTSUP)
        *err = util_strdup(call_error(&c, error));
    call_clear(&c);
    json_decref(cluster);
    return error;
}

/* ------------------------------------------------------------------ */
/* Client pools, for the engine                                       */

/* The scheduler provider and cluster of a pool resource; -1 when none. */
static int pool_provider(engine *e, const topo_resource *res, const topo_cluster **cluster)
{
    if (!res || !res->pool_cluster)
        return -1;
    char *name = util_printf("cluster.%s", res->pool_cluster);
    int p = engine_provider_index(e, name);
    free(name);
    if (p < 0 || !e->providers[p].bridge)
        return -1;
    *cluster = provider_cluster(e, (size_t)p);
    return p;
}

int scheduler_pool_user_data(engine *e, const topo_resource *res, char **out, char **err)
{
    const topo_cluster *cluster = NULL;
    int p = pool_provider(e, res, &cluster);
    *out = NULL;
    *err = NULL;
    if (p < 0)
        return INFRA_ENOTFOUND;
    engine_call c;
    json_t *cj = cluster_json(e, cluster);
    call_init(&c, e, (size_t)p, res->address, "pool_user_data", NULL);
    int error = call_pool_user_data(&c, cj, res->pool_region, res->pool_datacenter, out);
    if (error < 0)
        *err = util_printf("scheduler \"%s\": %s", cluster->scheduler,
                           call_error(&c, error));
    call_clear(&c);
    json_decref(cj);
    return error;
}

int scheduler_pool_scale_in(engine *e, const topo_resource *res, const json_t *prior,
                            json_int_t keep, json_t **victims, char **err)
{
    const topo_cluster *cluster = NULL;
    int p = pool_provider(e, res, &cluster);
    *victims = NULL;
    *err = NULL;
    if (p < 0 || res->pool_template)
        return 0;
    json_t *instances = group_instances(prior);
    if ((json_int_t)json_array_size(instances) <= keep) {
        json_decref(instances);
        return 0;
    }
    /* The newest instances go (the last the group lists), each drained
     * first; none is terminated unless every drain is done. */
    json_t *going = json_array();
    engine_call c;
    json_t *cj = cluster_json(e, cluster);
    int error = 0;
    call_init(&c, e, (size_t)p, res->address, "pool_drain", NULL);
    for (size_t i = (size_t)(keep > 0 ? keep : 0); i < json_array_size(instances) && error == 0;
         i++) {
        const json_t *inst = json_array_get(instances, i);
        const char *ip = str(inst, "private_ip");
        if (ip)
            error = call_pool_drain(&c, cj, res->pool_region, res->pool_datacenter, ip,
                                    SCHEDULER_READY_MS);
        if (error == 0 && str(inst, "id"))
            json_array_append_new(going, json_string(str(inst, "id")));
    }
    if (error < 0)
        *err = util_printf("scheduler \"%s\": %s", cluster->scheduler, call_error(&c, error));
    call_clear(&c);
    json_decref(cj);
    json_decref(instances);
    if (error < 0) {
        json_decref(going);
        return error;
    }
    *victims = going;
    return 0;
}
