/* A plugin whose entry function takes its two parameters in the wrong
 * order. It stores its descriptor pointer through what it takes for `out`,
 * which is the host table it was handed: the loader must give each plugin
 * its own copy, so that this write cannot reach infra's table or the next
 * plugin's. (The loader then refuses it: it handed back no descriptor.) */
#define INFRA_PLUGIN_NO_ENTRY_DECLARATION
#include <infra/plugin.h>

static int swapped_schema(infra_call *call, infra_json **out)
{
    *out = 0;
    return INFRA_ENOTSUP;
}

static void swapped_close(infra_provider *self)
{
}

static const infra_provider_ops swapped_ops = {
    .size = sizeof(infra_provider_ops),
    .schema = swapped_schema,
    .close = swapped_close,
};

static const infra_plugin swapped_plugin = {
    INFRA_PLUGIN_MAGIC,
    INFRA_ABI_MAJOR,
    INFRA_ABI_MINOR,
    sizeof(infra_plugin),
    INFRA_PLUGIN_PROVIDER,
    "swapped",
    "1.0.0",
    INFRA_BUILD_SIG_INIT,
    0,
    &swapped_ops,
    0,
};

/* The wrong signature, declared here: the header's declaration (which
 * would not let this compile) is turned off above. */
INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_plugin **out, const infra_host *host);

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_plugin **out, const infra_host *host)
{
    (void)host;
    *out = &swapped_plugin;
    return 0;
}
