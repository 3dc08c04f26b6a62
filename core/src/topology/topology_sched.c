/* What a cluster needs beyond its instances: the scheduler as a provider
 * ("cluster.NAME", served by the engine's scheduler bridge) and the
 * resources that bring the cluster up through it, in dependency order:
 *
 *   cluster.C.R.DC.server[i]          instance (topology_cluster.c)
 *   cluster_agent.C.R.DC.server[i]    the node's agents, bootstrapped over SSH
 *   cluster_region.C.R                leader elected, every node ready
 *   cluster_federation.C              the federated regions joined
 *   job.J / app.J                     work submitted to the cluster
 *
 * Their configurations hold references to the instances, so a replaced
 * instance re-bootstraps its agent (instance_id forces a replacement),
 * and a region or federation is brought up to date whenever a node
 * changed. An agent waits for the region's servers to exist, so that its
 * first configuration names them all; the region, which records the
 * server addresses, re-applies its agents when they change.
 * They are planned, applied and recorded like any resource. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "topology/topology_int.h"
#include "base/file.h"
#include "base/util.h"

/* "${TARGET}" as a template string. */
static json_t *ref(const char *target)
{
    char *text = util_printf("${%s}", target);
    json_t *v = json_string(text);
    free(text);
    return v;
}

/* A literal string kept fit for topology_eval. */
static json_t *literal(const char *text)
{
    util_buf b = {0};
    topo_escape(&b, text);
    char *s = util_buf_take(&b);
    json_t *v = json_string(s ? s : "");
    free(s);
    return v;
}

/* Node name from an instance address: "cluster.main.eu.dc-a.server[0]" ->
 * "main-eu-dc-a-server-0" (what the local provider also makes its hostname). */
char *topo_node_name(const char *address)
{
    const char *s = strchr(address, '.');
    util_buf b = {0};
    for (s = s ? s + 1 : address; *s; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            util_buf_put(&b, &c, 1);
        else if (c != ']' && b.len > 0 && b.data[b.len - 1] != '-')
            util_buf_put(&b, "-", 1);
    }
    while (b.len > 0 && b.data[b.len - 1] == '-')
        b.data[--b.len] = '\0';
    return util_buf_take(&b);
}

static size_t add(topo_ctx *ctx, char *address, const char *type, char *name, long index,
                  const char *provider, diag_loc loc, json_t *config, topo_deps *deps)
{
    size_t i = topo_add_resource(ctx, NULL, address, type, name, index, (size_t)-1);
    topo_resource *r = &ctx->topo->resources[i];
    r->loc = loc;
    r->provider = util_strdup(provider);
    r->config = config;
    r->deps = topo_deps_take(deps, &r->ndeps);
    return i;
}

static void add_provider(topo_ctx *ctx, const topo_cluster *c, size_t index)
{
    topology *t = ctx->topo;
    topo_priv *p = ctx->priv;
    t->providers = util_realloc(t->providers, (t->nproviders + 1) * sizeof(*t->providers));
    p->provider_bodies =
        util_realloc(p->provider_bodies, (t->nproviders + 1) * sizeof(*p->provider_bodies));
    topo_provider *prov = &t->providers[t->nproviders];
    memset(prov, 0, sizeof(*prov));
    prov->name = util_printf("cluster.%s", c->name);
    prov->plugin = util_strdup(c->scheduler);
    prov->settings = json_deep_copy(c->settings);
    prov->loc = c->loc;
    prov->scheduler = 1;
    prov->cluster = index;
    /* Settings errors point into the cluster's own mapping. */
    const ytree_node *body = ytree_get(ytree_get(ctx->root, "clusters"), c->name);
    p->provider_bodies[t->nproviders] = body && body->type == YTREE_MAP ? body : NULL;
    t->nproviders++;
}

/* The instance addresses of one role in region r (every datacenter). */
static void region_nodes(const topo_cluster *c, const topo_region *r, const char *role,
                         topo_deps *deps)
{
    for (size_t d = 0; d < r->ndatacenters; d++) {
        const topo_datacenter *dc = &r->datacenters[d];
        int n = !strcmp(role, "server") ? dc->servers : dc->clients;
        for (int i = 0; i < n; i++) {
            char *a = util_printf("cluster.%s.%s.%s.%s[%d]", c->name, r->name, dc->name, role, i);
            topo_deps_add(deps, a);
            free(a);
        }
    }
}

/* "${cluster.C.R.ROLEs[*].ATTR}", or [] when the region has none (a splat
 * over nothing is not a reference). */
static json_t *region_splat(const topo_cluster *c, const topo_region *r, const char *role,
                            const char *attr)
{
    int n = 0;
    for (size_t d = 0; d < r->ndatacenters; d++)
        n += !strcmp(role, "server") ? r->datacenters[d].servers : r->datacenters[d].clients;
    if (n == 0)
        return json_array();
    char *target = util_printf("cluster.%s.%s.%ss[*].%s", c->name, r->name, role, attr);
    json_t *v = ref(target);
    free(target);
    return v;
}

/* Re-evaluates the datacenter settings of a cluster node with references
 * allowed (an image looked up by a data source, a subnet...), recording
 * the resources they name as dependencies of the instance. */
static void node_settings(topo_ctx *ctx, topo_resource *node, const ytree_node *body,
                          const char *path, int quiet, topo_datacenter *dc)
{
    if (!body || body->type != YTREE_MAP)
        return;
    json_t *config = json_object();
    topo_deps deps = {.self = node->address};
    util_buf b = {0};
    util_buf_puts(&b, path);
    topo_scope sc = {.path = &b, .refs = 1, .count_index = -1, .template = 1, .deps = &deps,
                     .quiet = quiet};
    for (size_t k = 0; k < body->npairs; k++) {
        const char *key = body->pairs[k].key->text;
        size_t j = 0;
        while (topo_dc_meta[j] && strcmp(topo_dc_meta[j], key))
            j++;
        if (topo_dc_meta[j])
            continue;
        size_t mark = topo_path_key(&b, key);
        json_t *v = topo_eval_node(ctx, &sc, body->pairs[k].value);
        topo_path_pop(&b, mark);
        if (v)
            json_object_set_new(config, key, v);
    }
    util_buf_free(&b);
    /* depends_on: what every node of the datacenter waits for (a route, a
     * gateway) without naming it in an attribute. */
    topo_add_depends_on(ctx, ytree_get(body, "depends_on"), path, &deps, quiet);
    /* bastion: how SSH reaches nodes in a private network. */
    if (ytree_get(body, "bastion"))
        topo_add_bastion(ctx, ytree_get(body, "bastion"), path, node, &deps, quiet);
    if (!quiet)
        json_object_update(dc->settings, config);
    json_object_update(config, node->config); /* role, cluster, region, datacenter */
    json_decref(node->config);
    node->config = config;
    for (size_t k = 0; k < node->ndeps; k++)
        topo_deps_add(&deps, node->deps[k]);
    for (size_t k = 0; k < node->ndeps; k++)
        free(node->deps[k]);
    free(node->deps);
    node->self_ref |= deps.self_refs > 0;
    node->deps = topo_deps_take(&deps, &node->ndeps);
}

/* The group of the region's servers, which every agent of the region
 * waits for, as one node. NULL when the region has none. */
static const char *servers_group(topo_ctx *ctx, const topo_cluster *c, const topo_region *r)
{
    topo_deps servers = {0};
    region_nodes(c, r, "server", &servers);
    if (servers.n == 0) {
        topo_deps_free(&servers);
        return NULL;
    }
    topology *t = ctx->topo;
    t->groups = util_realloc(t->groups, (t->ngroups + 1) * sizeof(*t->groups));
    topo_group *g = &t->groups[t->ngroups++];
    g->address = util_printf("cluster.%s.%s.servers[*]", c->name, r->name);
    g->members = topo_deps_take(&servers, &g->nmembers);
    for (size_t k = 0; k < g->nmembers; k++) {
        topo_resource *m = (topo_resource *)topology_resource(t, g->members[k]);
        if (!m)
            continue;
        m->groups = util_realloc(m->groups, (m->ngroups + 1) * sizeof(*m->groups));
        m->groups[m->ngroups++] = g->address;
    }
    return g->address;
}

static void add_agents(topo_ctx *ctx, const topo_cluster *c, topo_region *r,
                       const char *provider, topo_deps *region_deps)
{
    const char *servers = servers_group(ctx, c, r);
    for (size_t d = 0; d < r->ndatacenters; d++) {
        topo_datacenter *dc = &r->datacenters[d];
        int first = 1;
        for (int role = 0; role < 2; role++) {
            const char *rname = role ? "client" : "server";
            int n = role ? dc->clients : dc->servers;
            for (int i = 0; i < n; i++) {
                char *inst = util_printf("cluster.%s.%s.%s.%s[%d]", c->name, r->name, dc->name,
                                         rname, i);
                const topo_resource *node = topology_resource(ctx->topo, inst);
                if (node) {
                    size_t idx = (size_t)(node - ctx->topo->resources);
                    char *path = util_printf("clusters.%s.regions.%s.datacenters.%s", c->name,
                                             r->name, dc->name);
                    node_settings(ctx, &ctx->topo->resources[idx], ctx->priv->bodies[idx], path,
                                  !first, dc);
                    first = 0;
                    free(path);
                }
                char *node_name = topo_node_name(inst);
                json_t *config = json_object();
                /* A single node is referred to as cluster.C.R.DC.servers[N]. */
                char *one = util_printf("cluster.%s.%s.%s.%ss[%d]", c->name, r->name, dc->name,
                                        rname, i);
                char *id_ref = util_printf("%s.id", one);
                char *ip_ref = util_printf("%s.private_ip", one);
                free(one);
                json_object_set_new(config, "instance", literal(inst));
                json_object_set_new(config, "instance_id", ref(id_ref));
                json_object_set_new(config, "node", literal(node_name));
                json_object_set_new(config, "role", json_string(rname));
                /* only on combined nodes: the others keep their configuration */
                if (role == 0 && dc->servers_client)
                    json_object_set_new(config, "client", json_true());
                json_object_set_new(config, "region", literal(r->name));
                json_object_set_new(config, "datacenter", literal(dc->name));
                json_object_set_new(config, "index", json_integer(i));
                json_object_set_new(config, "private_ip", ref(ip_ref));
                json_object_set_new(config, "settings", topo_escape_json(c->settings));
                /* only when given: nodes of clusters without them keep
                 * the configuration they were bootstrapped with */
                if (json_object_size(dc->node_settings) > 0)
                    json_object_set_new(config, "node_settings",
                                        topo_escape_json(dc->node_settings));
                free(id_ref);
                free(ip_ref);

                topo_deps deps = {0};
                topo_deps_add(&deps, inst);
                if (servers)
                    topo_deps_add(&deps, servers);
                char *address = util_printf("cluster_agent%s", inst + strlen("cluster"));
                topo_deps_add(region_deps, address);
                add(ctx, address, "cluster_agent",
                    util_printf("%s.%s.%s.%s", c->name, r->name, dc->name, rname), i, provider,
                    dc->loc, config, &deps);
                free(node_name);
                free(inst);
            }
        }
    }
}

static void add_region(topo_ctx *ctx, const topo_cluster *c, const topo_region *r,
                       const char *provider, topo_deps *deps)
{
    json_t *config = json_object();
    json_t *nodes = json_object();
    json_object_set_new(config, "region", literal(r->name));
    json_object_set_new(config, "servers", region_splat(c, r, "server", "private_ip"));
    json_object_set_new(nodes, "servers", region_splat(c, r, "server", "id"));
    json_object_set_new(nodes, "clients", region_splat(c, r, "client", "id"));
    json_object_set_new(config, "nodes", nodes);
    region_nodes(c, r, "server", deps);
    region_nodes(c, r, "client", deps);
    add(ctx, util_printf("cluster_region.%s.%s", c->name, r->name), "cluster_region",
        util_printf("%s.%s", c->name, r->name), -1, provider, r->loc, config, deps);
}

static void add_federation(topo_ctx *ctx, const topo_cluster *c, const char *provider)
{
    json_t *config = json_object();
    json_t *regions = json_array();
    json_t *servers = json_object();
    topo_deps deps = {0};
    for (size_t i = 0; i < c->nfederate; i++) {
        const topo_region *r = NULL;
        for (size_t k = 0; k < c->nregions && !r; k++)
            if (!strcmp(c->regions[k].name, c->federate[i]))
                r = &c->regions[k];
        if (!r)
            continue;
        json_array_append_new(regions, literal(r->name));
        json_object_set_new(servers, r->name, region_splat(c, r, "server", "private_ip"));
        char *region = util_printf("cluster_region.%s.%s", c->name, r->name);
        topo_deps_add(&deps, region);
        free(region);
        region_nodes(c, r, "server", &deps);
    }
    json_object_set_new(config, "regions", regions);
    json_object_set_new(config, "servers", servers);
    add(ctx, util_printf("cluster_federation.%s", c->name), "cluster_federation",
        util_strdup(c->name), -1, provider, c->loc, config, &deps);
}

/* 1 for the types that run a pool of like instances from a template. */
static int pool_group_type(const char *type)
{
    return !strcmp(type, "autoscaling_group") || !strcmp(type, "instance_group_manager");
}

static int pool_template_type(const char *type)
{
    return !strcmp(type, "launch_template") || !strcmp(type, "instance_template");
}

static void pool_error(topo_ctx *ctx, const topo_cluster *c, const topo_region *r,
                       const topo_datacenter *dc, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void pool_error(topo_ctx *ctx, const topo_cluster *c, const topo_region *r,
                       const topo_datacenter *dc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    char *path = util_printf("clusters.%s.regions.%s.datacenters.%s.clients.pool", c->name,
                             r->name, dc->name);
    topo_error(ctx, NULL, dc->pool_node, path, "%s", msg);
    free(path);
    free(msg);
}

/* Marks a resource of region r's pool datacenter dc. */
static void pool_mark(topo_resource *res, const topo_cluster *c, const topo_region *r,
                      const topo_datacenter *dc, int template)
{
    res->pool_cluster = util_strdup(c->name);
    res->pool_region = util_strdup(r->name);
    res->pool_datacenter = util_strdup(dc->name);
    res->pool_template = template;
}

/* A datacenter's client pool: its group and template checked and marked
 * (the scheduler supplies the template's user_data; the template waits
 * for the region's servers, which its instances join), and the
 * cluster_pool resource that waits for the clients to register. */
static void add_pools(topo_ctx *ctx, const topo_cluster *c, const topo_region *r,
                      const char *provider)
{
    topology *t = ctx->topo;
    for (size_t d = 0; d < r->ndatacenters; d++) {
        topo_datacenter *dc = &r->datacenters[d];
        if (!dc->pool)
            continue;
        topo_resource *group = (topo_resource *)topology_resource(t, dc->pool);
        if (!group) {
            const char **names = util_calloc(t->nresources + 1, sizeof(*names));
            size_t n = 0;
            for (size_t i = 0; i < t->nresources; i++)
                if (pool_group_type(t->resources[i].type))
                    names[n++] = t->resources[i].address;
            const char *close = util_did_you_mean(dc->pool, names);
            pool_error(ctx, c, r, dc, "unknown resource \"%s\"%s%s%s", dc->pool,
                       close ? " (did you mean \"" : "", close ? close : "", close ? "\"?)" : "");
            free(names);
            continue;
        }
        if (!pool_group_type(group->type)) {
            pool_error(ctx, c, r, dc,
                       "%s is a %s; a client pool is an autoscaling_group (aws) or an "
                       "instance_group_manager (gcp)",
                       dc->pool, group->type);
            continue;
        }
        if (!group->provider || !dc->provider || strcmp(group->provider, dc->provider) != 0) {
            pool_error(ctx, c, r, dc,
                       "%s is on provider \"%s\", the datacenter on \"%s\": a pool's instances "
                       "are the datacenter's",
                       dc->pool, group->provider ? group->provider : "", dc->provider);
            continue;
        }
        topo_resource *tmpl = NULL;
        for (size_t k = 0; k < group->ndeps && !tmpl; k++) {
            topo_resource *dep = (topo_resource *)topology_resource(t, group->deps[k]);
            if (dep && pool_template_type(dep->type))
                tmpl = dep;
        }
        int gcp = !strcmp(group->type, "instance_group_manager");
        if (!tmpl) {
            pool_error(ctx, c, r, dc,
                       gcp ? "%s refers to no instance template of the topology (e.g. template: "
                             "\"${instance_template.workers.id}\"): the scheduler supplies its "
                             "startup script"
                           : "%s refers to no launch template of the topology (e.g. "
                             "launch_template: \"${launch_template.workers.id}\"): the scheduler "
                             "supplies its user data",
                       dc->pool);
            continue;
        }
        if (tmpl->pool_cluster || group->pool_cluster) {
            pool_error(ctx, c, r, dc, "%s already runs the clients of another datacenter",
                       dc->pool);
            continue;
        }
        /* a gcp template's startup script is its user data, under any of
         * its names */
        const char *script_key =
            json_object_get(tmpl->config, "user_data")        ? "user_data"
            : json_object_get(tmpl->config, "startup_script") ? "startup_script"
            : json_object_get(json_object_get(tmpl->config, "metadata"), "startup-script")
                ? "metadata.startup-script"
                : NULL;
        if (script_key) {
            pool_error(ctx, c, r, dc,
                       "%s sets %s: the scheduler supplies the %s of a client pool's "
                       "instances; remove it",
                       tmpl->address, script_key, gcp ? "startup script" : "user data");
            continue;
        }
        dc->pool_template = util_strdup(tmpl->address);
        pool_mark(tmpl, c, r, dc, 1);
        pool_mark(group, c, r, dc, 0);
        /* The instances join the region's servers: launched once they
         * are ready. */
        char *region = util_printf("cluster_region.%s.%s", c->name, r->name);
        topo_deps deps = {.self = tmpl->address};
        for (size_t k = 0; k < tmpl->ndeps; k++)
            topo_deps_add(&deps, tmpl->deps[k]);
        topo_deps_add(&deps, region);
        for (size_t k = 0; k < tmpl->ndeps; k++)
            free(tmpl->deps[k]);
        free(tmpl->deps);
        tmpl->deps = topo_deps_take(&deps, &tmpl->ndeps);

        json_t *config = json_object();
        char *id_ref = util_printf("%s.id", dc->pool);
        char *inst_ref = util_printf("%s.instances", dc->pool);
        json_object_set_new(config, "region", literal(r->name));
        json_object_set_new(config, "datacenter", literal(dc->name));
        json_object_set_new(config, "group", literal(dc->pool));
        json_object_set_new(config, "group_id", ref(id_ref));
        json_object_set_new(config, "instances", ref(inst_ref));
        free(id_ref);
        free(inst_ref);
        topo_deps_add(&deps, dc->pool);
        topo_deps_add(&deps, region);
        add(ctx, util_printf("cluster_pool.%s.%s.%s", c->name, r->name, dc->name),
            "cluster_pool", util_printf("%s.%s.%s", c->name, r->name, dc->name), -1, provider,
            dc->loc, config, &deps);
        free(region);
    }
}

/* Hex SHA-256 of a file, or NULL when it cannot be read (or is no longer
 * the bounded regular file the job's check saw). */
static char *file_sha256(const char *path)
{
    char *text = NULL, *why = NULL;
    size_t len = 0;
    if (util_read_regular_file(path, TOPO_MAX_FILE, &text, &len, &why) < 0) {
        free(why);
        return NULL;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int ok = EVP_Digest(text, len, digest, &dlen, EVP_sha256(), NULL);
    free(text);
    if (!ok)
        return NULL;
    char *hex = util_malloc(2 * dlen + 1);
    for (unsigned int i = 0; i < dlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return hex;
}

static void add_job(topo_ctx *ctx, const topo_job *j, const topo_cluster *c, const char *provider)
{
    if (!j->file)
        return;
    char *full = j->file[0] == '/' ? util_strdup(j->file)
                                   : util_printf("%s/%s", ctx->topo->dir, j->file);
    char *sha = file_sha256(full);
    const char *ext = strrchr(j->file, '.');
    /* An app (Marathon) may also be given its id as set.id. */
    const json_t *name = json_object_get(j->set, "name");
    if (!strcmp(j->kind, "app") && json_is_string(json_object_get(j->set, "id")))
        name = json_object_get(j->set, "id");
    json_t *config = json_object();
    json_t *regions = json_array();
    topo_deps deps = {0};

    json_object_set_new(config, "name", literal(j->name));
    json_object_set_new(config, "id", json_is_string(name) ? topo_escape_json(name)
                                                           : literal(j->name));
    for (size_t i = 0; i < j->nregions; i++) {
        json_array_append_new(regions, literal(j->regions[i]));
        char *region = util_printf("cluster_region.%s.%s", c->name, j->regions[i]);
        topo_deps_add(&deps, region);
        free(region);
        /* and for its client pools: their clients are where jobs run */
        for (size_t r = 0; r < c->nregions; r++) {
            if (strcmp(c->regions[r].name, j->regions[i]) != 0)
                continue;
            for (size_t d = 0; d < c->regions[r].ndatacenters; d++) {
                if (!c->regions[r].datacenters[d].pool_template)
                    continue;
                char *pool = util_printf("cluster_pool.%s.%s.%s", c->name, c->regions[r].name,
                                         c->regions[r].datacenters[d].name);
                topo_deps_add(&deps, pool);
                free(pool);
            }
        }
    }
    json_object_set_new(config, "regions", regions);
    json_object_set_new(config, "file", literal(full));
    json_object_set_new(config, "format", json_string(ext && !strcmp(ext, ".json") ? "json" : "hcl"));
    json_object_set_new(config, "content_sha256", literal(sha ? sha : ""));
    json_object_set_new(config, "set", j->set ? topo_escape_json(j->set) : json_object());
    if (c->nfederate >= 2) {
        char *fed = util_printf("cluster_federation.%s", c->name);
        topo_deps_add(&deps, fed);
        free(fed);
    }
    add(ctx, util_printf("%s.%s", j->kind, j->name), j->kind, util_strdup(j->name), -1, provider,
        j->loc, config, &deps);
    free(sha);
    free(full);
}

int topo_build_scheduler(topo_ctx *ctx)
{
    topology *t = ctx->topo;
    for (size_t ci = 0; ci < t->nclusters && !ctx->fatal; ci++) {
        topo_cluster *c = &t->clusters[ci];
        if (!c->scheduler)
            continue;
        char *provider = util_printf("cluster.%s", c->name);
        add_provider(ctx, c, ci);
        for (size_t r = 0; r < c->nregions; r++) {
            topo_deps region_deps = {0};
            add_agents(ctx, c, &c->regions[r], provider, &region_deps);
            add_region(ctx, c, &c->regions[r], provider, &region_deps);
            add_pools(ctx, c, &c->regions[r], provider);
        }
        if (c->nfederate >= 2)
            add_federation(ctx, c, provider);
        for (size_t j = 0; j < t->njobs; j++)
            if (t->jobs[j].cluster && !strcmp(t->jobs[j].cluster, c->name))
                add_job(ctx, &t->jobs[j], c, provider);
        free(provider);
    }
    return 0;
}
