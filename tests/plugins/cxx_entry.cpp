// A C++ plugin whose entry function is not declared extern "C": it has the
// right signature, but under a mangled name, so the loader finds no
// "infra_plugin_entry" and must say to declare it extern "C".
#define INFRA_PLUGIN_NO_ENTRY_DECLARATION
#include <infra/plugin.h>

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out);

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out)
{
    (void)host;
    *out = nullptr;
    return INFRA_ENOTSUP;
}
