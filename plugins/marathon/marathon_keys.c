/* What the cluster keeps in the secrets file beside the state (never the
 * state), under "marathon.CLUSTER.WHAT":
 *
 *   http_password   Marathon's HTTP basic password (hex of 24 random bytes)
 *   zookeeper_ids   {"REGION": {"NODE": N, ...}}: every ZooKeeper member's id
 *
 * A ZooKeeper member's id must never change while its data directory
 * lives, and zoo.cfg's server.N lines and each member's myid must agree.
 * Both are rendered from this one table, and a node keeps its entry for
 * the cluster's life: adding a datacenter before another, or replacing a
 * node, renumbers nothing. Making an entry is check-then-set, so it is
 * done under the context's lock (nodes are bootstrapped in parallel). */
#include "marathon.h"

#include <stdlib.h>
#include <string.h>

#define PASSWORD_BYTES 24

char *marathon_secret_name(const char *cluster, const char *what)
{
    return pu_printf("marathon.%s.%s", cluster, what);
}

int marathon_password(infra_scheduler *ctx, infra_call *call, int create, infra_secret **out)
{
    char *name = marathon_secret_name(ctx->cluster, "http_password");
    int error;
    if (create) {
        pthread_mutex_lock(&ctx->keys_lock);
        error = pu_host->secrets->generate(call, name, PASSWORD_BYTES, INFRA_SECRET_HEX, out);
        pthread_mutex_unlock(&ctx->keys_lock);
        if (error < 0)
            pu_diagf(call, "", "cannot make Marathon's password %s", name);
    } else {
        error = pu_host->secrets->get(call, name, out);
        if (error == INFRA_ENOTFOUND)
            pu_diagf(call, "",
                     "cluster %s: the secret %s is missing from the secrets file (bootstrap the "
                     "cluster's masters first, or set INFRA_SECRET_... to the password in use)",
                     ctx->cluster, name);
    }
    free(name);
    return error;
}

/* The ids kept so far (a new object; empty when none). */
static int ids_load(infra_scheduler *ctx, infra_call *call, const char *name, infra_json **out)
{
    infra_secret *kept = NULL;
    int error = pu_host->secrets->get(call, name, &kept);
    *out = NULL;
    if (error == INFRA_ENOTFOUND) {
        *out = MJ->new_object();
        return 0;
    }
    if (error < 0)
        return error;
    const char *text = pu_host->secrets->value(kept);
    *out = MJ->parse(text, strlen(text));
    pu_host->secrets->free(kept);
    if (*out == NULL || MJ->type(*out) != INFRA_JSON_OBJECT) {
        MJ->release(*out);
        *out = NULL;
        pu_diagf(call, "",
                 "cluster %s: the secret %s is not a JSON map of node names to ZooKeeper ids",
                 ctx->cluster, name);
        return INFRA_EINVALID;
    }
    return 0;
}

/* The id kept for node in a region's map, or 0. */
static long kept_id(const infra_json *region_ids, const char *node)
{
    long id = 0;
    const infra_json *v = MJ->get(region_ids, node);
    return v && pu_json_to_int(v, &id) == 0 && id >= 1 && id <= 255 ? id : 0;
}

/* 1 when a node other than node holds id in the region's map (also one
 * not listed now: a node being replaced keeps its id). */
static int id_taken(const infra_json *region_ids, const char *node, long id)
{
    void *it = NULL;
    const char *key;
    const infra_json *v;
    while (MJ->next(region_ids, &it, &key, &v))
        if (strcmp(key, node) != 0 && kept_id(region_ids, key) == id)
            return 1;
    return 0;
}

int marathon_zookeeper_ids(infra_scheduler *ctx, infra_call *call, const marathon_cluster *c,
                           int **ids_out)
{
    char *name = marathon_secret_name(ctx->cluster, "zookeeper_ids");
    infra_json *ids = NULL;
    int *out = pu_calloc(c->nnodes, sizeof(*out));
    int changed = 0;

    pthread_mutex_lock(&ctx->keys_lock);
    int error = ids_load(ctx, call, name, &ids);
    for (size_t r = 0; error == 0 && r < c->nregions; r++) {
        const marathon_region *reg = &c->regions[r];
        if (reg->nensemble == 0)
            continue;
        infra_json *region_ids = MJ->get_mutable(ids, reg->name);
        if (region_ids == NULL || MJ->type(region_ids) != INFRA_JSON_OBJECT) {
            if ((error = pu_json_set(ids, reg->name, MJ->new_object())) < 0)
                break;
            region_ids = MJ->get_mutable(ids, reg->name);
        }
        for (size_t i = 0; i < reg->nensemble && error == 0; i++) {
            const marathon_node *n = reg->ensemble[i];
            long id = kept_id(region_ids, n->name);
            if (id == 0 || id_taken(region_ids, n->name, id)) {
                for (id = 1; id <= 255 && id_taken(region_ids, n->name, id); id++)
                    ;
                if (id > 255) {
                    pu_diagf(call, "", "region %s: no ZooKeeper id left for node %s", reg->name,
                             n->name);
                    error = INFRA_EINVALID;
                    break;
                }
                if ((error = pu_json_set_int(region_ids, n->name, id)) < 0)
                    break;
                changed = 1;
            }
            out[n - c->nodes] = (int)id;
        }
    }
    if (error == 0 && changed) {
        char *text = MJ->dump(ids);
        error = text ? pu_host->secrets->set(call, name, text) : INFRA_EINTERNAL;
        if (error < 0)
            pu_diagf(call, "", "cannot keep the ZooKeeper ids in the secret %s", name);
        pu_host->free(text);
    }
    pthread_mutex_unlock(&ctx->keys_lock);
    MJ->release(ids);
    free(name);
    if (error < 0) {
        free(out);
        return error;
    }
    *ids_out = out;
    return 0;
}
