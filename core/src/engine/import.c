/* `infra import`: adopting an object that exists already (made by hand,
 * or by a create infra could not resume) as a resource of the topology,
 * through the plugin's import op and a read. */
#include "engine/import.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "engine/call.h"

int engine_import(engine *e, const char *address, const char *id, char **err)
{
    const topo_resource *res = topology_resource(e->topo, address);
    json_t *entry = res ? state_get(e->st, address) : NULL;
    json_t *found = NULL, *now = NULL;
    int error = 0;

    *err = NULL;
    if (!res) {
        *err = util_printf("%s is not a resource of %s: only what the topology declares can be "
                           "imported",
                           address, e->topo->file);
        error = INFRA_EINVALID;
        goto done;
    }
    if (entry) {
        *err = util_printf("%s is already in the state of %s (%s): remove it with `infra state "
                           "rm` first if another object should take its place",
                           address, e->topo->name, e->env);
        error = INFRA_ECONFLICT;
        goto done;
    }
    if (res->data) {
        *err = util_printf("%s is a data source: it is looked up, never imported", address);
        error = INFRA_EINVALID;
        goto done;
    }
    int pi = engine_provider_index(e, res->provider);
    if (pi < 0 || !e->providers[pi].desc) {
        *err = util_printf("%s: provider \"%s\" is not usable", address,
                           res->provider ? res->provider : "");
        error = INFRA_EINVALID;
        goto done;
    }
    size_t provider = (size_t)pi;
    if (!call_has(e, provider, CALL_SLOT_IMPORT)) {
        *err = util_printf("plugin \"%s\" of provider \"%s\" cannot import existing objects, so %s "
                           "cannot be imported",
                           e->providers[provider].desc->name, e->providers[provider].decl->name,
                           address);
        error = INFRA_ENOTSUP;
        goto done;
    }
    engine_call c;
    call_init(&c, e, provider, address, "import", NULL);
    if ((error = call_import(&c, res->type, id, &found)) == 0)
        error = call_read(&c, res->type, found, NULL, 0, &now);
    if (error < 0)
        *err = util_printf("importing %s as %s: %s", id, address,
                           error == INFRA_ENOTFOUND ? "no such object" : call_error(&c, error));
    call_clear(&c);
    if (error < 0)
        goto done;

    /* What the topology sets, as the object has it: the next plan weighs
     * the topology against it like after any apply. */
    json_t *config = json_object();
    const char *key;
    json_t *value;
    json_object_foreach(res->config, key, value) {
        json_t *has = json_object_get(now, key);
        if (has)
            json_object_set(config, key, has);
    }
    json_t *attrs = engine_hide_sensitive(e, provider, res->type, now, 0);
    engine_entry_source src = {.provider = provider,
                               .type = res->type,
                               .res = res,
                               .config = config,
                               .attributes = attrs};
    state_put(e->st, address, engine_entry_new(e, &src));
    state_intent_remove(e->st, address);
    json_decref(attrs);
    json_decref(config);
done:
    json_decref(entry);
    json_decref(found);
    json_decref(now);
    return error;
}
