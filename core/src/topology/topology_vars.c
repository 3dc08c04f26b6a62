/* Variables and environments: declarations, the selected environment's
 * values and override, INFRA_VAR_NAME, --var-file and --var, in that order
 * of precedence (default < environment < INFRA_VAR_ < --var-file < --var):
 * what the topology says, overridden by what the run supplies, explicit
 * flags last, as Terraform ranks TF_VAR_ below its files and flags. Every
 * variable is resolved once, before the rest of the document, so that a
 * mistake in a value is reported once at the value.
 *
 * A variable declared `sensitive: true`, and any variable whose value uses
 * one, is never quoted in an error; its values are registered with the log
 * (printed as "(sensitive)") and kept for topology_value_sensitive. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "services/log.h"
#include "topology/topology_int.h"

static const char *const type_names[] = {"string", "number", "bool", "list", "map", NULL};

/* What an override may hold: the top-level keys (name, variables and
 * environments are refused with their own message). */
static const char *const override_keys[] = {
    "description", "providers", "networks",  "firewalls",    "instances", "load_balancers",
    "dns_records", "images",    "resources", "clusters",     "jobs",      "apps",
    "outputs",     "backend",   "name",      "variables",    "environments", NULL};

static const char *type_phrase(topo_var_type t)
{
    switch (t) {
    case VT_STRING:
        return "a string";
    case VT_NUMBER:
        return "a number";
    case VT_BOOL:
        return "a boolean";
    case VT_LIST:
        return "a list";
    case VT_MAP:
        return "a mapping";
    default:
        return "a value";
    }
}

static topo_var_type type_of_node(const ytree_node *n)
{
    switch (n ? n->type : YTREE_NULL) {
    case YTREE_INT:
    case YTREE_FLOAT:
        return VT_NUMBER;
    case YTREE_BOOL:
        return VT_BOOL;
    case YTREE_LIST:
        return VT_LIST;
    case YTREE_MAP:
        return VT_MAP;
    case YTREE_STRING:
        return VT_STRING;
    default:
        return VT_ANY;
    }
}

static int valid_var_name(const char *s)
{
    if (!isalpha((unsigned char)*s) && *s != '_')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    return 1;
}

static topo_var *find_var(topo_ctx *ctx, const char *name)
{
    json_t *i = ctx->var_index ? json_object_get(ctx->var_index, name) : NULL;
    return i ? &ctx->vars[json_integer_value(i)] : NULL;
}

const char **topo_var_names(topo_ctx *ctx)
{
    const char **names = util_calloc(ctx->nvars + 1, sizeof(*names));
    for (size_t i = 0; i < ctx->nvars; i++)
        names[i] = ctx->vars[i].name;
    return names;
}

static void set_source(topo_var *v, const ytree *doc, const ytree_node *src, char *path, int data)
{
    free(v->src_path);
    v->src = src;
    v->src_doc = doc;
    v->src_path = path;
    v->src_is_data = data;
    v->cli = NULL;
    free(v->cli_from);
    v->cli_from = NULL;
    v->state = VAR_PENDING;
}

/* Key node of a top-level section (for locations), or the root. */
static const ytree_node *section_key(const ytree_node *root, const char *name)
{
    for (size_t i = 0; i < root->npairs; i++)
        if (!strcmp(root->pairs[i].key->text, name))
            return root->pairs[i].key;
    return root;
}

static void declare(topo_ctx *ctx, const ytree_node *section)
{
    static const char *const keys[] = {"default", "description", "type", "sensitive", NULL};
    ctx->var_index = json_object();
    if (!section || !topo_want_map(ctx, section, "variables") || section->type != YTREE_MAP)
        return;
    ctx->vars = util_calloc(section->npairs, sizeof(*ctx->vars));
    for (size_t i = 0; i < section->npairs; i++) {
        const ytree_node *key = section->pairs[i].key, *body = section->pairs[i].value;
        char *path = util_printf("variables.%s", key->text);
        if (!valid_var_name(key->text) || !strcmp(key->text, "override")) {
            topo_error(ctx, NULL, key, path,
                       "invalid variable name \"%s\": start with a letter or \"_\", then use "
                       "letters, digits, \"_\" or \"-\" (and not \"override\")",
                       key->text);
            free(path);
            continue;
        }
        topo_var *v = &ctx->vars[ctx->nvars];
        v->name = util_strdup(key->text);
        v->key = key;
        v->state = VAR_NONE;
        const ytree_node *value = body;
        char *value_path = util_strdup(path);
        if (body && body->type == YTREE_MAP) {
            topo_check_keys(ctx, body, path, keys);
            value = ytree_get(body, "default");
            free(value_path);
            value_path = util_printf("%s.default", path);
            const ytree_node *type = ytree_get(body, "type");
            const ytree_node *desc = ytree_get(body, "description");
            const ytree_node *sensitive = ytree_get(body, "sensitive");
            if (sensitive && sensitive->type == YTREE_BOOL) {
                v->sensitive = sensitive->boolean;
            } else if (sensitive) {
                char *sp = util_printf("%s.sensitive", path);
                topo_error(ctx, NULL, sensitive, sp, "expected true or false, got %s",
                           ytree_type_name(sensitive->type));
                free(sp);
            }
            if (desc && desc->type != YTREE_STRING) {
                char *dp = util_printf("%s.description", path);
                topo_error(ctx, NULL, desc, dp, "expected a string, got %s",
                           ytree_type_name(desc->type));
                free(dp);
            }
            if (type) {
                size_t t = 0;
                while (type->type == YTREE_STRING && type_names[t] &&
                       strcmp(type_names[t], type->text))
                    t++;
                if (type->type == YTREE_STRING && type_names[t]) {
                    v->type = (topo_var_type)(VT_STRING + t);
                } else {
                    char *tp = util_printf("%s.type", path);
                    const char *close = type->type == YTREE_STRING
                                            ? util_did_you_mean(type->text, type_names)
                                            : NULL;
                    if (type->type != YTREE_STRING)
                        topo_error(ctx, NULL, type, tp, "expected a string, got %s",
                                   ytree_type_name(type->type));
                    else if (close)
                        topo_error(ctx, NULL, type, tp,
                                   "unknown type \"%s\" (did you mean \"%s\"?)", type->text, close);
                    else
                        topo_error(ctx, NULL, type, tp,
                                   "unknown type \"%s\" (expected one of: string, number, bool, "
                                   "list, map)",
                                   type->text);
                    free(tp);
                }
            }
        }
        if (v->type == VT_ANY)
            v->type = type_of_node(value);
        if (value && value->type != YTREE_NULL)
            set_source(v, ctx->doc, value, value_path, 0);
        else
            free(value_path);
        json_object_set_new(ctx->var_index, v->name, json_integer((json_int_t)ctx->nvars));
        ctx->nvars++;
        free(path);
    }
}

static void check_override(topo_ctx *ctx, const ytree_node *over, const char *path)
{
    if (over->type != YTREE_MAP)
        return;
    for (size_t i = 0; i < over->npairs; i++) {
        const char *key = over->pairs[i].key->text;
        if (!strcmp(key, "name") || !strcmp(key, "variables") || !strcmp(key, "environments")) {
            char *kp = util_printf("%s.%s", path, key);
            topo_error(ctx, NULL, over->pairs[i].key, kp,
                       "an environment's override cannot change \"%s\"", key);
            free(kp);
        }
    }
    topo_check_keys(ctx, over, path, override_keys);
}

/* Checks every environment and returns the body of the selected one. */
static const ytree_node *select_env(topo_ctx *ctx, const ytree_node *root)
{
    const ytree_node *envs = ytree_get(root, "environments");
    const char *want = ctx->opts->environment;
    if (envs && (!topo_want_map(ctx, envs, "environments") || envs->type != YTREE_MAP))
        envs = NULL;
    const char **allowed = util_calloc(ctx->nvars + 2, sizeof(*allowed));
    for (size_t i = 0; i < ctx->nvars; i++)
        allowed[i] = ctx->vars[i].name;
    allowed[ctx->nvars] = "override";
    const ytree_node *chosen = NULL;
    int found = 0;
    for (size_t i = 0; envs && i < envs->npairs; i++) {
        const ytree_node *key = envs->pairs[i].key, *body = envs->pairs[i].value;
        char *path = util_printf("environments.%s", key->text);
        if (topo_want_map(ctx, body, path)) {
            topo_check_keys(ctx, body, path, allowed);
            const ytree_node *over = ytree_get(body, "override");
            char *op = util_printf("%s.override", path);
            if (over && topo_want_map(ctx, over, op))
                check_override(ctx, over, op);
            free(op);
        }
        if (want && !strcmp(key->text, want)) {
            found = 1;
            chosen = body && body->type == YTREE_MAP ? body : NULL;
        }
        free(path);
    }
    free(allowed);
    if (want && envs && envs->npairs && !found) {
        const char **names = util_calloc(envs->npairs + 1, sizeof(*names));
        for (size_t i = 0; i < envs->npairs; i++)
            names[i] = envs->pairs[i].key->text;
        const char *close = util_did_you_mean(want, names);
        char *list = topo_join(names);
        char *hint = close ? util_printf(" (did you mean \"%s\"?)", close) : util_strdup("");
        topo_error(ctx, NULL, section_key(root, "environments"), "environments",
                   "unknown environment \"%s\": the topology declares %s%s", want, list, hint);
        free(hint);
        free(list);
        free(names);
    }
    if (want)
        ctx->topo->environment = util_strdup(want);
    if (chosen)
        ctx->env_name = want;
    return chosen;
}

static void apply_env(topo_ctx *ctx, const ytree_node *env)
{
    for (size_t i = 0; env && i < env->npairs; i++) {
        const ytree_node *key = env->pairs[i].key, *value = env->pairs[i].value;
        topo_var *v = find_var(ctx, key->text);
        if (v && value->type != YTREE_NULL)
            set_source(v, ctx->doc, value,
                       util_printf("environments.%s.%s", ctx->env_name, key->text), 0);
    }
}

static void unknown_var(topo_ctx *ctx, const ytree *doc, const ytree_node *at, const char *path,
                        const char *name, const char *how)
{
    const char **names = topo_var_names(ctx);
    const char *close = util_did_you_mean(name, names);
    char *list = topo_join(names);
    if (close)
        topo_error(ctx, doc, at, path, "unknown variable \"%s\"%s (did you mean \"%s\"?)", name,
                   how, close);
    else if (ctx->nvars)
        topo_error(ctx, doc, at, path, "unknown variable \"%s\"%s (declared: %s)", name, how, list);
    else
        topo_error(ctx, doc, at, path, "unknown variable \"%s\"%s (the topology declares none)",
                   name, how);
    free(list);
    free(names);
}

static void load_var_files(topo_ctx *ctx)
{
    for (size_t f = 0; ctx->opts->var_files && ctx->opts->var_files[f]; f++) {
        const char *file = ctx->opts->var_files[f];
        size_t len = 0;
        char *text = NULL, *why = NULL;
        if (util_read_regular_file(file, TOPO_MAX_FILE, &text, &len, &why) < 0) {
            diag_loc loc = {file, 0, 0};
            ctx->errors++;
            diag_add(ctx->diags, DIAG_ERROR, &loc, NULL, "cannot read the --var-file: %s", why);
            free(why);
            continue;
        }
        ytree *doc = NULL;
        int error = ytree_parse(file, text, len, &doc, ctx->diags);
        free(text);
        if (error < 0) {
            ctx->errors++;
            continue;
        }
        ctx->var_docs = util_realloc(ctx->var_docs, (ctx->nvar_docs + 1) * sizeof(*ctx->var_docs));
        ctx->var_docs[ctx->nvar_docs++] = doc;
        const ytree_node *root = doc->root;
        if (!root || root->type == YTREE_NULL)
            continue;
        if (root->type != YTREE_MAP) {
            topo_error(ctx, doc, root, NULL,
                       "expected a mapping of variable names to values, got %s",
                       ytree_type_name(root->type));
            continue;
        }
        for (size_t i = 0; i < root->npairs; i++) {
            const ytree_node *key = root->pairs[i].key, *value = root->pairs[i].value;
            topo_var *v = find_var(ctx, key->text);
            if (!v)
                unknown_var(ctx, doc, key, key->text, key->text, "");
            else if (value->type != YTREE_NULL)
                set_source(v, doc, value, util_strdup(key->text), 1);
        }
    }
}

/* INFRA_VAR_NAME (the variable's exact name, as Terraform's TF_VAR_name)
 * gives a declared variable its value as --var would: a way to pass a
 * secret that keeps it off the command line (and so out of ps and of the
 * lock file). Such variables of undeclared names are ignored. */
static void apply_environment_variables(topo_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nvars; i++) {
        topo_var *v = &ctx->vars[i];
        char *name = util_printf("INFRA_VAR_%s", v->name);
        const char *value = getenv(name);
        if (value) {
            set_source(v, NULL, NULL, NULL, 0);
            v->cli = value;
            v->cli_from = name;
            name = NULL;
        }
        free(name);
    }
}

static void apply_cli(topo_ctx *ctx, const ytree_node *root)
{
    for (size_t i = 0; ctx->opts->vars && ctx->opts->vars[i]; i++) {
        const char *arg = ctx->opts->vars[i];
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg) {
            diag_loc loc = {ctx->doc->file, 0, 0};
            ctx->errors++;
            diag_add(ctx->diags, DIAG_ERROR, &loc, NULL,
                     "--var \"%.*s\" is not of the form NAME=VALUE", (int)(eq ? 0 : strlen(arg)),
                     arg);
            continue;
        }
        char *name = util_strndup(arg, (size_t)(eq - arg));
        topo_var *v = find_var(ctx, name);
        if (!v) {
            unknown_var(ctx, NULL, section_key(root, "variables"), "variables", name,
                        " given with --var");
        } else {
            set_source(v, NULL, NULL, NULL, 0);
            v->cli = eq + 1;
            v->cli_from = util_printf("--var %s", v->name);
        }
        free(name);
    }
}

/* --var text as the variable's type. */
static json_t *convert_cli(topo_ctx *ctx, topo_var *v)
{
    if (v->type == VT_ANY || v->type == VT_STRING) {
        json_t *s = json_string(v->cli);
        if (!s) {
            char *path = util_printf("variables.%s", v->name);
            topo_error(ctx, NULL, v->key, path, "%s: the value is not valid UTF-8", v->cli_from);
            free(path);
        }
        return s;
    }
    diag_list quiet = {0};
    ytree *doc = NULL;
    json_t *value = NULL;
    if (ytree_parse("--var", v->cli, strlen(v->cli), &doc, &quiet) == 0 && doc->root &&
        type_of_node(doc->root) == v->type)
        value = ytree_to_json(doc->root);
    ytree_free(doc);
    diag_list_free(&quiet);
    if (!value) {
        char *path = util_printf("variables.%s", v->name);
        if (v->sensitive)
            topo_error(ctx, NULL, v->key, path,
                       "%s: expected %s, got a value that is not (it is "
                       "sensitive: not shown)",
                       v->cli_from, type_phrase(v->type));
        else
            topo_error(ctx, NULL, v->key, path, "%s: expected %s, got \"%s\"", v->cli_from,
                       type_phrase(v->type), v->cli);
        free(path);
    }
    return value;
}

static json_t *check_type(topo_ctx *ctx, topo_var *v, json_t *val)
{
    int ok = 0;
    switch (v->type) {
    case VT_ANY:
        ok = 1;
        break;
    case VT_STRING:
        ok = json_is_string(val);
        if (!ok && (json_is_number(val) || json_is_boolean(val))) {
            /* A number written for a string variable ("1.0") keeps its text. */
            util_buf b = {0};
            if (v->src && v->src->type != YTREE_STRING && v->src->text)
                util_buf_puts(&b, v->src->text);
            else
                topo_json_text(&b, val);
            json_decref(val);
            val = json_string(b.data ? b.data : "");
            util_buf_free(&b);
            ok = 1;
        }
        break;
    case VT_NUMBER:
        ok = json_is_number(val);
        break;
    case VT_BOOL:
        ok = json_is_boolean(val);
        break;
    case VT_LIST:
        ok = json_is_array(val);
        break;
    case VT_MAP:
        ok = json_is_object(val);
        break;
    }
    if (ok)
        return val;
    char *got = v->sensitive
                    ? util_printf("%s (sensitive: not shown)", topology_json_type_name(val))
                    : topo_describe(val);
    topo_error(ctx, v->src_doc, v->src, v->src_path, "expected %s, got %s", type_phrase(v->type),
               got);
    free(got);
    json_decref(val);
    return NULL;
}

static size_t count_values(const json_t *v)
{
    size_t n = 1;
    size_t i;
    const char *key;
    json_t *item;
    if (json_is_array(v))
        json_array_foreach(v, i, item) n += count_values(item);
    else if (json_is_object(v))
        json_object_foreach((json_t *)v, key, item) n += count_values(item);
    return n;
}

static void var_resolve(topo_ctx *ctx, topo_var *v)
{
    v->state = VAR_RESOLVING;
    json_t *val = NULL;
    if (v->cli) {
        val = convert_cli(ctx, v);
    } else if (v->src_is_data) {
        val = check_type(ctx, v, ytree_to_json(v->src));
    } else {
        util_buf path = {0};
        int uses_sensitive = 0;
        util_buf_puts(&path, v->src_path);
        topo_scope sc = {.path = &path,
                         .doc = v->src_doc,
                         .where = "a variable's value",
                         .count_index = -1,
                         .sensitive = &uses_sensitive};
        val = topo_eval_node(ctx, &sc, v->src);
        util_buf_free(&path);
        /* A value made from a sensitive one is as sensitive. */
        if (uses_sensitive)
            v->sensitive = 1;
        if (val)
            val = check_type(ctx, v, val);
    }
    v->value = val;
    v->size = val ? count_values(val) : 0;
    v->state = val ? VAR_DONE : VAR_FAILED;
}

const json_t *topo_var_get(topo_ctx *ctx, const topo_scope *scope, const ytree_node *node,
                           const char *name, size_t len, int *declared)
{
    char *key = util_strndup(name, len);
    topo_var *v = find_var(ctx, key);
    free(key);
    *declared = v != NULL;
    if (!v)
        return NULL;
    if (v->state == VAR_PENDING)
        var_resolve(ctx, v);
    const char *path = scope && scope->path ? scope->path->data : NULL;
    switch (v->state) {
    case VAR_DONE:
        if (topo_charge(ctx, node, v->size) < 0)
            return NULL;
        if (v->sensitive && scope && scope->sensitive)
            *scope->sensitive = 1;
        return v->value;
    case VAR_NONE:
        if (topo_reporting(ctx, scope))
            topo_error(ctx, scope ? scope->doc : NULL, node, path,
                       "variable \"%s\" has no value: give it a default or pass --var %s=...",
                       v->name, v->name);
        else
            ctx->errors++;
        return NULL;
    case VAR_RESOLVING:
        topo_error(ctx, scope ? scope->doc : NULL, node, path,
                   "variable \"%s\" refers to itself through its own value", v->name);
        return NULL;
    default:
        return NULL;
    }
}

/* Adds the leaves of a sensitive value to the topology's list and to the
 * log's masking. */
static void keep_sensitive(topo_ctx *ctx, const json_t *value)
{
    size_t i;
    const char *key;
    json_t *item;
    if (json_is_array(value)) {
        json_array_foreach(value, i, item)
            keep_sensitive(ctx, item);
    } else if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key, item)
            keep_sensitive(ctx, item);
    } else if (json_is_string(value) || json_is_number(value) || json_is_boolean(value)) {
        util_buf text = {0};
        topo_json_text(&text, value);
        if (text.len)
            log_add_sensitive(text.data);
        util_buf_free(&text);
        if (!json_is_string(value) || json_string_length(value) > 0)
            json_array_append(ctx->priv->sensitive, (json_t *)value);
    }
}

int topo_vars_load(topo_ctx *ctx, const ytree_node *root)
{
    declare(ctx, ytree_get(root, "variables"));
    const ytree_node *env = select_env(ctx, root);
    apply_env(ctx, env);
    apply_environment_variables(ctx);
    load_var_files(ctx);
    apply_cli(ctx, root);
    for (size_t i = 0; i < ctx->nvars && !ctx->fatal; i++)
        if (ctx->vars[i].state == VAR_PENDING)
            var_resolve(ctx, &ctx->vars[i]);
    if (ctx->fatal)
        return -1;
    for (size_t i = 0; i < ctx->nvars; i++)
        if (ctx->vars[i].sensitive && ctx->vars[i].value)
            keep_sensitive(ctx, ctx->vars[i].value);

    ctx->root = root;
    const ytree_node *over = ytree_get(env, "override");
    if (over && over->type == YTREE_MAP)
        ctx->root = ytree_merge(ctx->doc, root, over);
    return 0;
}

void topo_vars_free(topo_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nvars; i++) {
        free(ctx->vars[i].name);
        free(ctx->vars[i].src_path);
        free(ctx->vars[i].cli_from);
        json_decref(ctx->vars[i].value);
    }
    free(ctx->vars);
    ctx->vars = NULL;
    ctx->nvars = 0;
    json_decref(ctx->var_index);
    ctx->var_index = NULL;
    for (size_t i = 0; i < ctx->nvar_docs; i++)
        ytree_free(ctx->var_docs[i]);
    free(ctx->var_docs);
    ctx->var_docs = NULL;
    ctx->nvar_docs = 0;
}
