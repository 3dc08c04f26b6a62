/* A scheduler's install settings (see plugin_install.h): the map of items
 * and bin_dir checked at its attribute, the choice between a datacenter's
 * node_settings.install and the cluster's, items read once per run, and
 * one item put on one node with a line in the log saying what happened.
 * Which item goes to which node is the scheduler's business. */
#include "plugin_install.h"
#include "plugin_remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NJSON (pu_host->json)

static const pu_install_item *find_item(const pu_install_item *items, size_t nitems,
                                        const char *name)
{
    for (size_t i = 0; i < nitems; i++)
        if (strcmp(items[i].name, name) == 0)
            return &items[i];
    return NULL;
}

/* "consul, nomad and bin_dir" */
static char *keys_text(const pu_install_item *items, size_t nitems)
{
    pu_buf b = {0};
    for (size_t i = 0; i < nitems; i++)
        pu_buf_printf(&b, "%s%s", i ? ", " : "", items[i].name);
    pu_buf_printf(&b, "%s" PU_INSTALL_BIN_DIR_KEY, nitems ? " and " : "");
    return pu_buf_take(&b);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Packages: a .deb, a directory, or (a directory not there yet) a map of
 * hashes. */
static int names_packages(const infra_json *spec)
{
    return pu_install_is_packages(spec) ||
           NJSON->type(NJSON->get(spec, "sha256")) == INFRA_JSON_OBJECT;
}

/* What the item's form allows, judged from the spec alone. */
static int check_form(infra_call *call, const char *a, const pu_install_item *item,
                      const infra_json *spec)
{
    const char *file = pu_json_str(spec, "file");
    if (item->packages_only && !names_packages(spec)) {
        char *af = pu_printf("%s.file", a);
        pu_diagf(call, af,
                 "%s: %s is installed from Debian packages: give a .deb or a directory of .deb "
                 "files, not %s",
                 a, item->name, file);
        free(af);
        return INFRA_EINVALID;
    }
    if (item->programs[1] != NULL && !names_packages(spec) && !ends_with(file, ".zip")) {
        char *af = pu_printf("%s.file", a);
        pu_diagf(call, af,
                 "%s: one program cannot be both %s and %s: give a .zip holding both, or %s's "
                 "Debian packages",
                 a, item->programs[0], item->programs[1], item->name);
        free(af);
        return INFRA_EINVALID;
    }
    return 0;
}

/* Reads the item's files and checks their hashes (each program of a zip). */
static int check_files(infra_call *call, const char *a, const pu_install_item *item,
                       const infra_json *spec)
{
    const char *file = pu_json_str(spec, "file");
    struct stat st;
    if (stat(file, &st) < 0) {
        pu_warnf(call, a,
                 "%s: cannot read %s now (%s): the nodes cannot be bootstrapped until it can be", a,
                 file, strerror(errno));
        return 0;
    }
    int error = 0;
    int zip = !pu_install_is_packages(spec) && item->programs[0] != NULL;
    for (size_t p = 0; error == 0 && (p == 0 || (zip && p < 3 && item->programs[p])); p++) {
        pu_install in = {0};
        const char *name = zip ? item->programs[p] : item->name;
        if (pu_install_load(call, a, name, spec, PU_INSTALL_CHECK_ONLY, &in) < 0)
            error = INFRA_EINVALID;
        pu_install_free(&in);
    }
    return error;
}

int pu_install_check_map(infra_call *call, const char *attr, const infra_json *install,
                         const pu_install_item *items, size_t nitems, int files)
{
    int error = 0;
    if (install == NULL || NJSON->type(install) == INFRA_JSON_NULL)
        return 0;
    char *keys = keys_text(items, nitems);
    if (NJSON->type(install) != INFRA_JSON_OBJECT) {
        pu_diagf(call, attr, "%s must be a map of %s (each item {file, sha256})", attr, keys);
        free(keys);
        return INFRA_EINVALID;
    }
    void *it = NULL;
    const char *key;
    const infra_json *v;
    while (NJSON->next(install, &it, &key, &v)) {
        char *a = pu_printf("%s.%s", attr, key);
        const pu_install_item *item = find_item(items, nitems, key);
        if (strcmp(key, PU_INSTALL_BIN_DIR_KEY) == 0) {
            const char *dir = NJSON->string(v);
            if (dir == NULL || dir[0] != '/' || !pu_path_ok(dir)) {
                pu_diagf(call, a,
                         "%s must be an absolute directory on the nodes (letters, digits and . _ "
                         "- + /)",
                         a);
                error = INFRA_EINVALID;
            }
        } else if (item == NULL) {
            pu_diagf(call, a, "%s: unknown key \"%s\": install takes %s", attr, key, keys);
            error = INFRA_EINVALID;
        } else if (pu_install_check_spec(call, a, v) < 0 || check_form(call, a, item, v) < 0 ||
                   (files && check_files(call, a, item, v) < 0)) {
            error = INFRA_EINVALID;
        }
        free(a);
    }
    free(keys);
    return error;
}

void pu_install_choose(const infra_json *cluster_install, const infra_json *dc_install,
                       const char *cluster, const char *region, const char *dc, const char *item,
                       pu_install_choice *out)
{
    const infra_json *own = dc_install ? NJSON->get(dc_install, item) : NULL;
    memset(out, 0, sizeof(*out));
    if (own && NJSON->type(own) != INFRA_JSON_NULL) {
        out->spec = own;
        out->attr = pu_printf("clusters.%s.regions.%s.datacenters.%s.node_settings.install.%s",
                              cluster, region, dc, item);
    } else {
        out->spec = cluster_install ? NJSON->get(cluster_install, item) : NULL;
        if (out->spec && NJSON->type(out->spec) == INFRA_JSON_NULL)
            out->spec = NULL;
        out->attr = pu_printf("clusters.%s.install.%s", cluster, item);
    }
    out->bin_dir = dc_install ? pu_json_str(dc_install, PU_INSTALL_BIN_DIR_KEY) : NULL;
    if (out->bin_dir == NULL && cluster_install)
        out->bin_dir = pu_json_str(cluster_install, PU_INSTALL_BIN_DIR_KEY);
    if (out->bin_dir == NULL)
        out->bin_dir = PU_INSTALL_BIN_DIR;
}

void pu_install_choice_free(pu_install_choice *ch)
{
    free(ch->attr);
    memset(ch, 0, sizeof(*ch));
}

char *pu_install_choice_path(const pu_install_choice *ch, const char *program)
{
    if (ch->spec == NULL || pu_install_is_packages(ch->spec))
        return NULL;
    return pu_printf("%s/%s", ch->bin_dir, program);
}

int pu_install_binary_conflict(infra_call *call, const infra_json *settings, const char *key,
                               const char *program, const pu_install_choice *ch)
{
    const char *bin = pu_json_str(settings, key);
    if (bin == NULL || strcmp(bin, program) == 0)
        return 0;
    char *path = pu_install_choice_path(ch, program);
    if (path == NULL)
        return 0;
    int same = strcmp(bin, path) == 0;
    if (!same)
        pu_diagf(call, key,
                 "%s and %s both say which %s to run: the installed program runs from %s; "
                 "leave %s out",
                 key, ch->attr, program, path, key);
    free(path);
    return same ? 0 : INFRA_EINVALID;
}

/* The binary_keys conflicts of the items chosen for one datacenter (dc
 * NULL: the cluster's install alone); only the items own gives when own. */
static int conflicts(infra_call *call, const infra_json *settings, const infra_json *own,
                     const char *cluster, const char *region, const char *dc,
                     const pu_install_item *items, size_t nitems)
{
    const infra_json *install = NJSON->get(settings, "install");
    int error = 0;
    for (size_t i = 0; i < nitems; i++) {
        pu_install_choice ch;
        if (own && NJSON->get(own, items[i].name) == NULL)
            continue;
        pu_install_choose(install, own, cluster, region ? region : "", dc ? dc : "", items[i].name,
                          &ch);
        for (size_t p = 0; p < 3 && (p == 0 || items[i].programs[p]); p++) {
            const char *program = items[i].programs[p] ? items[i].programs[p] : items[i].name;
            if (items[i].binary_keys[p] &&
                pu_install_binary_conflict(call, settings, items[i].binary_keys[p], program, &ch) <
                    0)
                error = INFRA_EINVALID;
        }
        pu_install_choice_free(&ch);
    }
    return error;
}

int pu_install_check_cluster(infra_call *call, const infra_json *cluster,
                             const pu_install_item *items, size_t nitems)
{
    const char *cname = pu_json_str(cluster, "name");
    const infra_json *settings = NJSON->get(cluster, "settings");
    int error =
        pu_install_check_map(call, "install", NJSON->get(settings, "install"), items, nitems, 1);
    if (conflicts(call, settings, NULL, cname ? cname : "?", NULL, NULL, items, nitems) < 0)
        error = INFRA_EINVALID;
    void *rit = NULL;
    const char *region;
    const infra_json *r;
    while (NJSON->next(NJSON->get(cluster, "regions"), &rit, &region, &r)) {
        void *dit = NULL;
        const char *dc;
        const infra_json *d;
        while (NJSON->next(NJSON->get(r, "datacenters"), &dit, &dc, &d)) {
            const infra_json *own = NJSON->get(NJSON->get(d, "node_settings"), "install");
            if (own == NULL || NJSON->type(own) == INFRA_JSON_NULL)
                continue;
            char *attr = pu_printf("regions.%s.datacenters.%s.node_settings.install", region, dc);
            if (pu_install_check_map(call, attr, own, items, nitems, 1) < 0 ||
                (NJSON->type(own) == INFRA_JSON_OBJECT &&
                 conflicts(call, settings, own, cname ? cname : "?", region, dc, items, nitems) <
                     0))
                error = INFRA_EINVALID;
            free(attr);
        }
    }
    return error;
}

/* ------------------------------------------------------------------ */
/* Loading once per run                                               */

struct pu_install_cached {
    char *key; /* what it was loaded from: name, file and sha256 */
    pu_install *in;
};

void pu_install_cache_init(pu_install_cache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

void pu_install_cache_free(pu_install_cache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        pu_install_free(c->v[i].in);
        free(c->v[i].in);
        free(c->v[i].key);
    }
    free(c->v);
    pthread_mutex_destroy(&c->lock);
    memset(c, 0, sizeof(*c));
}

/* The item read and checked (borrowed from the cache for the run). */
static int cache_load(pu_install_cache *c, infra_call *call, const char *attr, const char *name,
                      const infra_json *spec, const pu_install **out)
{
    char *dump = NJSON->dump(spec);
    char *key = pu_printf("%s %s", name, dump ? dump : "");
    int error = 0;
    pu_host->free(dump);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].key, key) == 0) {
            *out = c->v[i].in;
            goto done;
        }
    pu_install *in = pu_calloc(1, sizeof(*in));
    if ((error = pu_install_load(call, attr, name, spec, 0, in)) < 0) {
        pu_install_free(in);
        free(in);
        goto done;
    }
    c->v = pu_realloc(c->v, (c->n + 1) * sizeof(*c->v));
    c->v[c->n].key = key;
    c->v[c->n].in = in;
    c->n++;
    key = NULL;
    *out = in;
done:
    pthread_mutex_unlock(&c->lock);
    free(key);
    return error;
}

int pu_install_on_node(pu_install_cache *cache, infra_call *call, const pu_install_node *node,
                       const char *item, const char *program, const pu_install_choice *ch,
                       pu_install_done *out)
{
    const pu_install *in = NULL;
    pu_install_result res;
    int error = 0;
    memset(out, 0, sizeof(*out));
    /* packages are kept on the node under the item's name */
    const char *name = pu_install_is_packages(ch->spec) ? item : program;
    if ((error = cache_load(cache, call, ch->attr, name, ch->spec, &in)) < 0 ||
        (error = pu_install_apply(call, node, in, ch->bin_dir, ch->attr, &res)) < 0)
        return error;
    out->changed = res.changed;
    out->path = res.path ? pu_strdup(res.path) : NULL;
    out->summary = in->packages ? pu_printf("%zu package%s of %s, sha256 %s", in->nfiles,
                                            in->nfiles == 1 ? "" : "s", in->source, in->digest)
                                : pu_printf("%s, sha256 %s", res.path, in->digest);
    if (res.uploaded > 0)
        pu_logf(call, INFRA_LOG_INFO,
                "node %s: %s: uploaded %zu file%s (%zu bytes) of %s; %s (sha256 %.12s)", node->name,
                item, res.uploaded, res.uploaded == 1 ? "" : "s", res.bytes, in->source,
                res.changed ? (in->packages ? "installed with dpkg" : "installed")
                            : "already installed",
                in->digest);
    else if (res.changed)
        pu_logf(call, INFRA_LOG_INFO, "node %s: %s: installed with dpkg (sha256 %.12s)", node->name,
                item, in->digest);
    else
        pu_logf(call, INFRA_LOG_INFO,
                "node %s: %s: already installed (sha256 %.12s); nothing uploaded", node->name, item,
                in->digest);
    pu_install_result_free(&res);
    return 0;
}

void pu_install_done_free(pu_install_done *d)
{
    free(d->path);
    free(d->summary);
    memset(d, 0, sizeof(*d));
}
