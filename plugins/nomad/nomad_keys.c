/* The cluster's secrets, kept by the host's secrets service (the secrets
 * file beside the state, never the state) under "nomad.CLUSTER.WHAT":
 *
 *   nomad_gossip_key, consul_gossip_key   base64 of 32 random bytes
 *   nomad_management_token                Nomad's ACL bootstrap secret (UUID)
 *   consul_management_token               Consul's initial management token (UUID)
 *   consul_replication_token              the secret of the token Consul's secondary
 *                                         datacenters replicate ACLs with (UUID)
 *   ca.key, ca.cert                       the cluster CA (PEM)
 *   node.NODE.key, node.NODE.cert         a node's key and certificate (PEM)
 *
 * Everything is made once and reused, so a second run renders the same
 * files and restarts nothing. Making a secret is check-then-set, so it is
 * done under the context's lock: two nodes bootstrapped in parallel must
 * not each make their own CA. */
#include "nomad.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define GOSSIP_KEY_BYTES 32

char *nomad_secret_name(const char *cluster, const char *what)
{
    return pu_printf("nomad.%s.%s", cluster, what);
}

static void free_text(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* The secret what; INFRA_ENOTFOUND quietly when it does not exist. */
static int secret_get(infra_scheduler *ctx, infra_call *call, const char *what, infra_secret **out)
{
    char *name = nomad_secret_name(ctx->cluster, what);
    int error = pu_host->secrets->get(call, name, out);
    free(name);
    return error;
}

static int secret_set(infra_scheduler *ctx, infra_call *call, const char *what, const char *value)
{
    char *name = nomad_secret_name(ctx->cluster, what);
    int error = pu_host->secrets->set(call, name, value);
    if (error < 0)
        pu_diagf(call, "", "cannot keep the secret %s", name);
    free(name);
    return error;
}

static int missing(infra_scheduler *ctx, infra_call *call, const char *what)
{
    char *name = nomad_secret_name(ctx->cluster, what);
    pu_diagf(call, "",
             "cluster %s: the secret %s is missing from the secrets file (bootstrap the "
             "cluster's nodes first, or set INFRA_SECRET_... to the value in use)",
             ctx->cluster, name);
    free(name);
    return INFRA_ENOTFOUND;
}

static int gossip_key(infra_scheduler *ctx, infra_call *call, const char *what, int create,
                      infra_secret **out)
{
    if (!create) {
        int error = secret_get(ctx, call, what, out);
        return error == INFRA_ENOTFOUND ? missing(ctx, call, what) : error;
    }
    char *name = nomad_secret_name(ctx->cluster, what);
    int error = pu_host->secrets->generate(call, name, GOSSIP_KEY_BYTES, INFRA_SECRET_BASE64, out);
    if (error < 0)
        pu_diagf(call, "", "cannot make the gossip key %s", name);
    free(name);
    return error;
}

static int token(infra_scheduler *ctx, infra_call *call, const char *what, int create,
                 infra_secret **out)
{
    int error = secret_get(ctx, call, what, out);
    if (error != INFRA_ENOTFOUND)
        return error;
    if (!create)
        return missing(ctx, call, what);
    char uuid[37];
    if ((error = nomad_uuid(uuid)) < 0) {
        pu_diagf(call, "", "cannot make an ACL token: no randomness");
        return error;
    }
    error = secret_set(ctx, call, what, uuid);
    OPENSSL_cleanse(uuid, sizeof(uuid));
    return error < 0 ? error : secret_get(ctx, call, what, out);
}

/* The CA key and certificate; a missing or expiring certificate is
 * (re)made for the kept key, so node certificates stay valid. */
static int ca_load(infra_scheduler *ctx, infra_call *call, int create, nomad_keys *k)
{
    char *key = NULL, *cert = NULL, *err = NULL;
    int error = secret_get(ctx, call, "ca.key", &k->ca_key);
    if (error == 0)
        error = secret_get(ctx, call, "ca.cert", &k->ca_cert);
    if (error == 0 &&
        nomad_tls_ca_fits(pu_host->secrets->value(k->ca_cert), pu_host->secrets->value(k->ca_key)))
        return 0;
    if (error < 0 && error != INFRA_ENOTFOUND)
        return error;
    if (!create)
        return missing(ctx, call, k->ca_key ? "ca.cert" : "ca.key");
    if (k->ca_key == NULL) {
        if ((error = nomad_tls_key_new(&key, &err)) < 0 ||
            (error = secret_set(ctx, call, "ca.key", key)) < 0 ||
            (error = secret_get(ctx, call, "ca.key", &k->ca_key)) < 0)
            goto done;
    }
    pu_host->secrets->free(k->ca_cert);
    k->ca_cert = NULL;
    if ((error = nomad_tls_ca_new(pu_host->secrets->value(k->ca_key), ctx->cluster, &cert, &err)) <
            0 ||
        (error = secret_set(ctx, call, "ca.cert", cert)) < 0 ||
        (error = secret_get(ctx, call, "ca.cert", &k->ca_cert)) < 0)
        goto done;
    pu_logf(call, INFRA_LOG_INFO, "cluster %s: made the cluster CA", ctx->cluster);
done:
    if (err != NULL) {
        pu_diagf(call, "", "cluster %s: %s", ctx->cluster, err);
        free(err);
    }
    free_text(key);
    free(cert);
    return error;
}

int nomad_keys_load(infra_scheduler *ctx, infra_call *call, int create, nomad_keys *out)
{
    static const char *const gossip_names[] = {"consul_gossip_key", "nomad_gossip_key"};
    static const char *const token_names[] = {"consul_management_token", "nomad_management_token"};
    int error = 0;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&ctx->keys_lock);
    for (int a = 0; a < NOMAD_AGENT_COUNT && error == 0; a++) {
        if (ctx->s.gossip)
            error = gossip_key(ctx, call, gossip_names[a], create, &out->gossip[a]);
        if (error == 0 && ctx->s.acl)
            error = token(ctx, call, token_names[a], create, &out->token[a]);
    }
    if (error == 0 && ctx->s.acl)
        error = token(ctx, call, "consul_replication_token", 1, &out->replication);
    if (error == 0 && ctx->s.tls)
        error = ca_load(ctx, call, create, out);
    pthread_mutex_unlock(&ctx->keys_lock);
    if (error < 0)
        nomad_keys_free(out);
    return error;
}

int nomad_keys_pool_token(infra_scheduler *ctx, infra_call *call, int create, infra_secret **out)
{
    *out = NULL;
    if (!ctx->s.acl)
        return 0;
    pthread_mutex_lock(&ctx->keys_lock);
    int error = token(ctx, call, "consul_pool_token", create, out);
    pthread_mutex_unlock(&ctx->keys_lock);
    return error;
}

void nomad_keys_free(nomad_keys *k)
{
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        pu_host->secrets->free(k->gossip[a]);
        pu_host->secrets->free(k->token[a]);
    }
    pu_host->secrets->free(k->replication);
    pu_host->secrets->free(k->ca_cert);
    pu_host->secrets->free(k->ca_key);
    memset(k, 0, sizeof(*k));
}

const char *nomad_keys_token(const nomad_keys *k, nomad_agent agent)
{
    return k && k->token[agent] ? pu_host->secrets->value(k->token[agent]) : NULL;
}

int nomad_node_cert_load(infra_scheduler *ctx, infra_call *call, const nomad_keys *keys,
                         const nomad_node *node, nomad_node_cert *out)
{
    char *key_what = pu_printf("node.%s.key", node->name);
    char *cert_what = pu_printf("node.%s.cert", node->name);
    char *key = NULL, *cert = NULL, *err = NULL;
    nomad_cert_names names;
    int error = 0;

    memset(out, 0, sizeof(*out));
    nomad_node_cert_names(node, &names);
    pthread_mutex_lock(&ctx->keys_lock);
    error = secret_get(ctx, call, key_what, &out->key);
    if (error == INFRA_ENOTFOUND) {
        if ((error = nomad_tls_key_new(&key, &err)) < 0 ||
            (error = secret_set(ctx, call, key_what, key)) < 0 ||
            (error = secret_get(ctx, call, key_what, &out->key)) < 0)
            goto done;
    } else if (error < 0) {
        goto done;
    }
    const char *ca = pu_host->secrets->value(keys->ca_cert);
    const char *ca_key = pu_host->secrets->value(keys->ca_key);
    const char *node_key = pu_host->secrets->value(out->key);
    error = secret_get(ctx, call, cert_what, &out->cert);
    if (error == 0 && nomad_tls_cert_fits(ca, node_key, pu_host->secrets->value(out->cert), &names))
        goto done;
    if (error < 0 && error != INFRA_ENOTFOUND)
        goto done;
    pu_host->secrets->free(out->cert);
    out->cert = NULL;
    if ((error = nomad_tls_cert_new(ca, ca_key, node_key, &names, &cert, &err)) < 0 ||
        (error = secret_set(ctx, call, cert_what, cert)) < 0 ||
        (error = secret_get(ctx, call, cert_what, &out->cert)) < 0)
        goto done;
    pu_logf(call, INFRA_LOG_INFO, "node %s: issued its TLS certificate", node->name);
done:
    pthread_mutex_unlock(&ctx->keys_lock);
    if (err != NULL) {
        pu_diagf(call, "", "node %s: %s", node->name, err);
        free(err);
    }
    if (error < 0)
        nomad_node_cert_free(out);
    free_text(key);
    free(cert);
    free(key_what);
    free(cert_what);
    return error;
}

void nomad_node_cert_free(nomad_node_cert *c)
{
    pu_host->secrets->free(c->key);
    pu_host->secrets->free(c->cert);
    c->key = c->cert = NULL;
}
