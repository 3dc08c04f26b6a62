/* `infra schema`: a JSON Schema (draft-07) of topology files, made of the
 * core's own keys (topology.c, topology_model.c, topology_cluster.c) and
 * the schema of every plugin the loader finds, for editors that validate
 * and complete YAML with yaml-language-server:
 *
 *     infra schema > infra.schema.json
 *     # yaml-language-server: $schema=./infra.schema.json     (first line of a topology)
 *
 * What a schema cannot know is left open rather than refused: a provider's
 * settings and a resource's body are checked against the union of the
 * plugins that offer them (the provider's plugin is often only its name),
 * a datacenter's node settings against nothing, and any value may be a
 * ${...} reference, so a typed attribute also takes a string. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"
#include "plugin/host.h"
#include "plugin/loader.h"

/* The sections of the document that hold one resource type (topology_model.c). */
static const struct {
    const char *section;
    const char *type;
} sections[] = {
    {"networks", "network"},       {"firewalls", "firewall"},
    {"instances", "instance"},     {"load_balancers", "load_balancer"},
    {"dns_records", "dns_record"}, {"images", "image"},
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

/* A value that may also be written as a ${...} reference (a string). */
/* servers: N, or {count: N, client: true} (servers that are also clients). */
static json_t *server_pool(void)
{
    return json_pack("{s:[s,s,s], s:{s:{s:[s,s]}, s:{s:[s,s]}}}", "type", "integer", "string",
                     "object", "properties", "count", "type", "integer", "string", "client", "type",
                     "boolean", "string");
}

/* A datacenter's clients: a count, or the autoscaling group whose
 * instances are its clients ({pool: autoscaling_group.NAME}). */
static json_t *client_pool(void)
{
    return json_pack("{s:[s,s,s], s:{s:{s:s}}, s:b}", "type", "integer", "string", "object",
                     "properties", "pool", "type", "string", "additionalProperties", 0);
}

static json_t *typed(const char *type)
{
    static const struct {
        const char *plugin;
        const char *json;
    } types[] = {{"string", "string"},   {"integer", "integer"}, {"number", "number"},
                 {"boolean", "boolean"}, {"bool", "boolean"},    {"list", "array"},
                 {"map", "object"},      {"object", "object"}};
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(types[i].plugin, type))
            return !strcmp(types[i].json, "string")
                       ? json_pack("{s:s}", "type", "string")
                       : json_pack("{s:[s,s]}", "type", types[i].json, "string");
    return json_object(); /* anything */
}

/* {"properties": {...}} of the attributes a user may set (not computed). */
static json_t *settable(const json_t *attributes, json_t *properties, json_t *required)
{
    const char *name;
    json_t *a;
    json_object_foreach((json_t *)attributes, name, a)
    {
        if (json_is_true(json_object_get(a, "computed")))
            continue;
        json_t *p = typed(json_string_value(json_object_get(a, "type")));
        const char *desc = json_string_value(json_object_get(a, "description"));
        if (desc)
            json_object_set_new(p, "description", json_string(desc));
        json_object_set_new(properties, name, p);
        if (required && json_is_true(json_object_get(a, "required")))
            json_array_append_new(required, json_string(name));
    }
    return properties;
}

static json_t *depends_on(void)
{
    return json_pack("{s:s, s:{s:s}, s:s}", "type", "array", "items", "type", "string",
                     "description",
                     "TYPE.NAME, TYPE.NAME[N] or cluster.NAME that must exist first");
}

static json_t *bastion(void)
{
    return json_pack(
        "{s:s, s:s}", "type", "string", "description",
        "instances: the instance SSH goes through (instance.NAME or instance.NAME[N])");
}

/* The meta keys every resource body takes (topology_model.c). */
static json_t *resource_meta(void)
{
    return json_pack("{s:{s:s, s:s}, s:{s:[s,s], s:s}, s:o, s:{s:s, s:s}, s:o}", "provider", "type",
                     "string", "description", "a declared provider", "count", "type", "integer",
                     "string", "description", "number of instances (TYPE.NAME[0..N-1])",
                     "depends_on", depends_on(), "prevent_destroy", "type", "boolean",
                     "description", "refuse to destroy it", "bastion", bastion());
}

/* One body schema per plugin offering type, as anyOf; NULL when none does. */
static json_t *body_schema(const json_t *schemas, const char *type)
{
    json_t *any = json_array();
    const char *plugin;
    json_t *doc;
    json_object_foreach((json_t *)schemas, plugin, doc)
    {
        const json_t *t = json_object_get(json_object_get(doc, "resources"), type);
        if (!t)
            continue;
        json_t *props = settable(json_object_get(t, "attributes"), resource_meta(), NULL);
        json_array_append_new(any,
                              json_pack("{s:s, s:s, s:o, s:b}", "title", plugin, "type", "object",
                                        "properties", props, "additionalProperties", 0));
    }
    if (json_array_size(any) == 0) {
        json_decref(any);
        return NULL;
    }
    return json_pack("{s:o}", "anyOf", any);
}

static json_t *section(json_t *body)
{
    return json_pack("{s:s, s:{s:s}, s:o}", "type", "object", "propertyNames", "pattern",
                     "^[A-Za-z0-9_-]+$", "additionalProperties", body);
}

/* Provider blocks: plugin, parallelism, timeout and one plugin's settings. */
static json_t *provider_schema(const json_t *schemas, int scheduler)
{
    json_t *any = json_array();
    const char *plugin;
    json_t *doc;
    json_object_foreach((json_t *)schemas, plugin, doc)
    {
        if (json_is_true(json_object_get(doc, "x-scheduler")) != scheduler)
            continue;
        json_t *props = json_object();
        if (scheduler) {
            json_object_set_new(props, "scheduler", json_pack("{s:s}", "const", plugin));
            json_t *dc =
                json_pack("{s:s, s:{s:{s:s}, s:o, s:o, s:o, s:o}}", "type", "object", "properties",
                          "provider", "type", "string", "servers", server_pool(), "clients",
                          client_pool(), "depends_on", depends_on(), "bastion", bastion());
            json_t *region =
                json_pack("{s:s, s:b, s:[s], s:{s:{s:s, s:o}}}", "type", "object",
                          "additionalProperties", 0, "required", "datacenters", "properties",
                          "datacenters", "type", "object", "additionalProperties", dc);
            json_object_set_new(
                props, "regions",
                json_pack("{s:s, s:o}", "type", "object", "additionalProperties", region));
            json_object_set_new(
                props, "federate",
                json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string"));
            json_object_set_new(props, "ssh_user", typed("string"));
            json_object_set_new(props, "ssh_private_key", typed("string"));
        } else {
            json_object_set_new(props, "plugin", json_pack("{s:s}", "const", plugin));
            json_object_set_new(props, "parallelism", typed("integer"));
            json_object_set_new(props, "timeout",
                                json_pack("{s:s, s:s}", "type", "string", "description",
                                          "deadline of every call: 45m, 2h, 30s, 500ms"));
        }
        settable(json_object_get(doc, "settings"), props, NULL);
        json_array_append_new(any,
                              json_pack("{s:s, s:s, s:o, s:b}", "title", plugin, "type", "object",
                                        "properties", props, "additionalProperties", 0));
    }
    if (json_array_size(any) == 0) {
        json_decref(any);
        return json_pack("{s:s}", "type", "object");
    }
    return json_pack("{s:o}", "anyOf", any);
}

static json_t *job_schema(void)
{
    return json_pack("{s:s, s:[s,s], s:b, s:{s:{s:s}, s:{s:s, s:{s:s}}, s:{s:s}, s:{s:s}}}", "type",
                     "object", "required", "cluster", "file", "additionalProperties", 0,
                     "properties", "cluster", "type", "string", "regions", "type", "array", "items",
                     "type", "string", "file", "type", "string", "set", "type", "object");
}

/* {PLUGIN: schema document} of every plugin the loader finds, the
 * scheduler ones marked "x-scheduler". */
static json_t *plugin_schemas(const loader *ld)
{
    json_t *all = json_object();
    for (size_t i = 0; i < ld->nplugins; i++) {
        const infra_plugin *d = ld->plugins[i].desc;
        infra_call call;
        infra_json *out = NULL;
        int rc = INFRA_ENOTSUP;
        host_call_init(&call, "", d->name);
        if (d->kind == INFRA_PLUGIN_PROVIDER && d->provider && INFRA_HAS_SLOT(d->provider, schema))
            rc = d->provider->schema(&call, &out);
        else if (d->kind == INFRA_PLUGIN_SCHEDULER && d->scheduler &&
                 INFRA_HAS_SLOT(d->scheduler, schema))
            rc = d->scheduler->schema(&call, &out);
        host_call_clear(&call);
        if (rc == 0 && json_is_object(host_jansson(out))) {
            json_t *doc = host_jansson(out);
            if (d->kind == INFRA_PLUGIN_SCHEDULER)
                json_object_set_new(doc, "x-scheduler", json_true());
            json_object_set_new(all, d->name, doc);
        } else {
            json_decref(host_jansson(out));
            fprintf(stderr, "infra: schema: plugin %s gives no schema; left out\n", d->name);
        }
    }
    return all;
}

int cli_cmd_schema(const cli_args *a)
{
    loader ld = {0};
    if (a->topology) {
        fprintf(stderr, "infra: usage: infra schema > infra.schema.json\n");
        return 1;
    }
    if (loader_scan(&ld) < 0) {
        loader_free(&ld);
        fprintf(stderr, "infra: schema: cannot scan the plugin directories\n");
        return 1;
    }
    json_t *schemas = plugin_schemas(&ld);
    json_t *props = json_object();
    json_object_set_new(props, "name",
                        json_pack("{s:s, s:s, s:s}", "type", "string", "pattern",
                                  "^[a-z0-9][a-z0-9-]*$", "description",
                                  "names the state file: lowercase letters, digits and -"));
    json_object_set_new(props, "description", json_pack("{s:s}", "type", "string"));
    json_object_set_new(
        props, "variables",
        json_pack("{s:s, s:{s:[{s:s, s:b, s:{s:{}, s:{s:s}, s:{s:s}, s:{s:s}}, s:[s]}, {}]}}",
                  "type", "object", "additionalProperties", "anyOf", "type", "object",
                  "additionalProperties", 0, "properties", "default", "type", "type", "string",
                  "description", "type", "string", "sensitive", "type", "boolean", "required",
                  "default"));
    json_object_set_new(props, "environments",
                        json_pack("{s:s, s:{s:s, s:{s:{s:s}}}}", "type", "object",
                                  "additionalProperties", "type", "object", "properties",
                                  "override", "type", "object"));
    json_object_set_new(props, "providers", section(provider_schema(schemas, 0)));
    json_t *types = json_object();
    const char *plugin, *type;
    json_t *doc, *t;
    json_object_foreach(schemas, plugin, doc)
    {
        json_object_foreach(json_object_get(doc, "resources"), type, t)
        {
            if (!json_is_true(json_object_get(doc, "x-scheduler")))
                json_object_set_new(types, type, json_true());
        }
    }
    json_t *other = json_object();
    json_object_foreach(types, type, t)
    {
        size_t s = 0;
        while (s < NSECTIONS && strcmp(sections[s].type, type))
            s++;
        json_t *body = body_schema(schemas, type);
        if (s < NSECTIONS)
            json_object_set_new(props, sections[s].section, section(body));
        else
            json_object_set_new(other, type, section(body));
    }
    for (size_t s = 0; s < NSECTIONS; s++)
        if (!json_object_get(props, sections[s].section))
            json_object_set_new(props, sections[s].section, section(json_object()));
    json_object_set_new(props, "resources",
                        json_pack("{s:s, s:o, s:b}", "type", "object", "properties", other,
                                  "additionalProperties", 0));
    json_object_set_new(props, "clusters", section(provider_schema(schemas, 1)));
    json_object_set_new(props, "jobs", section(job_schema()));
    json_object_set_new(props, "apps", section(job_schema()));
    json_object_set_new(props, "outputs", json_pack("{s:s}", "type", "object"));
    json_t *root = json_pack(
        "{s:s, s:s, s:s, s:s, s:[s], s:o, s:b}", "$schema",
        "http://json-schema.org/draft-07/schema#", "title", "infra topology", "description",
        "An infra topology file (docs/topology.md), with the resource types "
        "and settings of the plugins installed when it was made",
        "type", "object", "required", "name", "properties", props, "additionalProperties", 0);
    json_dumpf(root, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(root);
    json_decref(types);
    json_decref(schemas);
    loader_free(&ld);
    return 0;
}
