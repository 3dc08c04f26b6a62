/* Readiness: a node's programs answering (node_bootstrap) and a region
 * ready (wait_ready): a ZooKeeper ensemble with exactly one leader, a
 * leading Mesos master, every expected agent registered with it with its
 * attributes, a Marathon leader whose framework Mesos has registered, and
 * every load balancer following Marathon.
 *
 * Polls never report each failed attempt: the host keeps the first error
 * of a call as its message, so only the final verdict is a diagnostic, and
 * it names what is missing. */
#include "marathon.h"

#include <stdlib.h>
#include <string.h>

#define POLL_MS 1000

/* One quiet GET: 0 with the status and the parsed body (NULL when not
 * JSON), INFRA_ETRANSIENT when nothing answered. */
static int poll_json(const marathon_api_ctx *a, const marathon_node *node, marathon_port port,
                     const char *path, long *status, infra_json **json)
{
    infra_http_response *resp = NULL;
    *json = NULL;
    *status = 0;
    int error = marathon_api(a, node, port, "GET", path, NULL, MARATHON_API_PROBE, &resp);
    if (error < 0)
        return error == INFRA_ECANCELLED ? error : INFRA_ETRANSIENT;
    *status = resp->status;
    if (resp->body_len > 0)
        *json = MJ->parse(resp->body, resp->body_len);
    pu_host->http->response_free(resp);
    return 0;
}

void marathon_look_free(marathon_look *l)
{
    pu_strs_free(&l->zk_modes);
    free(l->master_leader);
    pu_strs_free(&l->masters_answering);
    pu_strs_free(&l->masters_silent);
    MJ->release(l->state);
    pu_strs_free(&l->agents_missing);
    free(l->marathon_leader);
    pu_strs_free(&l->marathons_silent);
    pu_strs_free(&l->balancers_missing);
    memset(l, 0, sizeof(*l));
}

/* The text of an attribute value as Mesos reports it: a text attribute is
 * a string, a scalar a number (1 and 1.0 are the same scalar). */
static char *value_text(const infra_json *v)
{
    if (MJ->type(v) == INFRA_JSON_STRING)
        return pu_strdup(MJ->string(v));
    if (MJ->type(v) == INFRA_JSON_INT || MJ->type(v) == INFRA_JSON_REAL) {
        double d = MJ->real(v);
        if (d == (double)(long long)d)
            return pu_printf("%lld", (long long)d);
        return pu_printf("%g", d);
    }
    return pu_strdup("?");
}

int marathon_attributes_match(const infra_json *reported, const infra_json *want)
{
    void *it = NULL;
    const char *key;
    const infra_json *v;
    while (MJ->next(want, &it, &key, &v)) {
        char *a = value_text(v), *b = value_text(MJ->get(reported, key));
        int same = MJ->get(reported, key) != NULL && strcmp(a, b) == 0;
        free(a);
        free(b);
        if (!same)
            return 0;
    }
    return 1;
}

/* The entry of node in /master/state's slaves (registered as its private
 * address), or NULL (borrowed). The latest registration wins: an agent that
 * came back registers again. */
static const infra_json *agent_entry(const infra_json *state, const marathon_node *n)
{
    const infra_json *slaves = MJ->get(state, "slaves"), *best = NULL;
    for (size_t i = 0; i < MJ->length(slaves); i++) {
        const infra_json *s = MJ->at(slaves, i);
        const char *host = pu_json_str(s, "hostname");
        if (host && strcmp(host, n->private_ip) == 0 &&
            (best == NULL ||
             MJ->real(MJ->get(s, "registered_time")) > MJ->real(MJ->get(best, "registered_time"))))
            best = s;
    }
    return best;
}

/* Looks at ZooKeeper: the members' modes. */
static void look_zookeeper(const marathon_api_ctx *a, const marathon_region *r, marathon_look *l)
{
    for (size_t i = 0; i < r->nensemble; i++) {
        char mode[16], why[64];
        marathon_zk_mode(&a->ctx->s, r->ensemble[i], mode, why);
        if (strcmp(mode, "leader") == 0)
            l->zk_leaders++;
        else if (strcmp(mode, "follower") == 0)
            l->zk_followers++;
        if (*mode)
            pu_strs_addf(&l->zk_modes, "%s %s", r->ensemble[i]->name, mode);
        else
            pu_strs_addf(&l->zk_modes, "%s (%s)", r->ensemble[i]->name, why);
    }
}

/* Looks at the masters: the one whose /master/state answers as the leader
 * (the others redirect there). */
static int look_masters(const marathon_api_ctx *a, const marathon_region *r, marathon_look *l)
{
    for (size_t i = 0; i < r->nmasters; i++) {
        long status = 0;
        infra_json *st = NULL;
        int error = poll_json(a, r->masters[i], MARATHON_API_MASTER, "/master/state", &status, &st);
        if (error == INFRA_ECANCELLED)
            return error;
        if (error < 0) {
            pu_strs_add(&l->masters_silent, r->masters[i]->name);
            continue;
        }
        pu_strs_add(&l->masters_answering, r->masters[i]->name);
        const char *pid = pu_json_str(st, "pid"), *leader = pu_json_str(st, "leader");
        if (status == 200 && pid && leader && strcmp(pid, leader) == 0 && l->state == NULL) {
            const char *at = strchr(pid, '@');
            l->master_leader = pu_strdup(at ? at + 1 : pid);
            l->state = st;
            continue;
        }
        MJ->release(st);
    }
    return 0;
}

static void look_agents(const marathon_region *r, marathon_look *l)
{
    for (size_t i = 0; i < r->nagents; i++) {
        const marathon_node *n = r->agents[i];
        const infra_json *e = l->state ? agent_entry(l->state, n) : NULL;
        if (l->state == NULL) {
            pu_strs_addf(&l->agents_missing, "%s (no leading master to ask)", n->name);
        } else if (e == NULL) {
            pu_strs_addf(&l->agents_missing, "%s (not registered)", n->name);
        } else if (!MJ->boolean(MJ->get(e, "active"))) {
            pu_strs_addf(&l->agents_missing, "%s (inactive)", n->name);
        } else if (n->attributes &&
                   !marathon_attributes_match(MJ->get(e, "attributes"), n->attributes)) {
            char *want = marathon_attributes_text(n->attributes);
            char *got = marathon_attributes_text(MJ->get(e, "attributes"));
            pu_strs_addf(&l->agents_missing, "%s (attributes %s, expected %s)", n->name,
                         *got ? got : "none", want);
            free(want);
            free(got);
        }
    }
}

/* Looks at Marathon: the leader every instance names, and its framework. */
static int look_marathon(const marathon_api_ctx *a, const marathon_region *r, marathon_look *l)
{
    const marathon_node *leader_node = NULL;
    for (size_t i = 0; i < r->nmasters; i++) {
        long status = 0;
        infra_json *j = NULL;
        int error = poll_json(a, r->masters[i], MARATHON_API_MARATHON, "/v2/leader", &status, &j);
        if (error == INFRA_ECANCELLED)
            return error;
        if (error < 0) {
            pu_strs_add(&l->marathons_silent, r->masters[i]->name);
            continue;
        }
        l->marathon_auth |= status == 401 || status == 403;
        const char *leader = status == 200 ? pu_json_str(j, "leader") : NULL;
        if (leader && l->marathon_leader == NULL)
            l->marathon_leader = pu_strdup(leader);
        MJ->release(j);
    }
    /* only the leader knows its framework id */
    for (size_t i = 0; l->marathon_leader && i < r->nmasters && leader_node == NULL; i++) {
        char *hp = pu_host_port(r->masters[i]->private_ip, MARATHON_PORT_HTTP);
        if (strcmp(hp, l->marathon_leader) == 0)
            leader_node = r->masters[i];
        free(hp);
    }
    if (leader_node == NULL || l->state == NULL)
        return 0;
    long status = 0;
    infra_json *info = NULL;
    int error = poll_json(a, leader_node, MARATHON_API_MARATHON, "/v2/info", &status, &info);
    if (error < 0)
        return error == INFRA_ECANCELLED ? error : 0;
    const char *fid = status == 200 ? pu_json_str(info, "frameworkId") : NULL;
    const infra_json *fws = MJ->get(l->state, "frameworks");
    for (size_t i = 0; fid && i < MJ->length(fws); i++) {
        const infra_json *f = MJ->at(fws, i);
        const char *id = pu_json_str(f, "id");
        if (id && strcmp(id, fid) == 0 && MJ->boolean(MJ->get(f, "active")))
            l->framework = 1;
    }
    MJ->release(info);
    return 0;
}

static int look_balancers(const marathon_api_ctx *a, const marathon_region *r, marathon_look *l)
{
    for (size_t i = 0; i < r->nbalancers; i++) {
        long status = 0;
        char *body = NULL;
        int error =
            marathon_lb_get(a, r->balancers[i], MARATHON_LB_STATUS_PATH, NULL, &status, &body);
        if (error == INFRA_ECANCELLED)
            return error;
        if (error < 0) {
            pu_strs_addf(&l->balancers_missing, "%s (port %d does not answer)",
                         r->balancers[i]->name, a->ctx->s.lb_port);
        } else if (status != 200) {
            char *text = pu_excerpt(body);
            pu_strs_addf(&l->balancers_missing, "%s (%s)", r->balancers[i]->name, text);
            free(text);
        }
        free(body);
    }
    return 0;
}

int marathon_region_look(const marathon_api_ctx *a, const marathon_region *r, marathon_look *l,
                         int *ready)
{
    int error = 0;
    *ready = 0;
    look_zookeeper(a, r, l);
    if ((error = look_masters(a, r, l)) < 0)
        return error;
    look_agents(r, l);
    if ((error = look_marathon(a, r, l)) < 0 || (error = look_balancers(a, r, l)) < 0)
        return error;
    *ready = l->zk_leaders == 1 && l->zk_followers + 1 == (int)r->nensemble && l->state != NULL &&
             l->agents_missing.n == 0 && l->marathon_leader != NULL && l->framework &&
             l->balancers_missing.n == 0;
    return 0;
}

char *marathon_region_report(const marathon_region *r, const marathon_look *l, int64_t waited_ms,
                             const char *cluster, int *category)
{
    long long s = (long long)(waited_ms / 1000);
    char *list = NULL, *msg = NULL;
    *category = INFRA_ETRANSIENT;
    if (l->zk_leaders != 1 || l->zk_followers + 1 != (int)r->nensemble) {
        list = pu_strs_join(&l->zk_modes);
        msg = pu_printf("region %s: the ZooKeeper ensemble has %s after %lld s: %s", r->name,
                        l->zk_leaders > 1 ? "more than one leader"
                                          : "no quorum of one leader and "
                                            "its followers",
                        s, list);
    } else if (l->state == NULL) {
        char *yes = pu_strs_join(&l->masters_answering), *no = pu_strs_join(&l->masters_silent);
        msg = pu_printf("region %s: no leading Mesos master after %lld s; masters answering: %s; "
                        "not answering: %s",
                        r->name, s, yes, no);
        free(yes);
        free(no);
    } else if (l->agents_missing.n > 0) {
        list = pu_strs_join(&l->agents_missing);
        msg = pu_printf("region %s: Mesos agents not registered with the leading master %s "
                        "after %lld s: %s",
                        r->name, l->master_leader, s, list);
    } else if (l->marathon_leader == NULL || !l->framework) {
        char *no = pu_strs_join(&l->marathons_silent);
        if (l->marathon_auth) {
            char *secret = marathon_secret_name(cluster, "http_password");
            msg = pu_printf("region %s: Marathon refuses the password kept as secret %s (401)",
                            r->name, secret);
            free(secret);
            *category = INFRA_EAUTH;
        } else if (l->marathon_leader == NULL) {
            msg = pu_printf("region %s: no Marathon leader after %lld s; Marathon not answering "
                            "on: %s",
                            r->name, s, no);
        } else {
            msg = pu_printf("region %s: Marathon's leader %s is not registered as an active "
                            "framework with the leading Mesos master %s after %lld s",
                            r->name, l->marathon_leader, l->master_leader, s);
        }
        free(no);
    } else if (l->balancers_missing.n > 0) {
        list = pu_strs_join(&l->balancers_missing);
        msg = pu_printf("region %s: load balancers not following Marathon after %lld s: %s",
                        r->name, s, list);
    } else {
        msg = pu_printf("region %s: not ready after %lld s", r->name, s);
    }
    free(list);
    return msg;
}

/* ------------------------------------------------------------------ */
/* One node                                                           */

/* One look at one service of node: 1 when it answers, with what it lacks
 * in *detail otherwise (caller frees). */
static int service_ready(const marathon_api_ctx *a, const marathon_region *r,
                         const marathon_node *node, marathon_service svc, int zk_joined,
                         char **detail)
{
    long status = 0;
    infra_json *j = NULL;
    int ok = 0;
    char mode[16], why[64];
    free(*detail);
    *detail = NULL;
    switch (svc) {
    case MARATHON_SVC_ZOOKEEPER:
        if (!marathon_zk_ok(&a->ctx->s, node)) {
            *detail = pu_printf("it does not answer ruok on port %d", MARATHON_PORT_ZK);
        } else if (zk_joined) {
            marathon_zk_mode(&a->ctx->s, node, mode, why);
            ok = strcmp(mode, "leader") == 0 || strcmp(mode, "follower") == 0;
            if (!ok)
                *detail = pu_printf("it did not join the ensemble (srvr: %s)", *mode ? mode : why);
        } else {
            ok = 1;
        }
        return ok;
    case MARATHON_SVC_MASTER:
        if (poll_json(a, node, MARATHON_API_MASTER, "/master/health", &status, &j) < 0)
            *detail = pu_printf("/master/health does not answer on port %d", MARATHON_PORT_MASTER);
        ok = status == 200;
        break;
    case MARATHON_SVC_MARATHON:
        if (poll_json(a, node, MARATHON_API_MARATHON, "/ping", &status, &j) < 0)
            *detail = pu_printf("/ping does not answer on port %d", MARATHON_PORT_HTTP);
        ok = status == 200;
        break;
    case MARATHON_SVC_AGENT: {
        if (poll_json(a, node, MARATHON_API_AGENT, "/health", &status, &j) < 0 || status != 200) {
            *detail = pu_printf("/health does not answer on port %d", MARATHON_PORT_AGENT);
            break;
        }
        /* with a leading master there, registered; otherwise answering is enough */
        marathon_look l = {0};
        if (look_masters(a, r, &l) == 0 && l.state != NULL) {
            const infra_json *e = agent_entry(l.state, node);
            ok = e != NULL && MJ->boolean(MJ->get(e, "active"));
            if (!ok)
                *detail =
                    pu_printf("it is not registered with the leading master %s", l.master_leader);
        } else {
            ok = 1;
        }
        marathon_look_free(&l);
        break;
    }
    case MARATHON_SVC_BALANCER: {
        char *body = NULL;
        ok = marathon_lb_get(a, node, MARATHON_LB_STATUS_PATH, NULL, &status, &body) == 0 &&
             (status == 200 || status == 503);
        if (!ok)
            *detail = pu_printf("haproxy does not answer on port %d", a->ctx->s.lb_port);
        free(body);
        break;
    }
    default:
        ok = 1;
    }
    if (!ok && *detail == NULL)
        *detail = pu_printf("it answers %ld", status);
    MJ->release(j);
    return ok;
}

int marathon_node_wait(const marathon_api_ctx *a, const marathon_region *r,
                       const marathon_node *node, int zk_joined, int64_t deadline)
{
    marathon_service svcs[MARATHON_SVC_COUNT];
    size_t n = marathon_node_services(r, node, svcs);
    int done[MARATHON_SVC_COUNT] = {0};
    char *detail[MARATHON_SVC_COUNT] = {NULL};
    int64_t start = pu_host->now_ms();
    int error = 0;

    for (;;) {
        int all = 1;
        for (size_t i = 0; i < n; i++) {
            if (!done[i])
                done[i] = service_ready(a, r, node, svcs[i], zk_joined, &detail[i]);
            all = all && done[i];
        }
        if (all)
            goto done;
        if (pu_host->now_ms() >= deadline)
            break;
        if ((error = pu_sleep_until(a->call, POLL_MS, deadline)) < 0)
            goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        pu_diagf(a->call, "", "node %s (%s): %s is not ready after %lld s: %s", node->name,
                 marathon_api_ip(&a->ctx->s, node), marathon_service_name(svcs[i]),
                 (long long)((pu_host->now_ms() - start) / 1000),
                 detail[i] ? detail[i] : "no answer");
        error = INFRA_ETRANSIENT;
        break;
    }
done:
    for (size_t i = 0; i < n; i++)
        free(detail[i]);
    return error;
}

/* ------------------------------------------------------------------ */
/* A region                                                           */

int marathon_wait_ready(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                        const char *region, int64_t deadline_ms)
{
    marathon_cluster c;
    marathon_look l = {0};
    infra_secret *password = NULL;
    int64_t start = pu_host->now_ms();
    /* the host's bound, and at most node_deadline: a region is ready once
     * its nodes are */
    int64_t limit = self->s.node_deadline_ms;
    if (deadline_ms > 0 && deadline_ms < limit)
        limit = deadline_ms;
    int64_t deadline = start + limit;
    int error, ready = 0;

    if ((error = marathon_cluster_parse(call, cluster, 1, &c)) < 0)
        return error;
    const marathon_region *r = marathon_cluster_region(&c, region);
    if (r == NULL || r->nmasters == 0) {
        pu_diagf(call, "", "region %s is not a region of cluster %s with masters",
                 region ? region : "", c.name);
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = marathon_password(self, call, 0, &password)) < 0)
        goto done;
    marathon_api_ctx a = {self, call, pu_host->secrets->value(password)};
    for (;;) {
        marathon_look_free(&l);
        if ((error = marathon_region_look(&a, r, &l, &ready)) < 0 || ready)
            break;
        if (pu_host->now_ms() >= deadline) {
            char *msg =
                marathon_region_report(r, &l, pu_host->now_ms() - start, self->cluster, &error);
            pu_diagf(call, "", "%s", msg);
            free(msg);
            goto done;
        }
        if ((error = pu_sleep_until(call, POLL_MS, deadline)) < 0)
            goto done;
    }
    if (ready)
        pu_logf(call, INFRA_LOG_INFO,
                "region %s: ready (ZooKeeper of %zu, Mesos leader %s, Marathon leader %s, %zu "
                "agents, %zu load balancers)",
                r->name, r->nensemble, l.master_leader, l.marathon_leader, r->nagents,
                r->nbalancers);
done:
    marathon_look_free(&l);
    pu_host->secrets->free(password);
    marathon_cluster_free(&c);
    return error;
}
