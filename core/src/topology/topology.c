/* Loading a topology: the order of the passes, the diagnostics helpers
 * every pass uses, lookups and topology_locate. */
#include "topology/topology.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infra/plugin.h"
#include "topology/topology_int.h"
#include "base/file.h"
#include "base/util.h"
#include "topology/yaml_tree.h"

static const char *const top_keys[] = {
    "name",      "description", "variables",      "environments", "providers", "networks",
    "firewalls", "instances",   "load_balancers", "dns_records",  "images",    "resources",
    "clusters",  "jobs",        "apps",           "outputs",      "backend",   NULL};

/* ------------------------------------------------------------------ */
/* Diagnostics                                                        */

int topo_reporting(topo_ctx *ctx, const topo_scope *scope)
{
    return !(scope && scope->quiet) && ctx->errors < TOPO_MAX_ERRORS;
}

void topo_error(topo_ctx *ctx, const ytree *doc, const ytree_node *node, const char *path,
                const char *fmt, ...)
{
    ctx->errors++;
    if (ctx->errors > TOPO_MAX_ERRORS)
        return;
    diag_loc loc = ytree_loc(doc ? doc : ctx->doc, node);
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    diag_add(ctx->diags, DIAG_ERROR, &loc, path, "%s", msg);
    free(msg);
}

char *topo_concat(const char *a, size_t alen, char sep, const char *b, size_t blen)
{
    char *s = util_malloc(alen + blen + 2);
    memcpy(s, a, alen);
    s[alen] = sep;
    memcpy(s + alen + 1, b, blen);
    s[alen + 1 + blen] = '\0';
    return s;
}

char *topo_join(const char *const *names)
{
    util_buf b = {0};
    for (size_t i = 0; names && names[i]; i++)
        util_buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
    return util_buf_take(&b);
}

static char *child_path(const char *path, const char *key)
{
    return path && *path ? util_printf("%s.%s", path, key) : util_strdup(key);
}

void topo_check_keys(topo_ctx *ctx, const ytree_node *map, const char *path,
                     const char *const *allowed)
{
    if (!map || map->type != YTREE_MAP)
        return;
    for (size_t i = 0; i < map->npairs; i++) {
        const char *key = map->pairs[i].key->text;
        size_t k = 0;
        while (allowed[k] && strcmp(allowed[k], key))
            k++;
        if (allowed[k])
            continue;
        char *kp = child_path(path, key);
        const char *close = util_did_you_mean(key, allowed);
        if (close) {
            topo_error(ctx, NULL, map->pairs[i].key, kp,
                       "unknown key \"%s\" (did you mean \"%s\"?)", key, close);
        } else {
            char *list = topo_join(allowed);
            topo_error(ctx, NULL, map->pairs[i].key, kp, "unknown key \"%s\" (expected one of: %s)",
                       key, list);
            free(list);
        }
        free(kp);
    }
}

/* One deletion, insertion or swap of neighbours away, or a difference of
 * case: the typing slips that make a meta key look like a setting. A
 * substitution is not counted, so settings such as "mount" stay clear of
 * "count". */
static int misspelling_of(const char *key, size_t a, const char *meta)
{
    size_t b = strlen(meta);
    if (a > b + 1 || b > a + 1)
        return 0;
    if (!strcmp(key, meta))
        return 0;
    if (a == b && !strcasecmp(key, meta))
        return 1;
    if (a + 1 == b || b + 1 == a) {
        const char *longer = a > b ? key : meta, *shorter = a > b ? meta : key;
        size_t i = 0;
        while (shorter[i] && shorter[i] == longer[i])
            i++;
        return !strcmp(shorter + i, longer + i + 1);
    }
    if (a == b && a >= 2) {
        size_t i = 0;
        while (key[i] == meta[i])
            i++;
        return key[i + 1] && key[i] == meta[i + 1] && key[i + 1] == meta[i] &&
               !strcmp(key + i + 2, meta + i + 2);
    }
    return 0;
}

void topo_check_misspelt(topo_ctx *ctx, const ytree_node *map, const char *path,
                         const char *const *meta)
{
    if (!map || map->type != YTREE_MAP)
        return;
    for (size_t i = 0; i < map->npairs; i++) {
        const char *key = map->pairs[i].key->text;
        size_t len = strlen(key);
        for (size_t k = 0; meta[k]; k++) {
            if (misspelling_of(key, len, meta[k])) {
                char *kp = child_path(path, key);
                topo_error(ctx, NULL, map->pairs[i].key, kp,
                           "unknown key \"%s\" (did you mean \"%s\"?)", key, meta[k]);
                free(kp);
                break;
            }
        }
    }
}

const char *topology_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_ARRAY:
        return "a list";
    case JSON_OBJECT:
        return "a mapping";
    default:
        return "null";
    }
}

char *topo_describe(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        if (strlen(s) > 60)
            return util_printf("string \"%.57s...\"", s);
        return util_printf("string \"%s\"", s);
    }
    case JSON_INTEGER:
        return util_printf("integer %lld", (long long)json_integer_value(v));
    case JSON_REAL:
        return util_printf("number %g", json_real_value(v));
    case JSON_TRUE:
        return util_strdup("boolean true");
    case JSON_FALSE:
        return util_strdup("boolean false");
    case JSON_NULL:
        return util_strdup("null");
    default:
        return util_strdup(topology_json_type_name(v));
    }
}

int topo_want_map(topo_ctx *ctx, const ytree_node *node, const char *path)
{
    if (!node || node->type == YTREE_MAP || node->type == YTREE_NULL)
        return 1;
    json_t *v = ytree_to_json(node);
    char *got = topo_describe(v);
    topo_error(ctx, NULL, node, path, "expected a mapping, got %s", got);
    free(got);
    json_decref(v);
    return 0;
}

int topo_valid_name(const char *name)
{
    if (!*name)
        return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return 0;
    return 1;
}

size_t topo_path_key(util_buf *path, const char *key)
{
    size_t len = path->len;
    if (path->len)
        util_buf_put(path, ".", 1);
    util_buf_puts(path, key);
    return len;
}

size_t topo_path_index(util_buf *path, size_t index)
{
    size_t len = path->len;
    char text[32];
    int n = snprintf(text, sizeof(text), "[%zu]", index);
    util_buf_put(path, text, (size_t)n);
    return len;
}

void topo_path_pop(util_buf *path, size_t len)
{
    path->len = len;
    if (path->data)
        path->data[len] = '\0';
}

int topo_charge(topo_ctx *ctx, const ytree_node *node, size_t n)
{
    if (ctx->fatal)
        return -1;
    ctx->values += n;
    if (ctx->values <= TOPO_MAX_VALUES)
        return 0;
    ctx->fatal = 1;
    topo_error(ctx, NULL, node, NULL,
               "the topology expands to more than %d values (check count and aliases)",
               TOPO_MAX_VALUES);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Dependency sets                                                    */

int topology_is_group(const char *address)
{
    size_t n = address ? strlen(address) : 0;
    return n > 3 && strcmp(address + n - 3, "[*]") == 0;
}

void topo_deps_add(topo_deps *d, const char *address)
{
    if (d->self && !strcmp(d->self, address)) {
        d->self_refs++;
        return;
    }
    if (d->index) {
        if (json_object_get(d->index, address))
            return;
    } else {
        for (size_t i = 0; i < d->n; i++)
            if (!strcmp(d->items[i], address))
                return;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 4;
        d->items = util_realloc(d->items, d->cap * sizeof(*d->items));
    }
    d->items[d->n++] = util_strdup(address);
    if (!d->index && d->n > 16) {
        d->index = json_object();
        for (size_t i = 0; i < d->n; i++)
            json_object_set_new(d->index, d->items[i], json_true());
    } else if (d->index) {
        json_object_set_new(d->index, address, json_true());
    }
}

char **topo_deps_take(topo_deps *d, size_t *n)
{
    char **items = d->items;
    *n = d->n;
    d->items = NULL;
    d->n = d->cap = 0;
    json_decref(d->index);
    d->index = NULL;
    return items;
}

void topo_deps_free(topo_deps *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->items[i]);
    free(d->items);
    json_decref(d->index);
    memset(d, 0, sizeof(*d));
}

/* ------------------------------------------------------------------ */
/* Loading                                                            */

static void check_name(topo_ctx *ctx, const ytree_node *root)
{
    const ytree_node *name = ytree_get(root, "name");
    if (!name) {
        topo_error(ctx, NULL, root, NULL, "missing required key \"name\"");
        return;
    }
    if (name->type != YTREE_STRING) {
        json_t *v = ytree_to_json(name);
        char *got = topo_describe(v);
        topo_error(ctx, NULL, name, "name", "expected a string, got %s", got);
        free(got);
        json_decref(v);
        return;
    }
    const char *p = name->text;
    while (*p && (islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
        p++;
    if (!*name->text || *p) {
        topo_error(ctx, NULL, name, "name",
                   "invalid name \"%s\": use only lowercase letters, digits and \"-\"", name->text);
        return;
    }
    ctx->topo->name = util_strdup(name->text);
    const ytree_node *desc = ytree_get(root, "description");
    if (desc && desc->type != YTREE_STRING && desc->type != YTREE_NULL)
        topo_error(ctx, NULL, desc, "description", "expected a string, got %s",
                   ytree_type_name(desc->type));
}

static void build_candidates(topo_ctx *ctx)
{
    topo_priv *p = ctx->priv;
    const topology *t = ctx->topo;
    p->cluster_keys = util_calloc(t->nclusters + 1, sizeof(*p->cluster_keys));
    p->candidates = util_calloc(p->nbases + t->nclusters + 1, sizeof(*p->candidates));
    size_t n = 0;
    for (size_t i = 0; i < p->nbases; i++)
        p->candidates[n++] = p->bases[i].key;
    for (size_t i = 0; i < t->nclusters; i++) {
        p->cluster_keys[i] = util_printf("cluster.%s", t->clusters[i].name);
        p->candidates[n++] = p->cluster_keys[i];
    }
    p->candidates[n] = NULL;
}

static int load_parsed(topo_ctx *ctx)
{
    const ytree_node *root = ctx->doc->root;
    if (!root || root->type == YTREE_NULL) {
        diag_loc loc = {ctx->doc->file, 1, 1};
        ctx->errors++;
        diag_add(ctx->diags, DIAG_ERROR, &loc, NULL,
                 "the topology is empty: missing required key \"name\"");
        return -1;
    }
    if (root->type != YTREE_MAP) {
        topo_error(ctx, NULL, root, NULL, "expected a mapping at the top of the file, got %s",
                   ytree_type_name(root->type));
        return -1;
    }
    topo_check_keys(ctx, root, NULL, top_keys);
    check_name(ctx, root);
    if (topo_vars_load(ctx, root) < 0)
        return -1;
    topo_load_providers(ctx);
    topo_load_backend(ctx);
    topo_declare_resources(ctx);
    if (ctx->fatal)
        return -1;
    build_candidates(ctx);
    topo_build_resources(ctx);
    const ytree_node *r = ctx->root;
    for (size_t i = 0; i < r->npairs && !ctx->fatal; i++) {
        const char *key = r->pairs[i].key->text;
        if (!strcmp(key, "jobs"))
            topo_load_jobs(ctx, r->pairs[i].value, "job");
        else if (!strcmp(key, "apps"))
            topo_load_jobs(ctx, r->pairs[i].value, "app");
    }
    if (!ctx->errors)
        topo_build_scheduler(ctx);
    topo_load_outputs(ctx);
    return ctx->errors ? -1 : 0;
}

int topology_load_buffer(const char *name, const char *text, size_t len,
                         const topology_options *opts, topology **out, diag_list *diags)
{
    static const topology_options none = {0};
    *out = NULL;
    if (!name)
        name = "<input>";
    topology *t = util_calloc(1, sizeof(*t));
    topo_priv *priv = util_calloc(1, sizeof(*priv));
    t->priv = priv;
    t->file = util_strdup(name);
    t->dir = util_dir_of(name);
    priv->addresses = json_object();
    priv->base_index = json_object();
    priv->sensitive = json_array();
    priv->key_names = json_object();

    int error = ytree_parse(name, text, len, &priv->doc, diags);
    if (error < 0) {
        topology_free(t);
        return INFRA_EINVALID;
    }
    topo_ctx ctx = {
        .topo = t, .priv = priv, .doc = priv->doc, .diags = diags, .opts = opts ? opts : &none};
    error = load_parsed(&ctx);
    topo_vars_free(&ctx);
    if (error < 0 || ctx.errors) {
        topology_free(t);
        return INFRA_EINVALID;
    }
    *out = t;
    return 0;
}

int topology_load(const char *path, const topology_options *opts, topology **out, diag_list *diags)
{
    *out = NULL;
    diag_loc loc = {path, 0, 0};
    char *text = NULL, *why = NULL;
    size_t len = 0;
    /* A regular file of bounded size: /dev/zero must not fill memory, nor
     * a FIFO hang the run. */
    if (util_read_regular_file(path, TOPO_MAX_FILE, &text, &len, &why) < 0) {
        diag_add(diags, DIAG_ERROR, &loc, NULL, "cannot read the topology: %s", why);
        free(why);
        return INFRA_EINVALID;
    }
    int error = topology_load_buffer(path, text, len, opts, out, diags);
    free(text);
    return error;
}

/* ------------------------------------------------------------------ */
/* Using a topology                                                   */

void topology_free(topology *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nresources; i++) {
        topo_resource *r = &t->resources[i];
        free(r->address);
        free(r->type);
        free(r->name);
        free(r->provider);
        free(r->bastion);
        free(r->pool_cluster);
        free(r->pool_region);
        free(r->pool_datacenter);
        json_decref(r->config);
        for (size_t k = 0; k < r->ndeps; k++)
            free(r->deps[k]);
        free(r->deps);
        free(r->groups);
    }
    free(t->resources);
    for (size_t i = 0; i < t->ngroups; i++) {
        free(t->groups[i].address);
        for (size_t k = 0; k < t->groups[i].nmembers; k++)
            free(t->groups[i].members[k]);
        free(t->groups[i].members);
    }
    free(t->groups);
    for (size_t i = 0; i < t->nproviders; i++) {
        free(t->providers[i].name);
        free(t->providers[i].plugin);
        json_decref(t->providers[i].settings);
    }
    free(t->providers);
    for (size_t i = 0; i < t->nclusters; i++)
        topo_cluster_free(&t->clusters[i]);
    free(t->clusters);
    for (size_t i = 0; i < t->njobs; i++)
        topo_job_free(&t->jobs[i]);
    free(t->jobs);
    for (size_t i = 0; i < t->noutputs; i++) {
        free(t->outputs[i].name);
        json_decref(t->outputs[i].value);
        for (size_t k = 0; k < t->outputs[i].ndeps; k++)
            free(t->outputs[i].deps[k]);
        free(t->outputs[i].deps);
    }
    free(t->outputs);
    json_decref(t->backend);
    topo_priv *p = t->priv;
    if (p) {
        for (size_t i = 0; i < p->nbases; i++) {
            free(p->bases[i].key);
            free(p->bases[i].path);
        }
        free(p->bases);
        free(p->candidates);
        for (size_t i = 0; p->cluster_keys && p->cluster_keys[i]; i++)
            free(p->cluster_keys[i]);
        free(p->cluster_keys);
        free(p->bodies);
        free(p->provider_bodies);
        free(p->resource_base);
        json_decref(p->addresses);
        json_decref(p->base_index);
        json_decref(p->sensitive);
        json_decref(p->key_names);
        ytree_free(p->doc);
        free(p);
    }
    free(t->name);
    free(t->file);
    free(t->dir);
    free(t->environment);
    free(t);
}

/* 1 when leaf holds one of the sensitive leaves. */
static int leaf_sensitive(const json_t *sensitive, const json_t *leaf)
{
    size_t i;
    json_t *s;
    json_array_foreach(sensitive, i, s) {
        if (json_is_string(leaf) && json_is_string(s)) {
            if (strstr(json_string_value(leaf), json_string_value(s)))
                return 1;
        } else if (json_equal(leaf, s)) {
            return 1;
        }
    }
    return 0;
}

static int value_sensitive(const json_t *sensitive, const json_t *value)
{
    size_t i;
    const char *key;
    json_t *item;
    if (json_is_array(value)) {
        json_array_foreach(value, i, item)
            if (value_sensitive(sensitive, item))
                return 1;
        return 0;
    }
    if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key, item)
            if (value_sensitive(sensitive, item))
                return 1;
        return 0;
    }
    return leaf_sensitive(sensitive, value);
}

int topology_value_sensitive(const topology *topo, const json_t *value)
{
    const topo_priv *p = topo ? topo->priv : NULL;
    if (!p || !p->sensitive || json_array_size(p->sensitive) == 0 || !value)
        return 0;
    return value_sensitive(p->sensitive, value);
}

const topo_resource *topology_resource(const topology *topo, const char *address)
{
    const topo_priv *p = topo->priv;
    json_t *i = json_object_get(p->addresses, address);
    return i ? &topo->resources[json_integer_value(i)] : NULL;
}

const topo_provider *topology_provider(const topology *topo, const char *name)
{
    for (size_t i = 0; i < topo->nproviders; i++)
        if (!strcmp(topo->providers[i].name, name))
            return &topo->providers[i];
    return NULL;
}

/* Follows one step of an attribute path ("name", "[3]") from *node.
 * Returns the rest of the path, or NULL when the step does not match. */
static const char *locate_step(const topo_priv *p, const ytree_node **node, const char *path)
{
    const ytree_node *n = *node;
    if (*path == '[') {
        char *end = NULL;
        errno = 0;
        unsigned long long i = strtoull(path + 1, &end, 10);
        if (errno || end == path + 1 || *end != ']' || !n || n->type != YTREE_LIST ||
            i >= n->nitems)
            return NULL;
        *node = n->items[i];
        return end + 1;
    }
    size_t len = strcspn(path, ".[");
    if (!n || n->type != YTREE_MAP || !len)
        return NULL;
    for (size_t k = 0; k < n->npairs; k++) {
        const char *key = n->pairs[k].key->text;
        if (strlen(key) == len && !strncmp(key, path, len)) {
            *node = n->pairs[k].value;
            return path + len;
        }
    }
    /* A key written ${...} is found by the name it gave. */
    for (size_t k = 0; k < n->npairs; k++) {
        char ptr[32];
        snprintf(ptr, sizeof(ptr), "%p", (const void *)n->pairs[k].key);
        const char *key = json_string_value(json_object_get(p->key_names, ptr));
        if (key && strlen(key) == len && !strncmp(key, path, len)) {
            *node = n->pairs[k].value;
            return path + len;
        }
    }
    return NULL;
}

int topology_locate(const topology *topo, const char *address, const char *attr_path, diag_loc *out)
{
    const topo_priv *p = topo->priv;
    const ytree_node *node = NULL;
    json_t *i = json_object_get(p->addresses, address);
    if (i) {
        *out = topo->resources[json_integer_value(i)].loc;
        node = p->bodies[json_integer_value(i)];
    } else if (!strcmp(address, "backend")) {
        if (!p->backend_body)
            return INFRA_ENOTFOUND;
        *out = topo->backend_loc;
        node = p->backend_body;
    } else if (!strncmp(address, "provider.", 9)) {
        size_t k = 0;
        while (k < topo->nproviders && strcmp(topo->providers[k].name, address + 9))
            k++;
        if (k == topo->nproviders)
            return INFRA_ENOTFOUND;
        *out = topo->providers[k].loc;
        node = p->provider_bodies[k];
    } else {
        return INFRA_ENOTFOUND;
    }
    const char *rest = attr_path ? attr_path : "";
    while (*rest && node) {
        if (*rest == '.')
            rest++;
        rest = locate_step(p, &node, rest);
        if (!rest)
            break;
        *out = ytree_loc(p->doc, node);
    }
    return 0;
}
