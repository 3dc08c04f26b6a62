/* The scheduler bridge (see scheduler.h). */
#include "engine/scheduler.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/host.h"
#include "services/log.h"
#include "topology/topology_int.h"
#include "base/file.h"
#include "base/util.h"

/* How long a region may take to elect a leader and register every node. */
#define SCHEDULER_READY_MS (20 * 60 * 1000)

typedef struct bridge {
    engine *e;
    size_t provider;                /* engine provider index */
    const topo_cluster *cluster;    /* borrowed from the topology */
    const infra_scheduler_ops *ops; /* the scheduler plugin's */
    infra_scheduler *ctx;           /* its context */
} bridge;

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
static json_t *node_json(const topo_cluster *c, const char *address, const char *role,
                         const char *region, const char *dc, json_int_t index,
                         const json_t *attrs)
{
    char *name = topo_node_name(address);
    const char *private_ip = str(attrs, "private_ip");
    const char *public_ip = str(attrs, "public_ip");
    const char *user = str(attrs, "ssh_user");
    const char *key = str(attrs, "ssh_private_key");
    json_t *port = json_object_get(attrs, "ssh_port");
    if (!user)
        user = str(c->settings, "ssh_user");
    if (!key)
        key = str(c->settings, "ssh_private_key");
    json_t *ssh = json_pack("{s:o, s:I, s:s, s:o, s:o}", "host",
                            str_or_null(public_ip ? public_ip : private_ip), "port",
                            json_is_integer(port) ? json_integer_value(port) : (json_int_t)22,
                            "user", user ? user : "root", "private_key", str_or_null(key),
                            "host_key_sha256", str_or_null(str(attrs, "ssh_host_key_fingerprint")));
    json_t *node = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "address",
                             address, "name", name, "role", role, "region", region, "datacenter",
                             dc, "index", index, "id", str_or_null(str(attrs, "id")),
                             "private_ip", str_or_null(private_ip), "public_ip",
                             str_or_null(public_ip), "hostname",
                             str_or_null(str(attrs, "hostname")), "ssh", ssh);
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
                                              node_json(c, address, rname, reg->name, dc->name,
                                                        i, attrs));
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
static json_t *agent_node(bridge *b, const json_t *config)
{
    const char *address = str(config, "instance");
    if (!address)
        return NULL;
    json_t *attrs = state_attributes(b->e, address);
    json_t *node = node_json(b->cluster, address, str(config, "role") ? str(config, "role") : "",
                             str(config, "region") ? str(config, "region") : "",
                             str(config, "datacenter") ? str(config, "datacenter") : "",
                             json_integer_value(json_object_get(config, "index")), attrs);
    json_decref(attrs);
    return node;
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */

static void say(infra_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(infra_call *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    host_table()->diag(call, INFRA_DIAG_ERROR, "", msg);
    free(msg);
}

#define HAS_OP(b, op) INFRA_HAS_SLOT_T(infra_scheduler_ops, (b)->ops, op)

static int agent_apply(bridge *b, infra_call *call, const json_t *prior, const json_t *planned)
{
    int error = 0;
    json_t *cluster = cluster_json(b->e, b->cluster);
    json_t *node = agent_node(b, planned ? planned : prior);
    if (!node) {
        say(call, "the agent does not name its instance");
        error = INFRA_EINTERNAL;
    } else if (planned) {
        if (!HAS_OP(b, node_bootstrap)) {
            say(call, "scheduler \"%s\" cannot bootstrap nodes", b->cluster->scheduler);
            error = INFRA_ENOTSUP;
        } else {
            error = b->ops->node_bootstrap(b->ctx, call, host_json(cluster), host_json(node));
        }
    } else if (HAS_OP(b, node_remove)) {
        error = b->ops->node_remove(b->ctx, call, host_json(cluster), host_json(node));
        if (error == INFRA_ENOTFOUND)
            error = 0;
    }
    json_decref(node);
    json_decref(cluster);
    return error;
}

/* After the region's servers changed (one replaced, one added), every
 * node is bootstrapped again, one at a time and servers first, so that
 * each names the current servers; the plugin restarts only the agents
 * whose configuration really changed. */
static int region_refresh(bridge *b, infra_call *call, const json_t *cluster, const char *region)
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
                if ((error = b->ops->node_bootstrap(b->ctx, call, host_json(cluster),
                                                    host_json(node))) < 0)
                    return error;
            }
        }
    }
    return error;
}

static int region_apply(bridge *b, infra_call *call, const json_t *prior, const json_t *planned)
{
    if (!planned)
        return 0; /* a region is gone when its nodes are */
    json_t *cluster = cluster_json(b->e, b->cluster);
    int error = 0;
    /* Only a change of servers changes what the other nodes are told. */
    if (prior && HAS_OP(b, node_bootstrap) &&
        !json_equal(json_object_get(prior, "servers"), json_object_get(planned, "servers")))
        error = region_refresh(b, call, cluster, str(planned, "region"));
    if (error == 0 && HAS_OP(b, wait_ready))
        error = b->ops->wait_ready(b->ctx, call, host_json(cluster), str(planned, "region"),
                                   SCHEDULER_READY_MS);
    json_decref(cluster);
    return error;
}

static int federation_apply(bridge *b, infra_call *call, const json_t *planned)
{
    if (!planned)
        return 0;
    const json_t *regions = json_object_get(planned, "regions");
    if (json_array_size(regions) < 2)
        return 0;
    if (!HAS_OP(b, federate)) {
        say(call, "scheduler \"%s\" cannot federate regions", b->cluster->scheduler);
        return INFRA_ENOTSUP;
    }
    json_t *cluster = cluster_json(b->e, b->cluster);
    const char *first = json_string_value(json_array_get(regions, 0));
    int error = 0;
    for (size_t i = 1; i < json_array_size(regions) && error == 0; i++)
        error = b->ops->federate(b->ctx, call, host_json(cluster), first,
                                 json_string_value(json_array_get(regions, i)));
    json_decref(cluster);
    return error;
}

/* The job of plugin.h: the planned config plus the file's text. */
static int job_json(infra_call *call, const json_t *planned, json_t **out)
{
    const char *file = str(planned, "file");
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    if (!file || util_read_file(file, &text, &len) < 0) {
        say(call, "cannot read the job file %s", file ? file : "(none)");
        return INFRA_EINVALID;
    }
    json_t *job = json_deep_copy(planned);
    json_t *content = json_stringn(text, len);
    free(text);
    if (!content) {
        json_decref(job);
        say(call, "the job file %s is not UTF-8 text", file);
        return INFRA_EINVALID;
    }
    json_object_set_new(job, "kind", json_string(str(planned, "kind") ? str(planned, "kind")
                                                                      : "job"));
    json_object_set_new(job, "content", content);
    json_object_del(job, "status");
    *out = job;
    return 0;
}

static int job_apply(bridge *b, infra_call *call, const char *type, const json_t *prior,
                     const json_t *planned, json_t **status)
{
    int error = 0;
    json_t *cluster = cluster_json(b->e, b->cluster);
    *status = NULL;
    if (!planned) {
        if (HAS_OP(b, job_stop))
            error = b->ops->job_stop(b->ctx, call, host_json(cluster), str(prior, "id"));
        if (error == INFRA_ENOTFOUND)
            error = 0;
    } else if (!HAS_OP(b, job_submit)) {
        say(call, "scheduler \"%s\" cannot run %ss", b->cluster->scheduler, type);
        error = INFRA_ENOTSUP;
    } else {
        json_t *job = NULL;
        if ((error = job_json(call, planned, &job)) == 0) {
            json_object_set_new(job, "kind", json_string(type));
            infra_json *st = NULL;
            error = b->ops->job_submit(b->ctx, call, host_json(cluster), host_json(job), &st);
            *status = host_jansson(st);
        }
        json_decref(job);
    }
    json_decref(cluster);
    return error;
}

static int bridge_apply(infra_provider *self, infra_call *call, const char *type,
                        const infra_json *prior_h, const infra_json *planned_h,
                        const void *private_in, size_t private_in_len, infra_json **new_state,
                        void **private_out, size_t *private_out_len)
{
    bridge *b = (bridge *)self;
    const json_t *prior = host_jansson(prior_h), *planned = host_jansson(planned_h);
    json_t *status = NULL;
    int error = 0;

    *new_state = NULL;
    if (!strcmp(type, "cluster_agent"))
        error = agent_apply(b, call, prior, planned);
    else if (!strcmp(type, "cluster_region"))
        error = region_apply(b, call, prior, planned);
    else if (!strcmp(type, "cluster_federation"))
        error = federation_apply(b, call, planned);
    else if (!strcmp(type, "job") || !strcmp(type, "app"))
        error = job_apply(b, call, type, prior, planned, &status);
    else
        error = INFRA_ENOTSUP;
    if (error == 0 && planned) {
        json_t *st = json_deep_copy(planned);
        const char *id = !strcmp(type, "cluster_agent") ? str(planned, "node")
                         : !strcmp(type, "cluster_region") ? str(planned, "region")
                         : !strcmp(type, "cluster_federation") ? b->cluster->name
                                                               : str(planned, "id");
        json_object_set_new(st, "id", json_string(id ? id : ""));
        if (status)
            json_object_set(st, "status", status);
        *new_state = host_json(st);
    }
    json_decref(status);
    return error;
}

static int bridge_read(infra_provider *self, infra_call *call, const char *type,
                       const infra_json *state_h, const void *private_in, size_t private_in_len,
                       infra_json **out)
{
    bridge *b = (bridge *)self;
    const json_t *st = host_jansson(state_h);
    *out = NULL;
    if (!st)
        return INFRA_ENOTFOUND; /* creates are idempotent: nothing to adopt */
    json_t *now = json_deep_copy(st);
    if ((!strcmp(type, "job") || !strcmp(type, "app")) && HAS_OP(b, job_status)) {
        json_t *cluster = cluster_json(b->e, b->cluster);
        infra_json *status = NULL;
        int error = b->ops->job_status(b->ctx, call, host_json(cluster), str(st, "id"), &status);
        json_decref(cluster);
        if (error < 0) {
            json_decref(host_jansson(status));
            json_decref(now);
            return error;
        }
        if (status)
            json_object_set_new(now, "status", host_jansson(status));
    }
    *out = host_json(now);
    return 0;
}

static void bridge_close(infra_provider *self)
{
    bridge *b = (bridge *)self;
    if (!b)
        return;
    if (b->ctx && HAS_OP(b, close))
        b->ops->close(b->ctx);
    free(b);
}

static const infra_provider_ops bridge_ops = {
    .size = sizeof(infra_provider_ops),
    .apply = bridge_apply,
    .read = bridge_read,
    .close = bridge_close,
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
    json_t *region = json_pack("{s:{s:o, s:o, s:o, s:o}}", "attributes", "region",
                               attr("string", 1, 0, 0, "region"), "servers",
                               attr("list", 0, 0, 0, "server addresses"), "nodes",
                               attr("any", 0, 0, 0, "instance ids of its nodes"), "id",
                               attr("string", 0, 1, 0, "region"));
    json_t *federation = json_pack("{s:{s:o, s:o, s:o}}", "attributes", "regions",
                                   attr("list", 1, 0, 0, "federated regions"), "servers",
                                   attr("any", 0, 0, 0, "server addresses per region"), "id",
                                   attr("string", 0, 1, 0, "cluster"));
    json_t *job = job_type(), *app = job_type();
    json_t *schema = json_pack("{s:{s:o, s:o, s:o, s:o, s:o}}", "resources", "cluster_agent",
                               agent, "cluster_region", region, "cluster_federation", federation,
                               "job", job, "app", app);
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
    if (!e->scanned) {
        loader_scan(&e->ld);
        e->scanned = 1;
    }
    const loader_plugin *lp = loader_find(&e->ld, name, INFRA_PLUGIN_SCHEDULER, err);
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
    p->sched = desc->scheduler;
    p->bridge = *desc;
    p->bridge.kind = INFRA_PLUGIN_PROVIDER;
    p->bridge.provider = &bridge_ops;
    p->bridge.scheduler = NULL;
    /* Bootstrapping and submitting are idempotent: a retried create after a
     * crash is simply done again. */
    p->bridge.capabilities = INFRA_CAP_TOKEN_CREATE | (desc->capabilities & INFRA_CAP_CONCURRENT);
    p->desc = &p->bridge;
    p->ops = &bridge_ops;
    p->limit = p->decl->parallelism > 0 ? p->decl->parallelism : 0;
    if (!(desc->capabilities & INFRA_CAP_CONCURRENT))
        p->limit = 1;

    json_t *settings = NULL;
    if (INFRA_HAS_SLOT_T(infra_scheduler_ops, p->sched, schema)) {
        engine_call call;
        infra_json *out = NULL;
        engine_call_init(&call, e, "", i, NULL);
        int rc = p->sched->schema(&call.call, &out);
        if (rc == 0 && json_is_object(host_jansson(out)))
            settings = json_incref(json_object_get(host_jansson(out), "settings"));
        else if (rc < 0 && rc != INFRA_ENOTSUP)
            diag_add(diags, DIAG_ERROR, &c->loc, key, "scheduler \"%s\": cannot read its schema: %s",
                     desc->name, engine_call_error(&call, rc));
        json_decref(host_jansson(out));
        engine_call_clear(&call);
    }
    p->schema = bridge_schema(settings);
    p->types = json_object_get(p->schema, "resources");
    json_decref(settings);
done:
    free(err);
    free(key);
    return error;
}

int scheduler_provider_configure(engine *e, size_t i, engine_call *c, infra_provider **out)
{
    engine_provider *p = &e->providers[i];
    const topo_cluster *c_decl = provider_cluster(e, i);
    bridge *b = util_calloc(1, sizeof(*b));
    int error = 0;

    *out = NULL;
    b->e = e;
    b->provider = i;
    b->cluster = c_decl;
    b->ops = p->sched;
    if (INFRA_HAS_SLOT_T(infra_scheduler_ops, p->sched, configure)) {
        json_t *settings = json_deep_copy(c_decl->settings);
        json_object_set_new(settings, "name", json_string(c_decl->name));
        json_object_set_new(settings, "environment", json_string(e->env));
        error = p->sched->configure(&c->call, host_json(settings), &b->ctx);
        json_decref(settings);
    }
    if (error < 0) {
        free(b);
        return error;
    }
    *out = (infra_provider *)b;
    return 0;
}

int scheduler_provider_validate(engine *e, size_t i, engine_call *c)
{
    engine_provider *p = &e->providers[i];
    if (!p->sched || !INFRA_HAS_SLOT_T(infra_scheduler_ops, p->sched, validate))
        return 0;
    json_t *cluster = cluster_json(e, provider_cluster(e, i));
    int error = p->sched->validate(&c->call, host_json(cluster));
    json_decref(cluster);
    return error;
}

int scheduler_cluster_status(engine *e, size_t i, json_t **out, char **err)
{
    engine_provider *p = &e->providers[i];
    infra_provider *ctx = NULL;
    *out = NULL;
    if (!p->sched || !INFRA_HAS_SLOT_T(infra_scheduler_ops, p->sched, cluster_status))
        return INFRA_ENOTSUP;
    int error = engine_provider_ctx(e, i, &ctx, err);
    if (error < 0)
        return error;
    bridge *b = (bridge *)ctx;
    engine_call c;
    infra_json *status = NULL;
    json_t *cluster = cluster_json(e, b->cluster);
    engine_call_init(&c, e, "", i, NULL);
    error = p->sched->cluster_status(b->ctx, &c.call, host_json(cluster), &status);
    if (error < 0) {
        *err = util_strdup(engine_call_error(&c, error));
        json_decref(host_jansson(status));
    } else {
        *out = host_jansson(status);
    }
    engine_call_clear(&c);
    json_decref(cluster);
    return error;
}
