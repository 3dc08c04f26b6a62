/* One deliberately broken plugin per loader refusal. Each sample target
 * compiles this file with one BROKEN_* definition that spoils exactly one
 * thing; everything else is a correct provider "broken". */
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

static int broken_schema(infra_call *call, infra_json **out)
{
    *out = NULL;
    return INFRA_ENOTSUP;
}

static void broken_close(infra_provider *self)
{
}

static void broken_sched_close(infra_scheduler *self)
{
}

static const infra_provider_ops broken_ops = {
    .size = BROKEN_OPS_SIZE,
    .schema = broken_schema,
    .close = broken_close,
};

static const infra_scheduler_ops broken_sched_ops = {
    .size = BROKEN_SCHED_OPS_SIZE,
    .schema = broken_schema,
    .close = broken_sched_close,
};

static const infra_plugin broken_plugin = {
    BROKEN_MAGIC,        BROKEN_ABI_MAJOR,     INFRA_ABI_MINOR,
    BROKEN_DESC_SIZE,    BROKEN_KIND,          BROKEN_NAME,
    BROKEN_VERSION,      BROKEN_BUILD_SIG,     0,
    BROKEN_PROVIDER_OPS, BROKEN_SCHEDULER_OPS,
};

/* Declared here: the header's declaration is turned off above. */
INFRA_PLUGIN_EXPORT int BROKEN_ENTRY_NAME(const infra_host *host, const infra_plugin **out);

INFRA_PLUGIN_EXPORT int BROKEN_ENTRY_NAME(const infra_host *host, const infra_plugin **out)
{
    /* Both tables are referenced so that every variant compiles warning-free. */
    (void)broken_ops;
    (void)broken_sched_ops;
    (void)broken_plugin;
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
