/* The network (VPC) and subnet resources. Neither has an idempotency
 * token in the EC2 API, so a create first looks for an object tagged with
 * the call's infra:token: a create retried after a crash adopts what the
 * first attempt made. */
#include "aws_res.h"

#include <stdlib.h>
#include <string.h>

#define WAIT_AVAILABLE_MS 120000

static const char *const network_keys[] = {"network", "vpc", NULL};

static const aws_ec2_kind vpc_kind = {.describe = "DescribeVpcs",
                                      .set = "vpcSet",
                                      .id_elem = "vpcId",
                                      .state_elem = "state",
                                      .filter = "vpc-id",
                                      .page_max = 1000};
static const aws_ec2_kind subnet_kind = {.describe = "DescribeSubnets",
                                         .set = "subnetSet",
                                         .id_elem = "subnetId",
                                         .state_elem = "state",
                                         .filter = "subnet-id",
                                         .page_max = 1000};

/* ------------------------------------------------------------------ */
/* network                                                            */

static int vpc_create(aws_act *a, char **id)
{
    aws_params q = {0};
    aws_params_add(&q, "CidrBlock", pu_json_str(a->planned, "cidr"));
    int error = aws_ec2_create(a, "CreateVpc", &q, "vpc", "cidr", 0, "vpc/vpcId", id);
    aws_params_free(&q);
    return error;
}

static int network_apply(aws_act *a)
{
    char *id = NULL;
    int error = 0;

    if (a->prior != NULL) {
        if ((error = aws_prior_id(a, &id)) < 0)
            return error;
        error = aws_tags_sync(a->p, a->call, id, a->prior, a->planned, NULL);
    } else {
        if ((error = aws_find_mine_before_create(a, &vpc_kind, &id)) == INFRA_ENOTFOUND)
            error = vpc_create(a, &id);
        if (error == 0)
            error = aws_wait_state(a->p, a->call, "", "DescribeVpcs", "VpcId.1", id, "vpcSet",
                                   "state", "available", NULL, WAIT_AVAILABLE_MS);
    }
    infra_json *st = aws_state_new(a->planned);
    if (error == 0)
        error = pu_json_set_str(st, "id", id);
    free(id);
    return aws_state_finish(a, st, error);
}

static int network_remove(aws_act *a)
{
    return aws_remove_simple(a, AWS_EC2, "DeleteVpc", "VpcId", aws_state_id(a->prior),
                             AWS_SAFE | AWS_DEPENDENT, "InvalidVpcID.NotFound");
}

/* The state of a->state's VPC id as item describes it. */
static int network_refresh(aws_act *a, const char *id, const xmlNode *item)
{
    infra_json *st = aws_state_new(a->state);
    aws_tags tags;
    aws_tags_parse(aws_xml_child(item, "tagSet"), &tags);
    char *cidr = aws_xml_get(item, "cidrBlock");
    int error;
    if ((error = pu_json_set_str(st, "id", id)) == 0 &&
        (error = pu_json_set_str(st, "cidr", cidr)) == 0)
        error = aws_tags_read(st, &tags, NULL);
    free(cidr);
    aws_tags_free(&tags);
    return aws_state_finish(a, st, error);
}

static int network_read(aws_act *a)
{
    const char *id;
    char *found = NULL;
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    int error;

    if ((error = aws_read_id(a, &vpc_kind, &id, &found)) < 0)
        return error;
    error = aws_describe_one(a->p, a->call, "DescribeVpcs", "VpcId.1", id, "vpcSet", 0, &r, &item);
    if (error == 0)
        error = network_refresh(a, id, item);
    aws_resp_free(r);
    free(found);
    return error;
}

static int network_read_many(aws_many *m)
{
    return aws_ec2_read_many(m, &vpc_kind, NULL, network_refresh);
}

const aws_handler aws_network_handler = {"network", network_apply, network_remove, network_read,
                                         network_read_many};

/* ------------------------------------------------------------------ */
/* subnet                                                             */

static int subnet_public(aws_act *a, const char *id, int on)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    aws_params_add(&q, "SubnetId", id);
    aws_params_add_bool(&q, "MapPublicIpOnLaunch.Value", on);
    int error = aws_query(a->p, a->call, AWS_EC2, "ModifySubnetAttribute", &q, "public",
                          AWS_SAFE | AWS_FRESH, NULL, &r);
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

static int subnet_create(aws_act *a, char **id)
{
    const char *vpc = aws_json_str_any(a->planned, network_keys);
    const char *zone = pu_json_str(a->planned, "availability_zone");
    aws_params q = {0};
    int error;

    if (vpc == NULL) {
        pu_diagf(a->call, "network", "a subnet needs network: the VPC id (\"${network.NAME.id}\")");
        return INFRA_EINVALID;
    }
    aws_params_add(&q, "VpcId", vpc);
    aws_params_add(&q, "CidrBlock", pu_json_str(a->planned, "cidr"));
    if (zone == NULL && a->p->nzones > 0)
        zone = a->p->zones[0];
    if (zone != NULL)
        aws_params_add(&q, "AvailabilityZone", zone);
    error =
        aws_ec2_create(a, "CreateSubnet", &q, "subnet", "cidr", AWS_FRESH, "subnet/subnetId", id);
    aws_params_free(&q);
    return error;
}

/* The planned state plus what EC2 decided (the zone). */
static int subnet_state(aws_act *a, const char *id, infra_json **out)
{
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    int error = aws_describe_one(a->p, a->call, "DescribeSubnets", "SubnetId.1", id, "subnetSet",
                                 AWS_FRESH, &r, &item);
    infra_json *st = aws_state_new(a->planned);
    if (error == 0) {
        char *zone = aws_xml_get(item, "availabilityZone");
        if ((error = pu_json_set_str(st, "id", id)) == 0 && zone != NULL && *zone)
            error = pu_json_set_str(st, "availability_zone", zone);
        free(zone);
    }
    aws_resp_free(r);
    if (error < 0) {
        AJ->release(st);
        return error;
    }
    *out = st;
    return 0;
}

static int subnet_apply(aws_act *a)
{
    char *id = NULL;
    int error = 0, want_public = 0, had_public = 0;
    const infra_json *pub = AJ->get(a->planned, "public");
    int asked = pub != NULL && pu_json_to_bool(pub, &want_public) == 0;

    if (a->prior != NULL) {
        if ((error = aws_prior_id(a, &id)) < 0)
            return error;
        const infra_json *old = AJ->get(a->prior, "public");
        if (old != NULL)
            pu_json_to_bool(old, &had_public);
        if ((error = aws_tags_sync(a->p, a->call, id, a->prior, a->planned, NULL)) == 0 &&
            (asked || had_public) && want_public != had_public)
            error = subnet_public(a, id, want_public);
    } else {
        if ((error = aws_find_mine_before_create(a, &subnet_kind, &id)) == INFRA_ENOTFOUND)
            error = subnet_create(a, &id);
        if (error == 0)
            error = aws_wait_state(a->p, a->call, "", "DescribeSubnets", "SubnetId.1", id,
                                   "subnetSet", "state", "available", NULL, WAIT_AVAILABLE_MS);
        if (error == 0 && asked && want_public)
            error = subnet_public(a, id, 1);
    }
    infra_json *st = NULL;
    if (error == 0)
        error = subnet_state(a, id, &st);
    free(id);
    return aws_state_finish(a, st, error);
}

static int subnet_remove(aws_act *a)
{
    return aws_remove_simple(a, AWS_EC2, "DeleteSubnet", "SubnetId", aws_state_id(a->prior),
                             AWS_SAFE | AWS_DEPENDENT, "InvalidSubnetID.NotFound");
}

/* The state of a->state's subnet id as item describes it. */
static int subnet_refresh(aws_act *a, const char *id, const xmlNode *item)
{
    infra_json *st = aws_state_new(a->state);
    aws_tags tags;
    aws_tags_parse(aws_xml_child(item, "tagSet"), &tags);
    char *cidr = aws_xml_get(item, "cidrBlock");
    char *zone = aws_xml_get(item, "availabilityZone");
    char *vpc = aws_xml_get(item, "vpcId");
    int pub = aws_xml_get_bool(item, "mapPublicIpOnLaunch");
    const char *key = AJ->get(st, "vpc") != NULL ? "vpc" : "network";
    int error;
    if ((error = pu_json_set_str(st, "id", id)) == 0 &&
        (error = pu_json_set_str(st, "cidr", cidr)) == 0 &&
        (error = pu_json_set_str(st, "availability_zone", zone)) == 0 &&
        (error = pu_json_set_str(st, key, vpc)) == 0 &&
        (AJ->get(st, "public") == NULL || (error = pu_json_set_bool(st, "public", pub)) == 0))
        error = aws_tags_read(st, &tags, NULL);
    free(cidr);
    free(zone);
    free(vpc);
    aws_tags_free(&tags);
    return aws_state_finish(a, st, error);
}

static int subnet_read(aws_act *a)
{
    const char *id;
    char *found = NULL;
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    int error;

    if ((error = aws_read_id(a, &subnet_kind, &id, &found)) < 0)
        return error;
    error = aws_describe_one(a->p, a->call, "DescribeSubnets", "SubnetId.1", id, "subnetSet", 0, &r,
                             &item);
    if (error == 0)
        error = subnet_refresh(a, id, item);
    aws_resp_free(r);
    free(found);
    return error;
}

static int subnet_read_many(aws_many *m)
{
    return aws_ec2_read_many(m, &subnet_kind, NULL, subnet_refresh);
}

const aws_handler aws_subnet_handler = {"subnet", subnet_apply, subnet_remove, subnet_read,
                                        subnet_read_many};
