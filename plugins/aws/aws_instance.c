/* Instances. RunInstances carries the create's token as ClientToken, so a
 * repeated call (a retry, or the next run after a crash) hands back the
 * instance the first one launched, and only a create resumed from an
 * earlier run looks for it first; the wait for "running" goes through
 * the provider's shared waiter. The instance boots with an SSH host key
 * infra derived for it (aws_hostkey.c), so its fingerprint is known
 * without asking; with ssh_host_key: console, it is read from the console
 * output as cloud-init prints it, waited for only by cluster nodes, which
 * a scheduler logs in to next. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define FINGERPRINT_WAIT_MS 30000

static const char *const size_keys[] = {"size", "machine", "instance_type", NULL};
static const char *const cluster_keys[] = {"role", "cluster", "region", "datacenter", NULL};

static const aws_ec2_kind instance_kind = {.describe = "DescribeInstances",
                                           .set = "reservationSet",
                                           .inner = "instancesSet",
                                           .id_elem = "instanceId",
                                           .state_elem = "instanceState/name",
                                           .filter = "instance-id",
                                           .page_max = 1000};

static char *size_of(const infra_json *cfg)
{
    const infra_json *v = NULL;
    aws_json_alias_value(cfg, size_keys, &v, NULL);
    return v ? aws_json_to_text(v) : NULL;
}

/* The tags of the instance: infra:*, Name, tags, and the cluster keys. */
static int instance_tags(aws_act *a, aws_tags *out)
{
    const infra_json *user = AJ->get(a->planned, "tags");
    int error = aws_tags_build(a->call, pu_json_str(a->planned, "name"), user, out);
    for (size_t i = 0; error == 0 && cluster_keys[i] != NULL; i++) {
        char *v = aws_json_to_text(AJ->get(a->planned, cluster_keys[i]));
        if (v != NULL && pu_json_str(user, cluster_keys[i]) == NULL)
            aws_tags_set(out, cluster_keys[i], v);
        free(v);
    }
    /* Cloud auto-join: clients that join by themselves (an autoscaling
     * pool's) find their region's servers by this tag alone, one tag being
     * all go-discover filters on. Set at launch, like the other infra:
     * tags. */
    const char *role = pu_json_str(a->planned, "role");
    const char *cluster = pu_json_str(a->planned, "cluster");
    const char *region = pu_json_str(a->planned, "region");
    if (error == 0 && role && strcmp(role, "server") == 0 && cluster && region) {
        const char *topo =
            INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(a->call) : "";
        const char *env =
            INFRA_HAS_SLOT(pu_host, call_environment) ? pu_host->call_environment(a->call) : "";
        char *join = pu_printf("%s.%s.%s.%s", topo && *topo ? topo : "-",
                               env && *env ? env : "default", cluster, region);
        aws_tags_set(out, "infra:join", join);
        free(join);
    }
    return error;
}

/* RunInstances of a->planned under client_token; with key, the user
 * data also gives the instance host_key. */
static int run_instance(aws_act *a, const char *client_token, const aws_host_key *host_key,
                        char **id, char **state)
{
    const infra_json *pub = AJ->get(a->planned, "public_ip");
    const char *subnet = pu_json_str(a->planned, "subnet");
    const char *key = pu_json_str(a->planned, "key_pair");
    const char *user_data = pu_json_str(a->planned, "user_data");
    const char *zone = pu_json_str(a->planned, "availability_zone");
    char *ami = NULL, *size = size_of(a->planned);
    char **groups = NULL;
    aws_params q = {0};
    aws_tags tags = {0};
    aws_resp *r = NULL;
    int error, want_public = 0;
    int asked = pub != NULL && AJ->type(pub) != INFRA_JSON_STRING &&
                pu_json_to_bool(pub, &want_public) == 0;

    if (size == NULL) {
        pu_diagf(a->call, "size", "an instance needs size: an instance type such as t3.micro");
        error = INFRA_EINVALID;
        goto done;
    }
    if (aws_json_strv(AJ->get(a->planned, "firewalls"), &groups) < 0) {
        pu_diagf(a->call, "firewalls", "firewalls must be a list of security group ids");
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = aws_image_resolve(a->p, a->call, "image", pu_json_str(a->planned, "image"),
                                   &ami)) < 0 ||
        (error = instance_tags(a, &tags)) < 0)
        goto done;
    aws_params_add(&q, "ImageId", ami);
    aws_params_add(&q, "InstanceType", size);
    aws_params_add(&q, "MinCount", "1");
    aws_params_add(&q, "MaxCount", "1");
    aws_params_add(&q, "ClientToken", client_token);
    if (key != NULL && *key)
        aws_params_add(&q, "KeyName", key);
    char *with_key = host_key != NULL ? aws_user_data_with_key(user_data, host_key) : NULL;
    const char *sent = with_key != NULL ? with_key : user_data;
    if (sent != NULL && *sent) {
        char *encoded = aws_base64_encode(sent, strlen(sent));
        aws_params_add(&q, "UserData", encoded);
        aws_free_secret_copy(encoded);
    }
    aws_free_secret_copy(with_key);
    if (asked) {
        /* A public address is asked per network interface. */
        aws_params_add(&q, "NetworkInterface.1.DeviceIndex", "0");
        if (subnet != NULL)
            aws_params_add(&q, "NetworkInterface.1.SubnetId", subnet);
        aws_params_add_bool(&q, "NetworkInterface.1.AssociatePublicIpAddress", want_public);
        aws_params_list(&q, AWS_LIST_EC2, "NetworkInterface.1.SecurityGroupId", groups);
    } else {
        if (subnet != NULL)
            aws_params_add(&q, "SubnetId", subnet);
        aws_params_list(&q, AWS_LIST_EC2, "SecurityGroupId", groups);
    }
    if (zone != NULL && *zone)
        aws_params_add(&q, "Placement.AvailabilityZone", zone);
    aws_tags_spec(&q, 1, "instance", &tags);
    error =
        aws_query(a->p, a->call, AWS_EC2, "RunInstances", &q, "", AWS_SAFE | AWS_FRESH, NULL, &r);
    if (error == 0) {
        xmlNode *item = aws_xml_path(r->result, "instancesSet/item");
        *id = aws_xml_get(item, "instanceId");
        *state = aws_xml_get(item, "instanceState/name");
        if (*id == NULL || **id == '\0') {
            pu_diagf(a->call, "", "aws: RunInstances in %s answered no instanceId", a->p->region);
            error = INFRA_EINTERNAL;
        }
    }
done:
    aws_resp_free(r);
    for (size_t i = 0; i < q.n; i++) /* the user data holds the private host key */
        if (strcmp(q.keys[i], "UserData") == 0)
            OPENSSL_cleanse(q.values[i], strlen(q.values[i]));
    aws_params_free(&q);
    aws_tags_free(&tags);
    aws_strv_free(groups);
    free(ami);
    free(size);
    return error;
}

/* base plus what EC2 says of the instance. */
static int instance_state(const infra_json *base, const aws_instance *info, const char *fingerprint,
                          infra_json **out)
{
    infra_json *st = aws_state_new(base);
    int error;
    if ((error = pu_json_set_str(st, "id", info->id)) < 0 ||
        (error = pu_json_set_str(st, "private_ip", info->private_ip)) < 0 ||
        (error = pu_json_set_str(st, "public_ip", info->public_ip)) < 0 ||
        (error = pu_json_set_str(st, "private_dns", info->private_dns)) < 0 ||
        (error = pu_json_set_str(st, "public_dns", info->public_dns)) < 0 ||
        (error = pu_json_set_str(st, "state", info->state)) < 0 ||
        (error = pu_json_set_str(st, "network", info->vpc)) < 0 ||
        (error = pu_json_set_int(st, "ssh_port", 22)) < 0)
        goto done;
    if (info->zone != NULL && (error = pu_json_set_str(st, "availability_zone", info->zone)) < 0)
        goto done;
    /* Kept only where the config has it: EC2's answer, so that a change
     * behind infra's back shows in the plan. */
    if (AJ->get(st, "source_dest_check") != NULL && info->source_dest_check >= 0 &&
        (error = pu_json_set_bool(st, "source_dest_check", info->source_dest_check)) < 0)
        goto done;
    if (pu_json_str(st, "ssh_user") == NULL &&
        (error = pu_json_set_str(st, "ssh_user", "root")) < 0)
        goto done;
    if (fingerprint != NULL || AJ->get(st, "ssh_host_key_fingerprint") == NULL)
        error = pu_json_set_str(st, "ssh_host_key_fingerprint", fingerprint);
done:
    if (error < 0)
        AJ->release(st);
    else
        *out = st;
    return error;
}

/* 1 when a scheduler logs in to the instance (it is a cluster node), so
 * that its create must end with a fingerprint to check the host key by. */
static int needs_fingerprint(const infra_json *planned)
{
    return pu_json_str(planned, "cluster") != NULL || pu_json_str(planned, "role") != NULL;
}

/* The source/destination check the config wants: 1 or 0, or -1 when it
 * leaves it to EC2 (not given now nor before; given before and no longer,
 * it goes back to EC2's default, on). */
static int wanted_check(const infra_json *planned, const infra_json *prior)
{
    const infra_json *v = AJ->get(planned, "source_dest_check");
    int b;
    if (v != NULL && pu_json_to_bool(v, &b) == 0)
        return b;
    return prior != NULL && AJ->get(prior, "source_dest_check") != NULL ? 1 : -1;
}

/* ModifyInstanceAttribute SourceDestCheck when info (what EC2 said of the
 * instance) differs from want; info then says want. */
static int sync_check(aws_act *a, const char *id, int want, aws_instance *info)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    if (want < 0 || info->source_dest_check == want)
        return 0;
    aws_params_add(&q, "InstanceId", id);
    aws_params_add_bool(&q, "SourceDestCheck.Value", want);
    int error = aws_query(a->p, a->call, AWS_EC2, "ModifyInstanceAttribute", &q,
                          "source_dest_check", AWS_SAFE | AWS_FRESH, NULL, &r);
    if (error == 0)
        info->source_dest_check = want;
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

static int instance_create(aws_act *a)
{
    const char *token = pu_host->call_token(a->call);
    const char *mode = pu_json_str(a->planned, "ssh_host_key");
    const infra_json *pub = AJ->get(a->planned, "public_ip");
    char client_token[65];
    aws_instance *v = NULL, info = {0};
    aws_host_key key = {0};
    size_t n = 0;
    char *id = NULL, *state = NULL, *fingerprint = NULL;
    infra_json *st = NULL;
    int error = 0, generated = 0;

    aws_client_token(token, NULL, client_token);
    if (mode == NULL || strcmp(mode, "generate") == 0) {
        /* A host without secrets cannot keep the seed: the console then. */
        if ((error = aws_host_key_for(a->call, &key)) < 0 && error != INFRA_ENOTSUP)
            goto done;
        generated = error == 0;
    }
    /* ClientToken makes a repeated RunInstances hand back the instance the
     * first launched: only a create resumed from an earlier run looks for
     * it first (and one that died before it was recorded is replaced). */
    if (aws_resuming(a->call) && (error = aws_instances_by_token(a->p, a->call, token, &v, &n)) < 0)
        goto done;
    if (n > 0) {
        id = pu_strdup(v[0].id);
    } else {
        error = run_instance(a, client_token, generated ? &key : NULL, &id, &state);
        if (error == 0 && state != NULL &&
            (strcmp(state, "terminated") == 0 || strcmp(state, "shutting-down") == 0)) {
            /* The token's instance died before it was recorded: launch
             * another under a token derived from the dead one. */
            aws_client_token(token, id, client_token);
            free(id);
            free(state);
            id = state = NULL;
            error = run_instance(a, client_token, generated ? &key : NULL, &id, &state);
        }
        if (error == INFRA_ECONFLICT)
            pu_diagf(a->call, "",
                     "aws: RunInstances in %s: the launch this create started had "
                     "other parameters; run infra up again",
                     a->p->region);
    }
    if (error < 0)
        goto done;
    if ((error = aws_waiter_wait(a->p, a->call, "", id, "running", AWS_WAIT_INSTANCE_MS, &info)) <
            0 ||
        (error = sync_check(a, id, wanted_check(a->planned, NULL), &info)) < 0)
        goto done;
    if (generated) {
        fingerprint = pu_strdup(key.fingerprint);
    } else if (needs_fingerprint(a->planned)) {
        /* A scheduler logs in next: it needs the key cloud-init made. */
        if (aws_console_wait_fingerprint(a->p, a->call, id, FINGERPRINT_WAIT_MS, &fingerprint) ==
            INFRA_ECANCELLED) {
            error = INFRA_ECANCELLED;
            goto done;
        }
        if (fingerprint == NULL)
            pu_logf(a->call, INFRA_LOG_INFO,
                    "instance %s: no SSH host key fingerprint in the console output yet", id);
    }
    if ((error = instance_state(a->planned, &info, fingerprint, &st)) < 0)
        goto done;
    int b = 0;
    if (pub != NULL && AJ->type(pub) != INFRA_JSON_STRING && pu_json_to_bool(pub, &b) == 0)
        error = pu_json_set_bool(st, "associate_public_ip", b);
    else
        error = pu_json_set_str(st, "associate_public_ip", NULL);
done:
    aws_instances_free(v, n);
    aws_instance_clear(&info);
    aws_host_key_clear(&key);
    free(id);
    free(state);
    free(fingerprint);
    return aws_state_finish(a, st, error);
}

static int describe_instance(aws_act *a, const char *id, aws_instance *out)
{
    aws_instance *v = NULL;
    size_t n = 0;
    char *ids[] = {(char *)id, NULL};
    int error = aws_instances_describe(a->p, a->call, "", ids, &v, &n);
    memset(out, 0, sizeof(*out));
    if (error == 0 && n == 0)
        error = INFRA_ENOTFOUND;
    if (error == 0) {
        *out = v[0];
        memset(&v[0], 0, sizeof(v[0]));
    }
    aws_instances_free(v, n);
    return error;
}

static int instance_update(aws_act *a)
{
    const char *id = aws_state_id(a->prior);
    char **want = NULL, **had = NULL;
    aws_instance info = {0};
    infra_json *st = NULL;
    int error = 0;

    if (id == NULL)
        return INFRA_ENOTFOUND;
    if (aws_json_strv(AJ->get(a->planned, "firewalls"), &want) < 0 ||
        aws_json_strv(AJ->get(a->prior, "firewalls"), &had) < 0) {
        pu_diagf(a->call, "firewalls", "firewalls must be a list of security group ids");
        error = INFRA_EINVALID;
        goto done;
    }
    if (!aws_strv_same_set(want, had) && aws_strv_len(want) > 0) {
        aws_params q = {0};
        aws_resp *r = NULL;
        aws_params_add(&q, "InstanceId", id);
        aws_params_list(&q, AWS_LIST_EC2, "GroupId", want);
        error = aws_query(a->p, a->call, AWS_EC2, "ModifyInstanceAttribute", &q, "firewalls",
                          AWS_SAFE | AWS_FRESH, NULL, &r);
        aws_resp_free(r);
        aws_params_free(&q);
    }
    if (error == 0)
        error = aws_tags_sync(a->p, a->call, id, a->prior, a->planned, cluster_keys);
    if (error == 0)
        error = describe_instance(a, id, &info);
    if (error == 0)
        error = sync_check(a, id, wanted_check(a->planned, a->prior), &info);
    if (error == 0 &&
        (error = instance_state(a->planned, &info,
                                pu_json_str(a->prior, "ssh_host_key_fingerprint"), &st)) == 0)
        error =
            pu_json_set_copy(st, "associate_public_ip", AJ->get(a->prior, "associate_public_ip"));
done:
    aws_instance_clear(&info);
    aws_strv_free(want);
    aws_strv_free(had);
    return aws_state_finish(a, st, error);
}

static int instance_apply(aws_act *a)
{
    return a->prior == NULL ? instance_create(a) : instance_update(a);
}

static int instance_remove(aws_act *a)
{
    const char *id = aws_state_id(a->prior);
    if (id == NULL)
        return 0;
    int error = aws_query_simple(a->p, a->call, AWS_EC2, "TerminateInstances", "", AWS_SAFE,
                                 "InvalidInstanceID.NotFound", "InstanceId.1", id, NULL);
    if (error == INFRA_ENOTFOUND)
        return 0;
    /* Dependents (subnets, groups) can only go once it is gone. */
    if (error == 0)
        error = aws_waiter_wait(a->p, a->call, "", id, "terminated", AWS_WAIT_INSTANCE_MS, NULL);
    return error;
}

/* The configured attributes EC2 can tell, under the state's own keys. */
static int refresh_config(infra_json *st, const aws_instance *info)
{
    const infra_json *v = NULL;
    const char *key = NULL;
    int error = 0;
    if (aws_json_alias_value(st, size_keys, &v, &key) == 0 && info->type != NULL)
        error = pu_json_set_str(st, key, info->type);
    const char *image = pu_json_str(st, "image");
    if (error == 0 && image != NULL && aws_is_ami_id(image) && info->image != NULL)
        error = pu_json_set_str(st, "image", info->image);
    if (error == 0 && AJ->get(st, "subnet") != NULL)
        error = pu_json_set_str(st, "subnet", info->subnet);
    if (error == 0 && AJ->get(st, "key_pair") != NULL)
        error = pu_json_set_str(st, "key_pair", info->key_name);
    if (error == 0 && AJ->get(st, "firewalls") != NULL) {
        char **had = NULL;
        if (aws_json_strv(AJ->get(st, "firewalls"), &had) < 0 ||
            !aws_strv_same_set(had, info->groups))
            error = aws_json_set_strv(st, "firewalls", info->groups);
        aws_strv_free(had);
    }
    if (error == 0)
        error = aws_tags_read(st, &info->tags, cluster_keys);
    return error;
}

/* What read() makes of info: gone when terminated (or going), else its
 * state, the fingerprint read from the console while the state has none. */
static int instance_refresh_info(aws_act *a, const aws_instance *info)
{
    infra_json *st = NULL;
    char *fingerprint = NULL;
    int error;

    if (strcmp(info->state, "terminated") == 0 || strcmp(info->state, "shutting-down") == 0)
        return INFRA_ENOTFOUND;
    const char *fp = pu_json_str(a->state, "ssh_host_key_fingerprint");
    if (fp == NULL && strcmp(info->state, "running") == 0 &&
        aws_console_wait_fingerprint(a->p, a->call, info->id, 0, &fingerprint) == INFRA_ECANCELLED)
        return INFRA_ECANCELLED;
    error = instance_state(a->state, info, fp ? fp : fingerprint, &st);
    if (error == 0 && a->state != NULL)
        error = refresh_config(st, info);
    free(fingerprint);
    return aws_state_finish(a, st, error);
}

static int instance_refresh(aws_act *a, const char *id, const xmlNode *item)
{
    aws_instance info;
    (void)id;
    aws_instance_parse(item, &info);
    int error = instance_refresh_info(a, &info);
    aws_instance_clear(&info);
    return error;
}

static int instance_read(aws_act *a)
{
    aws_instance info = {0};
    int error;

    if (a->state == NULL) {
        aws_instance *v = NULL;
        size_t n = 0;
        if ((error = aws_instances_by_token(a->p, a->call, pu_host->call_token(a->call), &v, &n)) <
            0)
            return error;
        if (n == 0) {
            aws_instances_free(v, n);
            return INFRA_ENOTFOUND;
        }
        info = v[0];
        memset(&v[0], 0, sizeof(v[0]));
        aws_instances_free(v, n);
    } else {
        const char *id = aws_state_id(a->state);
        if (id == NULL)
            return INFRA_ENOTFOUND;
        if ((error = describe_instance(a, id, &info)) < 0)
            return error;
    }
    error = instance_refresh_info(a, &info);
    aws_instance_clear(&info);
    return error;
}

static int instance_read_many(aws_many *m)
{
    return aws_ec2_read_many(m, &instance_kind, NULL, instance_refresh);
}

const aws_handler aws_instance_handler = {"instance", instance_apply, instance_remove,
                                          instance_read, instance_read_many};
