/* The "marathon" scheduler plugin: ZooKeeper, Mesos masters and agents,
 * Marathon and haproxy load balancers on a cluster's instances,
 * bootstrapped over SSH and then driven through their own APIs.
 *
 * Shared between the plugin's files only; the plugin sees nothing of infra
 * but <infra/plugin.h>. Layout of the sources:
 *   marathon.c           descriptor, schema, settings, validate, configure, op table
 *   marathon_model.c     the cluster and node JSON the host passes, as structs
 *   marathon_keys.c      secrets: Marathon's password, ZooKeeper ids
 *   marathon_render.c    zoo.cfg, myid, command lines, env files (pure)
 *   marathon_lb.c        the load balancers' watcher and its configuration
 *   marathon_api.c       HTTP to Marathon and Mesos, ZooKeeper's four-letter words
 *   marathon_install.c   ZooKeeper, Mesos and Marathon put on nodes that lack them
 *   marathon_bootstrap.c node_bootstrap, node_remove
 *   marathon_ready.c     what answers: a node's services, a region (wait_ready)
 *   marathon_app.c       app JSON transforms: `set` (pure)
 *   marathon_deploy.c    job_submit, job_status, job_stop
 *   marathon_status.c    cluster_status
 * See docs/marathon.md. */
#ifndef MARATHON_H
#define MARATHON_H

#include <infra/plugin.h>

#include "plugin_install.h"
#include "plugin_remote.h"
#include "plugin_util.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define MARATHON_PLUGIN_VERSION "0.1.0"

/* The host's JSON service (pu_host is the host table, plugin_util.h). */
#define MJ (pu_host->json)

/* Where things live on a node. */
#define MARATHON_ZK_CONF_DIR "/etc/zookeeper/conf"
#define MARATHON_ZK_CONF MARATHON_ZK_CONF_DIR "/zoo.cfg"
#define MARATHON_ZK_DATA_DIR "/var/lib/zookeeper"
#define MARATHON_ZK_MYID MARATHON_ZK_DATA_DIR "/myid"
#define MARATHON_MESOS_DIR "/var/lib/mesos"
#define MARATHON_MASTER_DIR MARATHON_MESOS_DIR "/master"
#define MARATHON_AGENT_DIR MARATHON_MESOS_DIR "/agent"
#define MARATHON_CONF_DIR "/etc/marathon"
#define MARATHON_ENV MARATHON_CONF_DIR "/marathon.env"
#define MARATHON_LB_DIR "/etc/marathon-lb"
#define MARATHON_LB_CONFIG MARATHON_LB_DIR "/config.json"
#define MARATHON_LB_PROGRAM PU_TOOL_DIR "/marathon-lb"

/* Ports (the programs' defaults). */
#define MARATHON_PORT_ZK 2181
#define MARATHON_PORT_ZK_PEER 2888
#define MARATHON_PORT_ZK_ELECTION 3888
#define MARATHON_PORT_MASTER 5050
#define MARATHON_PORT_AGENT 5051
#define MARATHON_PORT_HTTP 8080

/* The path of the load balancers' status answer. */
#define MARATHON_LB_STATUS_PATH "/_marathon-lb/status"

/* What a node is for: node_settings.role of its datacenter. */
typedef enum marathon_role {
    MARATHON_ROLE_MASTER,    /* server: ZooKeeper (unless the region has zookeeper nodes), a
                                Mesos master, Marathon */
    MARATHON_ROLE_ZOOKEEPER, /* server: ZooKeeper only */
    MARATHON_ROLE_AGENT,     /* client: a Mesos agent */
    MARATHON_ROLE_BALANCER,  /* client: haproxy following Marathon's apps */
} marathon_role;

/* "master", "zookeeper", "agent", "load_balancer". */
const char *marathon_role_name(marathon_role role);

/* The programs a node runs, in start order. */
typedef enum marathon_service {
    MARATHON_SVC_ZOOKEEPER,
    MARATHON_SVC_MASTER,
    MARATHON_SVC_MARATHON,
    MARATHON_SVC_AGENT,
    MARATHON_SVC_BALANCER,
    MARATHON_SVC_COUNT
} marathon_service;

/* The unit / supervisor name: "zookeeper", "mesos-master", "marathon",
 * "mesos-agent", "marathon-lb". */
const char *marathon_service_name(marathon_service svc);

/* The executables a node may need, resolved on the node. */
typedef enum marathon_binary {
    MARATHON_BIN_JAVA,
    MARATHON_BIN_MASTER,
    MARATHON_BIN_AGENT,
    MARATHON_BIN_MARATHON,
    MARATHON_BIN_HAPROXY,
    MARATHON_BIN_PYTHON,
    MARATHON_BIN_COUNT
} marathon_binary;

/* The setting naming a binary: "java_binary", "mesos_master_binary", ... */
const char *marathon_binary_setting(marathon_binary b);

/* The cluster's settings, defaults applied. */
typedef struct marathon_settings {
    char *binary[MARATHON_BIN_COUNT];  /* names on PATH or absolute paths */
    char *zookeeper_jar;               /* ZooKeeper's jar on the nodes */
    int zookeeper_heap_mb;             /* ZooKeeper's -Xmx */
    char *marathon_user;               /* Marathon's HTTP user */
    char *containerizers;              /* the agents' --containerizers */
    char *lb_group;                    /* HAPROXY_GROUP of the apps the load balancers expose */
    int lb_port;                       /* the load balancers' HTTP port */
    int api_public;                    /* reach the APIs at public_ip when a node has one */
    pu_strs flags[MARATHON_SVC_COUNT]; /* extra flags per program */
    int64_t node_deadline_ms;          /* node_bootstrap, wait_ready, node_remove */
    int64_t app_deadline_ms;           /* job_submit, job_stop */
    int64_t drain_deadline_ms;         /* an agent's drain */
    infra_json *install;               /* the cluster's install settings (a copy), or NULL */
} marathon_settings;

/* Reads a cluster's settings (NULL = all defaults) into *s; 0 or
 * INFRA_EINVALID with one diagnostic per bad key. Free with
 * marathon_settings_free. */
int marathon_settings_parse(infra_call *call, const infra_json *obj, marathon_settings *s);
void marathon_settings_free(marathon_settings *s);

struct infra_scheduler {
    marathon_settings s;
    char *cluster;                  /* cluster name */
    char *environment;              /* environment name */
    pthread_mutex_t keys_lock;      /* making a secret is check-then-set */
    pu_install_cache install_cache; /* install items read in this run */
    pu_rolling rolling;             /* restarts of running servers, one node of a region at
                                       a time */
};

/* ------------------------------------------------------------------ */
/* marathon_model.c: the host's cluster and node JSON                  */

typedef struct marathon_node {
    const char *name;    /* unique node name */
    const char *address; /* the instance's resource address */
    const char *region;  /* the Mesos cluster it belongs to */
    const char *datacenter;
    const char *private_ip; /* what the programs bind to and advertise */
    const char *public_ip;  /* or NULL */
    int server;             /* listed among the servers */
    marathon_role role;
    const infra_json *attributes; /* node_settings.attributes (an object), or NULL */
    const char *resources;        /* node_settings.resources, or NULL */
    const infra_json *install;    /* node_settings.install (over the cluster's), or NULL */
    infra_ssh_target ssh;         /* strings borrowed from the JSON */
} marathon_node;

/* One region: one Mesos cluster with its own ZooKeeper ensemble. */
typedef struct marathon_region {
    const char *name;
    marathon_node **masters; /* borrowed from marathon_cluster.nodes, in the host's order */
    size_t nmasters;
    marathon_node **ensemble; /* the ZooKeeper members: zookeeper nodes, or the masters */
    size_t nensemble;
    marathon_node **agents;
    size_t nagents;
    marathon_node **balancers;
    size_t nbalancers;
} marathon_region;

typedef struct marathon_cluster {
    const char *name;
    marathon_node *nodes;
    size_t nnodes;
    marathon_region *regions; /* in the host's order */
    size_t nregions;
} marathon_cluster;

/* Reads the host's cluster JSON into *out (strings borrowed from json,
 * which must outlive it). With need_ips, a node without private_ip is an
 * error. 0 or INFRA_EINVALID with diagnostics at the attribute paths of the
 * topology. Free with marathon_cluster_free. */
int marathon_cluster_parse(infra_call *call, const infra_json *json, int need_ips,
                           marathon_cluster *out);
void marathon_cluster_free(marathon_cluster *c);
/* One NODE of the host's JSON read on its own (a node being removed whose
 * datacenter has fewer nodes now, or is gone): its role from its
 * datacenter's node_settings when the cluster still has that datacenter,
 * else master for a server and agent for a client. Strings borrowed from
 * the JSON. 0 or INFRA_EINVALID with a diagnostic. */
int marathon_node_alone(infra_call *call, const infra_json *cluster, const infra_json *json,
                        marathon_node *out);
/* The node called name, or NULL (borrowed). */
const marathon_node *marathon_cluster_node(const marathon_cluster *c, const char *name);
/* The region called name, or NULL (borrowed). */
const marathon_region *marathon_cluster_region(const marathon_cluster *c, const char *name);
/* 1 when node n is a member of its region's ZooKeeper ensemble. */
int marathon_in_ensemble(const marathon_region *r, const marathon_node *n);
/* The address the plugin reaches n's APIs at. */
const char *marathon_api_ip(const marathon_settings *s, const marathon_node *n);
/* The services n runs, in start order, into out (at most
 * MARATHON_SVC_COUNT); returns how many. */
size_t marathon_node_services(const marathon_region *r, const marathon_node *n,
                              marathon_service *out);

/* ------------------------------------------------------------------ */
/* marathon_keys.c: secrets                                            */

/* "marathon.CLUSTER.WHAT"; caller frees. */
char *marathon_secret_name(const char *cluster, const char *what);
/* Marathon's HTTP password: made (24 random bytes, hex) when create is set
 * and it is missing; otherwise a missing one is INFRA_ENOTFOUND with a
 * diagnostic naming the secret. */
int marathon_password(infra_scheduler *ctx, infra_call *call, int create, infra_secret **out);
/* The ZooKeeper id of every member of every region's ensemble, kept in the
 * secrets file: a node keeps its id for the cluster's life, a new node gets
 * the lowest id its region's ensemble does not use. ids[i] belongs to
 * c->nodes[i] (0 for nodes outside the ensembles); caller frees. */
int marathon_zookeeper_ids(infra_scheduler *ctx, infra_call *call, const marathon_cluster *c,
                           int **ids);

/* ------------------------------------------------------------------ */
/* marathon_render.c: what a node is given (pure functions)            */

/* Everything a node's files depend on. */
typedef struct marathon_render_in {
    const marathon_settings *s;
    const char *cluster; /* the cluster's name */
    const marathon_region *region;
    const marathon_node *node;
    const int *zk_ids;                   /* per node of the cluster (marathon_zookeeper_ids) */
    const marathon_node *nodes;          /* the cluster's nodes, zk_ids's index base */
    const char *bin[MARATHON_BIN_COUNT]; /* resolved absolute paths (NULL: not needed) */
    const char *password;                /* Marathon's HTTP password */
    const char *installed[MARATHON_SVC_COUNT]; /* what was installed for each service
                                                  ("PATH, sha256 HEX"), or NULL */
} marathon_render_in;

/* "zk://10.0.0.2:2181,10.0.0.3:2181/PATH" over r's ensemble; caller frees. */
char *marathon_zk_url(const marathon_region *r, const char *path);
/* zoo.cfg for r's ensemble; caller frees. */
char *marathon_render_zoo_cfg(const marathon_render_in *in);
/* The command line of svc on in->node (absolute program, arguments quoted
 * for sh and systemd); caller frees. */
char *marathon_render_command(const marathon_render_in *in, marathon_service svc);
/* "k:v;k2:v2" of node_settings.attributes ("" when none); caller frees. */
char *marathon_attributes_text(const infra_json *attributes);
/* Every configuration file of in->node (not the service files), each
 * tagged with the service it restarts. */
void marathon_render_files(const marathon_render_in *in, pu_files *out);
/* The services of in->node as pu_service entries (strings owned by *out
 * and freed with marathon_services_free). */
typedef struct marathon_services {
    pu_service v[MARATHON_SVC_COUNT];
    marathon_service svc[MARATHON_SVC_COUNT];
    char *commands[MARATHON_SVC_COUNT];
    size_t n;
} marathon_services;
void marathon_render_services(const marathon_render_in *in, marathon_services *out);
void marathon_services_free(marathon_services *s);

/* ------------------------------------------------------------------ */
/* marathon_lb.c: load balancers                                       */

/* The watcher program (python3, static text): polls Marathon's apps and
 * keeps haproxy's configuration in step (see plugins/marathon/marathon-lb). */
const char *marathon_lb_program(void);
/* The watcher's configuration for a load balancer of region r, which runs
 * haproxy at the absolute path haproxy (JSON text holding the password:
 * mode 0600); caller frees. */
char *marathon_lb_config(const marathon_settings *s, const marathon_region *r, const char *haproxy,
                         const char *password);
/* The host names an app answers to on the load balancers (its
 * HAPROXY_0_VHOST label, else its id's segments reversed and joined by
 * dots: /shop/web -> web.shop); NULL when the app is not exposed (no
 * HAPROXY_GROUP label naming group). Caller frees. */
char *marathon_lb_vhost(const infra_json *app, const char *group);

/* ------------------------------------------------------------------ */
/* marathon_api.c: HTTP and ZooKeeper                                  */

#define MARATHON_API_PROBE 1u      /* TCP-probe first; a closed port fails quietly */
#define MARATHON_API_RETRY 2u      /* retry transient failures (default: one attempt) */
#define MARATHON_API_NOAUTH 4u     /* send no credentials */
#define MARATHON_API_MISSING_OK 8u /* marathon_api_json: 404 is INFRA_ENOTFOUND quietly */

/* Which API of a node. */
typedef enum marathon_port {
    MARATHON_API_MASTER = MARATHON_PORT_MASTER,
    MARATHON_API_AGENT = MARATHON_PORT_AGENT,
    MARATHON_API_MARATHON = MARATHON_PORT_HTTP,
} marathon_port;

typedef struct marathon_api_ctx {
    infra_scheduler *ctx;
    infra_call *call;
    const char *password; /* Marathon's; NULL for none */
} marathon_api_ctx;

/* One request to an API of node: path with an optional JSON body; Marathon
 * requests carry Basic credentials. 0 with *out whatever the status;
 * INFRA_ETRANSIENT when nothing answered (quietly with MARATHON_API_PROBE
 * and a closed port). */
int marathon_api(const marathon_api_ctx *a, const marathon_node *node, marathon_port port,
                 const char *method, const char *path, const char *body, unsigned flags,
                 infra_http_response **out);
/* The error category of an HTTP status (0 for 2xx). */
int marathon_status_error(long status);
/* marathon_api + status check + JSON parse: 0 with *out (new; NULL for an
 * empty body); another status is its category with a diagnostic
 * "WHAT: METHOD PATH: STATUS MESSAGE" (a 401 names the kept password). */
int marathon_api_json(const marathon_api_ctx *a, const marathon_node *node, marathon_port port,
                      const char *method, const char *path, const char *body, unsigned flags,
                      const char *what, infra_json **out);
/* Marathon's words in an error answer: its "message" and every "details"
 * path and errors ("/instances: error.min"), or an excerpt; caller frees. */
char *marathon_error_text(const char *body);
/* The first master of r whose port answers, other than except; NULL. */
const marathon_node *marathon_any_master(const marathon_api_ctx *a, const marathon_region *r,
                                         marathon_port port, const marathon_node *except);
/* GET path on a load balancer's HTTP port (with Host: host when not NULL),
 * one attempt, quietly: 0 with the status and body (caller frees), or
 * INFRA_ETRANSIENT when nothing answered. */
int marathon_lb_get(const marathon_api_ctx *a, const marathon_node *lb, const char *path,
                    const char *host, long *status, char **body);
/* ZooKeeper's answer to srvr on node: "leader", "follower", "standalone",
 * "observer" into mode (at most 16 bytes), or "" with the reason it does not
 * serve ("not serving", "no answer") in why (at most 64 bytes). */
void marathon_zk_mode(const marathon_settings *s, const marathon_node *node, char mode[16],
                      char why[64]);
/* 1 when ZooKeeper answers ruok with imok on node. */
int marathon_zk_ok(const marathon_settings *s, const marathon_node *node);

/* ------------------------------------------------------------------ */
/* marathon_ready.c                                                    */

/* What one look at a region found; see marathon_region_look. */
typedef struct marathon_look {
    pu_strs zk_modes; /* "name leader" / "name follower" / "name (not serving)" */
    int zk_leaders, zk_followers;
    char *master_leader; /* "IP:5050" the masters agree on, or NULL */
    pu_strs masters_answering, masters_silent;
    infra_json *state;      /* the leading master's /master/state, or NULL */
    pu_strs agents_missing; /* "name (why)" */
    char *marathon_leader;  /* "IP:8080", or NULL */
    int framework;          /* Marathon's framework is registered and active */
    int marathon_auth;      /* Marathon refused the credentials */
    pu_strs marathons_silent;
    pu_strs balancers_missing; /* "name (why)" */
} marathon_look;

/* One look at region r: ZooKeeper, the masters, the agents, Marathon, the
 * load balancers. 0 (and *ready 1 when everything is there), or
 * INFRA_ECANCELLED. Free with marathon_look_free. */
int marathon_region_look(const marathon_api_ctx *a, const marathon_region *r, marathon_look *l,
                         int *ready);
void marathon_look_free(marathon_look *l);
/* The final word on a region that is not ready ("region R: no leading Mesos
 * master after N s; masters answering: a; not answering: b, c"); caller
 * frees. *category is INFRA_EAUTH when Marathon refused the password, else
 * INFRA_ETRANSIENT. */
char *marathon_region_report(const marathon_region *r, const marathon_look *l, int64_t waited_ms,
                             const char *cluster, int *category);
/* The attributes an agent of /master/state's slaves[] reports, as
 * "k:v;..." in the order of want's keys; 1 when they equal want's. */
int marathon_attributes_match(const infra_json *reported, const infra_json *want);
/* 0 once node's services answer (see node_bootstrap), waiting until
 * deadline (a now_ms instant). */
int marathon_node_wait(const marathon_api_ctx *a, const marathon_region *r,
                       const marathon_node *node, int zk_joined, int64_t deadline);
int marathon_wait_ready(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                        const char *region, int64_t deadline_ms);

/* ------------------------------------------------------------------ */
/* marathon_install.c: what nodes lack                                 */

/* The items of the install settings. */
typedef enum marathon_item {
    MARATHON_ITEM_ZOOKEEPER, /* Debian packages (zookeeper.jar) */
    MARATHON_ITEM_MESOS,     /* mesos-master and mesos-agent: a .zip of both, or packages */
    MARATHON_ITEM_MARATHON,  /* marathon: a program, its .zip, or packages */
    MARATHON_ITEM_COUNT
} marathon_item;

/* "zookeeper", "mesos", "marathon". */
const char *marathon_item_name(marathon_item item);
/* Checks the install settings at validate (the cluster's, every
 * datacenter's node_settings.install), reading the files. 0 or
 * INFRA_EINVALID with diagnostics at their keys. */
int marathon_install_validate(infra_call *call, const infra_json *cluster);
/* Checks an install map's shape (no file read) at attr. */
int marathon_install_check(infra_call *call, const char *attr, const infra_json *install);
/* What node n of region r takes of each item, by the services it runs:
 * the program it runs of the item ("mesos-master", "mesos-agent",
 * "marathon", "zookeeper"), or NULL when it needs nothing of it. Servers
 * take ZooKeeper (ensemble members), Mesos (masters: mesos-master) and
 * Marathon (masters); agents take Mesos (mesos-agent); load balancers
 * nothing. */
void marathon_install_wants(const marathon_region *r, const marathon_node *n,
                            const char *program[MARATHON_ITEM_COUNT]);

/* What marathon_install_node did on one node. */
typedef struct marathon_installed {
    char *bin[MARATHON_BIN_COUNT];   /* an installed program to run instead of the
                                      *_binary setting, or NULL */
    char *note[MARATHON_SVC_COUNT];  /* what was installed for each service, or NULL */
    int changed[MARATHON_SVC_COUNT]; /* a service's program or packages were replaced */
} marathon_installed;

/* Puts on node n through rem what the install settings give for the
 * items it takes (its datacenter's node_settings.install over the
 * cluster's). 0, or the error of the first item that failed, with a
 * diagnostic naming the node and the setting. Free *out with
 * marathon_installed_free, also after a failure. */
int marathon_install_node(infra_scheduler *ctx, infra_call *call, const marathon_region *r,
                          const marathon_node *n, pu_remote *rem, marathon_installed *out);
void marathon_installed_free(marathon_installed *in);
/* The item that gives binary b ("mesos" for mesos-master), for a message
 * about a program missing on a node; NULL for a program no item gives
 * (java, haproxy, python3). */
const char *marathon_install_item_of(marathon_binary b);
/* "node N: P is not installed: ..." for binary b (-1: unknown) of
 * cluster, naming every way out: an image that has it, the install
 * setting of the item that gives it, the setting that says where it is.
 * Caller frees. */
char *marathon_missing_text(const char *cluster, const char *node, const char *program, int b);

/* ------------------------------------------------------------------ */
/* marathon_bootstrap.c                                                */

int marathon_node_bootstrap(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                            const infra_json *node);
/* Of Marathon's GET /v2/apps?embed=apps.tasks answer: the apps with a task
 * on the agent whose Mesos id is agent and fewer instances healthy (running,
 * for an app without health checks) than they want, as "/prod/web 1 of 2
 * healthy" joined by ", "; "" when there is none. Caller frees. */
char *marathon_apps_short(const infra_json *apps, const char *agent);
int marathon_node_remove(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         const infra_json *node);

/* ------------------------------------------------------------------ */
/* marathon_app.c: app JSON (no I/O)                                   */

/* The app of a JSON file with set applied (new): id -> the app's id (made
 * absolute), image_tag -> the tag of container.docker.image, a key that is
 * a field of Marathon's app (instances, cpus, mem, constraints, env,
 * labels, ...) replaces that field, any other key becomes a label.
 * INFRA_EINVALID with *err naming the key (caller frees). */
int marathon_app_build(const char *content, const char *id, const infra_json *set, infra_json **app,
                       char **err);
/* id made absolute ("web" -> "/web"); NULL when it is not a valid Marathon
 * path id. Caller frees. */
char *marathon_app_id(const char *id);
/* image with its tag replaced by tag ("nginx:1.25" -> "nginx:TAG"); caller frees. */
char *marathon_image_with_tag(const char *image, const char *tag);
/* "TASK_FAILED on 10.0.0.5 at T: MESSAGE" of an app's lastTaskFailure, or
 * NULL; caller frees. */
char *marathon_task_failure_text(const infra_json *failure);

/* ------------------------------------------------------------------ */
/* marathon_deploy.c, marathon_status.c                                */

int marathon_job_submit(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                        const infra_json *job, infra_json **status);
int marathon_job_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                        const char *job_id, infra_json **status);
int marathon_job_stop(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                      const char *job_id);
int marathon_cluster_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                            infra_json **out);
/* The status of app id in region r through its masters (new value):
 * {"id", "version", "instances", "healthy", "running", "staged",
 * "deployments", "last_failure"}; INFRA_ENOTFOUND when r has no such app. */
int marathon_app_region_status(const marathon_api_ctx *a, const marathon_region *r, const char *id,
                               infra_json **out);

#endif
