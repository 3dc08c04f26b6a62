/* cluster_status: per region, the ZooKeeper members' modes, the leading
 * Mesos master and Marathon leader, the agents as the leading master sees
 * them, the load balancers' own status line, and Marathon's apps with
 * their healthy and total tasks. */
#include "marathon.h"

#include <stdlib.h>
#include <string.h>

static infra_json *entry(const char *k1, const char *v1, const char *k2, const char *v2,
                         const char *k3, const char *v3, const char *k4, const char *v4)
{
    infra_json *e = MJ->new_object();
    pu_json_set_str(e, k1, v1);
    pu_json_set_str(e, k2, v2);
    if (k3)
        pu_json_set_str(e, k3, v3);
    if (k4)
        pu_json_set_str(e, k4, v4);
    return e;
}

/* "zookeeper leader, mesos leader, marathon" for a server. */
static char *server_text(const marathon_api_ctx *a, const marathon_region *r,
                         const marathon_node *n, const marathon_look *l)
{
    pu_buf b = {0};
    if (marathon_in_ensemble(r, n)) {
        char mode[16], why[64];
        marathon_zk_mode(&a->ctx->s, n, mode, why);
        pu_buf_printf(&b, "zookeeper %s", *mode ? mode : why);
    }
    if (n->role == MARATHON_ROLE_MASTER) {
        char *hp = pu_host_port(n->private_ip, MARATHON_PORT_MASTER);
        int leading = l->master_leader && strcmp(l->master_leader, hp) == 0;
        int answering = pu_strs_has(&l->masters_answering, n->name);
        free(hp);
        pu_buf_printf(&b, "%smesos %s", b.len ? ", " : "",
                      leading     ? "leader"
                      : answering ? "standby"
                                  : "down");
        hp = pu_host_port(n->private_ip, MARATHON_PORT_HTTP);
        int mleader = l->marathon_leader && strcmp(l->marathon_leader, hp) == 0;
        free(hp);
        pu_buf_printf(&b, ", marathon %s",
                      pu_strs_has(&l->marathons_silent, n->name) ? "down"
                      : mleader                                  ? "leader"
                                                                 : "standby");
    }
    return pu_buf_take(&b);
}

/* The agents and load balancers of r. */
static void clients(const marathon_api_ctx *a, const marathon_region *r, const marathon_look *l,
                    infra_json *list)
{
    for (size_t i = 0; i < r->nagents; i++) {
        const marathon_node *n = r->agents[i];
        const char *status = "absent";
        const infra_json *slaves = MJ->get(l->state, "slaves");
        for (size_t k = 0; k < MJ->length(slaves); k++) {
            const char *host = pu_json_str(MJ->at(slaves, k), "hostname");
            if (host && strcmp(host, n->private_ip) == 0)
                status = MJ->boolean(MJ->get(MJ->at(slaves, k), "active")) ? "active" : "inactive";
        }
        char *attrs = marathon_attributes_text(n->attributes);
        MJ->append(list, entry("name", n->name, "datacenter", n->datacenter, "status",
                               l->state ? status : "unknown", "eligibility", *attrs ? attrs : "-"));
        free(attrs);
    }
    for (size_t i = 0; i < r->nbalancers; i++) {
        long st = 0;
        char *body = NULL;
        int rc = marathon_lb_get(a, r->balancers[i], MARATHON_LB_STATUS_PATH, NULL, &st, &body);
        char *text = rc == 0 ? pu_excerpt(body) : pu_strdup("does not answer");
        char *status = pu_printf("load balancer: %s", text);
        MJ->append(list, entry("name", r->balancers[i]->name, "datacenter",
                               r->balancers[i]->datacenter, "status", status, "eligibility", "-"));
        free(status);
        free(text);
        free(body);
    }
}

/* Marathon's apps with healthy/total tasks. */
static int apps(const marathon_api_ctx *a, const marathon_region *r, infra_json *list)
{
    const marathon_node *via = marathon_any_master(a, r, MARATHON_API_MARATHON, NULL);
    infra_json *j = NULL;
    char *what = pu_printf("region %s", r->name);
    int error = via ? marathon_api_json(a, via, MARATHON_API_MARATHON, "GET",
                                        "/v2/apps?embed=apps.counts&embed=apps.deployments", NULL,
                                        MARATHON_API_RETRY, what, &j)
                    : INFRA_ETRANSIENT;
    free(what);
    const infra_json *all = MJ->get(j, "apps");
    for (size_t i = 0; error == 0 && i < MJ->length(all); i++) {
        const infra_json *app = MJ->at(all, i);
        long want = 0, healthy = 0, running = 0;
        pu_json_to_int(MJ->get(app, "instances"), &want);
        pu_json_to_int(MJ->get(app, "tasksHealthy"), &healthy);
        pu_json_to_int(MJ->get(app, "tasksRunning"), &running);
        int checks = MJ->length(MJ->get(app, "healthChecks")) > 0;
        char *status = checks ? pu_printf("%ld/%ld healthy", healthy, want)
                              : pu_printf("%ld/%ld running", running, want);
        MJ->append(list, entry("id", pu_json_str(app, "id"), "status", status, "deployment",
                               MJ->length(MJ->get(app, "deployments")) ? "in progress" : "none",
                               NULL, NULL));
        free(status);
    }
    MJ->release(j);
    return error;
}

int marathon_cluster_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                            infra_json **out)
{
    marathon_cluster c;
    infra_secret *password = NULL;
    int error;

    *out = NULL;
    if ((error = marathon_cluster_parse(call, cluster, 0, &c)) < 0)
        return error;
    char *secret = marathon_secret_name(self->cluster, "http_password");
    if (pu_host->secrets->get(call, secret, &password) < 0)
        password = NULL;
    free(secret);
    marathon_api_ctx a = {self, call, password ? pu_host->secrets->value(password) : NULL};
    infra_json *regions = MJ->new_object();
    for (size_t i = 0; i < c.nregions && error == 0; i++) {
        const marathon_region *r = &c.regions[i];
        marathon_look l = {0};
        int ready = 0;
        infra_json *reg = MJ->new_object(), *servers = MJ->new_array(), *cl = MJ->new_array(),
                   *jobs = MJ->new_array();
        if ((error = marathon_region_look(&a, r, &l, &ready)) < 0) {
            MJ->release(reg);
            MJ->release(servers);
            MJ->release(cl);
            MJ->release(jobs);
            break;
        }
        char *leader =
            pu_printf("mesos %s, marathon %s", l.master_leader ? l.master_leader : "none",
                      l.marathon_leader ? l.marathon_leader : "none");
        pu_json_set_str(reg, "leader", leader);
        free(leader);
        for (size_t k = 0; k < c.nnodes; k++) {
            const marathon_node *n = &c.nodes[k];
            if (!n->server || strcmp(n->region, r->name) != 0)
                continue;
            char *text = server_text(&a, r, n, &l);
            MJ->append(servers,
                       entry("name", n->name, "address", n->private_ip ? n->private_ip : "-",
                             "status", text, NULL, NULL));
            free(text);
        }
        clients(&a, r, &l, cl);
        if (r->nmasters > 0 && apps(&a, r, jobs) < 0)
            pu_json_set_str(reg, "error", "Marathon's apps could not be listed");
        if (!ready) {
            int category = 0;
            char *why = marathon_region_report(r, &l, 0, self->cluster, &category);
            if (!MJ->get(reg, "error"))
                pu_json_set_str(reg, "error", why);
            free(why);
        }
        pu_json_set(reg, "servers", servers);
        pu_json_set(reg, "clients", cl);
        pu_json_set(reg, "jobs", jobs);
        pu_json_set(regions, r->name, reg);
        marathon_look_free(&l);
    }
    if (error == 0) {
        *out = MJ->new_object();
        pu_json_set(*out, "regions", regions);
    } else {
        MJ->release(regions);
    }
    pu_host->secrets->free(password);
    marathon_cluster_free(&c);
    return error;
}
