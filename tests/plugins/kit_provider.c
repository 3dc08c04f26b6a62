/* A provider for the conformance kit's own test: resource type "item"
 * kept in memory, with an in-place attribute (size), one that forces a
 * replacement (zone) and a computed id made from the create's token.
 * Built as it is ("kit-right", which the kit must pass) and with the
 * faults the kit must find ("kit-wrong"):
 *   KIT_WRONG_READ   read reports a size one more than was applied;
 *   KIT_WRONG_TOKEN  a create repeated with the same token makes a second
 *                    object instead of adopting the first. */
#include <infra/plugin.h>

#include <stdio.h>
#include <string.h>

#ifndef KIT_PLUGIN_NAME
#define KIT_PLUGIN_NAME "kit-right"
#endif

#define KIT_MAX_ITEMS 16

static const infra_host *host;

/* One object: its id, the token that made it and its attributes. */
typedef struct kit_item {
    int used;
    char id[40];
    char token[80];
    char name[64];
    char zone[32];
    int64_t size;
} kit_item;

static kit_item items[KIT_MAX_ITEMS];
static unsigned serial;
static int context;

static const char schema_text[] = "{\"settings\": {\"label\": {\"type\": \"string\"}},"
                                  " \"resources\": {\"item\": {\"attributes\": {"
                                  "   \"name\": {\"type\": \"string\", \"required\": true},"
                                  "   \"size\": {\"type\": \"integer\"},"
                                  "   \"zone\": {\"type\": \"string\", \"force_new\": true},"
                                  "   \"id\": {\"type\": \"string\", \"computed\": true}}}}}";

static const char *member(const infra_json *o, const char *key)
{
    return host->json->string(host->json->get(o, key));
}

static infra_json *item_json(const kit_item *it, int64_t size)
{
    const infra_json_api *js = host->json;
    infra_json *o = js->new_object();
    js->set(o, "name", js->new_string(it->name));
    js->set(o, "size", js->new_integer(size));
    js->set(o, "zone", js->new_string(it->zone));
    js->set(o, "id", js->new_string(it->id));
    return o;
}

static kit_item *find(const char *id, const char *token)
{
    for (int i = 0; i < KIT_MAX_ITEMS; i++) {
        if (!items[i].used)
            continue;
        if ((id && !strcmp(items[i].id, id)) || (token && !strcmp(items[i].token, token)))
            return &items[i];
    }
    return NULL;
}

static void fill(kit_item *it, const infra_json *config)
{
    const char *name = member(config, "name");
    const char *zone = member(config, "zone");
    snprintf(it->name, sizeof(it->name), "%s", name ? name : "");
    snprintf(it->zone, sizeof(it->zone), "%s", zone ? zone : "a");
    it->size = host->json->integer(host->json->get(config, "size"));
}

static int kit_schema(infra_call *call, infra_json **out)
{
    (void)call;
    *out = host->json->parse(schema_text, sizeof(schema_text) - 1);
    return *out ? 0 : INFRA_EINTERNAL;
}

static int kit_validate(infra_call *call, const char *type, const infra_json *config)
{
    const char *name = member(config, "name");
    if (strcmp(type, "item")) {
        host->diag(call, INFRA_DIAG_ERROR, "", "no such resource type");
        return INFRA_ENOTSUP;
    }
    if (!name || !*name || strlen(name) >= sizeof(items[0].name)) {
        host->diag(call, INFRA_DIAG_ERROR, "name", "must be 1 to 63 characters");
        return INFRA_EINVALID;
    }
    return 0;
}

static int kit_configure(infra_call *call, const infra_json *settings, infra_provider **out)
{
    (void)call;
    (void)settings;
    *out = (infra_provider *)&context;
    return 0;
}

static int kit_plan(infra_provider *self, infra_call *call, const char *type,
                    const infra_json *prior, const infra_json *desired, infra_json **planned,
                    infra_json **requires_replace)
{
    const infra_json_api *js = host->json;
    int error = kit_validate(call, type, desired);
    (void)self;
    if (error < 0)
        return error;
    *planned = js->copy(desired);
    if (!js->get(desired, "zone"))
        js->set(*planned, "zone", js->new_string("a"));
    if (!js->get(desired, "size"))
        js->set(*planned, "size", js->new_integer(0));
    js->set(*planned, "id", prior ? js->copy(js->get(prior, "id")) : js->new_unknown());
    *requires_replace = js->new_array();
    if (prior && strcmp(member(prior, "zone"), member(*planned, "zone")))
        js->append(*requires_replace, js->new_string("zone"));
    return 0;
}

static int kit_apply(infra_provider *self, infra_call *call, const char *type,
                     const infra_json *prior, const infra_json *planned, const void *private_in,
                     size_t private_in_len, infra_json **new_state, void **private_out,
                     size_t *private_out_len)
{
    (void)self;
    (void)type;
    (void)private_in;
    (void)private_in_len;
    *private_out = NULL;
    *private_out_len = 0;
    if (!planned) {
        kit_item *it = find(member(prior, "id"), NULL);
        if (it)
            it->used = 0;
        return 0;
    }
    if (prior) {
        kit_item *it = find(member(prior, "id"), NULL);
        if (!it)
            return INFRA_ENOTFOUND;
        fill(it, planned);
        *new_state = item_json(it, it->size);
        return 0;
    }
    const char *token = host->call_token(call);
    kit_item *it = NULL;
#ifndef KIT_WRONG_TOKEN
    it = token ? find(NULL, token) : NULL;
#endif
    for (int i = 0; !it && i < KIT_MAX_ITEMS; i++)
        if (!items[i].used)
            it = &items[i];
    if (!it) {
        host->diag(call, INFRA_DIAG_ERROR, "", "no room for another item");
        return INFRA_ECONFLICT;
    }
    if (!it->used) {
        memset(it, 0, sizeof(*it));
        it->used = 1;
        snprintf(it->id, sizeof(it->id), "item-%u", ++serial);
        snprintf(it->token, sizeof(it->token), "%s", token ? token : "");
    }
    fill(it, planned);
    *new_state = item_json(it, it->size);
    return 0;
}

static int kit_read(infra_provider *self, infra_call *call, const char *type,
                    const infra_json *state, const void *private_in, size_t private_in_len,
                    infra_json **out)
{
    (void)self;
    (void)type;
    (void)private_in;
    (void)private_in_len;
    kit_item *it = state ? find(member(state, "id"), NULL) : find(NULL, host->call_token(call));
    if (!it)
        return INFRA_ENOTFOUND;
#ifdef KIT_WRONG_READ
    *out = item_json(it, it->size + 1);
#else
    *out = item_json(it, it->size);
#endif
    return 0;
}

static int kit_import(infra_provider *self, infra_call *call, const char *type, const char *id,
                      infra_json **out)
{
    (void)self;
    (void)type;
    kit_item *it = find(id, NULL);
    if (!it) {
        host->diag(call, INFRA_DIAG_ERROR, "", "no such item");
        return INFRA_ENOTFOUND;
    }
    *out = item_json(it, it->size);
    return 0;
}

static void kit_close(infra_provider *self)
{
    (void)self; /* the items live as long as the process */
}

static const infra_provider_ops kit_ops = {
    .size = sizeof(infra_provider_ops),
    .schema = kit_schema,
    .validate = kit_validate,
    .configure = kit_configure,
    .plan = kit_plan,
    .apply = kit_apply,
    .read = kit_read,
    .import = kit_import,
    .close = kit_close,
};

static const infra_plugin kit_plugin = {
    INFRA_PLUGIN_MAGIC,
    INFRA_ABI_MAJOR,
    INFRA_ABI_MINOR,
    sizeof(infra_plugin),
    INFRA_PLUGIN_PROVIDER,
    KIT_PLUGIN_NAME,
    "1.0.0",
    INFRA_BUILD_SIG_INIT,
    INFRA_CAP_IMPORT | INFRA_CAP_TOKEN_CREATE | INFRA_CAP_READ_BY_TOKEN,
    &kit_ops,
    NULL,
};

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *h, const infra_plugin **out)
{
    host = h;
    *out = &kit_plugin;
    return 0;
}
