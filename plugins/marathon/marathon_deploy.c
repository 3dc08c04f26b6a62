/* job_submit, job_status and job_stop for apps: one Marathon app per region
 * of the topology app, submitted through any master (Marathon proxies to
 * its leader) and waited for.
 *
 * A deployment is done when its id has left /v2/deployments and the app's
 * tasks are healthy (running, for an app without health checks). Marathon
 * itself never gives up on a version whose tasks fail: it keeps starting
 * them with a backoff while the old ones serve, as its upgradeStrategy
 * allows. So a version is declared failed after FAILED_TASKS of its tasks
 * failed, or at app_deadline, and rolled back (DELETE /v2/deployments/ID):
 * the old version stays the app's definition and its tasks keep serving,
 * and the next `infra up` tries the new version again. */
#include "marathon.h"

#include <stdlib.h>
#include <string.h>

#define POLL_MS 1000
#define FAILED_TASKS 3
#define ROLLBACK_WAIT_MS 60000

static char *app_path(const char *id, const char *suffix)
{
    /* ids are checked path ids ([a-z0-9.-] segments): nothing to escape */
    return pu_printf("/v2/apps%s%s", id, suffix ? suffix : "");
}

int marathon_app_region_status(const marathon_api_ctx *a, const marathon_region *r, const char *id,
                               infra_json **out)
{
    const marathon_node *via = marathon_any_master(a, r, MARATHON_API_MARATHON, NULL);
    char *what = pu_printf("region %s: app %s", r->name, id);
    char *path = app_path(id, "?embed=app.counts&embed=app.deployments&embed=app.lastTaskFailure");
    infra_json *body = NULL, *st = NULL;
    int error = 0;
    *out = NULL;
    if (via == NULL) {
        pu_diagf(a->call, "", "region %s: Marathon does not answer on any master", r->name);
        error = INFRA_ETRANSIENT;
        goto done;
    }
    if ((error = marathon_api_json(a, via, MARATHON_API_MARATHON, "GET", path, NULL,
                                   MARATHON_API_RETRY | MARATHON_API_MISSING_OK, what, &body)) < 0)
        goto done;
    const infra_json *app = MJ->get(body, "app");
    if (app == NULL) {
        error = INFRA_ENOTFOUND;
        goto done;
    }
    long n = 0;
    st = MJ->new_object();
    char *failure = marathon_task_failure_text(MJ->get(app, "lastTaskFailure"));
    pu_json_set_str(st, "id", pu_json_str(app, "id"));
    pu_json_set_str(st, "version", pu_json_str(app, "version"));
    static const char *const counts[][2] = {{"instances", "instances"},
                                            {"tasksHealthy", "healthy"},
                                            {"tasksRunning", "running"},
                                            {"tasksStaged", "staged"}};
    for (size_t i = 0; i < 4; i++) {
        n = 0;
        pu_json_to_int(MJ->get(app, counts[i][0]), &n);
        pu_json_set_int(st, counts[i][1], n);
    }
    pu_json_set_int(st, "deployments", (int64_t)MJ->length(MJ->get(app, "deployments")));
    pu_json_set_str(st, "last_failure", failure);
    free(failure);
    *out = st;
    st = NULL;
done:
    MJ->release(st);
    MJ->release(body);
    free(path);
    free(what);
    return error;
}

/* 1 when the deployment id is still listed. */
static int deployment_listed(const infra_json *list, const char *id)
{
    for (size_t i = 0; i < MJ->length(list); i++) {
        const char *d = pu_json_str(MJ->at(list, i), "id");
        if (d && strcmp(d, id) == 0)
            return 1;
    }
    return 0;
}

/* 1 when the app has its instances, running and (with health checks)
 * healthy, and nothing staged. */
static int app_healthy(const infra_json *app)
{
    long want = 0, running = 0, healthy = 0, staged = 0;
    pu_json_to_int(MJ->get(app, "instances"), &want);
    pu_json_to_int(MJ->get(app, "tasksRunning"), &running);
    pu_json_to_int(MJ->get(app, "tasksHealthy"), &healthy);
    pu_json_to_int(MJ->get(app, "tasksStaged"), &staged);
    int checks = MJ->length(MJ->get(app, "healthChecks")) > 0;
    return staged == 0 && running == want && (!checks || healthy == want);
}

typedef struct deploy {
    const marathon_api_ctx *a;
    const marathon_region *r;
    const marathon_node *via;
    const char *id;
    char *deployment; /* the deployment's id */
    char *version;    /* the version it deploys */
    pu_strs failed;   /* ids of the version's tasks that failed */
    char *last_failure;
    int64_t deadline;
} deploy;

/* PUT the app, waiting while another deployment locks it. */
static int submit(deploy *d, const char *body)
{
    char *path = app_path(d->id, "?partialUpdate=false");
    char *what = pu_printf("region %s: app %s", d->r->name, d->id);
    int error = 0;
    for (;;) {
        infra_http_response *resp = NULL;
        if ((error = marathon_api(d->a, d->via, MARATHON_API_MARATHON, "PUT", path, body,
                                  MARATHON_API_RETRY, &resp)) < 0) {
            if (error != INFRA_ECANCELLED)
                pu_diagf(d->a->call, "", "%s: Marathon on %s does not answer", what, d->via->name);
            break;
        }
        long status = resp->status;
        if (status == 409 && pu_host->now_ms() < d->deadline) {
            pu_host->http->response_free(resp);
            pu_logf(d->a->call, INFRA_LOG_INFO,
                    "%s: locked by a deployment in progress; waiting for it", what);
            if ((error = pu_sleep_until(d->a->call, POLL_MS, d->deadline)) < 0)
                break;
            continue;
        }
        if ((error = marathon_status_error(status)) < 0) {
            char *text = marathon_error_text(resp->body);
            if (error == INFRA_EAUTH) {
                char *secret = marathon_secret_name(d->a->ctx->cluster, "http_password");
                pu_diagf(d->a->call, "",
                         "%s: Marathon refuses the password kept as secret %s (%ld %s)", what,
                         secret, status, text);
                free(secret);
            } else {
                pu_diagf(d->a->call, "", "%s: Marathon %s the app: %ld %s%s", what,
                         error == INFRA_EINVALID ? "refuses" : "did not take", status, text,
                         status == 409 ? " (still locked at the deadline)" : "");
            }
            free(text);
            pu_host->http->response_free(resp);
            break;
        }
        infra_json *j = MJ->parse(resp->body, resp->body_len);
        const char *dep = pu_json_str(j, "deploymentId");
        if (dep == NULL)
            dep = pu_json_str(MJ->at(MJ->get(j, "deployments"), 0), "id");
        if (dep == NULL)
            dep = pu_host->http->header(resp, "Marathon-Deployment-Id");
        d->deployment = dep ? pu_strdup(dep) : NULL;
        d->version = pu_json_str(j, "version") ? pu_strdup(pu_json_str(j, "version")) : NULL;
        MJ->release(j);
        pu_host->http->response_free(resp);
        pu_logf(d->a->call, INFRA_LOG_INFO, "%s: submitted (%s), deployment %s", what,
                status == 201 ? "created" : "updated", d->deployment ? d->deployment : "none");
        break;
    }
    free(what);
    free(path);
    return error;
}

/* Rolls the failed deployment back and waits a while for the rollback. */
static void roll_back(deploy *d)
{
    char *path = pu_printf("/v2/deployments/%s", d->deployment);
    infra_http_response *resp = NULL;
    if (marathon_api(d->a, d->via, MARATHON_API_MARATHON, "DELETE", path, NULL, MARATHON_API_RETRY,
                     &resp) < 0 ||
        resp->status != 200) {
        pu_logf(d->a->call, INFRA_LOG_WARN, "region %s: app %s: the rollback was refused (%ld)",
                d->r->name, d->id, resp ? resp->status : 0L);
        pu_host->http->response_free(resp);
        free(path);
        return;
    }
    infra_json *j = MJ->parse(resp->body, resp->body_len);
    char *rollback = pu_strdup(pu_json_str(j, "deploymentId"));
    MJ->release(j);
    pu_host->http->response_free(resp);
    int64_t deadline = pu_host->now_ms() + ROLLBACK_WAIT_MS;
    while (pu_host->now_ms() < deadline) {
        infra_json *list = NULL;
        if (marathon_api_json(d->a, d->via, MARATHON_API_MARATHON, "GET", "/v2/deployments", NULL,
                              MARATHON_API_RETRY, "rollback", &list) < 0)
            break;
        int listed = deployment_listed(list, rollback);
        MJ->release(list);
        if (!listed || pu_sleep_until(d->a->call, POLL_MS, deadline) < 0)
            break;
    }
    free(rollback);
    free(path);
}

/* How many tasks of app id wait in Marathon's launch queue: tasks no offer
 * fits (constraints, resources, ports) stay there. */
static long queued(deploy *d)
{
    infra_json *q = NULL;
    long n = 0;
    if (marathon_api_json(d->a, d->via, MARATHON_API_MARATHON, "GET", "/v2/queue", NULL,
                          MARATHON_API_RETRY, "queue", &q) < 0)
        return 0;
    const infra_json *list = MJ->get(q, "queue");
    for (size_t i = 0; i < MJ->length(list); i++) {
        const infra_json *e = MJ->at(list, i);
        const char *app = pu_json_str(MJ->get(e, "app"), "id");
        long count = 0;
        if (app && strcmp(app, d->id) == 0 && pu_json_to_int(MJ->get(e, "count"), &count) == 0)
            n += count;
    }
    MJ->release(q);
    return n;
}

/* Waits until the deployment is done and the app healthy. */
static int await(deploy *d)
{
    char *path =
        app_path(d->id, "?embed=app.counts&embed=app.deployments&embed=app.lastTaskFailure");
    char *what = pu_printf("region %s: app %s", d->r->name, d->id);
    int64_t start = pu_host->now_ms();
    int error = 0;
    for (;;) {
        infra_json *list = NULL, *body = NULL;
        if ((error = marathon_api_json(d->a, d->via, MARATHON_API_MARATHON, "GET",
                                       "/v2/deployments", NULL, MARATHON_API_RETRY, what, &list)) <
                0 ||
            (error = marathon_api_json(d->a, d->via, MARATHON_API_MARATHON, "GET", path, NULL,
                                       MARATHON_API_RETRY, what, &body)) < 0) {
            MJ->release(list);
            break;
        }
        const infra_json *app = MJ->get(body, "app");
        const infra_json *failure = MJ->get(app, "lastTaskFailure");
        const char *fv = pu_json_str(failure, "version"), *ft = pu_json_str(failure, "taskId");
        if (d->version && fv && ft && strcmp(fv, d->version) == 0 && !pu_strs_has(&d->failed, ft)) {
            pu_strs_add(&d->failed, ft);
            free(d->last_failure);
            d->last_failure = marathon_task_failure_text(failure);
            pu_logf(d->a->call, INFRA_LOG_INFO, "%s: a task of the new version failed: %s", what,
                    d->last_failure);
        }
        int running = d->deployment && deployment_listed(list, d->deployment);
        int healthy = app && app_healthy(app);
        long h = 0;
        pu_json_to_int(MJ->get(app, "tasksHealthy"), &h);
        MJ->release(list);
        MJ->release(body);
        if (!running && healthy)
            break;
        int given_up = d->failed.n >= FAILED_TASKS;
        if (given_up || pu_host->now_ms() >= d->deadline) {
            long waiting = given_up ? 0 : queued(d);
            if (running)
                roll_back(d);
            if (given_up)
                pu_diagf(d->a->call, "",
                         "%s: version %s failed: %zu of its tasks failed, the last: %s; %s", what,
                         d->version ? d->version : "?", d->failed.n,
                         d->last_failure ? d->last_failure : "?",
                         running ? "rolled back, the previous version keeps serving"
                                 : "its deployment had ended");
            else {
                char *why = waiting > 0 ? pu_printf("; %ld task%s wait%s in Marathon's queue: no "
                                                    "agent meets the app's constraints and "
                                                    "resources (/v2/queue says why)",
                                                    waiting, waiting == 1 ? "" : "s",
                                                    waiting == 1 ? "s" : "")
                                        : pu_strdup("");
                pu_diagf(d->a->call, "",
                         "%s: not deployed and healthy after %lld s (%ld healthy tasks)%s%s%s; %s",
                         what, (long long)((pu_host->now_ms() - start) / 1000), h, why,
                         d->last_failure ? "; last task failure: " : "",
                         d->last_failure ? d->last_failure : "",
                         running ? "rolled back, the previous version keeps serving"
                                 : "its deployment had ended");
                free(why);
            }
            error = given_up ? INFRA_EINVALID : INFRA_ETRANSIENT;
            break;
        }
        if ((error = pu_sleep_until(d->a->call, POLL_MS, d->deadline)) < 0)
            break;
    }
    free(what);
    free(path);
    return error;
}

/* Waits until every load balancer of the region routes the app's host name. */
static int await_balancers(deploy *d, const infra_json *app)
{
    char *vhost = marathon_lb_vhost(app, d->a->ctx->s.lb_group);
    int error = 0;
    for (size_t i = 0; vhost && i < d->r->nbalancers && error == 0; i++) {
        const marathon_node *lb = d->r->balancers[i];
        long status = 0;
        for (;;) {
            char *body = NULL;
            int rc = marathon_lb_get(d->a, lb, "/", vhost, &status, &body);
            free(body);
            if (rc == INFRA_ECANCELLED) {
                error = rc;
                break;
            }
            if (rc == 0 && status != 503)
                break;
            if (pu_host->now_ms() >= d->deadline) {
                pu_diagf(d->a->call, "",
                         "region %s: app %s: load balancer %s does not route Host %s to it (%s)",
                         d->r->name, d->id, lb->name, vhost,
                         rc < 0 ? "haproxy does not answer" : "haproxy answers 503");
                error = INFRA_ETRANSIENT;
                break;
            }
            if ((error = pu_sleep_until(d->a->call, POLL_MS, d->deadline)) < 0)
                break;
        }
    }
    if (vhost && error == 0 && d->r->nbalancers > 0)
        pu_logf(d->a->call, INFRA_LOG_INFO, "region %s: app %s answers as %s on the load balancers",
                d->r->name, d->id, vhost);
    free(vhost);
    return error;
}

int marathon_job_submit(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                        const infra_json *job, infra_json **status)
{
    marathon_cluster c;
    infra_secret *password = NULL;
    infra_json *app = NULL, *st = NULL, *regions_st = NULL;
    char *err = NULL, *body = NULL;
    int error;

    *status = NULL;
    if ((error = marathon_cluster_parse(call, cluster, 1, &c)) < 0)
        return error;
    const char *name = pu_json_str(job, "name");
    if ((error = marathon_app_build(pu_json_str(job, "content"), pu_json_str(job, "id"),
                                    MJ->get(job, "set"), &app, &err)) < 0) {
        pu_diagf(call, "", "app %s (%s): %s", name ? name : "?", pu_json_str(job, "file"), err);
        goto done;
    }
    if ((error = marathon_password(self, call, 0, &password)) < 0)
        goto done;
    marathon_api_ctx a = {self, call, pu_host->secrets->value(password)};
    const char *id = pu_json_str(app, "id");
    char *text = MJ->dump(app);
    body = pu_strdup(text);
    pu_host->free(text);
    st = MJ->new_object();
    regions_st = MJ->new_object();
    const infra_json *regions = MJ->get(job, "regions");
    for (size_t i = 0; i < MJ->length(regions) && error == 0; i++) {
        const marathon_region *r = marathon_cluster_region(&c, MJ->string(MJ->at(regions, i)));
        if (r == NULL || r->nmasters == 0) {
            pu_diagf(call, "regions", "app %s: %s is not a region of cluster %s with masters", id,
                     MJ->string(MJ->at(regions, i)) ? MJ->string(MJ->at(regions, i)) : "?", c.name);
            error = INFRA_EINVALID;
            break;
        }
        deploy d = {
            .a = &a, .r = r, .id = id, .deadline = pu_host->now_ms() + self->s.app_deadline_ms};
        d.via = marathon_any_master(&a, r, MARATHON_API_MARATHON, NULL);
        if (d.via == NULL) {
            pu_diagf(call, "", "region %s: Marathon does not answer on any master", r->name);
            error = INFRA_ETRANSIENT;
        }
        if (error == 0 && (error = submit(&d, body)) == 0 && (error = await(&d)) == 0)
            error = await_balancers(&d, app);
        infra_json *one = NULL;
        if (error == 0 && (error = marathon_app_region_status(&a, r, id, &one)) == 0)
            pu_json_set(regions_st, r->name, one);
        free(d.deployment);
        free(d.version);
        free(d.last_failure);
        pu_strs_free(&d.failed);
    }
    if (error == 0) {
        pu_json_set(st, "regions", regions_st);
        regions_st = NULL;
        *status = st;
        st = NULL;
    }
done:
    MJ->release(regions_st);
    MJ->release(st);
    MJ->release(app);
    pu_host->secrets->free(password);
    free(body);
    free(err);
    marathon_cluster_free(&c);
    return error;
}

int marathon_job_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                        const char *job_id, infra_json **status)
{
    marathon_cluster c;
    infra_secret *password = NULL;
    infra_json *regions = NULL;
    char *id = marathon_app_id(job_id);
    int error, found = 0;

    *status = NULL;
    if ((error = marathon_cluster_parse(call, cluster, 1, &c)) < 0) {
        free(id);
        return error;
    }
    if (id == NULL) {
        pu_diagf(call, "", "\"%s\" is not a Marathon app id", job_id ? job_id : "");
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = marathon_password(self, call, 0, &password)) < 0)
        goto done;
    marathon_api_ctx a = {self, call, pu_host->secrets->value(password)};
    regions = MJ->new_object();
    for (size_t i = 0; i < c.nregions && error == 0; i++) {
        if (c.regions[i].nmasters == 0)
            continue;
        infra_json *one = NULL;
        error = marathon_app_region_status(&a, &c.regions[i], id, &one);
        if (error == INFRA_ENOTFOUND) {
            error = 0;
            continue;
        }
        if (error == 0) {
            pu_json_set(regions, c.regions[i].name, one);
            found = 1;
        }
    }
    if (error == 0 && !found)
        error = INFRA_ENOTFOUND;
    if (error == 0) {
        infra_json *st = MJ->new_object();
        pu_json_set(st, "regions", regions);
        regions = NULL;
        *status = st;
    }
done:
    MJ->release(regions);
    pu_host->secrets->free(password);
    marathon_cluster_free(&c);
    free(id);
    return error;
}

/* Deletes the app in region r (overriding a deployment in progress) and
 * waits until Marathon no longer has it. */
static int stop_region(infra_scheduler *self, const marathon_api_ctx *a, const marathon_region *r,
                       const char *id)
{
    const marathon_node *via = marathon_any_master(a, r, MARATHON_API_MARATHON, NULL);
    char *what = pu_printf("region %s: app %s", r->name, id);
    char *del = app_path(id, "?force=true"), *get = app_path(id, NULL);
    int64_t start = pu_host->now_ms(), deadline = start + self->s.app_deadline_ms;
    infra_json *j = NULL;
    int error = 0;
    if (via == NULL) {
        pu_diagf(a->call, "", "region %s: Marathon does not answer on any master", r->name);
        error = INFRA_ETRANSIENT;
        goto done;
    }
    error = marathon_api_json(a, via, MARATHON_API_MARATHON, "DELETE", del, NULL,
                              MARATHON_API_RETRY | MARATHON_API_MISSING_OK, what, &j);
    if (error == INFRA_ENOTFOUND) {
        error = 0;
        goto done;
    }
    if (error < 0)
        goto done;
    pu_logf(a->call, INFRA_LOG_INFO, "%s: stopping", what);
    for (;;) {
        infra_json *app = NULL;
        error = marathon_api_json(a, via, MARATHON_API_MARATHON, "GET", get, NULL,
                                  MARATHON_API_RETRY | MARATHON_API_MISSING_OK, what, &app);
        MJ->release(app);
        if (error == INFRA_ENOTFOUND) {
            error = 0;
            break;
        }
        if (error < 0)
            break;
        if (pu_host->now_ms() >= deadline) {
            pu_diagf(a->call, "", "%s: still there %lld s after it was deleted", what,
                     (long long)((pu_host->now_ms() - start) / 1000));
            error = INFRA_ETRANSIENT;
            break;
        }
        if ((error = pu_sleep_until(a->call, POLL_MS, deadline)) < 0)
            break;
    }
    if (error == 0)
        pu_logf(a->call, INFRA_LOG_INFO, "%s: stopped", what);
done:
    MJ->release(j);
    free(del);
    free(get);
    free(what);
    return error;
}

int marathon_job_stop(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                      const char *job_id)
{
    marathon_cluster c;
    infra_secret *password = NULL;
    char *id = marathon_app_id(job_id);
    int error;

    if ((error = marathon_cluster_parse(call, cluster, 1, &c)) < 0) {
        free(id);
        return error;
    }
    if (id == NULL) {
        pu_diagf(call, "", "\"%s\" is not a Marathon app id", job_id ? job_id : "");
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = marathon_password(self, call, 0, &password)) < 0)
        goto done;
    marathon_api_ctx a = {self, call, pu_host->secrets->value(password)};
    for (size_t i = 0; i < c.nregions && error == 0; i++)
        if (c.regions[i].nmasters > 0)
            error = stop_region(self, &a, &c.regions[i], id);
done:
    pu_host->secrets->free(password);
    marathon_cluster_free(&c);
    free(id);
    return error;
}
