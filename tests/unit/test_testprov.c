/* The "test" provider plugin, loaded from the build tree with dlopen and
 * driven through its ops with the real host table. */
#define _GNU_SOURCE /* nftw */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "plugin/host.h"

#define PLUGIN_PATH INFRA_BUILD_DIR "/plugins/test.so"
#define TOKEN_A "0123456789abcdef0123456789abcdef"
#define TOKEN_B "fedcba9876543210fedcba9876543210"

static void *plugin_handle;
static const infra_plugin *plugin;
static const infra_provider_ops *ops;

typedef struct fixture {
    char dir[PATH_MAX];
    infra_provider *prov;
} fixture;

/* Diagnostics received during one call. */
typedef struct diags {
    int n;
    char paths[16][64];
    char messages[16][256];
} diags;

static void collect_diag(void *ud, infra_call *call, int severity, const char *attr_path,
                         const char *message)
{
    diags *d = ud;
    (void)call;
    (void)severity;
    if (d->n < 16) {
        snprintf(d->paths[d->n], sizeof(d->paths[0]), "%s", attr_path);
        snprintf(d->messages[d->n], sizeof(d->messages[0]), "%s", message);
        d->n++;
    }
}

static int diag_on(const diags *d, const char *path)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->paths[i], path) == 0)
            return 1;
    return 0;
}

static void call_setup(infra_call *call, const char *address, const char *token, diags *d)
{
    host_call_init(call, address, "test");
    call->token = token;
    if (d != NULL) {
        memset(d, 0, sizeof(*d));
        call->diag = collect_diag;
        call->diag_ud = d;
    }
}

static int load_plugin(void **state)
{
    infra_plugin_entry_fn entry;
    (void)state;
    plugin_handle = dlopen(PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (plugin_handle == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", PLUGIN_PATH, dlerror());
        return -1;
    }
    *(void **)&entry = dlsym(plugin_handle, INFRA_PLUGIN_ENTRY_SYMBOL);
    if (entry == NULL || entry(host_table(), &plugin) != 0)
        return -1;
    ops = plugin->provider;
    return 0;
}

static int unload_plugin(void **state)
{
    (void)state;
    if (plugin_handle != NULL)
        dlclose(plugin_handle);
    return 0;
}

/* Configures a provider on fx->dir with extra settings (taken, may be NULL). */
static int configure(fixture *fx, json_t *extra, diags *d)
{
    json_t *settings = json_pack("{s:s}", "dir", fx->dir);
    infra_call call;
    int error;

    if (fx->prov != NULL) {
        ops->close(fx->prov);
        fx->prov = NULL;
    }
    if (extra != NULL) {
        json_object_update(settings, extra);
        json_decref(extra);
    }
    call_setup(&call, "", NULL, d);
    error = ops->configure(&call, host_json(settings), &fx->prov);
    host_call_clear(&call);
    json_decref(settings);
    return error;
}

static int fixture_setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "%s/testprov.XXXXXX", TEST_BINARY_DIR);
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    /* the provider creates its directory itself: point it one level down */
    strncat(fx->dir, "/cloud", sizeof(fx->dir) - strlen(fx->dir) - 1);
    *state = fx;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int fixture_teardown(void **state)
{
    fixture *fx = *state;
    char *slash;
    if (fx->prov != NULL)
        ops->close(fx->prov);
    slash = strrchr(fx->dir, '/');
    *slash = '\0';
    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* Configured with only "dir". */
static int fixture_setup_configured(void **state)
{
    if (fixture_setup(state) < 0)
        return -1;
    return configure(*state, NULL, NULL);
}

static json_t *do_apply(fixture *fx, const char *type, const char *address, const char *token,
                        json_t *prior, json_t *planned, diags *d, int *error)
{
    infra_call call;
    infra_json *out = NULL;
    void *priv = NULL;
    size_t priv_len = 0;

    call_setup(&call, address, token, d);
    *error = ops->apply(fx->prov, &call, type, host_json(prior), host_json(planned), NULL, 0,
                        &out, &priv, &priv_len);
    host_call_clear(&call);
    assert_null(priv);
    return host_jansson(out);
}

static json_t *do_read(fixture *fx, const char *type, const char *token, json_t *st, int *error)
{
    infra_call call;
    infra_json *out = NULL;

    call_setup(&call, "x.y", token, NULL);
    *error = ops->read(fx->prov, &call, type, host_json(st), NULL, 0, &out);
    host_call_clear(&call);
    return host_jansson(out);
}

static json_t *create(fixture *fx, const char *type, const char *address, const char *token,
                      json_t *planned)
{
    int error;
    json_t *st = do_apply(fx, type, address, token, NULL, planned, NULL, &error);
    assert_int_equal(error, 0);
    assert_non_null(st);
    return st;
}

/* out (PATH_MAX bytes) = fx->dir + "/" + the formatted rest. */
static void fx_path(const fixture *fx, char *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fx_path(const fixture *fx, char *out, const char *fmt, ...)
{
    size_t len = strlen(fx->dir);
    va_list ap;
    int n;

    memcpy(out, fx->dir, len);
    out[len++] = '/';
    va_start(ap, fmt);
    n = vsnprintf(out + len, PATH_MAX - len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < PATH_MAX - len);
}

static int count_objects(const fixture *fx, const char *type)
{
    char path[PATH_MAX];
    DIR *d;
    struct dirent *e;
    int n = 0;

    fx_path(fx, path, "%s", type);
    if ((d = opendir(path)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] != '.' && len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
            n++;
    }
    closedir(d);
    return n;
}

static int object_exists(const fixture *fx, const char *type, const char *id)
{
    char path[PATH_MAX];
    fx_path(fx, path, "%s/%s.json", type, id);
    return access(path, F_OK) == 0;
}

static char *calls_log(const fixture *fx)
{
    char path[PATH_MAX];
    FILE *f;
    char *buf = calloc(1, 1 << 16);
    size_t n;

    fx_path(fx, path, "calls.log");
    if ((f = fopen(path, "r")) == NULL)
        return buf;
    n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* ------------------------------------------------------------------ */

static void test_testprov_descriptor_declares_test_provider_and_capabilities(void **state)
{
    (void)state;
    assert_int_equal(plugin->magic, INFRA_PLUGIN_MAGIC);
    assert_int_equal(plugin->kind, INFRA_PLUGIN_PROVIDER);
    assert_string_equal(plugin->name, "test");
    assert_true(plugin->capabilities & INFRA_CAP_CONCURRENT);
    assert_true(plugin->capabilities & INFRA_CAP_TOKEN_CREATE);
    assert_true(plugin->capabilities & INFRA_CAP_READ_BY_TOKEN);
    assert_true(plugin->capabilities & INFRA_CAP_IMPORT);
    assert_true(INFRA_HAS_SLOT(ops, apply));
    assert_true(INFRA_HAS_SLOT(ops, close));
}

static void test_testprov_schema_lists_every_type_with_attribute_flags(void **state)
{
    static const char *types[] = {"network", "firewall", "instance", "load_balancer",
                                  "dns_record", "image"};
    infra_call call;
    infra_json *out = NULL;
    json_t *schema, *res;
    (void)state;

    call_setup(&call, "", NULL, NULL);
    assert_int_equal(ops->schema(&call, &out), 0);
    host_call_clear(&call);
    schema = host_jansson(out);
    res = json_object_get(schema, "resources");
    assert_int_equal(json_object_size(res), 6);
    for (size_t i = 0; i < 6; i++) {
        json_t *attrs = json_object_get(json_object_get(res, types[i]), "attributes");
        assert_non_null(attrs);
        assert_true(json_is_true(json_object_get(json_object_get(attrs, "id"), "computed")));
    }
    assert_true(json_is_true(
        json_object_get(json_object_get(json_object_get(schema, "settings"), "dir"), "required")));
    assert_true(json_is_true(json_object_get(
        json_object_get(json_object_get(json_object_get(res, "network"), "attributes"), "cidr"),
        "force_new")));
    json_t *inst = json_object_get(json_object_get(res, "instance"), "attributes");
    assert_true(json_is_true(json_object_get(json_object_get(inst, "password"), "sensitive")));
    assert_true(json_is_true(json_object_get(json_object_get(inst, "private_ip"), "computed")));
    assert_string_equal(str(json_object_get(inst, "tags"), "type"), "map");
    assert_true(json_is_true(json_object_get(json_object_get(res, "image"), "data_source")));
    json_decref(schema);
}

static int validate(const char *type, json_t *config, diags *d)
{
    infra_call call;
    int error;
    call_setup(&call, "x.y", NULL, d);
    error = ops->validate(&call, type, host_json(config));
    host_call_clear(&call);
    json_decref(config);
    return error;
}

static void test_testprov_validate_reports_bad_cidr_and_size_on_their_paths(void **state)
{
    diags d;
    (void)state;

    assert_int_equal(validate("network", json_pack("{s:s}", "cidr", "10.0.0/8"), &d),
                     INFRA_EINVALID);
    assert_true(diag_on(&d, "cidr"));
    assert_int_equal(validate("network", json_pack("{s:s}", "cidr", "10.0.0.0/33"), &d),
                     INFRA_EINVALID);
    assert_true(diag_on(&d, "cidr"));
    assert_int_equal(validate("instance", json_pack("{s:s}", "size", "huge"), &d), INFRA_EINVALID);
    assert_int_equal(d.n, 1);
    assert_true(diag_on(&d, "size"));

    assert_int_equal(validate("network", json_pack("{s:s}", "cidr", "10.1.0.0/16"), &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(validate("instance", json_pack("{s:s}", "size", "medium"), &d), 0);
    assert_int_equal(d.n, 0);
    /* a value known only after apply: nothing to check yet */
    assert_int_equal(validate("network",
                              json_pack("{s:o}", "cidr",
                                        host_jansson(host_table()->json->new_unknown())),
                              &d),
                     0);
    assert_int_equal(d.n, 0);
}

static void test_testprov_validate_unknown_type_is_notsup_with_diag(void **state)
{
    diags d;
    (void)state;
    assert_int_equal(validate("bucket", json_object(), &d), INFRA_ENOTSUP);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.messages[0], "bucket"));
}

static void test_testprov_configure_requires_dir_and_checks_knobs(void **state)
{
    fixture *fx = *state;
    infra_call call;
    diags d;
    infra_provider *p = NULL;
    json_t *settings = json_object();

    call_setup(&call, "", NULL, &d);
    assert_int_equal(ops->configure(&call, host_json(settings), &p), INFRA_EINVALID);
    host_call_clear(&call);
    assert_null(p);
    assert_true(diag_on(&d, "dir"));
    json_decref(settings);

    assert_int_equal(configure(fx, json_pack("{s:s}", "crash_when", "during"), &d),
                     INFRA_EINVALID);
    assert_true(diag_on(&d, "crash_when"));
    assert_int_equal(configure(fx, json_pack("{s:s}", "latency_ms", "soon"), &d), INFRA_EINVALID);
    assert_true(diag_on(&d, "latency_ms"));
    assert_int_equal(configure(fx, json_pack("{s:i}", "fail", 3), &d), INFRA_EINVALID);
    assert_true(diag_on(&d, "fail"));
    assert_null(fx->prov);

    assert_int_equal(configure(fx, NULL, &d), 0);
    assert_non_null(fx->prov);
    assert_int_equal(access(fx->dir, F_OK), 0); /* created */
}

static void test_testprov_create_twice_with_same_token_returns_same_object(void **state)
{
    fixture *fx = *state;
    json_t *cfg = json_pack("{s:s, s:s, s:s}", "size", "small", "image", "img-1", "password",
                            "hunter22");
    json_t *a = create(fx, "instance", "instance.web[0]", TOKEN_A, cfg);
    json_t *b = create(fx, "instance", "instance.web[0]", TOKEN_A, cfg);

    assert_non_null(str(a, "id"));
    assert_string_equal(str(a, "id"), str(b, "id"));
    assert_string_equal(str(a, "private_ip"), str(b, "private_ip"));
    assert_int_equal(strncmp(str(a, "private_ip"), "10.", 3), 0);
    assert_non_null(str(a, "public_ip"));
    /* the cloud knows the password; keeping it out of state is the engine's job */
    assert_string_equal(str(a, "password"), "hunter22");
    assert_int_equal(count_objects(fx, "instance"), 1);

    char *log = calls_log(fx);
    assert_int_equal(count_lines(log), 2);
    assert_non_null(strstr(log, "create instance.web[0] tp-0123456789abcdef\n"));
    assert_non_null(strstr(log, "create instance.web[0] tp-0123456789abcdef existing\n"));
    free(log);
    json_decref(a);
    json_decref(b);
    json_decref(cfg);
}

static void test_testprov_create_with_different_tokens_makes_two_objects(void **state)
{
    fixture *fx = *state;
    json_t *cfg = json_pack("{s:s}", "cidr", "10.0.0.0/16");
    json_t *a = create(fx, "network", "network.main", TOKEN_A, cfg);
    json_t *b = create(fx, "network", "network.main", TOKEN_B, cfg);
    json_t *c = create(fx, "network", "network.main", "not-a-hex-token", cfg);

    assert_string_not_equal(str(a, "id"), str(b, "id"));
    assert_string_not_equal(str(a, "id"), str(c, "id"));
    assert_int_equal(count_objects(fx, "network"), 3);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(cfg);
}

static void test_testprov_update_rewrites_object_and_read_returns_it(void **state)
{
    fixture *fx = *state;
    int error;
    json_t *cfg = json_pack("{s:[s], s:[i]}", "targets", "10.0.0.1", "listen", 80);
    json_t *st = create(fx, "load_balancer", "load_balancer.apps", TOKEN_A, cfg);
    json_t *planned = json_pack("{s:[s,s], s:[i], s:s}", "targets", "10.0.0.1", "10.0.0.2",
                                "listen", 80, "health", "http:8080/health");
    json_t *updated = do_apply(fx, "load_balancer", "load_balancer.apps", NULL, st, planned,
                               NULL, &error);
    json_t *got;

    assert_int_equal(error, 0);
    assert_string_equal(str(updated, "id"), str(st, "id"));
    assert_string_equal(str(updated, "dns_name"), str(st, "dns_name"));
    got = do_read(fx, "load_balancer", NULL, updated, &error);
    assert_int_equal(error, 0);
    assert_true(json_equal(got, updated));
    assert_int_equal(json_array_size(json_object_get(got, "targets")), 2);
    assert_string_equal(str(got, "health"), "http:8080/health");
    assert_int_equal(count_objects(fx, "load_balancer"), 1);

    char *log = calls_log(fx);
    assert_non_null(strstr(log, "update load_balancer.apps tp-0123456789abcdef\n"));
    free(log);
    json_decref(got);
    json_decref(updated);
    json_decref(planned);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_read_shows_drift_after_object_file_is_edited(void **state)
{
    fixture *fx = *state;
    int error;
    char path[PATH_MAX];
    json_t *cfg = json_pack("{s:s}", "size", "small");
    json_t *st = create(fx, "instance", "instance.db", TOKEN_A, cfg);
    json_t *record, *got;

    fx_path(fx, path, "instance/%s.json", str(st, "id"));
    record = json_load_file(path, 0, NULL);
    assert_non_null(record);
    assert_string_equal(str(record, "address"), "instance.db");
    assert_string_equal(str(record, "token"), TOKEN_A);
    json_object_set_new(json_object_get(record, "attributes"), "size", json_string("large"));
    assert_int_equal(json_dump_file(record, path, 0), 0);

    got = do_read(fx, "instance", NULL, st, &error);
    assert_int_equal(error, 0);
    assert_string_equal(str(got, "size"), "large");
    assert_string_equal(str(got, "id"), str(st, "id"));
    json_decref(got);
    json_decref(record);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_delete_removes_object_and_second_delete_is_notfound(void **state)
{
    fixture *fx = *state;
    int error;
    json_t *cfg = json_pack("{s:s, s:s}", "zone", "example.org.", "name", "*.app");
    json_t *st = create(fx, "dns_record", "dns_record.apps", TOKEN_A, cfg);
    json_t *out;

    assert_string_equal(str(st, "fqdn"), "*.app.example.org");
    out = do_apply(fx, "dns_record", "dns_record.apps", NULL, st, NULL, NULL, &error);
    assert_int_equal(error, 0);
    assert_null(out);
    assert_false(object_exists(fx, "dns_record", str(st, "id")));

    out = do_read(fx, "dns_record", NULL, st, &error);
    assert_int_equal(error, INFRA_ENOTFOUND);
    assert_null(out);
    out = do_apply(fx, "dns_record", "dns_record.apps", NULL, st, NULL, NULL, &error);
    assert_int_equal(error, INFRA_ENOTFOUND);

    char *log = calls_log(fx);
    assert_non_null(strstr(log, "delete dns_record.apps tp-0123456789abcdef\n"));
    assert_non_null(strstr(log, "delete dns_record.apps tp-0123456789abcdef missing\n"));
    free(log);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_read_without_state_finds_object_by_token(void **state)
{
    fixture *fx = *state;
    int error;
    json_t *cfg = json_pack("{s:s, s:s}", "network", "net-1", "allow", "22");
    json_t *st = create(fx, "firewall", "firewall.ssh", TOKEN_A, cfg);
    json_t *found = do_read(fx, "firewall", TOKEN_A, NULL, &error);

    assert_int_equal(error, 0);
    assert_true(json_equal(found, st));
    json_decref(found);
    found = do_read(fx, "firewall", TOKEN_B, NULL, &error);
    assert_int_equal(error, INFRA_ENOTFOUND);
    assert_null(found);
    /* a token sharing the id prefix is another create's, not this one's */
    found = do_read(fx, "firewall", "0123456789abcdef00000000000000ff", NULL, &error);
    assert_int_equal(error, INFRA_ENOTFOUND);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_import_reads_object_by_id(void **state)
{
    fixture *fx = *state;
    infra_call call;
    infra_json *out = NULL;
    diags d;
    json_t *cfg = json_pack("{s:s}", "cidr", "10.9.0.0/16");
    json_t *st = create(fx, "network", "network.old", TOKEN_B, cfg);

    call_setup(&call, "network.old", NULL, &d);
    assert_int_equal(ops->import(fx->prov, &call, "network", str(st, "id"), &out), 0);
    assert_true(json_equal(host_jansson(out), st));
    json_decref(host_jansson(out));
    out = NULL;
    assert_int_equal(ops->import(fx->prov, &call, "network", "tp-missing", &out), INFRA_ENOTFOUND);
    assert_int_equal(ops->import(fx->prov, &call, "network", "../calls", &out), INFRA_EINVALID);
    assert_true(diag_on(&d, "id"));
    host_call_clear(&call);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_plan_carries_computed_and_names_force_new_changes(void **state)
{
    fixture *fx = *state;
    infra_call call;
    infra_json *planned = NULL, *replace = NULL;
    json_t *prior = json_pack("{s:s, s:s, s:s}", "id", "tp-1", "cidr", "10.0.0.0/16", "name", "a");
    json_t *rename = json_pack("{s:s, s:s}", "cidr", "10.0.0.0/16", "name", "b");
    json_t *recidr = json_pack("{s:s, s:s}", "cidr", "10.1.0.0/16", "name", "a");

    call_setup(&call, "network.main", NULL, NULL);
    assert_int_equal(ops->plan(fx->prov, &call, "network", NULL, host_json(rename), &planned,
                               &replace), 0);
    assert_true(json_equal(host_jansson(planned), rename));
    assert_int_equal(json_array_size(host_jansson(replace)), 0);
    json_decref(host_jansson(planned));
    json_decref(host_jansson(replace));

    assert_int_equal(ops->plan(fx->prov, &call, "network", host_json(prior), host_json(rename),
                               &planned, &replace), 0);
    assert_string_equal(str(host_jansson(planned), "id"), "tp-1");
    assert_string_equal(str(host_jansson(planned), "name"), "b");
    assert_int_equal(json_array_size(host_jansson(replace)), 0);
    json_decref(host_jansson(planned));
    json_decref(host_jansson(replace));

    assert_int_equal(ops->plan(fx->prov, &call, "network", host_json(prior), host_json(recidr),
                               &planned, &replace), 0);
    assert_null(json_object_get(host_jansson(planned), "id")); /* unknown until replaced */
    assert_int_equal(json_array_size(host_jansson(replace)), 1);
    assert_string_equal(json_string_value(json_array_get(host_jansson(replace), 0)), "cidr");
    json_decref(host_jansson(planned));
    json_decref(host_jansson(replace));

    assert_int_equal(ops->plan(fx->prov, &call, "bucket", NULL, host_json(rename), &planned,
                               &replace), INFRA_ENOTSUP);
    host_call_clear(&call);
    json_decref(prior);
    json_decref(rename);
    json_decref(recidr);
}

static void write_image(const fixture *fx, const char *file, const char *text)
{
    char path[PATH_MAX];
    fx_path(fx, path, "catalog");
    mkdir(path, 0755);
    fx_path(fx, path, "catalog/images");
    mkdir(path, 0755);
    fx_path(fx, path, "catalog/images/%s", file);
    write_text(path, text);
}

static void test_testprov_image_lookup_picks_newest_match(void **state)
{
    fixture *fx = *state;
    int error;
    diags d;
    json_t *cfg = json_pack("{s:s}", "name", "nomad-host-*");
    json_t *none = json_pack("{s:s}", "name", "consul-*");
    json_t *st, *again;

    write_image(fx, "a.json",
                "{\"id\":\"img-1\",\"name\":\"nomad-host-1\",\"created\":\"2024-01-05T10:00:00Z\"}");
    write_image(fx, "b.json",
                "{\"id\":\"img-2\",\"name\":\"nomad-host-2\",\"created\":\"2024-03-01T10:00:00Z\"}");
    write_image(fx, "c.json",
                "{\"id\":\"img-3\",\"name\":\"other-3\",\"created\":\"2025-01-01T00:00:00Z\"}");
    write_image(fx, "d.json", "not json");

    st = do_apply(fx, "image", "image.nomad-host", NULL, NULL, cfg, NULL, &error);
    assert_int_equal(error, 0);
    assert_string_equal(str(st, "id"), "img-2");
    assert_string_equal(str(st, "image_name"), "nomad-host-2");
    assert_string_equal(str(st, "created"), "2024-03-01T10:00:00Z");
    assert_string_equal(str(st, "name"), "nomad-host-*");
    again = do_read(fx, "image", NULL, st, &error);
    assert_int_equal(error, 0);
    assert_true(json_equal(again, st));

    assert_null(do_apply(fx, "image", "image.consul", NULL, NULL, none, &d, &error));
    assert_int_equal(error, INFRA_ENOTFOUND);
    assert_true(diag_on(&d, "name"));

    /* a data source is never deleted, and no lookup counts as a mutation */
    assert_null(do_apply(fx, "image", "image.nomad-host", NULL, st, NULL, NULL, &error));
    assert_int_equal(error, 0);
    char *log = calls_log(fx);
    assert_int_equal(count_lines(log), 0);
    free(log);
    json_decref(again);
    json_decref(st);
    json_decref(cfg);
    json_decref(none);
}

static void test_testprov_fail_knobs_inject_permanent_and_transient_failures(void **state)
{
    fixture *fx = *state;
    int error;
    diags d;
    json_t *cfg = json_pack("{s:s}", "size", "small");
    json_t *st;

    assert_int_equal(configure(fx, json_pack("{s:[s], s:[s]}", "fail", "instance.bad",
                                             "fail_transient", "instance.flaky"), NULL), 0);
    assert_null(do_apply(fx, "instance", "instance.bad", TOKEN_A, NULL, cfg, &d, &error));
    assert_int_equal(error, INFRA_EINVALID);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.messages[0], "injected failure");
    assert_int_equal(count_objects(fx, "instance"), 0);
    assert_null(do_apply(fx, "instance", "instance.bad", TOKEN_A, NULL, cfg, &d, &error));
    assert_int_equal(error, INFRA_EINVALID);

    assert_null(do_apply(fx, "instance", "instance.flaky", TOKEN_B, NULL, cfg, &d, &error));
    assert_int_equal(error, INFRA_ETRANSIENT);
    st = do_apply(fx, "instance", "instance.flaky", TOKEN_B, NULL, cfg, &d, &error);
    assert_int_equal(error, 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(count_objects(fx, "instance"), 1);

    json_decref(st);
    st = create(fx, "instance", "instance.good", "good-token", cfg);
    char *log = calls_log(fx);
    assert_non_null(strstr(log, "create instance.bad tp-0123456789abcdef failed\n"));
    assert_non_null(strstr(log, "create instance.flaky tp-fedcba9876543210 transient\n"));
    assert_int_equal(count_lines(log), 5);
    free(log);
    json_decref(st);
    json_decref(cfg);
}

/* In a child: configure with crash_at=2, create two networks; returns how
 * the child ended. */
static int crash_child(fixture *fx, const char *when)
{
    pid_t pid = fork();
    int status = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        json_t *cfg = json_pack("{s:s}", "cidr", "10.0.0.0/16");
        int error;
        if (configure(fx, json_pack("{s:i, s:s}", "crash_at", 2, "crash_when", when), NULL) < 0)
            _exit(2);
        json_decref(do_apply(fx, "network", "network.a", TOKEN_A, NULL, cfg, NULL, &error));
        if (error < 0)
            _exit(3);
        json_decref(do_apply(fx, "network", "network.b", TOKEN_B, NULL, cfg, NULL, &error));
        _exit(4); /* the second create should never return */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void test_testprov_crash_at_after_kills_process_once_object_is_written(void **state)
{
    fixture *fx = *state;
    int status = crash_child(fx, "after");

    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_true(object_exists(fx, "network", "tp-0123456789abcdef"));
    assert_true(object_exists(fx, "network", "tp-fedcba9876543210"));
    char *log = calls_log(fx);
    assert_int_equal(count_lines(log), 2);
    free(log);

    /* the retried create adopts what the killed call made */
    json_t *cfg = json_pack("{s:s}", "cidr", "10.0.0.0/16");
    assert_int_equal(configure(fx, NULL, NULL), 0);
    json_t *st = create(fx, "network", "network.b", TOKEN_B, cfg);
    assert_string_equal(str(st, "id"), "tp-fedcba9876543210");
    assert_int_equal(count_objects(fx, "network"), 2);
    json_decref(st);
    json_decref(cfg);
}

static void test_testprov_crash_at_before_kills_process_before_object_is_written(void **state)
{
    fixture *fx = *state;
    int status = crash_child(fx, "before");

    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_true(object_exists(fx, "network", "tp-0123456789abcdef"));
    assert_false(object_exists(fx, "network", "tp-fedcba9876543210"));
    char *log = calls_log(fx);
    assert_int_equal(count_lines(log), 1);
    free(log);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void test_testprov_latency_knob_delays_apply_and_read(void **state)
{
    fixture *fx = *state;
    int error;
    json_t *cfg = json_pack("{s:s}", "cidr", "10.0.0.0/16");
    json_t *st, *got;
    double t0;

    assert_int_equal(configure(fx, json_pack("{s:i}", "latency_ms", 120), NULL), 0);
    t0 = now_ms();
    st = create(fx, "network", "network.slow", TOKEN_A, cfg);
    assert_true(now_ms() - t0 >= 119.0); /* the host clock counts whole milliseconds */
    t0 = now_ms();
    got = do_read(fx, "network", NULL, st, &error);
    assert_int_equal(error, 0);
    assert_true(now_ms() - t0 >= 119.0);
    json_decref(got);
    json_decref(st);
    json_decref(cfg);
}

typedef struct stop_job {
    fixture *fx;
    int error;
} stop_job;

static void *slow_create(void *arg)
{
    stop_job *job = arg;
    json_t *cfg = json_pack("{s:s}", "cidr", "10.0.0.0/16");
    json_decref(do_apply(job->fx, "network", "network.slow", TOKEN_A, NULL, cfg, NULL,
                         &job->error));
    json_decref(cfg);
    return NULL;
}

static void test_testprov_stop_cancels_call_sleeping_in_latency(void **state)
{
    fixture *fx = *state;
    stop_job job = {fx, 1};
    pthread_t th;

    /* a latency no test would wait for: only stop() can end the call */
    assert_int_equal(configure(fx, json_pack("{s:i}", "latency_ms", 600000), NULL), 0);
    assert_int_equal(pthread_create(&th, NULL, slow_create, &job), 0);
    usleep(50 * 1000);
    ops->stop(fx->prov);
    pthread_join(th, NULL);
    assert_int_equal(job.error, INFRA_ECANCELLED);
    assert_int_equal(count_objects(fx, "network"), 0);
}

#define THREADS 8
#define CREATES_PER_THREAD 25

typedef struct create_job {
    fixture *fx;
    int index;
    int failures;
} create_job;

static void *create_many(void *arg)
{
    create_job *job = arg;
    json_t *cfg = json_pack("{s:s}", "size", "small");
    for (int i = 0; i < CREATES_PER_THREAD; i++) {
        char token[33], address[64];
        int error;
        snprintf(token, sizeof(token), "%08x%08x0000000000000000", (unsigned)job->index & 0xffu,
                 (unsigned)i & 0xffu);
        snprintf(address, sizeof(address), "instance.t%d[%d]", job->index, i);
        json_t *st = do_apply(job->fx, "instance", address, token, NULL, cfg, NULL, &error);
        job->failures += error != 0 || st == NULL;
        json_decref(st);
    }
    json_decref(cfg);
    return NULL;
}

static void test_testprov_concurrent_creates_are_all_recorded(void **state)
{
    fixture *fx = *state;
    pthread_t th[THREADS];
    create_job jobs[THREADS];

    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (create_job){fx, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, create_many, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    assert_int_equal(count_objects(fx, "instance"), THREADS * CREATES_PER_THREAD);
    char *log = calls_log(fx);
    assert_int_equal(count_lines(log), THREADS * CREATES_PER_THREAD);
    assert_non_null(strstr(log, "create instance.t7[24] tp-0000000700000018\n"));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_testprov_descriptor_declares_test_provider_and_capabilities),
        cmocka_unit_test(test_testprov_schema_lists_every_type_with_attribute_flags),
        cmocka_unit_test(test_testprov_validate_reports_bad_cidr_and_size_on_their_paths),
        cmocka_unit_test(test_testprov_validate_unknown_type_is_notsup_with_diag),
#define FX(t, setup) cmocka_unit_test_setup_teardown(t, setup, fixture_teardown)
        FX(test_testprov_configure_requires_dir_and_checks_knobs, fixture_setup),
        FX(test_testprov_create_twice_with_same_token_returns_same_object,
           fixture_setup_configured),
        FX(test_testprov_create_with_different_tokens_makes_two_objects, fixture_setup_configured),
        FX(test_testprov_update_rewrites_object_and_read_returns_it, fixture_setup_configured),
        FX(test_testprov_read_shows_drift_after_object_file_is_edited, fixture_setup_configured),
        FX(test_testprov_delete_removes_object_and_second_delete_is_notfound,
           fixture_setup_configured),
        FX(test_testprov_read_without_state_finds_object_by_token, fixture_setup_configured),
        FX(test_testprov_import_reads_object_by_id, fixture_setup_configured),
        FX(test_testprov_plan_carries_computed_and_names_force_new_changes,
           fixture_setup_configured),
        FX(test_testprov_image_lookup_picks_newest_match, fixture_setup_configured),
        FX(test_testprov_fail_knobs_inject_permanent_and_transient_failures, fixture_setup),
        FX(test_testprov_crash_at_after_kills_process_once_object_is_written, fixture_setup),
        FX(test_testprov_crash_at_before_kills_process_before_object_is_written, fixture_setup),
        FX(test_testprov_latency_knob_delays_apply_and_read, fixture_setup),
        FX(test_testprov_stop_cancels_call_sleeping_in_latency, fixture_setup),
        FX(test_testprov_concurrent_creates_are_all_recorded, fixture_setup_configured),
#undef FX
    };
    return cmocka_run_group_tests(tests, load_plugin, unload_plugin);
}
