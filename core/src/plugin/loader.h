/* Plugin loader: finds, checks and loads plugin shared objects.
 *
 * Search order: each directory of INFRA_PLUGIN_PATH (colon-separated), then
 * the install directory (INFRA_PLUGIN_INSTALL_DIR), then the build tree
 * (INFRA_PLUGIN_BUILD_DIR). Every *.so in them is checked; a refused file
 * gets one line naming the file, what it targets and what infra supports. */
#ifndef INFRA_LOADER_H
#define INFRA_LOADER_H

#include <infra/plugin.h>
#include <stddef.h>

typedef struct loader_plugin {
    char *path;                 /* file it was loaded from */
    void *handle;               /* dlopen handle */
    const infra_plugin *desc;   /* descriptor returned by the entry function */
} loader_plugin;

typedef struct loader {
    loader_plugin *plugins;     /* loaded, in search order, names unique */
    size_t nplugins;
    char **refusals;            /* one line per refused file */
    size_t nrefusals;
    char **refused_files;       /* the file (or directory) of each refusal line, same index */
    char **dirs;                /* NULL-terminated directories searched by the scan, or NULL */
} loader;

/* New NULL-terminated list of directories to search; free with loader_dirs_free. */
char **loader_dirs(void);
void loader_dirs_free(char **dirs);

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
void loader_free(loader *ld);

/* A loaded plugin by name and kind (0 = any), or NULL with *err (caller
 * frees) saying why: "no provider plugin named \"x\" (available: a, b);
 * searched: DIR1, DIR2" (followed by the refusal line of a file NAME.so when
 * there is one), or "plugin \"x\" is a scheduler, not a provider (loaded from FILE)". */
const loader_plugin *loader_find(const loader *ld, const char *name, int kind, char **err);

/* "provider", "scheduler", or "unknown" (static text). */
const char *loader_kind_name(int kind);

#endif
