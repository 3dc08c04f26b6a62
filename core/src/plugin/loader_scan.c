/* Finding plugins in the search path: every *.so for `infra plugins`, only
 * the ones a topology names for everything else.
 *
 * Loading a plugin runs its code and costs its relocation and its
 * libraries (libcurl, libxml2...), so a command that needs "aws" loads
 * aws.so and nothing else: NAME.so in the first directory that has one.
 * Only a name no file is named after makes infra load every plugin to find
 * the one that declares it. Within a scan the first file in search order
 * that declares a name wins; a later one is refused as a duplicate. */
#include "plugin/loader.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"

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

/* 1 when path was loaded or refused already. */
static int considered(const loader *ld, const char *path)
{
    for (size_t i = 0; i < ld->nplugins; i++)
        if (strcmp(ld->plugins[i].path, path) == 0)
            return 1;
    for (size_t i = 0; i < ld->nrefusals; i++)
        if (strcmp(ld->refused_files[i], path) == 0)
            return 1;
    return 0;
}

/* Loads path into ld, or records why not. The first file with a name wins. */
static void scan_file(loader *ld, const char *path)
{
    loader_plugin p;
    char *err = NULL;

    if (considered(ld, path))
        return;
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

/* dir + "/" + name; caller frees. */
static char *join(const char *dir, const char *name)
{
    size_t dlen = strlen(dir);
    return util_printf("%s%s%s", dir, dlen > 0 && dir[dlen - 1] == '/' ? "" : "/", name);
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

    for (size_t i = 0; i < n; i++) {
        char *path = join(dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            scan_file(ld, path);
        free(path);
        free(names[i]);
    }
    free(names);
}

void loader_set_dirs(loader *ld, const char *const *dirs)
{
    size_t n = 0;
    while (dirs[n])
        n++;
    loader_dirs_free(ld->dirs);
    ld->dirs = util_calloc(n + 1, sizeof(*ld->dirs));
    for (size_t i = 0; i < n; i++)
        ld->dirs[i] = util_strdup(dirs[i]);
}

static char *const *dirs_of(loader *ld)
{
    if (!ld->dirs)
        ld->dirs = loader_dirs();
    return ld->dirs;
}

/* Calls fn(ld, dir) for each directory of the search path, once for a
 * directory reached under two names (or every plugin in it would be
 * refused as a duplicate of itself). */
static void each_dir(loader *ld, void (*fn)(loader *, const char *, const void *), const void *ud)
{
    char *const *dirs = dirs_of(ld);
    size_t n = 0;
    while (dirs[n])
        n++;
    struct stat *seen = util_calloc(n ? n : 1, sizeof(*seen));
    size_t nseen = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(dirs[i], &st) == 0) {
            int dup = 0;
            for (size_t j = 0; j < nseen; j++)
                dup |= seen[j].st_dev == st.st_dev && seen[j].st_ino == st.st_ino;
            if (dup)
                continue;
            seen[nseen++] = st;
        }
        fn(ld, dirs[i], ud);
    }
    free(seen);
}

static void scan_dir_cb(loader *ld, const char *dir, const void *ud)
{
    scan_dir(ld, dir);
}

static void scan_all(loader *ld)
{
    if (ld->scanned)
        return;
    each_dir(ld, scan_dir_cb, NULL);
    ld->scanned = 1;
}

int loader_scan_dirs(loader *ld, const char *const *dirs)
{
    loader_set_dirs(ld, dirs);
    scan_all(ld);
    return 0;
}

int loader_scan(loader *ld)
{
    scan_all(ld);
    return 0;
}

/* Loads DIR/NAME.so when it is a regular file, until name is loaded. */
static void load_named_cb(loader *ld, const char *dir, const void *ud)
{
    const char *name = ud;
    if (find_by_name(ld, name))
        return;
    char *file = util_printf("%s.so", name);
    char *path = join(dir, file);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        scan_file(ld, path);
    free(path);
    free(file);
}

const loader_plugin *loader_require(loader *ld, const char *name, int kind, char **err)
{
    *err = NULL;
    /* A name is a file name here: nothing that would leave the directory. */
    if (!find_by_name(ld, name) && *name && !strchr(name, '/') && strcmp(name, ".") &&
        strcmp(name, ".."))
        each_dir(ld, load_named_cb, name);
    if (!find_by_name(ld, name))
        scan_all(ld);
    return loader_find(ld, name, kind, err);
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
    if (!dirs[0])
        util_buf_puts(&b, "no directory (set INFRA_PLUGIN_PATH)");
    loader_dirs_free(own_dirs);

    const char *why = refusal_for(ld, name);
    if (why)
        util_buf_printf(&b, "; %s", why);
    *err = util_buf_take(&b);
    return NULL;
}
