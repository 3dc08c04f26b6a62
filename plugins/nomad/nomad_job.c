/* job_submit, job_status and job_stop: one Nomad job per region of the
 * topology job, registered on a server of that region and waited for. */
#include "nomad.h"

#include <stdlib.h>
#include <string.h>

#define JOB_POLL_MS 2000

static int is_type(const char *type, const char *want)
{
    return type != NULL && strcmp(type, want) == 0;
}

/* GET path; 404 is INFRA_ENOTFOUND without a diagnostic. */
static int get_json(const nomad_api_ctx *a, const nomad_node *via, const char *path,
                    const char *what, infra_json **out)
{
    return nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", path, NULL,
                          NOMAD_API_RETRY | NOMAD_API_MISSING_OK, what, out);
}

static char *job_path(const char *id, const char *suffix)
{
    /* ids are checked to be names, so they need no escaping */
    return pu_printf("/v1/job/%s%s", id, suffix ? suffix : "");
}

static int set_obj(infra_json *obj, const char *key, infra_json *value)
{
    return value ? pu_json_set(obj, key, value) : pu_json_set(obj, key, NJ->new_null());
}

int nomad_job_region_status(const nomad_api_ctx *a, const nomad_node *server, const char *id,
                            infra_json **out)
{
    infra_json *job = NULL, *dep = NULL, *allocs = NULL, *st = NULL;
    char *what = pu_printf("region %s: job %s", server->region, id);
    char *p_job = job_path(id, NULL), *p_dep = job_path(id, "/deployment");
    char *p_alloc = job_path(id, "/allocations");
    int64_t version = 0;
    int error = get_json(a, server, p_job, what, &job);
    if (error < 0)
        goto done;
    if ((error = get_json(a, server, p_dep, what, &dep)) < 0 && error != INFRA_ENOTFOUND)
        goto done;
    if ((error = get_json(a, server, p_alloc, what, &allocs)) < 0 && error != INFRA_ENOTFOUND)
        goto done;
    error = 0;
    if (nomad_jint(job, "Version", &version) < 0)
        version = 0;
    st = NJ->new_object();
    if (st == NULL || nomad_jset_str(st, "id", id) < 0 ||
        nomad_jset_str(st, "status", pu_json_str(job, "Status")) < 0 ||
        pu_json_set_int(st, "version", version) < 0 ||
        nomad_jset_str(st, "type",
                       pu_json_str(job, "Type") ? pu_json_str(job, "Type") : "service") < 0) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    infra_json *d = NULL;
    if (dep && NJ->type(dep) == INFRA_JSON_OBJECT) {
        d = NJ->new_object();
        if (d == NULL || nomad_jset_str(d, "id", pu_json_str(dep, "ID")) < 0 ||
            nomad_jset_str(d, "status", pu_json_str(dep, "Status")) < 0 ||
            nomad_jset_str(d, "description", pu_json_str(dep, "StatusDescription")) < 0) {
            NJ->release(d);
            error = INFRA_EINTERNAL;
            goto done;
        }
    }
    infra_json *list = NJ->new_array();
    if ((error = set_obj(st, "deployment", d)) < 0 ||
        (error = set_obj(st, "allocations", list)) < 0)
        goto done;
    for (size_t i = 0; i < NJ->length(allocs); i++) {
        const infra_json *al = NJ->at(allocs, i);
        int64_t v = 0;
        const char *desired = pu_json_str(al, "DesiredStatus");
        if ((nomad_jint(al, "JobVersion", &v) == 0 && v != version) ||
            (desired && strcmp(desired, "run") != 0))
            continue;
        infra_json *e = NJ->new_object();
        const infra_json *healthy = nomad_jpath(al, "DeploymentStatus", "Healthy", NULL);
        const char *node =
            pu_json_str(al, "NodeName") ? pu_json_str(al, "NodeName") : pu_json_str(al, "NodeID");
        if (e == NULL || nomad_jset_str(e, "id", pu_json_str(al, "ID")) < 0 ||
            nomad_jset_str(e, "node", node) < 0 ||
            nomad_jset_str(e, "client_status", pu_json_str(al, "ClientStatus")) < 0 ||
            set_obj(e, "healthy",
                    healthy && NJ->type(healthy) == INFRA_JSON_BOOL ? NJ->copy(healthy) : NULL) <
                0 ||
            NJ->append(list, e) < 0) {
            error = INFRA_EINTERNAL;
            goto done;
        }
    }
    *out = st;
    st = NULL;
done:
    NJ->release(st);
    NJ->release(job);
    NJ->release(dep);
    NJ->release(allocs);
    free(what);
    free(p_job);
    free(p_dep);
    free(p_alloc);
    return error;
}

/* 1 when a service job creates deployments (some group has an update
 * strategy with MaxParallel > 0). */
static int has_deployments(const infra_json *job)
{
    int64_t n = 0;
    if (nomad_jint(NJ->get(job, "Update"), "MaxParallel", &n) == 0 && n > 0)
        return 1;
    const infra_json *groups = NJ->get(job, "TaskGroups");
    for (size_t g = 0; g < NJ->length(groups); g++)
        if (nomad_jint(NJ->get(NJ->at(groups, g), "Update"), "MaxParallel", &n) == 0 && n > 0)
            return 1;
    return 0;
}

static int64_t wanted_allocs(const infra_json *job)
{
    int64_t total = 0, n;
    const infra_json *groups = NJ->get(job, "TaskGroups");
    for (size_t g = 0; g < NJ->length(groups); g++)
        total += nomad_jint(NJ->at(groups, g), "Count", &n) == 0 ? n : 1;
    return total;
}

/* Counts the allocations of version by client status. */
static void count_allocs(const infra_json *allocs, int64_t version, int64_t *running,
                         int64_t *complete, int64_t *failed, int64_t *pending)
{
    *running = *complete = *failed = *pending = 0;
    for (size_t i = 0; i < NJ->length(allocs); i++) {
        const infra_json *al = NJ->at(allocs, i);
        int64_t v = 0;
        const char *cs = pu_json_str(al, "ClientStatus");
        if ((nomad_jint(al, "JobVersion", &v) == 0 && v != version) || cs == NULL)
            continue;
        if (strcmp(cs, "running") == 0)
            (*running)++;
        else if (strcmp(cs, "complete") == 0)
            (*complete)++;
        else if (strcmp(cs, "failed") == 0 || strcmp(cs, "lost") == 0)
            (*failed)++;
        else
            (*pending)++;
    }
}

/* Waits until the registered job is healthy in its region: 0, INFRA_EINVALID
 * naming the failed task, INFRA_ETRANSIENT at the deadline. */
static int job_wait(const nomad_api_ctx *a, const nomad_node *via, const infra_json *spec,
                    const char *id, int64_t deadline)
{
    const char *type = pu_json_str(spec, "Type") ? pu_json_str(spec, "Type") : "service";
    int64_t start = pu_host->now_ms();
    char *what = pu_printf("region %s: job %s", via->region, id);
    char *p_job = job_path(id, NULL), *p_dep = job_path(id, "/deployment");
    char *p_alloc = job_path(id, "/allocations");
    char *progress = NULL;
    int error = 0;

    for (;;) {
        infra_json *job = NULL, *dep = NULL, *allocs = NULL;
        int64_t version = 0, run, done_n, failed, pending, dv = -1;
        int finished = 0;
        if ((error = nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", p_job, NULL, NOMAD_API_RETRY,
                                    what, &job)) < 0) {
            goto done;
        }
        /* The registered job, as the server completed it (a service job
         * without an update block gets the default one), says whether
         * deployments follow. */
        int deployments = is_type(type, "service") && has_deployments(job);
        int64_t want = wanted_allocs(job);
        if ((error = nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", p_alloc, NULL,
                                    NOMAD_API_RETRY, what, &allocs)) < 0 ||
            (deployments && (error = nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "GET", p_dep, NULL,
                                                    NOMAD_API_RETRY, what, &dep)) < 0)) {
            NJ->release(job);
            NJ->release(allocs);
            goto done;
        }
        if (nomad_jint(job, "Version", &version) < 0)
            version = 0;
        count_allocs(allocs, version, &run, &done_n, &failed, &pending);
        free(progress);
        if (deployments) {
            const char *ds = pu_json_str(dep, "Status");
            if (dep && nomad_jint(dep, "JobVersion", &dv) == 0 && dv == version && ds) {
                if (strcmp(ds, "successful") == 0) {
                    finished = 1;
                } else if (strcmp(ds, "failed") == 0 || strcmp(ds, "cancelled") == 0) {
                    char *task = nomad_msg_task_failure(allocs, version);
                    pu_diagf(a->call, "", "%s: deployment %s (%s)%s%s", what, ds,
                             pu_json_str(dep, "StatusDescription")
                                 ? pu_json_str(dep, "StatusDescription")
                                 : "",
                             task ? "; " : "", task ? task : "");
                    free(task);
                    error = INFRA_EINVALID;
                }
            }
            progress = pu_printf("deployment %s; %lld of %lld allocations running",
                                 dv == version && ds ? ds : "not started", (long long)run,
                                 (long long)want);
        } else if (is_type(type, "batch") || is_type(type, "sysbatch")) {
            if (failed > 0 && run == 0 && pending == 0) {
                char *task = nomad_msg_task_failure(allocs, version);
                pu_diagf(a->call, "", "%s: %lld allocation%s failed%s%s", what, (long long)failed,
                         failed == 1 ? "" : "s", task ? "; " : "", task ? task : "");
                free(task);
                error = INFRA_EINVALID;
            }
            finished = failed == 0 && run == 0 && pending == 0 && done_n > 0 &&
                       (is_type(type, "sysbatch") || done_n >= want);
            progress =
                pu_printf("%lld of %lld allocations complete", (long long)done_n, (long long)want);
        } else {
            if (failed > 0) {
                char *task = nomad_msg_task_failure(allocs, version);
                pu_diagf(a->call, "", "%s: an allocation failed%s%s", what, task ? "; " : "",
                         task ? task : "");
                free(task);
                error = INFRA_EINVALID;
            }
            finished = run > 0 && pending == 0 && (is_type(type, "system") || run >= want);
            progress =
                pu_printf("%lld of %lld allocations running", (long long)run, (long long)want);
        }
        NJ->release(job);
        NJ->release(dep);
        NJ->release(allocs);
        if (error < 0 || finished)
            goto done;
        if (pu_host->now_ms() >= deadline) {
            pu_diagf(a->call, "", "%s: not healthy after %lld s: %s", what,
                     (long long)((pu_host->now_ms() - start) / 1000), progress);
            error = INFRA_ETRANSIENT;
            goto done;
        }
        if ((error = nomad_sleep_until(a->call, JOB_POLL_MS, deadline)) < 0)
            goto done;
    }
done:
    free(progress);
    free(what);
    free(p_job);
    free(p_dep);
    free(p_alloc);
    return error;
}

/* The Job object for region r: the JSON file's, or Nomad's conversion of
 * the HCL file. */
static int job_document(const nomad_api_ctx *a, const nomad_node *via, const infra_json *job,
                        infra_json **out)
{
    const char *format = pu_json_str(job, "format"), *content = pu_json_str(job, "content");
    const infra_json *set = NJ->get(job, "set");
    char *err = NULL, *body = NULL;
    int error;
    if (content == NULL) {
        pu_diagf(a->call, "file", "job %s: the job file's content is missing",
                 pu_json_str(job, "name") ? pu_json_str(job, "name") : "?");
        return INFRA_EINVALID;
    }
    if (format == NULL || strcmp(format, "json") == 0) {
        error = nomad_job_from_json(content, out, &err);
    } else if (strcmp(format, "hcl") == 0) {
        /* Nomad 1.7 parses with Strict off: a variable the file does not
         * declare is a warning its HTTP answer leaves out. So only declared
         * ones are sent, and the others are said here. */
        nomad_strs declared = {0};
        nomad_hcl_variables(content, &declared);
        void *it = NULL;
        const char *key;
        const infra_json *value;
        static const char *const builtin[] = {"name", "count", "image_tag", "datacenters"};
        while (set && NJ->next(set, &it, &key, &value)) {
            int known = nomad_strs_has(&declared, key);
            for (size_t i = 0; i < 4; i++)
                known |= strcmp(key, builtin[i]) == 0;
            if (!known)
                pu_warnf(a->call, "set",
                         "%s declares no variable \"%s\": it is set as the job's Meta entry %s "
                         "(Nomad would accept it as a variable with only a warning it does not "
                         "return)",
                         pu_json_str(job, "file") ? pu_json_str(job, "file") : "the job file", key,
                         key);
        }
        nomad_strs_free(&declared);
        if ((error = nomad_job_parse_request(content, set, &body, &err)) == 0) {
            char *what =
                pu_printf("region %s: parsing %s", via->region,
                          pu_json_str(job, "file") ? pu_json_str(job, "file") : "the job file");
            error = nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "POST", "/v1/jobs/parse", body,
                                   NOMAD_API_RETRY | NOMAD_API_VALIDATES, what, out);
            free(what);
            if (error == 0 && (*out == NULL || NJ->type(*out) != INFRA_JSON_OBJECT)) {
                err = pu_strdup("Nomad's parse answer is not a job");
                error = INFRA_EINTERNAL;
            }
        }
    } else {
        err = pu_printf("unknown job format \"%s\" (json or hcl)", format);
        error = INFRA_EINVALID;
    }
    if (err) {
        pu_diagf(a->call, "file", "%s: %s",
                 pu_json_str(job, "file") ? pu_json_str(job, "file") : "job", err);
        free(err);
    }
    free(body);
    return error;
}

static int submit_region(infra_scheduler *self, const nomad_api_ctx *a, const nomad_region *r,
                         const infra_json *job, const char *id, infra_json *status_regions)
{
    const nomad_node *via = nomad_api_any_server(a, r, NOMAD_AGENT_NOMAD, NULL);
    infra_json *spec = NULL, *resp = NULL, *body_doc = NULL, *st = NULL;
    char *err = NULL, *body = NULL, *what = pu_printf("region %s: job %s", r->name, id);
    int error = 0;

    if (via == NULL) {
        pu_diagf(a->call, "", "region %s: no Nomad server answers; job %s not submitted", r->name,
                 id);
        error = INFRA_ETRANSIENT;
        goto done;
    }
    if ((error = job_document(a, via, job, &spec)) < 0)
        goto done;
    if ((error = nomad_job_apply(spec, id, NJ->get(job, "set"), r->name, r->datacenters,
                                 r->ndatacenters, &err)) < 0) {
        pu_diagf(a->call, "set", "job %s: %s", id, err ? err : "cannot apply set");
        goto done;
    }
    if ((body_doc = NJ->new_object()) == NULL ||
        (error = pu_json_set(body_doc, "Job", NJ->copy(spec))) < 0)
        goto done;
    body = nomad_jdump(body_doc);
    if ((error = nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "POST", "/v1/jobs", body,
                                NOMAD_API_RETRY | NOMAD_API_VALIDATES, what, &resp)) < 0)
        goto done;
    const char *warnings = pu_json_str(resp, "Warnings");
    if (warnings && *warnings)
        pu_warnf(a->call, "", "%s: Nomad warns: %s", what, warnings);
    pu_logf(a->call, INFRA_LOG_INFO, "%s: registered (evaluation %s)", what,
            pu_json_str(resp, "EvalID") ? pu_json_str(resp, "EvalID") : "none");
    if ((error = job_wait(a, via, spec, id, pu_host->now_ms() + self->s.job_deadline_ms)) < 0 ||
        (error = nomad_job_region_status(a, via, id, &st)) < 0)
        goto done;
    error = pu_json_set(status_regions, r->name, st);
    st = NULL;
done:
    NJ->release(st);
    NJ->release(spec);
    NJ->release(resp);
    NJ->release(body_doc);
    free(body);
    free(err);
    free(what);
    return error;
}

int nomad_job_submit(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                     const infra_json *job, infra_json **status)
{
    nomad_cluster c;
    nomad_keys keys = {0};
    infra_json *out = NULL, *regions_out = NULL;
    int error;

    if ((error = nomad_cluster_parse(call, cluster, 0, &c)) < 0)
        return error;
    const char *id = pu_json_str(job, "id");
    const infra_json *set = NJ->get(job, "set");
    if (pu_json_str(set, "name"))
        id = pu_json_str(set, "name");
    if (!nomad_name_ok(id)) {
        pu_diagf(call, "", "job id \"%s\" must be letters, digits, \".\", \"_\" and \"-\"",
                 id ? id : "");
        error = INFRA_EINVALID;
        goto done;
    }
    const infra_json *want = NJ->get(job, "regions");
    for (size_t i = 0; i < NJ->length(want); i++)
        if (nomad_cluster_region(&c, NJ->string(NJ->at(want, i))) == NULL) {
            pu_diagf(call, "regions", "job %s: \"%s\" is not a region of cluster %s", id,
                     NJ->string(NJ->at(want, i)) ? NJ->string(NJ->at(want, i)) : "?", c.name);
            error = INFRA_EINVALID;
            goto done;
        }
    if ((error = nomad_keys_load(self, call, 0, &keys)) < 0)
        goto done;
    if ((out = NJ->new_object()) == NULL || (regions_out = nomad_jobj(out, "regions")) == NULL) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    nomad_api_ctx a = {self, call, &keys};
    size_t n = NJ->length(want) ? NJ->length(want) : c.nregions;
    for (size_t i = 0; i < n && error == 0; i++) {
        const nomad_region *r = NJ->length(want)
                                    ? nomad_cluster_region(&c, NJ->string(NJ->at(want, i)))
                                    : &c.regions[i];
        error = submit_region(self, &a, r, job, id, regions_out);
    }
    if (error == 0) {
        *status = out;
        out = NULL;
    }
done:
    NJ->release(out);
    nomad_keys_free(&keys);
    nomad_cluster_free(&c);
    return error;
}

int nomad_job_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                     const char *job_id, infra_json **status)
{
    nomad_cluster c;
    nomad_keys keys = {0};
    infra_json *out = NULL, *regions_out;
    size_t found = 0, silent = 0;
    int error;

    if ((error = nomad_cluster_parse(call, cluster, 0, &c)) < 0)
        return error;
    if (!nomad_name_ok(job_id)) {
        error = INFRA_ENOTFOUND;
        goto done;
    }
    if ((error = nomad_keys_load(self, call, 0, &keys)) < 0)
        goto done;
    if ((out = NJ->new_object()) == NULL || (regions_out = nomad_jobj(out, "regions")) == NULL) {
        error = INFRA_EINTERNAL;
        goto done;
    }
    nomad_api_ctx a = {self, call, &keys};
    for (size_t i = 0; i < c.nregions; i++) {
        const nomad_node *via = nomad_api_any_server(&a, &c.regions[i], NOMAD_AGENT_NOMAD, NULL);
        infra_json *st = NULL;
        if (via == NULL) {
            silent++;
            continue;
        }
        error = nomad_job_region_status(&a, via, job_id, &st);
        if (error == INFRA_ENOTFOUND)
            continue;
        if (error < 0 || (error = pu_json_set(regions_out, c.regions[i].name, st)) < 0)
            goto done;
        found++;
    }
    error = 0;
    if (found == 0) {
        if (silent > 0)
            pu_diagf(call, "", "job %s: no Nomad server answers in %zu region%s", job_id, silent,
                     silent == 1 ? "" : "s");
        error = silent > 0 ? INFRA_ETRANSIENT : INFRA_ENOTFOUND;
        goto done;
    }
    *status = out;
    out = NULL;
done:
    NJ->release(out);
    nomad_keys_free(&keys);
    nomad_cluster_free(&c);
    return error;
}

/* Stops job id in the region of via and waits until its allocations stop. */
static int stop_region(infra_scheduler *self, const nomad_api_ctx *a, const nomad_node *via,
                       const char *id)
{
    infra_json *job = NULL, *allocs = NULL, *resp = NULL;
    char *what = pu_printf("region %s: job %s", via->region, id);
    char *p_job = job_path(id, NULL), *p_alloc = job_path(id, "/allocations");
    char *p_del = job_path(id, "?purge=true");
    nomad_strs live = {0};
    int64_t deadline = pu_host->now_ms() + self->s.job_deadline_ms;
    int error = get_json(a, via, p_job, what, &job);
    if (error < 0)
        goto done;
    if ((error = get_json(a, via, p_alloc, what, &allocs)) < 0 && error != INFRA_ENOTFOUND)
        goto done;
    for (size_t i = 0; i < NJ->length(allocs); i++) {
        const char *cs = pu_json_str(NJ->at(allocs, i), "ClientStatus");
        const char *aid = pu_json_str(NJ->at(allocs, i), "ID");
        if (aid && nomad_name_ok(aid) && cs &&
            (strcmp(cs, "running") == 0 || strcmp(cs, "pending") == 0))
            nomad_strs_add(&live, aid);
    }
    if ((error = nomad_api_json(a, via, NOMAD_AGENT_NOMAD, "DELETE", p_del, NULL, NOMAD_API_RETRY,
                                what, &resp)) < 0)
        goto done;
    pu_logf(a->call, INFRA_LOG_INFO, "%s: stopped and purged; waiting for %zu allocation%s", what,
            live.n, live.n == 1 ? "" : "s");
    for (size_t i = 0; i < live.n;) {
        char *p = pu_printf("/v1/allocation/%s", live.v[i]);
        infra_json *al = NULL;
        error = get_json(a, via, p, what, &al);
        free(p);
        const char *cs = pu_json_str(al, "ClientStatus");
        int stopped = error == INFRA_ENOTFOUND || (error == 0 && cs && strcmp(cs, "running") != 0 &&
                                                   strcmp(cs, "pending") != 0);
        NJ->release(al);
        if (error < 0 && error != INFRA_ENOTFOUND)
            goto done;
        error = 0;
        if (stopped) {
            i++;
            continue;
        }
        if (pu_host->now_ms() >= deadline) {
            pu_diagf(a->call, "", "%s: allocation %s still running after the job was stopped", what,
                     live.v[i]);
            error = INFRA_ETRANSIENT;
            goto done;
        }
        if ((error = nomad_sleep_until(a->call, 1000, deadline)) < 0)
            goto done;
    }
done:
    nomad_strs_free(&live);
    NJ->release(job);
    NJ->release(allocs);
    NJ->release(resp);
    free(what);
    free(p_job);
    free(p_alloc);
    free(p_del);
    return error;
}

int nomad_job_stop(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                   const char *job_id)
{
    nomad_cluster c;
    nomad_keys keys = {0};
    int error;

    if ((error = nomad_cluster_parse(call, cluster, 0, &c)) < 0)
        return error;
    if (!nomad_name_ok(job_id)) {
        pu_diagf(call, "", "job id \"%s\" is not a valid job id", job_id ? job_id : "");
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = nomad_keys_load(self, call, 0, &keys)) < 0)
        goto done;
    nomad_api_ctx a = {self, call, &keys};
    for (size_t i = 0; i < c.nregions && error == 0; i++) {
        const nomad_node *via = nomad_api_any_server(&a, &c.regions[i], NOMAD_AGENT_NOMAD, NULL);
        if (via == NULL) {
            pu_diagf(call, "", "region %s: no Nomad server answers; job %s not stopped there",
                     c.regions[i].name, job_id);
            error = INFRA_ETRANSIENT;
            break;
        }
        error = stop_region(self, &a, via, job_id);
        if (error == INFRA_ENOTFOUND)
            error = 0;
    }
done:
    nomad_keys_free(&keys);
    nomad_cluster_free(&c);
    return error;
}
