/* The "testsched" scheduler: a real scheduler plugin (it sees only
 * <infra/plugin.h> and the C library) that records each operation the
 * engine asks for as one line of DIR/calls.log, the file the test provider
 * logs its own calls to, so a test reads both in the order they happened:
 *
 *   bootstrap NODE PRIVATE_IP servers=IP,IP
 *   remove NODE PRIVATE_IP
 *   ready REGION servers=N clients=N
 *   federate REGION_A REGION_B
 *   submit JOB_ID regions=R,R sha=HEX set=JSON
 *   stop JOB_ID
 *
 * A submitted job is the file DIR/jobs/ID (delete it to simulate a job
 * stopped behind the engine's back). Settings: dir (required), fail_node
 * (a node whose bootstrap fails), fail_region (a region never ready). */
#include <infra/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const infra_host *host;

struct infra_scheduler {
    char *dir;
    char *fail_node;
    char *fail_region;
    pthread_mutex_t lock;
};

static const infra_json_api *js(void)
{
    return host->json;
}

static const char *get_str(const infra_json *obj, const char *key)
{
    return js()->string(js()->get(obj, key));
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void log_line(infra_scheduler *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(infra_scheduler *s, const char *fmt, ...)
{
    char line[4096], path[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    snprintf(path, sizeof(path), "%s/calls.log", s->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (write(fd, line, (size_t)n) != n) {
        /* a test reading the log will notice the missing line */
    }
    close(fd);
}

static void fail(infra_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(infra_call *call, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    host->diag(call, INFRA_DIAG_ERROR, "", msg);
}

/* "a,b,c" of the strings of an array (static buffer of the caller). */
static void join(const infra_json *array, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < js()->length(array); i++) {
        const char *s = js()->string(js()->at(array, i));
        int n = snprintf(out + used, cap - used, "%s%s", i ? "," : "", s ? s : "null");
        if (n < 0 || (size_t)n >= cap - used)
            return;
        used += (size_t)n;
    }
}

/* Every node of role in region of the cluster JSON; calls fn on each. */
static size_t each_node(const infra_json *cluster, const char *region, const char *role,
                        void (*fn)(const infra_json *node, void *ud), void *ud)
{
    const infra_json *dcs = js()->get(js()->get(js()->get(cluster, "regions"), region),
                                      "datacenters");
    void *it = NULL;
    const char *key;
    const infra_json *dc;
    size_t n = 0;
    while (js()->next(dcs, &it, &key, &dc)) {
        const infra_json *nodes = js()->get(dc, !strcmp(role, "server") ? "servers" : "clients");
        for (size_t i = 0; i < js()->length(nodes); i++, n++)
            if (fn)
                fn(js()->at(nodes, i), ud);
    }
    return n;
}

typedef struct ip_list {
    char text[2048];
    size_t used;
} ip_list;

static void add_ip(const infra_json *node, void *ud)
{
    ip_list *l = ud;
    const char *ip = get_str(node, "private_ip");
    int n = snprintf(l->text + l->used, sizeof(l->text) - l->used, "%s%s", l->used ? "," : "",
                     ip ? ip : "null");
    if (n > 0 && (size_t)n < sizeof(l->text) - l->used)
        l->used += (size_t)n;
}

/* ------------------------------------------------------------------ */

static void ts_close(infra_scheduler *s);

static int ts_schema(infra_call *call, infra_json **out)
{
    const char *text =
        "{\"settings\": {"
        "\"dir\": {\"type\": \"string\", \"required\": true, \"description\": \"where to log\"},"
        "\"fail_node\": {\"type\": \"string\", \"description\": \"a node that never comes up\"},"
        "\"fail_region\": {\"type\": \"string\", \"description\": \"a region never ready\"},"
        "\"ssh_user\": {\"type\": \"string\", \"description\": \"login user\"}}}";
    *out = js()->parse(text, strlen(text));
    return *out ? 0 : INFRA_EINTERNAL;
}

static int ts_validate(infra_call *call, const infra_json *cluster)
{
    const infra_json *regions = js()->get(cluster, "regions");
    void *it = NULL;
    const char *name;
    const infra_json *region;
    while (js()->next(regions, &it, &name, &region)) {
        size_t servers = each_node(cluster, name, "server", NULL, NULL);
        if (servers > 0 && servers % 2 == 0) {
            char msg[256];
            snprintf(msg, sizeof(msg), "region %s has %zu servers: use an odd number", name,
                     servers);
            host->diag(call, INFRA_DIAG_WARNING, "", msg);
        }
    }
    return 0;
}

static int ts_configure(infra_call *call, const infra_json *settings, infra_scheduler **out)
{
    const char *dir = get_str(settings, "dir");
    if (!dir || !*dir) {
        host->diag(call, INFRA_DIAG_ERROR, "dir", "dir is required");
        return INFRA_EINVALID;
    }
    infra_scheduler *s = calloc(1, sizeof(*s));
    if (!s)
        return INFRA_EINTERNAL;
    s->dir = strdup(dir);
    s->fail_node = dup_or_null(get_str(settings, "fail_node"));
    s->fail_region = dup_or_null(get_str(settings, "fail_region"));
    pthread_mutex_init(&s->lock, NULL);
    /* A cluster key, as a real scheduler makes its gossip key: kept by the
     * host in the secrets file beside the state. */
    if (INFRA_HAS_SLOT(host->secrets, generate)) {
        infra_secret *key = NULL;
        int rc = host->secrets->generate(call, "testsched.cluster_key", 16, INFRA_SECRET_HEX, &key);
        host->secrets->free(key);
        if (rc < 0) {
            ts_close(s);
            return rc;
        }
    }
    char jobs[4096];
    mkdir(s->dir, 0700);
    snprintf(jobs, sizeof(jobs), "%s/jobs", s->dir);
    mkdir(jobs, 0700);
    *out = s;
    return 0;
}

static int ts_node_bootstrap(infra_scheduler *s, infra_call *call, const infra_json *cluster,
                             const infra_json *node)
{
    const char *name = get_str(node, "name");
    const char *region = get_str(node, "region");
    ip_list servers = {{0}, 0};
    each_node(cluster, region, "server", add_ip, &servers);
    if (s->fail_node && name && !strcmp(s->fail_node, name)) {
        log_line(s, "bootstrap-failed %s", name);
        fail(call, "node %s (%s): no SSH answer after 0 s", name, get_str(node, "private_ip"));
        return INFRA_ETRANSIENT;
    }
    log_line(s, "bootstrap %s %s servers=%s", name, get_str(node, "private_ip"), servers.text);
    return 0;
}

static int ts_node_remove(infra_scheduler *s, infra_call *call, const infra_json *cluster,
                          const infra_json *node)
{
    log_line(s, "remove %s %s", get_str(node, "name"), get_str(node, "private_ip"));
    return 0;
}

static int ts_wait_ready(infra_scheduler *s, infra_call *call, const infra_json *cluster,
                         const char *region, int64_t deadline_ms)
{
    if (s->fail_region && !strcmp(s->fail_region, region)) {
        fail(call, "region %s: no leader before the deadline", region);
        return INFRA_ETRANSIENT;
    }
    log_line(s, "ready %s servers=%zu clients=%zu", region,
             each_node(cluster, region, "server", NULL, NULL),
             each_node(cluster, region, "client", NULL, NULL));
    return 0;
}

static int ts_federate(infra_scheduler *s, infra_call *call, const infra_json *cluster,
                       const char *a, const char *b)
{
    log_line(s, "federate %s %s", a, b);
    return 0;
}

static void job_path(const infra_scheduler *s, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/jobs/%s", s->dir, id ? id : "");
}

static int ts_job_submit(infra_scheduler *s, infra_call *call, const infra_json *cluster,
                         const infra_json *job, infra_json **status)
{
    const char *id = get_str(job, "id");
    const char *content = get_str(job, "content");
    char regions[512], path[4096];
    join(js()->get(job, "regions"), regions, sizeof(regions));
    char *set = js()->dump(js()->get(job, "set"));
    if (!content) {
        host->free(set);
        fail(call, "job %s: no content", id ? id : "?");
        return INFRA_EINVALID;
    }
    job_path(s, id, path, sizeof(path));
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
    log_line(s, "submit %s regions=%s sha=%s set=%s", id, regions,
             get_str(job, "content_sha256"), set ? set : "null");
    host->free(set);
    infra_json *st = js()->new_object();
    js()->set(st, "regions", js()->copy(js()->get(job, "regions")));
    js()->set(st, "status", js()->new_string("running"));
    *status = st;
    return 0;
}

static int ts_job_status(infra_scheduler *s, infra_call *call, const infra_json *cluster,
                         const char *id, infra_json **status)
{
    char path[4096];
    struct stat st;
    job_path(s, id, path, sizeof(path));
    *status = NULL;
    if (stat(path, &st) != 0)
        return INFRA_ENOTFOUND;
    infra_json *o = js()->new_object();
    js()->set(o, "status", js()->new_string("running"));
    *status = o;
    return 0;
}

static int ts_job_stop(infra_scheduler *s, infra_call *call, const infra_json *cluster,
                       const char *id)
{
    char path[4096];
    job_path(s, id, path, sizeof(path));
    if (unlink(path) != 0 && errno == ENOENT)
        return INFRA_ENOTFOUND;
    log_line(s, "stop %s", id);
    return 0;
}

static void add_member(const infra_json *node, void *ud)
{
    infra_json *list = ud;
    infra_json *m = js()->new_object();
    js()->set(m, "name", js()->new_string(get_str(node, "name")));
    js()->set(m, "address", js()->new_string(get_str(node, "private_ip")));
    js()->set(m, "datacenter", js()->new_string(get_str(node, "datacenter")));
    js()->set(m, "status", js()->new_string("alive"));
    js()->append(list, m);
}

static int ts_cluster_status(infra_scheduler *s, infra_call *call, const infra_json *cluster,
                             infra_json **out)
{
    infra_json *regions = js()->new_object();
    void *it = NULL;
    const char *name;
    const infra_json *region;
    while (js()->next(js()->get(cluster, "regions"), &it, &name, &region)) {
        infra_json *r = js()->new_object(), *servers = js()->new_array(),
                   *clients = js()->new_array();
        each_node(cluster, name, "server", add_member, servers);
        each_node(cluster, name, "client", add_member, clients);
        const char *leader = get_str(js()->at(servers, 0), "address");
        js()->set(r, "leader", leader ? js()->new_string(leader) : js()->new_null());
        js()->set(r, "servers", servers);
        js()->set(r, "clients", clients);
        js()->set(r, "jobs", js()->new_array());
        js()->set(regions, name, r);
    }
    infra_json *o = js()->new_object();
    js()->set(o, "regions", regions);
    *out = o;
    return 0;
}

static void ts_close(infra_scheduler *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->dir);
    free(s->fail_node);
    free(s->fail_region);
    free(s);
}

static const infra_scheduler_ops ts_ops = {
    .size = sizeof(infra_scheduler_ops),
    .schema = ts_schema,
    .validate = ts_validate,
    .configure = ts_configure,
    .node_bootstrap = ts_node_bootstrap,
    .wait_ready = ts_wait_ready,
    .federate = ts_federate,
    .job_submit = ts_job_submit,
    .job_status = ts_job_status,
    .job_stop = ts_job_stop,
    .close = ts_close,
    .node_remove = ts_node_remove,
    .cluster_status = ts_cluster_status,
};

static const infra_plugin ts_plugin = {
    .magic = INFRA_PLUGIN_MAGIC,
    .abi_major = INFRA_ABI_MAJOR,
    .abi_minor = INFRA_ABI_MINOR,
    .size = sizeof(infra_plugin),
    .kind = INFRA_PLUGIN_SCHEDULER,
    .name = "testsched",
    .version = "1.0.0",
    .build = INFRA_BUILD_SIG_INIT,
    .capabilities = INFRA_CAP_CONCURRENT,
    .scheduler = &ts_ops,
};

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *h, const infra_plugin **out)
{
    host = h;
    *out = &ts_plugin;
    return 0;
}
