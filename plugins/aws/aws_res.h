/* The resource types: what an apply, delete or read of each gets, the
 * tags every created object carries, the shared instance waiter, and the
 * pure pieces the unit tests check (image choice, console fingerprint). */
#ifndef AWS_RES_H
#define AWS_RES_H

#include "aws_api.h"

/* Waits of the provider. */
#define AWS_WAIT_INSTANCE_MS 600000 /* running / terminated */
#define AWS_WAIT_NAT_MS 600000      /* available / deleted */
#define AWS_WAIT_DNS_MS 300000      /* INSYNC */
#define AWS_WAIT_GONE_MS 600000     /* an Auto Scaling group deleted */

/* One operation on one resource: create (prior NULL), update, delete
 * (planned NULL) or read (state; NULL = find the object made under
 * call_token). Every pointer is borrowed except what goes to *out and
 * *priv_out (host-allocated). */
typedef struct aws_act {
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
} aws_act;

/* The resources of one type that one read_many call refreshes together,
 * each with a state (those looked up by token go through read() one by
 * one). acts[i] is resource i as read() would get it: its own call (for
 * its diagnostics), state and private blob, and *acts[i].out its item's
 * result. Every pointer is borrowed. */
typedef struct aws_many {
    infra_provider *p;
    infra_call *call; /* the batch's call: the API calls made for all of them */
    aws_act *acts;
    int *results; /* set for every act: 0, INFRA_ENOTFOUND when gone, or INFRA_E* */
    size_t n;
} aws_many;

/* The handlers of one resource type. */
typedef struct aws_handler {
    const char *type;
    int (*apply)(aws_act *a);  /* create or update; sets *a->out */
    int (*remove)(aws_act *a); /* delete a->prior; gone already = 0 */
    int (*read)(aws_act *a);   /* refresh a->state into *a->out; INFRA_ENOTFOUND when gone */
    /* refresh every act of m in as few calls as the API allows, with the
     * same outcome read() has for each; 0, or an error failing them all.
     * NULL: read() one by one. */
    int (*read_many)(aws_many *m);
} aws_handler;

/* The handler of type, or NULL. */
const aws_handler *aws_handler_find(const char *type);

/* ------------------------------------------------------------------ */
/* aws_tags.c                                                          */

typedef struct aws_tag {
    char *key;
    char *value;
} aws_tag;

typedef struct aws_tags {
    aws_tag *v;
    size_t n;
} aws_tags;

/* Sets key to value (replacing an existing key). */
void aws_tags_set(aws_tags *t, const char *key, const char *value);
/* The value of key, or NULL (borrowed). */
const char *aws_tags_get(const aws_tags *t, const char *key);
void aws_tags_free(aws_tags *t);
/* Adds to out the tags of t that infra does not own (not infra:*): what an
 * update sets again, the infra:* keys staying as the create set them. */
void aws_tags_without_infra(const aws_tags *t, aws_tags *out);

/* The tags of an object made by this call: infra:topology, infra:environment,
 * infra:address, infra:token (when the call has one), Name (name, else the
 * user's tags.Name, else a name derived from the address), then the user's
 * tags (a map; diagnostics at "tags.KEY" for keys AWS refuses). */
int aws_tags_build(infra_call *call, const char *name, const infra_json *user_tags, aws_tags *out);
/* TagSpecification.INDEX.ResourceType=type, ...Tag.N.Key/Value (EC2 creates). */
void aws_tags_spec(aws_params *p, size_t index, const char *resource_type, const aws_tags *t);
/* Tag.N.Key / Tag.N.Value (EC2 CreateTags). */
void aws_tags_ec2(aws_params *p, const aws_tags *t);
/* Tags.member.N.Key / .Value (ELB). */
void aws_tags_member(aws_params *p, const aws_tags *t);
/* The tags of an EC2 tagSet element. */
void aws_tags_parse(const xmlNode *tag_set, aws_tags *out);
/* The same for the ELB and Auto Scaling shape: member elements of tags,
 * each with Key and Value; adds to out (which the caller initialised). */
void aws_tags_parse_members(const xmlNode *tags, aws_tags *out);
/* The user's part of actual tags as the state shows them: without infra:*
 * keys, Name and the keys of managed (unless prior_tags names them), each
 * value kept as prior_tags wrote it when its text is the same. */
int aws_tags_user_json(const aws_tags *actual, const infra_json *prior_tags,
                       const char *const *managed, infra_json **out);
/* Refreshes "name" (when st has it) from the Name tag and "tags" from the
 * user's part of actual (aws_tags_user_json). */
int aws_tags_read(infra_json *st, const aws_tags *actual, const char *const *managed);
/* Brings the tags of EC2 resource id from the tags of prior to those of
 * planned: CreateTags for what is new or changed, DeleteTags for user keys
 * that went away. Never touches infra:* keys. */
int aws_tags_sync(infra_provider *p, infra_call *call, const char *id, const infra_json *prior,
                  const infra_json *planned, const char *const *extra_keys);

/* ------------------------------------------------------------------ */
/* aws_lookup.c: helpers every EC2 resource uses                       */

/* The id of the one object of a Describe call filtered by tag
 * infra:token = token (and extra filters in params), at item_path/id_elem,
 * skipping items whose state_elem is one of skip_states (space-separated).
 * 0 with *id (caller frees), INFRA_ENOTFOUND when none. */
int aws_find_by_token(infra_provider *p, infra_call *call, const char *action,
                      const char *item_path, const char *id_elem, const char *state_elem,
                      const char *skip_states, const char *token, aws_params *params, char **id);
/* DescribeX with id_key=id (quiet about *.NotFound): 0 with *resp and
 * *item (the first item of set), INFRA_ENOTFOUND when EC2 does not know
 * it. Free *resp. */
int aws_describe_one(infra_provider *p, infra_call *call, const char *action, const char *id_key,
                     const char *id, const char *set, unsigned flags, aws_resp **resp,
                     xmlNode **item);
/* Polls aws_describe_one until state_elem of the item is target ("deleted"
 * is also reached when EC2 no longer knows it), with backoff. A state in
 * fail_states (space-separated) is INFRA_ECONFLICT; the deadline
 * INFRA_ETRANSIENT, both with a diagnostic at attr. */
int aws_wait_state(infra_provider *p, infra_call *call, const char *attr, const char *action,
                   const char *id_key, const char *id, const char *set, const char *state_elem,
                   const char *target, const char *fail_states, int64_t timeout_ms);
/* How the objects of one EC2 type are found: the Describe call, the set
 * of its answer, the id and state elements of an item, and how a batch
 * names many of them. */
typedef struct aws_ec2_kind {
    const char *describe;   /* "DescribeVpcs" */
    const char *set;        /* "vpcSet" */
    const char *id_elem;    /* "vpcId" */
    const char *state_elem; /* "state", or NULL when the type has none */
    const char *filter;     /* the filter naming objects by id ("vpc-id"), for batches */
    long page_max;          /* MaxResults the call takes (its maximum), 0 when it does not page */
    const char *inner;      /* DescribeInstances: the set inside each item of set */
} aws_ec2_kind;
/* 1 when the call's token comes from an earlier, interrupted run (the
 * object of its create may exist), or when the host cannot say. */
int aws_resuming(infra_call *call);
/* 1 when what the create of a would make may exist already: its token
 * comes from an earlier run, or this context tried the create before (a
 * retry after a failure that may have followed the object's making);
 * records the try. A first try of a token new in this run needs no
 * lookup before it. */
int aws_create_may_exist(aws_act *a);
/* aws_find_mine when aws_create_may_exist(a), else INFRA_ENOTFOUND. */
int aws_find_mine_before_create(aws_act *a, const aws_ec2_kind *kind, char **id);
/* The object of kind an earlier try of this create made (tagged with the
 * call's infra:token): 0 with *id (caller frees), INFRA_ENOTFOUND when
 * there is none and it has to be made. */
int aws_find_mine(aws_act *a, const aws_ec2_kind *kind, char **id);
/* The id a read refreshes: the state's, or without a state the object
 * made under the call's token (then also in *found, which the caller
 * frees). 0 with *id, INFRA_ENOTFOUND when there is none. */
int aws_read_id(aws_act *a, const aws_ec2_kind *kind, const char **id, char **found);
/* The id an update changes, from a->prior (caller frees): 0, or
 * INFRA_ENOTFOUND when the prior state names none. */
int aws_prior_id(const aws_act *a, char **id);
/* Creates an EC2 object with action: q (the caller's parameters) gets the
 * tags of a->planned as TagSpecification.1 of resource_type, and the new
 * id is read at id_path of the answer. 0 with *id (caller frees); errors
 * with a diagnostic at attr. q stays the caller's to free. */
int aws_ec2_create(aws_act *a, const char *action, aws_params *q, const char *resource_type,
                   const char *attr, unsigned flags, const char *id_path, char **id);
/* One Query call with the NULL-terminated key, value pairs as parameters,
 * whose answer matters only by its error: deletes, attaches, detaches.
 * Errors as aws_query (quiet codes without a diagnostic). */
int aws_query_simple(infra_provider *p, infra_call *call, aws_service svc, const char *action,
                     const char *attr, unsigned flags, const char *quiet, ...)
    __attribute__((sentinel));
/* Deletes an object with one call action key=value (value from a->prior);
 * a NULL value (the state names no object) and an object already gone
 * (quiet codes) are success. */
int aws_remove_simple(aws_act *a, aws_service svc, const char *action, const char *key,
                      const char *value, unsigned flags, const char *quiet);
/* The first of several keys of obj holding a string ("network" or "vpc"). */
const char *aws_json_str_any(const infra_json *obj, const char *const *keys);
/* The state every type starts from: a copy of base (planned or prior) or
 * an empty object. */
infra_json *aws_state_new(const infra_json *base);
/* Returns a handler's partial result as *a->out; releases st on error. */
int aws_state_finish(aws_act *a, infra_json *st, int error);
/* The id of the object a state names ("id"), or NULL. */
const char *aws_state_id(const infra_json *state);
/* Sets keys to the same JSON value as key in st, unless already set. Used
 * for aliases (size / machine / instance_type). */
int aws_json_alias_value(const infra_json *obj, const char *const *keys, const infra_json **out,
                         const char **key);

/* ------------------------------------------------------------------ */
/* aws_batch.c: batched refresh                                        */

/* Values of one EC2 filter, and so ids named by one call. */
#define AWS_FILTER_MAX 200

/* The read_many slot of the provider (aws.c puts it in the ops table). */
int aws_read_many(infra_provider *self, infra_call *call, const char *type, infra_read_item *items,
                  size_t count);

/* Describes the EC2 objects of kind whose ids are ids[0..n) in as few
 * calls as the API allows, following NextToken: up to AWS_FILTER_MAX ids
 * with one call filtered on kind->filter; more with one call filtered on
 * the call's infra:topology and infra:environment tags, then the ids it
 * did not answer by id. each(ud, i, item) is called for every ids[i] EC2
 * answered (ids[i] NULL is skipped); its error stops the batch. 0, or the
 * first error (with a diagnostic on m->call). */
int aws_ec2_batch(aws_many *m, const aws_ec2_kind *kind, const char *const *ids, size_t n,
                  int (*each)(void *ud, size_t i, const xmlNode *item), void *ud);

/* The same for every object of kind in the region, in pages: for types
 * whose calls cannot filter by id and fail when one id is unknown. */
int aws_ec2_list(aws_many *m, const aws_ec2_kind *kind, const char *const *ids, size_t n,
                 int (*each)(void *ud, size_t i, const xmlNode *item), void *ud);

/* The usual read_many of an EC2 type: the id of each act's state (or,
 * with key, the state's member key), one aws_ec2_batch, then
 * refresh(act, id, item) for each object found; what EC2 did not answer
 * is INFRA_ENOTFOUND. refresh is the code read() uses on the item it
 * describes, so that a batch sees the same drift. */
int aws_ec2_read_many(aws_many *m, const aws_ec2_kind *kind, const char *key,
                      int (*refresh)(aws_act *a, const char *id, const xmlNode *item));

/* ------------------------------------------------------------------ */
/* aws_instance_data.c: DescribeInstances and the shared waiter         */

typedef struct aws_instance {
    char *id;
    char *state; /* "pending", "running", "shutting-down", "terminated", "stopping", "stopped" */
    char *private_ip;
    char *public_ip;
    char *private_dns;
    char *public_dns;
    char *zone;
    char *subnet;
    char *vpc;
    char *image;
    char *type;
    char *key_name;
    char *client_token;
    char **groups; /* security group ids */
    aws_tags tags;
    int source_dest_check; /* 1, 0, or -1 when EC2 did not say */
} aws_instance;

void aws_instance_clear(aws_instance *i);
/* A deep copy of from into to. */
void aws_instance_copy(aws_instance *to, const aws_instance *from);
/* Reads one instancesSet item. */
void aws_instance_parse(const xmlNode *item, aws_instance *out);
/* Every instance of a DescribeInstances answer (reservationSet/item/instancesSet/item). */
int aws_instances_parse(const xmlNode *result, aws_instance **out, size_t *n);
void aws_instances_free(aws_instance *v, size_t n);

/* One DescribeInstances for every id (InstanceId.N). An id that EC2 does
 * not know (just created, or long gone) is simply absent from *out rather
 * than failing the others. */
int aws_instances_describe(infra_provider *p, infra_call *call, const char *attr, char *const *ids,
                           aws_instance **out, size_t *n);
/* The instances tagged infra:token = token that are not terminated.
 * Lookups made at the same time share one DescribeInstances (BATCH_MAX
 * tokens a call). */
int aws_instances_by_token(infra_provider *p, infra_call *call, const char *token,
                           aws_instance **out, size_t *n);
aws_lookups *aws_lookups_new(void);
void aws_lookups_free(aws_lookups *l);
/* How many DescribeInstances the lookups by token have made (for tests). */
long aws_lookups_calls(const aws_lookups *l);

/* Waits until instance id is in state target ("running", "stopped", or "terminated",
 * which a vanished instance also satisfies). Every instance waited on at
 * the same time is polled by one DescribeInstances, with backoff. 0 with
 * *out filled (may be NULL), INFRA_ETRANSIENT with a diagnostic on
 * timeout, INFRA_ECONFLICT when it ends in another final state. */
int aws_waiter_wait(infra_provider *p, infra_call *call, const char *attr, const char *id,
                    const char *target, int64_t timeout_ms, aws_instance *out);
aws_waiter *aws_waiter_new(void);
void aws_waiter_free(aws_waiter *w);
/* How many DescribeInstances the waiter has made (for tests). */
long aws_waiter_polls(const aws_waiter *w);

/* ------------------------------------------------------------------ */
/* aws_asg_group.c: Auto Scaling group names and descriptions           */

/* The create's token and BASE: group N of the resource is BASE-gN. */
typedef struct aws_asg_id {
    char *token;
    char *base;
} aws_asg_id;
void aws_asg_id_clear(aws_asg_id *g);
/* The token and base: from the private blob of a, else from its call
 * (base then derived from the address and the token). */
void aws_asg_id_load(const aws_act *a, aws_asg_id *g);
/* Writes them as the private blob of a (*a->priv_out, host-allocated). */
int aws_asg_id_save(aws_act *a, const aws_asg_id *g);
/* "BASE-gN" (caller frees). */
char *aws_asg_name(const char *base, long generation);
/* N of a group named BASE-gN, -1 for another name. */
long aws_asg_generation(const char *base, const char *name);

/* What a group is now. */
typedef struct aws_asg_info {
    char *name;
    char *status; /* "Delete in progress" while going */
    char *template_id;
    char *version;
    long min, max, desired, grace;
    char *health_type;
    char *subnets; /* VPCZoneIdentifier */
    char **balancers;
    char **instances;  /* every instance of the group */
    char **in_service; /* those InService and Healthy */
    aws_tags tags;
} aws_asg_info;
void aws_asg_info_clear(aws_asg_info *g);
void aws_asg_free_all(aws_asg_info *v, size_t n);
/* One AutoScalingGroups member. */
void aws_asg_parse(const xmlNode *m, aws_asg_info *g);
/* The groups of names (NULL-terminated) that exist, and are not being
 * deleted unless with_deleting: *out, an array of *n (free with
 * aws_asg_free_all). Names that do not exist are simply absent. */
int aws_asg_describe(aws_act *a, char *const *names, int with_deleting, aws_asg_info **out,
                     size_t *n);
/* aws_asg_drain.c: detaches group from its load balancers and waits until
 * none of them, nor any of also (NULL-terminated, may be NULL), lists one
 * of its instances InService or in deregistration. 0 (also when the group
 * is gone); INFRA_ETRANSIENT with a diagnostic naming what is left when
 * deadline_ms passes first. */
int aws_asg_drain(aws_act *a, const char *group, char *const *also, int64_t deadline_ms);
/* The group called name, not being deleted: 0, or INFRA_ENOTFOUND. */
int aws_asg_one(aws_act *a, const char *name, aws_asg_info *out);
/* The generations BASE-g0 .. BASE-g(upto) that exist. */
int aws_asg_sweep(aws_act *a, const char *base, long upto, int with_deleting, aws_asg_info **out,
                  size_t *n);

/* ------------------------------------------------------------------ */
/* aws_console.c                                                       */

/* The SSH host key fingerprint cloud-init printed in console output:
 * the lines between -----BEGIN SSH HOST KEY FINGERPRINTS----- and its END,
 * the ECDSA one preferred, else ED25519, else the first. 0 with *out
 * ("SHA256:..."; caller frees), INFRA_ENOTFOUND when there is no block. */
int aws_console_fingerprint(const char *console, char **out);
/* The fingerprint in the console output of instance id (GetConsoleOutput,
 * plain or base64), waiting at most wait_ms for cloud-init to print it:
 * 0 with *out (caller frees), INFRA_ENOTFOUND when it does not,
 * INFRA_ECANCELLED. */
int aws_console_wait_fingerprint(infra_provider *p, infra_call *call, const char *id,
                                 int64_t wait_ms, char **out);

/* ------------------------------------------------------------------ */
/* aws_hostkey.c: the SSH host key an instance boots with               */

typedef struct aws_host_key {
    char *private_pem; /* "-----BEGIN EC PRIVATE KEY-----..." (a secret: zeroised when cleared) */
    char *public_line; /* "ecdsa-sha2-nistp256 AAAA... infra" */
    char *fingerprint; /* "SHA256:..." as ssh-keygen -l prints it */
} aws_host_key;
void aws_host_key_clear(aws_host_key *k);
/* The P-256 key of token under seed (deterministic). 0, or INFRA_EINTERNAL. */
int aws_host_key_derive(const void *seed, size_t seed_len, const char *token, aws_host_key *out);
/* The key of the call's create: its token under the topology's seed (the
 * secret aws.host_key_seed, made on first use). INFRA_ENOTSUP when the
 * call has no token or the host keeps no secrets. */
int aws_host_key_for(infra_call *call, aws_host_key *out);
/* user_data (may be NULL) with a cloud-config part giving k as the host
 * key: the cloud-config alone without user data, else a MIME multipart
 * whose second part is the user's data as cloud-init would read it alone
 * (caller frees; it holds the private key: aws_free_secret_copy). */
char *aws_user_data_with_key(const char *user_data, const aws_host_key *k);

/* ------------------------------------------------------------------ */
/* aws_image.c                                                         */

typedef struct aws_image {
    char *id;
    char *name;
    char *creation_date;
    char *architecture;
    char *state;
    char *owner;
} aws_image;

/* The newest (largest creationDate) of images whose name matches pattern
 * (a glob with * and ?), in state available and of architecture (when not
 * NULL). Its index, or -1 when none qualifies. */
long aws_image_pick(const aws_image *images, size_t n, const char *pattern,
                    const char *architecture);
/* Parses imagesSet/item of a DescribeImages answer. */
int aws_images_parse(const xmlNode *result, aws_image **out, size_t *n);
void aws_images_free(aws_image *v, size_t n);
void aws_image_clear(aws_image *im);
/* The newest image named like pattern among owners: 0 with *out (free
 * with aws_image_clear); INFRA_EINVALID with a diagnostic at attr
 * naming the pattern and owners when there is none. */
int aws_image_lookup(infra_provider *p, infra_call *call, const char *attr, char *const *owners,
                     const char *pattern, const char *architecture, aws_image *out);
/* The same, leaving out the generations a built image named except makes
 * (except-HASH16): a build's base never is one of its own images. */
int aws_image_lookup_except(infra_provider *p, infra_call *call, const char *attr,
                            char *const *owners, const char *pattern, const char *architecture,
                            const char *except, aws_image *out);
/* The AMI id of image: itself when it is one, else the newest of the
 * account's own images named like it (caller frees). */
int aws_image_resolve(infra_provider *p, infra_call *call, const char *attr, const char *image,
                      char **ami);
/* 1 when s looks like an AMI id ("ami-" and hex). */
int aws_is_ami_id(const char *s);

/* ------------------------------------------------------------------ */
/* Resource types (one file each)                                      */

extern const aws_handler aws_network_handler;           /* aws_vpc.c */
extern const aws_handler aws_subnet_handler;            /* aws_vpc.c */
extern const aws_handler aws_internet_gateway_handler;  /* aws_gateway.c */
extern const aws_handler aws_nat_gateway_handler;       /* aws_gateway.c */
extern const aws_handler aws_route_table_handler;       /* aws_route.c */
extern const aws_handler aws_firewall_handler;          /* aws_sg.c */
extern const aws_handler aws_key_pair_handler;          /* aws_keypair.c */
extern const aws_handler aws_instance_handler;          /* aws_instance.c */
extern const aws_handler aws_image_handler;             /* aws_image.c */
extern const aws_handler aws_load_balancer_handler;     /* aws_elb.c */
extern const aws_handler aws_launch_template_handler;   /* aws_launch.c */
extern const aws_handler aws_autoscaling_group_handler; /* aws_asg.c */
extern const aws_handler aws_dns_record_handler;        /* aws_dns.c */

/* aws_sg.c: security group rules, exposed for tests. */
typedef struct aws_rule {
    char proto[8]; /* "tcp", "udp", "icmp", "-1" */
    long from_port;
    long to_port;
    char source[64]; /* a CIDR or a security group id */
} aws_rule;
/* Parses the portable allow list and the ingress / egress lists into
 * rules (sorted, duplicates dropped). Diagnostics at "allow[i]" etc. */
int aws_rules_parse(infra_call *call, const infra_json *allow, const infra_json *list,
                    const char *attr, aws_rule **out, size_t *n);
/* IpPermissions.N... for rules (one permission per rule). */
void aws_rules_encode(aws_params *p, const aws_rule *rules, size_t n);
/* The rules of a DescribeSecurityGroups ipPermissions / ipPermissionsEgress element. */
int aws_rules_from_xml(const xmlNode *perms, aws_rule **out, size_t *n);

/* aws_elb.c: listener and health-check forms, exposed for tests. */
typedef struct aws_listener {
    char protocol[8];
    long port;
    char instance_protocol[8];
    long instance_port;
} aws_listener;
/* Listeners from listen + backend_port or from listeners; diagnostics. */
int aws_listeners_parse(infra_call *call, const infra_json *config, aws_listener **out, size_t *n);
/* Sorts listeners by port (qsort). */
int aws_listener_cmp(const void *x, const void *y);
/* 1 when both say the same. */
int aws_listener_same(const aws_listener *x, const aws_listener *y);
/* The canonical spelling of a listener protocol into out ("HTTP", "HTTPS",
 * "TCP", "SSL"); 0 when s is none of them. */
int aws_listener_protocol(const char *s, char out[8]);
/* Listeners.member.N.{Protocol, LoadBalancerPort, InstanceProtocol, InstancePort}. */
void aws_listeners_encode(aws_params *q, const aws_listener *v, size_t n);
/* Reads every Classic load balancer of the region, one DescribeLoadBalancers
 * page (Marker) at a time: page(ud, result) gets each answer and returns
 * 1 once it has what it looks for. 0, or the call's error (with a
 * diagnostic at attr). */
int aws_elb_pages(aws_act *a, const char *attr, int (*page)(void *ud, const xmlNode *result),
                  void *ud);
/* "http:8080/health" -> "HTTP:8080/health", "tcp:22" -> "TCP:22" (caller frees); NULL if malformed.
 */
char *aws_health_target(const char *health);
/* The health check numbers of cfg, AWS's defaults where it says none, the
 * timeout kept below the interval. */
void aws_health_numbers(const infra_json *cfg, long *interval, long *timeout, long *healthy,
                        long *unhealthy);
/* The health check target of cfg: health, else TCP on the first
 * listener's instance port (caller frees); NULL when health is malformed. */
char *aws_health_wanted(const infra_json *cfg, const aws_listener *l, size_t n);

/* Connection draining as a load balancer's connection_draining asks:
 * present 0 when it says nothing (the balancer's setting is left alone);
 * enabled defaults to 1 when the map is there, timeout to 300 s. */
typedef struct aws_draining {
    int present, enabled;
    long timeout;
} aws_draining;
/* Parses config's connection_draining into *out: 0, or INFRA_EINVALID with
 * a diagnostic naming the key. Pure. */
int aws_lb_draining(infra_call *call, const infra_json *config, aws_draining *out);
/* ConnectionDraining of balancer name now (DescribeLoadBalancerAttributes). */
int aws_lb_draining_read(aws_act *a, const char *name, aws_draining *out);

/* aws_elb_read.c: what a Classic balancer is now, read one by one or in a batch. */
typedef struct aws_lb_info {
    char *name;
    char *dns_name;
    char *zone_id;
    char *scheme;
    char **subnets;
    char **groups;
    char **instances;
    aws_listener *listeners; /* sorted by port */
    size_t nlisteners;
    char *health_target;
    long interval, timeout, healthy, unhealthy;
} aws_lb_info;
void aws_lb_info_clear(aws_lb_info *l);
/* The balancer called name (DescribeLoadBalancers): 0, or INFRA_ENOTFOUND
 * without a diagnostic when there is none. */
int aws_lb_describe(aws_act *a, const char *name, aws_lb_info *l);
/* Its tags (DescribeTags); INFRA_ENOTFOUND quietly when it is gone. */
int aws_lb_tags(aws_act *a, const char *name, aws_tags *out);
/* The name of a balancer the call creates without one given: derived
 * from its address and token, at most 32 characters (caller frees). */
char *aws_lb_derived_name(infra_call *call);
/* read and read_many of the load_balancer type. */
int aws_lb_read(aws_act *a);
int aws_lb_read_many(aws_many *m);

#endif
