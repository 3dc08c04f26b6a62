/* The "test" provider plugin: descriptor, entry point and the lifetime of
 * a provider context. Objects live as JSON files in a directory (see
 * testprov_store.c); knobs inject latency, failures and crashes (see
 * testprov_knobs.c). Used by the engine's tests, crash tests and benchmark. */
#include "testprov.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void provider_free(infra_provider *p)
{
    if (p == NULL)
        return;
    if (p->calls_fd >= 0)
        close(p->calls_fd);
    testprov_knobs_free(&p->knobs);
    free(p->dir);
    free(p);
}

static int testprov_configure(infra_call *call, const infra_json *settings, infra_provider **out)
{
    int error = 0;
    infra_provider *p = NULL;
    const char *dir = pu_json_str(settings, "dir");
    char *log_path = NULL;

    if (settings != NULL && TPJ->type(settings) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "", "the test provider's settings must be a map");
        return INFRA_EINVALID;
    }
    if (dir == NULL || dir[0] == '\0') {
        pu_diagf(call, "dir", "the test provider needs \"dir\": where its objects live");
        return INFRA_EINVALID;
    }
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return INFRA_EINTERNAL;
    p->calls_fd = -1;
    atomic_init(&p->stopped, 0);
    if ((error = testprov_knobs_parse(call, settings, &p->knobs)) < 0)
        goto done;
    if ((p->dir = strdup(dir)) == NULL || (log_path = testprov_printf("%s/calls.log", dir)) == NULL) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    if (testprov_mkdirs(dir) < 0) {
        pu_diagf(call, "dir", "cannot create directory %s", dir);
        error = INFRA_EINVALID;
        goto done;
    }
    p->calls_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (p->calls_fd < 0) {
        pu_diagf(call, "dir", "cannot open %s", log_path);
        error = INFRA_EINVALID;
        goto done;
    }
    *out = p;
    p = NULL;
done:
    free(log_path);
    provider_free(p);
    return error;
}

static void testprov_stop(infra_provider *self)
{
    atomic_store(&self->stopped, 1);
}

static void testprov_close(infra_provider *self)
{
    provider_free(self);
}

#ifdef TESTPROV_BASIC
/* The "test-basic" variant has none of the optional capabilities and
 * slots: not INFRA_CAP_CONCURRENT (the host must never have two of its
 * calls running at once, whatever provider block they are for: each op
 * counts the calls inside the plugin and logs "overlap ADDRESS OP" to
 * calls.log when it finds another one there), no TOKEN_CREATE, no
 * READ_BY_TOKEN, no import, no read_many, no upgrade_state. */
static atomic_int serial_inside;

static void serial_enter(infra_provider *p, infra_call *call, const char *op)
{
    if (atomic_fetch_add(&serial_inside, 1) > 0 && p != NULL)
        testprov_calls_log(p, "overlap", pu_host->call_address(call), op, NULL);
}

static void serial_leave(void)
{
    atomic_fetch_sub(&serial_inside, 1);
}

static int serial_configure(infra_call *call, const infra_json *settings, infra_provider **out)
{
    serial_enter(NULL, call, "configure");
    int error = testprov_configure(call, settings, out);
    serial_leave();
    return error;
}

static int serial_plan(infra_provider *self, infra_call *call, const char *type,
                       const infra_json *prior, const infra_json *desired, infra_json **planned,
                       infra_json **requires_replace)
{
    serial_enter(self, call, "plan");
    int error = testprov_plan(self, call, type, prior, desired, planned, requires_replace);
    serial_leave();
    return error;
}

static int serial_apply(infra_provider *self, infra_call *call, const char *type,
                        const infra_json *prior, const infra_json *planned,
                        const void *private_in, size_t private_in_len, infra_json **new_state,
                        void **private_out, size_t *private_out_len)
{
    serial_enter(self, call, "apply");
    int error = testprov_apply(self, call, type, prior, planned, private_in, private_in_len,
                               new_state, private_out, private_out_len);
    serial_leave();
    return error;
}

static int serial_read(infra_provider *self, infra_call *call, const char *type,
                       const infra_json *state, const void *private_in, size_t private_in_len,
                       infra_json **out)
{
    serial_enter(self, call, "read");
    int error = testprov_read(self, call, type, state, private_in, private_in_len, out);
    serial_leave();
    return error;
}

#define TESTPROV_NAME "test-basic"
#define TESTPROV_CAPS 0u
#define TESTPROV_IMPORT NULL
#define TESTPROV_UPGRADE_STATE NULL
#define TESTPROV_READ_MANY NULL
#define TESTPROV_CONFIGURE serial_configure
#define TESTPROV_PLAN serial_plan
#define TESTPROV_APPLY serial_apply
#define TESTPROV_READ serial_read
#else
#define TESTPROV_NAME "test"
#define TESTPROV_CAPS                                                                             \
    (INFRA_CAP_CONCURRENT | INFRA_CAP_TOKEN_CREATE | INFRA_CAP_READ_BY_TOKEN | INFRA_CAP_IMPORT)
#define TESTPROV_CONFIGURE testprov_configure
#define TESTPROV_PLAN testprov_plan
#define TESTPROV_APPLY testprov_apply
#define TESTPROV_READ testprov_read
#define TESTPROV_IMPORT testprov_import
#define TESTPROV_UPGRADE_STATE testprov_upgrade_state
#define TESTPROV_READ_MANY testprov_read_many
#endif

static const infra_provider_ops testprov_ops = {
    .size = sizeof(infra_provider_ops),
    .schema = testprov_schema,
    .validate = testprov_validate,
    .configure = TESTPROV_CONFIGURE,
    .plan = TESTPROV_PLAN,
    .apply = TESTPROV_APPLY,
    .read = TESTPROV_READ,
    .import = TESTPROV_IMPORT,
    .upgrade_state = TESTPROV_UPGRADE_STATE,
    .stop = testprov_stop,
    .close = testprov_close,
    .read_many = TESTPROV_READ_MANY,
};

static const infra_plugin testprov_plugin = {
    .magic = INFRA_PLUGIN_MAGIC,
    .abi_major = INFRA_ABI_MAJOR,
    .abi_minor = INFRA_ABI_MINOR,
    .size = sizeof(infra_plugin),
    .kind = INFRA_PLUGIN_PROVIDER,
    .name = TESTPROV_NAME,
    .version = "1.0.0",
    .build = INFRA_BUILD_SIG_INIT,
    .capabilities = TESTPROV_CAPS,
    .provider = &testprov_ops,
    .scheduler = NULL,
};

/* Every host service the provider calls must be present. */
static int host_usable(const infra_host *host)
{
    const infra_json_api *json;

    if (host == NULL || host->abi_major != INFRA_ABI_MAJOR)
        return 0;
    if (!INFRA_HAS_SLOT(host, free) || !INFRA_HAS_SLOT(host, log) ||
        !INFRA_HAS_SLOT(host, diag) || !INFRA_HAS_SLOT(host, call_address) ||
        !INFRA_HAS_SLOT(host, call_token) || !INFRA_HAS_SLOT(host, sleep_ms) ||
        !INFRA_HAS_SLOT(host, now_ms) ||
        !INFRA_HAS_SLOT(host, json))
        return 0;
    json = host->json;
    return json->size >= offsetof(infra_json_api, equal) + sizeof(json->equal) &&
           json->parse && json->dump && json->release && json->type && json->get &&
           json->length && json->at && json->string && json->integer && json->real &&
           json->new_object && json->new_array && json->new_string && json->new_bool &&
           json->new_null && json->set && json->append && json->copy && json->equal;
}

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out)
{
    if (out == NULL || !host_usable(host))
        return INFRA_ENOTSUP;
    pu_init(host, "test provider");
    *out = &testprov_plugin;
    return 0;
}
