/* node_bootstrap and node_remove.
 *
 * Bootstrap is idempotent: it renders every file, compares each with what
 * the node holds (mode and SHA-256, one SSH command), uploads only what
 * differs, restarts an agent only when one of its own files changed and
 * starts it when it is not running. A second run on an unchanged node
 * therefore uploads nothing and restarts nothing. What the settings install
 * (nomad_install.c) is put on the node first, and counts as one of its
 * agent's files. A running agent is restarted one node of its region at a
 * time: the next node's restart waits until this node's agents answer. */
#include "nomad.h"

#include <stdlib.h>
#include <string.h>

#define REMOVE_SSH_MS 60000
#define DRAIN_GRACE_MS 60000

static const nomad_node *cluster_node(const nomad_cluster *c, const char *name)
{
    for (size_t i = 0; i < c->nnodes; i++)
        if (strcmp(c->nodes[i].name, name) == 0)
            return &c->nodes[i];
    return NULL;
}

/* Every path bootstrap may write, so that one inspection covers both init
 * systems. */
static void managed_paths(const nomad_files *rendered, nomad_strs *out)
{
    for (size_t i = 0; i < rendered->n; i++)
        nomad_strs_add(out, rendered->v[i].path);
    nomad_strs_add(out, NOMAD_SUPERVISOR);
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        nomad_strs_addf(out, NOMAD_TOOL_DIR "/%s.run", nomad_agent_name((nomad_agent)a));
        nomad_strs_addf(out, NOMAD_UNIT_DIR "/%s.service", nomad_agent_name((nomad_agent)a));
    }
}

static int render_node(infra_scheduler *self, infra_call *call, const nomad_cluster *c,
                       const nomad_node *n, const nomad_keys *keys, nomad_files *out)
{
    nomad_node_cert cert = {0};
    int error = 0;
    if (self->s.tls && (error = nomad_node_cert_load(self, call, keys, n, &cert)) < 0)
        return error;
    const infra_secret_api *sec = pu_host->secrets;
    nomad_render_in in = {
        .s = &self->s,
        .region = nomad_cluster_region(c, n->region),
        .node = n,
        .gossip = {sec->value(keys->gossip[NOMAD_AGENT_CONSUL]),
                   sec->value(keys->gossip[NOMAD_AGENT_NOMAD])},
        .consul_token = sec->value(keys->token[NOMAD_AGENT_CONSUL]),
        .nomad_token = sec->value(keys->token[NOMAD_AGENT_NOMAD]),
        .replication = sec->value(keys->replication),
        .authority = nomad_cluster_authority(c, n->region),
        .consul_authority = nomad_cluster_consul_dc(c, nomad_cluster_authority(c, n->region)),
        .ca_pem = sec->value(keys->ca_cert),
        .cert_pem = sec->value(cert.cert),
        .key_pem = sec->value(cert.key),
    };
    if ((error = nomad_render_files(&in, out)) < 0)
        pu_diagf(call, "", "node %s: cannot render the agents' configuration", n->name);
    nomad_node_cert_free(&cert);
    return error;
}

int nomad_node_bootstrap(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         const infra_json *node)
{
    nomad_cluster c;
    nomad_node arg;
    nomad_keys keys = {0};
    nomad_files files = {0}, changed = {0};
    nomad_remote r = {0};
    nomad_strs paths = {0};
    int agent_changed[NOMAD_AGENT_COUNT] = {0}, units_changed = 0;
    int installed[NOMAD_AGENT_COUNT] = {0};
    int restarting = 0;
    int error;

    if ((error = nomad_cluster_parse(call, cluster, 0, &c)) < 0)
        return error;
    if ((error = nomad_node_parse(call, node, 1, &arg)) < 0)
        goto done;
    const nomad_node *n = cluster_node(&c, arg.name);
    if (n == NULL || n->private_ip == NULL) {
        pu_diagf(call, "", "node %s is not listed with its private_ip in cluster %s", arg.name,
                 c.name);
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = nomad_keys_load(self, call, 1, &keys)) < 0 ||
        (error = render_node(self, call, &c, n, &keys, &files)) < 0)
        goto done;
    managed_paths(&files, &paths);
    /* node_deadline bounds each wait: for SSH to answer, then for the agents */
    if ((error = nomad_remote_open(self, call, n, self->s.node_deadline_ms, &r)) < 0 ||
        (error = nomad_install_node(self, call, cluster, n, &r, installed)) < 0 ||
        (error = nomad_remote_inspect(self, call, &r, &paths)) < 0 ||
        (error = nomad_remote_service_files(self, &r, &files)) < 0)
        goto done;
    for (size_t i = 0; i < files.n; i++) {
        const nomad_file *f = &files.v[i];
        if (nomad_remote_has(&r, f))
            continue;
        nomad_files_add(&changed, f->path, f->data, f->len, f->mode, f->agent, f->secret);
        if (f->agent >= 0)
            agent_changed[f->agent] = 1;
        if (strncmp(f->path, NOMAD_UNIT_DIR "/", strlen(NOMAD_UNIT_DIR) + 1) == 0)
            units_changed = 1;
    }
    /* The agents merge every .hcl and .json file of their directory: a
     * file infra did not write (a package's default nomad.hcl) would
     * change the configuration, so it is moved aside. */
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        nomad_strs foreign = {0};
        for (size_t i = 0; i < r.loaded[a].n; i++)
            if (nomad_files_find(&files, r.loaded[a].v[i]) == NULL)
                nomad_strs_add(&foreign, r.loaded[a].v[i]);
        if (foreign.n > 0) {
            char *list = nomad_strs_join(&foreign);
            pu_logf(call, INFRA_LOG_WARN,
                    "node %s: %s merges every .hcl and .json file of its configuration "
                    "directory; moved aside (renamed *" NOMAD_DISABLED_SUFFIX "): %s",
                    n->name, nomad_agent_name((nomad_agent)a), list);
            free(list);
            error = nomad_remote_disable(call, &r, &foreign);
            agent_changed[a] = 1;
        }
        nomad_strs_free(&foreign);
        if (error < 0)
            goto done;
    }
    if ((error = nomad_remote_put(call, &r, &changed)) < 0)
        goto done;
    pu_logf(call, INFRA_LOG_INFO, "node %s: %zu file%s updated%s", n->name, changed.n,
            changed.n == 1 ? "" : "s", r.systemd ? " (systemd)" : "");
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        agent_changed[a] |= installed[a];
        restarting |= r.pid[a] > 0 && agent_changed[a];
    }
    /* A region keeps its quorum and its capacity while a new version or
     * configuration rolls through it. */
    if (restarting) {
        if ((error = nomad_restart_begin(self, call, n->region)) < 0) {
            restarting = 0;
            goto done;
        }
        pu_logf(call, INFRA_LOG_INFO, "node %s: restarting its agents (one node of region %s at "
                "a time)", n->name, n->region);
    }
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        int running = r.pid[a] > 0;
        if (running && !agent_changed[a])
            continue;
        if ((error = nomad_remote_start(call, &r, (nomad_agent)a, running, units_changed)) < 0)
            goto done;
    }
    nomad_remote_close(&r);
    nomad_api_ctx a = {self, call, &keys};
    error = nomad_node_wait(&a, &c, n, pu_host->now_ms() + self->s.node_deadline_ms);
    if (restarting && error == 0)
        pu_logf(call, INFRA_LOG_INFO, "node %s: its agents answer again after the restart",
                n->name);
done:
    if (restarting)
        nomad_restart_end(self, n->region);
    nomad_remote_close(&r);
    nomad_strs_free(&paths);
    nomad_files_free(&changed);
    nomad_files_free(&files);
    nomad_keys_free(&keys);
    nomad_cluster_free(&c);
    return error;
}

/* ------------------------------------------------------------------ */
/* Removal                                                            */

/* The Nomad node id of a client, or NULL (caller frees). */
static char *client_id(const nomad_api_ctx *a, const nomad_node *via, const nomad_node *n)
{
    infra_json *nodes = NULL;
    char *what = pu_printf("region %s", n->region);
    char *id = NULL;
    if (nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", "/v1/nodes", NULL, NOMAD_API_RETRY, what,
                       &nodes) == 0) {
        const char *found = pu_json_str(nomad_node_entry(nodes, n->name), "ID");
        id = found ? pu_strdup(found) : NULL;
    }
    NJ->release(nodes);
    free(what);
    return id;
}

static int drain_client(infra_scheduler *self, const nomad_api_ctx *a, const nomad_region *r,
                        const nomad_node *n)
{
    const nomad_node *via = nomad_api_any_server(a, r, NOMAD_AGENT_NOMAD, n);
    if (via == NULL) {
        pu_logf(a->call, INFRA_LOG_WARN, "node %s: no server of region %s answers; not drained",
                n->name, r->name);
        return 0;
    }
    char *id = client_id(a, via, n);
    if (id == NULL) {
        pu_logf(a->call, INFRA_LOG_INFO, "node %s: not registered with Nomad; nothing to drain",
                n->name);
        return 0;
    }
    int error = nomad_node_drain(a, via, id, n->name, self->s.drain_deadline_ms);
    free(id);
    return error;
}

int nomad_node_drain(const nomad_api_ctx *a, const nomad_node *via, const char *id,
                     const char *label, int64_t drain_deadline_ms)
{
    char *what = pu_printf("node %s", label);
    char *path = pu_printf("/v1/node/%s/drain", id), *node_path = pu_printf("/v1/node/%s", id);
    char *body = pu_printf("{\"DrainSpec\":{\"Deadline\":%lld,\"IgnoreSystemJobs\":false},"
                           "\"Meta\":{\"reason\":\"removed by infra\"}}",
                           (long long)drain_deadline_ms * 1000000LL);
    infra_json *j = NULL;
    int64_t start = pu_host->now_ms();
    int64_t deadline = start + drain_deadline_ms + DRAIN_GRACE_MS;
    int error =
        nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "POST", path, body, NOMAD_API_RETRY, what, &j);
    NJ->release(j);
    j = NULL;
    if (error < 0)
        goto done;
    pu_logf(a->call, INFRA_LOG_INFO, "node %s: draining", label);
    for (;;) {
        if ((error = nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", node_path, NULL,
                                    NOMAD_API_RETRY, what, &j)) < 0)
            goto done;
        const infra_json *strategy = NJ->get(j, "DrainStrategy");
        int draining = 0;
        if (nomad_jbool(j, "Drain", 0, &draining) < 0)
            draining = 0;
        draining |= strategy != NULL && NJ->type(strategy) != INFRA_JSON_NULL;
        NJ->release(j);
        j = NULL;
        if (!draining)
            break;
        if (pu_host->now_ms() >= deadline) {
            pu_diagf(a->call, "", "node %s: still draining after %lld s", label,
                     (long long)((pu_host->now_ms() - start) / 1000));
            error = INFRA_ETRANSIENT;
            goto done;
        }
        if ((error = nomad_sleep_until(a->call, 1000, deadline)) < 0)
            goto done;
    }
    pu_logf(a->call, INFRA_LOG_INFO, "node %s: drained; its allocations moved", label);
done:
    free(body);
    free(path);
    free(node_path);
    free(what);
    return error;
}

/* Removes a stopped server from both gossip pools and Raft, from a peer. */
static void server_forget(const nomad_api_ctx *a, const nomad_region *r, const nomad_node *n)
{
    for (int ag = 0; ag < NOMAD_AGENT_COUNT; ag++) {
        const nomad_node *via = nomad_api_any_server(a, r, (nomad_agent)ag, n);
        if (via == NULL) {
            pu_logf(a->call, INFRA_LOG_WARN, "node %s: no other %s server answers to force it out",
                    n->name, nomad_agent_name((nomad_agent)ag));
            continue;
        }
        char *path =
            ag == NOMAD_AGENT_NOMAD
                ? pu_printf("/v1/agent/force-leave?node=%s.%s&prune=true", n->name, r->name)
                : pu_printf("/v1/agent/force-leave/%s?prune", n->name);
        infra_http_response *resp = NULL;
        int error = nomad_api(a, via, (nomad_agent)ag, ag == NOMAD_AGENT_NOMAD ? "POST" : "PUT",
                              path, NULL, NOMAD_API_RETRY, &resp);
        if (error == 0 && resp->status == 200)
            pu_logf(a->call, INFRA_LOG_INFO, "node %s: forced out of %s", n->name,
                    nomad_agent_name((nomad_agent)ag));
        else
            pu_logf(a->call, INFRA_LOG_WARN, "node %s: %s force-leave answered %ld", n->name,
                    nomad_agent_name((nomad_agent)ag), resp ? resp->status : 0L);
        pu_host->http->response_free(resp);
        free(path);
    }
}

int nomad_node_remove(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                      const infra_json *node)
{
    nomad_cluster c;
    nomad_node arg;
    nomad_keys keys = {0};
    nomad_remote rem = {0};
    int error;

    if ((error = nomad_cluster_parse(call, cluster, 0, &c)) < 0)
        return error;
    if ((error = nomad_node_parse(call, node, 0, &arg)) < 0 ||
        (error = nomad_keys_load(self, call, 1, &keys)) < 0)
        goto done;
    const nomad_node *n = cluster_node(&c, arg.name);
    if (n == NULL)
        n = &arg;
    const nomad_region *r = nomad_cluster_region(&c, n->region);
    nomad_api_ctx a = {self, call, &keys};
    if (n->client && r != NULL && (error = drain_client(self, &a, r, n)) < 0)
        goto done;
    /* A graceful Consul leave, from the node's own agent. */
    infra_http_response *resp = NULL;
    if (n->private_ip && nomad_api(&a, n, NOMAD_AGENT_CONSUL, "PUT", "/v1/agent/leave", NULL,
                                   NOMAD_API_PROBE, &resp) == 0)
        pu_logf(call, INFRA_LOG_INFO, "node %s: consul left (%ld)", n->name, resp->status);
    pu_host->http->response_free(resp);

    int64_t ssh_ms =
        self->s.node_deadline_ms < REMOVE_SSH_MS ? self->s.node_deadline_ms : REMOVE_SSH_MS;
    if (n->ssh.host == NULL || nomad_remote_open(self, call, n, ssh_ms, &rem) < 0) {
        pu_logf(call, INFRA_LOG_WARN,
                "node %s does not answer over SSH; its agents were not "
                "stopped",
                n->name);
    } else {
        nomad_strs none = {0};
        for (int ag = 0; ag < NOMAD_AGENT_COUNT; ag++)
            rem.want_bin[ag] = nomad_install_program_path(self, cluster, n, (nomad_agent)ag);
        if ((error = nomad_remote_inspect(self, call, &rem, &none)) == 0) {
            for (int ag = NOMAD_AGENT_COUNT - 1; ag >= 0 && error == 0; ag--)
                error = nomad_remote_stop(call, &rem, (nomad_agent)ag);
        } else if (error == INFRA_EINVALID) {
            error = 0; /* no agent binaries: nothing runs */
        }
        if (error < 0)
            goto done;
    }
    if (n->server && r != NULL)
        server_forget(&a, r, n);
    pu_logf(call, INFRA_LOG_INFO, "node %s removed from cluster %s", n->name, c.name);
done:
    nomad_remote_close(&rem);
    nomad_keys_free(&keys);
    nomad_cluster_free(&c);
    return error;
}
