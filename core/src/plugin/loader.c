/* Plugin loader: the checks between a shared object on disk and the engine
 * calling into it.
 *
 * The order of the checks is the point of this file. Ownership and
 * permissions are checked with stat() before dlopen(), so nothing from a
 * file that someone else could have written ever runs (constructors run
 * inside dlopen). The descriptor header (magic, ABI major, size) is checked
 * before any field past it is read, because a plugin of another ABI major
 * may lay the rest out differently. Then everything a first use would
 * trip on: tables too small for the ABI the plugin claims, operations its
 * kind cannot do without, an ABI minor newer than this infra's. Every
 * refusal is one line: the file, what it targets, what infra supports, and
 * what to change. */
#include "plugin/loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/host.h"
#include "base/file.h"
#include "base/util.h"

/* End of SLOT in TYPE: the least size a table must declare to hold it. */
#define END_OF(TYPE, SLOT) (offsetof(TYPE, SLOT) + sizeof(((TYPE *)0)->SLOT))

/* What infra needs of the descriptor: everything it had at ABI 1.0. This
 * stays frozen when slots are appended in a minor version, because a
 * plugin built against 1.0 must keep loading. */
#define DESC_MIN_SIZE END_OF(infra_plugin, scheduler)

/* The entry function as a C++ compiler names it when it is not declared
 * extern "C": the Itanium mangling of
 * infra_plugin_entry(const infra_host *, const infra_plugin **). */
#define ENTRY_SYMBOL_CXX "_Z18infra_plugin_entryPK10infra_hostPPK12infra_plugin"

/* A plugin's own copies of the host table and of every service table it
 * points to: a plugin that writes through its pointers (a swapped
 * parameter, a stray store) spoils only its own copy, never the table the
 * next plugin or infra itself reads. */
struct loader_host_copy {
    infra_host host;
    infra_json_api json;
    infra_http_api http;
    infra_ssh_api ssh;
    infra_secret_api secrets;
};

const char *loader_kind_name(int kind)
{
    switch (kind) {
    case INFRA_PLUGIN_PROVIDER:
        return "provider";
    case INFRA_PLUGIN_SCHEDULER:
        return "scheduler";
    default:
        return "unknown";
    }
}

static const char *error_name(int code)
{
    static const char *const names[] = {
        "INFRA_OK",         "INFRA_ENOTFOUND", "INFRA_EAUTH",
        "INFRA_ETRANSIENT", "INFRA_ECONFLICT", "INFRA_EINVALID",
        "INFRA_ENOTSUP",    "INFRA_EINTERNAL", "INFRA_ECANCELLED",
    };
    if (code <= 0 && -code < (int)(sizeof(names) / sizeof(names[0])))
        return names[-code];
    return "an unknown code";
}

/* Sets *err to "PATH: refused: WHY" and returns code. */
static int refuse(char **err, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse(char **err, int code, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = util_vprintf(fmt, ap);
    va_end(ap);
    *err = util_printf("%s: refused: %s", path, why);
    free(why);
    return code;
}

/* ------------------------------------------------------------------ */
/* Ownership and permissions                                          */

/* 1 when uid may own a plugin or a directory holding one: root, the user
 * running infra, and under sudo the user who ran sudo (a developer's build
 * tree), as sudo and ssh trust only files of root and of the user. */
static int trusted_owner(uid_t uid)
{
    if (uid == 0 || uid == geteuid())
        return 1;
    const char *sudo = geteuid() == 0 ? getenv("SUDO_UID") : NULL;
    if (sudo && *sudo) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(sudo, &end, 10);
        if (!errno && !*end && v == (unsigned long long)uid)
            return 1;
    }
    return 0;
}

/* Refuses a directory holding a plugin that someone but root or the user
 * could add files to or rename files in. */
static int check_dir_permissions(const char *path, const char *dir, char **err)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        int saved = errno;
        return refuse(err, INFRA_EINVALID, path, "cannot read directory %s: %s", dir,
                      strerror(saved));
    }
    if (!trusted_owner(st.st_uid))
        return refuse(err, INFRA_EAUTH, path,
                      "directory %s is owned by uid %u, not by root or the user running infra "
                      "(uid %u); run chown %u %s",
                      dir, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), dir);
    if (st.st_mode & S_IWOTH)
        return refuse(err, INFRA_EAUTH, path,
                      "directory %s is writable by others (mode %04o); run chmod o-w %s", dir,
                      (unsigned)(st.st_mode & 07777), dir);
    if (st.st_mode & S_IWGRP)
        return refuse(err, INFRA_EAUTH, path,
                      "directory %s is writable by its group (mode %04o); run chmod g-w %s", dir,
                      (unsigned)(st.st_mode & 07777), dir);
    return 0;
}

/* Refuses a file that is not a regular file, or that someone but root or
 * the user could replace or rewrite: the file itself or its directory
 * owned by another user, or writable by its group or by others. Through a
 * symbolic link, the directory holding the real file counts too. */
static int check_permissions(const char *path, char **err)
{
    int error = 0;
    char *dir = NULL, *real = NULL, *real_dir = NULL;
    struct stat st;

    if (stat(path, &st) < 0) {
        int saved = errno;
        error = refuse(err, saved == ENOENT ? INFRA_ENOTFOUND : INFRA_EINVALID, path,
                       "cannot read: %s", strerror(saved));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        error = refuse(err, INFRA_EINVALID, path, "not a regular file");
        goto done;
    }
    if (!trusted_owner(st.st_uid)) {
        error = refuse(err, INFRA_EAUTH, path,
                       "owned by uid %u, not by root or the user running infra (uid %u); run "
                       "chown %u %s",
                       (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
        goto done;
    }
    if (st.st_mode & S_IWOTH) {
        error = refuse(err, INFRA_EAUTH, path, "writable by others (mode %04o); run chmod o-w %s",
                       (unsigned)(st.st_mode & 07777), path);
        goto done;
    }
    if (st.st_mode & S_IWGRP) {
        error =
            refuse(err, INFRA_EAUTH, path, "writable by its group (mode %04o); run chmod g-w %s",
                   (unsigned)(st.st_mode & 07777), path);
        goto done;
    }
    dir = util_dir_of(path);
    if ((error = check_dir_permissions(path, dir, err)) < 0)
        goto done;
    if ((real = realpath(path, NULL)) != NULL) {
        real_dir = util_dir_of(real);
        if ((error = check_dir_permissions(path, real_dir, err)) < 0)
            goto done;
    }
done:
    free(real_dir);
    free(real);
    free(dir);
    return error;
}

/* ------------------------------------------------------------------ */
/* The descriptor                                                     */

/* The least size an ops table of a plugin targeting ABI 1.minor declares:
 * what the table held at that minor (a table compiled against that
 * header is never smaller). Minors newer than infra's count as infra's. */
static size_t provider_ops_min(unsigned minor)
{
    return minor >= 2 ? END_OF(infra_provider_ops, read_many) : END_OF(infra_provider_ops, close);
}

static size_t scheduler_ops_min(unsigned minor)
{
    return minor >= 1 ? END_OF(infra_scheduler_ops, cluster_status)
                      : END_OF(infra_scheduler_ops, close);
}

/* Appends name to the list of missing operations in b. */
static void note_missing(util_buf *b, int present, const char *name)
{
    if (!present)
        util_buf_printf(b, "%s%s", b->len ? ", " : "", name);
}

/* The operations the engine calls on every plugin of a kind without
 * checking first (the others it probes with INFRA_HAS_SLOT): a provider
 * is read, planned and applied on every run; a scheduler configured, its
 * nodes bootstrapped. The minimum size check has made each slot readable. */
static int check_required_ops(const char *path, const infra_plugin *d, char **err)
{
    util_buf missing = {0};
    const char *needs;
    if (d->kind == INFRA_PLUGIN_PROVIDER) {
        const infra_provider_ops *o = d->provider;
        note_missing(&missing, o->schema != NULL, "schema");
        note_missing(&missing, o->configure != NULL, "configure");
        note_missing(&missing, o->plan != NULL, "plan");
        note_missing(&missing, o->apply != NULL, "apply");
        note_missing(&missing, o->read != NULL, "read");
        note_missing(&missing, o->close != NULL, "close");
        needs = "schema, configure, plan, apply, read and close";
    } else {
        const infra_scheduler_ops *o = d->scheduler;
        note_missing(&missing, o->configure != NULL, "configure");
        note_missing(&missing, o->node_bootstrap != NULL, "node_bootstrap");
        note_missing(&missing, o->close != NULL, "close");
        needs = "configure, node_bootstrap and close";
    }
    if (!missing.len)
        return 0;
    int error = refuse(err, INFRA_EINVALID, path,
                       "plugin \"%s\" is a %s without %s (a %s needs %s; set them in its %s "
                       "ops table)",
                       d->name, loader_kind_name(d->kind), missing.data, loader_kind_name(d->kind),
                       needs, loader_kind_name(d->kind));
    util_buf_free(&missing);
    return error;
}

/* The ops table of d's kind: present, sized, large enough for the ABI the
 * plugin claims, holding what its kind needs. */
static int check_ops(const char *path, const infra_plugin *d, char **err)
{
    const char *kind = loader_kind_name(d->kind);
    const char *type = NULL;
    size_t size = 0, min = 0;
    int present = 0;
    unsigned minor = d->abi_minor > INFRA_ABI_MINOR ? INFRA_ABI_MINOR : d->abi_minor;

    if (d->kind == INFRA_PLUGIN_PROVIDER) {
        present = d->provider != NULL;
        size = present ? d->provider->size : 0;
        min = provider_ops_min(minor);
        type = "infra_provider_ops";
    } else if (d->kind == INFRA_PLUGIN_SCHEDULER) {
        present = d->scheduler != NULL;
        size = present ? d->scheduler->size : 0;
        min = scheduler_ops_min(minor);
        type = "infra_scheduler_ops";
    } else {
        return refuse(err, INFRA_ENOTSUP, path,
                      "plugin \"%s\" has unknown kind %d (this infra supports %d = provider, "
                      "%d = scheduler)",
                      d->name, d->kind, INFRA_PLUGIN_PROVIDER, INFRA_PLUGIN_SCHEDULER);
    }
    if (!present)
        return refuse(err, INFRA_EINVALID, path, "plugin \"%s\" is a %s but has no %s ops table",
                      d->name, kind, kind);
    if (size == 0)
        return refuse(err, INFRA_EINVALID, path,
                      "plugin \"%s\" has a %s ops table of size 0 (set its first field to "
                      "sizeof(%s))",
                      d->name, kind, type);
    if (size < min)
        return refuse(err, INFRA_ENOTSUP, path,
                      "table too small: %s ops size %zu, infra needs at least %zu (plugin "
                      "targets ABI %u.%u, this infra supports ABI %d.x)",
                      kind, size, min, (unsigned)d->abi_major, (unsigned)d->abi_minor,
                      INFRA_ABI_MAJOR);
    return check_required_ops(path, d, err);
}

static int check_descriptor(const char *path, const infra_plugin *d, int expected_kind, char **err)
{
    static const infra_build_sig ours = INFRA_BUILD_SIG_INIT;
    int error = 0;

    if (d->magic != INFRA_PLUGIN_MAGIC)
        return refuse(err, INFRA_EINVALID, path,
                      "bad magic 0x%08" PRIx32 ", expected 0x%08x (not an infra plugin descriptor)",
                      d->magic, INFRA_PLUGIN_MAGIC);
    if (d->abi_major != INFRA_ABI_MAJOR)
        return refuse(err, INFRA_ENOTSUP, path,
                      "plugin targets ABI %u.%u, this infra supports ABI %d.x (rebuild it "
                      "against infra %s's plugin.h)",
                      (unsigned)d->abi_major, (unsigned)d->abi_minor, INFRA_ABI_MAJOR,
                      INFRA_VERSION);
    if (d->size < DESC_MIN_SIZE)
        return refuse(err, INFRA_ENOTSUP, path,
                      "table too small: descriptor size %zu, infra needs at least %zu (plugin "
                      "targets ABI %u.%u, this infra supports ABI %d.x)",
                      d->size, (size_t)DESC_MIN_SIZE, (unsigned)d->abi_major,
                      (unsigned)d->abi_minor, INFRA_ABI_MAJOR);
    if (d->build.pointer_size != ours.pointer_size || d->build.size_t_size != ours.size_t_size ||
        d->build.time_t_size != ours.time_t_size)
        return refuse(err, INFRA_ENOTSUP, path,
                      "build signature mismatch: plugin has pointer %u, size_t %u, time_t %u "
                      "bytes; this infra has pointer %u, size_t %u, time_t %u (rebuild it with "
                      "the same compiler settings)",
                      d->build.pointer_size, d->build.size_t_size, d->build.time_t_size,
                      ours.pointer_size, ours.size_t_size, ours.time_t_size);
    if (!d->name || !*d->name)
        return refuse(err, INFRA_EINVALID, path, "descriptor has no name");
    if (!d->version || !*d->version)
        return refuse(err, INFRA_EINVALID, path, "plugin \"%s\" has no version", d->name);
    /* A plugin built against a newer minor may call host slots this infra
     * does not have; only one that checks each slot first can run here. */
    if (d->abi_minor > INFRA_ABI_MINOR && !(d->capabilities & INFRA_CAP_HOST_SLOTS_CHECKED))
        return refuse(err, INFRA_ENOTSUP, path,
                      "plugin targets ABI %u.%u, newer than this infra's ABI %d.%d (rebuild it "
                      "against infra %s's plugin.h, or set INFRA_CAP_HOST_SLOTS_CHECKED once it "
                      "checks every host slot it uses with INFRA_HAS_SLOT)",
                      (unsigned)d->abi_major, (unsigned)d->abi_minor, INFRA_ABI_MAJOR,
                      INFRA_ABI_MINOR, INFRA_VERSION);
    if ((error = check_ops(path, d, err)) < 0)
        return error;
    if (expected_kind && d->kind != expected_kind)
        return refuse(err, INFRA_EINVALID, path, "plugin \"%s\" is a %s, expected a %s", d->name,
                      loader_kind_name(d->kind), loader_kind_name(expected_kind));
    return 0;
}

/* ------------------------------------------------------------------ */
/* Loading                                                            */

/* Copies table (of its own size) into copy and returns copy, or NULL for NULL. */
#define COPY_TABLE(copy, table) ((table) ? (memcpy(&(copy), (table), sizeof(copy)), &(copy)) : NULL)

static loader_host_copy *host_copy_new(void)
{
    loader_host_copy *c = util_calloc(1, sizeof(*c));
    const infra_host *h = host_table();
    c->host = *h;
    c->host.json = COPY_TABLE(c->json, h->json);
    c->host.http = COPY_TABLE(c->http, h->http);
    c->host.ssh = COPY_TABLE(c->ssh, h->ssh);
    c->host.secrets = COPY_TABLE(c->secrets, h->secrets);
    return c;
}

/* dlerror() text usually starts with the path again; the refusal line
 * already names the file. */
static const char *without_path(const char *text, const char *path)
{
    size_t n = strlen(path);
    if (!text)
        return "unknown error";
    if (strncmp(text, path, n) == 0 && text[n] == ':' && text[n + 1] == ' ')
        return text + n + 2;
    return text;
}

/* The refusal for an object without the entry symbol: a C++ definition
 * without extern "C" has the right signature under a mangled name. */
static int refuse_no_entry(void *handle, const char *path, char **err)
{
    if (dlsym(handle, ENTRY_SYMBOL_CXX))
        return refuse(err, INFRA_EINVALID, path,
                      "no entry symbol \"%s\", but a C++ function infra_plugin_entry(const "
                      "infra_host *, const infra_plugin **) without C linkage (declare it "
                      "extern \"C\", as <infra/plugin.h> does unless "
                      "INFRA_PLUGIN_NO_ENTRY_DECLARATION is defined)",
                      INFRA_PLUGIN_ENTRY_SYMBOL);
    return refuse(err, INFRA_EINVALID, path,
                  "no entry symbol \"%s\" (this infra loads plugins that export it with "
                  "INFRA_PLUGIN_EXPORT)",
                  INFRA_PLUGIN_ENTRY_SYMBOL);
}

int loader_load_file(const char *path, int expected_kind, loader_plugin *out, char **err)
{
    int error = 0;
    void *handle = NULL;
    const infra_plugin *desc = NULL;
    infra_plugin_entry_fn entry;
    loader_host_copy *host = NULL;
    char *bare = NULL;

    memset(out, 0, sizeof(*out));
    *err = NULL;
    if ((error = check_permissions(path, err)) < 0)
        goto done;

    /* A bare "x.so" would send dlopen() through the library search path
     * instead of the file that was just checked. */
    if (!strchr(path, '/'))
        bare = util_printf("./%s", path);
    dlerror();
    handle = dlopen(bare ? bare : path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        error = refuse(err, INFRA_EINVALID, path, "cannot load: %s",
                       without_path(dlerror(), bare ? bare : path));
        goto done;
    }
    void *symbol = dlsym(handle, INFRA_PLUGIN_ENTRY_SYMBOL);
    if (!symbol) {
        error = refuse_no_entry(handle, path, err);
        goto done;
    }
    /* POSIX guarantees a function pointer survives the trip through void *. */
    entry = (infra_plugin_entry_fn)symbol;
    host = host_copy_new();
    int rc = entry(&host->host, &desc);
    if (rc != 0) {
        error = refuse(err, rc < 0 && rc >= INFRA_ECANCELLED ? rc : INFRA_EINTERNAL, path,
                       "entry function failed with %s (%d)", error_name(rc), rc);
        goto done;
    }
    if (!desc) {
        error = refuse(err, INFRA_EINTERNAL, path, "entry function returned no descriptor");
        goto done;
    }
    if ((error = check_descriptor(path, desc, expected_kind, err)) < 0)
        goto done;

    out->path = util_strdup(path);
    out->handle = handle;
    out->desc = desc;
    out->host = host;
    handle = NULL;
    host = NULL;
done:
    if (handle)
        dlclose(handle);
    free(host); /* after dlclose: the plugin may hold the pointer until then */
    free(bare);
    return error;
}

void loader_plugin_unload(loader_plugin *p)
{
    if (!p)
        return;
    if (p->handle)
        dlclose(p->handle);
    free(p->host);
    free(p->path);
    memset(p, 0, sizeof(*p));
}
