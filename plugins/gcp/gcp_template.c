/* Instance templates. Compute never changes a template, so each version
 * of the configuration is a template of its own, named PREFIX-HASH (HASH:
 * 8 hex digits of the properties), made by an in-place update of this
 * resource: what refers to the template (a managed instance group) sees
 * a new id and replaces its instances. A template a group still uses
 * cannot be deleted, so the one an update replaces is kept in "retired"
 * and deleted as soon as nothing uses it: at the next change, or when the
 * resource is deleted. The templates carry the create's token in their
 * description (and as a label of the instances they make); the token
 * also travels in the private blob, since an update has none of its own. */
#include "gcp_res.h"

#include <stdlib.h>
#include <string.h>

static const gcp_kind template_kind = {"instanceTemplates", GCP_GLOBAL, 0};

int gcp_template_script_hash(const infra_json *cfg, char out[65])
{
    const char *script = pu_json_str(cfg, "startup_script");
    if (script == NULL)
        script = pu_json_str(cfg, "user_data");
    if (script == NULL)
        return 0;
    gcp_sha256_hex(script, strlen(script), out);
    return 1;
}

int gcp_template_script_changed(const infra_json *prior, const infra_json *desired)
{
    if (gcp_json_unknown(GJ->get(desired, "startup_script")) ||
        gcp_json_unknown(GJ->get(desired, "user_data")))
        return 1;
    char want[65], had[65];
    int has_want = gcp_template_script_hash(desired, want);
    const char *have = pu_json_str(prior, "startup_script_sha256");
    if (have == NULL && gcp_template_script_hash(prior, had))
        have = had; /* a state written before the script was kept as a hash */
    if (have == NULL)
        return has_want;
    return !has_want || strcmp(want, have) != 0;
}

static char *token_of(gcp_act *a)
{
    if (a->priv != NULL && a->priv_len > 0) {
        infra_json *blob = GJ->parse(a->priv, a->priv_len);
        const char *t = pu_json_str(blob, "token");
        char *out = t ? pu_strdup(t) : NULL;
        GJ->release(blob);
        if (out != NULL)
            return out;
    }
    const char *t = pu_host->call_token(a->call);
    return t ? pu_strdup(t) : NULL;
}

static int save_token(gcp_act *a, const char *token)
{
    if (a->priv_out == NULL || token == NULL)
        return 0;
    infra_json *blob = GJ->new_object();
    if (blob == NULL || pu_json_set_str(blob, "token", token) < 0) {
        GJ->release(blob);
        return INFRA_EINTERNAL;
    }
    char *text = GJ->dump(blob);
    GJ->release(blob);
    if (text == NULL)
        return INFRA_EINTERNAL;
    *a->priv_out = text;
    *a->priv_out_len = strlen(text);
    return 0;
}

/* The body of the template cfg describes, named PREFIX-HASH. */
static int template_body(gcp_act *a, const char *token, infra_json **out)
{
    infra_json *props = NULL;
    int error = gcp_instance_props(a, a->planned, NULL, token, &props);
    if (error < 0)
        return error;
    char *text = GJ->dump(props), hash[9];
    gcp_short_hash(text ? text : "", 8, hash);
    if (text != NULL)
        pu_host->free(text);
    char *prefix = gcp_resource_name(a, a->planned);
    if (strlen(prefix) > 54)
        prefix[54] = '\0';
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '-')
        prefix[--n] = '\0';
    char *name = pu_printf("%s-%s", prefix, hash);
    char *desc = gcp_description(a->call, token);
    infra_json *body = GJ->new_object();
    if ((error = pu_json_set_str(body, "name", name)) < 0 ||
        (error = pu_json_set_str(body, "description", desc)) < 0 ||
        (error = pu_json_set(body, "properties", props)) < 0)
        GJ->release(body);
    else
        *out = body;
    free(prefix);
    free(name);
    free(desc);
    return error;
}

static int template_from_object(gcp_act *a, const infra_json *obj)
{
    infra_json *st = gcp_state_new(a->state);
    int error = gcp_state_ids(st, obj);
    if (error == 0 && GJ->get(st, "retired") == NULL)
        error = pu_json_set(st, "retired", GJ->new_array());
    const char *mt = gcp_json_path_str(obj, "properties.machineType");
    static const char *const machine_keys[] = {"machine", "size", "machine_type", NULL};
    const char *key = NULL;
    if (error == 0 && a->state != NULL && gcp_json_alias(st, machine_keys, &key) != NULL &&
        mt != NULL &&
        strcmp(gcp_last_segment(mt), pu_json_str(st, key) ? pu_json_str(st, key) : "") != 0)
        error = pu_json_set_str(st, key, gcp_last_segment(mt));
    return gcp_state_finish(a, st, error);
}

/* Deletes each template of ids that nothing uses any more; those still
 * in use go to *kept. */
static int retire(gcp_act *a, char *const *ids, char ***kept)
{
    int error = 0;
    for (size_t i = 0; ids != NULL && ids[i] != NULL && error == 0; i++) {
        int rc = gcp_delete_within(a, ids[i], "instanceTemplates.delete", 0);
        if (rc == INFRA_ECONFLICT)
            gcp_strv_push(kept, ids[i]);
        else
            error = rc;
    }
    return error;
}

static int template_apply(gcp_act *a)
{
    char *token = token_of(a);
    char **old = NULL, **kept = gcp_strv_new();
    infra_json *body = NULL, *obj = NULL, *st = NULL;
    int error;

    if (token == NULL) {
        pu_diagf(a->call, "",
                 "gcp: the state of this template lacks the token it was created "
                 "with; replace it (remove it from the state) to change it");
        error = INFRA_EINTERNAL;
        goto done;
    }
    if ((error = template_body(a, token, &body)) < 0)
        goto done;
    const char *id = gcp_state_id(a->prior);
    char *want = gcp_object_path(a->p, &template_kind, "global", pu_json_str(body, "name"));
    if (id != NULL && strcmp(id, want) == 0) {
        error = gcp_get_object(a, id, "instanceTemplates.get", &obj);
    } else {
        /* A new version: made (or adopted, after a crash) under the create's token. */
        error = gcp_insert_token(a, &template_kind, "global", body, "", token, 1, &obj);
    }
    free(want);
    if (error < 0)
        goto done;
    char **retired = NULL;
    if (gcp_json_strv(GJ->get(a->prior, "retired"), &retired) < 0)
        retired = gcp_strv_new();
    if (id != NULL && !gcp_strv_has(retired, id))
        gcp_strv_push(&retired, id);
    /* A configuration changed back adopts its earlier version, which may
     * be among the retired ones: that one is in use again, never deleted. */
    old = gcp_strv_new();
    for (size_t i = 0; retired[i] != NULL; i++)
        if (!gcp_ref_same(retired[i], pu_json_str(obj, "selfLink")))
            gcp_strv_push(&old, retired[i]);
    gcp_strv_free(retired);
    if ((error = retire(a, old, &kept)) < 0)
        goto done;
    const infra_json *keep_state = a->state;
    a->state = a->planned;
    error = template_from_object(a, obj);
    a->state = keep_state;
    if (error == 0) {
        st = *a->out;
        *a->out = NULL;
        char hash[65];
        GJ->remove(st, "startup_script_sha256");
        if ((error = gcp_json_set_strv(st, "retired", kept)) == 0 &&
            gcp_template_script_hash(a->planned, hash))
            error = pu_json_set_str(st, "startup_script_sha256", hash);
        if (error == 0)
            error = save_token(a, token);
    }
done:
    GJ->release(body);
    GJ->release(obj);
    gcp_strv_free(old);
    gcp_strv_free(kept);
    free(token);
    return gcp_state_finish(a, st, error);
}

static int template_remove(gcp_act *a)
{
    char **ids = NULL;
    int error = 0;
    if (gcp_json_strv(GJ->get(a->prior, "retired"), &ids) < 0)
        ids = gcp_strv_new();
    const char *id = gcp_state_id(a->prior);
    if (id != NULL)
        gcp_strv_push(&ids, id);
    for (size_t i = 0; ids[i] != NULL && error == 0; i++)
        error = gcp_delete_path(a, ids[i], "instanceTemplates.delete");
    gcp_strv_free(ids);
    return error;
}

static int template_read(gcp_act *a)
{
    infra_json *obj = NULL;
    int error;
    const char *id = gcp_state_id(a->state);
    if (id != NULL) {
        error = gcp_get_object(a, id, "instanceTemplates.get", &obj);
    } else if (a->state != NULL) {
        return INFRA_ENOTFOUND;
    } else {
        /* After a crash: the template this create's configuration names is
         * not known here; templates of this resource are listed instead. */
        char *prefix = gcp_call_name(a->call);
        char *path = pu_printf("projects/%s/global/instanceTemplates", a->p->project);
        infra_json *doc = NULL;
        error = gcp_get(a->p, a->call, GCP_COMPUTE, path, "maxResults=500",
                        "instanceTemplates.list", "", NULL, &doc);
        const infra_json *items = GJ->get(doc, "items");
        error = error < 0 ? error : INFRA_ENOTFOUND;
        for (size_t i = 0; items != NULL && i < GJ->length(items) && error == INFRA_ENOTFOUND;
             i++) {
            const infra_json *t = GJ->at(items, i);
            const char *name = pu_json_str(t, "name");
            if (name != NULL &&
                strncmp(name, prefix, strlen(prefix) > 54 ? 54 : strlen(prefix)) == 0 &&
                gcp_object_is_mine(t, pu_host->call_token(a->call))) {
                obj = GJ->copy(t);
                error = 0;
            }
        }
        GJ->release(doc);
        free(path);
        free(prefix);
    }
    if (error == 0)
        error = template_from_object(a, obj);
    GJ->release(obj);
    return error;
}

const gcp_handler gcp_instance_template_handler = {"instance_template", template_apply,
                                                   template_remove,     template_read,
                                                   &template_kind,      template_from_object};
