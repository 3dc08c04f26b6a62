/* One deliberately broken plugin per loader refusal. Each sample target
 * compiles this file with one BROKEN_* definition that spoils exactly one
 * thing; everything else is a correct provider "broken" (or, with
 * BROKEN_SCHEDULER, a correct scheduler). */
/* Some variants define the entry with another name or signature on purpose. */
#define INFRA_PLUGIN_NO_ENTRY_DECLARATION
#include <infra/plugin.h>

#include <stddef.h>

#ifndef BROKEN_MAGIC
#define BROKEN_MAGIC INFRA_PLUGIN_MAGIC
#endif
#ifndef BROKEN_ABI_MAJOR
#define BROKEN_ABI_MAJOR INFRA_ABI_MAJOR
#endif
#ifndef BROKEN_DESC_SIZE
#define BROKEN_DESC_SIZE sizeof(infra_plugin)
#endif
/* BROKEN_SCHEDULER makes it a scheduler (ops in the scheduler slot). */
#ifndef BROKEN_KIND
#ifdef BROKEN_SCHEDULER
#define BROKEN_KIND INFRA_PLUGIN_SCHEDULER
#else
#define BROKEN_KIND INFRA_PLUGIN_PROVIDER
#endif
#endif
#ifdef BROKEN_NO_NAME
#define BROKEN_NAME ""
#else
#define BROKEN_NAME "broken"
#endif
#ifdef BROKEN_NO_VERSION
#define BROKEN_VERSION NULL
#else
#define BROKEN_VERSION "1.0.0"
#endif
#ifndef BROKEN_OPS_SIZE
#define BROKEN_OPS_SIZE sizeof(infra_provider_ops)
#endif
#ifndef BROKEN_SCHED_OPS_SIZE
#define BROKEN_SCHED_OPS_SIZE sizeof(infra_scheduler_ops)
#endif
#ifdef BROKEN_TIME_T_SIZE
#define BROKEN_BUILD_SIG                                                                           \
    {                                                                                              \
        (unsigned char)sizeof(void *), (unsigned char)sizeof(size_t), BROKEN_TIME_T_SIZE, 0        \
    }
#else
#define BROKEN_BUILD_SIG INFRA_BUILD_SIG_INIT
#endif
#if defined(BROKEN_NO_OPS) || defined(BROKEN_SCHEDULER)
#define BROKEN_PROVIDER_OPS NULL
#else
#define BROKEN_PROVIDER_OPS &broken_ops
#endif
#ifdef BROKEN_SCHEDULER
#define BROKEN_SCHEDULER_OPS &broken_sched_ops
#else
#define BROKEN_SCHEDULER_OPS NULL
#endif
/* Exported under another name: the loader must not find an entry. */
#ifndef BROKEN_ENTRY_NAME
#define BROKEN_ENTRY_NAME infra_plugin_entry
#endif

/* BROKEN_ABI_MINOR claims another minor; BROKEN_CAPABILITIES sets bits. */
#ifndef BROKEN_ABI_MINOR
#define BROKEN_ABI_MINOR INFRA_ABI_MINOR
#endif
#ifndef BROKEN_CAPABILITIES
#define BROKEN_CAPABILITIES 0
#endif
/* BROKEN_NO_READ / BROKEN_NO_NODE_BOOTSTRAP leave out an operation the
 * engine calls without checking for it. */
#ifdef BROKEN_NO_READ
#define BROKEN_READ NULL
#else
#define BROKEN_READ broken_read
#endif
#ifdef BROKEN_NO_NODE_BOOTSTRAP
#define BROKEN_NODE_BOOTSTRAP NULL
#else
#define BROKEN_NODE_BOOTSTRAP broken_node_bootstrap
#endif

static int broken_schema(infra_call *call, infra_json **out)
{
    *out = NULL;
    return INFRA_ENOTSUP;
}

static int broken_context;

static int broken_configure(infra_call *call, const infra_json *settings, infra_provider **out)
{
    *out = (infra_provider *)&broken_context;
    return 0;
}

static int broken_plan(infra_provider *self, infra_call *call, const char *type,
                       const infra_json *prior, const infra_json *desired, infra_json **planned,
                       infra_json **requires_replace)
{
    return INFRA_ENOTSUP;
}

static int broken_apply(infra_provider *self, infra_call *call, const char *type,
                        const infra_json *prior, const infra_json *planned, const void *private_in,
                        size_t private_in_len, infra_json **new_state, void **private_out,
                        size_t *private_out_len)
{
    return INFRA_ENOTSUP;
}

static int broken_read(infra_provider *self, infra_call *call, const char *type,
                       const infra_json *state, const void *private_in, size_t private_in_len,
                       infra_json **out)
{
    return INFRA_ENOTFOUND;
}

static void broken_close(infra_provider *self)
{
}

static int broken_sched_configure(infra_call *call, const infra_json *settings,
                                  infra_scheduler **out)
{
    *out = (infra_scheduler *)&broken_context;
    return 0;
}

static int broken_node_bootstrap(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                                 const infra_json *node)
{
    return 0;
}

static void broken_sched_close(infra_scheduler *self)
{
}

static const infra_provider_ops broken_ops = {
    .size = BROKEN_OPS_SIZE,
    .schema = broken_schema,
    .configure = broken_configure,
    .plan = broken_plan,
    .apply = broken_apply,
    .read = BROKEN_READ,
    .close = broken_close,
};

static const infra_scheduler_ops broken_sched_ops = {
    .size = BROKEN_SCHED_OPS_SIZE,
    .schema = broken_schema,
    .configure = broken_sched_configure,
    .node_bootstrap = BROKEN_NODE_BOOTSTRAP,
    .close = broken_sched_close,
};

static const infra_plugin broken_plugin = {
    BROKEN_MAGIC,        BROKEN_ABI_MAJOR,    BROKEN_ABI_MINOR,     BROKEN_DESC_SIZE,
    BROKEN_KIND,         BROKEN_NAME,         BROKEN_VERSION,       BROKEN_BUILD_SIG,
    BROKEN_CAPABILITIES, BROKEN_PROVIDER_OPS, BROKEN_SCHEDULER_OPS,
};

/* Declared here: the header's declaration is turned off above. */
INFRA_PLUGIN_EXPORT int BROKEN_ENTRY_NAME(const infra_host *host, const infra_plugin **out);

INFRA_PLUGIN_EXPORT int BROKEN_ENTRY_NAME(const infra_host *host, const infra_plugin **out)
{
    /* Every table and op is referenced so that every variant compiles warning-free. */
    (void)broken_ops;
    (void)broken_sched_ops;
    (void)broken_plugin;
    (void)broken_read;
    (void)broken_node_bootstrap;
#if defined(BROKEN_ENTRY_ERROR)
    *out = NULL;
    return BROKEN_ENTRY_ERROR;
#elif defined(BROKEN_ENTRY_NULL)
    *out = NULL;
    return 0;
#else
    *out = &broken_plugin;
    return 0;
#endif
}
