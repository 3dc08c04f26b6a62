/* node_bootstrap and node_remove.
 *
 * Bootstrap is idempotent: it renders every file of the node, compares
 * each with what the node holds (mode and SHA-256, one SSH command),
 * uploads only what differs, restarts a program only when one of its own
 * files changed and starts it when it is not running. A second run on an
 * unchanged node therefore uploads nothing and restarts nothing.
 *
 * A ZooKeeper member that serves is restarted only while every other
 * member serves, and bootstrap then waits until it serves again: the
 * engine re-bootstraps a region's nodes one at a time when its servers
 * change, so the ensemble never loses its quorum. A member that has joined
 * brings the others' zoo.cfg up to date the same way (a replaced member
 * back at another address). */
#include "marathon.h"

#include <stdlib.h>
#include <string.h>

#define REMOVE_SSH_MS 60000
#define POLL_MS 1000

/* The programs each service needs on the node (want: the programs to
 * look for, per binary). */
static void service_programs(marathon_service svc, char *const want[MARATHON_BIN_COUNT],
                             pu_strs *out)
{
    switch (svc) {
    case MARATHON_SVC_ZOOKEEPER:
        pu_strs_add(out, want[MARATHON_BIN_JAVA]);
        break;
    case MARATHON_SVC_MASTER:
        pu_strs_add(out, want[MARATHON_BIN_MASTER]);
        break;
    case MARATHON_SVC_MARATHON:
        pu_strs_add(out, want[MARATHON_BIN_MARATHON]);
        break;
    case MARATHON_SVC_AGENT:
        pu_strs_add(out, want[MARATHON_BIN_AGENT]);
        break;
    case MARATHON_SVC_BALANCER:
        pu_strs_add(out, want[MARATHON_BIN_HAPROXY]);
        pu_strs_add(out, want[MARATHON_BIN_PYTHON]);
        break;
    default:
        break;
    }
}

/* The binary a program name stands for, or -1. */
static int program_binary(char *const want[MARATHON_BIN_COUNT], const char *program)
{
    for (int b = 0; b < MARATHON_BIN_COUNT; b++)
        if (strcmp(want[b], program) == 0)
            return b;
    return -1;
}

static void missing_program(infra_call *call, const infra_scheduler *self, const marathon_node *n,
                            const char *program, int b)
{
    char *text = marathon_missing_text(self->cluster, n->name, program, b);
    pu_diagf(call, "", "%s", text);
    free(text);
}

/* NULL-terminated view of a pu_strs (borrowed strings; caller frees the array). */
static const char **strv(const pu_strs *l)
{
    const char **v = pu_calloc(l->n + 1, sizeof(*v));
    for (size_t i = 0; i < l->n; i++)
        v[i] = l->v[i];
    return v;
}

/* The directories a node of these services needs. */
static void node_dirs(const marathon_service *svcs, size_t n, int systemd, pu_strs *out)
{
    if (!systemd)
        pu_strs_add(out, "0755 " PU_TOOL_DIR);
    for (size_t i = 0; i < n; i++) {
        switch (svcs[i]) {
        case MARATHON_SVC_ZOOKEEPER:
            pu_strs_add(out, "0755 " MARATHON_ZK_CONF_DIR);
            pu_strs_add(out, "0755 " MARATHON_ZK_DATA_DIR);
            break;
        case MARATHON_SVC_MASTER:
        case MARATHON_SVC_AGENT:
            if (!pu_strs_has(out, "0755 " MARATHON_MESOS_DIR))
                pu_strs_add(out, "0755 " MARATHON_MESOS_DIR);
            break;
        case MARATHON_SVC_MARATHON:
            pu_strs_add(out, "0700 " MARATHON_CONF_DIR);
            break;
        case MARATHON_SVC_BALANCER:
            pu_strs_add(out, "0755 " PU_TOOL_DIR);
            pu_strs_add(out, "0700 " MARATHON_LB_DIR);
            break;
        default:
            break;
        }
    }
}

/* How many members of r's ensemble other than n serve (leader or follower). */
static size_t others_serving(const marathon_settings *s, const marathon_region *r,
                             const marathon_node *n, pu_strs *modes)
{
    size_t k = 0;
    for (size_t i = 0; i < r->nensemble; i++) {
        if (strcmp(r->ensemble[i]->name, n->name) == 0)
            continue;
        char mode[16], why[64];
        marathon_zk_mode(s, r->ensemble[i], mode, why);
        int serving = strcmp(mode, "leader") == 0 || strcmp(mode, "follower") == 0;
        k += serving;
        if (modes)
            pu_strs_addf(modes, "%s %s", r->ensemble[i]->name, serving ? mode : why);
    }
    return k;
}

/* Before a serving member is restarted: waits until every other member
 * serves, so that the restart cannot cost the ensemble its quorum. */
static int zk_restart_allowed(infra_scheduler *self, infra_call *call, const marathon_region *r,
                              const marathon_node *n)
{
    int64_t start = pu_host->now_ms(), deadline = start + self->s.node_deadline_ms;
    for (;;) {
        pu_strs modes = {0};
        size_t k = others_serving(&self->s, r, n, &modes);
        if (k + 1 >= r->nensemble) {
            pu_strs_free(&modes);
            return 0;
        }
        if (pu_host->now_ms() >= deadline) {
            char *list = pu_strs_join(&modes);
            pu_diagf(call, "",
                     "node %s: ZooKeeper's configuration changed, but restarting it would leave "
                     "%zu of %zu members serving; after %lld s the others are still: %s",
                     n->name, k, r->nensemble, (long long)((pu_host->now_ms() - start) / 1000),
                     list);
            free(list);
            pu_strs_free(&modes);
            return INFRA_ETRANSIENT;
        }
        pu_strs_free(&modes);
        int error = pu_sleep_until(call, POLL_MS, deadline);
        if (error < 0)
            return error;
    }
}

typedef struct boot {
    infra_scheduler *self;
    infra_call *call;
    marathon_cluster c;
    const marathon_region *r;
    const marathon_node *n;
    infra_secret *password;
    int *zk_ids;
    marathon_service svcs[MARATHON_SVC_COUNT];
    size_t nsvcs;
    pu_remote rem;
    marathon_installed installed;
    char *want[MARATHON_BIN_COUNT]; /* the programs looked for: installed or the settings' */
} boot;

static void boot_free(boot *b)
{
    pu_remote_close(&b->rem);
    pu_host->secrets->free(b->password);
    free(b->zk_ids);
    marathon_installed_free(&b->installed);
    marathon_cluster_free(&b->c);
}

/* Inspects the node, resolving the programs its services need; a missing
 * one is INFRA_EINVALID naming the settings that would give it. */
static int inspect(boot *b, const char *bin[MARATHON_BIN_COUNT])
{
    const marathon_settings *s = &b->self->s;
    pu_strs paths = {0}, programs = {0}, services = {0};
    static const char *const files[] = {MARATHON_ZK_CONF, MARATHON_ZK_MYID, MARATHON_ENV,
                                        MARATHON_LB_PROGRAM, MARATHON_LB_CONFIG};
    int error = 0;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        pu_strs_add(&paths, files[i]);
    pu_strs_add(&paths, s->zookeeper_jar);
    for (size_t i = 0; i < b->nsvcs; i++) {
        pu_service_paths(marathon_service_name(b->svcs[i]), &paths);
        service_programs(b->svcs[i], b->want, &programs);
        pu_strs_add(&services, marathon_service_name(b->svcs[i]));
    }
    const char **vp = strv(&paths), **vb = strv(&programs), **vs = strv(&services);
    if ((error = pu_remote_inspect(b->call, &b->rem, NULL, vp, vb, vs)) < 0)
        goto done;
    for (size_t i = 0; i < programs.n; i++) {
        const char *path = pu_remote_found(&b->rem, programs.v[i]);
        if (path == NULL || path[0] != '/' || !pu_path_ok(path)) {
            missing_program(b->call, b->self, b->n, programs.v[i],
                            program_binary(b->want, programs.v[i]));
            error = INFRA_EINVALID;
            goto done;
        }
        for (int k = 0; k < MARATHON_BIN_COUNT; k++)
            if (strcmp(b->want[k], programs.v[i]) == 0)
                bin[k] = path;
    }
    if (marathon_in_ensemble(b->r, b->n)) {
        pu_file jar = {.path = s->zookeeper_jar};
        for (size_t i = 0; i < b->rem.paths.n; i++)
            if (strcmp(b->rem.paths.v[i], jar.path) == 0 && *b->rem.hashes.v[i] == '\0') {
                pu_diagf(b->call, "",
                         "node %s: ZooKeeper is not installed: %s is missing; give the node an "
                         "image with Debian's zookeeper package, or set "
                         "clusters.%s.install.zookeeper: {file: ..., sha256: ...} to have infra "
                         "install its packages (or zookeeper_jar to where it is)",
                         b->n->name, jar.path, b->self->cluster);
                error = INFRA_EINVALID;
                goto done;
            }
    }
done:
    free(vp);
    free(vb);
    free(vs);
    pu_strs_free(&paths);
    pu_strs_free(&programs);
    pu_strs_free(&services);
    return error;
}

/* Waits until member m serves again after its restart. */
static int zk_serves_again(infra_scheduler *self, infra_call *call, const marathon_node *m)
{
    int64_t start = pu_host->now_ms(), deadline = start + self->s.node_deadline_ms;
    for (;;) {
        char mode[16], why[64];
        marathon_zk_mode(&self->s, m, mode, why);
        if (strcmp(mode, "leader") == 0 || strcmp(mode, "follower") == 0)
            return 0;
        if (pu_host->now_ms() >= deadline) {
            pu_diagf(call, "", "node %s: ZooKeeper does not serve %lld s after its restart: %s",
                     m->name, (long long)((pu_host->now_ms() - start) / 1000), why);
            return INFRA_ETRANSIENT;
        }
        int error = pu_sleep_until(call, POLL_MS, deadline);
        if (error < 0)
            return error;
    }
}

/* After member b->n joined: the region's other members whose zoo.cfg does
 * not name the ensemble as it is now (a replaced member came back at
 * another address) get the current one and are restarted, one at a time,
 * each only while every other member serves, the leader last. Without it
 * they would reach the replaced member only at its old address until the
 * region is bootstrapped again after the last replacement, and the
 * election after the leader goes would wait on connection timeouts. */
static int zk_others_current(boot *b, const char *cfg, int hold_turn)
{
    infra_scheduler *self = b->self;
    const marathon_region *r = b->r;
    int error = 0;
    for (int pass = 0; pass < 2 && error == 0; pass++) {
        for (size_t i = 0; i < r->nensemble && error == 0; i++) {
            const marathon_node *m = r->ensemble[i];
            if (strcmp(m->name, b->n->name) == 0 || m->ssh.host == NULL)
                continue;
            char mode[16], why[64];
            marathon_zk_mode(&self->s, m, mode, why);
            if ((pass == 1) != (strcmp(mode, "leader") == 0))
                continue;
            pu_files files = {0};
            pu_files_add_text(&files, MARATHON_ZK_CONF, cfg, 0644, -1, 0);
            static const char *const zk[] = {"zookeeper", NULL};
            pu_remote rem = {0};
            if ((error = pu_remote_open(b->call, m->name, &m->ssh, self->s.node_deadline_ms,
                                        &rem)) < 0 ||
                (error = pu_remote_inspect(b->call, &rem, &files, NULL, NULL, zk)) < 0 ||
                pu_remote_has(&rem, &files.v[0]) || pu_remote_pid(&rem, "zookeeper") <= 0) {
                pu_remote_close(&rem);
                pu_files_free(&files);
                continue;
            }
            int turn = !hold_turn;
            if (turn && (error = pu_rolling_begin(&self->rolling, b->call, r->name)) < 0)
                turn = 0;
            if (error == 0)
                error = zk_restart_allowed(self, b->call, r, m);
            if (error == 0)
                error = pu_remote_put(b->call, &rem, NULL, &files);
            if (error == 0)
                error = pu_service_start(b->call, &rem, "zookeeper", 1, 0);
            pu_remote_close(&rem);
            if (error == 0)
                error = zk_serves_again(self, b->call, m);
            if (turn)
                pu_rolling_end(&self->rolling, r->name);
            if (error == 0)
                pu_logf(b->call, INFRA_LOG_INFO,
                        "node %s: ZooKeeper restarted with the ensemble as it is now (node %s "
                        "joined it)",
                        m->name, b->n->name);
            pu_files_free(&files);
        }
    }
    return error;
}

int marathon_node_bootstrap(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                            const infra_json *node)
{
    boot b = {.self = self, .call = call};
    pu_files files = {0}, changed = {0};
    pu_strs dirs = {0};
    marathon_services services = {0};
    const char *bin[MARATHON_BIN_COUNT] = {NULL};
    int svc_changed[MARATHON_SVC_COUNT] = {0}, units_changed = 0, zk_joined = 0, restarting = 0;
    int error;

    if ((error = marathon_cluster_parse(call, cluster, 0, &b.c)) < 0)
        return error;
    const char *name = pu_json_str(node, "name");
    b.n = marathon_cluster_node(&b.c, name);
    if (b.n == NULL || b.n->private_ip == NULL) {
        pu_diagf(call, "", "node %s is not listed with its private_ip in cluster %s",
                 name ? name : "(no name)", b.c.name);
        error = INFRA_EINVALID;
        goto done;
    }
    b.r = marathon_cluster_region(&b.c, b.n->region);
    for (size_t i = 0; i < b.c.nnodes; i++)
        if (b.c.nodes[i].private_ip == NULL &&
            (b.c.nodes[i].role == MARATHON_ROLE_MASTER ||
             b.c.nodes[i].role == MARATHON_ROLE_ZOOKEEPER) &&
            strcmp(b.c.nodes[i].region, b.n->region) == 0) {
            pu_diagf(call, "", "server %s of region %s has no private_ip yet", b.c.nodes[i].name,
                     b.n->region);
            error = INFRA_EINVALID;
            goto done;
        }
    b.nsvcs = marathon_node_services(b.r, b.n, b.svcs);
    if ((error = marathon_password(self, call, 1, &b.password)) < 0 ||
        (error = marathon_zookeeper_ids(self, call, &b.c, &b.zk_ids)) < 0)
        goto done;
    /* node_deadline bounds each wait: for SSH to answer, then for the programs */
    if ((error = pu_remote_open(call, b.n->name, &b.n->ssh, self->s.node_deadline_ms, &b.rem)) <
            0 ||
        (error = marathon_install_node(self, call, b.r, b.n, &b.rem, &b.installed)) < 0)
        goto done;
    for (int k = 0; k < MARATHON_BIN_COUNT; k++)
        b.want[k] = b.installed.bin[k] ? b.installed.bin[k] : self->s.binary[k];
    if ((error = inspect(&b, bin)) < 0)
        goto done;
    marathon_render_in in = {
        .s = &self->s,
        .cluster = self->cluster,
        .region = b.r,
        .node = b.n,
        .zk_ids = b.zk_ids,
        .nodes = b.c.nodes,
        .password = pu_host->secrets->value(b.password),
    };
    for (int v = 0; v < MARATHON_SVC_COUNT; v++)
        in.installed[v] = b.installed.note[v];
    memcpy(in.bin, bin, sizeof(in.bin));
    marathon_render_files(&in, &files);
    marathon_render_services(&in, &services);
    /* the file's service tag is an index into services.v */
    for (size_t i = 0; i < files.n; i++)
        for (size_t k = 0; k < services.n; k++)
            if (files.v[i].service == (int)services.svc[k]) {
                files.v[i].service = (int)k;
                break;
            }
    pu_service_files(&b.rem, services.v, services.n, 0, "marathon scheduler", &files);
    for (size_t i = 0; i < files.n; i++) {
        const pu_file *f = &files.v[i];
        if (pu_remote_has(&b.rem, f))
            continue;
        pu_files_add(&changed, f->path, f->data, f->len, f->mode, f->service, f->secret);
        if (f->service >= 0)
            svc_changed[f->service] = 1;
        if (strncmp(f->path, PU_UNIT_DIR "/", strlen(PU_UNIT_DIR) + 1) == 0)
            units_changed = 1;
    }
    node_dirs(b.svcs, b.nsvcs, b.rem.systemd, &dirs);
    const char **vd = strv(&dirs);
    error = pu_remote_put(call, &b.rem, vd, &changed);
    free(vd);
    if (error < 0)
        goto done;
    pu_logf(call, INFRA_LOG_INFO, "node %s (%s): %zu file%s updated%s", b.n->name,
            marathon_role_name(b.n->role), changed.n, changed.n == 1 ? "" : "s",
            b.rem.systemd ? " (systemd)" : "");
    /* an ensemble that serves: this member must join it, and is restarted
     * only while the others keep the quorum */
    zk_joined = marathon_in_ensemble(b.r, b.n) && others_serving(&self->s, b.r, b.n, NULL) > 0;
    for (size_t i = 0; i < services.n; i++) {
        svc_changed[i] |= b.installed.changed[services.svc[i]];
        restarting |=
            b.n->server && svc_changed[i] && pu_remote_pid(&b.rem, services.v[i].name) > 0;
    }
    /* servers restart one node of the region at a time: Mesos' replicated
     * log and Marathon's leadership keep a majority while a new version or
     * configuration rolls through them */
    if (restarting) {
        if ((error = pu_rolling_begin(&self->rolling, call, b.n->region)) < 0) {
            restarting = 0;
            goto done;
        }
        pu_logf(call, INFRA_LOG_INFO,
                "node %s: restarting its programs (one server of region %s "
                "at a time)",
                b.n->name, b.n->region);
    }
    for (size_t i = 0; i < services.n; i++) {
        const char *svc = services.v[i].name;
        int running = pu_remote_pid(&b.rem, svc) > 0;
        if (running && !svc_changed[i])
            continue;
        if (running && services.svc[i] == MARATHON_SVC_ZOOKEEPER &&
            (error = zk_restart_allowed(self, call, b.r, b.n)) < 0)
            goto done;
        if ((error = pu_service_start(call, &b.rem, svc, running, units_changed)) < 0)
            goto done;
    }
    pu_remote_close(&b.rem);
    marathon_api_ctx a = {self, call, pu_host->secrets->value(b.password)};
    error =
        marathon_node_wait(&a, b.r, b.n, zk_joined, pu_host->now_ms() + self->s.node_deadline_ms);
    if (restarting && error == 0)
        pu_logf(call, INFRA_LOG_INFO, "node %s: its programs answer again after the restart",
                b.n->name);
    if (error == 0 && marathon_in_ensemble(b.r, b.n)) {
        char *cfg = marathon_render_zoo_cfg(&in);
        error = zk_others_current(&b, cfg, restarting);
        free(cfg);
    }
done:
    if (restarting)
        pu_rolling_end(&self->rolling, b.n->region);
    marathon_services_free(&services);
    pu_strs_free(&dirs);
    pu_files_free(&changed);
    pu_files_free(&files);
    boot_free(&b);
    return error;
}

/* ------------------------------------------------------------------ */
/* Removal                                                            */

/* The agent id of n in the leading master's state, through any master. */
static char *agent_id(const marathon_api_ctx *a, const marathon_region *r, const marathon_node *n,
                      const marathon_node **leader)
{
    char *id = NULL;
    *leader = NULL;
    for (size_t i = 0; i < r->nmasters && id == NULL; i++) {
        infra_json *st = NULL;
        infra_http_response *resp = NULL;
        if (marathon_api(a, r->masters[i], MARATHON_API_MASTER, "GET", "/master/state", NULL,
                         MARATHON_API_PROBE, &resp) < 0)
            continue;
        if (resp->status == 200)
            st = MJ->parse(resp->body, resp->body_len);
        pu_host->http->response_free(resp);
        const char *pid = pu_json_str(st, "pid"), *lead = pu_json_str(st, "leader");
        if (pid && lead && strcmp(pid, lead) == 0) {
            *leader = r->masters[i];
            const infra_json *slaves = MJ->get(st, "slaves");
            for (size_t k = 0; k < MJ->length(slaves); k++) {
                const char *host = pu_json_str(MJ->at(slaves, k), "hostname");
                const char *sid = pu_json_str(MJ->at(slaves, k), "id");
                if (host && sid && n->private_ip && strcmp(host, n->private_ip) == 0)
                    id = pu_strdup(sid);
            }
        }
        MJ->release(st);
    }
    return id;
}

/* The agent's drain state in the leader's /master/state: "DRAINED",
 * "DRAINING", "" (no drain info), or "GONE" when it is no longer listed;
 * NULL when the leader does not answer. */
static char *drain_state(const marathon_api_ctx *a, const marathon_node *leader, const char *id,
                         int64_t *tasks)
{
    infra_http_response *resp = NULL;
    char *out = NULL;
    *tasks = 0;
    if (marathon_api(a, leader, MARATHON_API_MASTER, "GET", "/master/state", NULL,
                     MARATHON_API_PROBE, &resp) < 0)
        return NULL;
    infra_json *st = resp->status == 200 ? MJ->parse(resp->body, resp->body_len) : NULL;
    pu_host->http->response_free(resp);
    if (st == NULL)
        return NULL;
    const infra_json *slaves = MJ->get(st, "slaves");
    for (size_t k = 0; k < MJ->length(slaves) && out == NULL; k++) {
        const infra_json *s = MJ->at(slaves, k);
        const char *sid = pu_json_str(s, "id");
        if (sid && strcmp(sid, id) == 0) {
            const char *state = pu_json_str(MJ->get(s, "drain_info"), "state");
            out = pu_strdup(state ? state : "");
        }
    }
    /* tasks still running there, of any framework */
    const infra_json *fws = MJ->get(st, "frameworks");
    for (size_t f = 0; f < MJ->length(fws); f++) {
        const infra_json *ts = MJ->get(MJ->at(fws, f), "tasks");
        for (size_t t = 0; t < MJ->length(ts); t++) {
            const char *sid = pu_json_str(MJ->at(ts, t), "slave_id");
            const char *state = pu_json_str(MJ->at(ts, t), "state");
            if (sid && strcmp(sid, id) == 0 && state &&
                (strcmp(state, "TASK_RUNNING") == 0 || strcmp(state, "TASK_STAGING") == 0 ||
                 strcmp(state, "TASK_STARTING") == 0 || strcmp(state, "TASK_KILLING") == 0))
                (*tasks)++;
        }
    }
    MJ->release(st);
    return out ? out : pu_strdup("GONE");
}

char *marathon_apps_short(const infra_json *apps, const char *agent)
{
    pu_strs shortfall = {0};
    const infra_json *all = MJ->get(apps, "apps");
    for (size_t i = 0; i < MJ->length(all); i++) {
        const infra_json *app = MJ->at(all, i), *tasks = MJ->get(app, "tasks");
        int here = 0;
        for (size_t t = 0; t < MJ->length(tasks) && !here; t++) {
            const char *sid = pu_json_str(MJ->at(tasks, t), "slaveId");
            here = sid && strcmp(sid, agent) == 0;
        }
        long want = 0, healthy = 0, running = 0;
        pu_json_to_int(MJ->get(app, "instances"), &want);
        pu_json_to_int(MJ->get(app, "tasksHealthy"), &healthy);
        pu_json_to_int(MJ->get(app, "tasksRunning"), &running);
        int checks = MJ->length(MJ->get(app, "healthChecks")) > 0;
        long have = checks ? healthy : running;
        if (here && have < want)
            pu_strs_addf(&shortfall, "%s %ld of %ld %s", pu_json_str(app, "id"), have, want,
                         checks ? "healthy" : "running");
    }
    char *out = shortfall.n ? pu_strs_join(&shortfall) : pu_strdup("");
    pu_strs_free(&shortfall);
    return out;
}

/* marathon_apps_short of Marathon's apps with their tasks and counts, asked of via;
 * NULL when Marathon could not be read. */
static char *apps_short(const marathon_api_ctx *a, const marathon_node *via, const char *id)
{
    infra_http_response *resp = NULL;
    if (marathon_api(a, via, MARATHON_API_MARATHON, "GET",
                     "/v2/apps?embed=apps.tasks&embed=apps.counts", NULL, MARATHON_API_PROBE,
                     &resp) < 0)
        return NULL;
    infra_json *j = resp->status == 200 ? MJ->parse(resp->body, resp->body_len) : NULL;
    pu_host->http->response_free(resp);
    if (j == NULL)
        return NULL;
    char *out = marathon_apps_short(j, id);
    MJ->release(j);
    return out;
}

/* Before an agent is drained: waits until every app with a task on it has
 * all its instances healthy (running, without health checks). The engine
 * replaces agents one after the other as soon as each new one has joined,
 * before Marathon's tasks moved onto it pass their checks; draining the
 * next agent then would kill an app's last serving task. */
static int apps_whole(infra_scheduler *self, const marathon_api_ctx *a, const marathon_region *r,
                      const marathon_node *n, const char *id)
{
    int64_t start = pu_host->now_ms(), deadline = start + self->s.drain_deadline_ms;
    int said = 0;
    for (;;) {
        const marathon_node *via = marathon_any_master(a, r, MARATHON_API_MARATHON, NULL);
        if (via == NULL) {
            pu_logf(a->call, INFRA_LOG_WARN,
                    "node %s: no Marathon answers; the agent is drained without waiting for "
                    "its apps",
                    n->name);
            return 0;
        }
        char *shortfall = apps_short(a, via, id);
        if (shortfall && *shortfall == '\0') {
            free(shortfall);
            return 0;
        }
        if (pu_host->now_ms() >= deadline) {
            pu_diagf(a->call, "",
                     "node %s: not drained: after %lld s %s; draining the agent now would "
                     "take tasks these apps still need (run again once they are healthy)",
                     n->name, (long long)((pu_host->now_ms() - start) / 1000),
                     shortfall ? shortfall : "Marathon does not answer");
            free(shortfall);
            return INFRA_ETRANSIENT;
        }
        if (!said && shortfall) {
            pu_logf(a->call, INFRA_LOG_INFO, "node %s: waiting for %s before draining the agent",
                    n->name, shortfall);
            said = 1;
        }
        free(shortfall);
        int error = pu_sleep_until(a->call, POLL_MS, deadline);
        if (error < 0)
            return error;
    }
}

/* Drains an agent through the leading master (Mesos' DRAIN_AGENT, the
 * agent marked gone once drained): its tasks are killed and Marathon
 * starts them again on the other agents; waits until none is left. */
static int drain_agent(infra_scheduler *self, const marathon_api_ctx *a, const marathon_region *r,
                       const marathon_node *n)
{
    const marathon_node *leader = NULL;
    char *id = agent_id(a, r, n, &leader);
    int error = 0;
    if (leader == NULL) {
        pu_logf(a->call, INFRA_LOG_WARN, "node %s: no leading Mesos master answers; not drained",
                n->name);
        return 0;
    }
    if (id == NULL) {
        pu_logf(a->call, INFRA_LOG_INFO, "node %s: not registered with Mesos; nothing to drain",
                n->name);
        return 0;
    }
    if ((error = apps_whole(self, a, r, n, id)) < 0) {
        free(id);
        return error;
    }
    char *body = pu_printf("{\"type\":\"DRAIN_AGENT\",\"drain_agent\":{\"agent_id\":{\"value\":"
                           "\"%s\"},\"mark_gone\":true}}",
                           id);
    char *what = pu_printf("node %s: draining the Mesos agent", n->name);
    infra_json *j = NULL;
    if ((error = marathon_api_json(a, leader, MARATHON_API_MASTER, "POST", "/api/v1", body,
                                   MARATHON_API_RETRY, what, &j)) < 0)
        goto done;
    pu_logf(a->call, INFRA_LOG_INFO, "node %s: draining (Mesos agent %s)", n->name, id);
    int64_t start = pu_host->now_ms(), deadline = start + self->s.drain_deadline_ms;
    for (;;) {
        int64_t tasks = 0;
        char *state = drain_state(a, leader, id, &tasks);
        int drained =
            state && (strcmp(state, "DRAINED") == 0 || strcmp(state, "GONE") == 0) && tasks == 0;
        if (drained) {
            free(state);
            break;
        }
        if (pu_host->now_ms() >= deadline) {
            pu_diagf(a->call, "",
                     "node %s: the Mesos agent is still draining after %lld s (%s, %lld tasks "
                     "left)",
                     n->name, (long long)((pu_host->now_ms() - start) / 1000),
                     state ? (*state ? state : "no drain state") : "the master does not answer",
                     (long long)tasks);
            free(state);
            error = INFRA_ETRANSIENT;
            goto done;
        }
        free(state);
        if ((error = pu_sleep_until(a->call, POLL_MS, deadline)) < 0)
            goto done;
    }
    pu_logf(a->call, INFRA_LOG_INFO,
            "node %s: drained; Marathon moves its tasks to the other agents", n->name);
done:
    MJ->release(j);
    free(what);
    free(body);
    free(id);
    return error;
}

int marathon_node_remove(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         const infra_json *node)
{
    marathon_cluster c;
    pu_remote rem = {0};
    infra_secret *password = NULL;
    int error;

    if ((error = marathon_cluster_parse(call, cluster, 0, &c)) < 0)
        return error;
    marathon_node alone;
    const marathon_node *n = marathon_cluster_node(&c, pu_json_str(node, "name"));
    if (n == NULL) {
        /* no longer counted in its datacenter: read on its own */
        if ((error = marathon_node_alone(call, cluster, node, &alone)) < 0)
            goto done;
        n = &alone;
    }
    const marathon_region *r = marathon_cluster_region(&c, n->region);
    /* quietly: a cluster never bootstrapped has none, and nothing answers */
    char *secret = marathon_secret_name(self->cluster, "http_password");
    if (pu_host->secrets->get(call, secret, &password) < 0)
        password = NULL;
    free(secret);
    marathon_api_ctx a = {self, call, password ? pu_host->secrets->value(password) : NULL};
    if (n->role == MARATHON_ROLE_AGENT && r != NULL && (error = drain_agent(self, &a, r, n)) < 0)
        goto done;
    int64_t ssh_ms =
        self->s.node_deadline_ms < REMOVE_SSH_MS ? self->s.node_deadline_ms : REMOVE_SSH_MS;
    if (n->ssh.host == NULL || pu_remote_open(call, n->name, &n->ssh, ssh_ms, &rem) < 0) {
        pu_logf(call, INFRA_LOG_WARN,
                "node %s does not answer over SSH; its programs were not stopped", n->name);
        goto done;
    }
    static const char *const every[] = {"marathon-lb",  "mesos-agent", "marathon",
                                        "mesos-master", "zookeeper",   NULL};
    pu_strs paths = {0};
    for (size_t i = 0; every[i]; i++)
        pu_service_paths(every[i], &paths);
    const char **vp = strv(&paths);
    error = pu_remote_inspect(call, &rem, NULL, vp, NULL, every);
    free(vp);
    /* whatever runs or is installed to run (a drained agent exits and its
     * supervisor would start it again), in the reverse of the start order */
    for (size_t i = 0; every[i] && error == 0; i++) {
        char *unit = pu_printf(PU_UNIT_DIR "/%s.service", every[i]);
        char *run = pu_printf(PU_TOOL_DIR "/%s.run", every[i]);
        int installed = 0;
        for (size_t k = 0; k < rem.paths.n; k++)
            if ((strcmp(rem.paths.v[k], unit) == 0 || strcmp(rem.paths.v[k], run) == 0) &&
                *rem.hashes.v[k])
                installed = 1;
        if (installed || pu_remote_pid(&rem, every[i]) > 0)
            error = pu_service_stop(call, &rem, every[i]);
        free(unit);
        free(run);
    }
    pu_strs_free(&paths);
    if (error == 0)
        pu_logf(call, INFRA_LOG_INFO, "node %s removed from cluster %s", n->name, c.name);
done:
    pu_remote_close(&rem);
    pu_host->secrets->free(password);
    marathon_cluster_free(&c);
    return error;
}
