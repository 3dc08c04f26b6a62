/* Plugin loader: finds, checks and loads plugin shared objects.
 *
 * Search path (loader_path.c): each directory of INFRA_PLUGIN_PATH
 * (colon-separated), then the plugin directory of this infra: for an
 * installed binary, PREFIX/LIBDIR/infra/plugins of the prefix it runs from;
 * for the binary of a build tree, that tree's plugins/. A plugin a topology
 * names is loaded from NAME.so in the first directory that has one, and
 * only then from a scan of every *.so (loader_scan.c). Every file is
 * checked before anything in it runs (loader.c); a refused file gets one
 * line naming the file, what it targets and what infra supports. */
#ifndef INFRA_LOADER_H
#define INFRA_LOADER_H

#include <infra/plugin.h>
#include <stddef.h>

/* A plugin's own copies of the host tables (loader.c). */
typedef struct loader_host_copy loader_host_copy;

typedef struct loader_plugin {
    char *path;                 /* file it was loaded from */
    void *handle;               /* dlopen handle */
    const infra_plugin *desc;   /* descriptor returned by the entry function */
    loader_host_copy *host;     /* the host table this plugin was given (owned) */
} loader_plugin;

typedef struct loader {
    loader_plugin *plugins;     /* loaded, in search order, names unique */
    size_t nplugins;
    char **refusals;            /* one line per refused file */
    size_t nrefusals;
    char **refused_files;       /* the file (or directory) of each refusal line, same index */
    char **dirs;                /* NULL-terminated directories searched, or NULL until needed */
    int scanned;                /* every *.so of dirs has been considered */
} loader;

/* New NULL-terminated list of directories to search for this process:
 * INFRA_PLUGIN_PATH, then loader_own_dir(). Free with loader_dirs_free. */
char **loader_dirs(void);
/* The same for the infra binary at exe (an absolute path). */
char **loader_dirs_for(const char *exe);
void loader_dirs_free(char **dirs);

/* The plugin directory of the infra binary at exe: its build tree's
 * plugins/ when exe is the binary of the tree it was built in, else
 * PREFIX/LIBDIR/infra/plugins when exe is PREFIX/BINDIR/infra (the layout
 * infra was configured with), else NULL. New string; caller frees. */
char *loader_own_dir(const char *exe);

/* Checks and loads one file. expected_kind 0 = any. On refusal returns a
 * negative INFRA_E* and *err is the one-line reason "FILE: refused: ..."
 * (caller frees); out is then zeroed. Unload with loader_plugin_unload. */
int loader_load_file(const char *path, int expected_kind, loader_plugin *out, char **err);
void loader_plugin_unload(loader_plugin *p);

/* Loads every plugin in the search path into ld (zeroed by the caller).
 * Refusals are collected, not fatal. Free with loader_free. */
int loader_scan(loader *ld);
/* The same over an explicit NULL-terminated list of directories (copied). */
int loader_scan_dirs(loader *ld, const char *const *dirs);
/* Sets the directories later lookups search (copied), instead of
 * loader_dirs(); before the first lookup or scan. */
void loader_set_dirs(loader *ld, const char *const *dirs);
void loader_free(loader *ld);

/* The plugin called name of kind (0 = any), loaded on first use: NAME.so
 * from the first directory of the search path that has one, else whatever
 * a scan of every plugin finds. NULL with *err (caller frees) as for
 * loader_find when there is none. Other plugins are not loaded. */
const loader_plugin *loader_require(loader *ld, const char *name, int kind, char **err);

/* A loaded plugin by name and kind (0 = any), or NULL with *err (caller
 * frees) saying why: "no provider plugin named \"x\" (available: a, b);
 * searched: DIR1, DIR2" (followed by the refusal line of a file NAME.so when
 * there is one), or "plugin \"x\" is a scheduler, not a provider (loaded from FILE)". */
const loader_plugin *loader_find(const loader *ld, const char *name, int kind, char **err);

/* "provider", "scheduler", or "unknown" (static text). */
const char *loader_kind_name(int kind);

#endif
