/* Compiled on its own with -std=c99/-std=c11 -pedantic -Werror and as
 * C++11: <infra/plugin.h> must need nothing else and warn about nothing. */
#include <infra/plugin.h>

static int standalone_schema(infra_call *call, infra_json **out)
{
    (void)call;
    *out = 0;
    return INFRA_ENOTSUP;
}

static void standalone_close(infra_provider *self)
{
    (void)self;
}

static const infra_provider_ops standalone_ops = {
    sizeof(infra_provider_ops), standalone_schema, 0, 0, 0, 0, 0, 0, 0, 0, standalone_close, 0,
};

static const infra_plugin standalone_plugin = {
    INFRA_PLUGIN_MAGIC,
    INFRA_ABI_MAJOR,
    INFRA_ABI_MINOR,
    sizeof(infra_plugin),
    INFRA_PLUGIN_PROVIDER,
    "standalone",
    "0.0.1",
    INFRA_BUILD_SIG_INIT,
    INFRA_CAP_IMPORT | INFRA_CAP_TOKEN_CREATE | INFRA_CAP_READ_BY_TOKEN | INFRA_CAP_CONCURRENT,
    &standalone_ops,
    0,
};

#ifdef __cplusplus
extern "C" {
#endif
INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out);
#ifdef __cplusplus
}
#endif

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out)
{
    infra_plugin_entry_fn self_check = infra_plugin_entry;
    (void)self_check;
    if (!INFRA_HAS_SLOT_T(infra_host, host, json) || !INFRA_HAS_SLOT(host, diag))
        return INFRA_ENOTSUP;
    if (!INFRA_HAS_SLOT_T(infra_json_api, host->json, parse))
        return INFRA_ENOTSUP;
    *out = &standalone_plugin;
    return INFRA_OK;
}
