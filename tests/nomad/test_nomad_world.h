/* The world of the nomad plugin's integration test: a pool of real SSH
 * hosts (tests/harness/hostpool.sh), the plugin loaded through the core
 * loader, the cluster and node JSON the engine would pass, and helpers to
 * look at the hosts over SSH and at the agents over HTTP. */
#ifndef TEST_NOMAD_WORLD_H
#define TEST_NOMAD_WORLD_H

#include <infra/plugin.h>
#include <jansson.h>
#include <stddef.h>

#include "plugin/loader.h"

typedef struct nw_host {
    char *address;
    char *fingerprint;
    char *key;
} nw_host;

typedef struct nw_world {
    char dir[512]; /* the pool's directory */
    char standins[512]; /* the stand-in agents, copied where the hosts see them, or "" */
    nw_host *hosts;
    size_t nhosts;
    char unused_ip[64]; /* an address of the pool's network nothing answers on */
    loader_plugin plugin;
    const infra_scheduler_ops *ops;
} nw_world;

/* Diagnostics of one call, concatenated. */
typedef struct nw_diags {
    int errors;
    char text[32768];
} nw_diags;

/* Creates the pool of n hosts and loads the plugin. 0, or 77 (skip) with a
 * reason printed, or -1. With need_standins, a tree without the stand-in
 * agents is a skip. */
int nw_world_create(nw_world *w, size_t n, int need_standins);
void nw_world_destroy(nw_world *w);

/* A call whose diagnostics go to d. Clear with host_call_clear. */
void nw_call(infra_call *call, nw_diags *d, const char *address);

/* {"name", "scheduler", "environment", "settings", "regions": {}, "federate": []}. */
json_t *nw_cluster_new(const char *name);
/* A NODE for host h, added to cluster under region/dc; returns it (borrowed). */
json_t *nw_cluster_add(json_t *cluster, const char *region, const char *dc, const char *role,
                       int index, const char *ip, const nw_host *h);
/* The node called name (borrowed), or NULL. */
json_t *nw_cluster_node(json_t *cluster, const char *name);
/* Removes node name from the cluster. */
void nw_cluster_remove(json_t *cluster, const char *name);

/* configure() with the cluster's settings plus name and environment. */
infra_scheduler *nw_configure(nw_world *w, const char *cluster, json_t *settings);

/* nw_configure with the staged stand-in agents (nomad_binary, when not NULL,
 * replaces the nomad one) and the given node and job deadlines (seconds;
 * 0 = the plugin's default). */
infra_scheduler *nw_configure_standins(nw_world *w, const char *cluster, const char *nomad_binary,
                                       int node_deadline, int job_deadline);

/* node_bootstrap / node_remove of node (its "address" names the call),
 * with d cleared first; the plugin's result. */
int nw_node_bootstrap(nw_world *w, infra_scheduler *ctx, json_t *cluster, json_t *node,
                      nw_diags *d);
int nw_node_remove(nw_world *w, infra_scheduler *ctx, json_t *cluster, json_t *node, nw_diags *d);

/* wait_ready of region with d cleared first; the plugin's result. */
int nw_wait_ready(nw_world *w, infra_scheduler *ctx, json_t *cluster, const char *region,
                  int64_t ms, nw_diags *d);

/* cluster_status's "regions"."region" (a new reference), failing the test
 * when the call fails. */
json_t *nw_region_status(nw_world *w, infra_scheduler *ctx, json_t *cluster, const char *region);

/* node_bootstrap of every node of region (NULL = all), in parallel like
 * the engine; returns the first error and collects every diagnostic. */
int nw_bootstrap_region(nw_world *w, infra_scheduler *ctx, json_t *cluster, const char *region,
                        nw_diags *d);

/* Runs a command on h as root; its exit status, stdout in *out (malloc'd,
 * may be NULL); -1 when SSH failed. */
int nw_ssh(const nw_host *h, const char *cmd, char **out);

/* The host whose address is ip, or NULL. */
const nw_host *nw_host_by_ip(const nw_world *w, const char *ip);

/* An HTTP request with the cluster's CA and token (secret names in the
 * host's store): 0 with *status and *body (malloc'd) on an answer. */
int nw_http(const char *method, const char *url, const char *ca_secret, const char *token_header,
            const char *token_secret, long *status, char **body);

#endif
