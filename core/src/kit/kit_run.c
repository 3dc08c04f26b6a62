/* The kit's run: one engine holding the plugin, with one provider block
 * per resource type of the fixture (each configured with that type's
 * settings), and the lifecycle of each type driven through the call
 * layer. A check that fails stops the steps that depend on it; whatever
 * was created is deleted before the next type. */
#include "kit/kit_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "engine/call.h"
#include "engine/contain.h"
#include "engine/plan.h"

/* 1 when the fixture lists check name as known to fail. */
static int known_to_fail(const kit_object *o, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(o->t->expect_fail, i, v) if (!strcmp(json_string_value(v), name)) return 1;
    return 0;
}

int kit_check_report(kit_object *o, const char *name, char *detail)
{
    kit_result result = !detail ? KIT_OK : known_to_fail(o, name) ? KIT_KNOWN : KIT_FAIL;
    o->k->report(o->k->ud, o->t->type, name, result, detail);
    if (result == KIT_FAIL)
        o->k->failed = 1;
    free(detail);
    return result == KIT_OK;
}

char *kit_call_text(const engine_call *c, int code)
{
    const char *name = code == INFRA_ENOTFOUND    ? "ENOTFOUND"
                       : code == INFRA_EAUTH      ? "EAUTH"
                       : code == INFRA_ETRANSIENT ? "ETRANSIENT"
                       : code == INFRA_ECONFLICT  ? "ECONFLICT"
                       : code == INFRA_EINVALID   ? "EINVALID"
                       : code == INFRA_ENOTSUP    ? "ENOTSUP"
                       : code == INFRA_ECANCELLED ? "ECANCELLED"
                                                  : "EINTERNAL";
    if (c->attr && *c->attr)
        return util_printf("%s (INFRA_%s, at \"%s\")", call_error(c, code), name, c->attr);
    return util_printf("%s (INFRA_%s)", call_error(c, code), name);
}

static int is_sensitive(void *ud, const char *key)
{
    const kit_object *o = ud;
    return engine_attr_flag(o->k->e, o->provider, o->t->type, key, "sensitive");
}

/* What forces a replacement, as the engine's plan decides it: the
 * attributes the plugin names in requires_replace, and those the schema
 * marks force_new that the configuration changes from was to config. New
 * array. */
static json_t *forced_by(const kit_object *o, const json_t *was, const json_t *config,
                         const json_t *replace)
{
    json_t *forced = json_array();
    json_t *edited = plan_diff_keys(config, was);
    size_t i;
    json_t *name;
    json_array_extend(forced, (json_t *)replace);
    json_array_foreach(edited, i, name)
    {
        const char *key = json_string_value(name);
        if (engine_attr_flag(o->k->e, o->provider, o->t->type, key, "force_new") &&
            json_object_get(config, key))
            json_array_append(forced, name);
    }
    json_decref(edited);
    return forced;
}

/* ------------------------------------------------------------------ */
/* Calls                                                              */

static int do_plan(kit_object *o, const json_t *prior, const json_t *desired, json_t **planned,
                   json_t **replace, char **detail)
{
    engine_call c;
    call_init(&c, o->k->e, o->provider, o->address, "plan", NULL);
    int error = call_plan(&c, o->t->type, prior, desired, planned, replace);
    *detail = error < 0 ? kit_call_text(&c, error) : NULL;
    call_clear(&c);
    return error;
}

static int do_apply(kit_object *o, const char *token, int resuming, const json_t *prior,
                    const json_t *planned, json_t **attrs, void **priv, size_t *priv_len,
                    char **detail)
{
    engine_call c;
    call_init(&c, o->k->e, o->provider, o->address, NULL, token);
    c.call.resuming = resuming;
    /* A create starts without a blob; an update or delete gets the object's. */
    int error = call_apply(&c, o->t->type, prior, planned, prior ? o->priv : NULL,
                           prior ? o->priv_len : 0, attrs, priv, priv_len);
    *detail = error < 0 ? kit_call_text(&c, error) : NULL;
    call_clear(&c);
    return error;
}

/* Reads the object recorded as attrs (NULL: found by token). */
static int do_read(kit_object *o, const json_t *attrs, const char *token, json_t **out,
                   char **detail)
{
    engine_call c;
    call_init(&c, o->k->e, o->provider, o->address, "read", token);
    int error = call_read(&c, o->t->type, attrs, o->priv, o->priv_len, out);
    *detail = error < 0 ? kit_call_text(&c, error) : NULL;
    call_clear(&c);
    return error;
}

static int do_read_many(kit_object *o, const json_t *attrs, json_t **out, char **detail)
{
    engine_call batch, item;
    call_init(&batch, o->k->e, o->provider, "", "read_many", NULL);
    call_init(&item, o->k->e, o->provider, o->address, "read", o->token);
    call_read_item it = {&item, attrs, o->priv, o->priv_len, NULL, 0};
    int error = call_read_many(&batch, o->t->type, &it, 1);
    if (error == 0)
        error = it.result;
    *out = it.out;
    *detail = error < 0 ? kit_call_text(item.message ? &item : &batch, error) : NULL;
    call_clear(&item);
    call_clear(&batch);
    return error;
}

/* Replaces what is known of the object and its blob. */
static void object_set(kit_object *o, json_t *attrs, void *priv, size_t priv_len)
{
    if (o->now != attrs)
        json_decref(o->now);
    if (o->priv != priv)
        free(o->priv);
    o->now = attrs;
    o->priv = priv;
    o->priv_len = priv_len;
}

/* ------------------------------------------------------------------ */
/* Steps                                                              */

/* Plan and apply a create of config with a new token. */
static int step_create(kit_object *o, const json_t *config, const char *suffix)
{
    json_t *planned = NULL, *replace = NULL, *attrs = NULL;
    void *priv = NULL;
    size_t priv_len = 0;
    char *detail = NULL;
    char *name = util_printf("plan-create%s", suffix);
    int ok = 0;

    if (do_plan(o, NULL, config, &planned, &replace, &detail) == 0 && json_array_size(replace) > 0)
        detail = util_strdup("a create must not name attributes forcing a replacement");
    if (!kit_check_report(o, name, detail))
        goto done;
    free(o->token);
    o->token = util_random_hex();
    free(name);
    name = util_printf("create%s", suffix);
    do_apply(o, o->token, 0, NULL, planned, &attrs, &priv, &priv_len, &detail);
    if (!kit_check_report(o, name, detail))
        goto done;
    object_set(o, attrs, priv, priv_len);
    o->config = config;
    free(name);
    name = util_printf("create%s-as-planned", suffix);
    ok = kit_check_report(o, name, kit_diff_known(planned, attrs, "planned", "applied"));
done:
    free(name);
    json_decref(planned);
    json_decref(replace);
    return ok;
}

/* The identity of an object: its identity attribute, else all of attrs. */
static const json_t *identity_of(const kit_object *o, const json_t *attrs)
{
    const json_t *id = json_object_get(attrs, o->t->identity);
    return id ? id : attrs;
}

/* A create repeated with the same token (as after a crash) adopts the
 * object: the same identity, and no second object. */
static void step_token_adopts(kit_object *o)
{
    json_t *planned = NULL, *replace = NULL, *attrs = NULL;
    void *priv = NULL;
    size_t priv_len = 0;
    char *detail = NULL;

    if (do_plan(o, NULL, o->config, &planned, &replace, &detail) == 0 &&
        do_apply(o, o->token, 1, NULL, planned, &attrs, &priv, &priv_len, &detail) == 0 &&
        !json_equal(identity_of(o, o->now), identity_of(o, attrs))) {
        char *a = json_dumps(identity_of(o, o->now), JSON_ENCODE_ANY | JSON_COMPACT);
        char *b = json_dumps(identity_of(o, attrs), JSON_ENCODE_ANY | JSON_COMPACT);
        detail = util_printf("a second object was made for the same token: %s %s, then %s",
                             o->t->identity, a, b);
        free(a);
        free(b);
        /* Remove the second one, so that only the first is left to delete. */
        json_t *gone = NULL;
        void *gp = NULL;
        size_t gl = 0;
        engine_call c;
        call_init(&c, o->k->e, o->provider, o->address, NULL, NULL);
        call_apply(&c, o->t->type, attrs, NULL, priv, priv_len, &gone, &gp, &gl);
        call_clear(&c);
        json_decref(gone);
        free(gp);
    }
    kit_check_report(o, "token-adopts", detail);
    json_decref(planned);
    json_decref(replace);
    json_decref(attrs);
    free(priv);
}

/* Reads the object, expecting what was applied, twice. */
static int step_read(kit_object *o, const char *name)
{
    json_t *first = NULL, *second = NULL;
    char *detail = NULL;
    int ok = 0;

    if (do_read(o, o->now, NULL, &first, &detail) == 0)
        detail = kit_diff(o->now, first, "applied", "read");
    if (!kit_check_report(o, name, detail))
        goto done;
    if (do_read(o, o->now, NULL, &second, &detail) == 0)
        detail = kit_diff(first, second, "first read", "second read");
    char *stable = util_printf("%s-stable", name);
    ok = kit_check_report(o, stable, detail);
    free(stable);
    if (ok) {
        object_set(o, first, o->priv, o->priv_len);
        first = NULL;
    }
done:
    json_decref(first);
    json_decref(second);
    return ok;
}

/* The plan of the configuration the object was made from changes nothing. */
static void step_plan_no_change(kit_object *o)
{
    json_t *planned = NULL, *replace = NULL;
    char *detail = NULL;
    if (do_plan(o, o->now, o->config, &planned, &replace, &detail) == 0) {
        json_t *changed = kit_changed_keys(planned, o->now, is_sensitive, o);
        /* A difference on an attribute the configuration sets is how the
         * plugin writes back a value it was given; the engine ignores it. */
        json_t *acted = json_array();
        size_t i;
        json_t *key;
        json_array_foreach(changed, i, key) if (!json_object_get(o->config, json_string_value(key)))
            json_array_append(acted, key);
        if (json_array_size(replace) > 0 || json_array_size(acted) > 0) {
            char *r = json_dumps(replace, JSON_COMPACT);
            char *a = json_dumps(acted, JSON_COMPACT);
            detail = util_printf("the plan of an unchanged configuration changes %s and "
                                 "replaces for %s",
                                 a, r);
            free(r);
            free(a);
        }
        json_decref(changed);
        json_decref(acted);
    }
    kit_check_report(o, "plan-no-change", detail);
    json_decref(planned);
    json_decref(replace);
}

static void step_read_many(kit_object *o)
{
    json_t *out = NULL;
    char *detail = NULL;
    if (do_read_many(o, o->now, &out, &detail) == 0)
        detail = kit_diff(o->now, out, "read", "read_many");
    kit_check_report(o, "read-many", detail);
    json_decref(out);
}

static void step_read_by_token(kit_object *o)
{
    json_t *out = NULL;
    char *detail = NULL;
    if (do_read(o, NULL, o->token, &out, &detail) == 0 &&
        !json_equal(identity_of(o, o->now), identity_of(o, out)))
        detail = kit_diff(o->now, out, "read", "read by token");
    kit_check_report(o, "read-by-token", detail);
    json_decref(out);
}

/* Plans and applies config as an in-place update of the object. */
static int step_update(kit_object *o, const json_t *config)
{
    json_t *planned = NULL, *replace = NULL, *attrs = NULL;
    void *priv = NULL;
    size_t priv_len = 0;
    char *detail = NULL;
    int ok = 0;

    if (do_plan(o, o->now, config, &planned, &replace, &detail) == 0) {
        json_t *changed = kit_changed_keys(planned, o->now, is_sensitive, o);
        json_t *forced = forced_by(o, o->config, config, replace);
        if (json_array_size(forced) > 0) {
            char *r = json_dumps(forced, JSON_COMPACT);
            detail = util_printf("the plan replaces for %s instead of updating in place", r);
            free(r);
        } else if (json_array_size(changed) == 0) {
            detail = util_strdup("the plan changes nothing");
        }
        json_decref(changed);
        json_decref(forced);
    }
    if (!kit_check_report(o, "plan-update", detail))
        goto done;
    do_apply(o, NULL, 0, o->now, planned, &attrs, &priv, &priv_len, &detail);
    if (!kit_check_report(o, "update", detail))
        goto done;
    object_set(o, attrs, priv ? priv : o->priv, priv ? priv_len : o->priv_len);
    o->config = config;
    ok = kit_check_report(o, "update-as-planned",
                          kit_diff_known(planned, attrs, "planned", "applied"));
    if (ok)
        ok = step_read(o, "read-after-update");
done:
    json_decref(planned);
    json_decref(replace);
    return ok;
}

/* Deletes the object (reported as name, unless name is NULL). */
static int step_delete(kit_object *o, const char *name)
{
    json_t *out = NULL;
    void *priv = NULL;
    size_t priv_len = 0;
    char *detail = NULL;
    /* Already gone is what a delete wants, as the engine sees it. */
    if (do_apply(o, o->token, 0, o->now, NULL, &out, &priv, &priv_len, &detail) ==
        INFRA_ENOTFOUND) {
        free(detail);
        detail = NULL;
    }
    json_decref(out);
    free(priv);
    if (!name) {
        free(detail);
        return 1;
    }
    return kit_check_report(o, name, detail);
}

/* A read of the deleted object recorded as gone says it is gone. */
static void step_gone(kit_object *o, const json_t *gone, const char *name, int many)
{
    json_t *out = NULL;
    char *detail = NULL;
    int error = many ? do_read_many(o, gone, &out, &detail) : do_read(o, gone, NULL, &out, &detail);
    if (error == 0) {
        char *s = json_dumps(out, JSON_COMPACT);
        detail = util_printf("expected INFRA_ENOTFOUND after the delete, got %s", s ? s : "?");
        free(s);
    } else if (error == INFRA_ENOTFOUND) {
        free(detail);
        detail = NULL;
    } else {
        char *d = util_printf("expected INFRA_ENOTFOUND after the delete, got %s", detail);
        free(detail);
        detail = d;
    }
    kit_check_report(o, name, detail);
    json_decref(out);
}

/* The plan says replace; the old object is deleted (and reads as gone),
 * then the new one is created. */
static int step_replace(kit_object *o, const json_t *config)
{
    json_t *planned = NULL, *replace = NULL;
    char *detail = NULL;
    int ok = 0;

    if (do_plan(o, o->now, config, &planned, &replace, &detail) == 0) {
        json_t *forced = forced_by(o, o->config, config, replace);
        if (json_array_size(forced) == 0)
            detail = util_strdup("nothing forces the replacement: requires_replace is empty and "
                                 "no changed attribute is force_new in the schema");
        json_decref(forced);
    }
    json_decref(planned);
    json_decref(replace);
    if (!kit_check_report(o, "plan-replace", detail))
        return 0;
    if (!step_delete(o, "replace-delete"))
        return 0;
    /* Gone before the new one exists: a replacement may take the old name. */
    step_gone(o, o->now, "replace-old-gone", 0);
    object_set(o, NULL, NULL, 0);
    ok = step_create(o, config, "-replacement");
    return ok && step_read(o, "read-after-replace");
}

/* Runs a drift command or writes a drift file; detail on failure. */
static char *make_drift(kit_object *o)
{
    const kit_drift *d = o->t->drift;
    char *text = NULL, *err = NULL, *detail = NULL;
    if (d->command) {
        if (kit_substitute(d->command, o->now, &text, &err) < 0)
            return err;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", text, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            detail = util_printf("the command \"%s\" failed (status %d)", text,
                                 pid < 0             ? -1
                                 : WIFEXITED(status) ? WEXITSTATUS(status)
                                                     : 128);
        free(text);
        return detail;
    }
    char *path = NULL;
    if (kit_substitute(d->file_path, o->now, &path, &err) < 0 ||
        kit_substitute(d->file_content, o->now, &text, &err) < 0) {
        free(path);
        return err;
    }
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        detail = util_printf("cannot write %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
    }
    free(path);
    free(text);
    return detail;
}

/* Drift made outside the plugin shows in a read, the plan acts on it and
 * an apply of that plan repairs it. */
static int step_drift(kit_object *o)
{
    json_t *after = NULL, *planned = NULL, *replace = NULL, *attrs = NULL;
    void *priv = NULL;
    size_t priv_len = 0;
    char *detail = NULL;
    int ok = 0;

    if (!kit_check_report(o, "drift-made", make_drift(o)))
        return 0;
    if (do_read(o, o->now, NULL, &after, &detail) == 0) {
        size_t i;
        json_t *name;
        json_array_foreach(o->t->drift->attributes, i, name)
        {
            const char *key = json_string_value(name);
            if (json_equal(json_object_get(o->now, key), json_object_get(after, key))) {
                detail = util_printf("attribute \"%s\" reads the same after the drift", key);
                break;
            }
        }
        if (!detail && json_equal(o->now, after))
            detail = util_strdup("the read after the drift equals the one before it");
    }
    if (!kit_check_report(o, "drift-read", detail))
        goto done;
    if (do_plan(o, after, o->config, &planned, &replace, &detail) == 0) {
        json_t *changed = kit_changed_keys(planned, after, is_sensitive, o);
        if (!json_array_size(changed) && !json_array_size(replace))
            detail = util_strdup("the plan after the drift changes nothing");
        json_decref(changed);
    }
    if (!kit_check_report(o, "drift-plan", detail))
        goto done;
    object_set(o, after, o->priv, o->priv_len);
    after = NULL;
    if (json_array_size(replace) > 0) {
        ok = 1; /* repaired by a replacement: nothing to apply in place */
        goto done;
    }
    do_apply(o, NULL, 0, o->now, planned, &attrs, &priv, &priv_len, &detail);
    if (!kit_check_report(o, "drift-repair", detail))
        goto done;
    object_set(o, attrs, priv ? priv : o->priv, priv ? priv_len : o->priv_len);
    ok = step_read(o, "read-after-repair");
done:
    json_decref(after);
    json_decref(planned);
    json_decref(replace);
    return ok;
}

static void step_import(kit_object *o)
{
    char *id = NULL, *detail = NULL;
    json_t *out = NULL;
    if (kit_substitute(o->t->import_id, o->now, &id, &detail) == 0) {
        engine_call c;
        call_init(&c, o->k->e, o->provider, o->address, "import", NULL);
        int error = call_import(&c, o->t->type, id, &out);
        if (error < 0)
            detail = kit_call_text(&c, error);
        else
            detail = kit_diff(o->now, out, "read", "imported");
        call_clear(&c);
    }
    kit_check_report(o, "import", detail);
    json_decref(out);
    free(id);
}

/* ------------------------------------------------------------------ */
/* One type                                                           */

static void run_type(kit_ctx *k, size_t index)
{
    kit_object o = {.k = k, .t = &k->f->types[index], .provider = index};
    char *err = NULL, *attr = NULL, *detail = NULL;
    uint32_t caps = k->e->providers[index].capabilities;
    o.address = util_printf("%s.kit", o.t->type);

    if (!kit_step_offline(&o))
        goto done;
    if (call_configure(k->e, index, &err, &attr) < 0)
        detail = attr ? util_printf("settings.%s: %s", attr, err) : util_strdup(err);
    if (!kit_check_report(&o, "configure", detail))
        goto done;
    if (!step_create(&o, o.create, ""))
        goto cleanup;
    if (caps & INFRA_CAP_TOKEN_CREATE)
        step_token_adopts(&o);
    if (!step_read(&o, "read"))
        goto cleanup;
    step_plan_no_change(&o);
    if (call_has(k->e, index, CALL_SLOT_READ_MANY))
        step_read_many(&o);
    if (caps & INFRA_CAP_READ_BY_TOKEN)
        step_read_by_token(&o);
    if (o.update && !step_update(&o, o.update))
        goto cleanup;
    if (o.replace && !step_replace(&o, o.replace))
        goto cleanup;
    if (o.t->drift && !step_drift(&o))
        goto cleanup;
    if (o.t->import_id && call_has(k->e, index, CALL_SLOT_IMPORT))
        step_import(&o);
    else if (o.t->import_id && (caps & INFRA_CAP_IMPORT))
        kit_check_report(&o, "import",
                         util_strdup("the plugin claims INFRA_CAP_IMPORT without an import "
                                     "slot"));
    if (step_delete(&o, "delete")) {
        json_t *gone = json_incref(o.now);
        step_gone(&o, gone, "read-gone", 0);
        if (call_has(k->e, index, CALL_SLOT_READ_MANY))
            step_gone(&o, gone, "read-many-gone", 1);
        step_delete(&o, "delete-again");
        json_decref(gone);
        object_set(&o, NULL, NULL, 0);
    }
cleanup:
    /* After a failure: whatever exists goes, so the next run starts clean. */
    if (o.now)
        step_delete(&o, NULL);
done:
    object_set(&o, NULL, NULL, 0);
    json_decref(o.create);
    json_decref(o.update);
    json_decref(o.replace);
    free(o.token);
    free(o.address);
    free(err);
    free(attr);
}

/* ------------------------------------------------------------------ */
/* The engine                                                         */

int kit_run(const char *path, const kit_fixture *f, kit_report_fn report, void *ud, char **err)
{
    loader_plugin lp;
    int error = 0;

    *err = NULL;
    if ((error = loader_load_file(path, INFRA_PLUGIN_PROVIDER, &lp, err)) < 0)
        return error;
    if (!lp.desc->provider) {
        *err = util_printf("%s: the plugin has no provider operations", path);
        loader_plugin_unload(&lp);
        return INFRA_EINVALID;
    }
    if (f->plugin && strcmp(f->plugin, lp.desc->name)) {
        *err = util_printf("%s: the plugin is \"%s\"; the fixture %s is for \"%s\"", path,
                           lp.desc->name, f->file, f->plugin);
        loader_plugin_unload(&lp);
        return INFRA_EINVALID;
    }

    engine *e = util_calloc(1, sizeof(*e));
    pthread_mutex_init(&e->diag_lock, NULL);
    e->env = util_strdup("kit");
    e->parallelism = 1;
    e->ld.plugins = util_calloc(1, sizeof(*e->ld.plugins));
    e->ld.plugins[0] = lp;
    e->ld.nplugins = 1;
    e->ld.scanned = 1;
    contain_engine_add(e);

    /* One provider block per type: each is configured with its own settings. */
    topo_provider *decls = util_calloc(f->ntypes, sizeof(*decls));
    e->nproviders = f->ntypes;
    e->providers = util_calloc(f->ntypes, sizeof(*e->providers));
    for (size_t i = 0; i < f->ntypes; i++) {
        engine_provider *p = &e->providers[i];
        decls[i].name = (char *)lp.desc->name;
        decls[i].settings = f->types[i].settings;
        decls[i].timeout_ms = f->timeout_ms;
        decls[i].loc = (diag_loc){f->file, 0, 0};
        p->decl = &decls[i];
        p->desc = lp.desc;
        p->plugin = engine_plugin_add(e, lp.desc);
        p->capabilities = lp.desc->capabilities;
        p->settings = json_incref(f->types[i].settings);
        p->limit = 1;
        p->timeout_ms = f->timeout_ms;
        pthread_mutex_init(&p->lock, NULL);
    }

    kit_ctx k = {e, f, report, ud, 0};
    for (size_t i = 0; i < f->ntypes; i++)
        run_type(&k, i);

    engine_free(e); /* closes the contexts and unloads the plugin */
    free(decls);
    return k.failed ? 1 : 0;
}
