/* The build of an image generation, as Packer's amazon-ebs builder does
 * it: launch an instance of the base image, read its SSH host key from
 * the console output, log in with that key pinned, upload the files and
 * run the commands of the steps, stop it, CreateImage, wait until the
 * image is available, and terminate the instance, whatever happened.
 *
 * Crash safety: everything the build makes carries the resource's
 * infra:* tags and infra:build-hash, and the image's name ends with the
 * hash. A rerun first adopts an image of the same hash (one an
 * interrupted run made, or an older generation still kept), and
 * otherwise terminates any build instance an interrupted run left before
 * launching its own, under a ClientToken derived from the hash (a token
 * whose instance is gone gives way to one derived from it). */
#include "aws_bake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAKE_SSH_MS 300000         /* to log in once the instance runs */
#define BAKE_FINGERPRINT_MS 300000 /* for cloud-init to print the host key */
#define BAKE_IMAGE_MS 3600000      /* for CreateImage to give an available image */
#define BAKE_TOKEN_TRIES 16

typedef struct bake {
    aws_act *a;
    const infra_json *build;
    char hash[65];
    char *base;       /* the base AMI id */
    char *prefix;     /* name: the AMI names are PREFIX-HASH16 */
    char *image_name; /* PREFIX-HASH16 */
    const char *user; /* login user */
} bake;

static void bake_clear(bake *b)
{
    free(b->base);
    free(b->prefix);
    free(b->image_name);
}

/* The filters naming what this resource made: its infra:* tags. */
static void filter_mine(const bake *b, aws_params *q)
{
    infra_call *call = b->a->call;
    const char *topo = INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(call) : "";
    const char *env =
        INFRA_HAS_SLOT(pu_host, call_environment) ? pu_host->call_environment(call) : "";
    aws_params_filter1(q, "tag:infra:topology", topo ? topo : "");
    aws_params_filter1(q, "tag:infra:environment", env ? env : "");
    aws_params_filter1(q, "tag:infra:address", pu_host->call_address(call));
}

/* The tags of what the build makes, with Name and infra:build-hash. */
static int bake_tags(const bake *b, const char *name, aws_tags *out)
{
    int error = aws_tags_build(b->a->call, name, AJ->get(b->a->planned, "tags"), out);
    if (error == 0)
        aws_tags_set(out, "infra:build-hash", b->hash);
    return error;
}

/* ------------------------------------------------------------------ */
/* Images and their snapshots                                         */

/* The image of this resource with this hash, pending or available. */
static int find_image(const bake *b, aws_image *out)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    aws_image *v = NULL;
    size_t n = 0;
    memset(out, 0, sizeof(*out));
    aws_params_add(&q, "Owner.1", "self");
    aws_params_filter1(&q, "tag:infra:build-hash", b->hash);
    filter_mine(b, &q);
    char *states[] = {"pending", "available", NULL};
    aws_params_filter(&q, "state", states);
    int error =
        aws_query(b->a->p, b->a->call, AWS_EC2, "DescribeImages", &q, "", AWS_SAFE, NULL, &r);
    if (error == 0) {
        aws_images_parse(r->result, &v, &n);
        long best = aws_image_pick(v, n, NULL, NULL);
        for (size_t i = 0; best < 0 && i < n; i++)
            if (v[i].id != NULL)
                best = (long)i; /* pending: not picked, still ours */
        if (best < 0) {
            error = INFRA_ENOTFOUND;
        } else {
            *out = v[best];
            memset(&v[best], 0, sizeof(v[best]));
        }
    }
    aws_images_free(v, n);
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

/* Deregisters ami and deletes its snapshots; gone already is success. */
static int drop_generation(infra_provider *p, infra_call *call, const char *ami)
{
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    char **snapshots = pu_calloc(1, sizeof(char *));
    int error =
        aws_describe_one(p, call, "DescribeImages", "ImageId.1", ami, "imagesSet", 0, &r, &item);
    if (error == INFRA_ENOTFOUND) {
        error = 0;
        goto done;
    }
    if (error < 0)
        goto done;
    xmlNode *set = aws_xml_child(item, "blockDeviceMapping");
    for (xmlNode *m = aws_xml_child(set, "item"); m != NULL; m = aws_xml_next(m)) {
        char *snap = aws_xml_get(m, "ebs/snapshotId");
        if (snap != NULL && *snap)
            aws_strv_push(&snapshots, snap);
        free(snap);
    }
    pu_logf(call, INFRA_LOG_INFO, "deregistering image %s", ami);
    error =
        aws_query_simple(p, call, AWS_EC2, "DeregisterImage", "", AWS_SAFE,
                         "InvalidAMIID.NotFound InvalidAMIID.Unavailable", "ImageId", ami, NULL);
    if (error == INFRA_ENOTFOUND)
        error = 0;
    for (size_t i = 0; error == 0 && snapshots[i] != NULL; i++) {
        error = aws_query_simple(p, call, AWS_EC2, "DeleteSnapshot", "", AWS_SAFE,
                                 "InvalidSnapshot.NotFound", "SnapshotId", snapshots[i], NULL);
        if (error == INFRA_ENOTFOUND)
            error = 0;
    }
done:
    aws_resp_free(r);
    aws_strv_free(snapshots);
    return error;
}

/* ------------------------------------------------------------------ */
/* The build instance                                                 */

/* Terminates the build instances an interrupted run of this resource
 * left (any hash), and waits until they are gone. */
static int clean_leftovers(const bake *b)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    aws_instance *v = NULL;
    size_t n = 0;
    filter_mine(b, &q);
    aws_params_filter1(&q, "tag-key", "infra:build-hash");
    char *states[] = {"pending", "running", "stopping", "stopped", NULL};
    aws_params_filter(&q, "instance-state-name", states);
    int error =
        aws_query(b->a->p, b->a->call, AWS_EC2, "DescribeInstances", &q, "", AWS_SAFE, NULL, &r);
    if (error == 0)
        aws_instances_parse(r->result, &v, &n);
    for (size_t i = 0; error == 0 && i < n; i++) {
        pu_logf(b->a->call, INFRA_LOG_INFO, "terminating %s, left by an interrupted build",
                v[i].id);
        error = aws_query_simple(b->a->p, b->a->call, AWS_EC2, "TerminateInstances", "", AWS_SAFE,
                                 "InvalidInstanceID.NotFound", "InstanceId.1", v[i].id, NULL);
        if (error == INFRA_ENOTFOUND)
            error = 0;
        if (error == 0)
            error = aws_waiter_wait(b->a->p, b->a->call, "", v[i].id, "terminated",
                                    AWS_WAIT_INSTANCE_MS, NULL);
    }
    aws_instances_free(v, n);
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

/* RunInstances of the base image under client_token: *id and *state. */
static int run_once(const bake *b, const char *client_token, char **id, char **state)
{
    const infra_json *build = b->build;
    const char *subnet = pu_json_str(build, "subnet");
    const char *key = pu_json_str(build, "key_pair");
    const char *size = pu_json_str(build, "size");
    const infra_json *pub = AJ->get(build, "public_ip");
    char **groups = NULL;
    aws_params q = {0};
    aws_tags tags = {0};
    aws_resp *r = NULL;
    int want_public = 0, error;
    char *name = pu_printf("%s build", b->prefix);

    if (size == NULL)
        size = pu_json_str(build, "machine");
    if (size == NULL)
        size = pu_json_str(build, "instance_type");
    if (aws_json_strv(AJ->get(build, "firewalls"), &groups) < 0) {
        pu_diagf(b->a->call, "build.firewalls", "firewalls must be a list of security group ids");
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = bake_tags(b, name, &tags)) < 0)
        goto done;
    aws_params_add(&q, "ImageId", b->base);
    aws_params_add(&q, "InstanceType", size ? size : "");
    aws_params_add(&q, "MinCount", "1");
    aws_params_add(&q, "MaxCount", "1");
    aws_params_add(&q, "ClientToken", client_token);
    if (key != NULL && *key)
        aws_params_add(&q, "KeyName", key);
    if (pub != NULL && pu_json_to_bool(pub, &want_public) == 0) {
        aws_params_add(&q, "NetworkInterface.1.DeviceIndex", "0");
        aws_params_add(&q, "NetworkInterface.1.SubnetId", subnet);
        aws_params_add_bool(&q, "NetworkInterface.1.AssociatePublicIpAddress", want_public);
        aws_params_list(&q, AWS_LIST_EC2, "NetworkInterface.1.SecurityGroupId", groups);
    } else {
        aws_params_add(&q, "SubnetId", subnet);
        aws_params_list(&q, AWS_LIST_EC2, "SecurityGroupId", groups);
    }
    aws_tags_spec(&q, 1, "instance", &tags);
    error = aws_query(b->a->p, b->a->call, AWS_EC2, "RunInstances", &q, "build",
                      AWS_SAFE | AWS_FRESH, NULL, &r);
    if (error == 0) {
        xmlNode *item = aws_xml_path(r->result, "instancesSet/item");
        *id = aws_xml_get(item, "instanceId");
        *state = aws_xml_get(item, "instanceState/name");
        if (*id == NULL || **id == '\0') {
            pu_diagf(b->a->call, "build", "aws: RunInstances in %s answered no instanceId",
                     b->a->p->region);
            error = INFRA_EINTERNAL;
        }
    }
done:
    free(name);
    aws_resp_free(r);
    aws_params_free(&q);
    aws_tags_free(&tags);
    aws_strv_free(groups);
    return error;
}

/* Launches the build instance: 0 with *id (caller frees). */
static int launch(const bake *b, char **id)
{
    infra_call *call = b->a->call;
    const char *topo = INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(call) : "";
    const char *env =
        INFRA_HAS_SLOT(pu_host, call_environment) ? pu_host->call_environment(call) : "";
    char *spec = AJ->dump(b->build);
    char *seed = pu_printf("%s|%s|%s|build %s", topo ? topo : "", env ? env : "",
                           pu_host->call_address(call), b->hash);
    char token[65];
    int error = 0;

    /* The same build of the same hash asks with the same token; the
     * placement is part of it, as EC2 refuses a token asked again with
     * other parameters. */
    aws_client_token(seed, spec ? spec : "", token);
    pu_host->free(spec);
    for (int tries = 0; tries < BAKE_TOKEN_TRIES; tries++) {
        char *state = NULL;
        *id = NULL;
        if ((error = run_once(b, token, id, &state)) < 0)
            break;
        int dead = state != NULL &&
                   (strcmp(state, "terminated") == 0 || strcmp(state, "shutting-down") == 0);
        free(state);
        if (!dead)
            break;
        /* An earlier build under this token is gone: the next token. */
        char next[65];
        aws_client_token(token, *id, next);
        memcpy(token, next, sizeof(token));
        free(*id);
        *id = NULL;
        error = INFRA_ECONFLICT;
    }
    if (error == INFRA_ECONFLICT && *id == NULL)
        pu_diagf(call, "build",
                 "aws: every build instance launched for %s is gone; run infra "
                 "up again",
                 b->image_name);
    free(seed);
    return error;
}

/* Logs in to the running instance, its host key pinned to the one its
 * console printed, and runs every step. */
static int provision(const bake *b, const char *id, const aws_instance *info)
{
    infra_call *call = b->a->call;
    const char *address = info->public_ip && *info->public_ip ? info->public_ip : info->private_ip;
    char *fingerprint = NULL;
    int error;

    if (address == NULL || *address == '\0') {
        pu_diagf(call, "build", "the build instance %s has no address to log in to", id);
        return INFRA_EINVALID;
    }
    error = aws_console_wait_fingerprint(b->a->p, call, id, BAKE_FINGERPRINT_MS, &fingerprint);
    if (error == INFRA_ENOTFOUND)
        pu_diagf(call, "build",
                 "the build instance %s printed no SSH host key fingerprint on "
                 "its console within %d s",
                 id, BAKE_FINGERPRINT_MS / 1000);
    if (error < 0)
        return error;
    infra_ssh_target t = {.size = sizeof(t),
                          .host = address,
                          .port = 22,
                          .user = b->user,
                          .private_key = pu_json_str(b->build, "private_key"),
                          .host_key_sha256 = fingerprint,
                          .deadline_ms = BAKE_SSH_MS};
    pu_logf(call, INFRA_LOG_INFO, "image %s: build instance %s", b->prefix, id);
    error = pu_bake_provision(call, &t, b->prefix, b->hash, AJ->get(b->build, "steps"));
    free(fingerprint);
    return error;
}

/* CreateImage of the stopped instance id: 0 with *ami (caller frees). */
static int create_image(const bake *b, const char *id, char **ami)
{
    aws_params q = {0};
    aws_tags tags = {0};
    aws_resp *r = NULL;
    int error;
    char *description = pu_printf("built by infra from %s (build %.16s)", b->base, b->hash);

    if ((error = bake_tags(b, b->prefix, &tags)) < 0)
        goto done;
    aws_params_add(&q, "InstanceId", id);
    aws_params_add(&q, "Name", b->image_name);
    aws_params_add(&q, "Description", description);
    aws_tags_spec(&q, 1, "image", &tags);
    aws_tags_spec(&q, 2, "snapshot", &tags);
    error = aws_query(b->a->p, b->a->call, AWS_EC2, "CreateImage", &q, "build",
                      AWS_SAFE | AWS_FRESH, "InvalidAMIName.Duplicate", &r);
    if (error == 0) {
        *ami = aws_xml_get(r->result, "imageId");
    } else if (r != NULL && r->code != NULL && strcmp(r->code, "InvalidAMIName.Duplicate") == 0) {
        /* A retry of a CreateImage that went through: the image of this
         * hash is ours; an image of that name that is not is an error. */
        aws_image im;
        if ((error = find_image(b, &im)) == 0) {
            *ami = im.id;
            im.id = NULL;
            aws_image_clear(&im);
        } else if (error == INFRA_ENOTFOUND) {
            pu_diagf(b->a->call, "name",
                     "the AMI name %s is taken by an image infra did not "
                     "build for %s",
                     b->image_name, pu_host->call_address(b->a->call));
            error = INFRA_ECONFLICT;
        }
    }
    if (error == 0 && (*ami == NULL || **ami == '\0')) {
        pu_diagf(b->a->call, "build", "aws: CreateImage answered no imageId");
        error = INFRA_EINTERNAL;
    }
done:
    free(description);
    aws_resp_free(r);
    aws_params_free(&q);
    aws_tags_free(&tags);
    return error;
}

/* The whole build: 0 with *ami, available. The instance is terminated in
 * every case. */
static int build_generation(const bake *b, char **ami)
{
    infra_call *call = b->a->call;
    aws_instance info = {0};
    char *id = NULL;
    int error;

    if ((error = clean_leftovers(b)) < 0 || (error = launch(b, &id)) < 0)
        goto done;
    pu_logf(call, INFRA_LOG_INFO, "image %s: build instance %s from %s", b->prefix, id, b->base);
    if ((error = aws_waiter_wait(b->a->p, call, "build", id, "running", AWS_WAIT_INSTANCE_MS,
                                 &info)) < 0 ||
        (error = provision(b, id, &info)) < 0)
        goto done;
    if ((error = aws_query_simple(b->a->p, call, AWS_EC2, "StopInstances", "build",
                                  AWS_SAFE | AWS_FRESH, NULL, "InstanceId.1", id, NULL)) < 0 ||
        (error = aws_waiter_wait(b->a->p, call, "build", id, "stopped", AWS_WAIT_INSTANCE_MS,
                                 NULL)) < 0 ||
        (error = create_image(b, id, ami)) < 0)
        goto done;
    pu_logf(call, INFRA_LOG_INFO, "image %s: %s made, waiting until it is available", b->prefix,
            *ami);
    error = aws_wait_state(b->a->p, call, "build", "DescribeImages", "ImageId.1", *ami, "imagesSet",
                           "imageState", "available", "failed invalid error", BAKE_IMAGE_MS);
done:
    if (id != NULL) {
        /* Always, also after a failure: a build leaves no instance. */
        int rc = aws_query_simple(b->a->p, call, AWS_EC2, "TerminateInstances", "build", AWS_SAFE,
                                  "InvalidInstanceID.NotFound", "InstanceId.1", id, NULL);
        if (rc == 0)
            rc = aws_waiter_wait(b->a->p, call, "build", id, "terminated", AWS_WAIT_INSTANCE_MS,
                                 NULL);
        if (rc < 0 && rc != INFRA_ENOTFOUND && error == 0)
            error = rc;
    }
    if (error < 0) {
        free(*ami);
        *ami = NULL;
    }
    aws_instance_clear(&info);
    free(id);
    return error;
}

/* ------------------------------------------------------------------ */
/* The resource                                                       */

/* A generation the resource no longer keeps goes (pu_bake_generations). */
static int drop_kept(void *ctx, const char *ami)
{
    aws_act *a = ctx;
    return drop_generation(a->p, a->call, ami);
}

int aws_bake_apply(aws_act *a)
{
    bake b = {.a = a, .build = AJ->get(a->planned, "build")};
    const char *had_hash = pu_json_str(a->prior, "build_hash");
    const char *had_id = aws_state_id(a->prior);
    infra_json *st = NULL;
    aws_image im = {0};
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    char *ami = NULL;
    int error;

    b.user = pu_json_str(b.build, "user");
    if (b.user == NULL || *b.user == '\0')
        b.user = "root";
    if ((error = aws_bake_base(a->p, a->call, a->planned, &b.base)) < 0)
        goto done;
    if (pu_bake_hash(b.base, AJ->get(b.build, "steps"), b.hash) < 0) {
        pu_diagf(a->call, "build.steps", "a step's upload was not read: validate the topology");
        error = INFRA_EINVALID;
        goto done;
    }
    b.prefix = aws_bake_prefix(a->call, a->planned);
    b.image_name = pu_printf("%s-%.16s", b.prefix, b.hash);

    if (had_id != NULL && had_hash != NULL && strcmp(had_hash, b.hash) == 0) {
        ami = pu_strdup(had_id); /* the same generation: nothing to build */
    } else if ((error = find_image(&b, &im)) == 0) {
        pu_logf(a->call, INFRA_LOG_INFO, "image %s: %s of this build exists already", b.prefix,
                im.id);
        ami = im.id;
        im.id = NULL;
        error =
            aws_wait_state(a->p, a->call, "build", "DescribeImages", "ImageId.1", ami, "imagesSet",
                           "imageState", "available", "failed invalid error", BAKE_IMAGE_MS);
    } else if (error == INFRA_ENOTFOUND) {
        error = build_generation(&b, &ami);
    }
    if (error < 0)
        goto done;
    aws_image_clear(&im);
    if ((error = aws_describe_one(a->p, a->call, "DescribeImages", "ImageId.1", ami, "imagesSet",
                                  AWS_FRESH, &r, &item)) == 0) {
        im.creation_date = aws_xml_get(item, "creationDate");
        im.name = aws_xml_get(item, "name");
        im.owner = aws_xml_get(item, "imageOwnerId");
    }
    if (error < 0)
        goto done;
    st = aws_state_new(a->planned);
    if ((error = pu_json_set_str(st, "id", ami)) < 0 ||
        (error = pu_json_set_str(st, "image_name", im.name)) < 0 ||
        (error = pu_json_set_str(st, "creation_date", im.creation_date)) < 0 ||
        (error = pu_json_set_str(st, "owner_id", im.owner)) < 0 ||
        (error = pu_json_set_str(st, "build_hash", b.hash)) < 0 ||
        (error = pu_json_set_str(st, "base_id", b.base)) < 0)
        goto done;
    error = pu_bake_generations(a->prior, a->planned, ami, drop_kept, a, st);
done:
    aws_resp_free(r);
    aws_image_clear(&im);
    free(ami);
    bake_clear(&b);
    return aws_state_finish(a, st, error);
}

int aws_bake_remove(aws_act *a)
{
    char **gens = NULL;
    const char *id = aws_state_id(a->prior);
    const char *instance = pu_json_str(a->prior, "build_instance");
    int error = 0;

    if (instance != NULL) {
        /* Found by token after an interrupted create (aws_bake_read). */
        error = aws_query_simple(a->p, a->call, AWS_EC2, "TerminateInstances", "", AWS_SAFE,
                                 "InvalidInstanceID.NotFound", "InstanceId.1", instance, NULL);
        if (error == 0)
            error = aws_waiter_wait(a->p, a->call, "", instance, "terminated", AWS_WAIT_INSTANCE_MS,
                                    NULL);
        if (error < 0 && error != INFRA_ENOTFOUND)
            return error;
        error = 0;
    }
    /* A build an interrupted update left runs under the hash of that
     * update, which the state does not name: every build instance of
     * the resource goes. */
    bake b = {.a = a};
    if ((error = clean_leftovers(&b)) < 0)
        return error;
    if (aws_json_strv(AJ->get(a->prior, "generations"), &gens) < 0)
        gens = pu_calloc(1, sizeof(char *));
    if (id != NULL && !aws_strv_has(gens, id))
        aws_strv_push(&gens, id);
    for (size_t i = 0; error == 0 && gens[i] != NULL; i++)
        error = drop_generation(a->p, a->call, gens[i]);
    aws_strv_free(gens);
    return error;
}

int aws_bake_read(aws_act *a)
{
    const char *id = aws_state_id(a->state);
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    infra_json *st = NULL;
    int error;

    if (a->state == NULL) {
        /* What an interrupted create made: the image its token tagged,
         * and a build instance still alive, which a delete terminates. */
        const char *token = pu_host->call_token(a->call);
        aws_params q = {0};
        aws_image *v = NULL;
        aws_instance *vi = NULL;
        size_t n = 0, ni = 0;
        aws_params_add(&q, "Owner.1", "self");
        aws_params_filter1(&q, "tag:infra:token", token);
        error = aws_query(a->p, a->call, AWS_EC2, "DescribeImages", &q, "", AWS_SAFE, NULL, &r);
        if (error == 0) {
            aws_images_parse(r->result, &v, &n);
            error = aws_instances_by_token(a->p, a->call, token, &vi, &ni);
        }
        if (error == 0 && n == 0 && ni == 0)
            error = INFRA_ENOTFOUND;
        if (error == 0) {
            st = aws_state_new(NULL);
            if (n > 0 && (error = pu_json_set_str(st, "id", v[0].id)) == 0 &&
                (error = pu_json_set_str(st, "image_name", v[0].name)) == 0)
                error = aws_json_set_strv(st, "generations", (char *[]){v[0].id, NULL});
            if (error == 0 && ni > 0)
                error = pu_json_set_str(st, "build_instance", vi[0].id);
        }
        aws_instances_free(vi, ni);
        aws_images_free(v, n);
        aws_params_free(&q);
        aws_resp_free(r);
        return aws_state_finish(a, st, error);
    }
    if (id == NULL)
        return INFRA_ENOTFOUND;
    error = aws_describe_one(a->p, a->call, "DescribeImages", "ImageId.1", id, "imagesSet", 0, &r,
                             &item);
    if (error == 0) {
        char *state = aws_xml_get(item, "imageState");
        if (state == NULL || strcmp(state, "available") != 0)
            error = INFRA_ENOTFOUND; /* deregistered, failed: built again */
        free(state);
    }
    if (error == 0) {
        char *date = aws_xml_get(item, "creationDate");
        st = aws_state_new(a->state);
        error = pu_json_set_str(st, "creation_date", date);
        free(date);
    }
    aws_resp_free(r);
    return aws_state_finish(a, st, error);
}
