/* What every part of the engine shares: the plugins and schemas of the
 * providers, where a resource or a setting is written (for diagnostics),
 * sensitive values and private blobs. */
#include "engine/engine.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/unknown.h"
#include "base/util.h"
#include "services/log.h"
#include "services/secrets_hash.h"

size_t engine_plugin_add(engine *e, const infra_plugin *desc)
{
    for (size_t i = 0; i < e->nplugins; i++)
        if (e->plugins[i].desc == desc)
            return i;
    /* Every provider is added before any call runs, so growing is safe. */
    e->plugins = util_realloc(e->plugins, (e->nplugins + 1) * sizeof(*e->plugins));
    engine_plugin *pl = &e->plugins[e->nplugins];
    memset(pl, 0, sizeof(*pl));
    pl->desc = desc;
    pthread_mutex_init(&pl->lock, NULL);
    pthread_cond_init(&pl->idle, NULL);
    return e->nplugins++;
}

int engine_provider_index(const engine *e, const char *name)
{
    for (size_t i = 0; name && i < e->nproviders; i++)
        if (strcmp(e->providers[i].decl->name, name) == 0)
            return (int)i;
    return -1;
}

const json_t *engine_type_schema(const engine *e, size_t provider, const char *type)
{
    if (provider >= e->nproviders || !type)
        return NULL;
    return json_object_get(e->providers[provider].types, type);
}

/* The flags engine_attr_flag answers for, as bits: a few thousand
 * resources ask about every attribute several times per run. */
static const char *const flag_names[] = {"sensitive", "force_new", "computed", "required",
                                         "sensitive_leaves"};

static int flag_bit(const char *flag)
{
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
        if (!strcmp(flag_names[i], flag))
            return 1 << i;
    return 0;
}

void engine_index_schemas(engine *e)
{
    for (size_t i = 0; i < e->nproviders; i++) {
        engine_provider *p = &e->providers[i];
        const char *type;
        json_t *schema;
        json_decref(p->flags);
        p->flags = json_object();
        json_object_foreach(p->types, type, schema) {
            json_t *bits = json_object();
            json_int_t any = 0;
            const char *attr;
            json_t *a;
            json_object_foreach(json_object_get(schema, "attributes"), attr, a) {
                json_int_t b = 0;
                for (size_t k = 0; k < sizeof(flag_names) / sizeof(flag_names[0]); k++)
                    if (json_is_true(json_object_get(a, flag_names[k])))
                        b |= 1 << k;
                any |= b;
                if (*attr)
                    json_object_set_new(bits, attr, json_integer(b));
            }
            json_object_set_new(bits, "", json_integer(any));
            json_object_set_new(p->flags, type, bits);
        }
    }
}

int engine_attr_flag(const engine *e, size_t provider, const char *type, const char *attr,
                     const char *flag)
{
    if (provider >= e->nproviders || !type || !attr || !*attr)
        return 0;
    const json_t *bits = json_object_get(json_object_get(e->providers[provider].flags, type), attr);
    return (json_integer_value(bits) & flag_bit(flag)) != 0;
}

int engine_type_flag(const engine *e, size_t provider, const char *type, const char *flag)
{
    if (provider >= e->nproviders || !type)
        return 0;
    const json_t *bits = json_object_get(json_object_get(e->providers[provider].flags, type), "");
    return (json_integer_value(bits) & flag_bit(flag)) != 0;
}

/* The topology's sections for the built-in types; other types are
 * declared under "resources: TYPE:". */
static const char *const section_of[][2] = {
    {"network", "networks"},           {"firewall", "firewalls"},
    {"instance", "instances"},         {"load_balancer", "load_balancers"},
    {"dns_record", "dns_records"},     {"image", "images"},
};

char *engine_resource_key(const topo_resource *res, const char *attr)
{
    util_buf b = {0};
    size_t tlen = strlen(res->type);
    const char *addr = res->address;

    if (strncmp(addr, res->type, tlen) == 0 && addr[tlen] == '.') {
        /* "instance.web[2]" is declared under "instances: web:" */
        const char *section = NULL;
        for (size_t i = 0; i < sizeof(section_of) / sizeof(section_of[0]); i++)
            if (!strcmp(section_of[i][0], res->type))
                section = section_of[i][1];
        if (section)
            util_buf_printf(&b, "%s.%s", section, res->name);
        else
            util_buf_printf(&b, "resources.%s.%s", res->type, res->name);
    } else {
        util_buf_put(&b, addr, strcspn(addr, "[")); /* cluster nodes */
    }
    if (attr && *attr)
        util_buf_printf(&b, ".%s", attr);
    return util_buf_take(&b);
}

void engine_error_at(engine *e, const topo_resource *res, const char *attr, const char *fmt, ...)
{
    diag_loc loc = {0};
    char *key = NULL;
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    if (res) {
        loc = res->loc;
        if (attr && *attr)
            topology_locate(e->topo, res->address, attr, &loc);
        key = engine_resource_key(res, attr);
    }
    pthread_mutex_lock(&e->diag_lock);
    diag_add(&e->diags, DIAG_ERROR, res ? &loc : NULL, key, "%s", msg);
    pthread_mutex_unlock(&e->diag_lock);
    free(key);
    free(msg);
}

void engine_provider_error_at(engine *e, size_t provider, const char *attr, const char *fmt, ...)
{
    const topo_provider *decl = e->providers[provider].decl;
    diag_loc loc = decl->loc;
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    char *address = util_printf("provider.%s", decl->name);
    if (attr && *attr)
        topology_locate(e->topo, address, attr, &loc);
    /* A cluster's scheduler is "cluster.NAME"; its settings are the cluster's keys. */
    const char *section = decl->scheduler ? "clusters" : "providers";
    const char *name = decl->scheduler ? decl->name + strlen("cluster.") : decl->name;
    char *key = attr && *attr ? util_printf("%s.%s.%s", section, name, attr)
                              : util_printf("%s.%s", section, name);
    pthread_mutex_lock(&e->diag_lock);
    diag_add(&e->diags, DIAG_ERROR, &loc, key, "%s", msg);
    pthread_mutex_unlock(&e->diag_lock);
    free(key);
    free(address);
    free(msg);
}

/* ------------------------------------------------------------------ */
/* Sensitive values, private blobs                                    */

json_t *engine_config_for_state(const engine *e, size_t provider, const char *type,
                                const json_t *config)
{
    if (json_is_object(config) && !engine_type_flag(e, provider, type, "sensitive"))
        return json_incref((json_t *)config); /* nothing to hash: shared, never changed */
    /* Only top-level members change: the values inside are shared. */
    json_t *copy = json_is_object(config) ? json_copy((json_t *)config) : json_deep_copy(config);
    const char *key;
    json_t *value;
    if (!json_is_object(copy))
        return copy ? copy : json_object();
    json_object_foreach(copy, key, value) {
        if ((engine_attr_flag(e, provider, type, key, "sensitive") ||
             topology_value_sensitive(e->topo, value)) &&
            !unknown_in(value)) {
            char *hash = secrets_hash_for_state(value);
            json_object_set_new(copy, key, json_string(hash));
            free(hash);
        }
    }
    return copy;
}

json_t *engine_hide_sensitive(const engine *e, size_t provider, const char *type,
                              const json_t *value, int mask)
{
    if (json_is_object(value) && !engine_type_flag(e, provider, type, "sensitive"))
        return json_incref((json_t *)value); /* nothing to hide: shared, never changed */
    /* Only top-level members change: the values inside are shared. */
    json_t *copy = json_is_object(value) ? json_copy((json_t *)value) : json_deep_copy(value);
    const char *key;
    json_t *member;
    void *tmp;
    if (!json_is_object(copy))
        return copy ? copy : json_object();
    json_object_foreach_safe(copy, tmp, key, member) {
        if (!engine_attr_flag(e, provider, type, key, "sensitive") &&
            !topology_value_sensitive(e->topo, member))
            continue;
        if (mask)
            json_object_set_new(copy, key, json_string(ENGINE_SENSITIVE));
        else
            json_object_del(copy, key);
    }
    return copy;
}

static void register_strings(const json_t *value)
{
    size_t i;
    const char *key;
    json_t *member;
    if (json_is_string(value)) {
        log_add_secret(json_string_value(value));
    } else if (json_is_array(value)) {
        json_array_foreach(value, i, member)
            register_strings(member);
    } else if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key, member)
            register_strings(member);
    }
}

/* The strings of value that hold a sensitive value of the topology. */
static void register_sensitive_leaves(const engine *e, const json_t *value)
{
    size_t i;
    const char *key;
    json_t *member;
    if (json_is_string(value) && topology_value_sensitive(e->topo, value)) {
        log_add_secret(json_string_value(value));
    } else if (json_is_array(value)) {
        json_array_foreach(value, i, member) register_sensitive_leaves(e, member);
    } else if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key, member) register_sensitive_leaves(e, member);
    }
}

void engine_register_secrets(const engine *e, size_t provider, const char *type,
                             const json_t *config)
{
    const char *key;
    json_t *value;
    if (!json_is_object(config) || !engine_type_flag(e, provider, type, "sensitive"))
        return;
    json_object_foreach((json_t *)config, key, value)
    {
        if (!engine_attr_flag(e, provider, type, key, "sensitive"))
            continue;
        /* An attribute sensitive only because a sensitive variable flows
         * into it (a job's `set` of which one key is a token): only that
         * value is a secret, not the names and tags beside it. */
        if (engine_attr_flag(e, provider, type, key, "sensitive_leaves"))
            register_sensitive_leaves(e, value);
        else
            register_strings(value);
    }
}

char *engine_base64_encode(const void *data, size_t len)
{
    char *out = util_malloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    out[n < 0 ? 0 : n] = '\0';
    return out;
}

int engine_base64_decode(const char *text, void **out, size_t *len)
{
    size_t tlen = strlen(text);
    *out = NULL;
    *len = 0;
    if (tlen == 0)
        return 0;
    if (tlen % 4 != 0)
        return INFRA_EINVALID;
    unsigned char *buf = util_malloc(tlen / 4 * 3 + 1);
    int n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)tlen);
    if (n < 0) {
        free(buf);
        return INFRA_EINVALID;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    for (size_t k = tlen; k > 0 && text[k - 1] == '='; k--)
        n--;
    *out = buf;
    *len = (size_t)n;
    return 0;
}

size_t engine_ngroups(const engine *e)
{
    return e->nproviders + e->nplugins;
}

size_t engine_group_of(const engine *e, size_t provider)
{
    const engine_provider *p = &e->providers[provider];
    /* Every provider block of a plugin that is not thread-safe shares one
     * group of limit 1, so that a worker never waits on the plugin's lock. */
    if (p->desc && !(p->desc->capabilities & INFRA_CAP_CONCURRENT))
        return e->nproviders + p->plugin;
    return provider;
}

int *engine_group_limits(const engine *e)
{
    int *limits = util_calloc(engine_ngroups(e) + 1, sizeof(*limits));
    for (size_t i = 0; i < e->nproviders; i++)
        limits[i] = e->providers[i].limit;
    for (size_t i = 0; i < e->nplugins; i++)
        limits[e->nproviders + i] = e->plugins[i].desc->capabilities & INFRA_CAP_CONCURRENT ? 0 : 1;
    return limits;
}

int engine_type_version(const engine *e, size_t provider, const char *type)
{
    const json_t *v = json_object_get(engine_type_schema(e, provider, type), "version");
    return json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < 1000000
               ? (int)json_integer_value(v)
               : 0;
}

json_t *engine_entry_new(const engine *e, const engine_entry_source *src)
{
    const engine_provider *prov = &e->providers[src->provider];
    json_t *entry = json_object();
    json_t *deps = json_array();
    const topo_resource *res = src->res;

    json_object_set_new(entry, "type", json_string(src->type));
    json_object_set_new(entry, "provider", json_string(prov->decl->name));
    json_object_set_new(entry, "plugin", json_string(prov->desc->name));
    json_object_set_new(entry, "schema_version",
                        json_integer(engine_type_version(e, src->provider, src->type)));
    json_object_set_new(entry, "config",
                        engine_config_for_state(e, src->provider, src->type, src->config));
    json_object_set(entry, "attributes", (json_t *)src->attributes);
    if (src->priv && src->priv_len > 0) {
        char *text = engine_base64_encode(src->priv, src->priv_len);
        json_object_set_new(entry, "private", json_string(text));
        free(text);
    }
    for (size_t k = 0; res && k < res->ndeps; k++)
        json_array_append_new(deps, json_string(res->deps[k]));
    json_object_set_new(entry, "deps", deps);
    if (res && res->ngroups > 0) {
        json_t *groups = json_array();
        for (size_t k = 0; k < res->ngroups; k++)
            json_array_append_new(groups, json_string(res->groups[k]));
        json_object_set_new(entry, "groups", groups);
    }
    json_object_set_new(entry, "prevent_destroy", json_boolean(res && res->prevent_destroy));
    json_object_set_new(entry, "token", src->token ? json_string(src->token) : json_null());
    if (src->data)
        json_object_set_new(entry, "data", json_true());
    return entry;
}
