/* libFuzzer target for the topology loader: any bytes go through
 * topology_load_buffer; what loads is then located and evaluated, so
 * that every path of the module runs on hostile input. Everything is
 * freed, so the leak checker sees mistakes in the error paths too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "topology/topology.h"

/* Knows every attribute of even resources as their address, nothing else. */
static const json_t *lookup(void *ud, const char *address, const char *attr)
{
    json_t *known = ud;
    if (address[0] % 2)
        return NULL;
    json_object_set_new(known, address, json_string(attr));
    return json_object_get(known, address);
}

static void exercise(const topology *t)
{
    json_t *known = json_object();
    for (size_t i = 0; i < t->nresources; i++) {
        const topo_resource *r = &t->resources[i];
        json_t *out = NULL;
        char *err = NULL;
        topology_eval(t, r->config, lookup, known, &out, &err);
        json_decref(out);
        free(err);
        diag_loc loc;
        topology_locate(t, r->address, "tags.Name", &loc);
        topology_locate(t, r->address, "ports[1]", &loc);
        (void)topology_resource(t, r->address);
    }
    for (size_t i = 0; i < t->noutputs; i++) {
        json_t *out = NULL;
        char *err = NULL;
        topology_eval(t, t->outputs[i].value, lookup, known, &out, &err);
        json_decref(out);
        free(err);
    }
    json_decref(known);
}

/* The entry point libFuzzer calls; declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte picks an environment, so that overrides are reached. */
    static const char *const envs[] = {NULL, "prod", "int", "other"};
    topology_options opts = {.environment = size ? envs[data[0] % 4] : NULL};
    diag_list diags = {0};
    topology *t = NULL;
    if (topology_load_buffer("fuzz.yaml", (const char *)data, size, &opts, &t, &diags) == 0)
        exercise(t);
    topology_free(t);
    diag_list_free(&diags);
    return 0;
}
