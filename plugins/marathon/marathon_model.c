/* The cluster and node JSON the host passes (plugin.h, scheduler part),
 * read into structs whose strings are borrowed from the JSON, with what
 * each datacenter's node_settings say about its nodes:
 *
 *   role        servers: "master" (default) or "zookeeper";
 *               clients: "agent" (default) or "load_balancer"
 *   attributes  a Mesos agent's attributes ({env: staging, rack: 1})
 *   resources   a Mesos agent's --resources ("cpus:2;mem:2048")
 *   install     what infra installs on them, over the cluster's install
 *               (marathon_install.c; checked by validate)
 *
 * A region whose servers include zookeeper nodes runs its ensemble on
 * those only; otherwise every master runs a ZooKeeper member. */
#include "marathon.h"

#include <stdlib.h>
#include <string.h>

/* A string member that may be null or absent; "" counts as absent. */
static const char *opt_str(const infra_json *obj, const char *key)
{
    const char *s = pu_json_str(obj, key);
    return s && *s ? s : NULL;
}

/* 1 when s is fit for an attribute's text value or a resources string. */
static int chars_ok(const char *s, const char *extra)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s)))
            return 0;
    return 1;
}

/* What node_settings of one datacenter say; diagnostics at path. */
typedef struct dc_settings {
    const char *role;
    const infra_json *attributes;
    const char *resources;
    const infra_json *install;
} dc_settings;

static int dc_settings_parse(infra_call *call, const infra_json *ns, const char *path,
                             dc_settings *out)
{
    int error = 0;
    memset(out, 0, sizeof(*out));
    if (ns == NULL || MJ->type(ns) == INFRA_JSON_NULL)
        return 0;
    if (MJ->type(ns) != INFRA_JSON_OBJECT) {
        pu_diagf(call, path, "node_settings must be a map");
        return INFRA_EINVALID;
    }
    void *it = NULL;
    const char *key;
    const infra_json *v;
    while (MJ->next(ns, &it, &key, &v)) {
        char *attr = pu_printf("%s.%s", path, key);
        if (strcmp(key, "role") == 0) {
            out->role = MJ->string(v);
            if (out->role == NULL) {
                pu_diagf(call, attr, "role must be a string");
                error = INFRA_EINVALID;
            }
        } else if (strcmp(key, "attributes") == 0) {
            if (MJ->type(v) != INFRA_JSON_OBJECT) {
                pu_diagf(call, attr, "attributes must be a map of names to values");
                error = INFRA_EINVALID;
            } else {
                out->attributes = v;
                void *ai = NULL;
                const char *name;
                const infra_json *av;
                while (MJ->next(v, &ai, &name, &av)) {
                    int t = MJ->type(av);
                    if (!pu_name_ok(name) ||
                        !(t == INFRA_JSON_INT || t == INFRA_JSON_REAL ||
                          (t == INFRA_JSON_STRING && chars_ok(MJ->string(av), "._/-")))) {
                        pu_diagf(call, attr,
                                 "attribute \"%s\": Mesos takes names of letters, digits and . _ "
                                 "- with a number or a text of letters, digits and . _ / -",
                                 name);
                        error = INFRA_EINVALID;
                    }
                }
            }
        } else if (strcmp(key, "resources") == 0) {
            out->resources = MJ->string(v);
            if (!chars_ok(out->resources, "_.:;,[]()*-")) {
                pu_diagf(call, attr,
                         "resources must be Mesos' resources text, such as "
                         "\"cpus:2;mem:2048;ports:[31000-32000]\"");
                error = INFRA_EINVALID;
            }
        } else if (strcmp(key, "install") == 0) {
            /* its contents are checked once, by marathon_install_validate */
            out->install = MJ->type(v) == INFRA_JSON_OBJECT ? v : NULL;
        } else {
            pu_diagf(call, attr,
                     "unknown node setting \"%s\" (the marathon scheduler takes role, attributes, "
                     "resources and install)",
                     key);
            error = INFRA_EINVALID;
        }
        free(attr);
    }
    return error;
}

/* The role a datacenter's nodes of kind server/client play. */
static int role_of(infra_call *call, const dc_settings *ds, int server, const char *path,
                   marathon_role *out)
{
    const char *role = ds->role;
    if (server && (role == NULL || strcmp(role, "master") == 0))
        *out = MARATHON_ROLE_MASTER;
    else if (server && strcmp(role, "zookeeper") == 0)
        *out = MARATHON_ROLE_ZOOKEEPER;
    else if (!server && (role == NULL || strcmp(role, "agent") == 0))
        *out = MARATHON_ROLE_AGENT;
    else if (!server && strcmp(role, "load_balancer") == 0)
        *out = MARATHON_ROLE_BALANCER;
    else {
        char *attr = pu_printf("%s.role", path);
        pu_diagf(call, attr,
                 "role \"%s\" is not one for %s: servers are \"master\" or \"zookeeper\", "
                 "clients \"agent\" or \"load_balancer\"",
                 role, server ? "servers" : "clients");
        free(attr);
        return INFRA_EINVALID;
    }
    if (*out != MARATHON_ROLE_AGENT && (ds->attributes || ds->resources)) {
        char *attr = pu_printf("%s.%s", path, ds->attributes ? "attributes" : "resources");
        pu_diagf(call, attr, "only Mesos agents take %s; these nodes are %ss",
                 ds->attributes ? "attributes" : "resources", marathon_role_name(*out));
        free(attr);
        return INFRA_EINVALID;
    }
    return 0;
}

static int node_parse(infra_call *call, const infra_json *json, const char *region,
                      const char *datacenter, int server, int need_ip, marathon_node *n)
{
    memset(n, 0, sizeof(*n));
    if (json == NULL || MJ->type(json) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "", "a node must be described by an object");
        return INFRA_EINVALID;
    }
    n->name = opt_str(json, "name");
    n->address = opt_str(json, "address");
    const char *what = n->address ? n->address : n->name ? n->name : "a node";
    if (!pu_name_ok(n->name)) {
        pu_diagf(call, "", "%s: node name \"%s\" must be letters, digits, \".\", \"_\" and \"-\"",
                 what, n->name ? n->name : "");
        return INFRA_EINVALID;
    }
    n->server = server;
    n->region = region ? region : opt_str(json, "region");
    n->datacenter = datacenter ? datacenter : opt_str(json, "datacenter");
    if (!pu_name_ok(n->region) || !pu_name_ok(n->datacenter)) {
        pu_diagf(call, "", "node %s: region and datacenter must be names", n->name);
        return INFRA_EINVALID;
    }
    int combined = 0;
    const infra_json *client = MJ->get(json, "client");
    if (client && MJ->type(client) == INFRA_JSON_BOOL && pu_json_to_bool(client, &combined) == 0 &&
        combined) {
        char *at = pu_printf("regions.%s.datacenters.%s.servers.client", n->region, n->datacenter);
        pu_diagf(call, at,
                 "servers that are also clients are a nomad setting; a Mesos master is not an "
                 "agent: give the datacenter clients");
        free(at);
        return INFRA_EINVALID;
    }
    n->private_ip = opt_str(json, "private_ip");
    n->public_ip = opt_str(json, "public_ip");
    if (n->private_ip == NULL && need_ip) {
        pu_diagf(call, "", "node %s has no private_ip yet", n->name);
        return INFRA_EINVALID;
    }
    if ((n->private_ip && !pu_ip_ok(n->private_ip)) || (n->public_ip && !pu_ip_ok(n->public_ip))) {
        pu_diagf(call, "", "node %s: private_ip and public_ip must be IP addresses", n->name);
        return INFRA_EINVALID;
    }
    const infra_json *ssh = MJ->get(json, "ssh");
    n->ssh.size = sizeof(n->ssh);
    n->ssh.host = opt_str(ssh, "host");
    if (n->ssh.host == NULL)
        n->ssh.host = n->public_ip ? n->public_ip : n->private_ip;
    long port = 22;
    const infra_json *pj = ssh ? MJ->get(ssh, "port") : NULL;
    if (pj && MJ->type(pj) != INFRA_JSON_NULL &&
        (pu_json_to_int(pj, &port) < 0 || port <= 0 || port > 65535)) {
        pu_diagf(call, "", "node %s: ssh.port must be a port number", n->name);
        return INFRA_EINVALID;
    }
    n->ssh.port = (int)port;
    n->ssh.user = opt_str(ssh, "user");
    if (n->ssh.user == NULL)
        n->ssh.user = "root";
    n->ssh.private_key = opt_str(ssh, "private_key");
    n->ssh.host_key_sha256 = opt_str(ssh, "host_key_sha256");
    return 0;
}

void marathon_cluster_free(marathon_cluster *c)
{
    for (size_t r = 0; r < c->nregions; r++) {
        free(c->regions[r].masters);
        free(c->regions[r].ensemble);
        free(c->regions[r].agents);
        free(c->regions[r].balancers);
    }
    free(c->regions);
    free(c->nodes);
    memset(c, 0, sizeof(*c));
}

static size_t count_nodes(const infra_json *regions)
{
    size_t n = 0;
    void *ri = NULL;
    const char *rname;
    const infra_json *reg;
    while (MJ->next(regions, &ri, &rname, &reg)) {
        void *di = NULL;
        const char *dname;
        const infra_json *dc;
        while (MJ->next(MJ->get(reg, "datacenters"), &di, &dname, &dc))
            n += MJ->length(MJ->get(dc, "servers")) + MJ->length(MJ->get(dc, "clients"));
    }
    return n;
}

static int parse_datacenter(infra_call *call, marathon_cluster *c, const char *rname,
                            const char *dname, const infra_json *dc, int need_ips)
{
    char *path = pu_printf("regions.%s.datacenters.%s.node_settings", rname, dname);
    dc_settings ds;
    int error = dc_settings_parse(call, MJ->get(dc, "node_settings"), path, &ds);
    for (int k = 0; k < 2 && error == 0; k++) {
        const infra_json *list = MJ->get(dc, k == 0 ? "servers" : "clients");
        marathon_role role;
        if (MJ->length(list) == 0)
            continue;
        if ((error = role_of(call, &ds, k == 0, path, &role)) < 0)
            break;
        for (size_t i = 0; i < MJ->length(list) && error == 0; i++) {
            marathon_node *n = &c->nodes[c->nnodes];
            if ((error = node_parse(call, MJ->at(list, i), rname, dname, k == 0, need_ips, n)) < 0)
                break;
            n->role = role;
            n->attributes = ds.attributes;
            n->resources = ds.resources;
            n->install = ds.install;
            if (marathon_cluster_node(c, n->name) != NULL) {
                pu_diagf(call, "regions", "node name %s is used twice", n->name);
                error = INFRA_EINVALID;
                break;
            }
            c->nnodes++;
        }
    }
    free(path);
    return error;
}

static void add_node(marathon_node ***list, size_t *n, marathon_node *node)
{
    *list = pu_realloc(*list, (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = node;
}

static int parse_region(infra_call *call, marathon_cluster *c, const char *rname,
                        const infra_json *reg, int need_ips)
{
    marathon_region *r = &c->regions[c->nregions++];
    const infra_json *dcs = MJ->get(reg, "datacenters");
    int error = 0;

    r->name = rname;
    if (!pu_name_ok(rname)) {
        pu_diagf(call, "regions", "region name \"%s\" must be letters, digits, \"_\" and \"-\"",
                 rname);
        return INFRA_EINVALID;
    }
    if (dcs == NULL || MJ->type(dcs) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "regions", "region %s has no datacenters", rname);
        return INFRA_EINVALID;
    }
    size_t first = c->nnodes;
    void *di = NULL;
    const char *dname;
    const infra_json *dc;
    while (MJ->next(dcs, &di, &dname, &dc)) {
        if (!pu_name_ok(dname)) {
            pu_diagf(call, "regions", "datacenter name \"%s\" must be a name", dname);
            return INFRA_EINVALID;
        }
        if ((error = parse_datacenter(call, c, rname, dname, dc, need_ips)) < 0)
            return error;
    }
    int dedicated = 0;
    for (size_t i = first; i < c->nnodes; i++)
        dedicated |= c->nodes[i].role == MARATHON_ROLE_ZOOKEEPER;
    for (size_t i = first; i < c->nnodes; i++) {
        marathon_node *n = &c->nodes[i];
        switch (n->role) {
        case MARATHON_ROLE_MASTER:
            add_node(&r->masters, &r->nmasters, n);
            if (!dedicated)
                add_node(&r->ensemble, &r->nensemble, n);
            break;
        case MARATHON_ROLE_ZOOKEEPER:
            add_node(&r->ensemble, &r->nensemble, n);
            break;
        case MARATHON_ROLE_AGENT:
            add_node(&r->agents, &r->nagents, n);
            break;
        case MARATHON_ROLE_BALANCER:
            add_node(&r->balancers, &r->nbalancers, n);
            break;
        }
    }
    return 0;
}

int marathon_cluster_parse(infra_call *call, const infra_json *json, int need_ips,
                           marathon_cluster *out)
{
    int error = 0;
    memset(out, 0, sizeof(*out));
    if (json == NULL || MJ->type(json) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "", "the cluster must be described by an object");
        return INFRA_EINVALID;
    }
    out->name = opt_str(json, "name");
    if (!pu_name_ok(out->name)) {
        pu_diagf(call, "", "the cluster has no valid name");
        return INFRA_EINVALID;
    }
    const infra_json *regions = MJ->get(json, "regions");
    if (regions == NULL || MJ->type(regions) != INFRA_JSON_OBJECT || MJ->length(regions) == 0) {
        pu_diagf(call, "regions", "cluster %s has no regions", out->name);
        return INFRA_EINVALID;
    }
    out->nodes = pu_calloc(count_nodes(regions), sizeof(*out->nodes));
    out->regions = pu_calloc(MJ->length(regions), sizeof(*out->regions));
    void *ri = NULL;
    const char *rname;
    const infra_json *reg;
    while (MJ->next(regions, &ri, &rname, &reg))
        if ((error = parse_region(call, out, rname, reg, need_ips)) < 0)
            break;
    if (error < 0)
        marathon_cluster_free(out);
    return error;
}

int marathon_node_alone(infra_call *call, const infra_json *cluster, const infra_json *json,
                        marathon_node *out)
{
    const char *role = pu_json_str(json, "role");
    int server = role && strcmp(role, "server") == 0;
    int error = node_parse(call, json, NULL, NULL, server, 0, out);
    if (error < 0)
        return error;
    /* what its datacenter says, when the topology still has it */
    const infra_json *dc = MJ->get(
        MJ->get(MJ->get(MJ->get(cluster, "regions"), out->region), "datacenters"), out->datacenter);
    dc_settings ds;
    out->role = server ? MARATHON_ROLE_MASTER : MARATHON_ROLE_AGENT;
    if (dc && dc_settings_parse(call, MJ->get(dc, "node_settings"), "node_settings", &ds) == 0 &&
        role_of(call, &ds, server, "node_settings", &out->role) == 0) {
        out->attributes = ds.attributes;
        out->resources = ds.resources;
        out->install = ds.install;
    }
    return 0;
}

const marathon_node *marathon_cluster_node(const marathon_cluster *c, const char *name)
{
    for (size_t i = 0; name && i < c->nnodes; i++)
        if (strcmp(c->nodes[i].name, name) == 0)
            return &c->nodes[i];
    return NULL;
}

const marathon_region *marathon_cluster_region(const marathon_cluster *c, const char *name)
{
    for (size_t i = 0; name && i < c->nregions; i++)
        if (strcmp(c->regions[i].name, name) == 0)
            return &c->regions[i];
    return NULL;
}

int marathon_in_ensemble(const marathon_region *r, const marathon_node *n)
{
    for (size_t i = 0; i < r->nensemble; i++)
        if (strcmp(r->ensemble[i]->name, n->name) == 0)
            return 1;
    return 0;
}

const char *marathon_api_ip(const marathon_settings *s, const marathon_node *n)
{
    if (s->api_public && n->public_ip)
        return n->public_ip;
    return n->private_ip ? n->private_ip : n->public_ip;
}

size_t marathon_node_services(const marathon_region *r, const marathon_node *n,
                              marathon_service *out)
{
    size_t k = 0;
    if (marathon_in_ensemble(r, n))
        out[k++] = MARATHON_SVC_ZOOKEEPER;
    if (n->role == MARATHON_ROLE_MASTER) {
        out[k++] = MARATHON_SVC_MASTER;
        out[k++] = MARATHON_SVC_MARATHON;
    } else if (n->role == MARATHON_ROLE_AGENT) {
        out[k++] = MARATHON_SVC_AGENT;
    } else if (n->role == MARATHON_ROLE_BALANCER) {
        out[k++] = MARATHON_SVC_BALANCER;
    }
    return k;
}
