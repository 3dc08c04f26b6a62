/* App JSON transforms (no I/O): the definition of an app file with the
 * topology's `set` applied, as it is submitted to Marathon. */
#include "marathon.h"

#include <stdlib.h>
#include <string.h>

/* Fields of Marathon's app (the RAML's App type) a `set` key may replace. */
static const char *const app_fields[] = {"acceptedResourceRoles",
                                         "args",
                                         "backoffFactor",
                                         "backoffSeconds",
                                         "cmd",
                                         "constraints",
                                         "container",
                                         "cpus",
                                         "dependencies",
                                         "disk",
                                         "env",
                                         "executor",
                                         "fetch",
                                         "gpus",
                                         "healthChecks",
                                         "instances",
                                         "killSelection",
                                         "labels",
                                         "maxLaunchDelaySeconds",
                                         "mem",
                                         "networks",
                                         "portDefinitions",
                                         "readinessChecks",
                                         "requirePorts",
                                         "role",
                                         "taskKillGracePeriodSeconds",
                                         "unreachableStrategy",
                                         "upgradeStrategy",
                                         "uris",
                                         "user",
                                         NULL};

/* What GET /v2/apps/ID adds to an app: a file copied from it must not send
 * them back (a "version" would ask Marathon to go back to that version). */
static const char *const read_only[] = {"version",      "versionInfo",           "tasks",
                                        "deployments",  "tasksStaged",           "tasksRunning",
                                        "tasksHealthy", "tasksUnhealthy",        "lastTaskFailure",
                                        "taskStats",    "readinessCheckResults", NULL};

/* Maps whose entries a `set` key adds to rather than replaces. */
static int merged_map(const char *key)
{
    return strcmp(key, "env") == 0 || strcmp(key, "labels") == 0;
}

static int in_list(const char *const *list, const char *key)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0)
            return 1;
    return 0;
}

char *marathon_app_id(const char *id)
{
    if (id == NULL || *id == '\0')
        return NULL;
    pu_buf b = {0};
    if (*id != '/')
        pu_buf_puts(&b, "/");
    pu_buf_puts(&b, id);
    char *out = pu_buf_take(&b);
    /* segments of [a-z0-9] with inner - and . (PathId in the RAML) */
    for (const char *seg = out + 1;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        int ok =
            len > 0 && seg[0] != '-' && seg[0] != '.' && seg[len - 1] != '-' && seg[len - 1] != '.';
        for (size_t i = 0; ok && i < len; i++)
            ok = (seg[i] >= 'a' && seg[i] <= 'z') || (seg[i] >= '0' && seg[i] <= '9') ||
                 seg[i] == '-' || seg[i] == '.';
        if (!ok) {
            free(out);
            return NULL;
        }
        if (end == NULL)
            break;
        seg = end + 1;
    }
    return out;
}

char *marathon_image_with_tag(const char *image, const char *tag)
{
    const char *slash = strrchr(image, '/');
    const char *name = slash ? slash + 1 : image;
    size_t keep = strcspn(name, ":@") + (size_t)(name - image);
    return pu_printf("%.*s:%s", (int)keep, image, tag);
}

/* The text of a label value: strings as they are, numbers and booleans as
 * JSON writes them; NULL for anything else (caller frees). */
static char *label_text(const infra_json *v)
{
    int t = MJ->type(v);
    if (t == INFRA_JSON_STRING)
        return pu_strdup(MJ->string(v));
    if (t != INFRA_JSON_INT && t != INFRA_JSON_REAL && t != INFRA_JSON_BOOL)
        return NULL;
    char *text = MJ->dump(v);
    char *out = pu_strdup(text);
    pu_host->free(text);
    return out;
}

static int check_constraints(const infra_json *v, char **err)
{
    if (MJ->type(v) != INFRA_JSON_ARRAY) {
        *err = pu_strdup("set.constraints must be a list of constraints such as "
                         "[\"env\", \"CLUSTER\", \"staging\"]");
        return INFRA_EINVALID;
    }
    for (size_t i = 0; i < MJ->length(v); i++) {
        const infra_json *c = MJ->at(v, i);
        size_t n = MJ->length(c);
        int ok = MJ->type(c) == INFRA_JSON_ARRAY && n >= 2 && n <= 3;
        for (size_t k = 0; ok && k < n; k++)
            ok = MJ->type(MJ->at(c, k)) == INFRA_JSON_STRING;
        if (!ok) {
            *err = pu_printf("set.constraints[%zu] must be [FIELD, OPERATOR] or [FIELD, "
                             "OPERATOR, VALUE], all strings",
                             i);
            return INFRA_EINVALID;
        }
    }
    return 0;
}

/* Checks the type of a `set` value for a field Marathon types strictly. */
static int check_field(const char *key, const infra_json *v, char **err)
{
    int t = MJ->type(v);
    if (strcmp(key, "instances") == 0) {
        if (t != INFRA_JSON_INT || MJ->integer(v) < 0) {
            *err = pu_strdup("set.instances must be a whole number from 0");
            return INFRA_EINVALID;
        }
    } else if (strcmp(key, "cpus") == 0 || strcmp(key, "mem") == 0 || strcmp(key, "disk") == 0 ||
               strcmp(key, "gpus") == 0) {
        if ((t != INFRA_JSON_INT && t != INFRA_JSON_REAL) || MJ->real(v) < 0) {
            *err = pu_printf("set.%s must be a number from 0", key);
            return INFRA_EINVALID;
        }
    } else if (strcmp(key, "constraints") == 0) {
        return check_constraints(v, err);
    } else if (merged_map(key) && t != INFRA_JSON_OBJECT) {
        *err = pu_printf("set.%s must be a map", key);
        return INFRA_EINVALID;
    }
    return 0;
}

/* obj[key] as an object of obj (created when missing); NULL on failure. */
static infra_json *child_object(infra_json *obj, const char *key)
{
    infra_json *v = MJ->get_mutable(obj, key);
    if (v != NULL && MJ->type(v) == INFRA_JSON_OBJECT)
        return v;
    if (pu_json_set(obj, key, MJ->new_object()) < 0)
        return NULL;
    return MJ->get_mutable(obj, key);
}

static int set_image_tag(infra_json *app, const infra_json *v, char **err)
{
    const char *tag = MJ->string(v);
    infra_json *docker = MJ->get_mutable(MJ->get_mutable(app, "container"), "docker");
    const char *image = pu_json_str(docker, "image");
    if (tag == NULL || *tag == '\0') {
        *err = pu_strdup("set.image_tag must be a non-empty string");
        return INFRA_EINVALID;
    }
    if (image == NULL) {
        *err = pu_strdup("set.image_tag: the app has no container.docker.image to give a tag");
        return INFRA_EINVALID;
    }
    char *tagged = marathon_image_with_tag(image, tag);
    int error = pu_json_set_str(docker, "image", tagged);
    free(tagged);
    return error;
}

int marathon_app_build(const char *content, const char *id, const infra_json *set,
                       infra_json **app_out, char **err)
{
    infra_json *parsed = content ? MJ->parse(content, strlen(content)) : NULL, *app = NULL;
    char *abs_id = NULL;
    int error = INFRA_EINVALID;

    *app_out = NULL;
    *err = NULL;
    if (parsed == NULL || MJ->type(parsed) != INFRA_JSON_OBJECT) {
        *err = pu_strdup("the file is not a JSON object (one Marathon app definition)");
        goto done;
    }
    if (MJ->get(parsed, "apps") || MJ->get(parsed, "groups") || MJ->get(parsed, "containers")) {
        *err = pu_strdup("the file holds a group or a pod; give one app definition per file");
        goto done;
    }
    if ((abs_id = marathon_app_id(id)) == NULL) {
        *err = pu_printf("\"%s\" is not a Marathon app id: segments of lowercase letters, digits, "
                         "and inner - or . separated by /",
                         id ? id : "");
        goto done;
    }
    app = MJ->new_object();
    void *it = NULL;
    const char *key;
    const infra_json *v;
    while (MJ->next(parsed, &it, &key, &v))
        if (!in_list(read_only, key) && (error = pu_json_set_copy(app, key, v)) < 0)
            goto done;
    error = INFRA_EINVALID;
    if (pu_json_set_str(app, "id", abs_id) < 0)
        goto done;
    it = NULL;
    while (MJ->next(set, &it, &key, &v)) {
        if (strcmp(key, "id") == 0 || strcmp(key, "name") == 0)
            continue; /* the id, already applied */
        if (strcmp(key, "image_tag") == 0) {
            if (set_image_tag(app, v, err) < 0)
                goto done;
        } else if (in_list(app_fields, key)) {
            if (check_field(key, v, err) < 0)
                goto done;
            if (merged_map(key)) {
                infra_json *map = child_object(app, key);
                void *mi = NULL;
                const char *mk;
                const infra_json *mv;
                while (map && MJ->next(v, &mi, &mk, &mv))
                    pu_json_set_copy(map, mk, mv);
            } else if (pu_json_set_copy(app, key, v) < 0) {
                goto done;
            }
        } else {
            /* anything else is a label: tasks see it as MARATHON_APP_LABEL_KEY */
            char *text = label_text(v);
            infra_json *labels = child_object(app, "labels");
            if (text == NULL) {
                *err = pu_printf("set.%s becomes a label of the app, so it must be a string, a "
                                 "number or a boolean",
                                 key);
                goto done;
            }
            int rc = pu_json_set_str(labels, key, text);
            free(text);
            if (rc < 0)
                goto done;
        }
    }
    *app_out = app;
    app = NULL;
    error = 0;
done:
    if (error < 0 && *err == NULL)
        *err = pu_strdup("the app definition could not be built");
    MJ->release(app);
    MJ->release(parsed);
    free(abs_id);
    return error;
}

char *marathon_task_failure_text(const infra_json *failure)
{
    if (failure == NULL || MJ->type(failure) != INFRA_JSON_OBJECT)
        return NULL;
    const char *state = pu_json_str(failure, "state");
    const char *host = pu_json_str(failure, "host");
    const char *message = pu_json_str(failure, "message");
    const char *at = pu_json_str(failure, "timestamp");
    char *text =
        pu_printf("%s on %s%s%s: %s", state ? state : "failed", host ? host : "?", at ? " at " : "",
                  at ? at : "", message && *message ? message : "(no message)");
    char *out = pu_excerpt(text);
    free(text);
    return out;
}
