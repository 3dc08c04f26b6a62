/* Consul and Nomad put on nodes that lack them, and restarts of running
 * agents one node of a region at a time.
 *
 * The settings (docs/nomad.md, "Installing the agents"):
 *
 *   install:                                    the cluster's, for every node
 *     consul: { file: PATH, sha256: HEX }       a program, its .zip, a .deb
 *     nomad:  { file: DIR, sha256: {NAME.deb: HEX, ...} }   or packages
 *     bin_dir: /usr/local/bin                   where a program goes
 *
 * and a datacenter's node_settings.install, which replaces the cluster's
 * per key (a datacenter on another architecture needs other files). The
 * generic part (checking, uploading only what differs, installing) is
 * plugins/common/plugin_install.c; this file chooses what each node gets,
 * keeps what was read once per run, and tells the agents' unit or run
 * file what was installed, so that a new version restarts them. */
#include "nomad.h"
#include "plugin_install.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* How often a node waiting for its region's restart slot looks again. */
#define RESTART_POLL_MS 200

static int key_is_agent(const char *key)
{
    return strcmp(key, "consul") == 0 || strcmp(key, "nomad") == 0;
}

int nomad_install_check(infra_call *call, const char *attr, const infra_json *install, int files)
{
    int error = 0;
    if (install == NULL || NJ->type(install) == INFRA_JSON_NULL)
        return 0;
    if (NJ->type(install) != INFRA_JSON_OBJECT) {
        pu_diagf(call, attr,
                 "%s must be a map: {consul: {file, sha256}, nomad: {file, sha256}, bin_dir}",
                 attr);
        return INFRA_EINVALID;
    }
    void *it = NULL;
    const char *key;
    const infra_json *v;
    while (NJ->next(install, &it, &key, &v)) {
        char *a = pu_printf("%s.%s", attr, key);
        if (strcmp(key, NOMAD_INSTALL_BIN_DIR) == 0) {
            const char *dir = NJ->string(v);
            if (dir == NULL || dir[0] != '/' || !nomad_path_ok(dir)) {
                pu_diagf(call, a,
                         "%s must be an absolute directory on the nodes (letters, digits and . _ "
                         "- + /)",
                         a);
                error = INFRA_EINVALID;
            }
        } else if (!key_is_agent(key)) {
            pu_diagf(call, a, "%s: unknown key \"%s\": install takes consul, nomad and bin_dir",
                     attr, key);
            error = INFRA_EINVALID;
        } else if (pu_install_check_spec(call, a, v) < 0) {
            error = INFRA_EINVALID;
        } else if (files) {
            const char *file = pu_json_str(v, "file");
            struct stat st;
            pu_install in = {0};
            if (stat(file, &st) < 0) {
                pu_warnf(call, a,
                         "%s: cannot read %s now (%s): the nodes cannot be bootstrapped until it "
                         "can be",
                         a, file, strerror(errno));
            } else if (pu_install_load(call, a, key, v, PU_INSTALL_CHECK_ONLY, &in) < 0) {
                error = INFRA_EINVALID;
            }
            pu_install_free(&in);
        }
        free(a);
    }
    return error;
}

/* The datacenter of n in the host's cluster JSON (borrowed), or NULL. */
static const infra_json *node_datacenter(const infra_json *cluster, const char *region,
                                         const char *dc)
{
    const infra_json *r = NJ->get(NJ->get(cluster, "regions"), region);
    return NJ->get(NJ->get(r, "datacenters"), dc);
}

/* What is installed for agent on the nodes of a datacenter: the item spec
 * (borrowed) or NULL, its bin_dir, and the attribute path to name. */
typedef struct install_choice {
    const infra_json *spec;
    const char *bin_dir;
    char *attr; /* owned */
} install_choice;

static void choose(const infra_json *cluster_install, const infra_json *dc_install,
                   const char *cluster, const char *region, const char *dc, nomad_agent agent,
                   install_choice *out)
{
    const char *name = nomad_agent_name(agent);
    const infra_json *own = NJ->get(dc_install, name);
    memset(out, 0, sizeof(*out));
    if (own && NJ->type(own) != INFRA_JSON_NULL) {
        out->spec = own;
        out->attr = pu_printf("clusters.%s.regions.%s.datacenters.%s.node_settings.install.%s",
                              cluster, region, dc, name);
    } else {
        out->spec = NJ->get(cluster_install, name);
        if (out->spec && NJ->type(out->spec) == INFRA_JSON_NULL)
            out->spec = NULL;
        out->attr = pu_printf("clusters.%s.install.%s", cluster, name);
    }
    out->bin_dir = pu_json_str(dc_install, NOMAD_INSTALL_BIN_DIR);
    if (out->bin_dir == NULL)
        out->bin_dir = pu_json_str(cluster_install, NOMAD_INSTALL_BIN_DIR);
    if (out->bin_dir == NULL)
        out->bin_dir = PU_INSTALL_BIN_DIR;
}

/* A *_binary setting given beside an installed program would name a
 * second program: refused rather than guessed. */
static int binary_conflict(infra_call *call, const infra_json *settings, nomad_agent agent,
                           const install_choice *ch)
{
    const char *name = nomad_agent_name(agent);
    char key[32];
    snprintf(key, sizeof(key), "%s_binary", name);
    const char *bin = pu_json_str(settings, key);
    if (ch->spec == NULL || pu_install_is_packages(ch->spec) || bin == NULL ||
        strcmp(bin, name) == 0)
        return 0;
    char *path = pu_printf("%s/%s", ch->bin_dir, name);
    int same = strcmp(bin, path) == 0;
    if (!same)
        pu_diagf(call, key,
                 "%s and %s both say which %s to run: the installed program runs from %s; "
                 "leave %s out",
                 key, ch->attr, name, path, key);
    free(path);
    return same ? 0 : INFRA_EINVALID;
}

int nomad_install_validate(infra_call *call, const infra_json *settings, const infra_json *cluster)
{
    const char *cname = pu_json_str(cluster, "name");
    const infra_json *cluster_install = NJ->get(settings, "install");
    int error = nomad_install_check(call, "install", cluster_install, 1);
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        install_choice ch;
        choose(cluster_install, NULL, cname ? cname : "?", "", "", (nomad_agent)a, &ch);
        if (binary_conflict(call, settings, (nomad_agent)a, &ch) < 0)
            error = INFRA_EINVALID;
        free(ch.attr);
    }
    void *rit = NULL;
    const char *region;
    const infra_json *r;
    while (NJ->next(NJ->get(cluster, "regions"), &rit, &region, &r)) {
        void *dit = NULL;
        const char *dc;
        const infra_json *d;
        while (NJ->next(NJ->get(r, "datacenters"), &dit, &dc, &d)) {
            const infra_json *dcs = NJ->get(d, "node_settings");
            void *kit = NULL;
            const char *key;
            const infra_json *kv;
            while (dcs && NJ->next(dcs, &kit, &key, &kv))
                if (strcmp(key, "install") != 0) {
                    char *at = pu_printf("regions.%s.datacenters.%s.node_settings.%s",
                                         region, dc, key);
                    pu_diagf(call, at,
                             "unknown key \"%s\": a datacenter's node_settings for nomad "
                             "take install",
                             key);
                    free(at);
                    error = INFRA_EINVALID;
                }
            const infra_json *own = NJ->get(dcs, "install");
            if (own == NULL)
                continue;
            char *attr =
                pu_printf("regions.%s.datacenters.%s.node_settings.install", region, dc);
            if (nomad_install_check(call, attr, own, 1) < 0)
                error = INFRA_EINVALID;
            free(attr);
            for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
                install_choice ch;
                if (NJ->get(own, nomad_agent_name((nomad_agent)a)) == NULL)
                    continue;
                choose(cluster_install, own, cname ? cname : "?", region, dc, (nomad_agent)a,
                       &ch);
                if (binary_conflict(call, settings, (nomad_agent)a, &ch) < 0)
                    error = INFRA_EINVALID;
                free(ch.attr);
            }
        }
    }
    return error;
}

/* ------------------------------------------------------------------ */
/* Loading once per run                                               */

void nomad_install_ctx_init(infra_scheduler *ctx)
{
    pthread_mutex_init(&ctx->install_lock, NULL);
    pthread_mutex_init(&ctx->restart_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ctx->restart_done, &attr);
    pthread_condattr_destroy(&attr);
}

void nomad_install_ctx_free(infra_scheduler *ctx)
{
    for (size_t i = 0; i < ctx->nloaded; i++) {
        pu_install_free(ctx->loaded[i].in);
        free(ctx->loaded[i].in);
        free(ctx->loaded[i].key);
    }
    free(ctx->loaded);
    for (size_t i = 0; i < ctx->nrestarting; i++)
        free(ctx->restarting[i]);
    free(ctx->restarting);
    pthread_mutex_destroy(&ctx->install_lock);
    pthread_mutex_destroy(&ctx->restart_lock);
    pthread_cond_destroy(&ctx->restart_done);
}

/* The item spec read and checked (borrowed from ctx for the run); the
 * first node that needs it reads it, the others wait for that. */
static int load_item(infra_scheduler *ctx, infra_call *call, const char *attr, const char *name,
                     const infra_json *spec, const pu_install **out)
{
    char *dump = nomad_jdump(spec);
    char *key = pu_printf("%s %s", name, dump ? dump : "");
    int error = 0;
    free(dump);
    pthread_mutex_lock(&ctx->install_lock);
    for (size_t i = 0; i < ctx->nloaded; i++)
        if (strcmp(ctx->loaded[i].key, key) == 0) {
            *out = ctx->loaded[i].in;
            goto done;
        }
    pu_install *in = pu_calloc(1, sizeof(*in));
    if ((error = pu_install_load(call, attr, name, spec, 0, in)) < 0) {
        pu_install_free(in);
        free(in);
        goto done;
    }
    ctx->loaded = pu_realloc(ctx->loaded, (ctx->nloaded + 1) * sizeof(*ctx->loaded));
    ctx->loaded[ctx->nloaded].key = key;
    ctx->loaded[ctx->nloaded].in = in;
    ctx->nloaded++;
    key = NULL;
    *out = in;
done:
    pthread_mutex_unlock(&ctx->install_lock);
    free(key);
    return error;
}

int nomad_install_node(infra_scheduler *ctx, infra_call *call, const infra_json *cluster,
                       const nomad_node *n, nomad_remote *r, int changed[NOMAD_AGENT_COUNT])
{
    const infra_json *dc = node_datacenter(cluster, n->region, n->datacenter);
    const infra_json *own = NJ->get(NJ->get(dc, "node_settings"), "install");
    int error = 0;

    for (int a = 0; a < NOMAD_AGENT_COUNT && error == 0; a++) {
        install_choice ch;
        const pu_install *in = NULL;
        pu_install_result res;
        const char *name = nomad_agent_name((nomad_agent)a);
        choose(ctx->s.install, own, ctx->cluster, n->region, n->datacenter, (nomad_agent)a, &ch);
        if (ch.spec == NULL) {
            free(ch.attr);
            continue;
        }
        pu_install_node node = {r->ssh, n->name, r->root};
        if ((error = load_item(ctx, call, ch.attr, name, ch.spec, &in)) < 0 ||
            (error = pu_install_apply(call, &node, in, ch.bin_dir, ch.attr, &res)) < 0) {
            free(ch.attr);
            break;
        }
        free(r->want_bin[a]);
        free(r->installed[a]);
        r->want_bin[a] = res.path ? pu_strdup(res.path) : NULL;
        r->installed[a] = in->packages
                              ? pu_printf("%zu package%s of %s, sha256 %s", in->nfiles,
                                          in->nfiles == 1 ? "" : "s", in->source, in->digest)
                              : pu_printf("%s, sha256 %s", res.path, in->digest);
        changed[a] = res.changed;
        if (res.uploaded > 0)
            pu_logf(call, INFRA_LOG_INFO,
                    "node %s: %s: uploaded %zu file%s (%zu bytes) of %s; %s (sha256 %.12s)",
                    n->name, name, res.uploaded, res.uploaded == 1 ? "" : "s", res.bytes,
                    in->source,
                    res.changed ? (in->packages ? "installed with dpkg" : "installed")
                                : "already installed",
                    in->digest);
        else if (res.changed)
            pu_logf(call, INFRA_LOG_INFO, "node %s: %s: installed with dpkg (sha256 %.12s)",
                    n->name, name, in->digest);
        else
            pu_logf(call, INFRA_LOG_INFO,
                    "node %s: %s: already installed (sha256 %.12s); nothing uploaded", n->name,
                    name, in->digest);
        pu_install_result_free(&res);
        free(ch.attr);
    }
    return error;
}

char *nomad_install_program_path(infra_scheduler *ctx, const infra_json *cluster,
                                 const nomad_node *n, nomad_agent agent)
{
    const infra_json *dc = node_datacenter(cluster, n->region, n->datacenter);
    const infra_json *own = NJ->get(NJ->get(dc, "node_settings"), "install");
    install_choice ch;
    choose(ctx->s.install, own, ctx->cluster, n->region, n->datacenter, agent, &ch);
    char *path = ch.spec && !pu_install_is_packages(ch.spec)
                     ? pu_printf("%s/%s", ch.bin_dir, nomad_agent_name(agent))
                     : NULL;
    free(ch.attr);
    return path;
}

/* ------------------------------------------------------------------ */
/* Rolling restarts                                                   */

static size_t restarting_index(const infra_scheduler *ctx, const char *region)
{
    for (size_t i = 0; i < ctx->nrestarting; i++)
        if (strcmp(ctx->restarting[i], region) == 0)
            return i;
    return (size_t)-1;
}

int nomad_restart_begin(infra_scheduler *ctx, infra_call *call, const char *region)
{
    int error = 0;
    pthread_mutex_lock(&ctx->restart_lock);
    while (restarting_index(ctx, region) != (size_t)-1) {
        if ((error = nomad_check_cancel(call)) < 0)
            break;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += RESTART_POLL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ctx->restart_done, &ctx->restart_lock, &until);
    }
    if (error == 0) {
        ctx->restarting =
            pu_realloc(ctx->restarting, (ctx->nrestarting + 1) * sizeof(*ctx->restarting));
        ctx->restarting[ctx->nrestarting++] = pu_strdup(region);
    }
    pthread_mutex_unlock(&ctx->restart_lock);
    return error;
}

void nomad_restart_end(infra_scheduler *ctx, const char *region)
{
    pthread_mutex_lock(&ctx->restart_lock);
    size_t i = restarting_index(ctx, region);
    if (i != (size_t)-1) {
        free(ctx->restarting[i]);
        ctx->restarting[i] = ctx->restarting[--ctx->nrestarting];
    }
    pthread_cond_broadcast(&ctx->restart_done);
    pthread_mutex_unlock(&ctx->restart_lock);
}
