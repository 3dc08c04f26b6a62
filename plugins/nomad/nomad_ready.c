/* Readiness: a node's agents answering (node_bootstrap), a region ready
 * (wait_ready: leaders, members, clients), Nomad's ACL bootstrap, and the
 * federation of two regions through the agents' join APIs.
 *
 * Polls never report each failed attempt: the host keeps the first error
 * of a call as its message, so only the final verdict is a diagnostic, and
 * it names what is missing. */
#include "nomad.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define POLL_MS 1000
#define REGION_SECONDARY 1
#define REGION_REPLICATED 2

/* One poll: 0 when the agent answered (any status; *json parsed when the
 * body is JSON), INFRA_ETRANSIENT when it did not, quietly. */
static int poll_json(const nomad_api_ctx *a, const nomad_node *node, nomad_agent agent,
                     const char *method, const char *path, const char *body, unsigned flags,
                     long *status, infra_json **json)
{
    infra_http_response *resp = NULL;
    *json = NULL;
    *status = 0;
    int error = nomad_api(a, node, agent, method, path, body, flags | NOMAD_API_PROBE, &resp);
    if (error < 0)
        return error == INFRA_ECANCELLED ? error : INFRA_ETRANSIENT;
    *status = resp->status;
    if (resp->body_len > 0)
        *json = NJ->parse(resp->body, resp->body_len);
    pu_host->http->response_free(resp);
    return 0;
}

/* The leader an agent reports: 1 leader, 0 none, ETRANSIENT no answer. */
static int leader_of(const nomad_api_ctx *a, const nomad_node *node, nomad_agent agent)
{
    long status;
    infra_json *j;
    int error =
        poll_json(a, node, agent, "GET", "/v1/status/leader", NULL, NOMAD_API_NOTOKEN, &status, &j);
    if (error < 0)
        return error;
    const char *s = NJ->string(j);
    int leader = status == 200 && s != NULL && *s != '\0';
    NJ->release(j);
    return leader;
}

/* 1 when names holds node's member name: NAME, or NAME.REGION (Nomad
 * servers and Consul's WAN pool). */
static int member_has(const nomad_strs *names, const char *node, const char *region)
{
    char *full = pu_printf("%s.%s", node, region);
    int found = nomad_strs_has(names, node) || nomad_strs_has(names, full);
    free(full);
    return found;
}

/* The alive members an agent lists: Nomad servers, Consul LAN or WAN
 * members. With region, only those of that region. *status is the HTTP
 * status (403: token refused). */
static int members_alive(const nomad_api_ctx *a, const nomad_node *via, nomad_agent agent, int wan,
                         const char *region, nomad_strs *out, long *status)
{
    infra_json *j = NULL;
    const char *path = agent == NOMAD_AGENT_NOMAD ? "/v1/agent/members"
                       : wan                      ? "/v1/agent/members?wan=1"
                                                  : "/v1/agent/members";
    int error = poll_json(a, via, agent, "GET", path, NULL, 0, status, &j);
    if (error < 0)
        return error;
    const infra_json *list = agent == NOMAD_AGENT_NOMAD ? NJ->get(j, "Members") : j;
    for (size_t i = 0; *status == 200 && i < NJ->length(list); i++) {
        const infra_json *m = NJ->at(list, i);
        const char *name = pu_json_str(m, "Name");
        const infra_json *st = NJ->get(m, "Status");
        int alive = agent == NOMAD_AGENT_NOMAD
                        ? (NJ->string(st) && strcmp(NJ->string(st), "alive") == 0)
                        : (NJ->type(st) == INFRA_JSON_INT && NJ->integer(st) == 1);
        const char *tag =
            pu_json_str(NJ->get(m, "Tags"), agent == NOMAD_AGENT_NOMAD ? "region" : "dc");
        /* without the tag, the caller matches names ("node.region") itself */
        if (name && alive && (region == NULL || tag == NULL || strcmp(tag, region) == 0))
            nomad_strs_add(out, name);
    }
    NJ->release(j);
    return 0;
}

/* The Nomad nodes list (new), through via. */
static int nodes_list(const nomad_api_ctx *a, const nomad_node *via, infra_json **out, long *status)
{
    int error = poll_json(a, via, NOMAD_AGENT_NOMAD, "GET", "/v1/nodes", NULL, 0, status, out);
    if (error == 0 && *status != 200) {
        NJ->release(*out);
        *out = NULL;
    }
    return error;
}

const infra_json *nomad_node_entry(const infra_json *nodes, const char *name)
{
    const infra_json *best = NULL;
    for (size_t i = 0; i < NJ->length(nodes); i++) {
        const infra_json *e = NJ->at(nodes, i);
        const char *n = pu_json_str(e, "Name");
        if (n && strcmp(n, name) == 0 &&
            (best == NULL ||
             NJ->integer(NJ->get(e, "CreateIndex")) > NJ->integer(NJ->get(best, "CreateIndex"))))
            best = e;
    }
    return best;
}

int nomad_acl_ensure(const nomad_api_ctx *a, const nomad_node *node)
{
    if (!a->ctx->s.acl)
        return 0;
    const char *token = nomad_keys_token(a->keys, NOMAD_AGENT_NOMAD);
    if (token == NULL)
        return INFRA_EINTERNAL;
    char *body = pu_printf("{\"BootstrapSecret\":\"%s\"}", token);
    infra_http_response *resp = NULL;
    infra_json *nodes = NULL;
    long vstatus = 0;
    int error = nomad_api(a, node, NOMAD_AGENT_NOMAD, "POST", "/v1/acl/bootstrap", body,
                          NOMAD_API_NOTOKEN | NOMAD_API_PROBE, &resp);
    memset(body, 0, strlen(body));
    free(body);
    if (error < 0)
        return error == INFRA_ECANCELLED ? error : INFRA_ETRANSIENT;
    long status = resp->status;
    /* 400 since Nomad 1.4 (500 before) once the bootstrap was done */
    int done_before = status == 400 || (resp->body && strstr(resp->body, "already done") != NULL);
    pu_host->http->response_free(resp);
    if (status == 200) {
        pu_logf(a->call, INFRA_LOG_INFO, "region %s: bootstrapped Nomad's ACL system",
                node->region);
        return 0;
    }
    /* Bootstrapped before: by us when the token is accepted. */
    if ((error = nodes_list(a, node, &nodes, &vstatus)) < 0)
        return error;
    NJ->release(nodes);
    if (vstatus == 200)
        return 0;
    if (done_before && (vstatus == 403 || vstatus == 401)) {
        pu_diagf(a->call, "",
                 "region %s: Nomad's ACL system was bootstrapped with another management token "
                 "than the one kept as secret nomad.%s.nomad_management_token (restore that "
                 "secret, or reset Nomad's ACL bootstrap)",
                 node->region, a->ctx->cluster);
        return INFRA_EAUTH;
    }
    return INFRA_ETRANSIENT; /* no leader yet, most likely */
}

/* ------------------------------------------------------------------ */
/* One node                                                           */

typedef struct agent_wait {
    int answered; /* the HTTP API answered at least once */
    int done;
    int client_done;  /* a combined node's client part is ready */
    long last_status; /* of the last membership / registration check */
    char *detail;     /* what the last check saw, for the final message */
} agent_wait;

static void set_detail(agent_wait *w, char *detail)
{
    free(w->detail);
    w->detail = detail;
}

/* One look at one agent of node; sets w->done when it is ready. */
static int node_check(const nomad_api_ctx *a, const nomad_node *node, nomad_agent agent,
                      int secondary, agent_wait *w)
{
    int leader = leader_of(a, node, agent);
    if (leader == INFRA_ECANCELLED)
        return leader;
    if (leader < 0) {
        set_detail(w, pu_strdup("its HTTP API does not answer"));
        return 0;
    }
    w->answered = 1;
    int acl = a->ctx->s.acl;
    if (!leader && acl) {
        /* Peers still starting: a token cannot be checked before a leader. */
        w->done = 1;
        return 0;
    }
    if (agent == NOMAD_AGENT_NOMAD && leader && !secondary) {
        int error = nomad_acl_ensure(a, node);
        if (error == INFRA_EAUTH || error == INFRA_ECANCELLED)
            return error;
        if (error < 0) {
            set_detail(w, pu_strdup("the ACL bootstrap is not done yet"));
            return 0;
        }
    }
    /* A client registers in /v1/nodes; a combined node must also be
     * listed among the members as a server, checked once it is. */
    if (agent == NOMAD_AGENT_NOMAD && node->client && !w->client_done) {
        infra_json *nodes = NULL;
        long status = 0;
        if (nodes_list(a, node, &nodes, &status) < 0)
            return 0;
        w->last_status = status;
        const infra_json *e = nomad_node_entry(nodes, node->name);
        const char *st = pu_json_str(e, "Status");
        if (!leader || (secondary && acl && status != 200)) {
            /* a secondary knows the token once federated and replicated */
            w->done = 1; /* answers; registration needs a leader */
        } else if (st && strcmp(st, "ready") == 0) {
            w->done = 1;
        } else {
            set_detail(w, e ? pu_printf("it is registered but %s", st ? st : "not ready")
                            : pu_printf("it is not registered in /v1/nodes%s",
                                        status == 403 ? " (token refused)" : ""));
        }
        NJ->release(nodes);
        if (!w->done || !node->server)
            return 0;
        w->client_done = 1;
        w->done = 0;
    }
    nomad_strs alive = {0};
    long status = 0;
    if (members_alive(a, node, agent, 0, NULL, &alive, &status) == 0) {
        w->last_status = status;
        if (member_has(&alive, node->name, node->region))
            w->done = 1;
        else if (secondary && acl && status != 200)
            w->done = 1; /* the token works there once federated and replicated */
        else if (!leader && !acl && agent == NOMAD_AGENT_CONSUL && !node->server)
            w->done = 1; /* a client agent joins once a server answers */
        else
            set_detail(w, pu_printf("it does not list itself in /v1/agent/members%s",
                                    status == 403 ? " (token refused)" : ""));
    }
    nomad_strs_free(&alive);
    return 0;
}

int nomad_node_wait(const nomad_api_ctx *a, const nomad_cluster *c, const nomad_node *node,
                    int64_t deadline)
{
    agent_wait w[NOMAD_AGENT_COUNT];
    int64_t start = pu_host->now_ms();
    int error = 0;
    int secondary = nomad_region_secondary(c, node->region);

    memset(w, 0, sizeof(w));
    for (;;) {
        int all = 1;
        for (int ag = 0; ag < NOMAD_AGENT_COUNT; ag++) {
            if (!w[ag].done &&
                (error = node_check(a, node, (nomad_agent)ag, secondary, &w[ag])) < 0)
                goto done;
            all = all && w[ag].done;
        }
        if (all)
            goto done;
        if (pu_host->now_ms() >= deadline)
            break;
        if ((error = nomad_sleep_until(a->call, POLL_MS, deadline)) < 0)
            goto done;
    }
    for (int ag = 0; ag < NOMAD_AGENT_COUNT; ag++) {
        if (w[ag].done)
            continue;
        int auth = w[ag].last_status == 403 || w[ag].last_status == 401;
        pu_diagf(a->call, "", "node %s (%s): the %s %s is not ready after %lld s: %s%s", node->name,
                 nomad_node_api_ip(&a->ctx->s, node), nomad_agent_name((nomad_agent)ag), node->role,
                 (long long)((pu_host->now_ms() - start) / 1000),
                 w[ag].detail ? w[ag].detail : "no answer",
                 auth ? "; the ACL token kept in the secrets file is refused" : "");
        error = auth ? INFRA_EAUTH : INFRA_ETRANSIENT;
        break;
    }
done:
    for (int ag = 0; ag < NOMAD_AGENT_COUNT; ag++)
        free(w[ag].detail);
    return error;
}

/* ------------------------------------------------------------------ */
/* A region                                                           */

char *nomad_msg_missing(const char *region, const char *what, int64_t waited_ms,
                        const nomad_strs *answering, const nomad_strs *silent)
{
    char *yes = nomad_strs_join(answering), *no = nomad_strs_join(silent);
    char *msg = pu_printf("region %s: %s after %lld s; servers answering: %s; not answering: %s",
                          region, what, (long long)(waited_ms / 1000), yes, no);
    free(yes);
    free(no);
    return msg;
}

typedef struct region_look {
    nomad_strs answering[NOMAD_AGENT_COUNT];
    nomad_strs silent[NOMAD_AGENT_COUNT];
    const nomad_node *leader_via[NOMAD_AGENT_COUNT]; /* a server that reports a leader */
    nomad_strs missing_servers;                      /* not alive in Nomad's members */
    nomad_strs missing_agents;                       /* not alive in Consul's members */
    nomad_strs unready_clients;                      /* "name (why)" */
    int auth[NOMAD_AGENT_COUNT];                     /* a 403 was seen */
    int checked;                                     /* members and nodes were looked at */
    int unreplicated; /* a secondary whose servers do not know the tokens yet */
} region_look;

static void look_free(region_look *l)
{
    for (int ag = 0; ag < NOMAD_AGENT_COUNT; ag++) {
        nomad_strs_free(&l->answering[ag]);
        nomad_strs_free(&l->silent[ag]);
    }
    nomad_strs_free(&l->missing_servers);
    nomad_strs_free(&l->missing_agents);
    nomad_strs_free(&l->unready_clients);
    memset(l, 0, sizeof(*l));
}

/* One look at the whole region; 1 when it is ready. */
static int region_check(const nomad_api_ctx *a, const nomad_region *r, int secondary, int *acl_done,
                        region_look *l)
{
    for (size_t i = 0; i < r->nservers; i++) {
        for (int ag = 0; ag < NOMAD_AGENT_COUNT; ag++) {
            int leader = leader_of(a, r->servers[i], (nomad_agent)ag);
            if (leader == INFRA_ECANCELLED)
                return leader;
            nomad_strs_add(leader < 0 ? &l->silent[ag] : &l->answering[ag], r->servers[i]->name);
            if (leader == 1 && l->leader_via[ag] == NULL)
                l->leader_via[ag] = r->servers[i];
        }
    }
    if (l->leader_via[NOMAD_AGENT_CONSUL] == NULL || l->leader_via[NOMAD_AGENT_NOMAD] == NULL)
        return 0;
    if (!*acl_done) {
        int error = nomad_acl_ensure(a, l->leader_via[NOMAD_AGENT_NOMAD]);
        if (error == INFRA_EAUTH || error == INFRA_ECANCELLED)
            return error;
        if (error < 0)
            return 0;
        *acl_done = 1;
    }
    if (secondary) {
        int resolved = nomad_tokens_resolve(a, r);
        if (resolved < 0)
            return 0;
        if (resolved == 0) {
            l->unreplicated = 1;
            return secondary == REGION_SECONDARY;
        }
    }
    l->checked = 1;
    nomad_strs alive = {0};
    long status = 0;
    if (members_alive(a, l->leader_via[NOMAD_AGENT_NOMAD], NOMAD_AGENT_NOMAD, 0, r->name, &alive,
                      &status) == 0) {
        l->auth[NOMAD_AGENT_NOMAD] |= status == 403;
        for (size_t i = 0; i < r->nservers; i++)
            if (status != 200 || !member_has(&alive, r->servers[i]->name, r->name))
                nomad_strs_add(&l->missing_servers, r->servers[i]->name);
    }
    nomad_strs_free(&alive);
    if (members_alive(a, l->leader_via[NOMAD_AGENT_CONSUL], NOMAD_AGENT_CONSUL, 0, NULL, &alive,
                      &status) == 0) {
        l->auth[NOMAD_AGENT_CONSUL] |= status == 403;
        for (size_t i = 0; i < r->nservers + r->nclients; i++) {
            const nomad_node *n = i < r->nservers ? r->servers[i] : r->clients[i - r->nservers];
            if (i >= r->nservers && n->server)
                continue; /* a combined node is one Consul agent, seen as a server */
            if (status != 200 || !member_has(&alive, n->name, r->name))
                nomad_strs_add(&l->missing_agents, n->name);
        }
    }
    nomad_strs_free(&alive);
    infra_json *nodes = NULL;
    if (nodes_list(a, l->leader_via[NOMAD_AGENT_NOMAD], &nodes, &status) == 0) {
        l->auth[NOMAD_AGENT_NOMAD] |= status == 403;
        for (size_t i = 0; i < r->nclients; i++) {
            const infra_json *e = nomad_node_entry(nodes, r->clients[i]->name);
            const char *st = pu_json_str(e, "Status");
            if (e == NULL)
                nomad_strs_addf(&l->unready_clients, "%s (not registered)", r->clients[i]->name);
            else if (st == NULL || strcmp(st, "ready") != 0)
                nomad_strs_addf(&l->unready_clients, "%s (%s)", r->clients[i]->name,
                                st ? st : "no status");
        }
        NJ->release(nodes);
    } else if (r->nclients > 0) {
        nomad_strs_add(&l->unready_clients, "(/v1/nodes does not answer)");
    }
    return l->missing_servers.n == 0 && l->missing_agents.n == 0 && l->unready_clients.n == 0;
}

/* The final word on a region that is not ready. */
static int region_report(const nomad_api_ctx *a, const nomad_region *r, const region_look *l,
                         int64_t waited)
{
    char *msg = NULL, *list = NULL;
    int error = INFRA_ETRANSIENT;
    static const char *const leaders[] = {"no Consul leader", "no Nomad leader"};
    for (int ag = 0; ag < NOMAD_AGENT_COUNT && msg == NULL; ag++)
        if (l->leader_via[ag] == NULL)
            msg =
                nomad_msg_missing(r->name, leaders[ag], waited, &l->answering[ag], &l->silent[ag]);
    if (msg == NULL && l->unreplicated)
        msg = pu_printf("region %s: its servers do not know the management tokens after %lld s: "
                        "ACL replication from the primary region has not happened (see "
                        "`infra status --json`, clusters.*.regions.%s.replication)",
                        r->name, (long long)(waited / 1000), r->name);
    if (msg == NULL && !l->checked)
        msg = pu_printf("region %s: Nomad's ACL bootstrap did not succeed after %lld s", r->name,
                        (long long)(waited / 1000));
    if (msg == NULL && l->missing_servers.n > 0) {
        list = nomad_strs_join(&l->missing_servers);
        msg = pu_printf("region %s: Nomad servers not alive in /v1/agent/members after %lld s: %s",
                        r->name, (long long)(waited / 1000), list);
    } else if (msg == NULL && l->unready_clients.n > 0) {
        list = nomad_strs_join(&l->unready_clients);
        msg = pu_printf("region %s: Nomad clients not ready after %lld s: %s", r->name,
                        (long long)(waited / 1000), list);
    } else if (msg == NULL && l->missing_agents.n > 0) {
        list = nomad_strs_join(&l->missing_agents);
        msg = pu_printf("region %s: Consul agents not alive in /v1/agent/members after %lld s: %s",
                        r->name, (long long)(waited / 1000), list);
    }
    if (msg == NULL)
        msg = pu_printf("region %s: not ready after %lld s", r->name, (long long)(waited / 1000));
    for (int ag = 0; ag < NOMAD_AGENT_COUNT; ag++)
        if (l->auth[ag]) {
            char *more = pu_printf("%s (%s refuses the token kept as secret "
                                   "nomad.%s.%s_management_token)",
                                   msg, ag == NOMAD_AGENT_NOMAD ? "Nomad" : "Consul",
                                   a->ctx->cluster, nomad_agent_name((nomad_agent)ag));
            free(msg);
            msg = more;
            error = INFRA_EAUTH;
        }
    pu_diagf(a->call, "", "%s", msg);
    free(list);
    free(msg);
    return error;
}

/* Polls region r until it is ready or deadline. secondary: 0 a region
 * with its own ACLs; REGION_SECONDARY one that may not know the tokens
 * yet (then ready once its leaders are, l->unreplicated set);
 * REGION_REPLICATED one that must know them. */
static int region_wait(const nomad_api_ctx *a, const nomad_region *r, int secondary, int64_t start,
                       int64_t deadline, int *acl_done, region_look *l)
{
    int error;
    for (;;) {
        look_free(l);
        if ((error = region_check(a, r, secondary, acl_done, l)) != 0)
            break;
        if (pu_host->now_ms() >= deadline)
            return region_report(a, r, l, pu_host->now_ms() - start);
        if ((error = nomad_sleep_until(a->call, POLL_MS, deadline)) < 0)
            return error;
    }
    return error > 0 ? 0 : error;
}

/* 1 when a datacenter of region runs its clients as a pool. */
static int region_has_pool(const infra_json *cluster, const char *region)
{
    const infra_json *dcs = NJ->get(NJ->get(NJ->get(cluster, "regions"), region), "datacenters");
    void *it = NULL;
    const char *name;
    const infra_json *dc;
    while (dcs != NULL && NJ->next(dcs, &it, &name, &dc))
        if (NJ->type(NJ->get(dc, "pool")) == INFRA_JSON_OBJECT)
            return 1;
    return 0;
}

static int pool_token(const nomad_api_ctx *a, const nomad_cluster *c, const nomad_region *r)
{
    infra_secret *token = NULL;
    const nomad_region *auth = nomad_cluster_region(c, nomad_cluster_authority(c, r->name));
    int error = nomad_keys_pool_token(a->ctx, a->call, 1, &token);
    if (error == 0)
        error = nomad_pool_token_ensure(a, auth ? auth : r,
                                        token ? pu_host->secrets->value(token) : NULL);
    pu_host->secrets->free(token);
    return error;
}

int nomad_wait_ready(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                     const char *region, int64_t deadline_ms)
{
    nomad_cluster c;
    nomad_keys keys = {0};
    region_look l = {0};
    int64_t start = pu_host->now_ms();
    /* the host's bound, and at most node_deadline: a region is ready once
     * its nodes are */
    int64_t limit = self->s.node_deadline_ms;
    if (deadline_ms > 0 && deadline_ms < limit)
        limit = deadline_ms;
    int64_t deadline = start + limit;
    int error, acl_done = 0;

    if ((error = nomad_cluster_parse(call, cluster, 1, &c)) < 0)
        return error;
    const nomad_region *r = nomad_cluster_region(&c, region);
    if (r == NULL || r->nservers == 0) {
        pu_diagf(call, "", "region %s is not a region of cluster %s with servers",
                 region ? region : "", c.name);
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = nomad_keys_load(self, call, 1, &keys)) < 0)
        goto done;
    nomad_api_ctx a = {self, call, &keys};
    /* A secondary's ACLs are the primary's: it is bootstrapped there. */
    int secondary = self->s.acl && nomad_region_secondary(&c, r->name);
    acl_done = secondary;
    error = region_wait(&a, r, secondary ? REGION_SECONDARY : 0, start, deadline, &acl_done, &l);
    if (error == 0 && l.unreplicated)
        pu_logf(call, INFRA_LOG_INFO,
                "region %s: leaders elected; its ACLs replicate from %s once the regions are "
                "federated, and its nodes are checked then",
                r->name, nomad_cluster_authority(&c, r->name));
    else if (error == 0)
        pu_logf(call, INFRA_LOG_INFO, "region %s: ready (%zu servers, %zu clients)", r->name,
                r->nservers, r->nclients);
    /* the primary makes the token its secondaries replicate with */
    if (error == 0 && self->s.acl && c.primary && strcmp(c.primary, r->name) == 0)
        error = nomad_consul_replication_ensure(&a, r);
    /* a region with client pools: their Consul token exists before their
     * instances boot (their template waits for this region) */
    if (error == 0 && self->s.acl && !secondary && region_has_pool(cluster, r->name))
        error = pool_token(&a, &c, r);
done:
    look_free(&l);
    nomad_keys_free(&keys);
    nomad_cluster_free(&c);
    return error;
}

/* ------------------------------------------------------------------ */
/* Federation                                                         */

static int join_wan(const nomad_api_ctx *a, const nomad_node *via, const nomad_region *other,
                    nomad_strs *errors)
{
    int joined = 0;
    for (size_t i = 0; i < other->nservers; i++) {
        infra_http_response *resp = NULL;
        char *path = pu_printf("/v1/agent/join/%s:%d?wan=1", other->servers[i]->private_ip,
                               CONSUL_PORT_SERF_WAN);
        int error =
            nomad_api(a, via, NOMAD_AGENT_CONSUL, "PUT", path, NULL, NOMAD_API_RETRY, &resp);
        if (error == INFRA_ECANCELLED) {
            free(path);
            return error;
        }
        if (error == 0 && resp->status == 200) {
            joined++;
        } else {
            char *ex = resp ? nomad_api_excerpt(resp->body) : pu_strdup("no answer");
            nomad_strs_addf(errors, "Consul WAN join of %s: %s", other->servers[i]->name, ex);
            free(ex);
        }
        pu_host->http->response_free(resp);
        free(path);
    }
    return joined;
}

static int join_nomad(const nomad_api_ctx *a, const nomad_node *via, const nomad_region *other,
                      nomad_strs *errors)
{
    pu_buf path = {0};
    pu_buf_puts(&path, "/v1/agent/join");
    for (size_t i = 0; i < other->nservers; i++)
        pu_buf_printf(&path,
                      "%c"
                      "address=%s:%d",
                      i ? '&' : '?', other->servers[i]->private_ip, NOMAD_PORT_SERF);
    infra_json *j = NULL;
    char *what = pu_printf("region %s", via->region);
    int error = nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "POST", path.data, NULL, NOMAD_API_RETRY,
                               what, &j);
    int64_t n = 0;
    if (error == 0) {
        /* 200 even when nothing joined: the answer says */
        const char *err = pu_json_str(j, "error");
        if (nomad_jint(j, "num_joined", &n) < 0)
            n = 0;
        if (n < 1 || (err && *err))
            nomad_strs_addf(errors, "Nomad join: %lld joined%s%s", (long long)n,
                            err && *err ? ": " : "", err && *err ? err : "");
    } else if (error != INFRA_ECANCELLED) {
        nomad_strs_add(errors, "Nomad join: the request failed");
    }
    NJ->release(j);
    free(what);
    free(path.data);
    return error == INFRA_ECANCELLED ? error : (int)n;
}

/* What one side still misses: "" when it sees the other side fully. */
static char *federation_gaps(const nomad_api_ctx *a, const nomad_node *via,
                             const nomad_region *self, const nomad_region *other)
{
    nomad_strs gaps = {0}, seen = {0};
    long status;
    infra_json *j = NULL;
    if (poll_json(a, via, NOMAD_AGENT_NOMAD, "GET", "/v1/regions", NULL, 0, &status, &j) < 0) {
        nomad_strs_add(&gaps, "Nomad does not answer");
    } else {
        int has_self = 0, has_other = 0;
        for (size_t i = 0; i < NJ->length(j); i++) {
            const char *s = NJ->string(NJ->at(j, i));
            has_self |= s && strcmp(s, self->name) == 0;
            has_other |= s && strcmp(s, other->name) == 0;
        }
        if (!has_self || !has_other)
            nomad_strs_addf(&gaps, "/v1/regions lacks %s", has_other ? self->name : other->name);
    }
    NJ->release(j);
    if (members_alive(a, via, NOMAD_AGENT_NOMAD, 0, other->name, &seen, &status) == 0)
        for (size_t i = 0; i < other->nservers; i++)
            if (!member_has(&seen, other->servers[i]->name, other->name))
                nomad_strs_addf(&gaps, "Nomad members lack %s", other->servers[i]->name);
    nomad_strs_free(&seen);
    if (members_alive(a, via, NOMAD_AGENT_CONSUL, 1, other->consul_dc, &seen, &status) == 0)
        for (size_t i = 0; i < other->nservers; i++)
            if (!member_has(&seen, other->servers[i]->name, other->consul_dc))
                nomad_strs_addf(&gaps, "Consul WAN members lack %s", other->servers[i]->name);
    nomad_strs_free(&seen);
    char *out = gaps.n ? nomad_strs_join(&gaps) : pu_strdup("");
    nomad_strs_free(&gaps);
    return out;
}

/* Joins region x to region y: Consul WAN from every answering server of x,
 * Nomad server join from one. 0 once both joined something. */
static int join_regions(const nomad_api_ctx *a, const nomad_region *x, const nomad_region *y)
{
    nomad_strs errors = {0};
    int cj = 0, error = 0;
    const nomad_node *via = nomad_api_any_server(a, x, NOMAD_AGENT_NOMAD, NULL);
    for (size_t i = 0; i < x->nservers && cj >= 0; i++) {
        const nomad_node *s = x->servers[i];
        if (!nomad_tcp_probe(nomad_node_api_ip(&a->ctx->s, s),
                             a->ctx->s.tls ? CONSUL_PORT_HTTPS : CONSUL_PORT_HTTP, 1500))
            continue;
        int n = join_wan(a, s, y, &errors);
        cj = n < 0 ? n : cj + n;
    }
    int nj = cj < 0 || via == NULL ? cj : join_nomad(a, via, y, &errors);
    if (cj < 0 || nj < 0) {
        error = cj < 0 ? cj : nj;
    } else if (cj == 0 || nj == 0) {
        char *why = errors.n ? nomad_strs_join(&errors) : pu_strdup("no server answers");
        pu_diagf(a->call, "", "federate %s with %s: the join failed: %s", x->name, y->name, why);
        free(why);
        error = INFRA_ETRANSIENT;
    }
    nomad_strs_free(&errors);
    return error;
}

/* After the joins: the secondary sides must have replicated the management
 * tokens, and are then checked as regions, which wait_ready could not do
 * before. */
static int federate_acls(const nomad_api_ctx *a, const nomad_cluster *c, const nomad_region *ra,
                         const nomad_region *rb, int64_t start, int64_t deadline)
{
    const nomad_region *p = nomad_cluster_region(c, c->primary);
    const nomad_region *sides[2] = {ra, rb};
    int error = 0;
    if (p == NULL || p->nservers == 0) {
        pu_diagf(a->call, "", "primary region %s has no servers", c->primary);
        return INFRA_EINVALID;
    }
    for (int i = 0; i < 2 && error == 0; i++) {
        if (!nomad_region_secondary(c, sides[i]->name))
            continue;
        region_look l = {0};
        int acl_done = 1;
        error = region_wait(a, sides[i], REGION_REPLICATED, start, deadline, &acl_done, &l);
        look_free(&l);
        if (error == 0)
            pu_logf(a->call, INFRA_LOG_INFO,
                    "region %s: ACLs replicated from %s; ready (%zu servers, %zu clients)",
                    sides[i]->name, p->name, sides[i]->nservers, sides[i]->nclients);
    }
    return error;
}

int nomad_federate(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                   const char *region_a, const char *region_b)
{
    nomad_cluster c;
    nomad_keys keys = {0};
    nomad_strs errors = {0};
    char *gap_a = NULL, *gap_b = NULL;
    int64_t start = pu_host->now_ms(), deadline = start + self->s.node_deadline_ms;
    int error;

    if ((error = nomad_cluster_parse(call, cluster, 1, &c)) < 0)
        return error;
    const nomad_region *ra = nomad_cluster_region(&c, region_a);
    const nomad_region *rb = nomad_cluster_region(&c, region_b);
    if (ra == NULL || rb == NULL || ra == rb || ra->nservers == 0 || rb->nservers == 0) {
        pu_diagf(call, "federate",
                 "federate %s with %s: both must be distinct regions of "
                 "cluster %s with servers",
                 region_a ? region_a : "", region_b ? region_b : "", c.name);
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = nomad_keys_load(self, call, 0, &keys)) < 0)
        goto done;
    nomad_api_ctx a = {self, call, &keys};
    const nomad_node *via_a = nomad_api_any_server(&a, ra, NOMAD_AGENT_NOMAD, NULL);
    const nomad_node *via_b = nomad_api_any_server(&a, rb, NOMAD_AGENT_NOMAD, NULL);
    if (via_a == NULL || via_b == NULL) {
        pu_diagf(call, "", "federate %s with %s: no server of region %s answers", ra->name,
                 rb->name, via_b == NULL ? rb->name : ra->name);
        error = INFRA_ETRANSIENT;
        goto done;
    }
    /* Consul's WAN pool is separate from the LAN one: every server of one
     * side joins the other side's servers. */
    int cj = 0;
    for (size_t i = 0; i < ra->nservers && cj >= 0; i++) {
        const nomad_node *s = ra->servers[i];
        if (!nomad_tcp_probe(nomad_node_api_ip(&self->s, s),
                             self->s.tls ? CONSUL_PORT_HTTPS : CONSUL_PORT_HTTP, 1500))
            continue;
        int n = join_wan(&a, s, rb, &errors);
        cj = n < 0 ? n : cj + n;
    }
    int nj = cj < 0 ? cj : join_nomad(&a, via_a, rb, &errors);
    if (cj < 0 || nj < 0) {
        error = cj < 0 ? cj : nj;
        goto done;
    }
    if (cj == 0 || nj == 0) {
        char *why = nomad_strs_join(&errors);
        pu_diagf(call, "", "federate %s with %s: the join failed: %s", ra->name, rb->name, why);
        free(why);
        error = INFRA_ETRANSIENT;
        goto done;
    }
    /* A secondary answers member lists only once it replicated the tokens,
     * which needs the replication token in the primary. */
    const nomad_region *primary = c.primary ? nomad_cluster_region(&c, c.primary) : NULL;
    if (self->s.acl && primary && (error = nomad_consul_replication_ensure(&a, primary)) < 0)
        goto done;
    /* a secondary replicates from the primary: join it there too when the
     * primary is neither side */
    for (int i = 0; self->s.acl && primary && primary != ra && primary != rb && i < 2; i++) {
        const nomad_region *side = i == 0 ? ra : rb;
        if (nomad_region_secondary(&c, side->name) && (error = join_regions(&a, side, primary)) < 0)
            goto done;
    }
    for (;;) {
        free(gap_a);
        free(gap_b);
        gap_a = federation_gaps(&a, via_a, ra, rb);
        gap_b = federation_gaps(&a, via_b, rb, ra);
        if (*gap_a == '\0' && *gap_b == '\0')
            break;
        if (pu_host->now_ms() >= deadline) {
            pu_buf m = {0};
            if (*gap_a)
                pu_buf_printf(&m, "%s sees: %s", ra->name, gap_a);
            if (*gap_b)
                pu_buf_printf(&m, "%s%s sees: %s", m.len ? "; " : "", rb->name, gap_b);
            pu_diagf(call, "", "federate %s with %s: not federated after %lld s: %s", ra->name,
                     rb->name, (long long)((pu_host->now_ms() - start) / 1000), m.data);
            free(m.data);
            error = INFRA_ETRANSIENT;
            goto done;
        }
        if ((error = nomad_sleep_until(call, POLL_MS, deadline)) < 0)
            goto done;
    }
    pu_logf(call, INFRA_LOG_INFO, "regions %s and %s federated", ra->name, rb->name);
    if (self->s.acl && c.primary && (error = federate_acls(&a, &c, ra, rb, start, deadline)) < 0)
        goto done;
done:
    free(gap_a);
    free(gap_b);
    nomad_strs_free(&errors);
    nomad_keys_free(&keys);
    nomad_cluster_free(&c);
    return error;
}
