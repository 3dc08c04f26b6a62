/* Instances. instances.insert carries a requestId derived from the create's
 * token and the instance carries the token as its infra-token label, so a
 * repeated create (a retry, or the next run after a crash) gets the
 * instance the first one made; after the insert's operation is DONE the
 * instance is awaited RUNNING, and the SSH host key fingerprint is read
 * from the serial port, as cloud-init prints it. Labels, network tags and
 * metadata (ssh-keys) change in place with their fingerprints; the rest
 * replaces the instance. */
#include "gcp_res.h"

#include <stdlib.h>
#include <string.h>

#define FINGERPRINT_WAIT_MS 30000
#define RUNNING_WAIT_MS 600000
#define FINGERPRINT_TRIES 3 /* setLabels and the like, again after a 412 */

static const gcp_kind instance_kind = {"instances", GCP_ZONAL, 1};
static const char *const machine_keys[] = {"machine", "size", "machine_type", NULL};
static const char *const label_sources[] = {"labels", "tags",       "role", "cluster",
                                            "region", "datacenter", NULL};

static const char *zone_of(gcp_act *a, const infra_json *cfg)
{
    const char *z = pu_json_str(cfg, "zone");
    return z != NULL && *z ? z : a->p->zone;
}

int gcp_serial_fingerprint(gcp_act *a, const char *path, int64_t wait_ms, char **out)
{
    int64_t deadline = pu_host->now_ms() + wait_ms;
    int64_t delay = 1000;
    char *serial = pu_printf("%s/serialPort", path);
    int error;
    *out = NULL;
    for (;;) {
        infra_json *doc = NULL;
        error = gcp_get(a->p, a->call, GCP_COMPUTE, serial, "port=1",
                        "instances.getSerialPortOutput", "", "notFound", &doc);
        const char *text = pu_json_str(doc, "contents");
        if (error == 0 && text != NULL && gcp_console_fingerprint(text, out) == 0) {
            GJ->release(doc);
            break;
        }
        GJ->release(doc);
        if (error == INFRA_ECANCELLED)
            break;
        error = INFRA_ENOTFOUND;
        if (pu_host->now_ms() + delay > deadline)
            break;
        if ((error = gcp_sleep(a->p, a->call, delay)) < 0)
            break;
        error = INFRA_ENOTFOUND;
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
    free(serial);
    return error;
}

int gcp_instance_wait_running(gcp_act *a, const char *path, infra_json **obj)
{
    int64_t deadline = pu_host->now_ms() + RUNNING_WAIT_MS;
    int64_t delay = 500;
    for (;;) {
        const char *status = pu_json_str(*obj, "status");
        if (status != NULL && strcmp(status, "RUNNING") == 0)
            return 0;
        if (status != NULL &&
            (strcmp(status, "TERMINATED") == 0 || strcmp(status, "STOPPING") == 0 ||
             strcmp(status, "SUSPENDED") == 0)) {
            pu_diagf(a->call, "", "gcp: instance %s is %s instead of RUNNING", path, status);
            return INFRA_ECONFLICT;
        }
        if (pu_host->now_ms() + delay > deadline) {
            pu_diagf(a->call, "", "gcp: instance %s was not RUNNING within %d s", path,
                     RUNNING_WAIT_MS / 1000);
            return INFRA_ETRANSIENT;
        }
        int error = gcp_sleep(a->p, a->call, delay);
        if (error < 0)
            return error;
        delay = delay * 3 / 2 > 5000 ? 5000 : delay * 3 / 2;
        GJ->release(*obj);
        *obj = NULL;
        if ((error = gcp_get_object(a, path, "instances.get", obj)) < 0)
            return error;
    }
}

static const char *metadata_value(const infra_json *obj, const char *key)
{
    const infra_json *items = gcp_json_path(obj, "metadata.items");
    for (size_t i = 0; items != NULL && i < GJ->length(items); i++) {
        const infra_json *it = GJ->at(items, i);
        const char *k = pu_json_str(it, "key");
        if (k != NULL && strcmp(k, key) == 0)
            return pu_json_str(it, "value");
    }
    return NULL;
}

/* The user's labels of obj (without infra-*), a new map. */
static infra_json *user_labels_of(const infra_json *obj)
{
    infra_json *out = GJ->new_object();
    const infra_json *labels = GJ->get(obj, "labels");
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (labels != NULL && GJ->next(labels, &iter, &key, &value))
        if (strncmp(key, "infra-", 6) != 0)
            pu_json_set_copy(out, key, value);
    return out;
}

/* The user labels cfg asks for, encoded as Compute holds them. */
static infra_json *wanted_labels(const infra_json *cfg)
{
    infra_json *user = gcp_user_labels(cfg), *out = GJ->new_object();
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (GJ->next(user, &iter, &key, &value)) {
        char *text = gcp_json_text(value);
        char *k = gcp_label_key(key), *v = gcp_label_value(text ? text : "");
        pu_json_set_str(out, k, v);
        free(k);
        free(v);
        free(text);
    }
    GJ->release(user);
    return out;
}

static int same_tags(infra_call *call, const infra_json *obj, const infra_json *cfg)
{
    char **want = NULL, **have = NULL;
    int same = gcp_instance_tags(call, cfg, &want) == 0 &&
               gcp_json_strv(gcp_json_path(obj, "tags.items"), &have) == 0 &&
               gcp_strv_same_set(want, have);
    gcp_strv_free(want);
    gcp_strv_free(have);
    return same;
}

/* The metadata items other than startup-script as a map (new object). */
static infra_json *metadata_map(const infra_json *items, int skip_script)
{
    infra_json *out = GJ->new_object();
    for (size_t i = 0; items != NULL && i < GJ->length(items); i++) {
        const infra_json *it = GJ->at(items, i);
        const char *k = pu_json_str(it, "key");
        if (k != NULL && !(skip_script && strcmp(k, "startup-script") == 0))
            pu_json_set_str(out, k, pu_json_str(it, "value"));
    }
    return out;
}

/* base plus what Compute says of the instance. */
static int instance_state(const infra_json *base, const infra_json *obj, const char *fingerprint,
                          infra_json **out)
{
    infra_json *st = gcp_state_new(base);
    const infra_json *nic = gcp_json_path(obj, "networkInterfaces.0");
    const char *nat = gcp_json_path_str(nic, "accessConfigs.0.natIP");
    int error;
    if ((error = gcp_state_ids(st, obj)) < 0 ||
        (error = pu_json_set_str(st, "zone", gcp_last_segment(pu_json_str(obj, "zone")))) < 0 ||
        (error = pu_json_set_str(st, "private_ip", pu_json_str(nic, "networkIP"))) < 0 ||
        (error = pu_json_set_str(st, "public_ip", nat)) < 0 ||
        (error = pu_json_set_str(st, "status", pu_json_str(obj, "status"))) < 0 ||
        (error = pu_json_set_int(st, "ssh_port", 22)) < 0 ||
        (error = pu_json_set_str(st, "ssh_user", gcp_ssh_user(base))) < 0)
        goto done;
    error = gcp_state_ref(st, "network", pu_json_str(nic, "network"));
    if (error == 0 && (fingerprint != NULL || GJ->get(st, "ssh_host_key_fingerprint") == NULL))
        error = pu_json_set_str(st, "ssh_host_key_fingerprint", fingerprint);
done:
    if (error < 0)
        GJ->release(st);
    else
        *out = st;
    return error;
}

/* The configured attributes Compute can tell, under the state's own keys,
 * each in the configuration's words while Compute holds the same. */
static int refresh_config(gcp_act *a, infra_json *st, const infra_json *obj)
{
    const char *key = NULL;
    int error = 0;
    if (gcp_json_alias(st, machine_keys, &key) != NULL) {
        const char *mt = gcp_last_segment(pu_json_str(obj, "machineType"));
        if (mt != NULL && strcmp(mt, pu_json_str(st, key) ? pu_json_str(st, key) : "") != 0)
            error = pu_json_set_str(st, key, mt);
    }
    /* Labels: one configured source shows a difference, so that an update
     * puts every label back. */
    infra_json *want = wanted_labels(st), *have = user_labels_of(obj);
    if (error == 0 && !GJ->equal(want, have)) {
        for (size_t i = 0; label_sources[i] != NULL; i++) {
            const infra_json *v = GJ->get(st, label_sources[i]);
            if (v == NULL || GJ->type(v) == INFRA_JSON_NULL ||
                (strcmp(label_sources[i], "tags") == 0 && GJ->type(v) != INFRA_JSON_OBJECT))
                continue;
            if (GJ->type(v) == INFRA_JSON_OBJECT)
                error = pu_json_set_copy(st, label_sources[i], have);
            else
                error = pu_json_set_str(st, label_sources[i], pu_json_str(have, label_sources[i]));
            break;
        }
    }
    GJ->release(want);
    GJ->release(have);
    if (error == 0 && !same_tags(a->call, obj, st)) {
        const char *k = GJ->get(st, "network_tags") ? "network_tags"
                        : (GJ->get(st, "tags") && GJ->type(GJ->get(st, "tags")) == INFRA_JSON_ARRAY)
                            ? "tags"
                            : NULL;
        /* the join tag is infra's, not the configuration's */
        char **items = NULL, **user = gcp_strv_new(), *join = gcp_join_tag(a->call, st);
        if (gcp_json_strv(gcp_json_path(obj, "tags.items"), &items) < 0)
            items = gcp_strv_new();
        for (size_t i = 0; items[i] != NULL; i++)
            if (join == NULL || strcmp(items[i], join) != 0)
                gcp_strv_push(&user, items[i]);
        if (k != NULL)
            error = gcp_json_set_strv(st, k, user);
        gcp_strv_free(items);
        gcp_strv_free(user);
        free(join);
    }
    /* Metadata: the startup script (its change replaces the instance), the
     * ssh-keys line and the user's items. */
    const char *script_key = GJ->get(st, "startup_script") ? "startup_script"
                             : GJ->get(st, "user_data")    ? "user_data"
                                                           : NULL;
    const char *script = metadata_value(obj, "startup-script");
    if (error == 0 && script_key != NULL &&
        strcmp(script ? script : "",
               pu_json_str(st, script_key) ? pu_json_str(st, script_key) : "") != 0)
        error = pu_json_set_str(st, script_key, script);
    if (error == 0 && (GJ->get(st, "metadata") != NULL || GJ->get(st, "ssh_public_key") != NULL ||
                       GJ->get(st, "ssh_public_key_file") != NULL)) {
        infra_json *md = NULL;
        infra_json *want_map = NULL;
        /* What the configuration makes of the metadata (a key file is read again). */
        if (gcp_metadata_build(a, st, &md) == 0) {
            want_map = metadata_map(GJ->get(md, "items"), 1);
            infra_json *have_map = metadata_map(gcp_json_path(obj, "metadata.items"), 1);
            if (!GJ->equal(want_map, have_map)) {
                if (GJ->get(st, "metadata") != NULL) {
                    GJ->remove(have_map, "ssh-keys");
                    error = pu_json_set(st, "metadata", have_map);
                    have_map = NULL;
                } else {
                    const char *k =
                        GJ->get(st, "ssh_public_key") ? "ssh_public_key" : "ssh_public_key_file";
                    error = pu_json_set_str(st, k, metadata_value(obj, "ssh-keys"));
                }
            }
            GJ->release(have_map);
        }
        GJ->release(want_map);
        GJ->release(md);
    }
    return error;
}

static int instance_create(gcp_act *a)
{
    const char *zone = zone_of(a, a->planned);
    const char *token = pu_host->call_token(a->call);
    char *name = gcp_resource_name(a, a->planned), *scope = pu_printf("zones/%s", zone);
    char *fingerprint = NULL;
    infra_json *props = NULL, *obj = NULL, *st = NULL;
    int error;

    if ((error = gcp_instance_props(a, a->planned, zone, token, &props)) < 0 ||
        (error = pu_json_set_str(props, "name", name)) < 0 ||
        (error = gcp_insert(a, &instance_kind, scope, props, "", &obj)) < 0)
        goto done;
    char *path = gcp_relative_name(pu_json_str(obj, "selfLink"));
    if ((error = gcp_instance_wait_running(a, path, &obj)) == 0 &&
        gcp_serial_fingerprint(a, path, FINGERPRINT_WAIT_MS, &fingerprint) == INFRA_ECANCELLED)
        error = INFRA_ECANCELLED;
    free(path);
    if (error < 0)
        goto done;
    if (fingerprint == NULL)
        pu_logf(a->call, INFRA_LOG_INFO,
                "instance %s: no SSH host key fingerprint on the serial port yet", name);
    if ((error = instance_state(a->planned, obj, fingerprint, &st)) < 0)
        goto done;
    error = pu_json_set_bool(st, "associate_public_ip", gcp_want_public(a->planned));
done:
    GJ->release(props);
    GJ->release(obj);
    free(name);
    free(scope);
    free(fingerprint);
    return gcp_state_finish(a, st, error);
}

/* One fingerprinted change (setLabels, setTags, setMetadata), read again
 * and repeated when someone changed the object meanwhile (412). */
typedef int (*change_body_fn)(gcp_act *a, const infra_json *obj, infra_json **body);

static int fingerprinted(gcp_act *a, const char *id, const char *verb, const char *attr,
                         change_body_fn make, infra_json **obj)
{
    int error = 0;
    for (int i = 0; i < FINGERPRINT_TRIES; i++) {
        infra_json *body = NULL;
        if ((error = make(a, *obj, &body)) < 0)
            return error;
        if (body == NULL)
            return 0; /* nothing to change */
        char *path = pu_printf("%s/%s", id, verb);
        char *what = pu_printf("instances.%s", verb);
        gcp_error e;
        error = gcp_change(a, "POST", path, what, body, attr, &e);
        GJ->release(body);
        if (error == INFRA_ECONFLICT && gcp_error_is(&e, "conditionNotMet")) {
            gcp_error_clear(&e);
            free(path);
            free(what);
            GJ->release(*obj);
            *obj = NULL;
            if ((error = gcp_get_object(a, id, "instances.get", obj)) < 0)
                return error;
            continue;
        }
        if (error < 0 && gcp_error_is(&e, "conditionNotMet"))
            gcp_error_diag(a->p, a->call, attr, what, &e);
        gcp_error_clear(&e);
        free(path);
        free(what);
        if (error == 0) {
            GJ->release(*obj);
            *obj = NULL;
            error = gcp_get_object(a, id, "instances.get", obj);
        }
        return error;
    }
    pu_diagf(a->call, attr, "gcp: %s of %s kept meeting changes made meanwhile", verb, id);
    return INFRA_ECONFLICT;
}

static int labels_body(gcp_act *a, const infra_json *obj, infra_json **body)
{
    const char *t;
    size_t n;
    char *token = gcp_object_token(obj, &t, &n) ? pu_strndup(t, n) : NULL;
    infra_json *user = gcp_user_labels(a->planned);
    infra_json *labels = gcp_labels_build(a->call, user, token, "labels");
    GJ->release(user);
    free(token);
    *body = NULL;
    if (labels == NULL)
        return INFRA_EINVALID;
    /* The token label stays as the create set it, even when not readable back. */
    const infra_json *have = GJ->get(obj, "labels");
    if (have != NULL && GJ->get(have, GCP_LABEL_TOKEN) != NULL &&
        GJ->get(labels, GCP_LABEL_TOKEN) == NULL)
        pu_json_set_copy(labels, GCP_LABEL_TOKEN, GJ->get(have, GCP_LABEL_TOKEN));
    if (have != NULL && GJ->equal(have, labels)) {
        GJ->release(labels);
        return 0;
    }
    infra_json *b = GJ->new_object();
    pu_json_set(b, "labels", labels);
    pu_json_set_str(b, "labelFingerprint", pu_json_str(obj, "labelFingerprint"));
    *body = b;
    return 0;
}

static int tags_body(gcp_act *a, const infra_json *obj, infra_json **body)
{
    char **want = NULL;
    *body = NULL;
    if (same_tags(a->call, obj, a->planned))
        return 0;
    if (gcp_instance_tags(a->call, a->planned, &want) < 0)
        return INFRA_EINVALID;
    infra_json *b = GJ->new_object();
    gcp_json_set_strv(b, "items", want);
    pu_json_set_str(b, "fingerprint", gcp_json_path_str(obj, "tags.fingerprint"));
    gcp_strv_free(want);
    *body = b;
    return 0;
}

static int metadata_body(gcp_act *a, const infra_json *obj, infra_json **body)
{
    infra_json *md = NULL;
    int error;
    *body = NULL;
    if ((error = gcp_metadata_build(a, a->planned, &md)) < 0)
        return error;
    infra_json *want = metadata_map(GJ->get(md, "items"), 0);
    infra_json *have = metadata_map(gcp_json_path(obj, "metadata.items"), 0);
    if (GJ->equal(want, have)) {
        GJ->release(md);
    } else {
        pu_json_set_str(md, "fingerprint", gcp_json_path_str(obj, "metadata.fingerprint"));
        *body = md;
    }
    GJ->release(want);
    GJ->release(have);
    return 0;
}

static int instance_update(gcp_act *a)
{
    const char *id = gcp_state_id(a->prior);
    infra_json *obj = NULL, *st = NULL;
    int error;

    if (id == NULL)
        return INFRA_ENOTFOUND;
    if ((error = gcp_get_object(a, id, "instances.get", &obj)) < 0 ||
        (error = fingerprinted(a, id, "setLabels", "labels", labels_body, &obj)) < 0 ||
        (error = fingerprinted(a, id, "setTags", "network_tags", tags_body, &obj)) < 0 ||
        (error = fingerprinted(a, id, "setMetadata", "metadata", metadata_body, &obj)) < 0)
        goto done;
    if ((error = instance_state(a->planned, obj, pu_json_str(a->prior, "ssh_host_key_fingerprint"),
                                &st)) == 0)
        error =
            pu_json_set_copy(st, "associate_public_ip", GJ->get(a->prior, "associate_public_ip"));
done:
    GJ->release(obj);
    return gcp_state_finish(a, st, error);
}

static int instance_apply(gcp_act *a)
{
    return a->prior == NULL ? instance_create(a) : instance_update(a);
}

static int instance_remove(gcp_act *a)
{
    const char *id = gcp_state_id(a->prior);
    return id == NULL ? 0 : gcp_delete_path(a, id, "instances.delete");
}

static int instance_from_object(gcp_act *a, const infra_json *obj)
{
    const char *fp = pu_json_str(a->state, "ssh_host_key_fingerprint");
    const char *status = pu_json_str(obj, "status");
    char *fingerprint = NULL;
    infra_json *st = NULL;
    if (fp == NULL && status != NULL && strcmp(status, "RUNNING") == 0) {
        char *path = gcp_relative_name(pu_json_str(obj, "selfLink"));
        if (gcp_serial_fingerprint(a, path, 0, &fingerprint) == INFRA_ECANCELLED) {
            free(path);
            return INFRA_ECANCELLED;
        }
        free(path);
    }
    int error = instance_state(a->state, obj, fp ? fp : fingerprint, &st);
    if (error == 0 && a->state != NULL)
        error = refresh_config(a, st, obj);
    if (error == 0 && a->state == NULL)
        error = pu_json_set_bool(st, "associate_public_ip",
                                 gcp_json_path(obj, "networkInterfaces.0.accessConfigs.0") != NULL);
    free(fingerprint);
    return gcp_state_finish(a, st, error);
}

static int instance_read(gcp_act *a)
{
    char *scope = pu_printf("zones/%s", zone_of(a, a->state));
    infra_json *obj = NULL;
    int error = gcp_read_object(a, &instance_kind, scope, "instances.get", &obj);
    if (error == 0)
        error = instance_from_object(a, obj);
    GJ->release(obj);
    free(scope);
    return error;
}

const gcp_handler gcp_instance_handler = {"instance",    instance_apply, instance_remove,
                                          instance_read, &instance_kind, instance_from_object};
