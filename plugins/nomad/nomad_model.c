/* The cluster and node JSON the host passes (plugin.h, scheduler part),
 * read into structs whose strings are borrowed from the JSON. */
#include "nomad.h"

#include <stdlib.h>
#include <string.h>

/* A string member that may be null or absent; "" counts as absent. */
static const char *opt_str(const infra_json *obj, const char *key)
{
    const char *s = pu_json_str(obj, key);
    return s && *s ? s : NULL;
}

static int node_parse(infra_call *call, const infra_json *json, const char *region,
                      const char *datacenter, const char *role, int need_ip, nomad_node *n)
{
    memset(n, 0, sizeof(*n));
    if (json == NULL || NJ->type(json) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "", "a node must be described by an object");
        return INFRA_EINVALID;
    }
    n->name = opt_str(json, "name");
    n->address = opt_str(json, "address");
    const char *what = n->address ? n->address : n->name ? n->name : "a node";
    if (!nomad_name_ok(n->name)) {
        pu_diagf(call, "", "%s: node name \"%s\" must be letters, digits, \".\", \"_\" and \"-\"",
                 what, n->name ? n->name : "");
        return INFRA_EINVALID;
    }
    n->role = opt_str(json, "role");
    if (n->role == NULL)
        n->role = role;
    if (n->role == NULL || (strcmp(n->role, "server") != 0 && strcmp(n->role, "client") != 0)) {
        pu_diagf(call, "", "node %s: role must be \"server\" or \"client\"", n->name);
        return INFRA_EINVALID;
    }
    if (role != NULL && strcmp(n->role, role) != 0) {
        pu_diagf(call, "", "node %s: listed among the %ss but its role is %s", n->name, role,
                 n->role);
        return INFRA_EINVALID;
    }
    n->server = strcmp(n->role, "server") == 0;
    /* A combined node: one agent with both stanzas (docs/nomad.md). */
    int combined = 0;
    if (nomad_jbool(json, "client", 0, &combined) < 0) {
        pu_diagf(call, "", "node %s: \"client\" must be true or false", n->name);
        return INFRA_EINVALID;
    }
    n->client = !n->server || combined;
    n->region = opt_str(json, "region");
    if (n->region == NULL)
        n->region = region;
    n->consul_dc = n->region; /* parse_region sets the region's own */
    n->datacenter = opt_str(json, "datacenter");
    if (n->datacenter == NULL)
        n->datacenter = datacenter;
    if (!nomad_name_ok(n->region) || !nomad_name_ok(n->datacenter)) {
        pu_diagf(call, "", "node %s: region and datacenter must be names", n->name);
        return INFRA_EINVALID;
    }
    if ((region && strcmp(n->region, region) != 0) ||
        (datacenter && strcmp(n->datacenter, datacenter) != 0)) {
        pu_diagf(call, "", "node %s: listed in %s/%s but says %s/%s", n->name, region, datacenter,
                 n->region, n->datacenter);
        return INFRA_EINVALID;
    }
    n->private_ip = opt_str(json, "private_ip");
    n->public_ip = opt_str(json, "public_ip");
    n->hostname = opt_str(json, "hostname");
    if (n->private_ip == NULL && need_ip) {
        pu_diagf(call, "", "node %s has no private_ip yet", n->name);
        return INFRA_EINVALID;
    }
    if ((n->private_ip && !nomad_ip_ok(n->private_ip)) ||
        (n->public_ip && !nomad_ip_ok(n->public_ip))) {
        pu_diagf(call, "", "node %s: private_ip and public_ip must be IP addresses", n->name);
        return INFRA_EINVALID;
    }
    if (n->hostname && !nomad_name_ok(n->hostname))
        n->hostname = NULL; /* only a DNS name can go into a certificate */

    const infra_json *ssh = NJ->get(json, "ssh");
    n->ssh.size = sizeof(n->ssh);
    n->ssh.host = opt_str(ssh, "host");
    if (n->ssh.host == NULL)
        n->ssh.host = n->public_ip ? n->public_ip : n->private_ip;
    int64_t port = 22;
    if (ssh && NJ->get(ssh, "port") && NJ->type(NJ->get(ssh, "port")) != INFRA_JSON_NULL &&
        (nomad_jint(ssh, "port", &port) < 0 || port <= 0 || port > 65535)) {
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

int nomad_node_parse(infra_call *call, const infra_json *json, int need_ip, nomad_node *out)
{
    return node_parse(call, json, NULL, NULL, NULL, need_ip, out);
}

void nomad_cluster_free(nomad_cluster *c)
{
    for (size_t r = 0; r < c->nregions; r++) {
        free(c->regions[r].datacenters);
        free(c->regions[r].servers);
        free(c->regions[r].clients);
    }
    free(c->regions);
    free(c->nodes);
    free(c->federate);
    memset(c, 0, sizeof(*c));
}

/* Counts the nodes listed under every datacenter. */
static size_t count_nodes(const infra_json *regions)
{
    size_t n = 0;
    void *ri = NULL;
    const char *rname;
    const infra_json *reg;
    while (NJ->next(regions, &ri, &rname, &reg)) {
        void *di = NULL;
        const char *dname;
        const infra_json *dc;
        while (NJ->next(NJ->get(reg, "datacenters"), &di, &dname, &dc))
            n += NJ->length(NJ->get(dc, "servers")) + NJ->length(NJ->get(dc, "clients"));
    }
    return n;
}

/* A region's Consul datacenter: what its datacenters' node_settings say
 * (consul_datacenter), the same for all of them since the region's Consul
 * servers make one Consul datacenter, or the region's name. */
static int region_consul_dc(infra_call *call, nomad_region *r, const infra_json *dcs)
{
    const char *from = NULL;
    void *di = NULL;
    const char *dname;
    const infra_json *dc;
    r->consul_dc = NULL;
    while (NJ->next(dcs, &di, &dname, &dc)) {
        const infra_json *v = NJ->get(NJ->get(dc, "node_settings"), "consul_datacenter");
        if (v == NULL || NJ->type(v) == INFRA_JSON_NULL)
            continue;
        const char *name = NJ->string(v);
        char *attr =
            pu_printf("regions.%s.datacenters.%s.node_settings.consul_datacenter", r->name, dname);
        int error = 0;
        if (name == NULL || !nomad_region_name_ok(name)) {
            pu_diagf(call, attr,
                     "consul_datacenter must be a Consul datacenter name, ^[a-z0-9_-]+$ "
                     "(lower-case letters, digits, \"_\" and \"-\")");
            error = INFRA_EINVALID;
        } else if (r->consul_dc && strcmp(r->consul_dc, name) != 0) {
            pu_diagf(call, attr,
                     "consul_datacenter \"%s\" differs from \"%s\" of datacenter %s: the "
                     "servers of region %s make one Consul datacenter, so its datacenters give "
                     "the same one (or leave it out)",
                     name, r->consul_dc, from, r->name);
            error = INFRA_EINVALID;
        }
        free(attr);
        if (error < 0)
            return error;
        r->consul_dc = name;
        from = dname;
    }
    if (r->consul_dc == NULL)
        r->consul_dc = r->name;
    return 0;
}

static int parse_region(infra_call *call, nomad_cluster *c, const char *rname,
                        const infra_json *reg, int need_ips)
{
    nomad_region *r = &c->regions[c->nregions++];
    const infra_json *dcs = NJ->get(reg, "datacenters");
    size_t ndc = NJ->length(dcs);
    int error = 0;

    r->name = rname;
    if (!nomad_region_name_ok(rname)) {
        char *attr = pu_printf("regions.%s", rname);
        pu_diagf(call, attr,
                 "region name \"%s\": each region is a Consul datacenter of the same name, and "
                 "Consul accepts only ^[a-z0-9_-]+$ (lower-case letters, digits, \"_\" and \"-\"; "
                 "it lower-cases the rest, so Nomad and Consul would disagree on the name)",
                 rname);
        free(attr);
        return INFRA_EINVALID;
    }
    if (dcs == NULL || NJ->type(dcs) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "regions", "region %s has no datacenters", rname);
        return INFRA_EINVALID;
    }
    r->datacenters = pu_calloc(ndc, sizeof(*r->datacenters));
    void *di = NULL;
    const char *dname;
    const infra_json *dc;
    size_t nodes_before = c->nnodes;
    while (NJ->next(dcs, &di, &dname, &dc)) {
        if (!nomad_name_ok(dname)) {
            pu_diagf(call, "regions", "datacenter name \"%s\" must be a name", dname);
            return INFRA_EINVALID;
        }
        r->datacenters[r->ndatacenters++] = dname;
        static const char *const roles[] = {"server", "client"};
        static const char *const lists[] = {"servers", "clients"};
        for (int k = 0; k < 2; k++) {
            const infra_json *list = NJ->get(dc, lists[k]);
            for (size_t i = 0; i < NJ->length(list); i++) {
                nomad_node *n = &c->nodes[c->nnodes];
                if ((error = node_parse(call, NJ->at(list, i), rname, dname, roles[k], need_ips,
                                        n)) < 0)
                    return error;
                for (size_t j = 0; j < c->nnodes; j++)
                    if (strcmp(c->nodes[j].name, n->name) == 0) {
                        pu_diagf(call, "regions", "node name %s is used twice", n->name);
                        return INFRA_EINVALID;
                    }
                c->nnodes++;
            }
        }
    }
    if ((error = region_consul_dc(call, r, dcs)) < 0)
        return error;
    for (size_t i = nodes_before; i < c->nnodes; i++)
        c->nodes[i].consul_dc = r->consul_dc;
    size_t nr = c->nnodes - nodes_before;
    r->servers = pu_calloc(nr, sizeof(*r->servers));
    r->clients = pu_calloc(nr, sizeof(*r->clients));
    for (size_t i = nodes_before; i < c->nnodes; i++) {
        if (c->nodes[i].server)
            r->servers[r->nservers++] = &c->nodes[i];
        if (c->nodes[i].client)
            r->clients[r->nclients++] = &c->nodes[i];
    }
    return 0;
}

int nomad_cluster_parse(infra_call *call, const infra_json *json, int need_ips, nomad_cluster *out)
{
    int error = 0;
    memset(out, 0, sizeof(*out));
    if (json == NULL || NJ->type(json) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "", "the cluster must be described by an object");
        return INFRA_EINVALID;
    }
    out->name = opt_str(json, "name");
    if (!nomad_name_ok(out->name)) {
        pu_diagf(call, "", "the cluster has no valid name");
        return INFRA_EINVALID;
    }
    const infra_json *regions = NJ->get(json, "regions");
    if (regions == NULL || NJ->type(regions) != INFRA_JSON_OBJECT || NJ->length(regions) == 0) {
        pu_diagf(call, "regions", "cluster %s has no regions", out->name);
        return INFRA_EINVALID;
    }
    out->nodes = pu_calloc(count_nodes(regions), sizeof(*out->nodes));
    out->regions = pu_calloc(NJ->length(regions), sizeof(*out->regions));
    void *ri = NULL;
    const char *rname;
    const infra_json *reg;
    while (NJ->next(regions, &ri, &rname, &reg))
        if ((error = parse_region(call, out, rname, reg, need_ips)) < 0)
            goto done;

    /* Consul datacenters join over the WAN by name: one per region. */
    for (size_t i = 0; i < out->nregions; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->regions[i].consul_dc, out->regions[j].consul_dc) == 0) {
                pu_diagf(call, "regions",
                         "regions %s and %s are both Consul datacenter \"%s\": each region "
                         "needs a Consul datacenter of its own (consul_datacenter)",
                         out->regions[j].name, out->regions[i].name, out->regions[i].consul_dc);
                error = INFRA_EINVALID;
                goto done;
            }
    const infra_json *fed = NJ->get(json, "federate");
    if (fed != NULL && NJ->type(fed) != INFRA_JSON_NULL) {
        if (NJ->type(fed) != INFRA_JSON_ARRAY) {
            pu_diagf(call, "federate", "federate must be a list of region names");
            error = INFRA_EINVALID;
            goto done;
        }
        out->federate = pu_calloc(NJ->length(fed), sizeof(*out->federate));
        for (size_t i = 0; i < NJ->length(fed); i++) {
            const char *name = NJ->string(NJ->at(fed, i));
            if (name == NULL || nomad_cluster_region(out, name) == NULL) {
                pu_diagf(call, "federate", "federate[%zu]: \"%s\" is not a region of cluster %s", i,
                         name ? name : "(not a string)", out->name);
                error = INFRA_EINVALID;
                goto done;
            }
            for (size_t j = 0; j < out->nfederate; j++)
                if (strcmp(out->federate[j], name) == 0) {
                    pu_diagf(call, "federate", "federate lists region %s twice", name);
                    error = INFRA_EINVALID;
                    goto done;
                }
            out->federate[out->nfederate++] = name;
        }
    }
    /* One primary Consul datacenter and authoritative Nomad region for the
     * federated regions: primary_region, or the first one federated. */
    const char *primary = pu_json_str(NJ->get(json, "settings"), "primary_region");
    if (primary != NULL && *primary != '\0') {
        int listed = 0;
        for (size_t i = 0; i < out->nfederate; i++)
            listed |= strcmp(out->federate[i], primary) == 0;
        if (!listed) {
            pu_diagf(call, "primary_region",
                     "primary_region \"%s\" must be one of the regions in federate", primary);
            error = INFRA_EINVALID;
            goto done;
        }
        out->primary = primary;
    } else if (out->nfederate >= 2) {
        out->primary = out->federate[0];
    }
done:
    if (error < 0)
        nomad_cluster_free(out);
    return error;
}

const nomad_region *nomad_cluster_region(const nomad_cluster *c, const char *name)
{
    for (size_t i = 0; name && i < c->nregions; i++)
        if (strcmp(c->regions[i].name, name) == 0)
            return &c->regions[i];
    return NULL;
}

const char *nomad_node_api_ip(const nomad_settings *s, const nomad_node *n)
{
    if (s->api_public && n->public_ip)
        return n->public_ip;
    return n->private_ip ? n->private_ip : n->public_ip;
}

void nomad_region_peers(const nomad_region *r, const nomad_node *n, nomad_strs *out)
{
    for (size_t i = 0; i < r->nservers; i++)
        if (r->servers[i]->private_ip && (n == NULL || strcmp(r->servers[i]->name, n->name) != 0))
            nomad_strs_add(out, r->servers[i]->private_ip);
}

const char *nomad_cluster_authority(const nomad_cluster *c, const char *region)
{
    for (size_t i = 0; c->primary && region && i < c->nfederate; i++)
        if (strcmp(c->federate[i], region) == 0)
            return c->primary;
    return region;
}

const char *nomad_cluster_consul_dc(const nomad_cluster *c, const char *region)
{
    const nomad_region *r = nomad_cluster_region(c, region);
    return r ? r->consul_dc : region;
}

int nomad_region_secondary(const nomad_cluster *c, const char *region)
{
    const char *auth = nomad_cluster_authority(c, region);
    return auth && region && strcmp(auth, region) != 0;
}
