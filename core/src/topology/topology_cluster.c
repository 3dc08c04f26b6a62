/* Clusters (regions of datacenters whose server and client nodes become
 * instances on the datacenter's provider) and the jobs and apps that run
 * on them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "topology/topology_int.h"

static const char *const cluster_meta[] = {"scheduler", "regions", "federate", NULL};
const char *const topo_dc_meta[] = {"provider",      "servers", "clients", "depends_on",
                                    "node_settings", "bastion", NULL};
static const char *const region_keys[] = {"datacenters", NULL};
static const char *const job_keys[] = {"cluster", "regions", "file", "set", NULL};

void topo_cluster_free(topo_cluster *c)
{
    free(c->name);
    free(c->scheduler);
    for (size_t r = 0; r < c->nregions; r++) {
        topo_region *reg = &c->regions[r];
        for (size_t d = 0; d < reg->ndatacenters; d++) {
            free(reg->datacenters[d].name);
            free(reg->datacenters[d].provider);
            free(reg->datacenters[d].pool);
            free(reg->datacenters[d].pool_template);
            json_decref(reg->datacenters[d].settings);
            json_decref(reg->datacenters[d].node_settings);
        }
        free(reg->datacenters);
        free(reg->name);
    }
    free(c->regions);
    for (size_t i = 0; i < c->nfederate; i++)
        free(c->federate[i]);
    free(c->federate);
    json_decref(c->settings);
}

void topo_job_free(topo_job *j)
{
    free(j->name);
    free(j->kind);
    free(j->cluster);
    for (size_t i = 0; i < j->nregions; i++)
        free(j->regions[i]);
    free(j->regions);
    free(j->file);
    json_decref(j->set);
}

static void missing(topo_ctx *ctx, const ytree_node *key, const ytree_node *body, const char *path,
                    const char *name)
{
    topo_error(ctx, NULL, body && body->type == YTREE_MAP ? body : key, path,
               "missing required key \"%s\"", name);
}

/* Reports a name that is not among names with a did-you-mean. */
static void unknown_name(topo_ctx *ctx, const ytree_node *at, const char *path, const char *what,
                         const char *name, const char *owner, const char **names)
{
    const char *close = util_did_you_mean(name, names);
    char *list = topo_join(names);
    char *hint = close      ? util_printf(" (did you mean \"%s\"?)", close)
                 : names[0] ? util_printf(" (declared: %s)", list)
                            : util_strdup("");
    topo_error(ctx, NULL, at, path, "unknown %s \"%s\"%s%s", what, name, owner ? owner : "", hint);
    free(hint);
    free(list);
}

static const char **region_names(const topo_cluster *c)
{
    const char **names = util_calloc(c->nregions + 1, sizeof(*names));
    for (size_t r = 0; r < c->nregions; r++)
        names[r] = c->regions[r].name;
    return names;
}

static int has_region(const topo_cluster *c, const char *name)
{
    for (size_t r = 0; r < c->nregions; r++)
        if (!strcmp(c->regions[r].name, name))
            return 1;
    return 0;
}

/* The long form of a datacenter's servers, {count: N, client: true}: the
 * servers are also clients (one agent with both parts, as small clusters
 * run them). Returns the count's node (NULL: 0). */
static const ytree_node *server_pool(topo_ctx *ctx, const ytree_node *pool, const char *path,
                                     topo_datacenter *dc)
{
    static const char *const keys[] = {"count", "client", NULL};
    topo_check_keys(ctx, pool, path, keys);
    const ytree_node *client = ytree_get(pool, "client");
    if (client) {
        char *cp = util_printf("%s.client", path);
        json_t *v = topo_meta_value(ctx, client, cp);
        if (v && !json_is_boolean(v)) {
            char *got = topo_describe(v);
            topo_error(ctx, NULL, client, cp, "expected true or false, got %s", got);
            free(got);
        } else if (v) {
            dc->servers_client = json_is_true(v);
        }
        json_decref(v);
        free(cp);
    }
    const ytree_node *count = ytree_get(pool, "count");
    if (!count)
        topo_error(ctx, NULL, pool, path, "missing required key \"count\"");
    return count;
}

/* The long form of a datacenter's clients, {pool: autoscaling_group.NAME}
 * (or instance_group_manager.NAME on gcp):
 * the clients are the instances of that group, which configure themselves
 * from the user data the scheduler supplies (topology_sched.c checks the
 * group once every resource is known). */
static void client_pool(topo_ctx *ctx, const ytree_node *pool, const char *path,
                        topo_datacenter *dc)
{
    static const char *const keys[] = {"pool", NULL};
    topo_check_keys(ctx, pool, path, keys);
    const ytree_node *group = ytree_get(pool, "pool");
    char *gp = util_printf("%s.pool", path);
    if (!group) {
        topo_error(ctx, NULL, pool, path,
                   "missing required key \"pool\" (the autoscaling group running the clients, "
                   "e.g. pool: autoscaling_group.workers or instance_group_manager.workers)");
    } else if (group->type != YTREE_STRING || !strchr(group->text, '.') ||
               strstr(group->text, "${")) {
        topo_error(ctx, NULL, group, gp,
                   "expected the address of an autoscaling group, e.g. autoscaling_group.workers "
                   "or instance_group_manager.workers");
    } else {
        dc->pool = util_strdup(group->text);
        dc->pool_node = group;
    }
    free(gp);
}

/* The name a region or datacenter key gives: its text or, when it holds
 * ${...}, the text its variables make (`"${region}": ...`, per
 * environment). Names are known at plan time, so variables and environment
 * variables only, never a sensitive one. New string, or NULL after
 * reporting. */
static char *key_name(topo_ctx *ctx, const ytree_node *key, const char *path, const char *what)
{
    char *name = NULL;
    if (!strstr(key->text, "${")) {
        name = util_strdup(key->text);
    } else {
        util_buf b = {0};
        util_buf_puts(&b, path);
        int sensitive = 0;
        char *where = util_printf("a %s name", what);
        topo_scope sc = {.path = &b, .where = where, .count_index = -1, .sensitive = &sensitive};
        json_t *v = topo_eval_node(ctx, &sc, key);
        util_buf_free(&b);
        free(where);
        if (!v)
            return NULL;
        if (sensitive) {
            topo_error(ctx, NULL, key, path,
                       "a %s name cannot use a sensitive variable: names are shown everywhere",
                       what);
        } else if (json_is_string(v)) {
            name = util_strdup(json_string_value(v));
        } else {
            char *got = topo_describe(v);
            topo_error(ctx, NULL, key, path, "a %s name must be a string, got %s", what, got);
            free(got);
        }
        json_decref(v);
        if (!name)
            return NULL;
        char ptr[32];
        snprintf(ptr, sizeof(ptr), "%p", (const void *)key);
        json_object_set_new(ctx->priv->key_names, ptr, json_string(name));
    }
    if (!topo_valid_name(name)) {
        int made = strcmp(name, key->text) != 0;
        topo_error(ctx, NULL, key, path,
                   "invalid %s name \"%s\"%s%s%s: use letters, digits, \"_\" and \"-\"", what, name,
                   made ? " (from " : "", made ? key->text : "", made ? ")" : "");
        free(name);
        return NULL;
    }
    return name;
}

/* Two keys that name the same region or datacenter once interpolated. */
static int name_taken(topo_ctx *ctx, const ytree_node *key, const char *path, const char *what,
                      const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], name)) {
            topo_error(ctx, NULL, key, path, "%s \"%s\" is declared twice (%s gives \"%s\")", what,
                       name, key->text, name);
            return 1;
        }
    return 0;
}

static void load_datacenter(topo_ctx *ctx, topo_region *reg, const ytree_node *key,
                            const ytree_node *body, const char *path)
{
    char *name = key_name(ctx, key, path, "datacenter");
    if (!name)
        return;
    const char **names = util_calloc(reg->ndatacenters + 1, sizeof(*names));
    for (size_t i = 0; i < reg->ndatacenters; i++)
        names[i] = reg->datacenters[i].name;
    int taken = name_taken(ctx, key, path, "datacenter", name, names, reg->ndatacenters);
    free(names);
    if (taken || !topo_want_map(ctx, body, path)) {
        free(name);
        return;
    }
    topo_check_misspelt(ctx, body, path, topo_dc_meta);
    topo_datacenter *dc = &reg->datacenters[reg->ndatacenters++];
    dc->name = name;
    dc->body = body;
    dc->loc = ytree_loc(ctx->doc, key);
    const ytree_node *node = ytree_get(body, "provider");
    char *np = util_printf("%s.provider", path);
    if (!node)
        missing(ctx, key, body, path, "provider");
    else
        dc->provider = topo_meta_provider(ctx, node, np);
    free(np);
    const char *roles[] = {"servers", "clients"};
    for (int i = 0; i < 2; i++) {
        node = ytree_get(body, roles[i]);
        long n = 0;
        np = util_printf("%s.%s", path, roles[i]);
        if (i == 1 && node && node->type == YTREE_MAP) {
            client_pool(ctx, node, np, dc);
            free(np);
            continue;
        }
        if (i == 0 && node && node->type == YTREE_MAP) {
            node = server_pool(ctx, node, np, dc);
            char *cp = util_printf("%s.count", np);
            free(np);
            np = cp;
        }
        if (node && topo_meta_int(ctx, node, np, 0, TOPO_MAX_NODES, &n) < 0)
            n = 0;
        free(np);
        if (i == 0)
            dc->servers = (int)n;
        else
            dc->clients = (int)n;
    }
    /* What the scheduler is told about these nodes (Mesos agent
     * attributes, a node's part in the cluster): variables only, like the
     * cluster's own settings, and never given to the provider. */
    node = ytree_get(body, "node_settings");
    np = util_printf("%s.node_settings", path);
    if (node && topo_want_map(ctx, node, np) && node->type == YTREE_MAP)
        dc->node_settings = topo_settings(ctx, node, np, NULL, "node settings", 0);
    free(np);
    /* The settings of each node are evaluated later, with references
     * allowed (topology_sched.c): they become the instances' configs. */
    dc->settings = json_object();
}

static void load_region(topo_ctx *ctx, topo_cluster *c, const ytree_node *key,
                        const ytree_node *body, const char *path)
{
    char *name = key_name(ctx, key, path, "region");
    if (!name)
        return;
    const char **names = region_names(c);
    int taken = name_taken(ctx, key, path, "region", name, names, c->nregions);
    free(names);
    if (taken || !topo_want_map(ctx, body, path)) {
        free(name);
        return;
    }
    topo_check_keys(ctx, body, path, region_keys);
    topo_region *reg = &c->regions[c->nregions++];
    reg->name = name;
    reg->loc = ytree_loc(ctx->doc, key);
    const ytree_node *dcs = ytree_get(body, "datacenters");
    char *dp = util_printf("%s.datacenters", path);
    if (!dcs) {
        missing(ctx, key, body, path, "datacenters");
    } else if (topo_want_map(ctx, dcs, dp) && dcs->type == YTREE_MAP) {
        reg->datacenters = util_calloc(dcs->npairs, sizeof(*reg->datacenters));
        for (size_t i = 0; i < dcs->npairs; i++) {
            char *p = util_printf("%s.%s", dp, dcs->pairs[i].key->text);
            load_datacenter(ctx, reg, dcs->pairs[i].key, dcs->pairs[i].value, p);
            free(p);
        }
    }
    free(dp);
}

static void load_federate(topo_ctx *ctx, topo_cluster *c, const ytree_node *node, const char *path)
{
    char *fp = util_printf("%s.federate", path);
    json_t *v = topo_meta_value(ctx, node, fp);
    if (v && !json_is_array(v)) {
        char *got = topo_describe(v);
        topo_error(ctx, NULL, node, fp, "expected a list, got %s", got);
        free(got);
    } else if (v) {
        const char **names = region_names(c);
        c->federate = util_calloc(json_array_size(v) + 1, sizeof(*c->federate));
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            const ytree_node *at =
                node->type == YTREE_LIST && i < node->nitems ? node->items[i] : node;
            char *ip = util_printf("%s[%zu]", fp, i);
            char *owner = util_printf(" of cluster \"%s\"", c->name);
            if (!json_is_string(item)) {
                char *got = topo_describe(item);
                topo_error(ctx, NULL, at, ip, "expected a string, got %s", got);
                free(got);
            } else if (!has_region(c, json_string_value(item))) {
                unknown_name(ctx, at, ip, "region", json_string_value(item), owner, names);
            } else {
                c->federate[c->nfederate++] = util_strdup(json_string_value(item));
            }
            free(owner);
            free(ip);
        }
        free(names);
    }
    json_decref(v);
    free(fp);
}

/* The cluster's nodes as instances on their datacenter's provider. */
static void expand_nodes(topo_ctx *ctx, const topo_cluster *c)
{
    for (size_t r = 0; r < c->nregions && !ctx->fatal; r++) {
        const topo_region *reg = &c->regions[r];
        for (size_t d = 0; d < reg->ndatacenters && !ctx->fatal; d++) {
            const topo_datacenter *dc = &reg->datacenters[d];
            if (!dc->provider)
                continue;
            const ytree_node *body = dc->body;
            for (int role = 0; role < 2; role++) {
                const char *rname = role ? "client" : "server";
                int n = role ? dc->clients : dc->servers;
                for (int i = 0; i < n && !ctx->fatal; i++) {
                    char *address = util_printf("cluster.%s.%s.%s.%s[%d]", c->name, reg->name,
                                                dc->name, rname, i);
                    char *name = util_printf("%s.%s.%s.%s", c->name, reg->name, dc->name, rname);
                    diag_loc loc = dc->loc;
                    size_t idx =
                        topo_add_resource(ctx, NULL, address, "instance", name, i, (size_t)-1);
                    topo_resource *res = &ctx->topo->resources[idx];
                    res->loc = loc;
                    res->provider = util_strdup(dc->provider);
                    res->config = topo_escape_json(dc->settings);
                    json_object_set_new(res->config, "role", json_string(rname));
                    json_object_set_new(res->config, "cluster", json_string(c->name));
                    json_object_set_new(res->config, "region", json_string(reg->name));
                    json_object_set_new(res->config, "datacenter", json_string(dc->name));
                    ctx->priv->bodies[idx] = body && body->type == YTREE_MAP ? body : NULL;
                }
            }
        }
    }
}

static void load_cluster(topo_ctx *ctx, const ytree_node *key, const ytree_node *body,
                         const char *path)
{
    topology *t = ctx->topo;
    if (!topo_valid_name(key->text)) {
        topo_error(ctx, NULL, key, path,
                   "invalid cluster name \"%s\": use letters, digits, \"_\" and \"-\"", key->text);
        return;
    }
    if (!topo_want_map(ctx, body, path))
        return;
    topo_check_misspelt(ctx, body, path, cluster_meta);
    topo_cluster *c = &t->clusters[t->nclusters++];
    c->name = util_strdup(key->text);
    c->loc = ytree_loc(ctx->doc, key);
    size_t errors = ctx->errors;

    const ytree_node *node = ytree_get(body, "scheduler");
    char *sp = util_printf("%s.scheduler", path);
    if (!node)
        missing(ctx, key, body, path, "scheduler");
    else
        topo_meta_string(ctx, node, sp, &c->scheduler);
    free(sp);

    const ytree_node *regions = ytree_get(body, "regions");
    char *rp = util_printf("%s.regions", path);
    if (!regions) {
        missing(ctx, key, body, path, "regions");
    } else if (topo_want_map(ctx, regions, rp) && regions->type == YTREE_MAP) {
        c->regions = util_calloc(regions->npairs, sizeof(*c->regions));
        for (size_t i = 0; i < regions->npairs; i++) {
            char *p = util_printf("%s.%s", rp, regions->pairs[i].key->text);
            load_region(ctx, c, regions->pairs[i].key, regions->pairs[i].value, p);
            free(p);
        }
    }
    free(rp);
    node = ytree_get(body, "federate");
    if (node)
        load_federate(ctx, c, node, path);
    c->settings = topo_settings(ctx, body, path, cluster_meta, "cluster settings", 0);
    if (!c->settings)
        c->settings = json_object();

    int servers = 0;
    for (size_t r = 0; r < c->nregions; r++)
        for (size_t d = 0; d < c->regions[r].ndatacenters; d++)
            servers += c->regions[r].datacenters[d].servers;
    if (ctx->errors == errors && regions && !servers) {
        rp = util_printf("%s.regions", path);
        topo_error(ctx, NULL, regions, rp,
                   "cluster \"%s\" has no server: set servers: N in at least one datacenter",
                   c->name);
        free(rp);
    }
    if (ctx->errors == errors)
        expand_nodes(ctx, c);
}

int topo_load_clusters(topo_ctx *ctx, const ytree_node *section)
{
    topology *t = ctx->topo;
    if (!section || !topo_want_map(ctx, section, "clusters") || section->type != YTREE_MAP)
        return 0;
    t->clusters = util_calloc(section->npairs, sizeof(*t->clusters));
    for (size_t i = 0; i < section->npairs && !ctx->fatal; i++) {
        char *path = util_printf("clusters.%s", section->pairs[i].key->text);
        load_cluster(ctx, section->pairs[i].key, section->pairs[i].value, path);
        free(path);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Jobs and apps                                                      */

static const topo_cluster *job_cluster(topo_ctx *ctx, const ytree_node *key, const ytree_node *body,
                                       const char *path, topo_job *j)
{
    const topology *t = ctx->topo;
    const ytree_node *node = ytree_get(body, "cluster");
    char *cp = util_printf("%s.cluster", path);
    const topo_cluster *found = NULL;
    if (!node) {
        missing(ctx, key, body, path, "cluster");
    } else if (topo_meta_string(ctx, node, cp, &j->cluster) == 0) {
        for (size_t i = 0; i < t->nclusters && !found; i++)
            if (!strcmp(t->clusters[i].name, j->cluster))
                found = &t->clusters[i];
        if (!found) {
            const char **names = util_calloc(t->nclusters + 1, sizeof(*names));
            for (size_t i = 0; i < t->nclusters; i++)
                names[i] = t->clusters[i].name;
            unknown_name(ctx, node, cp, "cluster", j->cluster, NULL, names);
            free(names);
        }
    }
    free(cp);
    return found;
}

static void job_regions(topo_ctx *ctx, const topo_cluster *c, const ytree_node *body,
                        const char *path, topo_job *j)
{
    const ytree_node *node = ytree_get(body, "regions");
    if (!node) {
        j->regions = util_calloc(c->nregions + 1, sizeof(*j->regions));
        for (size_t r = 0; r < c->nregions; r++)
            j->regions[j->nregions++] = util_strdup(c->regions[r].name);
        return;
    }
    char *rp = util_printf("%s.regions", path);
    json_t *v = topo_meta_value(ctx, node, rp);
    if (v && !json_is_array(v)) {
        char *got = topo_describe(v);
        topo_error(ctx, NULL, node, rp, "expected a list, got %s", got);
        free(got);
    } else if (v) {
        const char **names = region_names(c);
        char *owner = util_printf(" of cluster \"%s\"", c->name);
        j->regions = util_calloc(json_array_size(v) + 1, sizeof(*j->regions));
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            const ytree_node *at =
                node->type == YTREE_LIST && i < node->nitems ? node->items[i] : node;
            char *ip = util_printf("%s[%zu]", rp, i);
            if (!json_is_string(item)) {
                char *got = topo_describe(item);
                topo_error(ctx, NULL, at, ip, "expected a string, got %s", got);
                free(got);
            } else if (!has_region(c, json_string_value(item))) {
                unknown_name(ctx, at, ip, "region", json_string_value(item), owner, names);
            } else {
                j->regions[j->nregions++] = util_strdup(json_string_value(item));
            }
            free(ip);
        }
        free(owner);
        free(names);
    }
    json_decref(v);
    free(rp);
}

static void job_file(topo_ctx *ctx, const ytree_node *key, const ytree_node *body, const char *path,
                     topo_job *j)
{
    const ytree_node *node = ytree_get(body, "file");
    char *fp = util_printf("%s.file", path);
    if (!node) {
        missing(ctx, key, body, path, "file");
    } else if (topo_meta_string(ctx, node, fp, &j->file) == 0) {
        char *full = j->file[0] == '/' ? util_strdup(j->file)
                                       : util_printf("%s/%s", ctx->topo->dir, j->file);
        struct stat st;
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode))
            topo_error(ctx, NULL, node, fp, "file \"%s\" not found (looked for %s)", j->file, full);
        else if ((unsigned long long)st.st_size > TOPO_MAX_FILE)
            topo_error(ctx, NULL, node, fp, "file \"%s\" is larger than %u MiB", j->file,
                       TOPO_MAX_FILE >> 20);
        free(full);
    }
    free(fp);
}

int topo_load_jobs(topo_ctx *ctx, const ytree_node *section, const char *kind)
{
    topology *t = ctx->topo;
    const char *section_name = !strcmp(kind, "job") ? "jobs" : "apps";
    if (!section || !topo_want_map(ctx, section, section_name) || section->type != YTREE_MAP)
        return 0;
    t->jobs = util_realloc(t->jobs, (t->njobs + section->npairs) * sizeof(*t->jobs));
    for (size_t i = 0; i < section->npairs && !ctx->fatal; i++) {
        const ytree_node *key = section->pairs[i].key, *body = section->pairs[i].value;
        char *path = util_printf("%s.%s", section_name, key->text);
        if (!topo_valid_name(key->text)) {
            topo_error(ctx, NULL, key, path,
                       "invalid %s name \"%s\": use letters, digits, \"_\" and \"-\"", kind,
                       key->text);
            free(path);
            continue;
        }
        if (!topo_want_map(ctx, body, path)) {
            free(path);
            continue;
        }
        topo_check_keys(ctx, body, path, job_keys);
        topo_job *j = &t->jobs[t->njobs++];
        memset(j, 0, sizeof(*j));
        j->name = util_strdup(key->text);
        j->kind = util_strdup(kind);
        j->loc = ytree_loc(ctx->doc, key);
        const topo_cluster *c = job_cluster(ctx, key, body, path, j);
        if (c)
            job_regions(ctx, c, body, path, j);
        job_file(ctx, key, body, path, j);
        const ytree_node *set = ytree_get(body, "set");
        char *sp = util_printf("%s.set", path);
        if (set && topo_want_map(ctx, set, sp))
            j->set = topo_settings(ctx, set, sp, NULL, "job settings", 0);
        if (!j->set)
            j->set = json_object();
        free(sp);
        free(path);
    }
    return 0;
}
