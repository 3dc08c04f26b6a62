/* hello: an example infra provider plugin, built outside the infra tree.
 *
 * It manages one resource type, "greeting": a text file NAME.txt holding
 * MESSAGE, under the directory given in the provider settings:
 *
 *   providers:
 *     greeter: { plugin: hello, directory: /tmp/greetings }
 *
 * It uses nothing from infra but <infra/plugin.h> and the host table it is
 * handed at load time: JSON values, diagnostics and logging all go through
 * the host. Files are ordinary C library calls. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <infra/plugin.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELLO_TYPE "greeting"

static const infra_host *host;

/* The provider context: configure() creates it, close() frees it. It is
 * never changed after configure(), which makes concurrent calls safe. */
struct infra_provider {
    char *directory;
};

static const char hello_schema_text[] =
    "{"
    " \"settings\": {"
    "  \"directory\": {\"type\": \"string\", \"required\": true,"
    "                  \"description\": \"directory the greeting files are written to\"}"
    " },"
    " \"resources\": {"
    "  \"greeting\": {\"attributes\": {"
    "   \"name\": {\"type\": \"string\", \"required\": true, \"force_new\": true,"
    "            \"description\": \"file name without .txt\"},"
    "   \"message\": {\"type\": \"string\", \"required\": true,"
    "               \"description\": \"text written to the file\"},"
    "   \"path\": {\"type\": \"string\", \"computed\": true,"
    "            \"description\": \"full path of the file\"}"
    "  }}"
    " }"
    "}";

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

/* Reports a problem at an attribute path; the host attaches it to the
 * topology line that set the attribute ("" = the whole resource). */
static void report(infra_call *call, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(infra_call *call, const char *attr, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    host->diag(call, INFRA_DIAG_ERROR, attr, message);
}

static const char *member_string(const infra_json *object, const char *key)
{
    return host->json->string(host->json->get(object, key));
}

/* Maps a failed file operation's errno to an infra error category. */
static int errno_category(int err)
{
    switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
        return INFRA_EAUTH;
    case ENOENT:
    case ENOTDIR:
        return INFRA_EINVALID;
    case ENOSPC:
    case EINTR:
    case EAGAIN:
        return INFRA_ETRANSIENT;
    default:
        return INFRA_EINTERNAL;
    }
}

/* DIRECTORY/NAME.txt in memory the plugin owns (free with free()). */
static char *greeting_path(const infra_provider *self, const char *name)
{
    size_t len = strlen(self->directory) + strlen(name) + sizeof("/.txt");
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/%s.txt", self->directory, name);
    return path;
}

/* Offline checks shared by validate() and plan(). */
static int check_greeting(infra_call *call, const char *type, const infra_json *config)
{
    if (strcmp(type, HELLO_TYPE) != 0) {
        report(call, "", "hello has no resource type \"%s\" (it has: " HELLO_TYPE ")", type);
        return INFRA_ENOTSUP;
    }
    const char *name = member_string(config, "name");
    if (!name || !*name) {
        report(call, "name", "must be a non-empty string");
        return INFRA_EINVALID;
    }
    if (strchr(name, '/') || name[0] == '.') {
        report(call, "name", "\"%s\": must not contain '/' or start with '.'", name);
        return INFRA_EINVALID;
    }
    if (!member_string(config, "message")) {
        report(call, "message", "must be a string");
        return INFRA_EINVALID;
    }
    return 0;
}

/* Writes the file through a temporary name and rename(), so a crash leaves
 * the old greeting or the new one, never half of one. */
static int write_greeting(infra_call *call, const char *path, const char *message)
{
    int error = 0;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof(".tmp"));
    FILE *f = NULL;

    if (!tmp)
        return INFRA_EINTERNAL;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", sizeof(".tmp"));
    if (!(f = fopen(tmp, "w"))) {
        error = errno_category(errno);
        report(call, "", "cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    fputs(message, f);
    int write_failed = ferror(f);
    if (fclose(f) != 0 || write_failed) {
        error = errno_category(errno);
        report(call, "", "cannot write %s: %s", tmp, strerror(errno));
        remove(tmp);
        goto done;
    }
    if (rename(tmp, path) < 0) {
        error = errno_category(errno);
        report(call, "", "cannot rename to %s: %s", path, strerror(errno));
        remove(tmp);
        goto done;
    }
done:
    free(tmp);
    return error;
}

/* The file's contents in *out (free with free()), or INFRA_ENOTFOUND. */
static int read_greeting(infra_call *call, const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0, cap = 0;

    *out = NULL;
    if (!f) {
        if (errno == ENOENT)
            return INFRA_ENOTFOUND;
        int error = errno_category(errno);
        report(call, "", "cannot read %s: %s", path, strerror(errno));
        return error;
    }
    for (;;) {
        if (cap - len < 256) {
            char *grown = realloc(text, cap = cap * 2 + 256);
            if (!grown) {
                free(text);
                fclose(f);
                return INFRA_EINTERNAL;
            }
            text = grown;
        }
        size_t n = fread(text + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    text[len] = '\0';
    *out = text;
    return 0;
}

/* A new state object { name, message, path } for the host. */
static infra_json *greeting_state(const char *name, const char *message, const char *path)
{
    const infra_json_api *js = host->json;
    infra_json *state = js->new_object();
    js->set(state, "name", js->new_string(name));
    js->set(state, "message", js->new_string(message));
    js->set(state, "path", js->new_string(path));
    return state;
}

/* ------------------------------------------------------------------ */
/* Provider operations                                                */

static int hello_schema(infra_call *call, infra_json **out)
{
    (void)call;
    *out = host->json->parse(hello_schema_text, sizeof(hello_schema_text) - 1);
    return *out ? 0 : INFRA_EINTERNAL;
}

static int hello_validate(infra_call *call, const char *type, const infra_json *config)
{
    return check_greeting(call, type, config);
}

static int hello_configure(infra_call *call, const infra_json *settings, infra_provider **out)
{
    const char *directory = member_string(settings, "directory");
    infra_provider *self = NULL;

    *out = NULL;
    if (!directory || !*directory) {
        report(call, "directory", "must be set to the directory for greeting files");
        return INFRA_EINVALID;
    }
    if (!(self = calloc(1, sizeof(*self))) || !(self->directory = strdup(directory))) {
        free(self);
        return INFRA_EINTERNAL;
    }
    *out = self;
    return 0;
}

static int hello_plan(infra_provider *self, infra_call *call, const char *type,
                      const infra_json *prior, const infra_json *desired, infra_json **planned,
                      infra_json **requires_replace)
{
    const infra_json_api *js = host->json;
    int error = 0;
    char *path = NULL;

    *planned = NULL;
    *requires_replace = NULL;
    if ((error = check_greeting(call, type, desired)) < 0)
        return error;
    const char *name = member_string(desired, "name");
    if (!(path = greeting_path(self, name)))
        return INFRA_EINTERNAL;

    *planned = greeting_state(name, member_string(desired, "message"), path);
    *requires_replace = js->new_array();
    /* A new name is a new file: the host deletes the old one and creates. */
    const char *prior_name = prior ? member_string(prior, "name") : NULL;
    if (prior_name && strcmp(prior_name, name) != 0)
        js->append(*requires_replace, js->new_string("name"));
    free(path);
    return 0;
}

static int hello_apply(infra_provider *self, infra_call *call, const char *type,
                       const infra_json *prior, const infra_json *planned, const void *private_in,
                       size_t private_in_len, infra_json **new_state, void **private_out,
                       size_t *private_out_len)
{
    int error = 0;
    char *path = NULL;

    /* hello keeps no private blob: everything is in the state. */
    (void)private_in;
    (void)private_in_len;

    *new_state = NULL;
    *private_out = NULL;
    *private_out_len = 0;

    if (!planned) {
        /* Delete. A file already gone is what was asked for: deleting twice
         * (after a crash, say) must succeed. */
        const char *name = member_string(prior, "name");
        if (!name || !(path = greeting_path(self, name)))
            return INFRA_EINTERNAL;
        if (remove(path) < 0 && errno != ENOENT) {
            error = errno_category(errno);
            report(call, "", "cannot delete %s: %s", path, strerror(errno));
        } else {
            host->log(call, INFRA_LOG_INFO, "deleted");
        }
        free(path);
        return error;
    }

    /* Create or update: writing the same file again is harmless, so a
     * retried create never makes a second object. */
    const char *name = member_string(planned, "name");
    const char *message = member_string(planned, "message");
    if ((error = check_greeting(call, type, planned)) < 0)
        return error;
    if (!(path = greeting_path(self, name)))
        return INFRA_EINTERNAL;
    if ((error = write_greeting(call, path, message)) == 0) {
        *new_state = greeting_state(name, message, path);
        host->log(call, INFRA_LOG_INFO, prior ? "updated" : "created");
    }
    free(path);
    return error;
}

static int hello_read(infra_provider *self, infra_call *call, const char *type,
                      const infra_json *state, const void *private_in, size_t private_in_len,
                      infra_json **out)
{
    int error = 0;
    char *path = NULL, *message = NULL;

    (void)type; /* the only type */
    (void)private_in;
    (void)private_in_len;
    *out = NULL;
    /* Without INFRA_CAP_READ_BY_TOKEN the host never asks this. */
    if (!state)
        return INFRA_ENOTSUP;
    const char *name = member_string(state, "name");
    if (!name || !(path = greeting_path(self, name)))
        return INFRA_EINTERNAL;
    if ((error = read_greeting(call, path, &message)) == 0)
        *out = greeting_state(name, message, path);
    free(message);
    free(path);
    return error;
}

static int hello_import(infra_provider *self, infra_call *call, const char *type, const char *id,
                        infra_json **out)
{
    int error = 0;
    char *path = NULL, *message = NULL;
    infra_json *config = NULL;

    *out = NULL;
    /* The id of a greeting is its name; check it like a configured one. */
    config = host->json->new_object();
    host->json->set(config, "name", host->json->new_string(id));
    host->json->set(config, "message", host->json->new_string(""));
    error = check_greeting(call, type, config);
    host->json->release(config);
    if (error < 0)
        return error;
    if (!(path = greeting_path(self, id)))
        return INFRA_EINTERNAL;
    if ((error = read_greeting(call, path, &message)) == 0)
        *out = greeting_state(id, message, path);
    else if (error == INFRA_ENOTFOUND)
        report(call, "", "no greeting file %s", path);
    free(message);
    free(path);
    return error;
}

static void hello_close(infra_provider *self)
{
    if (!self)
        return;
    free(self->directory);
    free(self);
}

/* ------------------------------------------------------------------ */
/* Descriptor and entry point                                         */

static const infra_provider_ops hello_ops = {
    .size = sizeof(infra_provider_ops), /* lets the host see which slots exist */
    .schema = hello_schema,
    .validate = hello_validate,
    .configure = hello_configure,
    .plan = hello_plan,
    .apply = hello_apply,
    .read = hello_read,
    .import = hello_import,
    /* upgrade_state: the state format has never changed; stop: every call is short */
    .close = hello_close,
};

static const infra_plugin hello_plugin = {
    INFRA_PLUGIN_MAGIC,
    INFRA_ABI_MAJOR,
    INFRA_ABI_MINOR,
    sizeof(infra_plugin),
    INFRA_PLUGIN_PROVIDER,
    "hello",
    "1.0.0",
    INFRA_BUILD_SIG_INIT,
    INFRA_CAP_IMPORT | INFRA_CAP_CONCURRENT,
    &hello_ops,
    NULL,
};

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *h, const infra_plugin **out)
{
    /* The host may be older or newer than the header this was built with:
     * use only slots it proves it has. */
    if (!INFRA_HAS_SLOT(h, diag) || !INFRA_HAS_SLOT(h, log) || !INFRA_HAS_SLOT(h, json))
        return INFRA_ENOTSUP;
    host = h;
    *out = &hello_plugin;
    return 0;
}
