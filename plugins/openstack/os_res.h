/* The resource types: what every handler shares (the act, tags, the
 * Neutron object flow of find-by-token, create, tag, update and delete),
 * and one handler per type. */
#ifndef OS_RES_H
#define OS_RES_H

#include "os_api.h"

/* One apply or read of one resource. Borrowed fields. */
typedef struct os_act {
    infra_provider *p;
    infra_call *call;
    const infra_json *prior;   /* update and delete: the state recorded; NULL for a create */
    const infra_json *planned; /* create and update: what to reach; NULL for a delete */
    const infra_json *state;   /* read: the state recorded, or NULL to look up by token */
    infra_json **out;          /* apply and read: the new state */
} os_act;

/* How Neutron names one kind of object. */
typedef struct os_nkind {
    const char *singular; /* key of one object: "network", "security_group", "floatingip" */
    const char *plural;   /* key of a list: "networks", "security_groups", "floatingips" */
    const char *path;     /* "/networks", "/security-groups", "/floatingips" */
    const char *what;     /* for messages: "network", "security group" */
} os_nkind;

extern const os_nkind os_kind_network, os_kind_subnet, os_kind_router, os_kind_secgroup,
    os_kind_port, os_kind_floatingip;

/* A resource type. */
typedef struct os_handler {
    const char *type;
    int (*apply)(os_act *a);  /* create (prior NULL) or update */
    int (*remove)(os_act *a); /* delete what a->prior names */
    int (*read)(os_act *a);   /* refresh a->state, or find by token when NULL */
    /* read_many support: the Neutron kind listed by tags and the state
     * made from one listed object (NULL: read one at a time). */
    const os_nkind *kind;
    int (*from_object)(os_act *a, const infra_json *obj);
    /* Or a read_many of the type's own (NULL: the above). */
    int (*read_many)(infra_provider *p, infra_call *call, infra_read_item *items, size_t n);
} os_handler;

/* The handler of type, or NULL. */
const os_handler *os_handler_find(const char *type);

/* ------------------------------------------------------------------ */
/* os_tags.c: tags and markers                                         */

/* Tags are strings on Neutron and Nova objects (Nova: at most 60
 * characters, no ',' or '/'). infra's own are "infra:KEY=VALUE" with ',',
 * '/', '%' and non-printable bytes percent-encoded; a value too long for
 * 60 characters is replaced by "~" and the first 20 hex digits of its
 * SHA-256, which still tells objects apart. */
char *os_tag(const char *key, const char *value);
/* infra:topology, infra:environment, infra:address and (when the call
 * has one) infra:token of the call (caller frees with os_strv_free). */
char **os_tags_infra(infra_call *call);
/* The tag infra:token=TOKEN (caller frees), or NULL without a token. */
char *os_tag_token(const char *token);
/* The user's tags (a list of strings, or a map whose pairs become
 * "KEY=VALUE") appended to *out; diagnostics at "tags" for what Nova or
 * Neutron would refuse and for the reserved "infra:" prefix. */
int os_tags_user(infra_call *call, const infra_json *tags, char ***out);
/* The tags an object made by this call carries: os_tags_infra then the
 * user's. 0 or INFRA_EINVALID. */
int os_tags_for(infra_call *call, const infra_json *user_tags, char ***out);
/* The user's part of actual tags (those not starting with "infra:") in
 * the form prior_tags has (a list, or a map of "KEY=VALUE"), prior_tags'
 * own value when it says the same. *out NULL when there are none and
 * prior_tags is NULL. */
int os_tags_user_json(const infra_json *actual, const infra_json *prior_tags, infra_json **out);
/* 1 when the tags (a JSON list) hold tag. */
int os_tags_has(const infra_json *tags, const char *tag);
/* "tags=" (all of) or "tags-any=" (any of) with the tags percent-encoded
 * and comma-joined, as Neutron and Nova filter lists (caller frees). */
char *os_tags_filter(const char *param, char *const *tags);
/* The description an object made by this call is created with when the
 * user gives none: "infra ADDRESS TOKEN", at most 255 characters. It is
 * set in the same request that makes the object, so that an object whose
 * tags were never set (the run died in between) is found by it. */
char *os_marker(infra_call *call);

/* ------------------------------------------------------------------ */
/* os_neutron.c: the flow every Neutron type shares                    */

/* GET /v2.0/PATH/id: 0 with *obj (the object, caller releases),
 * INFRA_ENOTFOUND (quiet) when Neutron does not know it. */
int os_net_get(infra_provider *p, infra_call *call, const os_nkind *k, const char *id,
               infra_json **obj);
/* Every object of kind matching query ("name=x&...", may be NULL): a new
 * array. */
int os_net_list(infra_provider *p, infra_call *call, const os_nkind *k, const char *query,
                infra_json **out);
/* The object an earlier try of this create made: tagged with the call's
 * token, or (its tags never set) carrying description, and name when
 * given, with no infra:token tag. 0 with *obj, INFRA_ENOTFOUND. */
int os_net_find_mine(os_act *a, const os_nkind *k, const char *name, const char *description,
                     infra_json **obj);
/* The create of a Neutron object: looks for what an interrupted try made
 * (os_net_find_mine) when the call may be resuming, else POSTs fields
 * (taken; given the marker as description unless it has one), then sets
 * the tags (infra's and planned.tags). 0 with *obj. Diagnostics at attr. */
int os_net_create(os_act *a, const os_nkind *k, infra_json *fields, const char *attr,
                  infra_json **obj);
/* PUT /v2.0/PATH/id with fields (taken): 0 with *obj (may be NULL). */
int os_net_update(os_act *a, const os_nkind *k, const char *id, infra_json *fields,
                  const char *attr, infra_json **obj);
/* Sets the tags of an object to the infra:* tags it has plus the user's
 * tags of a->planned, when they differ from its current tags. */
int os_net_sync_tags(os_act *a, const os_nkind *k, const infra_json *obj);
/* DELETE /v2.0/PATH/id; gone already is success, "in use" is waited out. */
int os_net_delete(os_act *a, const os_nkind *k, const char *id);
/* The id a read refreshes: the state's, or the one of the object the
 * call's token made (also in *found, which the caller releases). */
int os_net_read_obj(os_act *a, const os_nkind *k, infra_json **obj);
/* The id of the object a state names ("id"), or NULL. */
const char *os_state_id(const infra_json *state);
/* The state every type starts from: a copy of base or an empty object. */
infra_json *os_state_new(const infra_json *base);
/* Hands st to a->out, or releases it on error. */
int os_state_finish(os_act *a, infra_json *st, int error);
/* Refreshes st's "tags" from the object's tags (os_tags_user_json). */
int os_state_tags(infra_json *st, const infra_json *obj);
/* The external networks (router:external), listed once per provider: a
 * new array. */
int os_external_networks(infra_provider *p, infra_call *call, infra_json **out);
/* The external network named or identified by ref ("Ext-Net"): 0 with
 * *id (caller frees); INFRA_EINVALID with a diagnostic at attr listing
 * the external networks there are. */
int os_external_network(os_act *a, const char *ref, const char *attr, char **id);

/* ------------------------------------------------------------------ */
/* Resource types (one file each)                                      */

extern const os_handler os_network_handler;       /* os_network.c */
extern const os_handler os_subnet_handler;        /* os_network.c */
extern const os_handler os_router_handler;        /* os_router.c */
extern const os_handler os_firewall_handler;      /* os_secgroup.c */
extern const os_handler os_port_handler;          /* os_port.c */
extern const os_handler os_floating_ip_handler;   /* os_port.c */
extern const os_handler os_key_pair_handler;      /* os_keypair.c */
extern const os_handler os_instance_handler;      /* os_server.c */
extern const os_handler os_image_handler;         /* os_image.c */
extern const os_handler os_load_balancer_handler; /* os_lb.c */
extern const os_handler os_dns_record_handler;    /* os_dns.c */

/* os_secgroup.c: rules, exposed for tests. */
typedef struct os_rule {
    char direction[8];     /* "ingress", "egress" */
    char ethertype[5];     /* "IPv4", "IPv6" */
    char protocol[8];      /* "tcp", "udp", "icmp", "" (any) */
    long port_min;         /* -1: none */
    long port_max;         /* -1: none */
    char remote_ip[64];    /* a CIDR, or "" */
    char remote_group[64]; /* a security group id, "self", or "" */
} os_rule;
/* The portable allow list and the OpenStack-form ingress / egress lists
 * as rules (sorted, duplicates dropped). Diagnostics at "allow[i]" etc. */
int os_rules_parse(infra_call *call, const infra_json *allow, const infra_json *ingress,
                   const infra_json *egress, os_rule **out, size_t *n);
/* A Neutron security_group_rule object as a rule; self_id is the group's
 * own id (a rule naming it as remote group reads "self"). */
void os_rule_from_json(const infra_json *obj, const char *self_id, os_rule *out);
/* The POST body {"security_group_rule": {...}} of rule for group (new value). */
infra_json *os_rule_body(const os_rule *r, const char *group_id);
/* qsort order of rules; 0 when they say the same. */
int os_rule_cmp(const void *x, const void *y);

/* os_server.c / os_server_wait.c: servers, exposed for tests. */
/* The SSH host key fingerprint cloud-init printed in a console log: the
 * block -----BEGIN SSH HOST KEY FINGERPRINTS----- ... END, ECDSA preferred,
 * then ED25519, then the first; lines may carry a prefix ("ci-info: ",
 * "ec2: "). 0 with *out ("SHA256:...", caller frees), INFRA_ENOTFOUND. */
int os_console_fingerprint(const char *console, char **out);
/* Waits until server id is ACTIVE ("ACTIVE") or gone ("DELETED"), polling
 * every server waited on at once with one list call (tags-any of their
 * tokens) where tokens are known. 0 with *server (the server object,
 * caller releases; may be NULL); INFRA_ECONFLICT when it goes to ERROR
 * (the fault in the diagnostic); INFRA_ETRANSIENT on timeout. */
int os_waiter_wait(infra_provider *p, infra_call *call, const char *id, const char *token,
                   const char *target, int64_t timeout_ms, infra_json **server);
/* The private address of server id (its first fixed IPv4 not on an
 * external network, else its first IPv4): 0 with *ip (caller frees). */
int os_server_address(os_act *a, const char *id, char **ip);
/* POST /servers of a->planned (an instance's configuration), tagged
 * with the call's infra tags: 0 with *id (caller frees). */
int os_server_post(os_act *a, char **id);
/* Deletes server id and waits until it is gone; gone already is 0. */
int os_server_delete(os_act *a, const char *id, const char *token);
/* The fingerprint in the console log of id, waiting at most wait_ms for
 * cloud-init to print it. INFRA_ENOTFOUND when it does not. */
int os_server_console_fingerprint(os_act *a, const char *id, int64_t wait_ms, char **out);

/* os_bake.c: built images (an images: entry with build:, docs/images.md) */

/* 1 when an image's configuration (or state) has a build block. */
int os_bake_is_build(const infra_json *config);
/* Offline checks of a build block: diagnostics at "build.KEY". */
int os_bake_validate(infra_call *call, const infra_json *config);
/* plan() of a built image: build_hash and base_id, and what a new
 * generation makes unknown when the hash differs from prior's. */
int os_bake_plan(infra_provider *p, infra_call *call, const infra_json *prior, infra_json *plan);
/* Create or update: the generation of the planned hash, adopted or built. */
int os_bake_apply(os_act *a);
/* Deletes the generations the state names (and their volume snapshots)
 * and any build server of the resource left. */
int os_bake_remove(os_act *a);
/* Refresh; without a state, what an interrupted create made (by token). */
int os_bake_read(os_act *a);
os_waiter *os_waiter_new(void);
void os_waiter_free(os_waiter *w);
/* How many list or get calls the waiter has made (for tests). */
long os_waiter_polls(const os_waiter *w);

/* os_image.c: Glance. */
/* The image to boot: a UUID as it is, else the newest active image whose
 * name matches ref (exactly, or as a glob with * and ?). 0 with *id
 * (caller frees); INFRA_EINVALID with a diagnostic at attr. */
int os_image_resolve(os_act *a, const char *ref, const char *attr, char **id);
/* Index of the newest (created_at) of images (a JSON list) whose name
 * matches pattern and whose status is active; -1 when none. */
long os_image_pick(const infra_json *images, const char *pattern);

#endif
