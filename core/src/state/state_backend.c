/* Choosing a backend from the topology's `backend:` block and the command
 * line's --backend-config, checking its settings, and the one door to the
 * backend slots (state_backend.h). */
#define _GNU_SOURCE
#include "state/state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infra/plugin.h"
#include "services/log.h"
#include "base/util.h"

struct state_settings {
    const state_backend_config *cfg;
    json_t *values;   /* key -> value, the overrides applied */
    json_t *from_cli; /* key -> true when --backend-config gave it */
};

typedef struct backend_type {
    const char *name;
    const char *const *keys; /* settings besides "type" */
    int (*open)(const state_settings *s, state_backend **out, char **err);
} backend_type;

static const char *const local_keys[] = {NULL};
static const char *const postgres_keys[] = {"conn_str", "schema_name", NULL};
static const char *const s3_keys[] = {
    "bucket",         "key",     "region",     "endpoint", "profile",
    "use_path_style", "encrypt", "kms_key_id", "ca_file",  NULL};

static int local_from_settings(const state_settings *s, state_backend **out, char **err)
{
    return state_local_open(s->cfg->local_dir, s->cfg->name, s->cfg->env, out, err);
}

static const backend_type types[] = {
    {"local", local_keys, local_from_settings},
    {"postgres", postgres_keys, state_pg_open},
    {"s3", s3_keys, state_s3_open},
};

/* ------------------------------------------------------------------ */
/* Settings                                                           */

char *state_settings_where(const state_settings *s, const char *key)
{
    if (json_object_get(s->from_cli, key))
        return util_printf("--backend-config %s", key);
    char *at = s->cfg->locate ? s->cfg->locate(s->cfg->locate_ud, key) : NULL;
    char *out = at ? util_printf("%s: backend.%s", at, key) : util_printf("backend.%s", key);
    free(at);
    return out;
}

const char *state_settings_string(const state_settings *s, const char *key)
{
    const json_t *v = json_object_get(s->values, key);
    return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : NULL;
}

int state_settings_bool(const state_settings *s, const char *key, int dflt, char **err)
{
    const json_t *v = json_object_get(s->values, key);
    if (!v)
        return dflt;
    if (json_is_boolean(v))
        return json_is_true(v);
    const char *t = json_string_value(v);
    if (t && (!strcmp(t, "true") || !strcmp(t, "yes") || !strcmp(t, "1")))
        return 1;
    if (t && (!strcmp(t, "false") || !strcmp(t, "no") || !strcmp(t, "0")))
        return 0;
    char *where = state_settings_where(s, key);
    *err = util_printf("%s: expected true or false", where);
    free(where);
    return -1;
}

const char *state_settings_name(const state_settings *s)
{
    return s->cfg->name;
}

const char *state_settings_env(const state_settings *s)
{
    return s->cfg->env ? s->cfg->env : "default";
}

char *state_settings_path(const state_settings *s, const char *key)
{
    const char *v = state_settings_string(s, key);
    if (!v)
        return NULL;
    if (v[0] == '/' || !s->cfg->base_dir || !*s->cfg->base_dir)
        return util_strdup(v);
    return util_printf("%s/%s", s->cfg->base_dir, v);
}

static int unknown_key(const state_settings *s, const backend_type *t, const char *key, char **err)
{
    const char *names[16];
    size_t n = 0;
    names[n++] = "type";
    for (size_t i = 0; t->keys[i] && n < 15; i++)
        names[n++] = t->keys[i];
    names[n] = NULL;
    const char *close = util_did_you_mean(key, names);
    char *where = state_settings_where(s, key);
    util_buf list = {0};
    for (size_t i = 0; names[i]; i++)
        util_buf_printf(&list, "%s%s", i ? ", " : "", names[i]);
    if (close)
        *err = util_printf("%s: unknown setting of the %s backend (did you mean \"%s\"?)", where,
                           t->name, close);
    else
        *err = util_printf("%s: unknown setting of the %s backend (it has: %s)", where, t->name,
                           list.data);
    util_buf_free(&list);
    free(where);
    return INFRA_EINVALID;
}

static int check_settings(const state_settings *s, const backend_type *t, char **err)
{
    const char *key;
    json_t *value;
    json_object_foreach(s->values, key, value) {
        int known = !strcmp(key, "type");
        for (size_t i = 0; t->keys[i] && !known; i++)
            known = !strcmp(key, t->keys[i]);
        if (!known)
            return unknown_key(s, t, key, err);
        if (!json_is_string(value) && !json_is_boolean(value) && !json_is_number(value)) {
            char *where = state_settings_where(s, key);
            *err = util_printf("%s: expected a string", where);
            free(where);
            return INFRA_EINVALID;
        }
        if (json_is_number(value)) {
            char *text = json_dumps(value, JSON_ENCODE_ANY);
            json_object_set_new(s->values, key, json_string(text ? text : ""));
            free(text);
        }
    }
    return 0;
}

int state_backend_open(const state_backend_config *cfg, state_backend **out, char **err)
{
    int error = 0;
    state_settings s = {cfg, json_object(), json_object()};
    const backend_type *type = NULL;

    *out = NULL;
    if (cfg->settings && json_is_object(cfg->settings))
        json_object_update(s.values, (json_t *)cfg->settings);
    for (size_t i = 0; cfg->overrides && cfg->overrides[i]; i++) {
        const char *pair = cfg->overrides[i];
        const char *eq = strchr(pair, '=');
        if (!eq || eq == pair) {
            *err = util_printf("--backend-config %s: expected KEY=VALUE", pair);
            error = INFRA_EINVALID;
            goto done;
        }
        char *key = util_strndup(pair, (size_t)(eq - pair));
        json_object_set_new(s.values, key, json_string(eq + 1));
        json_object_set_new(s.from_cli, key, json_true());
        free(key);
    }
    const json_t *t = json_object_get(s.values, "type");
    const char *name = t ? json_string_value(t) : "local";
    for (size_t i = 0; name && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(types[i].name, name))
            type = &types[i];
    if (!type) {
        char *where = state_settings_where(&s, "type");
        *err = util_printf("%s: unknown backend type \"%s\" (expected local, postgres or s3)",
                           where, name ? name : "(not a string)");
        free(where);
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = check_settings(&s, type, err)) < 0 || (error = type->open(&s, out, err)) < 0)
        goto done;
done:
    json_decref(s.values);
    json_decref(s.from_cli);
    return error;
}

/* ------------------------------------------------------------------ */
/* The slots                                                          */

void state_backend_free(state_backend *b)
{
    if (b)
        b->free(b);
}

int state_backend_load(state_backend *b, state_loaded *out, char **err)
{
    memset(out, 0, sizeof(*out));
    return b->load(b, out, err);
}

int state_backend_commit(state_backend *b, const state_commit *c, char **err)
{
    return b->commit(b, c, err);
}

void state_backend_unlock(state_backend *b)
{
    if (b)
        b->unlock(b);
}

int state_backend_break_lock(state_backend *b, int force, char **err)
{
    return b->break_lock(b, force, err);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *duration_text(long ms)
{
    if (ms % 60000 == 0)
        return util_printf("%ldm", ms / 60000);
    if (ms % 1000 == 0)
        return util_printf("%lds", ms / 1000);
    return util_printf("%ldms", ms);
}

int state_backend_lock(state_backend *b, const char *owner, long timeout_ms, char **err)
{
    return state_backend_lock_until(b, owner, timeout_ms, NULL, err);
}

int state_backend_lock_until(state_backend *b, const char *owner, long timeout_ms,
                             volatile sig_atomic_t *stop, char **err)
{
    int error = 0;
    char *holder = state_holder_json(owner);
    long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    long delay = 100;
    int announced = 0;

    for (;;) {
        char *msg = NULL;
        error = b->lock(b, holder, &msg);
        long long left = deadline - now_ms();
        if (error != INFRA_ECONFLICT || left <= 0) {
            if (error < 0 && err)
                *err = msg;
            else
                free(msg);
            break;
        }
        if (!announced) {
            char *limit = duration_text(timeout_ms);
            log_msg(LOG_INFO, "waiting up to %s for the state lock: %s", limit, msg);
            free(limit);
            announced = 1;
        }
        free(msg);
        struct timespec pause = {0, 0};
        long sleep_ms = delay < left ? delay : (long)left;
        pause.tv_sec = sleep_ms / 1000;
        pause.tv_nsec = (sleep_ms % 1000) * 1000000L;
        while (nanosleep(&pause, &pause) < 0 && errno == EINTR && !(stop && *stop))
            ;
        if (stop && *stop) {
            if (err)
                *err = util_strdup("interrupted while waiting for the state lock");
            error = INFRA_ECANCELLED;
            break;
        }
        delay = delay * 2 > 2000 ? 2000 : delay * 2;
    }
    free(holder);
    return error;
}
