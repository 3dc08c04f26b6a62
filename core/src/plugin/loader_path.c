/* Where infra looks for plugins: INFRA_PLUGIN_PATH, then the plugin
 * directory that belongs to this very binary.
 *
 * infra runs as root, so a directory it searches is a directory whose
 * writers get root. A binary therefore searches only what came with it: an
 * installed binary the plugin directory of the prefix it runs from (found
 * from /proc/self/exe and the layout infra was configured with, so a
 * moved prefix or `cmake --install --prefix P` keeps working), the binary
 * of a build tree that tree's plugins/. An installed binary never looks at
 * the build tree it was made in: anyone able to create that path later
 * would otherwise have their code run as root. */
#include "plugin/loader.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/util.h"

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

/* 1 when a and b name the same existing directory. */
static int same_dir(const char *a, const char *b)
{
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    int same = ra && rb && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

char *loader_own_dir(const char *exe)
{
    char *dir = util_dir_of(exe);
    char *found = NULL;

    /* The binary the build tree made: its own plugins. */
    if (same_dir(dir, INFRA_BUILD_TREE_DIR)) {
        found = util_strdup(INFRA_PLUGIN_BUILD_DIR);
        goto done;
    }
    /* An absolute LIBDIR does not move with the prefix. */
    if (INFRA_INSTALL_PLUGIN_SUBDIR[0] == '/') {
        found = util_strdup(INFRA_INSTALL_PLUGIN_SUBDIR);
        goto done;
    }
    /* PREFIX/BINDIR/infra: the plugins are in PREFIX/LIBDIR/infra/plugins. */
    const char *bindir = INFRA_INSTALL_BINDIR;
    size_t dlen = strlen(dir), blen = strlen(bindir);
    if (bindir[0] == '/' || dlen <= blen || dir[dlen - blen - 1] != '/' ||
        strcmp(dir + dlen - blen, bindir) != 0)
        goto done;
    found = util_printf("%.*s/%s", (int)(dlen - blen - 1), dir, INFRA_INSTALL_PLUGIN_SUBDIR);
done:
    free(dir);
    return found;
}

/* The path of the running binary, or NULL when /proc is not there. */
static char *self_exe(void)
{
    size_t cap = PATH_MAX;
    for (;;) {
        char *buf = util_malloc(cap);
        ssize_t n = readlink("/proc/self/exe", buf, cap);
        if (n < 0) {
            free(buf);
            return NULL;
        }
        if ((size_t)n < cap) {
            buf[n] = '\0';
            return buf;
        }
        free(buf);
        cap *= 2;
    }
}

char **loader_dirs_for(const char *exe)
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
    char *own = exe ? loader_own_dir(exe) : NULL;
    if (own)
        add_dir(&dirs, &n, own, strlen(own));
    free(own);
    return dirs;
}

char **loader_dirs(void)
{
    char *exe = self_exe();
    char **dirs = loader_dirs_for(exe);
    free(exe);
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
