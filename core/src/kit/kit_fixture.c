/* The kit's fixture: a YAML file read with the topology's YAML tree, so a
 * mistake is reported as FILE:LINE:COL: error: KEY: message like one in a
 * topology. String values may hold ${env.NAME} or ${env.NAME:-fallback}
 * (a test gives each run its own names and address ranges). */
#include "kit/kit.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/util.h"
#include "topology/yaml_tree.h"

/* What reading the fixture needs everywhere. */
typedef struct fixture_ctx {
    const ytree *doc;
    diag_list *diags;
} fixture_ctx;

static void fixture_error(fixture_ctx *ctx, const ytree_node *node, const char *key,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void fixture_error(fixture_ctx *ctx, const ytree_node *node, const char *key,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = util_vprintf(fmt, ap);
    va_end(ap);
    diag_loc loc = ytree_loc(ctx->doc, node);
    diag_add(ctx->diags, DIAG_ERROR, &loc, key, "%s", msg);
    free(msg);
}

/* The text of a scalar with ${env.NAME[:-fallback]} expanded: new string,
 * or NULL after reporting at node. */
static char *expand_env(fixture_ctx *ctx, const ytree_node *node, const char *key)
{
    const char *s = node->text;
    util_buf b = {0};
    while (*s) {
        const char *open = strstr(s, "${env.");
        if (!open) {
            util_buf_puts(&b, s);
            break;
        }
        util_buf_put(&b, s, (size_t)(open - s));
        const char *close = strchr(open, '}');
        if (!close) {
            fixture_error(ctx, node, key, "unterminated ${env.");
            util_buf_free(&b);
            return NULL;
        }
        const char *name = open + 6;
        const char *sep = strstr(name, ":-");
        if (sep && sep > close)
            sep = NULL;
        char *var = util_strndup(name, (size_t)((sep ? sep : close) - name));
        const char *value = *var ? getenv(var) : NULL;
        if (value) {
            util_buf_puts(&b, value);
        } else if (sep) {
            util_buf_put(&b, sep + 2, (size_t)(close - (sep + 2)));
        } else {
            fixture_error(ctx, node, key,
                          "environment variable \"%s\" is not set (use ${env.%s:-default} to "
                          "give a fallback)",
                          var, var);
            free(var);
            util_buf_free(&b);
            return NULL;
        }
        free(var);
        s = close + 1;
    }
    return util_buf_take(&b);
}

/* node as JSON, with env references expanded in every string; NULL after
 * reporting. key is the node's dotted path. */
static json_t *node_json(fixture_ctx *ctx, const ytree_node *node, const char *key)
{
    if (node->type == YTREE_STRING) {
        char *text = expand_env(ctx, node, key);
        json_t *v = text ? json_string(text) : NULL;
        if (text && !v)
            fixture_error(ctx, node, key, "not valid UTF-8");
        free(text);
        return v;
    }
    if (node->type == YTREE_LIST) {
        json_t *a = json_array();
        for (size_t i = 0; i < node->nitems; i++) {
            char *sub = util_printf("%s[%zu]", key, i);
            json_t *item = node_json(ctx, node->items[i], sub);
            free(sub);
            if (!item) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, item);
        }
        return a;
    }
    if (node->type == YTREE_MAP) {
        json_t *o = json_object();
        for (size_t i = 0; i < node->npairs; i++) {
            char *sub = util_printf("%s.%s", key, node->pairs[i].key->text);
            json_t *item = node_json(ctx, node->pairs[i].value, sub);
            free(sub);
            if (!item) {
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, node->pairs[i].key->text, item);
        }
        return o;
    }
    return ytree_to_json(node);
}

/* Reports every key of map not in allowed (NULL-terminated). */
static int check_keys(fixture_ctx *ctx, const ytree_node *map, const char *path,
                      const char *const *allowed)
{
    int error = 0;
    for (size_t i = 0; i < map->npairs; i++) {
        const char *k = map->pairs[i].key->text;
        size_t j = 0;
        while (allowed[j] && strcmp(allowed[j], k))
            j++;
        if (allowed[j])
            continue;
        const char *guess = util_did_you_mean(k, allowed);
        char *key = *path ? util_printf("%s.%s", path, k) : util_strdup(k);
        fixture_error(ctx, map->pairs[i].key, key, "unknown key%s%s%s",
                      guess ? " (did you mean \"" : "", guess ? guess : "", guess ? "\"?)" : "");
        free(key);
        error = INFRA_EINVALID;
    }
    return error;
}

/* The mapping under key of map as JSON (NULL when absent, or after
 * reporting: *error is then set). */
static json_t *map_value(fixture_ctx *ctx, const ytree_node *map, const char *path,
                         const char *name, int *error)
{
    const ytree_node *node = ytree_get(map, name);
    if (!node)
        return NULL;
    char *key = util_printf("%s.%s", path, name);
    json_t *v = NULL;
    if (node->type != YTREE_MAP) {
        fixture_error(ctx, node, key, "expected a mapping of attributes, got %s",
                      ytree_type_name(node->type));
    } else {
        v = node_json(ctx, node, key);
    }
    if (!v)
        *error = INFRA_EINVALID;
    free(key);
    return v;
}

/* The string under name of map: new, or NULL when absent or after
 * reporting (*error set). */
static char *string_value(fixture_ctx *ctx, const ytree_node *map, const char *path,
                          const char *name, int *error)
{
    const ytree_node *node = ytree_get(map, name);
    if (!node)
        return NULL;
    char *key = *path ? util_printf("%s.%s", path, name) : util_strdup(name);
    char *text = NULL;
    if (node->type != YTREE_STRING && node->type != YTREE_INT) {
        fixture_error(ctx, node, key, "expected a string, got %s", ytree_type_name(node->type));
    } else if ((text = expand_env(ctx, node, key)) && !*text) {
        fixture_error(ctx, node, key, "must not be empty");
        free(text);
        text = NULL;
    }
    if (!text)
        *error = INFRA_EINVALID;
    free(key);
    return text;
}

static int load_drift(fixture_ctx *ctx, const ytree_node *node, const char *path, kit_type *t)
{
    static const char *const keys[] = {"command", "file", "attributes", NULL};
    int error = 0;
    if (node->type != YTREE_MAP) {
        fixture_error(ctx, node, path, "expected a mapping with command or file");
        return INFRA_EINVALID;
    }
    if (check_keys(ctx, node, path, keys) < 0)
        error = INFRA_EINVALID;
    t->drift = util_calloc(1, sizeof(*t->drift));
    t->drift->attributes = json_array();
    t->drift->command = string_value(ctx, node, path, "command", &error);
    const ytree_node *file = ytree_get(node, "file");
    if (file) {
        static const char *const file_keys[] = {"path", "content", NULL};
        char *fpath = util_printf("%s.file", path);
        if (file->type != YTREE_MAP) {
            fixture_error(ctx, file, fpath, "expected a mapping with path and content");
            error = INFRA_EINVALID;
        } else {
            if (check_keys(ctx, file, fpath, file_keys) < 0)
                error = INFRA_EINVALID;
            t->drift->file_path = string_value(ctx, file, fpath, "path", &error);
            const ytree_node *content = ytree_get(file, "content");
            if (!t->drift->file_path && !error) {
                fixture_error(ctx, file, fpath, "path is required");
                error = INFRA_EINVALID;
            }
            if (!content) {
                t->drift->file_content = util_strdup("");
            } else if (content->type != YTREE_STRING) {
                fixture_error(ctx, content, fpath, "content: expected a string");
                error = INFRA_EINVALID;
            } else if (!(t->drift->file_content = expand_env(ctx, content, fpath))) {
                error = INFRA_EINVALID;
            }
        }
        free(fpath);
    }
    if (!t->drift->command == !t->drift->file_path && !error) {
        fixture_error(ctx, node, path, "give one of command and file");
        error = INFRA_EINVALID;
    }
    const ytree_node *attrs = ytree_get(node, "attributes");
    if (attrs) {
        char *apath = util_printf("%s.attributes", path);
        if (attrs->type != YTREE_LIST) {
            fixture_error(ctx, attrs, apath, "expected a list of attribute names");
            error = INFRA_EINVALID;
        }
        for (size_t i = 0; attrs->type == YTREE_LIST && i < attrs->nitems; i++) {
            if (attrs->items[i]->type != YTREE_STRING) {
                fixture_error(ctx, attrs->items[i], apath, "expected an attribute name");
                error = INFRA_EINVALID;
            } else {
                json_array_append_new(t->drift->attributes, json_string(attrs->items[i]->text));
            }
        }
        free(apath);
    }
    return error;
}

static int load_invalid(fixture_ctx *ctx, const ytree_node *node, const char *path, kit_type *t)
{
    static const char *const keys[] = {"config", "attribute", NULL};
    int error = 0;
    if (node->type != YTREE_MAP) {
        fixture_error(ctx, node, path, "expected a mapping with config and attribute");
        return INFRA_EINVALID;
    }
    if (check_keys(ctx, node, path, keys) < 0)
        error = INFRA_EINVALID;
    t->invalid = map_value(ctx, node, path, "config", &error);
    t->invalid_attr = string_value(ctx, node, path, "attribute", &error);
    if ((!t->invalid || !t->invalid_attr) && !error) {
        fixture_error(ctx, node, path, "config and attribute are both required");
        error = INFRA_EINVALID;
    }
    return error;
}

static int load_type(fixture_ctx *ctx, const ytree_pair *pair, const json_t *settings, kit_type *t)
{
    static const char *const keys[] = {"settings", "create", "update",   "replace",     "invalid",
                                       "drift",    "import", "identity", "expect_fail", NULL};
    const ytree_node *node = pair->value;
    char *path = util_printf("resources.%s", pair->key->text);
    int error = 0;

    t->type = util_strdup(pair->key->text);
    t->settings = json_deep_copy(settings);
    if (node->type != YTREE_MAP) {
        fixture_error(ctx, node, path, "expected a mapping with at least create");
        error = INFRA_EINVALID;
        goto done;
    }
    if (check_keys(ctx, node, path, keys) < 0)
        error = INFRA_EINVALID;
    json_t *own = map_value(ctx, node, path, "settings", &error);
    if (own)
        json_object_update(t->settings, own);
    json_decref(own);
    t->create = map_value(ctx, node, path, "create", &error);
    t->update = map_value(ctx, node, path, "update", &error);
    t->replace = map_value(ctx, node, path, "replace", &error);
    if (!t->create && !error) {
        char *key = util_printf("%s.create", path);
        fixture_error(ctx, node, key, "required: the configuration to create");
        free(key);
        error = INFRA_EINVALID;
    }
    const ytree_node *sub;
    if ((sub = ytree_get(node, "invalid"))) {
        char *key = util_printf("%s.invalid", path);
        if (load_invalid(ctx, sub, key, t) < 0)
            error = INFRA_EINVALID;
        free(key);
    }
    if ((sub = ytree_get(node, "drift"))) {
        char *key = util_printf("%s.drift", path);
        if (load_drift(ctx, sub, key, t) < 0)
            error = INFRA_EINVALID;
        free(key);
    }
    t->expect_fail = json_array();
    if ((sub = ytree_get(node, "expect_fail"))) {
        char *key = util_printf("%s.expect_fail", path);
        if (sub->type != YTREE_LIST) {
            fixture_error(ctx, sub, key, "expected a list of check names");
            error = INFRA_EINVALID;
        }
        for (size_t i = 0; sub->type == YTREE_LIST && i < sub->nitems; i++) {
            if (sub->items[i]->type != YTREE_STRING) {
                fixture_error(ctx, sub->items[i], key, "expected a check name");
                error = INFRA_EINVALID;
            } else {
                json_array_append_new(t->expect_fail, json_string(sub->items[i]->text));
            }
        }
        free(key);
    }
    t->import_id = string_value(ctx, node, path, "import", &error);
    t->identity = string_value(ctx, node, path, "identity", &error);
    if (!t->identity)
        t->identity = util_strdup("id");
done:
    free(path);
    return error;
}

static int load_root(fixture_ctx *ctx, const ytree_node *root, kit_fixture *f)
{
    static const char *const keys[] = {"plugin", "settings", "timeout", "resources", NULL};
    int error = 0;
    json_t *settings = NULL;

    if (!root || root->type != YTREE_MAP) {
        diag_loc loc = {f->file, root ? root->line : 1, root ? root->column : 1};
        diag_add(ctx->diags, DIAG_ERROR, &loc, NULL,
                 "a fixture is a mapping with settings and resources");
        return INFRA_EINVALID;
    }
    if (check_keys(ctx, root, "", keys) < 0)
        error = INFRA_EINVALID;
    f->plugin = string_value(ctx, root, "", "plugin", &error);
    const ytree_node *node = ytree_get(root, "settings");
    if (node && node->type != YTREE_MAP) {
        fixture_error(ctx, node, "settings", "expected a mapping of provider settings");
        error = INFRA_EINVALID;
    } else if (node && !(settings = node_json(ctx, node, "settings"))) {
        error = INFRA_EINVALID;
    }
    if (!settings)
        settings = json_object();
    if ((node = ytree_get(root, "timeout"))) {
        if (node->type != YTREE_INT || node->integer < 1 || node->integer > 86400) {
            fixture_error(ctx, node, "timeout", "expected seconds, 1 to 86400");
            error = INFRA_EINVALID;
        } else {
            f->timeout_ms = node->integer * 1000;
        }
    }
    node = ytree_get(root, "resources");
    if (!node || node->type != YTREE_MAP || node->npairs == 0) {
        fixture_error(ctx, node ? node : root, "resources",
                      "required: a mapping of resource types to test");
        error = INFRA_EINVALID;
    } else {
        f->types = util_calloc(node->npairs, sizeof(*f->types));
        for (size_t i = 0; i < node->npairs; i++) {
            if (load_type(ctx, &node->pairs[i], settings, &f->types[f->ntypes++]) < 0)
                error = INFRA_EINVALID;
        }
    }
    json_decref(settings);
    return error;
}

int kit_fixture_load(const char *path, kit_fixture **out, diag_list *diags)
{
    int error = 0;
    char *text = NULL;
    size_t len = 0;
    ytree *doc = NULL;
    kit_fixture *f = util_calloc(1, sizeof(*f));

    *out = NULL;
    f->file = util_strdup(path);
    if (util_read_file(path, &text, &len) < 0) {
        diag_loc loc = {path, 0, 0};
        diag_add(diags, DIAG_ERROR, &loc, NULL, "cannot read the fixture");
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = ytree_parse(path, text, len, &doc, diags)) < 0)
        goto done;
    fixture_ctx ctx = {doc, diags};
    error = load_root(&ctx, doc->root, f);
done:
    ytree_free(doc);
    free(text);
    if (error < 0 || diags->errors) {
        kit_fixture_free(f);
        return INFRA_EINVALID;
    }
    *out = f;
    return 0;
}

void kit_fixture_free(kit_fixture *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->ntypes; i++) {
        kit_type *t = &f->types[i];
        free(t->type);
        json_decref(t->settings);
        json_decref(t->create);
        json_decref(t->update);
        json_decref(t->replace);
        json_decref(t->invalid);
        free(t->invalid_attr);
        if (t->drift) {
            free(t->drift->command);
            free(t->drift->file_path);
            free(t->drift->file_content);
            json_decref(t->drift->attributes);
            free(t->drift);
        }
        free(t->import_id);
        free(t->identity);
        json_decref(t->expect_fail);
    }
    free(f->types);
    free(f->plugin);
    free(f->file);
    free(f);
}
