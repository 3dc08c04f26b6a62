/* The resource types: what an apply, delete or read of each gets, the
 * labels and descriptions every created object carries, names, and the
 * insert, adopt, read and delete flows most types share. */
#ifndef GCP_RES_H
#define GCP_RES_H

#include "gcp_api.h"

/* Waits of the provider. */
#define GCP_WAIT_OP_MS 600000    /* an operation DONE */
#define GCP_WAIT_DNS_MS 300000   /* a Cloud DNS change done */
#define GCP_WAIT_GROUP_MS 600000 /* a managed group gone */

/* One operation on one resource: create (prior NULL), update, delete
 * (planned NULL) or read (state; NULL = find the object made under
 * call_token). Every pointer is borrowed except what goes to *out and
 * *priv_out (host-allocated). */
typedef struct gcp_act {
    infra_provider *p;
    infra_call *call;
    const infra_json *prior;
    const infra_json *planned;
    const infra_json *state;
    const void *priv;
    size_t priv_len;
    infra_json **out;
    void **priv_out;
    size_t *priv_out_len;
} gcp_act;

/* Where a type's objects live. */
typedef enum gcp_scope_kind { GCP_GLOBAL = 0, GCP_REGIONAL, GCP_ZONAL } gcp_scope_kind;

/* How the objects of one Compute type are found and named. */
typedef struct gcp_kind {
    const char *collection; /* "networks": the URL collection and the method prefix */
    gcp_scope_kind scope;
    int labelled; /* the object takes labels (else infra's marks go in its description) */
} gcp_kind;

/* The handlers of one resource type. */
typedef struct gcp_handler {
    const char *type;
    int (*apply)(gcp_act *a);  /* create or update; sets *a->out */
    int (*remove)(gcp_act *a); /* delete a->prior; gone already = 0 */
    int (*read)(gcp_act *a);   /* refresh a->state into *a->out; INFRA_ENOTFOUND when gone */
    const gcp_kind *kind;      /* one Compute object per resource (read_many lists them), or NULL */
    /* The state of a->state refreshed from obj, the object as Compute
     * answers it (read_many's list item); NULL when kind is NULL. */
    int (*from_object)(gcp_act *a, const infra_json *obj);
} gcp_handler;

/* The handler of type, or NULL. */
const gcp_handler *gcp_handler_find(const char *type);
/* The provider's read_many op (gcp_read_many.c). */
int gcp_read_many(infra_provider *self, infra_call *call, const char *type, infra_read_item *items,
                  size_t count);
/* 1 when the host table holds every slot the plugin calls unchecked (gcp.c). */
int gcp_host_usable(const infra_host *h);

/* ------------------------------------------------------------------ */
/* gcp_label.c: labels, descriptions, names                            */

/* The label keys infra sets on every object that takes labels. */
#define GCP_LABEL_TOPOLOGY "infra-topology"
#define GCP_LABEL_ENVIRONMENT "infra-environment"
#define GCP_LABEL_ADDRESS "infra-address"
#define GCP_LABEL_TOKEN "infra-token"

/* A label value as Compute takes it (lowercase letters, digits, '_' and
 * '-', at most 63): [a-z0-9-] kept, '_' written "__", any other byte
 * "_xx" (hex); longer than 63, the first 54 and "-" and 8 hex digits of
 * the whole value's SHA-256 (caller frees). */
char *gcp_label_value(const char *s);
/* The same for a key, which must also start with a lowercase letter
 * (else "x" is put in front). */
char *gcp_label_key(const char *s);
/* A name Compute takes ([a-z]([-a-z0-9]{0,61}[a-z0-9])?) made of text:
 * lowercased, other characters '-', "r-" in front unless it starts with
 * a letter; longer than 63, cut and ended with 8 hex digits of its
 * SHA-256 (caller frees). */
char *gcp_name_from(const char *text);
/* 1 when s is a name Compute takes. */
int gcp_name_valid(const char *s);
/* The default name of the call's object: "TOPOLOGY-ENV-ADDRESS" (the
 * environment left out when "default") as gcp_name_from makes it. */
char *gcp_call_name(infra_call *call);

/* The labels of an object made by this call: the user's (a map; each key
 * and value as gcp_label_key/value make them) plus infra-topology,
 * infra-environment, infra-address and infra-token (token: the create's,
 * or the one given). A new object, or NULL with a diagnostic at attr. */
infra_json *gcp_labels_build(infra_call *call, const infra_json *user, const char *token,
                             const char *attr);
/* The description of an object that takes no labels: "infra: topology=T
 * environment=E address=A token=X" (caller frees). */
char *gcp_description(infra_call *call, const char *token);
/* The token an object carries (label infra-token, else "token=" of its
 * description), borrowed from obj's text in *out (n bytes), 0 when none. */
int gcp_object_token(const infra_json *obj, const char **out, size_t *n);
/* 1 when obj carries token. */
int gcp_object_is_mine(const infra_json *obj, const char *token);
/* The user's labels of an object as the state shows them: infra-* keys
 * left out, every key and value of prior (the configured map) kept in its
 * own words while the object holds the same encoded value. New object. */
infra_json *gcp_labels_user(const infra_json *actual, const infra_json *prior);

/* ------------------------------------------------------------------ */
/* gcp_lookup.c: the flows most types share                            */

/* "global", "regions/R" or "zones/Z" of scope kind k in region / zone (caller frees). */
char *gcp_scope(gcp_scope_kind k, const char *region, const char *zone);
/* "projects/P/SCOPE/COLLECTION/NAME" (caller frees). */
char *gcp_object_path(const infra_provider *p, const gcp_kind *kind, const char *scope,
                      const char *name);
/* The scope of an object from its id or selfLink ("zones/Z"), caller frees; NULL for none. */
char *gcp_scope_of(const char *id);

/* GET the object at path: 0 with *obj (caller releases), INFRA_ENOTFOUND
 * without a diagnostic. */
int gcp_get_object(gcp_act *a, const char *path, const char *what, infra_json **obj);

/* The object a read refreshes: the state's id, or without a state the
 * object this resource's name would have, when it carries the call's
 * token (a read by token after a crash). 0 with *obj (caller releases),
 * INFRA_ENOTFOUND when there is none. */
int gcp_read_object(gcp_act *a, const gcp_kind *kind, const char *scope, const char *what,
                    infra_json **obj);
/* The requestId of step of this resource: the same for every try of the
 * same create (token and step), fresh for an update (which has no token). */
void gcp_step_request_id(gcp_act *a, const char *step, char out[37]);
/* 1 when a create must look for what an earlier run made first: the call
 * is resuming a recorded token, or the host cannot say (call_resuming absent). */
int gcp_resuming(infra_call *call);

/* Inserts body (its "name" set) into kind's collection at scope, waits for
 * the operation, and reads the object back into *obj (caller releases).
 * The insert carries a requestId derived from the call's token, so a
 * repeated call recognises its first try. When resuming, or when the name
 * is taken (alreadyExists), the existing object is adopted if it carries
 * the call's token, else the create is a conflict naming it. An operation
 * that fails is tried again under a requestId derived from the failed one
 * (transient failures only). Diagnostics at attr. */
int gcp_insert(gcp_act *a, const gcp_kind *kind, const char *scope, infra_json *body,
               const char *attr, infra_json **obj);
/* The same with the token the object carries given (an update's new
 * generation carries its create's token), looking for the object first
 * when look_first. */
int gcp_insert_token(gcp_act *a, const gcp_kind *kind, const char *scope, infra_json *body,
                     const char *attr, const char *token, int look_first, infra_json **obj);
/* Deletes the object at path (method what, "networks.delete"); gone
 * already is success. A delete meeting "in use by another resource" is
 * repeated for the policy's in_use_ms, waiting for those users to go. */
int gcp_delete_path(gcp_act *a, const char *path, const char *what);
/* The same, repeating "in use" for in_use_ms; 0 tries once and answers
 * INFRA_ECONFLICT, without a diagnostic, while the object is in use. */
int gcp_delete_within(gcp_act *a, const char *path, const char *what, int64_t in_use_ms);
/* A mutation (POST/PATCH/PUT) of the object at path + suffix with body,
 * waited for. method "POST" etc.; what "instances.setLabels". */
int gcp_change(gcp_act *a, const char *method, const char *path, const char *what,
               const infra_json *body, const char *attr, gcp_error *err);

/* The state every type starts from: a copy of base or an empty object. */
infra_json *gcp_state_new(const infra_json *base);
/* Returns a handler's partial result as *a->out; releases st on error. */
int gcp_state_finish(gcp_act *a, infra_json *st, int error);
/* The id of the object a state names ("id"), or NULL. */
const char *gcp_state_id(const infra_json *state);
/* id, name and self_link of obj into st. */
int gcp_state_ids(infra_json *st, const infra_json *obj);
/* The first of keys of obj holding a value (aliases), borrowed; NULL when none. */
const infra_json *gcp_json_alias(const infra_json *obj, const char *const *keys, const char **key);
/* A reference as Compute takes it in a body: a URL or a path with
 * "projects/" as it is, "global/..." / "regions/..." / "zones/..." too,
 * else a bare name of kind placed in scope of the provider's project
 * (caller frees). */
char *gcp_ref(const infra_provider *p, const char *value, const char *collection,
              const char *scope);
/* 1 when two references name the same object (URLs and paths compared
 * from "projects/", a bare name by the last segment). */
int gcp_ref_same(const char *x, const char *y);
/* Sets st[key] to the reference actual (as a "projects/..." path) unless
 * st[key] already names the same object in other words. */
int gcp_state_ref(infra_json *st, const char *key, const char *actual);
/* The name the object of this resource gets: the configured "name", else
 * gcp_call_name (caller frees). */
char *gcp_resource_name(gcp_act *a, const infra_json *cfg);
/* The diagnostic when an object of that name exists but is not this
 * resource's. INFRA_ECONFLICT. */
int gcp_not_mine(gcp_act *a, const char *attr, const char *what, const char *path);

/* ------------------------------------------------------------------ */
/* gcp_serial.c                                                        */

/* The SSH host key fingerprint cloud-init printed on the serial console:
 * the lines between -----BEGIN SSH HOST KEY FINGERPRINTS----- and its
 * END, the ECDSA one preferred, else ED25519, else the first. 0 with *out
 * ("SHA256:..."; caller frees), INFRA_ENOTFOUND when there is no block. */
int gcp_console_fingerprint(const char *console, char **out);

/* ------------------------------------------------------------------ */
/* gcp_instance.c: what the image build shares with instances          */

/* The fingerprint on the serial port of the instance at path, waiting at
 * most wait_ms for cloud-init to print it. INFRA_ENOTFOUND when it does not. */
int gcp_serial_fingerprint(gcp_act *a, const char *path, int64_t wait_ms, char **out);
/* The instance at path (*obj, as last read) once RUNNING: *obj is read
 * again until it is; INFRA_ECONFLICT when it stopped instead. */
int gcp_instance_wait_running(gcp_act *a, const char *path, infra_json **obj);

/* ------------------------------------------------------------------ */
/* gcp_image.c                                                         */

/* The image reference an instance's boot disk takes for image: a URL or
 * "projects/P/global/images/..." path as it is (families included),
 * "family/F" in the provider's project, a name pattern with * or ? (the
 * newest READY image of the project named like it), else an image name
 * of the project (caller frees). Diagnostics at attr. */
int gcp_image_resolve(gcp_act *a, const char *attr, const char *image, char **ref);
/* The same, a pattern never matching the images named PREFIX-HASH16 of
 * except (a build's own generations; NULL for none), and a family
 * resolved to its newest image, so that the answer names one image. */
int gcp_image_resolve_except(gcp_act *a, const char *attr, const char *image, const char *except,
                             char **ref);
/* 1 when s is a glob pattern (* or ?), and the match itself. */
int gcp_glob_match(const char *pattern, const char *s);

/* ------------------------------------------------------------------ */
/* gcp_body.c: instance properties (instances and templates)           */

/* The instance properties of cfg as Compute takes them: machineType,
 * disks, networkInterfaces, labels, metadata, tags, serviceAccounts.
 * zone NULL makes template properties (bare machine type). The name is
 * left to the caller. New object, or an error with a diagnostic. */
int gcp_instance_props(gcp_act *a, const infra_json *cfg, const char *zone, const char *token,
                       infra_json **out);
/* The metadata items cfg asks for (startup-script, ssh-keys, metadata),
 * as a new {"items": [...]} object (without fingerprint). */
int gcp_metadata_build(gcp_act *a, const infra_json *cfg, infra_json **out);
/* The network tags cfg asks for (network_tags, or tags given as a list). */
int gcp_network_tags(const infra_json *cfg, char ***out);
/* Servers of a scheduler's cluster carry this network tag, which the
 * clients of a managed-group pool find them by (Consul's cloud auto-join,
 * go-discover's gce tag_value): GCP_JOIN_TAG_PREFIX and the first
 * GCP_JOIN_TAG_HEX hex digits of SHA-256("TOPOLOGY.ENV.CLUSTER.REGION"),
 * "-" for no topology name, "default" for no environment. */
#define GCP_JOIN_TAG_PREFIX "infra-join-"
#define GCP_JOIN_TAG_HEX 20
/* That tag for these names (caller frees). */
char *gcp_join_tag_value(const char *topology, const char *environment, const char *cluster,
                         const char *region);
/* The join tag of an instance cfg describes (role server, with cluster and
 * region; the call's topology and environment), else NULL; caller frees. */
char *gcp_join_tag(infra_call *call, const infra_json *cfg);
/* gcp_network_tags and the join tag, if any: what the instance carries. */
int gcp_instance_tags(infra_call *call, const infra_json *cfg, char ***out);
/* The user labels cfg asks for (labels, tags given as a map, and role,
 * cluster, region, datacenter), a new map. */
infra_json *gcp_user_labels(const infra_json *cfg);
/* public_ip of cfg: 1 unless it says false. */
int gcp_want_public(const infra_json *cfg);
/* The login user of cfg (ssh_user, default "infra"). Borrowed or static. */
const char *gcp_ssh_user(const infra_json *cfg);

/* ------------------------------------------------------------------ */
/* Resource types (one file each)                                      */

extern const gcp_handler gcp_network_handler;           /* gcp_network.c */
extern const gcp_handler gcp_subnetwork_handler;        /* gcp_network.c */
extern const gcp_handler gcp_firewall_handler;          /* gcp_firewall.c */
extern const gcp_handler gcp_router_handler;            /* gcp_router.c */
extern const gcp_handler gcp_address_handler;           /* gcp_router.c */
extern const gcp_handler gcp_instance_handler;          /* gcp_instance.c */
extern const gcp_handler gcp_image_handler;             /* gcp_image.c */
extern const gcp_handler gcp_load_balancer_handler;     /* gcp_lb.c */
extern const gcp_handler gcp_instance_template_handler; /* gcp_template.c */
extern const gcp_handler gcp_instance_group_handler;    /* gcp_group.c */
extern const gcp_handler gcp_instance_group_manager_handler; /* gcp_igm.c */

/* gcp_igm.c: 1 when s is a baseInstanceName Compute takes
 * ([a-z][-a-z0-9]{0,57}). */
int gcp_base_name_valid(const char *s);
/* gcp_template.c: 1 when desired's startup script (startup_script or
 * user_data) is not the one prior's startup_script_sha256 records, or is
 * not known yet. */
int gcp_template_script_changed(const infra_json *prior, const infra_json *desired);
/* The SHA-256 (hex) of cfg's startup script into out; 0 when it has none. */
int gcp_template_script_hash(const infra_json *cfg, char out[65]);
extern const gcp_handler gcp_dns_record_handler;        /* gcp_dns.c */

/* gcp_bake.c: built images (an images: entry with build:, docs/images.md) */

/* 1 when an image's configuration (or state) has a build block. */
int gcp_bake_is_build(const infra_json *config);
/* Offline checks of a build block: diagnostics at "build.KEY". */
int gcp_bake_validate(infra_call *call, const infra_json *config);
/* plan() of a built image: build_hash and base_id, and what a new
 * generation makes unknown when the hash differs from prior's. */
int gcp_bake_plan(infra_provider *p, infra_call *call, const infra_json *prior, infra_json *plan);
/* Create or update: the generation of the planned hash, adopted or built. */
int gcp_bake_apply(gcp_act *a);
/* Deletes the generations the state names and any build instance left. */
int gcp_bake_remove(gcp_act *a);
/* Refresh; without a state, what an interrupted create made (by token). */
int gcp_bake_read(gcp_act *a);

/* gcp_firewall.c: the rules of a firewall, exposed for tests. */
typedef struct gcp_rule {
    char proto[8];  /* "tcp", "udp", "icmp", "all", or a number */
    char ports[64]; /* "22", "8300-8302", or "" for every port */
} gcp_rule;
/* Parses the portable allow (or deny) list into rules (sorted, merged per
 * protocol) and the sources the entries name (from: CIDR or "any") into
 * *sources (NULL-terminated; empty when none named). Diagnostics at
 * "ATTR[i]". */
int gcp_rules_parse(infra_call *call, const infra_json *list, const char *attr, gcp_rule **out,
                    size_t *n, char ***sources);
/* The allowed / denied list of a firewall body: [{IPProtocol, ports}]. */
infra_json *gcp_rules_json(const gcp_rule *rules, size_t n);

/* gcp_lb.c: the health check form, exposed for tests. */
typedef struct gcp_health {
    long port;
    char path[256];
} gcp_health;
/* "http:8080/health" (or "http:8080", path "/"); 0, or INFRA_EINVALID. */
int gcp_health_parse(const char *text, gcp_health *out);
/* The forwarding rule's portRange of listen ports (one port or a
 * contiguous run of ports): "80" or "8000-8002" (caller frees); NULL with
 * a diagnostic. */
char *gcp_port_range(infra_call *call, const infra_json *listen);

#endif
