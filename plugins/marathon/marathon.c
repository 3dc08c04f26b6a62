/* The marathon scheduler plugin's descriptor, schema, settings, validate,
 * configure and op table. The ops themselves live in marathon_bootstrap.c,
 * marathon_ready.c, marathon_deploy.c and marathon_status.c. */
#include "marathon.h"

#include <stdlib.h>
#include <string.h>

static const char *const binary_settings[MARATHON_BIN_COUNT] = {
    "java_binary",     "mesos_master_binary", "mesos_agent_binary",
    "marathon_binary", "haproxy_binary",      "python_binary"};
static const char *const binary_defaults[MARATHON_BIN_COUNT] = {
    "java", "mesos-master", "mesos-agent", "marathon", "haproxy", "python3"};
/* The settings of extra flags, per service (NULL: the service takes none). */
static const char *const flag_settings[MARATHON_SVC_COUNT] = {
    NULL, "master_flags", "marathon_flags", "agent_flags", NULL};

/* A cluster's own keys; none is required, computed or sensitive. */
static const pu_attr settings[] = {
    {"java_binary", "string", 0,
     "the java executable on ZooKeeper's nodes: a name on PATH or an absolute path (default "
     "\"java\")"},
    {"mesos_master_binary", "string", 0, "the mesos-master executable (default \"mesos-master\")"},
    {"mesos_agent_binary", "string", 0, "the mesos-agent executable (default \"mesos-agent\")"},
    {"marathon_binary", "string", 0, "the marathon executable (default \"marathon\")"},
    {"haproxy_binary", "string", 0, "haproxy on the load balancers (default \"haproxy\")"},
    {"python_binary", "string", 0,
     "python 3 on the load balancers, for their watcher (default \"python3\")"},
    {"zookeeper_jar", "string", 0,
     "ZooKeeper's jar on the nodes (default \"/usr/share/java/zookeeper.jar\", Debian's)"},
    {"install", "map", 0,
     "what infra installs on nodes that lack it: zookeeper, mesos, marathon (each {file, "
     "sha256}: a program, a .zip, a .deb or a directory of .deb files) and bin_dir (default "
     "/usr/local/bin); a datacenter's node_settings.install replaces it per key"},
    {"zookeeper_heap_mb", "integer", 0, "ZooKeeper's Java heap in MiB (default 256)"},
    {"marathon_user", "string", 0,
     "the user of Marathon's HTTP basic authentication; its password is generated (default "
     "\"infra\")"},
    {"containerizers", "string", 0, "the agents' --containerizers (default \"mesos\")"},
    {"lb_group", "string", 0,
     "the HAPROXY_GROUP label of the apps the load balancers expose (default \"external\")"},
    {"lb_port", "integer", 0, "the load balancers' HTTP port (default 80)"},
    {"api_address", "string", 0,
     "reach the APIs at each node's \"public\" address when it has one, or its \"private\" one "
     "(default \"public\")"},
    {"master_flags", "list", 0, "extra flags of every mesos-master (\"--name=value\")"},
    {"agent_flags", "list", 0, "extra flags of every mesos-agent (\"--name=value\")"},
    {"marathon_flags", "list", 0, "extra flags of every marathon (\"--name=value\")"},
    {"node_deadline", "integer", 0,
     "seconds to wait for a node's SSH service, then for its programs to answer, and for a "
     "region to be ready (default 300)"},
    {"app_deadline", "integer", 0, "seconds to wait for an app's deployment (default 600)"},
    {"drain_deadline", "integer", 0,
     "seconds a removed agent's tasks have to be killed and moved (default 300)"},
};
static const pu_type settings_type = {"settings", settings, sizeof(settings) / sizeof(settings[0]),
                                      0};

const char *marathon_binary_setting(marathon_binary b)
{
    return binary_settings[b];
}

const char *marathon_role_name(marathon_role role)
{
    static const char *const names[] = {"master", "zookeeper", "agent", "load_balancer"};
    return names[role];
}

const char *marathon_service_name(marathon_service svc)
{
    static const char *const names[] = {"zookeeper", "mesos-master", "marathon", "mesos-agent",
                                        "marathon-lb"};
    return names[svc];
}

static int marathon_schema(infra_call *call, infra_json **out)
{
    int error = 0;
    infra_json *doc = MJ->new_object(), *attrs = NULL;

    (void)call;
    if (doc == NULL)
        return INFRA_EINTERNAL;
    if ((error = pu_schema_attrs(&settings_type, &attrs)) < 0 ||
        (error = pu_json_set(doc, "settings", attrs)) < 0) {
        MJ->release(doc);
        return error;
    }
    *out = doc;
    return 0;
}

void marathon_settings_free(marathon_settings *s)
{
    for (int b = 0; b < MARATHON_BIN_COUNT; b++)
        free(s->binary[b]);
    for (int v = 0; v < MARATHON_SVC_COUNT; v++)
        pu_strs_free(&s->flags[v]);
    free(s->zookeeper_jar);
    free(s->marathon_user);
    free(s->containerizers);
    free(s->lb_group);
    MJ->release(s->install);
    memset(s, 0, sizeof(*s));
}

/* An integer setting within [min, max], def when absent. */
static int int_setting(infra_call *call, const infra_json *obj, const char *key, long def, long min,
                       long max, long *out)
{
    const infra_json *j = obj ? MJ->get(obj, key) : NULL;
    long v = def;
    if (j != NULL && MJ->type(j) != INFRA_JSON_NULL &&
        (pu_json_to_int(j, &v) < 0 || v < min || v > max)) {
        pu_diagf(call, key, "%s must be a whole number from %ld to %ld", key, min, max);
        return INFRA_EINVALID;
    }
    *out = v;
    return 0;
}

/* A string setting made of chars (and not empty), def when absent. */
static int text_setting(infra_call *call, const infra_json *obj, const char *key, const char *def,
                        int (*ok)(const char *), const char *rule, char **out)
{
    const infra_json *j = obj ? MJ->get(obj, key) : NULL;
    const char *v = j && MJ->type(j) != INFRA_JSON_NULL ? MJ->string(j) : def;
    if (!ok(v)) {
        pu_diagf(call, key, "%s must be %s", key, rule);
        return INFRA_EINVALID;
    }
    *out = pu_strdup(v);
    return 0;
}

/* "mesos", "docker,mesos": names of lowercase letters separated by commas. */
static int containerizers_ok(const char *s)
{
    if (s == NULL || *s == '\0' || *s == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == ','))
            return 0;
    return 1;
}

static int abs_path_ok(const char *s)
{
    return pu_path_ok(s) && s[0] == '/';
}

/* 1 when s can be one argument of a command line in a unit file and a
 * shell script as it is: no quotes, spaces, $ or % (systemd expands both). */
static int flag_ok(const char *s)
{
    if (s == NULL || strncmp(s, "--", 2) != 0 || s[2] == '\0')
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-_=:.,/@+[];*()", *p)))
            return 0;
    return 1;
}

static int flags_setting(infra_call *call, const infra_json *obj, const char *key, pu_strs *out)
{
    const infra_json *j = obj ? MJ->get(obj, key) : NULL;
    if (j == NULL || MJ->type(j) == INFRA_JSON_NULL)
        return 0;
    if (MJ->type(j) != INFRA_JSON_ARRAY) {
        pu_diagf(call, key, "%s must be a list of \"--name=value\" flags", key);
        return INFRA_EINVALID;
    }
    for (size_t i = 0; i < MJ->length(j); i++) {
        const char *f = MJ->string(MJ->at(j, i));
        if (!flag_ok(f)) {
            char *attr = pu_printf("%s[%zu]", key, i);
            pu_diagf(call, attr,
                     "%s[%zu] must be a flag \"--name=value\" of letters, digits and "
                     "- _ = : . , / @ + [ ] ; * ( )",
                     key, i);
            free(attr);
            return INFRA_EINVALID;
        }
        pu_strs_add(out, f);
    }
    return 0;
}

int marathon_settings_parse(infra_call *call, const infra_json *obj, marathon_settings *s)
{
    int error = 0;
    long n = 0;

    memset(s, 0, sizeof(*s));
    if (obj != NULL && MJ->type(obj) != INFRA_JSON_OBJECT && MJ->type(obj) != INFRA_JSON_NULL) {
        pu_diagf(call, "", "the cluster settings must be a map");
        return INFRA_EINVALID;
    }
    for (int b = 0; b < MARATHON_BIN_COUNT; b++)
        if (text_setting(call, obj, binary_settings[b], binary_defaults[b], pu_path_ok,
                         "a program name or an absolute path (letters, digits and . _ - + /)",
                         &s->binary[b]) < 0)
            error = INFRA_EINVALID;
    if (text_setting(call, obj, "zookeeper_jar", "/usr/share/java/zookeeper.jar", abs_path_ok,
                     "an absolute path (letters, digits and . _ - + /)", &s->zookeeper_jar) < 0 ||
        text_setting(call, obj, "marathon_user", "infra", pu_name_ok,
                     "a user name (letters, digits and . _ -)", &s->marathon_user) < 0 ||
        text_setting(call, obj, "containerizers", "mesos", containerizers_ok,
                     "names separated by commas, such as \"mesos\" or \"docker,mesos\"",
                     &s->containerizers) < 0 ||
        text_setting(call, obj, "lb_group", "external", pu_name_ok,
                     "a group name (letters, digits and . _ -)", &s->lb_group) < 0)
        error = INFRA_EINVALID;
    if (int_setting(call, obj, "zookeeper_heap_mb", 256, 32, 65536, &n) < 0)
        error = INFRA_EINVALID;
    s->zookeeper_heap_mb = (int)n;
    if (int_setting(call, obj, "lb_port", 80, 1, 65535, &n) < 0)
        error = INFRA_EINVALID;
    s->lb_port = (int)n;
    const char *api = pu_json_str(obj, "api_address");
    if (api == NULL || strcmp(api, "public") == 0) {
        s->api_public = 1;
    } else if (strcmp(api, "private") != 0) {
        pu_diagf(call, "api_address", "api_address must be \"public\" or \"private\", not \"%s\"",
                 api);
        error = INFRA_EINVALID;
    }
    for (int v = 0; v < MARATHON_SVC_COUNT; v++)
        if (flag_settings[v] && flags_setting(call, obj, flag_settings[v], &s->flags[v]) < 0)
            error = INFRA_EINVALID;
    static const char *const deadlines[] = {"node_deadline", "app_deadline", "drain_deadline"};
    static const long defaults[] = {300, 600, 300};
    int64_t *slots[] = {&s->node_deadline_ms, &s->app_deadline_ms, &s->drain_deadline_ms};
    for (size_t i = 0; i < 3; i++) {
        if (int_setting(call, obj, deadlines[i], defaults[i], 1, 86400, &n) < 0)
            error = INFRA_EINVALID;
        *slots[i] = (int64_t)n * 1000;
    }
    const infra_json *install = obj ? MJ->get(obj, "install") : NULL;
    if (marathon_install_check(call, "install", install) < 0)
        error = INFRA_EINVALID;
    else if (install != NULL && MJ->type(install) == INFRA_JSON_OBJECT)
        s->install = MJ->copy(install);
    if (error < 0)
        marathon_settings_free(s);
    return error;
}

static int marathon_validate(infra_call *call, const infra_json *cluster)
{
    marathon_cluster c;
    marathon_settings s;
    int error = marathon_settings_parse(call, MJ->get(cluster, "settings"), &s);
    if (error < 0)
        return error;
    marathon_settings_free(&s);
    /* the files to install, read here: a wrong hash stops the run before
     * anything is made */
    if ((error = marathon_install_validate(call, cluster)) < 0)
        return error;
    const infra_json *fed = MJ->get(cluster, "federate");
    if (MJ->length(fed) > 0) {
        pu_diagf(call, "federate",
                 "Mesos clusters are not federated: each region of a marathon cluster is a "
                 "cluster of its own; remove federate");
        return INFRA_EINVALID;
    }
    if ((error = marathon_cluster_parse(call, cluster, 0, &c)) < 0)
        return error;
    /* Before any instance exists the host may list no node at all. */
    for (size_t i = 0; c.nnodes > 0 && i < c.nregions; i++) {
        const marathon_region *r = &c.regions[i];
        char *attr = pu_printf("regions.%s", r->name);
        if (r->nmasters == 0) {
            pu_diagf(call, attr,
                     "region %s has no Mesos master: give one of its datacenters servers: 1, 3 "
                     "or 5",
                     r->name);
            error = INFRA_EINVALID;
        } else if (r->nensemble % 2 == 0) {
            pu_diagf(call, attr,
                     "region %s has %zu ZooKeeper nodes: an ensemble needs an odd number (1, 3 "
                     "or 5) to keep a quorum",
                     r->name, r->nensemble);
            error = INFRA_EINVALID;
        } else if (r->nensemble > 255) {
            pu_diagf(call, attr, "region %s has more than 255 ZooKeeper nodes", r->name);
            error = INFRA_EINVALID;
        }
        free(attr);
    }
    marathon_cluster_free(&c);
    return error;
}

static void context_free(infra_scheduler *ctx)
{
    if (ctx == NULL)
        return;
    marathon_settings_free(&ctx->s);
    free(ctx->cluster);
    free(ctx->environment);
    pthread_mutex_destroy(&ctx->keys_lock);
    pu_install_cache_free(&ctx->install_cache);
    pu_rolling_free(&ctx->rolling);
    free(ctx);
}

static int marathon_configure(infra_call *call, const infra_json *settings_in,
                              infra_scheduler **out)
{
    infra_scheduler *ctx = pu_calloc(1, sizeof(*ctx));
    pthread_mutex_init(&ctx->keys_lock, NULL);
    pu_install_cache_init(&ctx->install_cache);
    pu_rolling_init(&ctx->rolling);
    int error = marathon_settings_parse(call, settings_in, &ctx->s);
    if (error < 0) {
        context_free(ctx);
        return error;
    }
    const char *name = pu_json_str(settings_in, "name");
    const char *env = pu_json_str(settings_in, "environment");
    if (!pu_name_ok(name)) {
        pu_diagf(call, "", "configure needs the cluster's name");
        context_free(ctx);
        return INFRA_EINVALID;
    }
    ctx->cluster = pu_strdup(name);
    ctx->environment = pu_strdup(env ? env : "default");
    *out = ctx;
    return 0;
}

/* Every op is handed the cluster again; its name must be the configured one,
 * or secrets would be looked up under another cluster's names. */
static int same_cluster(infra_scheduler *self, infra_call *call, const infra_json *cluster)
{
    const char *name = pu_json_str(cluster, "name");
    if (self == NULL || name == NULL || strcmp(name, self->cluster) != 0) {
        pu_diagf(call, "", "this context was configured for cluster %s, not %s",
                 self ? self->cluster : "?", name ? name : "(no name)");
        return INFRA_EINVALID;
    }
    return 0;
}

static int op_node_bootstrap(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                             const infra_json *node)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : marathon_node_bootstrap(self, call, cluster, node);
}

static int op_wait_ready(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         const char *region, int64_t deadline_ms)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : marathon_wait_ready(self, call, cluster, region, deadline_ms);
}

static int op_job_submit(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         const infra_json *job, infra_json **status)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : marathon_job_submit(self, call, cluster, job, status);
}

static int op_job_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         const char *job_id, infra_json **status)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : marathon_job_status(self, call, cluster, job_id, status);
}

static int op_job_stop(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                       const char *job_id)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : marathon_job_stop(self, call, cluster, job_id);
}

static int op_node_remove(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                          const infra_json *node)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : marathon_node_remove(self, call, cluster, node);
}

static int op_cluster_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                             infra_json **out)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : marathon_cluster_status(self, call, cluster, out);
}

static void marathon_close(infra_scheduler *self)
{
    context_free(self);
}

/* No federate: each region is a Mesos cluster of its own. */
static const infra_scheduler_ops marathon_ops = {
    .size = sizeof(infra_scheduler_ops),
    .schema = marathon_schema,
    .validate = marathon_validate,
    .configure = marathon_configure,
    .node_bootstrap = op_node_bootstrap,
    .wait_ready = op_wait_ready,
    .federate = NULL,
    .job_submit = op_job_submit,
    .job_status = op_job_status,
    .job_stop = op_job_stop,
    .close = marathon_close,
    .node_remove = op_node_remove,
    .cluster_status = op_cluster_status,
};

static const infra_plugin marathon_plugin = {
    .magic = INFRA_PLUGIN_MAGIC,
    .abi_major = INFRA_ABI_MAJOR,
    .abi_minor = INFRA_ABI_MINOR,
    .size = sizeof(infra_plugin),
    .kind = INFRA_PLUGIN_SCHEDULER,
    .name = "marathon",
    .version = MARATHON_PLUGIN_VERSION,
    .build = INFRA_BUILD_SIG_INIT,
    .capabilities = INFRA_CAP_CONCURRENT,
    .provider = NULL,
    .scheduler = &marathon_ops,
};

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out)
{
    /* ABI 1.1 services (exec_sudo, secrets generate/set) and 1.2's
     * get_mutable; the 1.2 SSH slots run and write_file are used where the
     * host has them. */
    if (host == NULL || out == NULL || host->abi_major != INFRA_ABI_MAJOR || host->abi_minor < 1 ||
        !INFRA_HAS_SLOT(host, secrets) || !INFRA_HAS_SLOT(host, ssh) ||
        !INFRA_HAS_SLOT(host, http) || !INFRA_HAS_SLOT(host, json) ||
        !INFRA_HAS_SLOT(host->ssh, exec_sudo) || !INFRA_HAS_SLOT(host->secrets, set) ||
        !INFRA_HAS_SLOT(host->secrets, generate) || !INFRA_HAS_SLOT(host->json, get_mutable))
        return INFRA_ENOTSUP;
    pu_init(host, "marathon plugin");
    *out = &marathon_plugin;
    return 0;
}
