/* The "nomad" scheduler plugin: Consul + Nomad on a cluster's instances,
 * bootstrapped over SSH and then driven through the agents' HTTP APIs.
 *
 * Shared between the plugin's files only; the plugin sees nothing of infra
 * but <infra/plugin.h>. Layout of the sources:
 *   nomad.c           descriptor, schema, validate, configure, op table
 *   nomad_util.c      memory, text, diagnostics, JSON helpers, hashes
 *   nomad_model.c     the cluster and node JSON the host passes, as structs
 *   nomad_keys.c      secrets: names, gossip keys, ACL tokens, CA, node certs
 *   nomad_tls.c       X.509 with libcrypto (CA, node certificates)
 *   nomad_render.c    agent configuration files (pure functions)
 *   nomad_remote.c    SSH: inspect a node, upload files, start/stop agents
 *   nomad_install.c   the agents' programs or packages put on nodes that lack
 *                     them (plugins/common/plugin_install), rolling restarts
 *   nomad_api.c       HTTP calls to the agents, error categories
 *   nomad_bootstrap.c node_bootstrap, node_remove
 *   nomad_ready.c     readiness checks, ACL bootstrap, wait_ready, federate
 *   nomad_jobspec.c   job JSON transforms: `set`, HCL parse request (pure)
 *   nomad_job.c       job_submit, job_status, job_stop
 *   nomad_status.c    cluster_status
 *   nomad_pool.c      autoscaling client pools: user data, their Consul token
 *   nomad_pool_ops.c  a pool's readiness and the drain before a scale-in
 * See docs/nomad.md. */
#ifndef NOMAD_H
#define NOMAD_H

#include <infra/plugin.h>

#include "plugin_install.h"
#include "plugin_util.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define NOMAD_PLUGIN_VERSION "0.1.0"

/* The host's JSON service (pu_host is the host table, plugin_util.h). */
#define NJ (pu_host->json)

/* Where things live on a node. */
#define NOMAD_CONFIG_DIR "/etc/nomad.d"
#define CONSUL_CONFIG_DIR "/etc/consul.d"
#define NOMAD_DATA_DIR "/var/lib/nomad"
#define CONSUL_DATA_DIR "/var/lib/consul"
#define NOMAD_TOOL_DIR "/opt/infra"
#define NOMAD_SUPERVISOR NOMAD_TOOL_DIR "/supervise"
#define NOMAD_UNIT_DIR "/etc/systemd/system"
/* What a configuration file infra did not write is renamed with. */
#define NOMAD_DISABLED_SUFFIX ".infra-disabled"

/* Default ports of the agents. */
#define NOMAD_PORT_HTTP 4646
#define NOMAD_PORT_RPC 4647
#define NOMAD_PORT_SERF 4648
#define CONSUL_PORT_HTTP 8500
#define CONSUL_PORT_HTTPS 8501
#define CONSUL_PORT_SERF_WAN 8302

/* The two agents of a node, in start order (Nomad talks to its local Consul). */
typedef enum nomad_agent {
    NOMAD_AGENT_CONSUL = 0,
    NOMAD_AGENT_NOMAD = 1,
    NOMAD_AGENT_COUNT
} nomad_agent;

/* "consul" / "nomad". */
const char *nomad_agent_name(nomad_agent agent);

/* The cluster's settings, defaults applied. */
typedef struct nomad_settings {
    int acl;                         /* ACLs on both agents */
    int tls;                         /* TLS on HTTP and RPC of both agents */
    int gossip;                      /* gossip encryption */
    int raw_exec;                    /* the raw_exec driver on clients */
    int api_public;                  /* reach the APIs at public_ip when a node has one */
    char *binary[NOMAD_AGENT_COUNT]; /* consul_binary, nomad_binary */
    int64_t node_deadline_ms;        /* node_bootstrap, node_remove, federate */
    int64_t job_deadline_ms;         /* job_submit, job_stop */
    int64_t drain_deadline_ms;       /* a client's drain */
    infra_json *install;             /* the cluster's install settings (a copy), or NULL */
} nomad_settings;

struct infra_scheduler {
    nomad_settings s;
    char *cluster;             /* cluster name */
    char *environment;         /* environment name */
    pthread_mutex_t keys_lock; /* creating a secret is check-then-set */
    pu_install_cache install_cache; /* install items read in this run */
    pu_rolling rolling;             /* restarts of running agents, one node of a region
                                       at a time */
};

/* ------------------------------------------------------------------ */
/* nomad_util.c                                                        */

/* A list of owned strings. */
typedef struct nomad_strs {
    char **v;
    size_t n;
} nomad_strs;
void nomad_strs_add(nomad_strs *l, const char *s);
void nomad_strs_addf(nomad_strs *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int nomad_strs_has(const nomad_strs *l, const char *s);
/* "a, b, c" ("none" when empty); caller frees. */
char *nomad_strs_join(const nomad_strs *l);
void nomad_strs_free(nomad_strs *l);

/* JSON getters with Nomad's conventions (plugin_util.h has the rest).
 * Getters return borrowed values or NULL; setters 0 or INFRA_EINTERNAL. */
/* An integer member (an integer, an integral real or a decimal string) in
 * *out; 0 or INFRA_EINVALID when missing or not a number. Unlike
 * pu_json_to_int it also takes an integral real (3.0) and reads 64 bits,
 * so it stays separate. */
int nomad_jint(const infra_json *obj, const char *key, int64_t *out);
int nomad_jvalue_int(const infra_json *v, int64_t *out);
/* A boolean member (true/false, "true"/"false"), def when missing;
 * INFRA_EINVALID when it is something else. */
int nomad_jbool(const infra_json *obj, const char *key, int def, int *out);
/* Sets obj[key] / appends a string; NULL is written as "" (unlike
 * pu_json_set_str, which writes null): agent configuration and job
 * status documents want a string. */
int nomad_jset_str(infra_json *obj, const char *key, const char *value);
int nomad_jappend_str(infra_json *arr, const char *value);
/* obj[key] as an object, created (empty) when missing; NULL on failure. */
infra_json *nomad_jobj(infra_json *obj, const char *key);
/* The value at a path of object keys ("a", "b", NULL), borrowed, or NULL. */
const infra_json *nomad_jpath(const infra_json *obj, ...) __attribute__((sentinel));
/* Parses text; NULL when it is not JSON. */
infra_json *nomad_jparse(const char *text);
/* Compact text of v, malloc'd (free()). */
char *nomad_jdump(const infra_json *v);

/* Lowercase hex SHA-256 of data (65 bytes with the NUL). */
void nomad_sha256_hex(const void *data, size_t len, char out[65]);
/* A random (version 4) UUID, 37 bytes with the NUL. INFRA_EINTERNAL when
 * the system has no randomness. */
int nomad_uuid(char out[37]);
/* 1 when s is non-empty and made of [A-Za-z0-9._-] only. */
int nomad_name_ok(const char *s);
/* 1 when s is a valid region name: Consul's datacenter rule, ^[a-z0-9_-]+$
 * (agent/config/builder.go), since each region is a Consul datacenter. */
int nomad_region_name_ok(const char *s);
/* 1 when s is a name or absolute path made of [A-Za-z0-9._/+-] only. */
int nomad_path_ok(const char *s);
/* 1 when s is an IPv4 or IPv6 address literal. */
int nomad_ip_ok(const char *s);

/* INFRA_ECANCELLED when the call was cancelled. */
int nomad_check_cancel(infra_call *call);
/* Sleeps ms (never past deadline, a now_ms value); INFRA_ECANCELLED. */
int nomad_sleep_until(infra_call *call, int64_t ms, int64_t deadline);

/* ------------------------------------------------------------------ */
/* nomad_model.c: the host's cluster and node JSON                     */

typedef struct nomad_node {
    const char *name;       /* unique node name; the agents' node name */
    const char *role;       /* "server" or "client" */
    const char *region;     /* Nomad region */
    const char *consul_dc;  /* its Consul datacenter: the region's consul_datacenter, or
                               the region's name */
    const char *datacenter; /* Nomad datacenter */
    const char *address;    /* the instance's resource address */
    const char *private_ip; /* bind/advertise address */
    const char *public_ip;  /* or NULL */
    const char *hostname;   /* or NULL */
    int server;             /* role == "server" */
    int client;             /* runs a Nomad client: role "client", or a server with
                               "client": true (listed in its region's clients too) */
    infra_ssh_target ssh;   /* strings borrowed from the JSON */
} nomad_node;

typedef struct nomad_region {
    const char *name;
    const char *consul_dc;    /* the Consul datacenter of its servers: the datacenters'
                                 node_settings.consul_datacenter, or the region's name */
    const char **datacenters; /* every datacenter of the region */
    size_t ndatacenters;
    nomad_node **servers; /* borrowed from nomad_cluster.nodes */
    size_t nservers;
    nomad_node **clients;
    size_t nclients;
} nomad_region;

typedef struct nomad_cluster {
    const char *name;
    nomad_node *nodes;
    size_t nnodes;
    nomad_region *regions; /* in the host's order */
    size_t nregions;
    const char **federate;
    size_t nfederate;
    const char *primary; /* primary_region or federate[0]; NULL without federation */
} nomad_cluster;

/* Reads the host's cluster JSON into *out (strings borrowed from json,
 * which must outlive it). With need_ips, a node without private_ip is an
 * error. 0 or INFRA_EINVALID with a diagnostic. Free with nomad_cluster_free. */
int nomad_cluster_parse(infra_call *call, const infra_json *json, int need_ips, nomad_cluster *out);
void nomad_cluster_free(nomad_cluster *c);
/* Reads one NODE. 0 or INFRA_EINVALID with a diagnostic. */
int nomad_node_parse(infra_call *call, const infra_json *json, int need_ip, nomad_node *out);
const nomad_region *nomad_cluster_region(const nomad_cluster *c, const char *name);
/* The ACL authority of region: the primary Consul datacenter and the
 * authoritative Nomad region, which is c->primary for a federated region
 * and the region itself otherwise (borrowed). */
const char *nomad_cluster_authority(const nomad_cluster *c, const char *region);
/* The Consul datacenter of region (borrowed; the name itself when the
 * cluster has no such region). */
const char *nomad_cluster_consul_dc(const nomad_cluster *c, const char *region);
/* 1 when region replicates its ACLs from another region. */
int nomad_region_secondary(const nomad_cluster *c, const char *region);
/* The address the plugin reaches node's APIs at. */
const char *nomad_node_api_ip(const nomad_settings *s, const nomad_node *n);
/* The servers of region r other than n (for retry_join). */
void nomad_region_peers(const nomad_region *r, const nomad_node *n, nomad_strs *out);

/* ------------------------------------------------------------------ */
/* nomad_keys.c: secrets                                               */

/* The cluster-wide secrets an op needs, as the host's secret handles. */
typedef struct nomad_keys {
    infra_secret *gossip[NOMAD_AGENT_COUNT]; /* NULL when gossip_encryption is off */
    infra_secret *token[NOMAD_AGENT_COUNT];  /* management tokens; NULL when acl is off */
    infra_secret *replication;               /* Consul's ACL replication token (same) */
    infra_secret *ca_cert;                   /* NULL when tls is off */
    infra_secret *ca_key;
} nomad_keys;

/* "nomad.CLUSTER.WHAT"; caller frees. */
char *nomad_secret_name(const char *cluster, const char *what);
/* Loads the cluster's secrets, making the missing ones when create is set;
 * otherwise a missing one is INFRA_ENOTFOUND with a diagnostic naming it
 * (never its value). Free with nomad_keys_free. */
int nomad_keys_load(infra_scheduler *ctx, infra_call *call, int create, nomad_keys *out);
void nomad_keys_free(nomad_keys *k);
/* The secret of the client pools' Consul token (nomad.CLUSTER.
 * consul_pool_token, a UUID), made when create is set; *out NULL when
 * acl is off. 0, INFRA_ENOTFOUND (named) or the secrets service's error.
 * Free *out with the host's secrets->free. */
int nomad_keys_pool_token(infra_scheduler *ctx, infra_call *call, int create, infra_secret **out);
/* Borrowed text of an agent's token, or NULL. */
const char *nomad_keys_token(const nomad_keys *k, nomad_agent agent);

/* A node's key and certificate (PEM, owned, secrets), stable across runs:
 * the stored pair is reused while it matches the CA and the node's names. */
typedef struct nomad_node_cert {
    infra_secret *key;
    infra_secret *cert;
} nomad_node_cert;
int nomad_node_cert_load(infra_scheduler *ctx, infra_call *call, const nomad_keys *keys,
                         const nomad_node *node, nomad_node_cert *out);
void nomad_node_cert_free(nomad_node_cert *c);

/* ------------------------------------------------------------------ */
/* nomad_tls.c: X.509 with libcrypto                                   */

/* What a node certificate says. */
typedef struct nomad_cert_names {
    const char *common_name;
    const char *dns[8];
    size_t ndns;
    const char *ip[4];
    size_t nip;
    char role_nomad[160];  /* storage of ROLE.REGION.nomad */
    char role_consul[160]; /* storage of ROLE.REGION.consul */
    char role_nomad_client[160]; /* client.REGION.nomad of a combined node */
} nomad_cert_names;

/* The names of node n's certificate: its IPs, 127.0.0.1, localhost, its
 * hostname, ROLE.REGION.nomad and ROLE.REGION.consul (and client.REGION.nomad
 * for a server that is also a client). Borrowed from n
 * and from *out itself. */
void nomad_node_cert_names(const nomad_node *n, nomad_cert_names *out);

/* A new EC P-256 key as PKCS#8 PEM (caller frees, after zeroing). */
int nomad_tls_key_new(char **key_pem, char **err);
/* A self-signed CA certificate for key_pem (10 years). */
int nomad_tls_ca_new(const char *key_pem, const char *cluster, char **cert_pem, char **err);
/* A certificate for key_pem with names, signed by the CA (5 years). */
int nomad_tls_cert_new(const char *ca_cert_pem, const char *ca_key_pem, const char *key_pem,
                       const nomad_cert_names *names, char **cert_pem, char **err);
/* 1 when cert_pem is for key_pem, signed by ca_cert_pem, carries exactly
 * names and is valid for at least 30 more days; 0 otherwise. */
int nomad_tls_cert_fits(const char *ca_cert_pem, const char *key_pem, const char *cert_pem,
                        const nomad_cert_names *names);
/* 1 when cert_pem is a CA certificate valid for 30 more days matching key_pem. */
int nomad_tls_ca_fits(const char *cert_pem, const char *key_pem);

/* ------------------------------------------------------------------ */
/* nomad_render.c: agent configuration                                 */

/* One file to put on a node. */
typedef struct nomad_file {
    char *path;
    char *data;
    size_t len;
    int mode;
    int agent;  /* the nomad_agent restarted when it changes, or -1 */
    int secret; /* holds a secret (mode 0600) */
} nomad_file;

typedef struct nomad_files {
    nomad_file *v;
    size_t n;
} nomad_files;
void nomad_files_add(nomad_files *f, const char *path, const char *data, size_t len, int mode,
                     int agent, int secret);
void nomad_files_free(nomad_files *f);
const nomad_file *nomad_files_find(const nomad_files *f, const char *path);

/* Everything a node's configuration depends on. Secrets are NULL when
 * their feature is off. */
typedef struct nomad_render_in {
    const nomad_settings *s;
    const nomad_region *region;
    const nomad_node *node;
    const char *gossip[NOMAD_AGENT_COUNT];
    const char *consul_token; /* the agents' Consul token */
    const char *nomad_token;  /* Nomad's management token: a secondary's replication token */
    const char *replication;  /* Consul's replication token */
    const char *authority;    /* authoritative Nomad region of node's region */
    const char *consul_authority; /* its Consul datacenter: Consul's primary_datacenter
                                     (NULL: authority) */
    const char *ca_pem;       /* TLS material */
    const char *cert_pem;
    const char *key_pem;
} nomad_render_in;

/* The agent's two configuration objects: non-secret settings (agent.json)
 * and secret ones (secrets.json, mode 0600). New values. */
int nomad_render_config(const nomad_render_in *in, nomad_agent agent, infra_json **config,
                        infra_json **secrets);
/* Every configuration and TLS file of both agents. */
int nomad_render_files(const nomad_render_in *in, nomad_files *out);

/* ------------------------------------------------------------------ */
/* nomad_remote.c: a node over SSH                                     */

typedef struct nomad_remote {
    infra_ssh *ssh;
    const nomad_node *node;
    int root;                             /* the login user is root: upload in place */
    int systemd;                          /* the node runs systemd */
    char *bin[NOMAD_AGENT_COUNT];         /* resolved agent binaries, or NULL */
    long pid[NOMAD_AGENT_COUNT];          /* running agent's pid, 0 when stopped */
    nomad_strs paths;                     /* inspected files ... */
    nomad_strs hashes;                    /* ... "MODE HASH", "" when missing */
    nomad_strs loaded[NOMAD_AGENT_COUNT]; /* the .hcl and .json files of each config dir */
    char *want_bin[NOMAD_AGENT_COUNT];    /* an installed program to run instead of the
                                             *_binary setting, or NULL */
    char *installed[NOMAD_AGENT_COUNT];   /* what was installed for the agent ("PATH,
                                             sha256 HEX"), for its unit or run file, or NULL */
} nomad_remote;

/* Connects to the node (deadline_ms to keep retrying). 0, INFRA_EAUTH,
 * INFRA_ETRANSIENT with a diagnostic naming the node. */
int nomad_remote_open(infra_scheduler *ctx, infra_call *call, const nomad_node *node,
                      int64_t deadline_ms, nomad_remote *out);
void nomad_remote_close(nomad_remote *r);
/* Learns the init system, the agent binaries, which agents run, and the
 * mode and hash of every file in paths. */
int nomad_remote_inspect(infra_scheduler *ctx, infra_call *call, nomad_remote *r,
                         const nomad_strs *paths);
/* 1 when the node holds exactly f (same mode and content). */
int nomad_remote_has(const nomad_remote *r, const nomad_file *f);
/* The supervisor or systemd files for both agents. */
int nomad_remote_service_files(infra_scheduler *ctx, const nomad_remote *r, nomad_files *out);
/* Creates the directories and writes the files. */
int nomad_remote_put(infra_call *call, nomad_remote *r, const nomad_files *files);
/* Renames each of paths to PATH.infra-disabled, a name the agents do not
 * load (only .hcl and .json files are). */
int nomad_remote_disable(infra_call *call, nomad_remote *r, const nomad_strs *paths);
/* Starts (restart: stops first) agent; fails with the agent's log tail
 * when it exits at once. */
int nomad_remote_start(infra_call *call, nomad_remote *r, nomad_agent agent, int restart,
                       int units_changed);
int nomad_remote_stop(infra_call *call, nomad_remote *r, nomad_agent agent);
/* The supervisor script (static text). */
const char *nomad_supervisor_script(void);

/* ------------------------------------------------------------------ */
/* nomad_install.c: what nodes lack, rolling restarts                  */

/* Checks an install map (the cluster's `install`, or a datacenter's
 * node_settings.install) at attr: keys consul, nomad and bin_dir, each item
 * with file and sha256 (plugin_install.h). With files, also reads the
 * files and compares their SHA-256 with the given ones (a file that cannot
 * be read now is a warning: node_bootstrap needs it, not `infra down`).
 * 0 or INFRA_EINVALID. */
int nomad_install_check(infra_call *call, const char *attr, const infra_json *install, int files);
/* Checks every datacenter's node_settings.install of the host's cluster
 * JSON, and that no *_binary setting names another program than one that
 * is installed. 0 or INFRA_EINVALID. */
int nomad_install_validate(infra_call *call, const infra_json *cluster);
/* Prepares and frees the install and restart state of a context. */
void nomad_install_ctx_init(infra_scheduler *ctx);
void nomad_install_ctx_free(infra_scheduler *ctx);
/* Puts on node n what the settings install for each agent (its datacenter's
 * node_settings.install over the cluster's install), through r, and sets
 * r->want_bin and r->installed; changed[a] is set when agent a's program
 * or packages were replaced. 0, or the error of the first item that
 * failed (with a diagnostic naming the node and the setting). */
int nomad_install_node(infra_scheduler *ctx, infra_call *call, const infra_json *cluster,
                       const nomad_node *n, nomad_remote *r, int changed[NOMAD_AGENT_COUNT]);
/* The path of the program installed for agent on n, when the settings
 * install a program (not packages) for it; NULL otherwise (caller frees). */
char *nomad_install_program_path(infra_scheduler *ctx, const infra_json *cluster,
                                 const nomad_node *n, nomad_agent agent);
/* Waits until no other node of region is restarting its agents in this
 * run, then marks region as restarting. 0 or INFRA_ECANCELLED. */
int nomad_restart_begin(infra_scheduler *ctx, infra_call *call, const char *region);
void nomad_restart_end(infra_scheduler *ctx, const char *region);

/* ------------------------------------------------------------------ */
/* nomad_api.c: HTTP to the agents                                     */

#define NOMAD_API_PROBE 1u      /* TCP-probe first; a closed port fails quietly */
#define NOMAD_API_NOTOKEN 2u    /* send no ACL token */
#define NOMAD_API_RETRY 4u      /* retry transient failures (default: one attempt) */
#define NOMAD_API_MISSING_OK 8u /* nomad_api_json: 404 is INFRA_ENOTFOUND without a diagnostic */
#define NOMAD_API_VALIDATES                                                                        \
    16u /* nomad_api_json: a 500 carrying Nomad's validation errors is INFRA_EINVALID */

typedef struct nomad_api_ctx {
    infra_scheduler *ctx;
    infra_call *call;
    const nomad_keys *keys;
} nomad_api_ctx;

/* One request to an agent of node: path ("/v1/...") with an optional JSON
 * body. 0 with *out whatever the status; INFRA_ETRANSIENT when nothing
 * answered (quietly with NOMAD_API_PROBE and a closed port), other
 * transport errors as the host's HTTP service reports them. */
int nomad_api(const nomad_api_ctx *a, const nomad_node *node, nomad_agent agent, const char *method,
              const char *path, const char *body, unsigned flags, infra_http_response **out);
/* nomad_api with token (NULL: none) in place of the management token. */
int nomad_api_token(const nomad_api_ctx *a, const nomad_node *node, nomad_agent agent,
                    const char *method, const char *path, const char *body, const char *token,
                    unsigned flags, infra_http_response **out);
/* The error category of an HTTP status (0 for 2xx). */
int nomad_api_status_error(long status);
/* nomad_api + status check + JSON parse: 0 with *out (new, may be NULL for
 * an empty body); a non-2xx answer is its category with a diagnostic
 * "WHAT: STATUS BODY" (what names the node or region). */
int nomad_api_json(const nomad_api_ctx *a, const nomad_node *node, nomad_agent agent,
                   const char *method, const char *path, const char *body, unsigned flags,
                   const char *what, infra_json **out);
/* 1 when a TCP connection to ip:port opens within timeout_ms. */
int nomad_tcp_probe(const char *ip, int port, int timeout_ms);
/* The first server of r whose agent's API answers, or NULL. */
const nomad_node *nomad_api_any_server(const nomad_api_ctx *a, const nomad_region *r,
                                       nomad_agent agent, const nomad_node *except);
/* A short, single-line excerpt of an error body (caller frees). */
char *nomad_api_excerpt(const char *body);

/* ------------------------------------------------------------------ */
/* nomad_ready.c                                                       */

/* The node called name in a /v1/nodes list: its latest registration (the
 * highest CreateIndex), since a replaced instance registers under a new ID
 * and its predecessor stays listed as down until garbage collection. NULL
 * when none (borrowed). */
const infra_json *nomad_node_entry(const infra_json *nodes, const char *name);
/* Makes sure Nomad's ACL system of node's region was bootstrapped with the
 * cluster's management token, through node. 0; INFRA_EAUTH when it was
 * bootstrapped with another token; INFRA_ETRANSIENT when it cannot be
 * reached or has no leader. */
int nomad_acl_ensure(const nomad_api_ctx *a, const nomad_node *node);
/* 0 once node's agents answer (see node_bootstrap), waiting until deadline. */
int nomad_node_wait(const nomad_api_ctx *a, const nomad_cluster *c, const nomad_node *node,
                    int64_t deadline);
int nomad_wait_ready(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                     const char *region, int64_t deadline_ms);
int nomad_federate(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                   const char *region_a, const char *region_b);

/* "region R: no Nomad leader after N s; servers answering: a, b; not
 * answering: c" (caller frees). */
char *nomad_msg_missing(const char *region, const char *what, int64_t waited_ms,
                        const nomad_strs *answering, const nomad_strs *silent);

/* ------------------------------------------------------------------ */
/* nomad_replication.c: ACLs of federated regions                     */

/* Makes, in the primary region, Consul's replication token (its policy
 * and the token with the kept secret) unless it exists. */
int nomad_consul_replication_ensure(const nomad_api_ctx *a, const nomad_region *primary);
/* 1 when both management tokens resolve in region r (replicated there), 0
 * when one does not, INFRA_ETRANSIENT when r's servers do not answer. */
int nomad_tokens_resolve(const nomad_api_ctx *a, const nomad_region *r);
/* Region r's ACL replication for cluster_status: {"role", "primary",
 * "tokens_replicated", "nomad": {"policies", "policies_primary"},
 * "consul": {Consul's /v1/acl/replication}} (new value). */
int nomad_replication_status(const nomad_api_ctx *a, const nomad_cluster *c, const nomad_region *r,
                             infra_json **out);

/* ------------------------------------------------------------------ */
/* nomad_pool.c: client pools that join by themselves                  */

/* The tag a provider gives the servers for cloud auto-join (the aws
 * plugin: every instance with role "server"); its value is
 * nomad_pool_join_tag's. */
#define NOMAD_POOL_TAG "infra:join"

/* Everything a pool's user data depends on. Secrets are NULL when their
 * feature is off; none of them is a management token. */
typedef struct nomad_pool_in {
    const nomad_settings *s;
    const char *cluster;
    const char *region;     /* Nomad region = Consul datacenter */
    const char *datacenter; /* the pool's Nomad datacenter */
    const char *authority;  /* the region's primary datacenter / authoritative region */
    const char *join;       /* Consul's retry_join entry (nomad_pool_join_aws, _gce) */
    const char *gossip[NOMAD_AGENT_COUNT];
    const char *consul_token; /* the pool token (nomad_pool_token_ensure), not management */
    const char *ca_pem;       /* the cluster CA, the pool's certificate and its key */
    const char *cert_pem;
    const char *key_pem;
} nomad_pool_in;

/* "TOPOLOGY.ENV.CLUSTER.REGION": the value of NOMAD_POOL_TAG on the servers
 * of a region, unique per topology and environment (caller frees). */
char *nomad_pool_join_tag(const char *topology, const char *environment, const char *cluster,
                          const char *region);
/* go-discover's aws entry for tag_value ("provider=aws region=R tag_key=
 * ... tag_value=..."); without aws_region the agent asks the instance
 * metadata service (caller frees). */
char *nomad_pool_join_aws(const char *aws_region, const char *tag_value);
/* The gcp counterpart of NOMAD_POOL_TAG: a network tag (a Compute name,
 * so no free text) the gcp plugin gives every instance with role
 * "server": "infra-join-" and the first 20 hex digits of the SHA-256 of
 * nomad_pool_join_tag's value (caller frees). The gcp plugin's
 * gcp_join_tag_value makes the same. */
char *nomad_pool_join_gce_tag(const char *tag_value);
/* go-discover's gce entry for a network tag ("provider=gce project_name=P
 * zone_pattern=REGION-.* tag_value=T"): without project the agent asks the
 * metadata server, without gcp_region it looks in every zone (caller
 * frees). */
char *nomad_pool_join_gce(const char *project, const char *gcp_region, const char *network_tag);
/* nomad_pool_ops.c: waits until expected clients of the pool (datacenter
 * of region r) are ready in /v1/nodes (registered, eligible, not
 * draining), and every one of addresses (the group's instances' private
 * addresses; may be none) among them, until deadline (a now_ms value).
 * INFRA_ETRANSIENT past it, with a diagnostic naming the ready ones, the
 * registered ones not ready (Nomad's status) and the instances not
 * registered. */
int nomad_pool_wait(const nomad_api_ctx *a, const nomad_region *r, const char *datacenter,
                    size_t expected, const char *const *addresses, size_t naddresses,
                    int64_t deadline);
/* Before a scale-in terminates the instance at address: drains its Nomad
 * client (nomad_node_drain) and waits until done. A client not registered
 * or already down is left alone (0); no server answering is
 * INFRA_ETRANSIENT, never "go ahead". */
int nomad_pool_drain(const nomad_api_ctx *a, const nomad_region *r, const char *datacenter,
                     const char *address, int64_t drain_deadline_ms);
/* The pool certificate of region's datacenter: nomad_node_cert_load for a
 * client named CLUSTER-REGION-DATACENTER-pool without addresses, so
 * its names are client.REGION.nomad, client.REGION.consul, localhost and
 * 127.0.0.1 only, one for every instance of the pool. */
int nomad_pool_cert_load(infra_scheduler *ctx, infra_call *call, const nomad_keys *keys,
                         const char *region, const char *datacenter, nomad_node_cert *out);
/* The pool's user data: a shell script (cloud-init runs it as root) that
 * writes both agents' files and starts them under systemd or the
 * supervisor. *out owned (holds secrets: zero before free). 0 or
 * INFRA_EINTERNAL. */
int nomad_pool_user_data(const nomad_pool_in *in, char **out);
/* The ABI 1.3 ops of client pools (nomad_pool_ops.c), as plugin.h
 * describes them: the user data of region's pool datacenter (aws pools:
 * Consul joins by the servers' NOMAD_POOL_TAG); the wait for its clients,
 * which first makes the pool's Consul token; the drain of the instance at
 * private_ip before it is terminated. */
int nomad_op_pool_user_data(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                            const char *region, const char *datacenter, infra_secret **out);
int nomad_op_pool_wait(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                       const char *region, const char *datacenter, const infra_json *instances,
                       int64_t expected, int64_t deadline_ms);
int nomad_op_pool_drain(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                        const char *region, const char *datacenter, const char *private_ip,
                        int64_t deadline_ms);
/* Makes, through authority's Consul servers, the policy infra-pool-client
 * (node and service write, agent read) and the token with secret unless it
 * resolves already. 0, INFRA_ETRANSIENT when no server answers, or the
 * refusal's category with a diagnostic. */
int nomad_pool_token_ensure(const nomad_api_ctx *a, const nomad_region *authority,
                            const char *secret);

/* ------------------------------------------------------------------ */
/* nomad_bootstrap.c                                                   */

int nomad_node_bootstrap(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         const infra_json *node);
int nomad_node_remove(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                      const infra_json *node);
/* Drains the Nomad node id through server via (Nomad's drain API, with
 * drain_deadline_ms as its deadline) and waits until the drain is done (a
 * minute past that deadline at most). label names the node in messages.
 * 0, INFRA_ETRANSIENT when still draining, or the API's error. */
int nomad_node_drain(const nomad_api_ctx *a, const nomad_node *via, const char *id,
                     const char *label, int64_t drain_deadline_ms);

/* ------------------------------------------------------------------ */
/* nomad_jobspec.c: job JSON transforms (no I/O)                       */

/* The Job object of a JSON job file (`{"Job": {...}}` or a bare job), new.
 * INFRA_EINVALID with *err (caller frees). */
int nomad_job_from_json(const char *content, infra_json **job, char **err);
/* The body of POST /v1/jobs/parse for an HCL job: JobHCL, Canonicalize and
 * the Variables (HCL text) of the `set` keys the file declares. */
int nomad_job_parse_request(const char *hcl, const infra_json *set, char **body, char **err);
/* Applies set, the region and the datacenters to job (in place): name ->
 * ID and Name, count -> every group's Count, image_tag -> the tag of every
 * task's Config.image, datacenters -> Datacenters, others -> Meta. id is
 * the id to submit under. */
int nomad_job_apply(infra_json *job, const char *id, const infra_json *set, const char *region,
                    const char *const *datacenters, size_t ndatacenters, char **err);
/* image with its tag replaced by tag ("nginx:1.25" -> "nginx:TAG"); caller frees. */
char *nomad_image_with_tag(const char *image, const char *tag);
/* The names of the variable blocks an HCL2 file declares. */
void nomad_hcl_variables(const char *hcl, nomad_strs *out);
/* A JSON value as an HCL2 expression (strings escaped); caller frees. */
char *nomad_hcl_value(const infra_json *v);
/* "task group G, task T on node N: TYPE: MESSAGE" for the most telling
 * failed task of an allocation list (caller frees), or NULL. */
char *nomad_msg_task_failure(const infra_json *allocations, int64_t version);

/* ------------------------------------------------------------------ */
/* nomad_job.c, nomad_status.c                                         */

int nomad_job_submit(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                     const infra_json *job, infra_json **status);
int nomad_job_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                     const char *job_id, infra_json **status);
int nomad_job_stop(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                   const char *job_id);
int nomad_cluster_status(infra_scheduler *self, infra_call *call, const infra_json *cluster,
                         infra_json **out);

/* The status of job id in one region, through server (new value);
 * INFRA_ENOTFOUND when the region has no such job. */
int nomad_job_region_status(const nomad_api_ctx *a, const nomad_node *server, const char *id,
                            infra_json **out);

#endif
