/* ZooKeeper, Mesos and Marathon put on nodes that lack them.
 *
 * The settings (docs/marathon.md, "Installing the programs"):
 *
 *   install:                                          the cluster's, for every node
 *     zookeeper: { file: DIR, sha256: {NAME.deb: HEX, ...} }   Debian packages
 *     mesos:     { file: mesos.zip, sha256: HEX }     a .zip of mesos-master and
 *                                                     mesos-agent, or packages
 *     marathon:  { file: PATH, sha256: HEX }          a program, its .zip, or packages
 *     bin_dir: /usr/local/bin                         where a program goes
 *
 * and a datacenter's node_settings.install, which replaces the cluster's
 * per key. Each node takes the items of the services it runs. The
 * generic part (checking, uploading only what differs, installing, the
 * choice between a datacenter's settings and the cluster's) is
 * plugins/common/plugin_install*.c; this file says which node takes
 * which item and tells the services' unit or run files what was
 * installed, so that a new file restarts them. */
#include "marathon.h"

#include <stdlib.h>
#include <string.h>

static const pu_install_item items[MARATHON_ITEM_COUNT] = {
    {"zookeeper", {NULL}, {NULL}, 1},
    {"mesos",
     {"mesos-master", "mesos-agent", NULL},
     {"mesos_master_binary", "mesos_agent_binary"},
     0},
    {"marathon", {NULL}, {"marathon_binary"}, 0},
};

const char *marathon_item_name(marathon_item item)
{
    return items[item].name;
}

int marathon_install_check(infra_call *call, const char *attr, const infra_json *install)
{
    return pu_install_check_map(call, attr, install, items, MARATHON_ITEM_COUNT, 0);
}

int marathon_install_validate(infra_call *call, const infra_json *cluster)
{
    return pu_install_check_cluster(call, cluster, items, MARATHON_ITEM_COUNT);
}

const char *marathon_install_item_of(marathon_binary b)
{
    switch (b) {
    case MARATHON_BIN_MASTER:
    case MARATHON_BIN_AGENT:
        return items[MARATHON_ITEM_MESOS].name;
    case MARATHON_BIN_MARATHON:
        return items[MARATHON_ITEM_MARATHON].name;
    default:
        return NULL;
    }
}

/* The item, program and binary behind a service; 0 when no item gives it. */
static int service_item(marathon_service svc, marathon_item *item, const char **program, int *bin)
{
    switch (svc) {
    case MARATHON_SVC_ZOOKEEPER:
        *item = MARATHON_ITEM_ZOOKEEPER;
        *program = "zookeeper";
        *bin = -1; /* it runs from zookeeper_jar */
        return 1;
    case MARATHON_SVC_MASTER:
        *item = MARATHON_ITEM_MESOS;
        *program = "mesos-master";
        *bin = MARATHON_BIN_MASTER;
        return 1;
    case MARATHON_SVC_AGENT:
        *item = MARATHON_ITEM_MESOS;
        *program = "mesos-agent";
        *bin = MARATHON_BIN_AGENT;
        return 1;
    case MARATHON_SVC_MARATHON:
        *item = MARATHON_ITEM_MARATHON;
        *program = "marathon";
        *bin = MARATHON_BIN_MARATHON;
        return 1;
    default:
        return 0;
    }
}

void marathon_install_wants(const marathon_region *r, const marathon_node *n,
                            const char *program[MARATHON_ITEM_COUNT])
{
    marathon_service svcs[MARATHON_SVC_COUNT];
    size_t nsvcs = marathon_node_services(r, n, svcs);
    for (int i = 0; i < MARATHON_ITEM_COUNT; i++)
        program[i] = NULL;
    for (size_t i = 0; i < nsvcs; i++) {
        marathon_item item;
        const char *prog;
        int bin;
        if (service_item(svcs[i], &item, &prog, &bin))
            program[item] = prog;
    }
}

void marathon_installed_free(marathon_installed *in)
{
    for (int b = 0; b < MARATHON_BIN_COUNT; b++)
        free(in->bin[b]);
    for (int v = 0; v < MARATHON_SVC_COUNT; v++)
        free(in->note[v]);
    memset(in, 0, sizeof(*in));
}

int marathon_install_node(infra_scheduler *ctx, infra_call *call, const marathon_region *r,
                          const marathon_node *n, pu_remote *rem, marathon_installed *out)
{
    const char *program[MARATHON_ITEM_COUNT];
    pu_install_node node = {rem->ssh, n->name, rem->root};
    int error = 0;

    memset(out, 0, sizeof(*out));
    marathon_install_wants(r, n, program);
    for (int i = 0; i < MARATHON_ITEM_COUNT && error == 0; i++) {
        pu_install_choice ch;
        pu_install_done done;
        if (program[i] == NULL)
            continue;
        pu_install_choose(ctx->s.install, n->install, ctx->cluster, n->region, n->datacenter,
                          items[i].name, &ch);
        if (ch.spec != NULL &&
            (error = pu_install_on_node(&ctx->install_cache, call, &node, items[i].name, program[i],
                                        &ch, &done)) == 0) {
            /* the item's services: their unit or run files name what runs */
            for (int v = 0; v < MARATHON_SVC_COUNT; v++) {
                marathon_item item;
                const char *prog;
                int bin;
                if (!service_item((marathon_service)v, &item, &prog, &bin) || (int)item != i ||
                    strcmp(prog, program[i]) != 0)
                    continue;
                free(out->note[v]);
                out->note[v] = pu_strdup(done.summary);
                out->changed[v] = done.changed;
                if (bin >= 0 && done.path) {
                    free(out->bin[bin]);
                    out->bin[bin] = pu_strdup(done.path);
                }
            }
            pu_install_done_free(&done);
        }
        pu_install_choice_free(&ch);
    }
    return error;
}

char *marathon_missing_text(const char *cluster, const char *node, const char *program, int b)
{
    const char *item = b >= 0 ? marathon_install_item_of((marathon_binary)b) : NULL;
    const char *setting = b >= 0 ? marathon_binary_setting((marathon_binary)b) : "?";
    if (item == NULL)
        return pu_printf("node %s: %s is not installed: give the node an image that has it, or "
                         "set %s to where it is",
                         node, program, setting);
    return pu_printf("node %s: %s is not installed: give the node an image that has it, or set "
                     "clusters.%s.install.%s: {file: ..., sha256: ...} to have infra install it "
                     "(or %s to where it is; see docs/marathon.md, \"Installing the programs\")",
                     node, program, cluster, item, setting);
}
