/* Providers, resources (declared in a first pass so that references may
 * point forward, built in a second), and outputs. */
#include <stdlib.h>
#include <string.h>

#include "topology/topology_int.h"

static const char *const resource_meta[] = {"provider",        "count",   "depends_on",
                                            "prevent_destroy", "bastion", NULL};

/* Types whose names the expressions or the addresses already use. */
static const char *const reserved_types[] = {
    "cluster", "provider", "var", "env", "count", "output", "job", "app",
    "cluster_agent", "cluster_region", "cluster_federation", NULL};

static const struct {
    const char *section;
    const char *type;
    int data;
} sections[] = {
    {"networks", "network", 0},       {"firewalls", "firewall", 0},
    {"instances", "instance", 0},     {"load_balancers", "load_balancer", 0},
    {"dns_records", "dns_record", 0}, {"images", "image", 1},
};

static int is_meta(const char *key, const char *const *meta)
{
    for (size_t i = 0; meta && meta[i]; i++)
        if (!strcmp(meta[i], key))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Meta values                                                        */

json_t *topo_meta_value(topo_ctx *ctx, const ytree_node *node, const char *path)
{
    util_buf b = {0};
    util_buf_puts(&b, path);
    topo_scope sc = {.path = &b, .where = "this key", .count_index = -1};
    json_t *v = topo_eval_node(ctx, &sc, node);
    util_buf_free(&b);
    return v;
}

static void type_error(topo_ctx *ctx, const ytree_node *node, const char *path, const char *want,
                       const json_t *v)
{
    char *got = topo_describe(v);
    topo_error(ctx, NULL, node, path, "expected %s, got %s", want, got);
    free(got);
}

int topo_meta_int(topo_ctx *ctx, const ytree_node *node, const char *path, long min, long max,
                  long *out)
{
    json_t *v = topo_meta_value(ctx, node, path);
    if (!v)
        return -1;
    int error = -1;
    if (!json_is_integer(v)) {
        type_error(ctx, node, path, "an integer", v);
    } else if (json_integer_value(v) < min) {
        char *want = util_printf("an integer >= %ld", min);
        type_error(ctx, node, path, want, v);
        free(want);
    } else if (json_integer_value(v) > max) {
        topo_error(ctx, NULL, node, path, "%lld is too large (at most %ld)",
                   (long long)json_integer_value(v), max);
    } else {
        *out = (long)json_integer_value(v);
        error = 0;
    }
    json_decref(v);
    return error;
}

int topo_meta_string(topo_ctx *ctx, const ytree_node *node, const char *path, char **out)
{
    json_t *v = topo_meta_value(ctx, node, path);
    if (!v)
        return -1;
    int error = -1;
    if (!json_is_string(v) || !*json_string_value(v)) {
        type_error(ctx, node, path, json_is_string(v) ? "a non-empty string" : "a string", v);
    } else {
        *out = util_strdup(json_string_value(v));
        error = 0;
    }
    json_decref(v);
    return error;
}

char *topo_meta_provider(topo_ctx *ctx, const ytree_node *node, const char *path)
{
    char *name = NULL;
    if (topo_meta_string(ctx, node, path, &name) < 0)
        return NULL;
    const topology *t = ctx->topo;
    if (topology_provider(t, name))
        return name;
    const char **names = util_calloc(t->nproviders + 1, sizeof(*names));
    for (size_t i = 0; i < t->nproviders; i++)
        names[i] = t->providers[i].name;
    const char *close = util_did_you_mean(name, names);
    char *list = topo_join(names);
    if (close)
        topo_error(ctx, NULL, node, path, "unknown provider \"%s\" (did you mean \"%s\"?)", name,
                   close);
    else if (t->nproviders)
        topo_error(ctx, NULL, node, path, "unknown provider \"%s\" (declared: %s)", name, list);
    else
        topo_error(ctx, NULL, node, path, "unknown provider \"%s\" (no provider is declared)",
                   name);
    free(list);
    free(names);
    free(name);
    return NULL;
}

json_t *topo_settings(topo_ctx *ctx, const ytree_node *map, const char *path,
                      const char *const *skip, const char *where, int template)
{
    json_t *o = json_object();
    util_buf b = {0};
    util_buf_puts(&b, path);
    topo_scope sc = {.path = &b, .where = where, .count_index = -1, .template = template};
    int failed = 0;
    for (size_t i = 0; map && map->type == YTREE_MAP && i < map->npairs; i++) {
        const char *key = map->pairs[i].key->text;
        if (is_meta(key, skip))
            continue;
        size_t mark = topo_path_key(&b, key);
        json_t *v = topo_eval_node(ctx, &sc, map->pairs[i].value);
        topo_path_pop(&b, mark);
        if (v)
            json_object_set_new(o, key, v);
        else
            failed = 1;
    }
    util_buf_free(&b);
    if (failed) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------------ */
/* Providers                                                          */

/* "30m", "1h30m", "45s", "500ms" (units h, m, s, ms) in milliseconds;
 * -1 when text is not such a duration or is not above zero. */
static int64_t duration_ms(const char *text)
{
    int64_t total = 0;
    const char *s = text;
    if (!*s)
        return -1;
    while (*s) {
        char *end = NULL;
        if (*s < '0' || *s > '9')
            return -1;
        long long n = strtoll(s, &end, 10);
        int64_t unit = !strncmp(end, "ms", 2) ? 1
                       : *end == 'h'          ? 3600000
                       : *end == 'm'          ? 60000
                       : *end == 's'          ? 1000
                                              : 0;
        if (!unit || n > INT64_MAX / unit / 2 || total > INT64_MAX / 2)
            return -1;
        total += n * unit;
        s = end + (unit == 1 ? 2 : 1);
    }
    return total > 0 ? total : -1;
}

int topo_load_providers(topo_ctx *ctx)
{
    static const char *const meta[] = {"plugin", "parallelism", "timeout", NULL};
    const ytree_node *section = ytree_get(ctx->root, "providers");
    topology *t = ctx->topo;
    if (!section || !topo_want_map(ctx, section, "providers") || section->type != YTREE_MAP)
        return 0;
    t->providers = util_calloc(section->npairs, sizeof(*t->providers));
    ctx->priv->provider_bodies = util_calloc(section->npairs, sizeof(*ctx->priv->provider_bodies));
    for (size_t i = 0; i < section->npairs; i++) {
        const ytree_node *key = section->pairs[i].key, *body = section->pairs[i].value;
        char *path = util_printf("providers.%s", key->text);
        if (!topo_valid_name(key->text)) {
            topo_error(ctx, NULL, key, path,
                       "invalid provider name \"%s\": use letters, digits, \"_\" and \"-\"",
                       key->text);
            free(path);
            continue;
        }
        if (!topo_want_map(ctx, body, path)) {
            free(path);
            continue;
        }
        topo_check_misspelt(ctx, body, path, meta);
        topo_provider *p = &t->providers[t->nproviders];
        ctx->priv->provider_bodies[t->nproviders] = body->type == YTREE_MAP ? body : NULL;
        t->nproviders++;
        p->name = util_strdup(key->text);
        p->loc = ytree_loc(ctx->doc, key);
        const ytree_node *plugin = ytree_get(body, "plugin");
        char *pp = util_printf("%s.plugin", path);
        if (!plugin || topo_meta_string(ctx, plugin, pp, &p->plugin) < 0)
            p->plugin = util_strdup(p->name);
        free(pp);
        const ytree_node *par = ytree_get(body, "parallelism");
        if (par) {
            long n = 0;
            char *parp = util_printf("%s.parallelism", path);
            if (topo_meta_int(ctx, par, parp, 1, 1000000, &n) == 0)
                p->parallelism = (int)n;
            free(parp);
        }
        const ytree_node *timeout = ytree_get(body, "timeout");
        if (timeout) {
            char *tp = util_printf("%s.timeout", path), *text = NULL;
            if (topo_meta_string(ctx, timeout, tp, &text) == 0 &&
                (p->timeout_ms = duration_ms(text)) < 0) {
                p->timeout_ms = 0;
                topo_error(ctx, NULL, timeout, tp,
                           "\"%s\" is not a duration such as \"30m\", \"1h30m\" or \"45s\"",
                           text);
            }
            free(text);
            free(tp);
        }
        p->settings = topo_settings(ctx, body, path, meta, "provider settings", 0);
        if (!p->settings)
            p->settings = json_object();
        free(path);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Backend                                                            */

int topo_load_backend(topo_ctx *ctx)
{
    const ytree_node *node = ytree_get(ctx->root, "backend");
    topology *t = ctx->topo;
    if (!node || !topo_want_map(ctx, node, "backend") || node->type != YTREE_MAP)
        return 0;
    ctx->priv->backend_body = node;
    t->backend_loc = ytree_loc(ctx->doc, node);
    for (size_t i = 0; i < ctx->root->npairs; i++)
        if (!strcmp(ctx->root->pairs[i].key->text, "backend"))
            t->backend_loc = ytree_loc(ctx->doc, ctx->root->pairs[i].key);
    t->backend = topo_settings(ctx, node, "backend", NULL, "backend settings", 0);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Resources                                                          */

static void reserve(topo_ctx *ctx, size_t cap)
{
    topology *t = ctx->topo;
    topo_priv *p = ctx->priv;
    if (cap <= ctx->res_cap)
        return;
    ctx->res_cap = cap;
    t->resources = util_realloc(t->resources, cap * sizeof(*t->resources));
    p->bodies = util_realloc(p->bodies, cap * sizeof(*p->bodies));
    p->resource_base = util_realloc(p->resource_base, cap * sizeof(*p->resource_base));
}

size_t topo_add_resource(topo_ctx *ctx, const ytree_node *key, char *address, const char *type,
                         char *name, long index, size_t base)
{
    topology *t = ctx->topo;
    topo_priv *p = ctx->priv;
    if (t->nresources == ctx->res_cap)
        reserve(ctx, ctx->res_cap ? ctx->res_cap * 2 : 16);
    size_t i = t->nresources++;
    topo_resource *r = &t->resources[i];
    memset(r, 0, sizeof(*r));
    r->address = address;
    r->type = util_strdup(type);
    r->name = name;
    r->index = (int)index;
    r->loc = ytree_loc(ctx->doc, key);
    p->bodies[i] = NULL;
    p->resource_base[i] = base;
    json_object_set_new(p->addresses, address, json_integer((json_int_t)i));
    topo_charge(ctx, key, 1);
    return i;
}

/* The provider of a resource body: its provider key, or the only one. */
static char *resource_provider(topo_ctx *ctx, const ytree_node *key, const ytree_node *body,
                               const char *path)
{
    const ytree_node *node = ytree_get(body, "provider");
    if (node) {
        char *pp = util_printf("%s.provider", path);
        char *name = topo_meta_provider(ctx, node, pp);
        free(pp);
        return name;
    }
    const topology *t = ctx->topo;
    if (t->nproviders == 1)
        return util_strdup(t->providers[0].name);
    const ytree_node *at = body && body->type == YTREE_MAP ? body : key;
    if (t->nproviders == 0)
        topo_error(ctx, NULL, at, path, "no provider is declared: add one under \"providers:\"");
    else
        topo_error(ctx, NULL, at, path, "missing required key \"provider\"");
    return NULL;
}

static void declare_one(topo_ctx *ctx, const ytree_node *key, const ytree_node *body,
                        const char *type, int data, const char *path)
{
    topo_priv *p = ctx->priv;
    if (!topo_valid_name(key->text)) {
        topo_error(ctx, NULL, key, path,
                   "invalid resource name \"%s\": use letters, digits, \"_\" and \"-\"", key->text);
        return;
    }
    char *base_key = topo_concat(type, strlen(type), '.', key->text, strlen(key->text));
    json_t *prev = json_object_get(p->base_index, base_key);
    if (prev) {
        const ytree_node *first = p->bases[json_integer_value(prev)].keynode;
        topo_error(ctx, NULL, key, path,
                   "resource \"%s\" is already declared at line %d, column %d", base_key,
                   first->line, first->column);
        free(base_key);
        return;
    }
    int broken = !topo_want_map(ctx, body, path);
    if (body && body->type != YTREE_MAP)
        body = NULL;
    topo_check_misspelt(ctx, body, path, resource_meta);

    long count = -1;
    const ytree_node *node = ytree_get(body, "count");
    if (node) {
        char *cp = util_printf("%s.count", path);
        if (topo_meta_int(ctx, node, cp, 0, TOPO_MAX_COUNT, &count) < 0) {
            broken = 1;
            count = -1;
        }
        free(cp);
    }
    char *provider = broken ? NULL : resource_provider(ctx, key, body, path);
    int prevent_destroy = 0;
    node = ytree_get(body, "prevent_destroy");
    if (node) {
        char *pp = util_printf("%s.prevent_destroy", path);
        json_t *v = topo_meta_value(ctx, node, pp);
        if (v && !json_is_boolean(v))
            type_error(ctx, node, pp, "a boolean", v);
        prevent_destroy = json_is_true(v);
        json_decref(v);
        free(pp);
    }

    if (p->nbases == p->bases_cap) {
        p->bases_cap = p->bases_cap ? p->bases_cap * 2 : 16;
        p->bases = util_realloc(p->bases, p->bases_cap * sizeof(*p->bases));
    }
    topo_base *b = &p->bases[p->nbases];
    memset(b, 0, sizeof(*b));
    b->key = base_key;
    b->first = ctx->topo->nresources;
    b->count = count;
    b->body = body;
    b->path = util_strdup(path);
    b->depends_on = ytree_get(body, "depends_on");
    b->broken = broken;
    b->keynode = key;
    json_object_set_new(p->base_index, base_key, json_integer((json_int_t)p->nbases));
    p->nbases++;

    size_t n = broken ? 0 : count < 0 ? 1 : (size_t)count;
    for (size_t i = 0; i < n && !ctx->fatal; i++) {
        char *address = count < 0 ? util_strdup(base_key) : util_printf("%s[%zu]", base_key, i);
        size_t idx = topo_add_resource(ctx, key, address, type, util_strdup(key->text),
                                       count < 0 ? -1 : (long)i, p->nbases - 1);
        topo_resource *r = &ctx->topo->resources[idx];
        r->provider = provider ? util_strdup(provider) : NULL;
        r->prevent_destroy = prevent_destroy;
        /* An image with a build block is made, not looked up. */
        r->data = data && !(strcmp(type, "image") == 0 && topo_image_is_built(body));
        p->bodies[idx] = body;
    }
    free(provider);
}

static void declare_section(topo_ctx *ctx, const ytree_node *section, const char *type, int data,
                            const char *section_path)
{
    if (!section || !topo_want_map(ctx, section, section_path) || section->type != YTREE_MAP)
        return;
    for (size_t i = 0; i < section->npairs && !ctx->fatal; i++) {
        const char *name = section->pairs[i].key->text;
        char *path = topo_concat(section_path, strlen(section_path), '.', name, strlen(name));
        declare_one(ctx, section->pairs[i].key, section->pairs[i].value, type, data, path);
        free(path);
    }
}

static void declare_generic(topo_ctx *ctx, const ytree_node *section)
{
    if (!section || !topo_want_map(ctx, section, "resources") || section->type != YTREE_MAP)
        return;
    for (size_t i = 0; i < section->npairs && !ctx->fatal; i++) {
        const ytree_node *key = section->pairs[i].key;
        char *path = util_printf("resources.%s", key->text);
        if (!topo_valid_name(key->text)) {
            topo_error(ctx, NULL, key, path,
                       "invalid resource type \"%s\": use letters, digits, \"_\" and \"-\"",
                       key->text);
        } else if (is_meta(key->text, reserved_types)) {
            topo_error(ctx, NULL, key, path, "resource type \"%s\" is reserved", key->text);
        } else {
            declare_section(ctx, section->pairs[i].value, key->text, 0, path);
        }
        free(path);
    }
}

int topo_declare_resources(topo_ctx *ctx)
{
    const ytree_node *root = ctx->root;
    /* One resource per declaration is the common case: size for it. */
    size_t hint = 0;
    for (size_t i = 0; i < root->npairs; i++) {
        const ytree_node *value = root->pairs[i].value;
        for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++)
            if (!strcmp(root->pairs[i].key->text, sections[s].section) && value->type == YTREE_MAP)
                hint += value->npairs;
    }
    reserve(ctx, hint);
    for (size_t i = 0; i < root->npairs && !ctx->fatal; i++) {
        const char *key = root->pairs[i].key->text;
        const ytree_node *value = root->pairs[i].value;
        for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++)
            if (!strcmp(key, sections[s].section))
                declare_section(ctx, value, sections[s].type, sections[s].data, key);
        if (!strcmp(key, "resources"))
            declare_generic(ctx, value);
        else if (!strcmp(key, "clusters"))
            topo_load_clusters(ctx, value);
    }
    return ctx->fatal ? -1 : 0;
}

void topo_add_depends_on(topo_ctx *ctx, const ytree_node *node, const char *owner_path,
                         topo_deps *deps, int quiet)
{
    if (node == NULL)
        return;
    char *path = util_printf("%s.depends_on", owner_path);
    json_t *v = topo_meta_value(ctx, node, path);
    if (v && !json_is_array(v)) {
        if (!quiet)
            type_error(ctx, node, path, "a list", v);
    } else if (v) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            const ytree_node *at =
                node->type == YTREE_LIST && i < node->nitems ? node->items[i] : node;
            char *ip = util_printf("%s[%zu]", path, i);
            char *err = NULL;
            if (!json_is_string(item)) {
                if (!quiet)
                    type_error(ctx, at, ip, "a string", item);
            } else if (topo_depends_on(ctx->topo, json_string_value(item), deps, &err) < 0) {
                if (!quiet)
                    topo_error(ctx, NULL, at, ip, "%s", err);
                free(err);
            }
            free(ip);
        }
    }
    json_decref(v);
    free(path);
}

void topo_add_bastion(topo_ctx *ctx, const ytree_node *node, const char *owner_path,
                      topo_resource *r, topo_deps *deps, int quiet)
{
    char *path = util_printf("%s.bastion", owner_path);
    json_t *v = NULL;
    size_t len = node->type == YTREE_STRING && node->text ? strlen(node->text) : 0;
    if (len > 3 && !strncmp(node->text, "${instance.", 11) && node->text[len - 1] == '}')
        v = json_stringn(node->text + 2, len - 3); /* ${instance.NAME}: the instance itself */
    else
        v = topo_meta_value(ctx, node, path);
    const char *want = json_string_value(v);
    const topo_priv *p = ctx->priv;
    json_t *idx = want ? json_object_get(p->addresses, want) : NULL;
    const topo_resource *b = idx ? &ctx->topo->resources[json_integer_value(idx)] : NULL;
    json_t *base = want && !b ? json_object_get(p->base_index, want) : NULL;

    if (!v) {
        /* reported */
    } else if (strcmp(r->type, "instance")) {
        if (!quiet)
            topo_error(ctx, NULL, node, path, "only an instance can have a bastion, not a %s",
                       r->type);
    } else if (!want) {
        if (!quiet)
            type_error(ctx, node, path, "an instance address (instance.NAME or instance.NAME[N])",
                       v);
    } else if (base) {
        if (!quiet)
            topo_error(ctx, NULL, node, path, "\"%s\" has count: name one of its instances (%s[0])",
                       want, want);
    } else if (!b || strcmp(b->type, "instance") || !strncmp(want, "cluster.", 8)) {
        if (!quiet)
            topo_error(ctx, NULL, node, path,
                       "\"%s\" is no instance of the topology: a bastion is one instance "
                       "(instance.NAME or instance.NAME[N])",
                       want);
    } else if (!strcmp(b->address, r->address)) {
        if (!quiet)
            topo_error(ctx, NULL, node, path, "an instance cannot be its own bastion");
    } else if (b->provider && r->provider && strcmp(b->provider, r->provider)) {
        if (!quiet)
            topo_error(ctx, NULL, node, path,
                       "the bastion %s is on provider %s, not %s: it must share a network with "
                       "the instances behind it",
                       want, b->provider, r->provider);
    } else {
        free(r->bastion);
        r->bastion = util_strdup(b->address);
        topo_deps_add(deps, b->address);
    }
    json_decref(v);
    free(path);
}

int topo_build_resources(topo_ctx *ctx)
{
    topo_priv *p = ctx->priv;
    topology *t = ctx->topo;
    util_buf path = {0};
    for (size_t bi = 0; bi < p->nbases && !ctx->fatal; bi++) {
        const topo_base *b = &p->bases[bi];
        if (b->broken)
            continue;
        size_t n = b->count < 0 ? 1 : (size_t)b->count;
        /* With count 0 the body is still checked once, then dropped. */
        size_t runs = n ? n : 1;
        for (size_t i = 0; i < runs && !ctx->fatal; i++) {
            topo_resource *r = n ? &t->resources[b->first + i] : NULL;
            topo_deps deps = {.self = r ? r->address : NULL};
            topo_path_pop(&path, 0);
            util_buf_puts(&path, b->path);
            topo_scope sc = {.path = &path,
                             .refs = 1,
                             .count_index = b->count < 0 ? -1 : (long)i,
                             .template = 1,
                             .deps = &deps,
                             .quiet = i > 0};
            json_t *config = json_object();
            for (size_t k = 0; b->body && k < b->body->npairs; k++) {
                const char *key = b->body->pairs[k].key->text;
                if (is_meta(key, resource_meta))
                    continue;
                size_t mark = topo_path_key(&path, key);
                json_t *v = topo_eval_node(ctx, &sc, b->body->pairs[k].value);
                topo_path_pop(&path, mark);
                if (v)
                    json_object_set_new(config, key, v);
            }
            if (b->depends_on)
                topo_add_depends_on(ctx, b->depends_on, b->path, &deps, i > 0);
            if (r && ytree_get(b->body, "bastion"))
                topo_add_bastion(ctx, ytree_get(b->body, "bastion"), b->path, r, &deps, i > 0);
            if (!strncmp(b->key, "image.", 6) && topo_image_is_built(b->body))
                topo_image_files(ctx, b->body, b->path, config, i > 0);
            if (r) {
                r->config = config;
                r->self_ref = deps.self_refs > 0;
                r->deps = topo_deps_take(&deps, &r->ndeps);
            } else {
                json_decref(config);
                topo_deps_free(&deps);
            }
        }
    }
    util_buf_free(&path);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Outputs                                                            */

int topo_load_outputs(topo_ctx *ctx)
{
    const ytree_node *section = ytree_get(ctx->root, "outputs");
    topology *t = ctx->topo;
    if (!section || !topo_want_map(ctx, section, "outputs") || section->type != YTREE_MAP)
        return 0;
    t->outputs = util_calloc(section->npairs, sizeof(*t->outputs));
    util_buf path = {0};
    for (size_t i = 0; i < section->npairs && !ctx->fatal; i++) {
        const ytree_node *key = section->pairs[i].key;
        topo_deps deps = {0};
        topo_path_pop(&path, 0);
        util_buf_printf(&path, "outputs.%s", key->text);
        int uses_sensitive = 0;
        topo_scope sc = {.path = &path,
                         .refs = 1,
                         .count_index = -1,
                         .template = 1,
                         .deps = &deps,
                         .sensitive = &uses_sensitive};
        json_t *v = topo_eval_node(ctx, &sc, section->pairs[i].value);
        if (!v) {
            topo_deps_free(&deps);
            continue;
        }
        topo_output *o = &t->outputs[t->noutputs++];
        o->name = util_strdup(key->text);
        /* An output made from a sensitive variable is never evaluated with
         * its value, so the value reaches neither the state nor a screen. */
        if (uses_sensitive) {
            json_decref(v);
            v = json_string(TOPO_SENSITIVE);
            o->sensitive = 1;
        }
        o->value = v;
        o->loc = ytree_loc(ctx->doc, key);
        o->deps = topo_deps_take(&deps, &o->ndeps);
    }
    util_buf_free(&path);
    return 0;
}
