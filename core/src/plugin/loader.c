/* Plugin loader: the checks between a shared object on disk and the engine
 * calling into it.
 *
 * The order of the checks is the point of this file. Permissions are checked
 * with stat() before dlopen(), so nothing from a file that others could have
 * written ever runs (constructors run inside dlopen). The descriptor header
 * (magic, ABI major, size) is checked before any field past it is read,
 * because a plugin of another ABI major may lay the rest out differently.
 * Every refusal is one line: the file, what it targets, what infra supports. */
#include "plugin/loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plugin/host.h"
#include "base/file.h"
#include "base/util.h"

/* End of SLOT in TYPE: the least size a table must declare to hold it. */
#define END_OF(TYPE, SLOT) (offsetof(TYPE, SLOT) + sizeof(((TYPE *)0)->SLOT))

/* What infra needs of each table: everything it had at ABI 1.0. These stay
 * frozen when slots are appended in a minor version, because a plugin built
 * against 1.0 must keep loading; newer slots are probed with INFRA_HAS_SLOT. */
#define DESC_MIN_SIZE END_OF(infra_plugin, scheduler)
#define PROVIDER_OPS_MIN_SIZE END_OF(infra_provider_ops, close)
#define SCHEDULER_OPS_MIN_SIZE END_OF(infra_scheduler_ops, close)

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

static int check_dir_permissions(const char *path, const char *dir, char **err)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        int saved = errno;
        return refuse(err, INFRA_EINVALID, path, "cannot read directory %s: %s", dir,
                      strerror(saved));
    }
    if (st.st_mode & S_IWOTH)
        return refuse(err, INFRA_EAUTH, path,
                      "directory %s is writable by others (mode %04o); run chmod o-w %s", dir,
                      (unsigned)(st.st_mode & 07777), dir);
    return 0;
}

/* Refuses a file that is not a regular file, or that others could replace
 * or rewrite: the file itself or its directory writable by others. Through a
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
    if (st.st_mode & S_IWOTH) {
        error = refuse(err, INFRA_EAUTH, path, "writable by others (mode %04o); run chmod o-w %s",
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

/* The ops table of d's kind, with its size and the minimum infra needs. */
static int check_ops(const char *path, const infra_plugin *d, char **err)
{
    const char *kind = loader_kind_name(d->kind);
    size_t size = 0, min = 0;
    int present = 0;

    if (d->kind == INFRA_PLUGIN_PROVIDER) {
        present = d->provider != NULL;
        size = present ? d->provider->size : 0;
        min = PROVIDER_OPS_MIN_SIZE;
    } else if (d->kind == INFRA_PLUGIN_SCHEDULER) {
        present = d->scheduler != NULL;
        size = present ? d->scheduler->size : 0;
        min = SCHEDULER_OPS_MIN_SIZE;
    } else {
        return refuse(err, INFRA_ENOTSUP, path,
                      "plugin \"%s\" has unknown kind %d (this infra supports %d = provider, "
                      "%d = scheduler)",
                      d->name, d->kind, INFRA_PLUGIN_PROVIDER, INFRA_PLUGIN_SCHEDULER);
    }
    if (!present)
        return refuse(err, INFRA_EINVALID, path, "plugin \"%s\" is a %s but has no %s ops table",
                      d->name, kind, kind);
    if (size < min)
        return refuse(err, INFRA_ENOTSUP, path,
                      "table too small: %s ops size %zu, infra needs at least %zu (plugin "
                      "targets ABI %u.%u, this infra supports ABI %d.x)",
                      kind, size, min, (unsigned)d->abi_major, (unsigned)d->abi_minor,
                      INFRA_ABI_MAJOR);
    return 0;
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
    if ((error = check_ops(path, d, err)) < 0)
        return error;
    if (expected_kind && d->kind != expected_kind)
        return refuse(err, INFRA_EINVALID, path, "plugin \"%s\" is a %s, expected a %s", d->name,
                      loader_kind_name(d->kind), loader_kind_name(expected_kind));
    return 0;
}

int loader_load_file(const char *path, int expected_kind, loader_plugin *out, char **err)
{
    int error = 0;
    void *handle = NULL;
    const infra_plugin *desc = NULL;
    infra_plugin_entry_fn entry;
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
        error = refuse(err, INFRA_EINVALID, path,
                       "no entry symbol \"%s\" (this infra loads plugins that export it with "
                       "INFRA_PLUGIN_EXPORT)",
                       INFRA_PLUGIN_ENTRY_SYMBOL);
        goto done;
    }
    /* POSIX guarantees a function pointer survives the trip through void *. */
    entry = (infra_plugin_entry_fn)symbol;
    int rc = entry(host_table(), &desc);
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
    handle = NULL;
done:
    if (handle)
        dlclose(handle);
    free(bare);
    return error;
}

void loader_plugin_unload(loader_plugin *p)
{
    if (!p)
        return;
    if (p->handle)
        dlclose(p->handle);
    free(p->path);
    memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------ */
/* Search path                                                        */

/* Appends dir (trailing slashes dropped) unless it is already listed. */
static void add_dir(char ***dirs, size_t *n, const char *dir, size_t len)
{
    while (len > 1 && dir[len - 1] == '/')
        len--;
    for (size_t i = 0; i < *n; i++)
        if (strlen((*dirs)[i]) == len && strncmp((*dirs)[i], dir, len) == 0)
            return;
    *dirs = util_realloc(*dirs, (*n + 2) * sizeof(**dirs));
    (*dirs)[(*n)++] = util_strndup(dir, len);
    (*dirs)[*n] = NULL;
}

char **loader_dirs(void)
{
    char **dirs = util_calloc(1, sizeof(*dirs));
    size_t n = 0;
    const char *env = getenv("INFRA_PLUGIN_PATH");

    for (const char *p = env; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len)
            add_dir(&dirs, &n, p, len);
        p += len + (colon ? 1 : 0);
    }
    add_dir(&dirs, &n, INFRA_PLUGIN_INSTALL_DIR, strlen(INFRA_PLUGIN_INSTALL_DIR));
    add_dir(&dirs, &n, INFRA_PLUGIN_BUILD_DIR, strlen(INFRA_PLUGIN_BUILD_DIR));
    return dirs;
}

void loader_dirs_free(char **dirs)
{
    if (!dirs)
        return;
    for (char **d = dirs; *d; d++)
        free(*d);
    free(dirs);
}

/* ------------------------------------------------------------------ */
/* Scanning                                                           */

static void add_refusal(loader *ld, const char *file, char *line)
{
    ld->refusals = util_realloc(ld->refusals, (ld->nrefusals + 1) * sizeof(*ld->refusals));
    ld->refused_files =
        util_realloc(ld->refused_files, (ld->nrefusals + 1) * sizeof(*ld->refused_files));
    ld->refusals[ld->nrefusals] = line;
    ld->refused_files[ld->nrefusals] = util_strdup(file);
    ld->nrefusals++;
}

static const loader_plugin *find_by_name(const loader *ld, const char *name)
{
    for (size_t i = 0; i < ld->nplugins; i++)
        if (strcmp(ld->plugins[i].desc->name, name) == 0)
            return &ld->plugins[i];
    return NULL;
}

/* Loads path into ld, or records why not. The first file with a name wins. */
static void scan_file(loader *ld, const char *path)
{
    loader_plugin p;
    char *err = NULL;

    if (loader_load_file(path, 0, &p, &err) < 0) {
        add_refusal(ld, path, err);
        return;
    }
    const loader_plugin *prev = find_by_name(ld, p.desc->name);
    if (prev) {
        /* Formatted before unloading: the name lives in the plugin. */
        err = util_printf("%s: refused: duplicate name \"%s\" (already loaded from %s)", path,
                          p.desc->name, prev->path);
        loader_plugin_unload(&p);
        add_refusal(ld, path, err);
        return;
    }
    ld->plugins = util_realloc(ld->plugins, (ld->nplugins + 1) * sizeof(*ld->plugins));
    ld->plugins[ld->nplugins++] = p;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_candidate_name(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

static void scan_dir(loader *ld, const char *dir)
{
    char **names = NULL;
    size_t n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        /* A directory that is not there is normal (no install yet); one that
         * is there but unreadable hides plugins and deserves a line. */
        if (errno != ENOENT && errno != ENOTDIR)
            add_refusal(ld, dir,
                        util_printf("%s: cannot list directory: %s", dir, strerror(errno)));
        return;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!is_candidate_name(e->d_name))
            continue;
        names = util_realloc(names, (n + 1) * sizeof(*names));
        names[n++] = util_strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), compare_names);

    size_t dlen = strlen(dir);
    int slash = dlen > 0 && dir[dlen - 1] == '/';
    for (size_t i = 0; i < n; i++) {
        char *path = util_printf("%s%s%s", dir, slash ? "" : "/", names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            scan_file(ld, path);
        free(path);
        free(names[i]);
    }
    free(names);
}

int loader_scan_dirs(loader *ld, const char *const *dirs)
{
    size_t n = 0;
    while (dirs[n])
        n++;
    struct stat *seen = util_calloc(n ? n : 1, sizeof(*seen));
    size_t nseen = 0;

    ld->dirs = util_calloc(n + 1, sizeof(*ld->dirs));
    for (size_t i = 0; i < n; i++) {
        ld->dirs[i] = util_strdup(dirs[i]);
        /* The same directory reached by two names is scanned once, or every
         * plugin in it would be refused as a duplicate of itself. */
        struct stat st;
        if (stat(dirs[i], &st) == 0) {
            int dup = 0;
            for (size_t j = 0; j < nseen; j++)
                dup |= seen[j].st_dev == st.st_dev && seen[j].st_ino == st.st_ino;
            if (dup)
                continue;
            seen[nseen++] = st;
        }
        scan_dir(ld, dirs[i]);
    }
    free(seen);
    return 0;
}

int loader_scan(loader *ld)
{
    char **dirs = loader_dirs();
    int error = loader_scan_dirs(ld, (const char *const *)dirs);
    loader_dirs_free(dirs);
    return error;
}

void loader_free(loader *ld)
{
    if (!ld)
        return;
    /* Reverse order: a later plugin may hold something an earlier one made. */
    for (size_t i = ld->nplugins; i-- > 0;)
        loader_plugin_unload(&ld->plugins[i]);
    free(ld->plugins);
    for (size_t i = 0; i < ld->nrefusals; i++) {
        free(ld->refusals[i]);
        free(ld->refused_files[i]);
    }
    free(ld->refusals);
    free(ld->refused_files);
    loader_dirs_free(ld->dirs);
    memset(ld, 0, sizeof(*ld));
}

/* ------------------------------------------------------------------ */
/* Lookup                                                             */

/* The refusal line of a file named NAME.so, the likely reason a plugin the
 * topology names is missing, or NULL. */
static const char *refusal_for(const loader *ld, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < ld->nrefusals; i++) {
        const char *file = ld->refused_files[i];
        const char *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        if (strncmp(base, name, n) == 0 && strcmp(base + n, ".so") == 0)
            return ld->refusals[i];
    }
    return NULL;
}

const loader_plugin *loader_find(const loader *ld, const char *name, int kind, char **err)
{
    util_buf b = {0};
    char **own_dirs = NULL;
    int any = 0;

    *err = NULL;
    for (size_t i = 0; i < ld->nplugins; i++) {
        const loader_plugin *p = &ld->plugins[i];
        if (strcmp(p->desc->name, name) != 0)
            continue;
        if (kind && p->desc->kind != kind) {
            *err = util_printf("plugin \"%s\" is a %s, not a %s (loaded from %s)", name,
                               loader_kind_name(p->desc->kind), loader_kind_name(kind), p->path);
            return NULL;
        }
        return p;
    }

    if (kind)
        util_buf_printf(&b, "no %s plugin named \"%s\" (available: ", loader_kind_name(kind), name);
    else
        util_buf_printf(&b, "no plugin named \"%s\" (available: ", name);
    for (size_t i = 0; i < ld->nplugins; i++) {
        const infra_plugin *d = ld->plugins[i].desc;
        if (kind && d->kind != kind)
            continue;
        util_buf_printf(&b, "%s%s", any ? ", " : "", d->name);
        any = 1;
    }
    util_buf_printf(&b, "%s); searched: ", any ? "" : "none");

    char **dirs = ld->dirs;
    if (!dirs)
        dirs = own_dirs = loader_dirs();
    for (size_t i = 0; dirs[i]; i++)
        util_buf_printf(&b, "%s%s", i ? ", " : "", dirs[i]);
    loader_dirs_free(own_dirs);

    const char *why = refusal_for(ld, name);
    if (why)
        util_buf_printf(&b, "; %s", why);
    *err = util_buf_take(&b);
    return NULL;
}
