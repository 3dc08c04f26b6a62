/* The scheduler bridge: a cluster's scheduler plugin served to the engine
 * as the provider "cluster.NAME" of the resources topology_sched.c adds
 * (cluster_agent, cluster_region, cluster_federation, job, app), so that
 * bootstrapping a cluster is planned, applied, recorded and resumed like
 * any other change. See docs/internals/clusters.md.
 *
 *   cluster_agent       create/update: node_bootstrap    delete: node_remove
 *   cluster_region      create/update: wait_ready        delete: nothing
 *   cluster_federation  create/update: federate          delete: nothing
 *   cluster_pool        create/update: pool_wait         delete: nothing
 *   job, app            create/update: job_submit        delete: job_stop
 *                       read: job_status (a job gone is planned again)
 *
 * The cluster description handed to the plugin is built from the state:
 * every node whose instance exists, with its addresses and SSH details.
 * The bridge is called by the call layer only (engine/call.c), and calls
 * the scheduler's slots through it. */
#ifndef INFRA_SCHEDULER_H
#define INFRA_SCHEDULER_H

#include <jansson.h>

#include "engine/call.h"
#include "engine/engine.h"

/* Prepares engine provider i (a scheduler provider of the topology): finds
 * the scheduler plugin, reads its schema and fills desc, plugin, bridge,
 * capabilities, schema and the settings configure() receives (the
 * cluster's, plus "name" and "environment").
 * Errors go to diags at the cluster; 0 or INFRA_EINVALID. */
int scheduler_provider_load(engine *e, size_t i, diag_list *diags);

/* Runs the plugin's validate op on the cluster as the topology declares it
 * (no node exists yet). Diagnostics reach c. */
int scheduler_provider_validate(engine *e, size_t i, engine_call *c);

/* The cluster JSON of plugin.h for provider i, from what the state holds
 * now. New value. */
json_t *scheduler_cluster_json(engine *e, size_t i);

/* The scheduler's view of the cluster (cluster_status op): 0 with *out
 * (new value), INFRA_ENOTSUP when the plugin has no such op, or a negative
 * INFRA_E* with *err (caller frees). */
int scheduler_cluster_status(engine *e, size_t i, json_t **out, char **err);

/* The user data a client pool's template (res, marked pool_template by
 * the topology) is given: the scheduler's pool_user_data, registered with
 * the log's secrets. 0 with *out (caller zeroes and frees),
 * INFRA_ENOTFOUND when res is no pool's, or an error with *err. */
int scheduler_pool_user_data(engine *e, const topo_resource *res, char **out, char **err);

/* Before a pool's group (res) is reduced to keep instances: drains, through
 * the scheduler, the clients of the instances that go (the last ones of
 * prior's instance_addresses), and hands their ids back in *victims (new
 * array; NULL when none goes or res is no pool's group). Any failed drain
 * is an error with *err, and nothing may be terminated then. */
int scheduler_pool_scale_in(engine *e, const topo_resource *res, const json_t *prior,
                            json_int_t keep, json_t **victims, char **err);

#endif
