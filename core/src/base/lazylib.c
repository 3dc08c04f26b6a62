/* Opening a library at its first use (see lazylib.h for why). */
#include "base/lazylib.h"

#include <dlfcn.h>

#include "base/util.h"
#include "infra/plugin.h"

int lazylib_open(const char *soname, void **handle, char **err)
{
    dlerror();
    *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!*handle) {
        const char *why = dlerror();
        *err = util_printf("cannot load %s: %s", soname, why ? why : "unknown error");
        return INFRA_ENOTSUP;
    }
    return 0;
}

void *lazylib_symbol(void *handle, const char *soname, const char *name, char **err)
{
    dlerror();
    void *symbol = dlsym(handle, name);
    if (!symbol) {
        const char *why = dlerror();
        *err = util_printf("cannot load %s: no function %s (%s)", soname, name,
                           why ? why : "null symbol");
    }
    return symbol;
}
