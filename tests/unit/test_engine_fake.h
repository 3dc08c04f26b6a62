/* An in-process provider plugin ("fake") and fixtures for the engine's
 * plan and apply tests. Objects live in a process-wide table; every
 * mutating call is logged ("create network.main"), concurrency is
 * measured, and failures, transient errors and a stop request can be
 * injected. Types: network (cidr force_new), instance (image force_new,
 * password sensitive), image (data source). */
#ifndef TEST_ENGINE_FAKE_H
#define TEST_ENGINE_FAKE_H

#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infra/plugin.h>
#include <jansson.h>

#include "engine/engine.h"
#include "plugin/host.h"
#include "engine/engine_apply.h"
#include "engine/plan.h"
#include "state/state.h"
#include "base/util.h"

/* Each test file uses a different subset of the helpers below. */
#pragma GCC diagnostic ignored "-Wunused-function"

struct infra_provider {
    int unused;
};

typedef struct fake_world {
    pthread_mutex_t lock;
    json_t *objects; /* id -> {type, token, address, attrs} */
    int next_id;
    json_t *calls;   /* "create ADDRESS", "update ...", "delete ...", "adopt ..." */
    int running;
    int max_running;
    int latency_ms;
    const char *fail;      /* address whose create/update fails */
    const char *transient; /* address whose first create fails as transient */
    int transient_calls;
    volatile sig_atomic_t *stop_after_first; /* set when the first create starts */
    char last_private[64]; /* private blob handed to the last update */
    json_t *validated;     /* address -> the config validate was given (a copy) */
    struct infra_provider ctx;
} fake_world;

static fake_world fake = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void fake_reset(void)
{
    json_decref(fake.objects);
    json_decref(fake.calls);
    fake.objects = json_object();
    fake.calls = json_array();
    json_decref(fake.validated);
    fake.validated = json_object();
    fake.next_id = 0;
    fake.running = fake.max_running = 0;
    fake.latency_ms = 0;
    fake.fail = fake.transient = NULL;
    fake.transient_calls = 0;
    fake.stop_after_first = NULL;
    fake.last_private[0] = '\0';
}

static void fake_log(const char *op, const char *address)
{
    char *line = util_printf("%s %s", op, address);
    json_array_append_new(fake.calls, json_string(line));
    free(line);
}

/* Position of "op address" in the call log, or -1. */
static int fake_call_index(const char *op, const char *address)
{
    char *line = util_printf("%s %s", op, address);
    int found = -1;
    size_t i;
    json_t *v;
    pthread_mutex_lock(&fake.lock);
    json_array_foreach(fake.calls, i, v)
        if (found < 0 && !strcmp(json_string_value(v), line))
            found = (int)i;
    pthread_mutex_unlock(&fake.lock);
    free(line);
    return found;
}

/* Number of live objects of type. */
static size_t fake_count(const char *type)
{
    size_t n = 0;
    const char *id;
    json_t *obj;
    pthread_mutex_lock(&fake.lock);
    json_object_foreach(fake.objects, id, obj)
        if (!strcmp(json_string_value(json_object_get(obj, "type")), type))
            n++;
    pthread_mutex_unlock(&fake.lock);
    return n;
}

/* The live object made for address (borrowed), or NULL. */
static json_t *fake_object_of(const char *address)
{
    const char *id;
    json_t *obj;
    json_object_foreach(fake.objects, id, obj)
        if (!strcmp(json_string_value(json_object_get(obj, "address")), address))
            return obj;
    return NULL;
}

static const char fake_schema_text[] =
    "{\"settings\": {\"label\": {\"type\": \"string\"}},"
    " \"resources\": {"
    "  \"network\": {\"attributes\": {"
    "    \"id\": {\"type\": \"string\", \"computed\": true},"
    "    \"cidr\": {\"type\": \"string\", \"required\": true, \"force_new\": true},"
    "    \"name\": {\"type\": \"string\"}}},"
    "  \"instance\": {\"attributes\": {"
    "    \"id\": {\"type\": \"string\", \"computed\": true},"
    "    \"size\": {\"type\": \"string\"},"
    "    \"image\": {\"type\": \"string\", \"force_new\": true},"
    "    \"network\": {\"type\": \"string\"},"
    "    \"password\": {\"type\": \"string\", \"sensitive\": true},"
    "    \"tags\": {\"type\": \"map\"},"
    "    \"user_data\": {\"type\": \"string\"},"
    "    \"disk_gb\": {\"type\": \"integer\"},"
    "    \"public\": {\"type\": \"bool\"},"
    "    \"private_ip\": {\"type\": \"string\", \"computed\": true}}},"
    "  \"image\": {\"data_source\": true, \"attributes\": {"
    "    \"name\": {\"type\": \"string\", \"required\": true},"
    "    \"id\": {\"type\": \"string\", \"computed\": true}}}}}";

static int fake_schema(infra_call *call, infra_json **out)
{
    json_t *s = json_loads(fake_schema_text, 0, NULL);
    *out = host_json(s);
    return s ? 0 : INFRA_EINTERNAL;
}

static int fake_validate(infra_call *call, const char *type, const infra_json *config)
{
    /* Through the host's JSON service, as a plugin reads it: an unknown
     * value has no string. */
    const infra_json_api *j = host_table()->json;
    pthread_mutex_lock(&fake.lock);
    json_object_set_new(fake.validated, host_table()->call_address(call),
                        json_deep_copy(host_jansson(config)));
    pthread_mutex_unlock(&fake.lock);
    const char *size = j->string(j->get(config, "size"));
    if (size && strcmp(size, "small") && strcmp(size, "large")) {
        host_table()->diag(call, INFRA_DIAG_ERROR, "size", "size must be small or large");
        return INFRA_EINVALID;
    }
    return 0;
}

static int fake_configure(infra_call *call, const infra_json *settings, infra_provider **out)
{
    *out = &fake.ctx;
    return 0;
}

static const char *force_new_attr(const char *type)
{
    return !strcmp(type, "network") ? "cidr" : !strcmp(type, "instance") ? "image" : NULL;
}

static int fake_plan(infra_provider *self, infra_call *call, const char *type,
                     const infra_json *prior, const infra_json *desired, infra_json **planned,
                     infra_json **requires_replace)
{
    json_t *pl = json_deep_copy(host_jansson(desired));
    json_t *rr = json_array();
    const char *fn = force_new_attr(type);
    json_t *was = prior && fn ? json_object_get(host_jansson(prior), fn) : NULL;
    json_t *now = fn ? json_object_get(host_jansson(desired), fn) : NULL;
    if (prior && fn && (was || now) && !(was && now && json_equal(was, now)))
        json_array_append_new(rr, json_string(fn));
    if (prior && json_array_size(rr) == 0) {
        const char *keep[] = {"id", "private_ip"};
        for (size_t i = 0; i < 2; i++) {
            json_t *v = json_object_get(host_jansson(prior), keep[i]);
            if (v && !json_object_get(pl, keep[i]))
                json_object_set(pl, keep[i], v);
        }
    }
    *planned = host_json(pl);
    *requires_replace = host_json(rr);
    return 0;
}

static void fake_sleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int fake_apply(infra_provider *self, infra_call *call, const char *type,
                      const infra_json *prior, const infra_json *planned, const void *private_in,
                      size_t private_in_len, infra_json **new_state, void **private_out,
                      size_t *private_out_len)
{
    const infra_host *h = host_table();
    const char *address = h->call_address(call);
    const char *token = h->call_token(call);
    int error = 0;

    *new_state = NULL;
    pthread_mutex_lock(&fake.lock);
    if (++fake.running > fake.max_running)
        fake.max_running = fake.running;
    if (!prior && fake.stop_after_first)
        *fake.stop_after_first = 1;
    pthread_mutex_unlock(&fake.lock);
    if (fake.latency_ms)
        fake_sleep(fake.latency_ms);
    pthread_mutex_lock(&fake.lock);
    fake.running--;

    if (!planned) { /* delete */
        const char *id = json_string_value(json_object_get(host_jansson(prior), "id"));
        if (!id || !json_object_get(fake.objects, id)) {
            error = INFRA_ENOTFOUND;
        } else {
            json_object_del(fake.objects, id);
            fake_log("delete", address);
        }
        goto done;
    }
    if (fake.fail && !strcmp(fake.fail, address)) {
        h->diag(call, INFRA_DIAG_ERROR, "", "injected failure");
        error = INFRA_EINVALID;
        goto done;
    }
    if (!prior && fake.transient && !strcmp(fake.transient, address) &&
        fake.transient_calls++ == 0) {
        error = INFRA_ETRANSIENT;
        goto done;
    }
    json_t *attrs = json_deep_copy(host_jansson(planned));
    if (!prior) {
        const char *id;
        json_t *obj;
        json_object_foreach(fake.objects, id, obj) {
            const char *owner = json_string_value(json_object_get(obj, "token"));
            if (token && owner && !strcmp(owner, token)) {
                fake_log("adopt", address);
                *new_state = host_json(json_deep_copy(json_object_get(obj, "attrs")));
                json_decref(attrs);
                goto done;
            }
        }
        char idbuf[32];
        snprintf(idbuf, sizeof(idbuf), "f-%d", ++fake.next_id);
        json_object_set_new(attrs, "id", json_string(idbuf));
        if (!strcmp(type, "instance")) {
            char ip[32];
            snprintf(ip, sizeof(ip), "10.0.0.%d", fake.next_id);
            json_object_set_new(attrs, "private_ip", json_string(ip));
        }
        json_object_set_new(fake.objects, idbuf,
                            json_pack("{s:s, s:s?, s:s, s:O}", "type", type, "token", token,
                                      "address", address, "attrs", attrs));
        fake_log("create", address);
        if (private_out) {
            *private_out = util_printf("blob-%d", fake.next_id);
            *private_out_len = strlen(*private_out);
        }
    } else {
        const char *id = json_string_value(json_object_get(host_jansson(prior), "id"));
        json_t *obj = id ? json_object_get(fake.objects, id) : NULL;
        if (!obj) {
            json_decref(attrs);
            error = INFRA_ENOTFOUND;
            goto done;
        }
        size_t kept = private_in ? private_in_len : 0;
        if (kept > sizeof(fake.last_private) - 1)
            kept = sizeof(fake.last_private) - 1;
        if (kept)
            memcpy(fake.last_private, private_in, kept);
        fake.last_private[kept] = '\0';
        json_object_set(attrs, "id", json_object_get(host_jansson(prior), "id"));
        if (json_object_get(host_jansson(prior), "private_ip"))
            json_object_set(attrs, "private_ip",
                            json_object_get(host_jansson(prior), "private_ip"));
        json_object_set(obj, "attrs", attrs);
        fake_log("update", address);
    }
    *new_state = host_json(attrs);
done:
    pthread_mutex_unlock(&fake.lock);
    return error;
}

static int fake_read(infra_provider *self, infra_call *call, const char *type,
                     const infra_json *st, const void *private_in, size_t private_in_len,
                     infra_json **out)
{
    const char *token = host_table()->call_token(call);
    int error = INFRA_ENOTFOUND;
    if (!strcmp(type, "image")) {
        const char *name = json_string_value(json_object_get(host_jansson(st), "name"));
        char *id = util_printf("img-%s", name ? name : "");
        *out = host_json(json_pack("{s:s?, s:s}", "name", name, "id", id));
        free(id);
        return 0;
    }
    pthread_mutex_lock(&fake.lock);
    const char *id;
    json_t *obj;
    json_object_foreach(fake.objects, id, obj) {
        const char *owner = json_string_value(json_object_get(obj, "token"));
        const char *want = json_string_value(json_object_get(host_jansson(st), "id"));
        if ((!st && token && owner && !strcmp(owner, token)) || (want && !strcmp(want, id))) {
            *out = host_json(json_deep_copy(json_object_get(obj, "attrs")));
            error = 0;
            break;
        }
    }
    pthread_mutex_unlock(&fake.lock);
    return error;
}

static const infra_provider_ops fake_ops = {
    .size = sizeof(infra_provider_ops),
    .schema = fake_schema,
    .validate = fake_validate,
    .configure = fake_configure,
    .plan = fake_plan,
    .apply = fake_apply,
    .read = fake_read,
};

static const infra_plugin fake_plugin = {
    .magic = INFRA_PLUGIN_MAGIC,
    .abi_major = INFRA_ABI_MAJOR,
    .abi_minor = INFRA_ABI_MINOR,
    .size = sizeof(infra_plugin),
    .kind = INFRA_PLUGIN_PROVIDER,
    .name = "fake",
    .version = "1.0.0",
    .build = INFRA_BUILD_SIG_INIT,
    .capabilities = INFRA_CAP_CONCURRENT | INFRA_CAP_TOKEN_CREATE | INFRA_CAP_READ_BY_TOKEN,
    .provider = &fake_ops,
};

/* The same provider promising nothing about tokens: a create it did not
 * finish can neither be repeated safely nor looked up. */
static const infra_plugin fake_plain_plugin = {
    .magic = INFRA_PLUGIN_MAGIC,
    .abi_major = INFRA_ABI_MAJOR,
    .abi_minor = INFRA_ABI_MINOR,
    .size = sizeof(infra_plugin),
    .kind = INFRA_PLUGIN_PROVIDER,
    .name = "plain",
    .version = "1.0.0",
    .build = INFRA_BUILD_SIG_INIT,
    .capabilities = INFRA_CAP_CONCURRENT,
    .provider = &fake_ops,
};

static const infra_plugin *const fake_builtins[] = {&fake_plugin, &fake_plain_plugin, NULL};

/* ------------------------------------------------------------------ */
/* Fixtures                                                           */

typedef struct fixture {
    char *dir;
    char *path;
    engine *e;
    plan *p;
    diag_list diags;
} fixture;

static int fixture_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void fixture_write(fixture *fx, const char *yaml)
{
    FILE *f = fopen(fx->path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
}

static void fixture_close(fixture *fx)
{
    plan_free(fx->p);
    fx->p = NULL;
    engine_free(fx->e);
    fx->e = NULL;
    diag_list_free(&fx->diags);
}

/* Opens the engine on yaml (written to the fixture's file) and its state
 * with the lock and the writer, like `infra up`. */
static void fixture_open_opts(fixture *fx, const char *yaml, int parallelism, const char *env)
{
    fixture_close(fx);
    fixture_write(fx, yaml);
    engine_options o = {.topology = fx->path, .environment = env, .parallelism = parallelism,
                        .builtin = fake_builtins};
    int rc = engine_open(&o, &fx->e, &fx->diags);
    if (rc < 0) {
        diag_print(&fx->diags, stderr);
        fail_msg("engine_open failed");
    }
    char *err = NULL;
    rc = engine_state(fx->e, 1, "test", &err);
    if (rc < 0)
        fail_msg("engine_state: %s", err);
}

static void fixture_open(fixture *fx, const char *yaml)
{
    fixture_open_opts(fx, yaml, 4, NULL);
}

static fixture *fixture_new(void)
{
    fixture *fx = util_calloc(1, sizeof(*fx));
    fx->dir = util_strdup("/tmp/infra-test-engine-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->path = util_printf("%s/topology.yaml", fx->dir);
    fake_reset();
    return fx;
}

static void fixture_free(fixture *fx)
{
    fixture_close(fx);
    nftw(fx->dir, fixture_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(fx->dir);
    free(fx->path);
    free(fx);
}

/* Plans (refresh on), asserting success. */
static plan *fixture_plan(fixture *fx, int refresh)
{
    plan_free(fx->p);
    fx->p = NULL;
    int rc = plan_build(fx->e, refresh, &fx->p);
    if (rc < 0) {
        diag_print(&fx->e->diags, stderr);
        fail_msg("plan_build failed");
    }
    return fx->p;
}

/* Plans and applies; returns engine_apply's result with *sum filled. */
static int fixture_apply(fixture *fx, engine_apply_summary *sum)
{
    fixture_plan(fx, 1);
    int rc = engine_apply(fx->e, fx->p, sum);
    engine_outputs(fx->e, fx->p, 0);
    return rc;
}

static const plan_item *item(const plan *p, const char *address)
{
    size_t i = graph_find(p->g, address);
    if (i == GRAPH_NONE)
        fail_msg("no plan item %s", address);
    return &p->items[i];
}

static int reasons_are(const plan_item *it, const char *expected)
{
    util_buf b = {0};
    size_t k;
    json_t *v;
    json_array_foreach(it->reasons, k, v)
        util_buf_printf(&b, "%s%s", k ? "," : "", json_string_value(v));
    int same = !strcmp(b.data ? b.data : "", expected);
    if (!same)
        fprintf(stderr, "%s: reasons \"%s\", expected \"%s\"\n", it->address,
                b.data ? b.data : "", expected);
    util_buf_free(&b);
    return same;
}

/* The whole state file as text (caller frees). */
static char *fixture_state_text(fixture *fx)
{
    char *err = NULL;
    if (state_sync(fx->e->st, &err) < 0)
        free(err);
    FILE *f = fopen(state_path(fx->e->st), "r");
    assert_non_null(f);
    util_buf b = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        util_buf_put(&b, buf, n);
    fclose(f);
    return util_buf_take(&b);
}

#endif
