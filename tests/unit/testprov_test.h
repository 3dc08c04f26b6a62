/* What the tests of the "test" provider plugin share: the plugin loaded
 * from the build tree with dlopen as the engine does, a fixture directory
 * per test, a provider configured on it, calls with their diagnostics, and
 * the objects and calls.log the provider leaves on disk.
 *
 * Include after cmocka.h, in one test file per executable. */
#ifndef TESTPROV_TEST_H
#define TESTPROV_TEST_H

#include <dirent.h>
#include <dlfcn.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static inline void collect_diag(void *ud, infra_call *call, int severity, const char *attr_path,
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

static inline int diag_on(const diags *d, const char *path)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->paths[i], path) == 0)
            return 1;
    return 0;
}

static inline void call_setup(infra_call *call, const char *address, const char *token, diags *d)
{
    host_call_init(call, address, "test");
    call->token = token;
    if (d != NULL) {
        memset(d, 0, sizeof(*d));
        call->diag = collect_diag;
        call->diag_ud = d;
    }
}

static inline int load_plugin(void **state)
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

static inline int unload_plugin(void **state)
{
    (void)state;
    if (plugin_handle != NULL)
        dlclose(plugin_handle);
    return 0;
}

/* Configures a provider on fx->dir with extra settings (taken, may be NULL). */
static inline int configure(fixture *fx, json_t *extra, diags *d)
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

static inline int fixture_setup(void **state)
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

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline int fixture_teardown(void **state)
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
static inline int fixture_setup_configured(void **state)
{
    if (fixture_setup(state) < 0)
        return -1;
    return configure(*state, NULL, NULL);
}

static inline json_t *do_apply(fixture *fx, const char *type, const char *address,
                               const char *token, json_t *prior, json_t *planned, diags *d,
                               int *error)
{
    infra_call call;
    infra_json *out = NULL;
    void *priv = NULL;
    size_t priv_len = 0;

    call_setup(&call, address, token, d);
    *error = ops->apply(fx->prov, &call, type, host_json(prior), host_json(planned), NULL, 0, &out,
                        &priv, &priv_len);
    host_call_clear(&call);
    assert_null(priv);
    return host_jansson(out);
}

static inline json_t *do_read(fixture *fx, const char *type, const char *token, json_t *st,
                              int *error)
{
    infra_call call;
    infra_json *out = NULL;

    call_setup(&call, "x.y", token, NULL);
    *error = ops->read(fx->prov, &call, type, host_json(st), NULL, 0, &out);
    host_call_clear(&call);
    return host_jansson(out);
}

static inline json_t *create(fixture *fx, const char *type, const char *address, const char *token,
                             json_t *planned)
{
    int error;
    json_t *st = do_apply(fx, type, address, token, NULL, planned, NULL, &error);
    assert_int_equal(error, 0);
    assert_non_null(st);
    return st;
}

/* out (PATH_MAX bytes) = fx->dir + "/" + the formatted rest. */
static inline void fx_path(const fixture *fx, char *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void fx_path(const fixture *fx, char *out, const char *fmt, ...)
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

static inline int count_objects(const fixture *fx, const char *type)
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

static inline int object_exists(const fixture *fx, const char *type, const char *id)
{
    char path[PATH_MAX];
    fx_path(fx, path, "%s/%s.json", type, id);
    return access(path, F_OK) == 0;
}

static inline char *calls_log(const fixture *fx)
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

static inline int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static inline void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static inline const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

#endif
