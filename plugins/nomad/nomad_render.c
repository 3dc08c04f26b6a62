/* The agents' configuration files, as JSON (a documented format of both
 * agents; keys are the documented HCL keys), for Nomad 1.7 and Consul 1.17.
 *
 * Each agent gets two files in its config directory, merged by the agent
 * in lexical order: agent.json (0644) with everything that is not secret,
 * secrets.json (0600) with the gossip key and the ACL tokens. TLS material
 * goes under tls/ (only the key is 0600). A node's files depend on its own
 * region only, so adding a region or federating changes nothing on the
 * nodes that exist.
 *
 * ACLs have one authority per federation: the primary region is Consul's
 * primary_datacenter and Nomad's authoritative_region for every federated
 * region; a region outside the federation is its own. The primary holds
 * the management tokens (Consul's initial_management, Nomad's bootstrap
 * secret); secondaries replicate them, Consul with the replication token
 * (acl.tokens.replication, enable_token_replication), Nomad with its
 * management token as acl.replication_token: Nomad chooses every token's
 * secret itself except the bootstrap one, and its replication needs a
 * management token anyway. All of it is known before any region runs, so
 * a secondary's files never change when the federation happens. */
#include "nomad.h"

#include <stdlib.h>
#include <string.h>

void nomad_files_add(nomad_files *f, const char *path, const char *data, size_t len, int mode,
                     int agent, int secret)
{
    f->v = pu_realloc(f->v, (f->n + 1) * sizeof(*f->v));
    nomad_file *x = &f->v[f->n++];
    x->path = pu_strdup(path);
    x->data = pu_malloc(len + 1);
    memcpy(x->data, data, len);
    x->data[len] = '\0';
    x->len = len;
    x->mode = mode;
    x->agent = agent;
    x->secret = secret;
}

void nomad_files_free(nomad_files *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].path);
        /* the data may be a key or a token */
        memset(f->v[i].data, 0, f->v[i].len);
        free(f->v[i].data);
    }
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

const nomad_file *nomad_files_find(const nomad_files *f, const char *path)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].path, path) == 0)
            return &f->v[i];
    return NULL;
}

static const char *config_dir(nomad_agent agent)
{
    return agent == NOMAD_AGENT_CONSUL ? CONSUL_CONFIG_DIR : NOMAD_CONFIG_DIR;
}

static int str_array(infra_json *obj, const char *key, const nomad_strs *items, const char *suffix)
{
    infra_json *arr = NJ->new_array();
    int error = arr ? 0 : INFRA_EINTERNAL;
    for (size_t i = 0; error == 0 && i < items->n; i++) {
        char *s = pu_printf("%s%s", items->v[i], suffix ? suffix : "");
        error = nomad_jappend_str(arr, s);
        free(s);
    }
    if (error == 0)
        return pu_json_set(obj, key, arr);
    NJ->release(arr);
    return error;
}

/* tls.{ca_file,cert_file,key_file} or tls.defaults.{...} */
static int tls_files(infra_json *obj, nomad_agent agent)
{
    const char *dir = config_dir(agent);
    char *ca = pu_printf("%s/tls/ca.pem", dir), *cert = pu_printf("%s/tls/node.pem", dir);
    char *key = pu_printf("%s/tls/node-key.pem", dir);
    int error = 0;
    if ((error = nomad_jset_str(obj, "ca_file", ca)) < 0 ||
        (error = nomad_jset_str(obj, "cert_file", cert)) < 0 ||
        (error = nomad_jset_str(obj, "key_file", key)) < 0) {
    }
    free(ca);
    free(cert);
    free(key);
    return error;
}

static int render_nomad(const nomad_render_in *in, infra_json *c, infra_json *sec)
{
    const nomad_node *n = in->node;
    const nomad_settings *s = in->s;
    const char *ip = n->private_ip;
    nomad_strs peers = {0};
    infra_json *o;
    int error = 0;

    nomad_region_peers(in->region, n, &peers);
    if ((error = nomad_jset_str(c, "name", n->name)) < 0 ||
        (error = nomad_jset_str(c, "region", n->region)) < 0 ||
        (error = nomad_jset_str(c, "datacenter", n->datacenter)) < 0 ||
        (error = nomad_jset_str(c, "data_dir", NOMAD_DATA_DIR)) < 0 ||
        (error = nomad_jset_str(c, "bind_addr", ip)) < 0)
        goto done;
    if ((o = nomad_jobj(c, "advertise")) == NULL || (error = nomad_jset_str(o, "http", ip)) < 0 ||
        (error = nomad_jset_str(o, "rpc", ip)) < 0 || (error = nomad_jset_str(o, "serf", ip)) < 0)
        goto fail;
    if (n->server) {
        if ((o = nomad_jobj(c, "server")) == NULL ||
            (error = pu_json_set_bool(o, "enabled", 1)) < 0 ||
            (error = pu_json_set_int(o, "bootstrap_expect", (int64_t)in->region->nservers)) < 0)
            goto fail;
        if (s->acl && (error = nomad_jset_str(o, "authoritative_region", in->authority)) < 0)
            goto done;
        if (peers.n > 0) {
            infra_json *join = nomad_jobj(o, "server_join");
            if (join == NULL || (error = str_array(join, "retry_join", &peers, NULL)) < 0)
                goto fail;
        }
        if (in->gossip[NOMAD_AGENT_NOMAD] &&
            ((o = nomad_jobj(sec, "server")) == NULL ||
             (error = nomad_jset_str(o, "encrypt", in->gossip[NOMAD_AGENT_NOMAD])) < 0))
            goto fail;
    }
    /* A combined node (a server that is also a client) gets both stanzas
     * in one agent, which Nomad allows: its client names every server of
     * the region, itself included. */
    if (n->client) {
        nomad_strs servers = {0};
        nomad_region_peers(in->region, NULL, &servers);
        if ((o = nomad_jobj(c, "client")) == NULL ||
            (error = pu_json_set_bool(o, "enabled", 1)) < 0 ||
            (error = str_array(o, "servers", &servers, ":4647")) < 0) {
            nomad_strs_free(&servers);
            goto fail;
        }
        nomad_strs_free(&servers);
        if (s->raw_exec) {
            infra_json *p = nomad_jobj(c, "plugin");
            p = p ? nomad_jobj(p, "raw_exec") : NULL;
            p = p ? nomad_jobj(p, "config") : NULL;
            if (p == NULL || (error = pu_json_set_bool(p, "enabled", 1)) < 0)
                goto fail;
        }
    }
    if (s->acl &&
        ((o = nomad_jobj(c, "acl")) == NULL || (error = pu_json_set_bool(o, "enabled", 1)) < 0))
        goto fail;
    if (s->tls) {
        if ((o = nomad_jobj(c, "tls")) == NULL || (error = pu_json_set_bool(o, "http", 1)) < 0 ||
            (error = pu_json_set_bool(o, "rpc", 1)) < 0 ||
            (error = tls_files(o, NOMAD_AGENT_NOMAD)) < 0 ||
            (error = pu_json_set_bool(o, "verify_server_hostname", 1)) < 0 ||
            (error = pu_json_set_bool(o, "verify_https_client", 0)) < 0)
            goto fail;
    }
    if ((o = nomad_jobj(c, "consul")) == NULL)
        goto fail;
    if (s->tls) {
        char *ca = pu_printf("%s/tls/ca.pem", NOMAD_CONFIG_DIR);
        error = nomad_jset_str(o, "address", "127.0.0.1:8501");
        if (error == 0)
            error = pu_json_set_bool(o, "ssl", 1);
        if (error == 0)
            error = nomad_jset_str(o, "ca_file", ca);
        free(ca);
    } else {
        error = nomad_jset_str(o, "address", "127.0.0.1:8500");
    }
    if (error == 0 && in->consul_token &&
        ((o = nomad_jobj(sec, "consul")) == NULL ||
         (error = nomad_jset_str(o, "token", in->consul_token)) < 0))
        goto fail;
    if (error == 0 && s->acl && n->server && strcmp(in->authority, n->region) != 0 &&
        in->nomad_token &&
        ((o = nomad_jobj(sec, "acl")) == NULL ||
         (error = nomad_jset_str(o, "replication_token", in->nomad_token)) < 0))
        goto fail;
    goto done;
fail:
    if (error == 0)
        error = INFRA_EINTERNAL;
done:
    nomad_strs_free(&peers);
    return error;
}

static int render_consul(const nomad_render_in *in, infra_json *c, infra_json *sec)
{
    const nomad_node *n = in->node;
    const nomad_settings *s = in->s;
    const char *ip = n->private_ip;
    nomad_strs join = {0};
    infra_json *o;
    int error = 0;

    nomad_region_peers(in->region, n, &join);
    char *client_addr = pu_printf("127.0.0.1 %s", ip);
    if ((error = nomad_jset_str(c, "node_name", n->name)) < 0 ||
        (error = nomad_jset_str(c, "datacenter", n->consul_dc ? n->consul_dc : n->region)) < 0 ||
        (error = nomad_jset_str(c, "data_dir", CONSUL_DATA_DIR)) < 0 ||
        (error = pu_json_set_bool(c, "server", n->server)) < 0 ||
        (n->server &&
         (error = pu_json_set_int(c, "bootstrap_expect", (int64_t)in->region->nservers)) < 0) ||
        (error = nomad_jset_str(c, "bind_addr", ip)) < 0 ||
        (error = nomad_jset_str(c, "advertise_addr", ip)) < 0 ||
        (error = nomad_jset_str(c, "client_addr", client_addr)) < 0 ||
        (join.n > 0 && (error = str_array(c, "retry_join", &join, NULL)) < 0))
        goto done;
    int secondary = strcmp(in->authority, n->region) != 0;
    if ((s->acl || secondary) &&
        (error = nomad_jset_str(c, "primary_datacenter", in->consul_authority)) < 0)
        goto done;
    if (s->acl) {
        if ((o = nomad_jobj(c, "acl")) == NULL || (error = pu_json_set_bool(o, "enabled", 1)) < 0 ||
            (error = nomad_jset_str(o, "default_policy", "deny")) < 0 ||
            (error = pu_json_set_bool(o, "enable_token_persistence", 1)) < 0 ||
            (secondary && (error = pu_json_set_bool(o, "enable_token_replication", 1)) < 0))
            goto fail;
    }
    if (s->tls) {
        infra_json *tls = nomad_jobj(c, "tls");
        infra_json *def = tls ? nomad_jobj(tls, "defaults") : NULL;
        infra_json *rpc = tls ? nomad_jobj(tls, "internal_rpc") : NULL;
        if (def == NULL || rpc == NULL || (error = tls_files(def, NOMAD_AGENT_CONSUL)) < 0 ||
            (error = pu_json_set_bool(def, "verify_incoming", 0)) < 0 ||
            (error = pu_json_set_bool(def, "verify_outgoing", 1)) < 0 ||
            (error = pu_json_set_bool(rpc, "verify_server_hostname", 1)) < 0 ||
            (o = nomad_jobj(c, "ports")) == NULL || (error = pu_json_set_int(o, "http", -1)) < 0 ||
            (error = pu_json_set_int(o, "https", CONSUL_PORT_HTTPS)) < 0)
            goto fail;
    }
    if (in->gossip[NOMAD_AGENT_CONSUL] &&
        (error = nomad_jset_str(sec, "encrypt", in->gossip[NOMAD_AGENT_CONSUL])) < 0)
        goto done;
    if (s->acl && in->consul_token) {
        /* The agents act with the management token: Consul has no other
         * token until one is made through its ACL API. */
        infra_json *tokens = nomad_jobj(sec, "acl");
        tokens = tokens ? nomad_jobj(tokens, "tokens") : NULL;
        /* initial_management counts in the primary only; secondaries get
         * it by replication, with the replication token. */
        if (tokens == NULL ||
            (n->server && !secondary &&
             (error = nomad_jset_str(tokens, "initial_management", in->consul_token)) < 0) ||
            (error = nomad_jset_str(tokens, "agent", in->consul_token)) < 0 ||
            (n->server && secondary && in->replication &&
             (error = nomad_jset_str(tokens, "replication", in->replication)) < 0))
            goto fail;
    }
    goto done;
fail:
    if (error == 0)
        error = INFRA_EINTERNAL;
done:
    free(client_addr);
    nomad_strs_free(&join);
    return error;
}

int nomad_render_config(const nomad_render_in *in, nomad_agent agent, infra_json **config,
                        infra_json **secrets)
{
    infra_json *c = NJ->new_object(), *sec = NJ->new_object();
    int error = c && sec ? 0 : INFRA_EINTERNAL;
    nomad_render_in own = *in;
    if (own.authority == NULL)
        own.authority = in->node->region; /* a region of its own */
    if (own.consul_authority == NULL)
        own.consul_authority = strcmp(own.authority, in->node->region) == 0 && in->node->consul_dc
                                   ? in->node->consul_dc
                                   : own.authority;
    if (error == 0)
        error =
            agent == NOMAD_AGENT_CONSUL ? render_consul(&own, c, sec) : render_nomad(&own, c, sec);
    if (error < 0) {
        NJ->release(c);
        NJ->release(sec);
        return error;
    }
    *config = c;
    *secrets = sec;
    return 0;
}

static void add_json(nomad_files *out, const char *path, const infra_json *v, int mode, int agent,
                     int secret)
{
    char *text = nomad_jdump(v);
    char *line = pu_printf("%s\n", text);
    nomad_files_add(out, path, line, strlen(line), mode, agent, secret);
    memset(text, 0, strlen(text));
    memset(line, 0, strlen(line));
    free(text);
    free(line);
}

int nomad_render_files(const nomad_render_in *in, nomad_files *out)
{
    int error = 0;
    for (int a = 0; a < NOMAD_AGENT_COUNT && error == 0; a++) {
        infra_json *config = NULL, *secrets = NULL;
        const char *dir = config_dir((nomad_agent)a);
        if ((error = nomad_render_config(in, (nomad_agent)a, &config, &secrets)) < 0)
            break;
        char *p1 = pu_printf("%s/agent.json", dir), *p2 = pu_printf("%s/secrets.json", dir);
        add_json(out, p1, config, 0644, a, 0);
        add_json(out, p2, secrets, 0600, a, 1);
        free(p1);
        free(p2);
        NJ->release(config);
        NJ->release(secrets);
        if (in->s->tls && in->ca_pem && in->cert_pem && in->key_pem) {
            static const char *const names[] = {"ca.pem", "node.pem", "node-key.pem"};
            const char *data[] = {in->ca_pem, in->cert_pem, in->key_pem};
            for (int i = 0; i < 3; i++) {
                char *p = pu_printf("%s/tls/%s", dir, names[i]);
                nomad_files_add(out, p, data[i], strlen(data[i]), i == 2 ? 0600 : 0644, a, i == 2);
                free(p);
            }
        } else if (in->s->tls) {
            error = INFRA_EINTERNAL;
        }
    }
    return error;
}
