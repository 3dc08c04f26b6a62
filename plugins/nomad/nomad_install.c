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
 * plugins/common/plugin_install*.c with the settings' checks, the choice
 * between a datacenter's and the cluster's, what was read once per run and
 * the rolling restarts (plugin_rolling.c); this file says which items
 * nomad takes and tells the agents' unit or run file what was installed,
 * so that a new version restarts them. */
#include "nomad.h"
#include "plugin_install.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pu_install_item items[NOMAD_AGENT_COUNT] = {
    {"consul", {NULL}, {"consul_binary"}, 0},
    {"nomad", {NULL}, {"nomad_binary"}, 0},
};

int nomad_install_check(infra_call *call, const char *attr, const infra_json *install, int files)
{
    return pu_install_check_map(call, attr, install, items, NOMAD_AGENT_COUNT, files);
}

/* The datacenter of n in the host's cluster JSON (borrowed), or NULL. */
static const infra_json *node_datacenter(const infra_json *cluster, const char *region,
                                         const char *dc)
{
    const infra_json *r = NJ->get(NJ->get(cluster, "regions"), region);
    return NJ->get(NJ->get(r, "datacenters"), dc);
}

static void choose(const infra_json *cluster_install, const infra_json *dc_install,
                   const char *cluster, const char *region, const char *dc, nomad_agent agent,
                   pu_install_choice *out)
{
    pu_install_choose(cluster_install, dc_install, cluster, region, dc, nomad_agent_name(agent),
                      out);
}

int nomad_install_validate(infra_call *call, const infra_json *cluster)
{
    int error = pu_install_check_cluster(call, cluster, items, NOMAD_AGENT_COUNT);
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
                if (strcmp(key, "install") != 0 && strcmp(key, "consul_datacenter") != 0) {
                    char *at =
                        pu_printf("regions.%s.datacenters.%s.node_settings.%s", region, dc, key);
                    pu_diagf(call, at,
                             "unknown key \"%s\": a datacenter's node_settings for nomad "
                             "take install and consul_datacenter",
                             key);
                    free(at);
                    error = INFRA_EINVALID;
                }
        }
    }
    return error;
}

/* ------------------------------------------------------------------ */
/* Loading once per run                                               */

void nomad_install_ctx_init(infra_scheduler *ctx)
{
    pu_install_cache_init(&ctx->install_cache);
    pu_rolling_init(&ctx->rolling);
}

void nomad_install_ctx_free(infra_scheduler *ctx)
{
    pu_install_cache_free(&ctx->install_cache);
    pu_rolling_free(&ctx->rolling);
}

int nomad_install_node(infra_scheduler *ctx, infra_call *call, const infra_json *cluster,
                       const nomad_node *n, nomad_remote *r, int changed[NOMAD_AGENT_COUNT])
{
    const infra_json *dc = node_datacenter(cluster, n->region, n->datacenter);
    const infra_json *own = NJ->get(NJ->get(dc, "node_settings"), "install");
    int error = 0;

    for (int a = 0; a < NOMAD_AGENT_COUNT && error == 0; a++) {
        pu_install_choice ch;
        pu_install_done done;
        const char *name = nomad_agent_name((nomad_agent)a);
        choose(ctx->s.install, own, ctx->cluster, n->region, n->datacenter, (nomad_agent)a, &ch);
        pu_install_node node = {r->ssh, n->name, r->root};
        if (ch.spec != NULL && (error = pu_install_on_node(&ctx->install_cache, call, &node, name,
                                                           name, &ch, &done)) == 0) {
            free(r->want_bin[a]);
            free(r->installed[a]);
            r->want_bin[a] = done.path;
            r->installed[a] = done.summary;
            changed[a] = done.changed;
        }
        pu_install_choice_free(&ch);
    }
    return error;
}

char *nomad_install_program_path(infra_scheduler *ctx, const infra_json *cluster,
                                 const nomad_node *n, nomad_agent agent)
{
    const infra_json *dc = node_datacenter(cluster, n->region, n->datacenter);
    const infra_json *own = NJ->get(NJ->get(dc, "node_settings"), "install");
    pu_install_choice ch;
    choose(ctx->s.install, own, ctx->cluster, n->region, n->datacenter, agent, &ch);
    char *path = pu_install_choice_path(&ch, nomad_agent_name(agent));
    pu_install_choice_free(&ch);
    return path;
}

int nomad_restart_begin(infra_scheduler *ctx, infra_call *call, const char *region)
{
    return pu_rolling_begin(&ctx->rolling, call, region);
}

void nomad_restart_end(infra_scheduler *ctx, const char *region)
{
    pu_rolling_end(&ctx->rolling, region);
}
