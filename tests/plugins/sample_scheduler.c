/* A minimal scheduler the loader must accept ("sample-sched"): every op
 * succeeds without doing anything. */
#include <infra/plugin.h>

static int sched_schema(infra_call *call, infra_json **out)
{
    *out = NULL;
    return INFRA_ENOTSUP;
}

static int sched_validate(infra_call *call, const infra_json *cluster)
{
    return 0;
}

static int sched_context;

static int sched_configure(infra_call *call, const infra_json *settings, infra_scheduler **out)
{
    *out = (infra_scheduler *)&sched_context;
    return 0;
}

static int sched_node_bootstrap(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                                const infra_json *node)
{
    return 0;
}

static int sched_wait_ready(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                            const char *region, int64_t deadline_ms)
{
    return 0;
}

static void sched_close(infra_scheduler *self)
{
}

static const infra_scheduler_ops sched_ops = {
    sizeof(infra_scheduler_ops),
    sched_schema,
    sched_validate,
    sched_configure,
    sched_node_bootstrap,
    sched_wait_ready,
    NULL, /* federate */
    NULL, /* job_submit */
    NULL, /* job_status */
    NULL, /* job_stop */
    sched_close,
    NULL, /* node_remove */
    NULL, /* cluster_status */
    NULL, /* pool_user_data */
    NULL, /* pool_wait */
    NULL, /* pool_drain */
};

static const infra_plugin sched_plugin = {
    INFRA_PLUGIN_MAGIC,
    INFRA_ABI_MAJOR,
    INFRA_ABI_MINOR,
    sizeof(infra_plugin),
    INFRA_PLUGIN_SCHEDULER,
    "sample-sched",
    "0.3.1",
    INFRA_BUILD_SIG_INIT,
    0,
    NULL,
    &sched_ops,
};

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out)
{
    *out = &sched_plugin;
    return 0;
}
