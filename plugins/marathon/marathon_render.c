/* What a node is given: ZooKeeper's zoo.cfg and myid, the command line of
 * every program, Marathon's credentials file and the load balancers'
 * watcher and its configuration. Pure functions of the cluster, the node
 * and the secrets, so that a second run renders the same bytes and
 * restarts nothing.
 *
 * Every program binds to all of the node's addresses and advertises its
 * private one; Mesos nodes are named by that address (--hostname), so
 * Marathon's tasks are reachable at the host names Marathon reports. */
#include "marathon.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

char *marathon_zk_url(const marathon_region *r, const char *path)
{
    pu_buf b = {0};
    pu_buf_puts(&b, "zk://");
    for (size_t i = 0; i < r->nensemble; i++) {
        char *hp = pu_host_port(r->ensemble[i]->private_ip, MARATHON_PORT_ZK);
        pu_buf_printf(&b, "%s%s", i ? "," : "", hp);
        free(hp);
    }
    pu_buf_puts(&b, path);
    return pu_buf_take(&b);
}

/* The id in->zk_ids gives node n. */
static int zk_id(const marathon_render_in *in, const marathon_node *n)
{
    return in->zk_ids[n - in->nodes];
}

char *marathon_render_zoo_cfg(const marathon_render_in *in)
{
    const marathon_region *r = in->region;
    pu_buf b = {0};
    pu_buf_printf(&b,
                  "# The ZooKeeper ensemble of region %s of cluster %s, written by infra's\n"
                  "# marathon scheduler. Each member's id is in " MARATHON_ZK_MYID ".\n"
                  "tickTime=2000\n"
                  "initLimit=10\n"
                  "syncLimit=5\n"
                  "dataDir=" MARATHON_ZK_DATA_DIR "\n"
                  "clientPort=%d\n"
                  "# the AdminServer would take 8080, Marathon's port\n"
                  "admin.enableServer=false\n"
                  "4lw.commands.whitelist=srvr,ruok,mntr,conf\n"
                  "# a single member is an ensemble of one, not a standalone server\n"
                  "standaloneEnabled=false\n"
                  "reconfigEnabled=false\n",
                  r->name, in->cluster, MARATHON_PORT_ZK);
    /* server.N lines in id order */
    for (int id = 1; id <= 255; id++)
        for (size_t i = 0; i < r->nensemble; i++)
            if (zk_id(in, r->ensemble[i]) == id) {
                const char *ip = r->ensemble[i]->private_ip;
                int v6 = strchr(ip, ':') != NULL;
                pu_buf_printf(&b, "server.%d=%s%s%s:%d:%d\n", id, v6 ? "[" : "", ip, v6 ? "]" : "",
                              MARATHON_PORT_ZK_PEER, MARATHON_PORT_ZK_ELECTION);
            }
    return pu_buf_take(&b);
}

/* Appends one argument, quoted only when it needs to be. */
static void arg(pu_buf *b, const char *text)
{
    int plain = *text != '\0';
    for (const char *p = text; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                strchr("-_=:.,/@+", *p);
    if (plain) {
        pu_buf_printf(b, " %s", text);
    } else {
        char *q = pu_shell_quote(text);
        pu_buf_printf(b, " %s", q);
        free(q);
    }
}

static void argf(pu_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argf(pu_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = pu_vprintf(fmt, ap);
    va_end(ap);
    arg(b, text);
    free(text);
}

char *marathon_attributes_text(const infra_json *attributes)
{
    pu_buf b = {0};
    void *it = NULL;
    const char *key;
    const infra_json *v;
    while (MJ->next(attributes, &it, &key, &v)) {
        pu_buf_printf(&b, "%s%s:", b.len ? ";" : "", key);
        if (MJ->type(v) == INFRA_JSON_STRING) {
            pu_buf_puts(&b, MJ->string(v));
        } else {
            char *text = MJ->dump(v);
            pu_buf_puts(&b, text ? text : "");
            pu_host->free(text);
        }
    }
    return pu_buf_take(&b);
}

char *marathon_render_command(const marathon_render_in *in, marathon_service svc)
{
    const marathon_settings *s = in->s;
    const marathon_node *n = in->node;
    char *mesos = marathon_zk_url(in->region, "/mesos");
    pu_buf b = {0};

    switch (svc) {
    case MARATHON_SVC_ZOOKEEPER:
        pu_buf_puts(&b, in->bin[MARATHON_BIN_JAVA]);
        argf(&b, "-Xmx%dm", s->zookeeper_heap_mb);
        /* Debian's jar names its dependencies in its manifest; slf4j-simple
         * (libslf4j-java) gives the server a log on stderr */
        argf(&b, "-cp");
        argf(&b, MARATHON_ZK_CONF_DIR ":%s:/usr/share/java/slf4j-simple.jar", s->zookeeper_jar);
        arg(&b, "org.apache.zookeeper.server.quorum.QuorumPeerMain");
        arg(&b, MARATHON_ZK_CONF);
        break;
    case MARATHON_SVC_MASTER:
        pu_buf_puts(&b, in->bin[MARATHON_BIN_MASTER]);
        arg(&b, "--ip=0.0.0.0");
        argf(&b, "--advertise_ip=%s", n->private_ip);
        argf(&b, "--hostname=%s", n->private_ip);
        argf(&b, "--port=%d", MARATHON_PORT_MASTER);
        argf(&b, "--zk=%s", mesos);
        /* the replicated log's quorum: a majority of the masters */
        argf(&b, "--quorum=%zu", in->region->nmasters / 2 + 1);
        argf(&b, "--work_dir=%s", MARATHON_MASTER_DIR);
        argf(&b, "--cluster=%s-%s", in->cluster, in->region->name);
        break;
    case MARATHON_SVC_MARATHON: {
        char *zk = marathon_zk_url(in->region, "/marathon");
        pu_buf_puts(&b, in->bin[MARATHON_BIN_MARATHON]);
        argf(&b, "--master=%s", mesos);
        argf(&b, "--zk=%s", zk);
        argf(&b, "--hostname=%s", n->private_ip);
        argf(&b, "--http_port=%d", MARATHON_PORT_HTTP);
        free(zk);
        break;
    }
    case MARATHON_SVC_AGENT:
        pu_buf_puts(&b, in->bin[MARATHON_BIN_AGENT]);
        arg(&b, "--ip=0.0.0.0");
        argf(&b, "--advertise_ip=%s", n->private_ip);
        argf(&b, "--hostname=%s", n->private_ip);
        argf(&b, "--port=%d", MARATHON_PORT_AGENT);
        argf(&b, "--master=%s", mesos);
        argf(&b, "--work_dir=%s", MARATHON_AGENT_DIR);
        argf(&b, "--containerizers=%s", s->containerizers);
        if (MJ->length(n->attributes) > 0) {
            char *attrs = marathon_attributes_text(n->attributes);
            argf(&b, "--attributes=%s", attrs);
            free(attrs);
        }
        if (n->resources)
            argf(&b, "--resources=%s", n->resources);
        break;
    case MARATHON_SVC_BALANCER:
        pu_buf_puts(&b, in->bin[MARATHON_BIN_PYTHON]);
        arg(&b, MARATHON_LB_PROGRAM);
        argf(&b, "--config=%s", MARATHON_LB_CONFIG);
        break;
    default:
        break;
    }
    for (size_t i = 0; i < s->flags[svc].n; i++)
        arg(&b, s->flags[svc].v[i]);
    free(mesos);
    return pu_buf_take(&b);
}

void marathon_render_files(const marathon_render_in *in, pu_files *out)
{
    const marathon_node *n = in->node;
    if (marathon_in_ensemble(in->region, n)) {
        char *cfg = marathon_render_zoo_cfg(in);
        char *myid = pu_printf("%d\n", zk_id(in, n));
        pu_files_add_text(out, MARATHON_ZK_CONF, cfg, 0644, MARATHON_SVC_ZOOKEEPER, 0);
        pu_files_add_text(out, MARATHON_ZK_MYID, myid, 0644, MARATHON_SVC_ZOOKEEPER, 0);
        free(cfg);
        free(myid);
    }
    if (n->role == MARATHON_ROLE_MASTER) {
        /* read by Marathon from its environment (HttpConf), never on its
         * command line, where every user of the node could see it */
        char *env = pu_printf("MESOSPHERE_HTTP_CREDENTIALS=%s:%s\n", in->s->marathon_user,
                              in->password ? in->password : "");
        pu_files_add_text(out, MARATHON_ENV, env, 0600, MARATHON_SVC_MARATHON, 1);
        memset(env, 0, strlen(env));
        free(env);
    } else if (n->role == MARATHON_ROLE_BALANCER) {
        char *cfg =
            marathon_lb_config(in->s, in->region, in->bin[MARATHON_BIN_HAPROXY], in->password);
        pu_files_add_text(out, MARATHON_LB_PROGRAM, marathon_lb_program(), 0755,
                          MARATHON_SVC_BALANCER, 0);
        pu_files_add_text(out, MARATHON_LB_CONFIG, cfg, 0600, MARATHON_SVC_BALANCER, 1);
        memset(cfg, 0, strlen(cfg));
        free(cfg);
    }
}

void marathon_render_services(const marathon_render_in *in, marathon_services *out)
{
    marathon_service svcs[MARATHON_SVC_COUNT];
    memset(out, 0, sizeof(*out));
    out->n = marathon_node_services(in->region, in->node, svcs);
    for (size_t i = 0; i < out->n; i++) {
        pu_service *p = &out->v[i];
        out->svc[i] = svcs[i];
        out->commands[i] = marathon_render_command(in, svcs[i]);
        p->name = marathon_service_name(svcs[i]);
        p->command = out->commands[i];
        p->installed = in->installed[svcs[i]];
        switch (svcs[i]) {
        case MARATHON_SVC_ZOOKEEPER:
            p->description = "ZooKeeper";
            break;
        case MARATHON_SVC_MASTER:
            p->description = "Mesos master";
            p->after = marathon_in_ensemble(in->region, in->node) ? "zookeeper.service" : NULL;
            break;
        case MARATHON_SVC_MARATHON:
            p->description = "Marathon";
            p->env_file = MARATHON_ENV;
            p->after = "mesos-master.service";
            break;
        case MARATHON_SVC_AGENT:
            p->description = "Mesos agent";
            /* the agent's executors and tasks outlive a restart of the agent,
             * which recovers them */
            p->keep_children = 1;
            break;
        case MARATHON_SVC_BALANCER:
            p->description = "haproxy following Marathon's apps";
            break;
        default:
            break;
        }
    }
}

void marathon_services_free(marathon_services *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->commands[i]);
    memset(s, 0, sizeof(*s));
}
