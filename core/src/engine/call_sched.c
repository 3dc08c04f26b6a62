/* The scheduler slots of the provider-call layer (see call.h): a cluster's
 * scheduler plugin is called from here, by the bridge of engine/scheduler.c. */
#include "engine/call_int.h"

#include <stdlib.h>

#include "base/util.h"
#include "services/log.h"
#include "services/secrets.h"

int call_sched_schema(engine_call *c, json_t **out)
{
    infra_json *schema = NULL;
    int error;
    *out = NULL;
    call_op_begin(c, "schema", CALL_TIMEOUT_QUICK_MS);
    if (!HAS_SCHED(c, schema))
        return INFRA_ENOTSUP;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->schema(&c->call, &schema);
    call_slot_end(c);
    if (error == 0 && !json_is_object(host_jansson(schema))) {
        call_fail(c, NULL, "its schema is not a map");
        error = INFRA_EINTERNAL;
    }
    if (error < 0)
        json_decref(host_jansson(schema));
    else
        *out = host_jansson(schema);
    return error;
}

int call_sched_validate(engine_call *c, const json_t *cluster)
{
    int error;
    call_op_begin(c, "validate", CALL_TIMEOUT_QUICK_MS);
    if (!HAS_SCHED(c, validate))
        return 0;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->validate(&c->call, host_json(cluster));
    call_slot_end(c);
    return error;
}

/* The scheduler's context (configured by call_apply/call_read before the bridge runs). */
#define SCTX(c) (PROV(c)->sched_ctx)

int call_node_bootstrap(engine_call *c, const json_t *cluster, const json_t *node)
{
    int error;
    if (!HAS_SCHED(c, node_bootstrap)) {
        call_fail(c, NULL, "scheduler \"%s\" cannot bootstrap nodes", PROV(c)->desc->name);
        return INFRA_ENOTSUP;
    }
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->node_bootstrap(SCTX(c), &c->call, host_json(cluster), host_json(node));
    call_slot_end(c);
    return error;
}

int call_node_remove(engine_call *c, const json_t *cluster, const json_t *node)
{
    int error;
    if (!HAS_SCHED(c, node_remove))
        return 0;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->node_remove(SCTX(c), &c->call, host_json(cluster), host_json(node));
    call_slot_end(c);
    return error == INFRA_ENOTFOUND ? 0 : error;
}

int call_wait_ready(engine_call *c, const json_t *cluster, const char *region,
                    int64_t deadline_ms)
{
    int error;
    if (!HAS_SCHED(c, wait_ready))
        return 0;
    int64_t left = c->call.deadline_ms - host_now_ms();
    if (c->call.deadline_ms > 0 && left < deadline_ms)
        deadline_ms = left > 0 ? left : 0;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->wait_ready(SCTX(c), &c->call, host_json(cluster), region, deadline_ms);
    call_slot_end(c);
    return error;
}

int call_federate(engine_call *c, const json_t *cluster, const char *region_a,
                  const char *region_b)
{
    int error;
    if (!HAS_SCHED(c, federate)) {
        call_fail(c, NULL, "scheduler \"%s\" cannot federate regions", PROV(c)->desc->name);
        return INFRA_ENOTSUP;
    }
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->federate(SCTX(c), &c->call, host_json(cluster), region_a, region_b);
    call_slot_end(c);
    return error;
}

int call_job_submit(engine_call *c, const json_t *cluster, const json_t *job, json_t **status)
{
    infra_json *st = NULL;
    int error;
    *status = NULL;
    if (!HAS_SCHED(c, job_submit)) {
        call_fail(c, NULL, "scheduler \"%s\" cannot run jobs", PROV(c)->desc->name);
        return INFRA_ENOTSUP;
    }
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->job_submit(SCTX(c), &c->call, host_json(cluster), host_json(job), &st);
    call_slot_end(c);
    if (error == 0)
        *status = host_jansson(st);
    else
        json_decref(host_jansson(st));
    return error;
}

int call_job_status(engine_call *c, const json_t *cluster, const char *job_id, json_t **status)
{
    infra_json *st = NULL;
    int error;
    *status = NULL;
    if (!HAS_SCHED(c, job_status))
        return INFRA_ENOTSUP;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->job_status(SCTX(c), &c->call, host_json(cluster), job_id, &st);
    call_slot_end(c);
    if (error == 0)
        *status = host_jansson(st);
    else
        json_decref(host_jansson(st));
    return error;
}

int call_job_stop(engine_call *c, const json_t *cluster, const char *job_id)
{
    int error;
    if (!HAS_SCHED(c, job_stop))
        return 0;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->job_stop(SCTX(c), &c->call, host_json(cluster), job_id);
    call_slot_end(c);
    return error == INFRA_ENOTFOUND ? 0 : error;
}

int call_cluster_status(engine_call *c, const json_t *cluster, json_t **out)
{
    infra_json *st = NULL;
    int error;
    *out = NULL;
    call_op_begin(c, "cluster_status", CALL_TIMEOUT_READ_MS);
    if (!HAS_SCHED(c, cluster_status))
        return INFRA_ENOTSUP;
    if ((error = call_provider_ctx(c)) < 0)
        return error;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->cluster_status(SCTX(c), &c->call, host_json(cluster), &st);
    call_slot_end(c);
    if (error == 0)
        *out = host_jansson(st);
    else
        json_decref(host_jansson(st));
    return error;
}

int call_sched_has_bootstrap(const engine *e, size_t provider)
{
    const infra_scheduler_ops *ops = e->providers[provider].desc->scheduler;
    return INFRA_HAS_SLOT_T(infra_scheduler_ops, ops, node_bootstrap);
}

int call_sched_has_federate(const engine *e, size_t provider)
{
    const infra_scheduler_ops *ops = e->providers[provider].desc->scheduler;
    return INFRA_HAS_SLOT_T(infra_scheduler_ops, ops, federate);
}

int call_sched_has_jobs(const engine *e, size_t provider)
{
    const infra_scheduler_ops *ops = e->providers[provider].desc->scheduler;
    return INFRA_HAS_SLOT_T(infra_scheduler_ops, ops, job_submit);
}

/* ------------------------------------------------------------------ */
/* Client pools (ABI 1.3)                                             */

int call_sched_has_pools(const engine *e, size_t provider)
{
    const infra_scheduler_ops *ops = e->providers[provider].desc->scheduler;
    return INFRA_HAS_SLOT_T(infra_scheduler_ops, ops, pool_user_data) &&
           INFRA_HAS_SLOT_T(infra_scheduler_ops, ops, pool_wait);
}

int call_pool_user_data(engine_call *c, const json_t *cluster, const char *region,
                        const char *datacenter, char **out)
{
    infra_secret *secret = NULL;
    int error;
    *out = NULL;
    call_op_begin(c, "pool_user_data", CALL_TIMEOUT_PLAN_MS);
    if (!HAS_SCHED(c, pool_user_data)) {
        call_fail(c, NULL, "scheduler \"%s\" cannot run client pools", PROV(c)->desc->name);
        return INFRA_ENOTSUP;
    }
    if ((error = call_provider_ctx(c)) < 0)
        return error;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->pool_user_data(PROV(c)->sched_ctx, &c->call, host_json(cluster), region,
                                     datacenter, &secret);
    call_slot_end(c);
    if (error == 0 && (secret == NULL || secrets_value(secret) == NULL)) {
        call_fail(c, NULL, "it returned no user data");
        error = INFRA_EINTERNAL;
    }
    if (error == 0) {
        /* never in a log line, whatever prints it */
        log_add_secret(secrets_value(secret));
        *out = util_strdup(secrets_value(secret));
    }
    secrets_free(secret);
    return error;
}

int call_pool_wait(engine_call *c, const json_t *cluster, const char *region,
                   const char *datacenter, const json_t *instances, int64_t expected,
                   int64_t deadline_ms)
{
    int error;
    if (!HAS_SCHED(c, pool_wait))
        return 0;
    int64_t left = c->call.deadline_ms - host_now_ms();
    if (c->call.deadline_ms > 0 && left < deadline_ms)
        deadline_ms = left > 0 ? left : 0;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->pool_wait(SCTX(c), &c->call, host_json(cluster), region, datacenter,
                                host_json(instances), expected, deadline_ms);
    call_slot_end(c);
    return error;
}

int call_pool_drain(engine_call *c, const json_t *cluster, const char *region,
                    const char *datacenter, const char *private_ip, int64_t deadline_ms)
{
    int error;
    call_op_begin(c, "pool_drain", CALL_TIMEOUT_SCHEDULER_MS);
    if (!HAS_SCHED(c, pool_drain)) {
        /* terminating an undrained client is what a pool must not do */
        call_fail(c, NULL, "scheduler \"%s\" cannot drain pool clients", PROV(c)->desc->name);
        return INFRA_ENOTSUP;
    }
    if ((error = call_provider_ctx(c)) < 0)
        return error;
    if ((error = call_slot_begin(c)) < 0)
        return error;
    error = SCHED(c)->pool_drain(SCTX(c), &c->call, host_json(cluster), region, datacenter,
                                 private_ip, deadline_ms);
    call_slot_end(c);
    return error;
}
