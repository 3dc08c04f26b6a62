/* A minimal provider the loader must accept: one resource type "item" whose
 * state is the desired configuration itself. Built several times under
 * other names (SAMPLE_NAME) to make two plugins that claim the same name.
 *
 * When INFRA_SAMPLE_LOAD_MARKER names a file, loading the object creates it:
 * the loader tests use this to prove a refused file never ran any code. */
#include <infra/plugin.h>

#include <stdio.h>
#include <stdlib.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#ifdef SAMPLE_NAME
#define SAMPLE_NAME_TEXT STR(SAMPLE_NAME)
#else
#define SAMPLE_NAME_TEXT "sample"
#endif

static const infra_host *host;

__attribute__((constructor)) static void sample_mark_loaded(void)
{
    const char *marker = getenv("INFRA_SAMPLE_LOAD_MARKER");
    if (!marker || !*marker)
        return;
    FILE *f = fopen(marker, "w");
    if (f)
        fclose(f);
}

static const char schema_text[] = "{\"settings\": {},"
                                  " \"resources\": {\"item\": {\"attributes\": {"
                                  "   \"value\": {\"type\": \"string\", \"required\": true}}}}}";

/* The schema, plus the size of the host table as this plugin sees it:
 * the loader tests check another plugin cannot have changed it. */
static int sample_schema(infra_call *call, infra_json **out)
{
    *out = host->json->parse(schema_text, sizeof(schema_text) - 1);
    if (!*out)
        return INFRA_EINTERNAL;
    host->json->set(*out, "host_table_size", host->json->new_integer((int64_t)host->size));
    return 0;
}

static int sample_validate(infra_call *call, const char *type, const infra_json *config)
{
    if (host->json->type(host->json->get(config, "value")) != INFRA_JSON_STRING) {
        host->diag(call, INFRA_DIAG_ERROR, "value", "must be a string");
        return INFRA_EINVALID;
    }
    return 0;
}

static int sample_context;

static int sample_configure(infra_call *call, const infra_json *settings, infra_provider **out)
{
    *out = (infra_provider *)&sample_context;
    return 0;
}

static int sample_plan(infra_provider *self, infra_call *call, const char *type,
                       const infra_json *prior, const infra_json *desired, infra_json **planned,
                       infra_json **requires_replace)
{
    *planned = host->json->copy(desired);
    *requires_replace = host->json->new_array();
    return 0;
}

static int sample_apply(infra_provider *self, infra_call *call, const char *type,
                        const infra_json *prior, const infra_json *planned, const void *private_in,
                        size_t private_in_len, infra_json **new_state, void **private_out,
                        size_t *private_out_len)
{
    *new_state = planned ? host->json->copy(planned) : NULL;
    *private_out = NULL;
    *private_out_len = 0;
    return 0;
}

static int sample_read(infra_provider *self, infra_call *call, const char *type,
                       const infra_json *state, const void *private_in, size_t private_in_len,
                       infra_json **out)
{
    if (!state)
        return INFRA_ENOTFOUND;
    *out = host->json->copy(state);
    return 0;
}

static void sample_close(infra_provider *self)
{
}

static const infra_provider_ops sample_ops = {
    .size = sizeof(infra_provider_ops),
    .schema = sample_schema,
    .validate = sample_validate,
    .configure = sample_configure,
    .plan = sample_plan,
    .apply = sample_apply,
    .read = sample_read,
    .close = sample_close,
};

static const infra_plugin sample_plugin = {
    INFRA_PLUGIN_MAGIC,
    INFRA_ABI_MAJOR,
    INFRA_ABI_MINOR,
    sizeof(infra_plugin),
    INFRA_PLUGIN_PROVIDER,
    SAMPLE_NAME_TEXT,
    "1.0.0",
    INFRA_BUILD_SIG_INIT,
    INFRA_CAP_CONCURRENT,
    &sample_ops,
    NULL,
};

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *h, const infra_plugin **out)
{
    host = h;
    *out = &sample_plugin;
    return 0;
}
