/* Internet gateways (created, attached to their VPC, detached before
 * deletion) and NAT gateways (with the Elastic IP each allocates and
 * releases). */
#include "aws_res.h"

#include <stdlib.h>
#include <string.h>

#define WAIT_GONE_MS 120000

static const char *const network_keys[] = {"network", "vpc", NULL};

static const aws_ec2_kind igw_kind = {.describe = "DescribeInternetGateways",
                                      .set = "internetGatewaySet",
                                      .id_elem = "internetGatewayId",
                                      .filter = "internet-gateway-id",
                                      .page_max = 1000};
static const aws_ec2_kind nat_kind = {.describe = "DescribeNatGateways",
                                      .set = "natGatewaySet",
                                      .id_elem = "natGatewayId",
                                      .state_elem = "state",
                                      .filter = "nat-gateway-id",
                                      .page_max = 1000};

/* ------------------------------------------------------------------ */
/* internet_gateway                                                   */

/* The VPCs a gateway's item says it is attached to, and its tags. */
static void igw_parse(const xmlNode *item, char ***vpcs, aws_tags *tags)
{
    *vpcs = pu_calloc(1, sizeof(char *));
    xmlNode *set = aws_xml_child(item, "attachmentSet");
    for (xmlNode *it = aws_xml_child(set, "item"); it != NULL; it = aws_xml_next(it)) {
        char *vpc = aws_xml_get(it, "vpcId");
        char *state = aws_xml_get(it, "state");
        if (vpc != NULL && *vpc && (state == NULL || strcmp(state, "detached") != 0))
            aws_strv_push(vpcs, vpc);
        free(vpc);
        free(state);
    }
    if (tags != NULL)
        aws_tags_parse(aws_xml_child(item, "tagSet"), tags);
}

/* The VPCs the gateway is attached to. */
static int igw_attachments(aws_act *a, const char *id, unsigned flags, char ***vpcs, aws_tags *tags)
{
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    int error = aws_describe_one(a->p, a->call, "DescribeInternetGateways", "InternetGatewayId.1",
                                 id, "internetGatewaySet", flags, &r, &item);
    if (error == 0)
        igw_parse(item, vpcs, tags);
    else
        *vpcs = pu_calloc(1, sizeof(char *));
    aws_resp_free(r);
    return error;
}

static int igw_apply(aws_act *a)
{
    const char *vpc = aws_json_str_any(a->planned, network_keys);
    char *id = NULL;
    char **vpcs = NULL;
    int error = 0;

    if (vpc == NULL) {
        pu_diagf(a->call, "network", "an internet gateway needs network: the VPC id");
        return INFRA_EINVALID;
    }
    if (a->prior != NULL) {
        if ((error = aws_prior_id(a, &id)) < 0)
            return error;
        error = aws_tags_sync(a->p, a->call, id, a->prior, a->planned, NULL);
    } else if ((error = aws_find_mine_before_create(a, &igw_kind, &id)) == INFRA_ENOTFOUND) {
        aws_params q = {0};
        error = aws_ec2_create(a, "CreateInternetGateway", &q, "internet-gateway", "", 0,
                               "internetGateway/internetGatewayId", &id);
        aws_params_free(&q);
    }
    /* Attached to its VPC, also after a crash between create and attach. */
    if (error == 0 && (error = igw_attachments(a, id, AWS_FRESH, &vpcs, NULL)) == 0 &&
        !aws_strv_has(vpcs, vpc)) {
        error = aws_query_simple(a->p, a->call, AWS_EC2, "AttachInternetGateway", "network",
                                 AWS_SAFE | AWS_FRESH, "Resource.AlreadyAssociated",
                                 "InternetGatewayId", id, "VpcId", vpc, NULL);
        if (error == INFRA_ECONFLICT)
            error = 0; /* attached by an earlier try */
    }
    infra_json *st = aws_state_new(a->planned);
    if (error == 0)
        error = pu_json_set_str(st, "id", id);
    aws_strv_free(vpcs);
    free(id);
    return aws_state_finish(a, st, error);
}

static int igw_remove(aws_act *a)
{
    const char *id = aws_state_id(a->prior);
    char **vpcs = NULL;
    if (id == NULL)
        return 0;
    int error = igw_attachments(a, id, AWS_FRESH, &vpcs, NULL);
    /* Detaching waits for the VPC's public addresses to go (DependencyViolation). */
    for (size_t i = 0; error == 0 && vpcs[i] != NULL; i++) {
        error = aws_query_simple(a->p, a->call, AWS_EC2, "DetachInternetGateway", "",
                                 AWS_SAFE | AWS_DEPENDENT,
                                 "Gateway.NotAttached InvalidInternetGatewayID.NotFound",
                                 "InternetGatewayId", id, "VpcId", vpcs[i], NULL);
        if (error == INFRA_ECONFLICT || error == INFRA_ENOTFOUND)
            error = 0;
    }
    if (error == 0)
        error = aws_query_simple(a->p, a->call, AWS_EC2, "DeleteInternetGateway", "",
                                 AWS_SAFE | AWS_DEPENDENT, "InvalidInternetGatewayID.NotFound",
                                 "InternetGatewayId", id, NULL);
    aws_strv_free(vpcs);
    return error == INFRA_ENOTFOUND ? 0 : error;
}

/* The state of a->state's gateway as item describes it. */
static int igw_refresh(aws_act *a, const char *id, const xmlNode *item)
{
    char **vpcs = NULL;
    aws_tags tags = {0};
    int error;
    igw_parse(item, &vpcs, &tags);
    infra_json *st = aws_state_new(a->state);
    const char *key = AJ->get(st, "vpc") != NULL ? "vpc" : "network";
    const char *want = pu_json_str(st, key);
    const char *now = want && aws_strv_has(vpcs, want) ? want : vpcs[0];
    if ((error = pu_json_set_str(st, "id", id)) == 0 &&
        (error = pu_json_set_str(st, key, now)) == 0)
        error = aws_tags_read(st, &tags, NULL);
    aws_tags_free(&tags);
    aws_strv_free(vpcs);
    return aws_state_finish(a, st, error);
}

static int igw_read(aws_act *a)
{
    const char *id;
    char *found = NULL;
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    int error;

    if ((error = aws_read_id(a, &igw_kind, &id, &found)) < 0)
        return error;
    /* Not fresh: an unknown id is a gateway deleted outside infra. */
    error = aws_describe_one(a->p, a->call, "DescribeInternetGateways", "InternetGatewayId.1", id,
                             "internetGatewaySet", 0, &r, &item);
    if (error == 0)
        error = igw_refresh(a, id, item);
    aws_resp_free(r);
    free(found);
    return error;
}

static int igw_read_many(aws_many *m)
{
    return aws_ec2_read_many(m, &igw_kind, NULL, igw_refresh);
}

const aws_handler aws_internet_gateway_handler = {"internet_gateway", igw_apply, igw_remove,
                                                  igw_read, igw_read_many};

/* ------------------------------------------------------------------ */
/* nat_gateway                                                        */

typedef struct nat_info {
    char *id;
    char *state;
    char *allocation_id;
    char *public_ip;
    char *private_ip;
    char *vpc;
    char *subnet;
    aws_tags tags;
} nat_info;

static void nat_info_clear(nat_info *n)
{
    free(n->id);
    free(n->state);
    free(n->allocation_id);
    free(n->public_ip);
    free(n->private_ip);
    free(n->vpc);
    free(n->subnet);
    aws_tags_free(&n->tags);
    memset(n, 0, sizeof(*n));
}

static void nat_parse(const xmlNode *item, nat_info *n)
{
    memset(n, 0, sizeof(*n));
    n->id = aws_xml_get(item, "natGatewayId");
    n->state = aws_xml_get(item, "state");
    n->vpc = aws_xml_get(item, "vpcId");
    n->subnet = aws_xml_get(item, "subnetId");
    xmlNode *addr = aws_xml_path(item, "natGatewayAddressSet/item");
    n->allocation_id = aws_xml_get(addr, "allocationId");
    n->public_ip = aws_xml_get(addr, "publicIp");
    n->private_ip = aws_xml_get(addr, "privateIp");
    aws_tags_parse(aws_xml_child(item, "tagSet"), &n->tags);
}

/* The NAT gateway tagged with token that is not deleted or failed. */
static int nat_by_token(aws_act *a, const char *token, nat_info *out)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    char *states[] = {"pending", "available", NULL};
    memset(out, 0, sizeof(*out));
    aws_params_filter1(&q, "tag:infra:token", token);
    aws_params_filter(&q, "state", states);
    int error =
        aws_query(a->p, a->call, AWS_EC2, "DescribeNatGateways", &q, "", AWS_SAFE, NULL, &r);
    if (error == 0) {
        xmlNode *item = aws_xml_path(r->result, "natGatewaySet/item");
        if (item == NULL)
            error = INFRA_ENOTFOUND;
        else
            nat_parse(item, out);
    }
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

static int nat_describe(aws_act *a, const char *id, unsigned flags, nat_info *out)
{
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    memset(out, 0, sizeof(*out));
    int error = aws_describe_one(a->p, a->call, "DescribeNatGateways", "NatGatewayId.1", id,
                                 "natGatewaySet", flags, &r, &item);
    if (error == 0)
        nat_parse(item, out);
    aws_resp_free(r);
    return error;
}

/* The Elastic IP of this create: the one tagged with token (when one may
 * exist already), else a new one. */
static int eip_ensure(aws_act *a, int may_exist, const aws_tags *tags, char **allocation_id)
{
    const char *token = pu_host->call_token(a->call);
    int error = may_exist
                    ? aws_find_by_token(a->p, a->call, "DescribeAddresses", "addressesSet",
                                        "allocationId", NULL, NULL, token, NULL, allocation_id)
                    : INFRA_ENOTFOUND;
    if (error != INFRA_ENOTFOUND)
        return error;
    aws_params q = {0};
    aws_resp *r = NULL;
    aws_params_add(&q, "Domain", "vpc");
    aws_tags_spec(&q, 1, "elastic-ip", tags);
    error = aws_query(a->p, a->call, AWS_EC2, "AllocateAddress", &q, "", 0, NULL, &r);
    if (error == 0) {
        *allocation_id = aws_xml_get(r->result, "allocationId");
        if (*allocation_id == NULL || **allocation_id == '\0') {
            pu_diagf(a->call, "", "aws: AllocateAddress answered no allocationId");
            free(*allocation_id);
            *allocation_id = NULL;
            error = INFRA_EINTERNAL;
        }
    }
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

static int eip_release(aws_act *a, const char *allocation_id)
{
    /* The address stays associated for a moment after its gateway is gone. */
    int error =
        aws_query_simple(a->p, a->call, AWS_EC2, "ReleaseAddress", "", AWS_SAFE | AWS_DEPENDENT,
                         "InvalidAllocationID.NotFound", "AllocationId", allocation_id, NULL);
    return error == INFRA_ENOTFOUND ? 0 : error;
}

static int nat_state(aws_act *a, const nat_info *n, infra_json **out)
{
    infra_json *st = aws_state_new(a->planned ? a->planned : a->state);
    int error;
    if ((error = pu_json_set_str(st, "id", n->id)) < 0 ||
        (error = pu_json_set_str(st, "allocation_id", n->allocation_id)) < 0 ||
        (error = pu_json_set_str(st, "public_ip", n->public_ip)) < 0 ||
        (error = pu_json_set_str(st, "network", n->vpc)) < 0) {
        AJ->release(st);
        return error;
    }
    *out = st;
    return 0;
}

static int nat_apply(aws_act *a)
{
    const char *token = pu_host->call_token(a->call);
    const char *subnet = pu_json_str(a->planned, "subnet");
    nat_info n = {0};
    aws_tags tags = {0};
    char *allocation = NULL;
    infra_json *st = NULL;
    int error;

    if (a->prior != NULL) {
        const char *pid = aws_state_id(a->prior);
        if (pid == NULL)
            return INFRA_ENOTFOUND;
        if ((error = aws_tags_sync(a->p, a->call, pid, a->prior, a->planned, NULL)) == 0 &&
            (error = nat_describe(a, pid, 0, &n)) == 0)
            error = nat_state(a, &n, &st);
        nat_info_clear(&n);
        return aws_state_finish(a, st, error);
    }
    if ((error = aws_tags_build(a->call, pu_json_str(a->planned, "name"),
                                AJ->get(a->planned, "tags"), &tags)) < 0)
        return error;
    /* The address has no token: a create tried before looks for both. */
    int may_exist = aws_create_may_exist(a);
    error = may_exist ? nat_by_token(a, token, &n) : INFRA_ENOTFOUND;
    if (error == INFRA_ENOTFOUND) {
        char client_token[65];
        aws_params q = {0};
        aws_resp *r = NULL;
        if ((error = eip_ensure(a, may_exist, &tags, &allocation)) < 0)
            goto done;
        aws_client_token(token, NULL, client_token);
        aws_params_add(&q, "SubnetId", subnet);
        aws_params_add(&q, "AllocationId", allocation);
        aws_params_add(&q, "ClientToken", client_token);
        aws_tags_spec(&q, 1, "natgateway", &tags);
        error = aws_query(a->p, a->call, AWS_EC2, "CreateNatGateway", &q, "subnet",
                          AWS_SAFE | AWS_FRESH, NULL, &r);
        if (error == 0) {
            n.id = aws_xml_get(r->result, "natGateway/natGatewayId");
            if (n.id == NULL || *n.id == '\0') {
                pu_diagf(a->call, "", "aws: CreateNatGateway answered no natGatewayId");
                error = INFRA_EINTERNAL;
            }
        }
        aws_resp_free(r);
        aws_params_free(&q);
    }
    if (error < 0)
        goto done;
    if ((error = aws_wait_state(a->p, a->call, "", "DescribeNatGateways", "NatGatewayId.1", n.id,
                                "natGatewaySet", "state", "available", "failed deleting deleted",
                                AWS_WAIT_NAT_MS)) < 0)
        goto done;
    char *id = pu_strdup(n.id);
    nat_info_clear(&n);
    error = nat_describe(a, id, AWS_FRESH, &n);
    free(id);
    if (error == 0)
        error = nat_state(a, &n, &st);
done:
    free(allocation);
    aws_tags_free(&tags);
    nat_info_clear(&n);
    return aws_state_finish(a, st, error);
}

static int nat_remove(aws_act *a)
{
    const char *id = aws_state_id(a->prior);
    const char *allocation = pu_json_str(a->prior, "allocation_id");
    int error = 0;

    if (id != NULL) {
        error = aws_query_simple(a->p, a->call, AWS_EC2, "DeleteNatGateway", "", AWS_SAFE,
                                 "NatGatewayNotFound *.NotFound", "NatGatewayId", id, NULL);
        if (error == INFRA_ENOTFOUND)
            error = 0;
        if (error == 0)
            error = aws_wait_state(a->p, a->call, "", "DescribeNatGateways", "NatGatewayId.1", id,
                                   "natGatewaySet", "state", "deleted", "failed", AWS_WAIT_NAT_MS);
        if (error == INFRA_ECONFLICT) /* failed: it holds nothing any more */
            error = 0;
    }
    if (error == 0 && allocation != NULL && *allocation)
        error = eip_release(a, allocation);
    return error;
}

/* What read() makes of gateway n: gone when deleted or failed (its
 * address released, not leaked), else its state. */
static int nat_refresh_info(aws_act *a, nat_info *n)
{
    infra_json *st = NULL;
    int error;
    if (n->state != NULL && (strcmp(n->state, "deleted") == 0 || strcmp(n->state, "failed") == 0 ||
                             strcmp(n->state, "deleting") == 0)) {
        const char *allocation = pu_json_str(a->state, "allocation_id");
        if (strcmp(n->state, "deleting") == 0 &&
            aws_wait_state(a->p, a->call, "", "DescribeNatGateways", "NatGatewayId.1", n->id,
                           "natGatewaySet", "state", "deleted", "failed", AWS_WAIT_NAT_MS) < 0)
            allocation = NULL;
        if (allocation != NULL)
            eip_release(a, allocation);
        return INFRA_ENOTFOUND;
    }
    error = nat_state(a, n, &st);
    if (error == 0)
        error = aws_tags_read(st, &n->tags, NULL);
    return aws_state_finish(a, st, error);
}

static int nat_refresh(aws_act *a, const char *id, const xmlNode *item)
{
    nat_info n;
    (void)id;
    nat_parse(item, &n);
    int error = nat_refresh_info(a, &n);
    nat_info_clear(&n);
    return error;
}

static int nat_read(aws_act *a)
{
    const char *token = pu_host->call_token(a->call);
    const char *id = aws_state_id(a->state);
    nat_info n = {0};
    infra_json *st = NULL;
    int error;

    if (a->state == NULL) {
        error = nat_by_token(a, token, &n);
        if (error == INFRA_ENOTFOUND) {
            /* Killed between the address and the gateway: the address alone. */
            char *allocation = NULL;
            error = aws_find_by_token(a->p, a->call, "DescribeAddresses", "addressesSet",
                                      "allocationId", NULL, NULL, token, NULL, &allocation);
            if (error == 0) {
                st = AJ->new_object();
                error = pu_json_set_str(st, "allocation_id", allocation);
            }
            free(allocation);
            return aws_state_finish(a, st, error);
        }
        if (error < 0)
            return error;
    } else {
        if (id == NULL)
            return INFRA_ENOTFOUND;
        if ((error = nat_describe(a, id, 0, &n)) < 0)
            return error;
    }
    error = nat_refresh_info(a, &n);
    nat_info_clear(&n);
    return error;
}

static int nat_read_many(aws_many *m)
{
    return aws_ec2_read_many(m, &nat_kind, NULL, nat_refresh);
}

const aws_handler aws_nat_gateway_handler = {"nat_gateway", nat_apply, nat_remove, nat_read,
                                             nat_read_many};
