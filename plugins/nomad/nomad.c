/* The nomad scheduler plugin's descriptor, schema, validate, configure and
 * op table. The ops themselves live in nomad_bootstrap.c, nomad_ready.c,
 * nomad_job.c and nomad_status.c. */
#include "nomad.h"

#include <stdlib.h>
#include <string.h>

/* A cluster's own keys; none is required, computed or sensitive. */
static const pu_attr settings[] = {
    {"acl", "bool", 0,
     "ACLs on Nomad and Consul, with management tokens the plugin chooses (default true)"},
    {"tls", "bool", 0, "TLS on the HTTP and RPC of both agents, with a cluster CA (default true)"},
    {"gossip_encryption", "bool", 0, "encrypt the agents' gossip (default true)"},
    {"raw_exec", "bool", 0, "enable Nomad's raw_exec driver on the clients (default true)"},
    {"nomad_binary", "string", 0,
     "the nomad executable on the nodes: a name on PATH or an absolute path (default \"nomad\")"},
    {"consul_binary", "string", 0, "the consul executable on the nodes (default \"consul\")"},
    {"api_address", "string", 0,
     "reach the agents' APIs at each node's \"public\" address when it has one, or its \"private\" "
     "one (default \"public\")"},
    {"node_deadline", "integer", 0,
     "seconds to wait for a node's SSH service, then for its agents to answer, and for a "
     "federation (default 300)"},
    {"job_deadline", "integer", 0, "seconds to wait for a job's deployment (default 600)"},
    {"drain_deadline", "integer", 0,
     "seconds a removed client's allocations have to move (default 300)"},
    {"install", "map", 0,
     "what to put on nodes that lack it: consul and nomad, each {file, sha256} (a program, its "
     ".zip, a .deb or a directory of .deb files on this machine, checked by SHA-256), and "
     "bin_dir (default /usr/local/bin); a datacenter's node_settings.install replaces it per "
     "key"},
    {"primary_region", "string", 0,
     "the federated region that is Consul's primary datacenter and Nomad's authoritative "
     "region, whose ACLs the others replicate (default: the first region in federate)"},
};
static const pu_type settings_type = {"settings", settings, sizeof(settings) / sizeof(settings[0]),
                                      0};

static int nomad_schema(infra_call *call, infra_json **out)
{
    int error = 0;
    infra_json *doc = NJ->new_object(), *attrs = NULL;

    (void)call;
    if (doc == NULL)
        return INFRA_EINTERNAL;
    if ((error = pu_schema_attrs(&settings_type, &attrs)) < 0 ||
        (error = pu_json_set(doc, "settings", attrs)) < 0) {
        NJ->release(doc);
        return error;
    }
    *out = doc;
    return 0;
}

static void settings_free(nomad_settings *s)
{
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++)
        free(s->binary[a]);
    NJ->release(s->install);
    memset(s, 0, sizeof(*s));
}

static int deadline_setting(infra_call *call, const infra_json *obj, const char *key, int64_t def_s,
                            int64_t *out_ms)
{
    int64_t v = def_s;
    const infra_json *j = obj ? NJ->get(obj, key) : NULL;
    if (j != NULL && NJ->type(j) != INFRA_JSON_NULL &&
        (nomad_jvalue_int(j, &v) < 0 || v <= 0 || v > 86400)) {
        pu_diagf(call, key, "%s must be a number of seconds from 1 to 86400", key);
        return INFRA_EINVALID;
    }
    *out_ms = v * 1000;
    return 0;
}

/* Reads settings (a cluster's own keys; NULL = all defaults) into *s. */
static int settings_parse(infra_call *call, const infra_json *obj, nomad_settings *s)
{
    static const char *const bools[] = {"acl", "tls", "gossip_encryption", "raw_exec"};
    int *slots[] = {&s->acl, &s->tls, &s->gossip, &s->raw_exec};
    static const char *const bins[] = {"consul_binary", "nomad_binary"};
    int error = 0;

    memset(s, 0, sizeof(*s));
    if (obj != NULL && NJ->type(obj) != INFRA_JSON_OBJECT && NJ->type(obj) != INFRA_JSON_NULL) {
        pu_diagf(call, "", "the cluster settings must be a map");
        return INFRA_EINVALID;
    }
    for (size_t i = 0; i < 4; i++)
        if (nomad_jbool(obj, bools[i], 1, slots[i]) < 0) {
            pu_diagf(call, bools[i], "%s must be true or false", bools[i]);
            error = INFRA_EINVALID;
        }
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        const infra_json *v = obj ? NJ->get(obj, bins[a]) : NULL;
        const char *bin =
            v && NJ->type(v) != INFRA_JSON_NULL ? NJ->string(v) : nomad_agent_name((nomad_agent)a);
        if (!nomad_path_ok(bin)) {
            pu_diagf(call, bins[a],
                     "%s must be a program name or an absolute path (letters, "
                     "digits and . _ - + /)",
                     bins[a]);
            error = INFRA_EINVALID;
        } else {
            s->binary[a] = pu_strdup(bin);
        }
    }
    const char *api = pu_json_str(obj, "api_address");
    if (api == NULL || strcmp(api, "public") == 0) {
        s->api_public = 1;
    } else if (strcmp(api, "private") != 0) {
        pu_diagf(call, "api_address", "api_address must be \"public\" or \"private\", not \"%s\"",
                 api);
        error = INFRA_EINVALID;
    }
    const infra_json *install = obj ? NJ->get(obj, "install") : NULL;
    if (nomad_install_check(call, "install", install, 0) < 0)
        error = INFRA_EINVALID;
    else if (install != NULL && NJ->type(install) == INFRA_JSON_OBJECT)
        s->install = NJ->copy(install);
    if (deadline_setting(call, obj, "node_deadline", 300, &s->node_deadline_ms) < 0 ||
        deadline_setting(call, obj, "job_deadline", 600, &s->job_deadline_ms) < 0 ||
        deadline_setting(call, obj, "drain_deadline", 300, &s->drain_deadline_ms) < 0)
        error = INFRA_EINVALID;
    if (error < 0)
        settings_free(s);
    return error;
}

static int nomad_validate(infra_call *call, const infra_json *cluster)
{
    nomad_cluster c;
    nomad_settings s;
    int error = settings_parse(call, NJ->get(cluster, "settings"), &s);
    if (error < 0)
        return error;
    settings_free(&s);
    /* the files to install, read here: a wrong hash stops the run before
     * anything is made */
    if ((error = nomad_install_validate(call, cluster)) < 0)
        return error;
    if ((error = nomad_cluster_parse(call, cluster, 0, &c)) < 0)
        return error;
    /* Before any instance exists the host may list no node at all. */
    for (size_t i = 0; c.nnodes > 0 && i < c.nregions; i++) {
        const nomad_region *r = &c.regions[i];
        char *attr = pu_printf("regions.%s", r->name);
        if (r->nservers == 0) {
            pu_diagf(call, attr,
                     "region %s has no server: give one of its datacenters "
                     "servers: 1, 3 or 5",
                     r->name);
            error = INFRA_EINVALID;
        } else if (r->nservers % 2 == 0) {
            pu_diagf(call, attr,
                     "region %s has %zu servers: Nomad and Consul need an odd "
                     "number (1, 3 or 5) to keep a quorum",
                     r->name, r->nservers);
            error = INFRA_EINVALID;
        }
        free(attr);
    }
    nomad_cluster_free(&c);
    return error;
}

static void context_free(infra_scheduler *ctx)
{
    if (ctx == NULL)
        return;
    settings_free(&ctx->s);
    free(ctx->cluster);
    free(ctx->environment);
    pthread_mutex_destroy(&ctx->keys_lock);
    nomad_install_ctx_free(ctx);
    free(ctx);
}

static int nomad_configure(infra_call *call, const infra_json *settings_in, infra_scheduler **out)
{
    infra_scheduler *ctx = pu_calloc(1, sizeof(*ctx));
    pthread_mutex_init(&ctx->keys_lock, NULL);
    nomad_install_ctx_init(ctx);
    int error = settings_parse(call, settings_in, &ctx->s);
    if (error < 0) {
        context_free(ctx);
        return error;
    }
    const char *name = pu_json_str(settings_in, "name");
    const char *env = pu_json_str(settings_in, "environment");
    if (!nomad_name_ok(name)) {
        pu_diagf(call, "", "configure needs the cluster's name");
        context_free(ctx);
        return INFRA_EINVALID;
    }
    ctx->cluster = pu_strdup(name);
    ctx->environment = pu_strdup(env ? env : "default");
    if (ctx->s.acl && !ctx->s.tls)
        pu_warnf(call, "", "cluster %s: ACL tokens would travel in clear text with tls: false",
                 name);
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
    return error < 0 ? error : nomad_node_bootstrap(self, call, cluster, node);
}

static int op_wait_ready(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         const char *region, int64_t deadline_ms)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : nomad_wait_ready(self, call, cluster, region, deadline_ms);
}

static int op_federate(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                       const char *a, const char *b)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : nomad_federate(self, call, cluster, a, b);
}

static int op_job_submit(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         const infra_json *job, infra_json **status)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : nomad_job_submit(self, call, cluster, job, status);
}

static int op_job_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         const char *job_id, infra_json **status)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : nomad_job_status(self, call, cluster, job_id, status);
}

static int op_job_stop(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                       const char *job_id)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : nomad_job_stop(self, call, cluster, job_id);
}

static int op_node_remove(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                          const infra_json *node)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : nomad_node_remove(self, call, cluster, node);
}

static int op_cluster_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                             infra_json **out)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error : nomad_cluster_status(self, call, cluster, out);
}

static int op_pool_user_data(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                             const char *region, const char *datacenter, infra_secret **out)
{
    int error = same_cluster(self, call, cluster);
    *out = NULL;
    return error < 0 ? error
                     : nomad_op_pool_user_data(self, call, cluster, region, datacenter, out);
}

static int op_pool_wait(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                        const char *region, const char *datacenter, const infra_json *instances,
                        int64_t expected, int64_t deadline_ms)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error
                     : nomad_op_pool_wait(self, call, cluster, region, datacenter, instances,
                                          expected, deadline_ms);
}

static int op_pool_drain(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         const char *region, const char *datacenter, const char *private_ip,
                         int64_t deadline_ms)
{
    int error = same_cluster(self, call, cluster);
    return error < 0 ? error
                     : nomad_op_pool_drain(self, call, cluster, region, datacenter, private_ip,
                                           deadline_ms);
}

static void nomad_close(infra_scheduler *self)
{
    context_free(self);
}

static const infra_scheduler_ops nomad_ops = {
    .size = sizeof(infra_scheduler_ops),
    .schema = nomad_schema,
    .validate = nomad_validate,
    .configure = nomad_configure,
    .node_bootstrap = op_node_bootstrap,
    .wait_ready = op_wait_ready,
    .federate = op_federate,
    .job_submit = op_job_submit,
    .job_status = op_job_status,
    .job_stop = op_job_stop,
    .close = nomad_close,
    .node_remove = op_node_remove,
    .cluster_status = op_cluster_status,
    .pool_user_data = op_pool_user_data,
    .pool_wait = op_pool_wait,
    .pool_drain = op_pool_drain,
};

static const infra_plugin nomad_plugin = {
    .magic = INFRA_PLUGIN_MAGIC,
    .abi_major = INFRA_ABI_MAJOR,
    .abi_minor = INFRA_ABI_MINOR,
    .size = sizeof(infra_plugin),
    .kind = INFRA_PLUGIN_SCHEDULER,
    .name = "nomad",
    .version = NOMAD_PLUGIN_VERSION,
    .build = INFRA_BUILD_SIG_INIT,
    .capabilities = INFRA_CAP_CONCURRENT,
    .provider = NULL,
    .scheduler = &nomad_ops,
};

INFRA_PLUGIN_EXPORT int infra_plugin_entry(const infra_host *host, const infra_plugin **out)
{
    /* ABI 1.1 services: exec_sudo, secrets generate/set, the in-memory CA. */
    if (host == NULL || out == NULL || host->abi_major != INFRA_ABI_MAJOR || host->abi_minor < 1 ||
        !INFRA_HAS_SLOT(host, secrets) || !INFRA_HAS_SLOT(host, ssh) ||
        !INFRA_HAS_SLOT(host, http) || !INFRA_HAS_SLOT(host, json) ||
        !INFRA_HAS_SLOT(host->ssh, exec_sudo) || !INFRA_HAS_SLOT(host->secrets, set) ||
        !INFRA_HAS_SLOT(host->secrets, generate) ||
        host->json->size < offsetof(infra_json_api, equal) + sizeof(host->json->equal))
        return INFRA_ENOTSUP;
    pu_init(host, "nomad plugin");
    *out = &nomad_plugin;
    return 0;
}
