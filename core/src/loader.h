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
} loader;

/* New NULL-terminated list of directories to search; free with loader_dirs_free. */
char **loader_dirs(void);
void loader_dirs_free(char **dirs);

/* Checks and loads one file. expected_kind 0 = any. On refusal returns a
 * negative INFRA_E* and *err is the one-line reason "FILE: ...". */
int loader_load_file(const char *path, int expected_kind, loader_plugin *out, char **err);
void loader_plugin_unload(loader_plugin *p);

/* Loads every plugin in the search path into ld (zeroed by the caller).
 * Refusals are collected, not fatal. */
int loader_scan(loader *ld);
void loader_free(loader *ld);

/* A loaded plugin by name and kind, or NULL with *err saying why
 * ("no provider plugin named 'x' (loaded: a, b)" or "... is a scheduler"). */
const loader_plugin *loader_find(const loader *ld, const char *name, int kind, char **err);

#endif
