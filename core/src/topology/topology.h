/* The topology: one YAML file (plus environment overlay and variables)
 * turned into providers, resources, clusters, jobs and outputs, with the
 * file:line:column of every value kept for diagnostics.
 *
 * Loading never touches the network. References to other resources
 * ("${instance.web[0].private_ip}") stay as text in resource configs and are
 * resolved by the engine with topology_eval(); variables and environment
 * variables are substituted at load time. */
#ifndef INFRA_TOPOLOGY_H
#define INFRA_TOPOLOGY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"

typedef struct topology topology;

/* Options for topology_load. */
typedef struct topology_options {
    const char *environment;   /* -e NAME, or NULL for none */
    const char *const *vars;   /* NULL-terminated "k=v" from --var, or NULL */
    const char *const *var_files; /* NULL-terminated YAML files of k: v from --var-file, or NULL */
} topology_options;

typedef struct topo_provider {
    char *name;       /* instance name in the topology ("aws-us") */
    char *plugin;     /* plugin name ("aws"); defaults to name */
    int parallelism;  /* per-provider concurrent call limit; 0 = unlimited */
    int64_t timeout_ms; /* `timeout:` of every plugin call; 0 = the engine's defaults */
    json_t *settings; /* everything else, passed to configure() */
    diag_loc loc;     /* where the provider is declared */
    int scheduler;    /* 1: "cluster.NAME", the scheduler plugin of clusters[cluster] */
    size_t cluster;   /* with scheduler: index into topology clusters */
} topo_provider;

typedef struct topo_resource {
    char *address;    /* unique: "instance.web[0]", "network.main", "cluster.main.us.dc1.server[1]" */
    char *type;       /* provider resource type: "instance", "network", ... */
    char *name;       /* the YAML key ("web") */
    int index;        /* count index, -1 without count */
    char *provider;   /* topo_provider.name */
    json_t *config;   /* attributes for the provider (meta keys removed); strings may hold ${...} refs */
    char **deps;      /* addresses this resource depends on: references + depends_on, deduplicated; may name a group */
    size_t ndeps;
    const char **groups; /* addresses of the groups it is a member of (borrowed from them) */
    size_t ngroups;
    int self_ref;     /* it refers to itself (a cycle of one; never in deps) */
    int prevent_destroy; /* lifecycle flag */
    int data;         /* 1 for a data source (images: looked up, never created) */
    char *bastion;    /* address of the instance SSH goes through to reach it (meta key bastion), or
                         NULL */
    diag_loc loc;     /* where the resource is declared */
    /* Part of a datacenter's client pool (`clients: {pool: ...}`): on the
     * pool's template, the scheduler supplies its user_data; on the group,
     * a scale-in drains the instances that go. NULL elsewhere. */
    char *pool_cluster; /* the cluster's name */
    char *pool_region;
    char *pool_datacenter;
    int pool_template; /* 1: the template, 0: the group */
} topo_resource;

/* A group of resources that others depend on as a whole (the servers of a
 * region): one graph node instead of an edge from every member to every
 * dependent. Its address ends in "[*]", which no resource's does. */
typedef struct topo_group {
    char *address;    /* "cluster.main.europe.servers[*]" */
    char **members;   /* resource addresses */
    size_t nmembers;
} topo_group;

typedef struct topo_datacenter {
    char *name;
    char *provider;
    int servers;
    int clients;
    int servers_client; /* servers: {client: true}: each server is also a client */
    json_t *settings; /* machine, image, ... */
    json_t *node_settings; /* node_settings: for the scheduler about these nodes, or NULL */
    char *pool;       /* clients: {pool: ADDRESS}: the autoscaling group running its clients */
    char *pool_template; /* that group's instance template (its launch_template reference) */
    diag_loc loc;
    const void *body; /* loader internal: its YAML mapping (the key may be ${...}) */
    const void *pool_node; /* loader internal: the pool's YAML value */
} topo_datacenter;

typedef struct topo_region {
    char *name;
    topo_datacenter *datacenters;
    size_t ndatacenters;
    diag_loc loc;
} topo_region;

typedef struct topo_cluster {
    char *name;
    char *scheduler;  /* plugin name: "nomad", "marathon" */
    topo_region *regions;
    size_t nregions;
    char **federate;  /* region names to federate */
    size_t nfederate;
    json_t *settings; /* any other keys, for the scheduler */
    diag_loc loc;
} topo_cluster;

typedef struct topo_job {
    char *name;
    char *kind;       /* "job" (jobs:) or "app" (apps:) */
    char *cluster;
    char **regions;
    size_t nregions;
    char *file;       /* path as written, relative to the topology's directory */
    json_t *set;      /* overrides (image_tag, count, name...) */
    diag_loc loc;
} topo_job;

/* What stands for a sensitive value (the engine's ENGINE_SENSITIVE). */
#define TOPO_SENSITIVE "(sensitive)"

typedef struct topo_output {
    char *name;
    json_t *value; /* may hold ${...} refs; TOPO_SENSITIVE when sensitive */
    int sensitive; /* uses a sensitive variable: its value is never computed, stored or shown */
    char **deps;
    size_t ndeps;
    diag_loc loc;
} topo_output;

struct topology {
    char *name;        /* topology name */
    char *file;        /* path of the YAML file as given */
    char *dir;         /* directory of the file */
    char *environment; /* selected environment or NULL */
    topo_provider *providers;
    size_t nproviders;
    topo_resource *resources; /* in file order; count-expanded */
    size_t nresources;
    topo_cluster *clusters;
    size_t nclusters;
    topo_job *jobs;
    size_t njobs;
    topo_output *outputs;
    size_t noutputs;
    topo_group *groups;
    size_t ngroups;
    json_t *backend;   /* the `backend:` block (variables substituted), or NULL: local */
    diag_loc backend_loc; /* where it is declared */
    void *priv;        /* loader internals (YAML tree, indexes) */
};

/* The kind of a JSON value as type errors name it: "a string", "an integer",
 * "a number", "a boolean", "a list", "a mapping", "null". Static text. */
const char *topology_json_type_name(const json_t *value);

/* Loads and checks a topology. On any error returns INFRA_EINVALID with
 * diagnostics in diags (file:line:col + key) and *out NULL. Caller frees *out
 * with topology_free. */
int topology_load(const char *path, const topology_options *opts, topology **out,
                  diag_list *diags);

/* Same from a buffer; name is used as the file name in diagnostics. */
int topology_load_buffer(const char *name, const char *text, size_t len,
                         const topology_options *opts, topology **out, diag_list *diags);

void topology_free(topology *topo);

/* 1 when value (a config or attribute value, searched through lists and
 * maps) holds the value of a variable declared sensitive: a string
 * containing one of its strings, or one of its numbers or booleans. Such
 * a value is shown as "(sensitive)" and kept out of the state like a
 * sensitive attribute of a provider's schema. */
int topology_value_sensitive(const topology *topo, const json_t *value);

/* Resource by address, or NULL (borrowed). O(1). */
const topo_resource *topology_resource(const topology *topo, const char *address);

/* 1 when address names a group ("...[*]") rather than a resource. */
int topology_is_group(const char *address);

/* Provider by name, or NULL (borrowed). */
const topo_provider *topology_provider(const topology *topo, const char *name);

/* Location of attr_path (dotted, e.g. "tags.Name" or "ports[1]") inside the
 * resource at address ("provider.NAME" for a provider, "backend" for the
 * backend block), falling back to the object itself. 0 or INFRA_ENOTFOUND. */
int topology_locate(const topology *topo, const char *address, const char *attr_path,
                    diag_loc *out);

/* Looks up one attribute of a resource for topology_eval.
 * Return a borrowed value, or NULL when not known yet (planned for create). */
typedef const json_t *(*topology_lookup_fn)(void *ud, const char *address, const char *attr);

/* Resolves every ${...} reference inside value (recursively through arrays
 * and objects). A string that is exactly one reference takes the referenced
 * value's type; otherwise values are converted to text and concatenated.
 * "${type.name[*].attr}" yields an array over all count instances.
 * Returns 0 with *out a new value; 1 with *out a new value when some
 * reference is not known yet: the value of such a reference is the
 * unknown value (base/unknown.h), and so is a string it is part of;
 * INFRA_EINVALID with *err (caller frees) when a reference names an
 * unknown resource or attribute. */
int topology_eval(const topology *topo, const json_t *value, topology_lookup_fn lookup,
                  void *ud, json_t **out, char **err);

#endif
