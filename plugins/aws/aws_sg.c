/* Firewalls are security groups. Rules come in the portable form of the
 * other providers (allow: [22, "8300-8302", {port, proto, from}]) or in
 * the AWS form (ingress / egress: [{from_port, to_port, protocol, cidr |
 * security_group}]); both become one list of normalised rules, and an
 * apply authorizes and revokes only the difference with what the group
 * holds. Without egress the group keeps AWS's default allow-all egress. */
#include "aws_res.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const network_keys[] = {"network", "vpc", NULL};

static const aws_ec2_kind group_kind = {.describe = "DescribeSecurityGroups",
                                        .set = "securityGroupInfo",
                                        .id_elem = "groupId",
                                        .filter = "group-id",
                                        .page_max = 1000};

static int rule_cmp(const void *x, const void *y)
{
    const aws_rule *a = x, *b = y;
    int c = strcmp(a->proto, b->proto);
    if (c)
        return c;
    if (a->from_port != b->from_port)
        return a->from_port < b->from_port ? -1 : 1;
    if (a->to_port != b->to_port)
        return a->to_port < b->to_port ? -1 : 1;
    return strcmp(a->source, b->source);
}

/* A port "N" or range "N-M" (or an integer) into *from and *to. */
static int parse_ports(const infra_json *v, long *from, long *to)
{
    long n;
    if (pu_json_to_int(v, &n) == 0) {
        *from = *to = n;
    } else {
        const char *s = AJ->string(v);
        char *end = NULL;
        if (s == NULL)
            return INFRA_EINVALID;
        errno = 0;
        *from = strtol(s, &end, 10);
        if (end == s || *end != '-' || errno != 0)
            return INFRA_EINVALID;
        const char *second = end + 1;
        *to = strtol(second, &end, 10);
        if (end == second || *end != '\0' || errno != 0)
            return INFRA_EINVALID;
    }
    return *from >= 0 && *to <= 65535 && *from <= *to ? 0 : INFRA_EINVALID;
}

static int parse_proto(const char *s, char out[8])
{
    if (s == NULL || strcmp(s, "tcp") == 0 || strcmp(s, "6") == 0)
        snprintf(out, 8, "tcp");
    else if (strcmp(s, "udp") == 0 || strcmp(s, "17") == 0)
        snprintf(out, 8, "udp");
    else if (strcmp(s, "icmp") == 0 || strcmp(s, "1") == 0)
        snprintf(out, 8, "icmp");
    else if (strcmp(s, "all") == 0 || strcmp(s, "-1") == 0 || strcmp(s, "any") == 0)
        snprintf(out, 8, "-1");
    else
        return INFRA_EINVALID;
    return 0;
}

/* "any", an address, a CIDR or a security group id, into out. */
static int parse_source(const char *s, char out[64])
{
    if (s == NULL || strcmp(s, "any") == 0) {
        snprintf(out, 64, "0.0.0.0/0");
        return 0;
    }
    if (strncmp(s, "sg-", 3) == 0 && strlen(s) < 64) {
        snprintf(out, 64, "%s", s);
        return 0;
    }
    if (aws_is_ipv4(s)) {
        snprintf(out, 64, "%s/32", s);
        return 0;
    }
    if (aws_is_cidr(s)) {
        snprintf(out, 64, "%s", s);
        return 0;
    }
    return INFRA_EINVALID;
}

static void push_rule(aws_rule **v, size_t *n, const aws_rule *r)
{
    aws_rule *grown = pu_realloc(*v, (*n + 1) * sizeof(**v));
    *v = grown;
    grown[(*n)++] = *r;
}

/* One element of allow (portable) or of ingress/egress (AWS form). */
static int parse_one(infra_call *call, const infra_json *v, const char *attr, int portable,
                     aws_rule *r)
{
    static const char *const keys[] = {"port",           "proto",     "protocol", "from", "cidr",
                                       "security_group", "from_port", "to_port",  NULL};
    const infra_json *ports = v;
    const char *proto = NULL, *source = NULL;
    memset(r, 0, sizeof(*r));

    if (AJ->type(v) == INFRA_JSON_OBJECT) {
        if (pu_check_keys(call, "aws", attr, v, keys) < 0)
            return INFRA_EINVALID;
        proto = pu_json_str(v, "proto");
        if (proto == NULL)
            proto = pu_json_str(v, "protocol");
        source = pu_json_str(v, portable ? "from" : "cidr");
        if (source == NULL)
            source = pu_json_str(v, portable ? "cidr" : "from");
        if (source == NULL)
            source = pu_json_str(v, "security_group");
        ports = AJ->get(v, "port");
        const infra_json *fp = AJ->get(v, "from_port"), *tp = AJ->get(v, "to_port");
        if (ports == NULL && fp != NULL) {
            if (pu_json_to_int(fp, &r->from_port) < 0 ||
                pu_json_to_int(tp ? tp : fp, &r->to_port) < 0 || r->from_port > r->to_port) {
                pu_diagf(call, attr, "from_port and to_port must be numbers, from_port first");
                return INFRA_EINVALID;
            }
            ports = NULL;
        }
    } else if (!(AJ->type(v) == INFRA_JSON_INT || AJ->type(v) == INFRA_JSON_STRING)) {
        pu_diagf(call, attr, "a rule is a port, \"FROM-TO\" or a map");
        return INFRA_EINVALID;
    }
    if (parse_proto(proto, r->proto) < 0) {
        pu_diagf(call, attr, "protocol must be tcp, udp, icmp or all");
        return INFRA_EINVALID;
    }
    /* ICMP has types, not ports: {proto: icmp} is every type (the AWS
     * form's from_port and to_port give a type and a code); all is every
     * port of every protocol. */
    if ((strcmp(r->proto, "-1") == 0 || strcmp(r->proto, "icmp") == 0) &&
        AJ->type(v) == INFRA_JSON_OBJECT && AJ->get(v, "port") != NULL) {
        pu_diagf(call, attr, "proto %s takes no port: it opens every %s",
                 strcmp(r->proto, "-1") == 0 ? "all" : "icmp",
                 strcmp(r->proto, "-1") == 0 ? "port of every protocol" : "ICMP type");
        return INFRA_EINVALID;
    }
    if (strcmp(r->proto, "-1") == 0 ||
        (strcmp(r->proto, "icmp") == 0 && ports == NULL && AJ->get(v, "from_port") == NULL)) {
        r->from_port = r->to_port = -1;
    } else if (ports != NULL && parse_ports(ports, &r->from_port, &r->to_port) < 0) {
        pu_diagf(call, attr, "a port is a number from 0 to 65535, or a range \"FROM-TO\"");
        return INFRA_EINVALID;
    } else if (ports == NULL && AJ->get(v, "from_port") == NULL) {
        pu_diagf(call, attr, "a rule needs a port (or from_port and to_port)");
        return INFRA_EINVALID;
    }
    if (parse_source(source, r->source) < 0) {
        pu_diagf(call, attr,
                 "the source must be any, an IPv4 address or range, or a security "
                 "group id (sg-...)");
        return INFRA_EINVALID;
    }
    return 0;
}

static int parse_list(infra_call *call, const infra_json *list, const char *name, int portable,
                      aws_rule **v, size_t *n)
{
    int error = 0;
    if (list == NULL)
        return 0;
    if (AJ->type(list) != INFRA_JSON_ARRAY) {
        pu_diagf(call, name, "%s must be a list of rules", name);
        return INFRA_EINVALID;
    }
    for (size_t i = 0; i < AJ->length(list); i++) {
        char attr[48];
        aws_rule r;
        snprintf(attr, sizeof(attr), "%s[%zu]", name, i);
        if (parse_one(call, AJ->at(list, i), attr, portable, &r) < 0)
            error = INFRA_EINVALID;
        else
            push_rule(v, n, &r);
    }
    return error;
}

static void sort_unique(aws_rule *v, size_t *n)
{
    if (*n == 0)
        return;
    qsort(v, *n, sizeof(*v), rule_cmp);
    size_t w = 1;
    for (size_t i = 1; i < *n; i++)
        if (rule_cmp(&v[i], &v[w - 1]) != 0)
            v[w++] = v[i];
    *n = w;
}

int aws_rules_parse(infra_call *call, const infra_json *allow, const infra_json *list,
                    const char *attr, aws_rule **out, size_t *n)
{
    aws_rule *v = NULL;
    size_t count = 0;
    int error = 0;
    if (parse_list(call, allow, "allow", 1, &v, &count) < 0)
        error = INFRA_EINVALID;
    if (parse_list(call, list, attr, 0, &v, &count) < 0)
        error = INFRA_EINVALID;
    if (error < 0) {
        free(v);
        return error;
    }
    sort_unique(v, &count);
    *out = v;
    *n = count;
    return 0;
}

void aws_rules_encode(aws_params *p, const aws_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const aws_rule *r = &rules[i];
        aws_params_addk(p, r->proto, "IpPermissions.%zu.IpProtocol", i + 1);
        if (strcmp(r->proto, "-1") != 0) {
            char num[24];
            snprintf(num, sizeof(num), "%ld", r->from_port);
            aws_params_addk(p, num, "IpPermissions.%zu.FromPort", i + 1);
            snprintf(num, sizeof(num), "%ld", r->to_port);
            aws_params_addk(p, num, "IpPermissions.%zu.ToPort", i + 1);
        }
        if (strncmp(r->source, "sg-", 3) == 0)
            aws_params_addk(p, r->source, "IpPermissions.%zu.Groups.1.GroupId", i + 1);
        else
            aws_params_addk(p, r->source, "IpPermissions.%zu.IpRanges.1.CidrIp", i + 1);
    }
}

int aws_rules_from_xml(const xmlNode *perms, aws_rule **out, size_t *n)
{
    aws_rule *v = NULL;
    size_t count = 0;
    for (xmlNode *it = aws_xml_child(perms, "item"); it != NULL; it = aws_xml_next(it)) {
        aws_rule base;
        memset(&base, 0, sizeof(base));
        char *proto = aws_xml_get(it, "ipProtocol");
        if (parse_proto(proto, base.proto) < 0)
            snprintf(base.proto, sizeof(base.proto), "%.7s", proto ? proto : "?");
        free(proto);
        int all = strcmp(base.proto, "-1") == 0;
        base.from_port = all ? -1 : aws_xml_get_long(it, "fromPort", -1);
        base.to_port = all ? -1 : aws_xml_get_long(it, "toPort", -1);
        xmlNode *ranges = aws_xml_child(it, "ipRanges");
        for (xmlNode *r = aws_xml_child(ranges, "item"); r != NULL; r = aws_xml_next(r)) {
            aws_rule one = base;
            char *cidr = aws_xml_get(r, "cidrIp");
            snprintf(one.source, sizeof(one.source), "%s", cidr ? cidr : "");
            free(cidr);
            push_rule(&v, &count, &one);
        }
        xmlNode *groups = aws_xml_child(it, "groups");
        for (xmlNode *g = aws_xml_child(groups, "item"); g != NULL; g = aws_xml_next(g)) {
            aws_rule one = base;
            char *id = aws_xml_get(g, "groupId");
            snprintf(one.source, sizeof(one.source), "%s", id ? id : "");
            free(id);
            push_rule(&v, &count, &one);
        }
    }
    sort_unique(v, &count);
    *out = v;
    *n = count;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The resource                                                       */

typedef struct group_info {
    char *name;
    char *description;
    char *vpc;
    aws_rule *ingress;
    size_t ningress;
    aws_rule *egress;
    size_t negress;
    aws_tags tags;
} group_info;

static void group_clear(group_info *g)
{
    free(g->name);
    free(g->description);
    free(g->vpc);
    free(g->ingress);
    free(g->egress);
    aws_tags_free(&g->tags);
    memset(g, 0, sizeof(*g));
}

static void group_parse(const xmlNode *item, group_info *g)
{
    memset(g, 0, sizeof(*g));
    g->name = aws_xml_get(item, "groupName");
    g->description = aws_xml_get(item, "groupDescription");
    g->vpc = aws_xml_get(item, "vpcId");
    aws_rules_from_xml(aws_xml_child(item, "ipPermissions"), &g->ingress, &g->ningress);
    aws_rules_from_xml(aws_xml_child(item, "ipPermissionsEgress"), &g->egress, &g->negress);
    aws_tags_parse(aws_xml_child(item, "tagSet"), &g->tags);
}

static int group_describe(aws_act *a, const char *id, unsigned flags, group_info *g)
{
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    memset(g, 0, sizeof(*g));
    int error = aws_describe_one(a->p, a->call, "DescribeSecurityGroups", "GroupId.1", id,
                                 "securityGroupInfo", flags, &r, &item);
    if (error == 0)
        group_parse(item, g);
    aws_resp_free(r);
    return error;
}

static int rule_in(const aws_rule *r, const aws_rule *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rule_cmp(r, &v[i]) == 0)
            return 1;
    return 0;
}

/* Authorizes what want has and now lacks, revokes the reverse. */
static int sync_rules(aws_act *a, const char *id, int egress, const aws_rule *want, size_t nwant,
                      const aws_rule *now, size_t nnow)
{
    aws_rule *add = NULL, *del = NULL;
    size_t nadd = 0, ndel = 0;
    int error = 0;
    const char *attr = egress ? "egress" : "ingress";

    for (size_t i = 0; i < nwant; i++)
        if (!rule_in(&want[i], now, nnow))
            push_rule(&add, &nadd, &want[i]);
    for (size_t i = 0; i < nnow; i++)
        if (!rule_in(&now[i], want, nwant))
            push_rule(&del, &ndel, &now[i]);
    if (ndel > 0) {
        aws_params q = {0};
        aws_resp *r = NULL;
        aws_params_add(&q, "GroupId", id);
        aws_rules_encode(&q, del, ndel);
        error = aws_query(a->p, a->call, AWS_EC2,
                          egress ? "RevokeSecurityGroupEgress" : "RevokeSecurityGroupIngress", &q,
                          attr, AWS_SAFE | AWS_FRESH, "InvalidPermission.NotFound", &r);
        if (error == INFRA_ENOTFOUND)
            error = 0;
        aws_resp_free(r);
        aws_params_free(&q);
    }
    if (error == 0 && nadd > 0) {
        aws_params q = {0};
        aws_resp *r = NULL;
        aws_params_add(&q, "GroupId", id);
        aws_rules_encode(&q, add, nadd);
        error = aws_query(a->p, a->call, AWS_EC2,
                          egress ? "AuthorizeSecurityGroupEgress" : "AuthorizeSecurityGroupIngress",
                          &q, attr, AWS_SAFE | AWS_FRESH, "InvalidPermission.Duplicate", &r);
        aws_resp_free(r);
        aws_params_free(&q);
        if (error == INFRA_ECONFLICT) {
            /* An earlier try authorized some: one at a time, duplicates skipped. */
            error = 0;
            for (size_t i = 0; error == 0 && i < nadd; i++) {
                aws_params one = {0};
                aws_params_add(&one, "GroupId", id);
                aws_rules_encode(&one, &add[i], 1);
                error = aws_query(a->p, a->call, AWS_EC2,
                                  egress ? "AuthorizeSecurityGroupEgress"
                                         : "AuthorizeSecurityGroupIngress",
                                  &one, attr, AWS_SAFE, "InvalidPermission.Duplicate", &r);
                if (error == INFRA_ECONFLICT)
                    error = 0;
                aws_resp_free(r);
                r = NULL;
                aws_params_free(&one);
            }
        }
    }
    free(add);
    free(del);
    return error;
}

/* The group this create made: by token, or by name in the VPC when its
 * tag says it is ours. */
static int group_by_name(aws_act *a, const char *vpc, const char *name, char **id)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    const char *token = pu_host->call_token(a->call);
    aws_params_filter1(&q, "vpc-id", vpc);
    aws_params_filter1(&q, "group-name", name);
    int error =
        aws_query(a->p, a->call, AWS_EC2, "DescribeSecurityGroups", &q, "name", AWS_SAFE, NULL, &r);
    if (error == 0) {
        xmlNode *item = aws_xml_path(r->result, "securityGroupInfo/item");
        aws_tags tags;
        aws_tags_parse(aws_xml_child(item, "tagSet"), &tags);
        const char *owner = aws_tags_get(&tags, "infra:token");
        if (item == NULL) {
            error = INFRA_ENOTFOUND;
        } else if (owner == NULL || token == NULL || strcmp(owner, token) != 0) {
            pu_diagf(a->call, "name",
                     "aws: a security group named \"%s\" already exists in %s and was not made "
                     "by this resource; choose another name",
                     name, vpc);
            error = INFRA_ECONFLICT;
        } else {
            *id = aws_xml_get(item, "groupId");
        }
        aws_tags_free(&tags);
    }
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

static int group_create(aws_act *a, const char *vpc, const char *name, char **id)
{
    const char *desc = pu_json_str(a->planned, "description");
    char *derived = pu_printf("infra: %s", pu_host->call_address(a->call));
    aws_params q = {0};
    aws_tags tags = {0};
    aws_resp *r = NULL;
    int error;

    if ((error = aws_tags_build(a->call, name, AJ->get(a->planned, "tags"), &tags)) == 0) {
        aws_params_add(&q, "GroupName", name);
        aws_params_add(&q, "GroupDescription", desc ? desc : derived);
        aws_params_add(&q, "VpcId", vpc);
        aws_tags_spec(&q, 1, "security-group", &tags);
        error = aws_query(a->p, a->call, AWS_EC2, "CreateSecurityGroup", &q, "name", AWS_FRESH,
                          "InvalidGroup.Duplicate", &r);
        if (error == 0)
            *id = aws_xml_get(r->result, "groupId");
        else if (error == INFRA_ECONFLICT)
            error = group_by_name(a, vpc, name, id);
    }
    aws_resp_free(r);
    aws_params_free(&q);
    aws_tags_free(&tags);
    free(derived);
    return error;
}

static int firewall_apply(aws_act *a)
{
    const char *vpc = aws_json_str_any(a->planned, network_keys);
    const infra_json *egress_cfg = AJ->get(a->planned, "egress");
    aws_rule *ingress = NULL, *egress = NULL;
    size_t ningress = 0, negress = 0;
    group_info now = {0};
    char *id = NULL, *name = NULL;
    infra_json *st = NULL;
    int error;

    if ((error = aws_rules_parse(a->call, AJ->get(a->planned, "allow"),
                                 AJ->get(a->planned, "ingress"), "ingress", &ingress, &ningress)) <
            0 ||
        (error = aws_rules_parse(a->call, NULL, egress_cfg, "egress", &egress, &negress)) < 0)
        goto done;
    if (a->prior != NULL) {
        if ((error = aws_prior_id(a, &id)) < 0)
            goto done;
        name = pu_strdup(pu_json_str(a->prior, "name") ? pu_json_str(a->prior, "name") : "");
        error = aws_tags_sync(a->p, a->call, id, a->prior, a->planned, NULL);
    } else {
        const char *given = pu_json_str(a->planned, "name");
        name = given ? pu_strdup(given) : aws_call_name(a->call, 255);
        if ((error = aws_find_mine_before_create(a, &group_kind, &id)) == INFRA_ENOTFOUND)
            error = group_create(a, vpc, name, &id);
    }
    if (error == 0 && (error = group_describe(a, id, AWS_FRESH, &now)) == 0 &&
        (error = sync_rules(a, id, 0, ingress, ningress, now.ingress, now.ningress)) == 0 &&
        egress_cfg != NULL)
        error = sync_rules(a, id, 1, egress, negress, now.egress, now.negress);
    if (error == 0) {
        st = aws_state_new(a->planned);
        if ((error = pu_json_set_str(st, "id", id)) == 0)
            error = pu_json_set_str(st, "name", now.name ? now.name : name);
    }
done:
    group_clear(&now);
    free(ingress);
    free(egress);
    free(id);
    free(name);
    return aws_state_finish(a, st, error);
}

static int firewall_remove(aws_act *a)
{
    /* A group stays in use while instances and balancers that had it go away. */
    return aws_remove_simple(a, AWS_EC2, "DeleteSecurityGroup", "GroupId", aws_state_id(a->prior),
                             AWS_SAFE | AWS_DEPENDENT, "InvalidGroup.NotFound");
}

static int same_rules(const aws_rule *x, size_t nx, const aws_rule *y, size_t ny)
{
    if (nx != ny)
        return 0;
    for (size_t i = 0; i < nx; i++)
        if (rule_cmp(&x[i], &y[i]) != 0)
            return 0;
    return 1;
}

/* The rules as the AWS form of the state. */
static infra_json *rules_json(const aws_rule *v, size_t n)
{
    infra_json *list = AJ->new_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        infra_json *o = AJ->new_object();
        int ok = o != NULL && pu_json_set_str(o, "protocol", v[i].proto) == 0 &&
                 pu_json_set_int(o, "from_port", v[i].from_port) == 0 &&
                 pu_json_set_int(o, "to_port", v[i].to_port) == 0 &&
                 pu_json_set_str(o, strncmp(v[i].source, "sg-", 3) == 0 ? "security_group" : "cidr",
                                 v[i].source) == 0 &&
                 AJ->append(list, o) == 0;
        if (!ok) {
            AJ->release(list);
            return NULL;
        }
    }
    return list;
}

/* The state of a->state's group as item describes it. */
static int firewall_refresh(aws_act *a, const char *id, const xmlNode *item)
{
    group_info now;
    aws_rule *ingress = NULL, *egress = NULL;
    size_t ningress = 0, negress = 0;
    int error;

    group_parse(item, &now);
    infra_json *st = aws_state_new(a->state);
    if ((error = pu_json_set_str(st, "id", id)) == 0 &&
        (error = pu_json_set_str(st, "name", now.name)) == 0) {
        const char *key = AJ->get(st, "vpc") != NULL ? "vpc" : "network";
        error = pu_json_set_str(st, key, now.vpc);
        if (error == 0 && AJ->get(st, "description") != NULL)
            error = pu_json_set_str(st, "description", now.description);
        /* The state's own words while the rules are the same, else what is there. */
        if (error == 0 &&
            aws_rules_parse(a->call, AJ->get(st, "allow"), AJ->get(st, "ingress"), "ingress",
                            &ingress, &ningress) == 0 &&
            !same_rules(ingress, ningress, now.ingress, now.ningress)) {
            infra_json *list = rules_json(now.ingress, now.ningress);
            AJ->remove(st, "allow");
            if (list == NULL || AJ->set(st, "ingress", list) < 0)
                error = INFRA_EINTERNAL;
        }
        const infra_json *eg = AJ->get(st, "egress");
        if (error == 0 && eg != NULL &&
            aws_rules_parse(a->call, NULL, eg, "egress", &egress, &negress) == 0 &&
            !same_rules(egress, negress, now.egress, now.negress)) {
            infra_json *list = rules_json(now.egress, now.negress);
            if (list == NULL || AJ->set(st, "egress", list) < 0)
                error = INFRA_EINTERNAL;
        }
        /* name is the group's name; the Name tag only mirrors it. */
        if (error == 0 && (error = aws_tags_read(st, &now.tags, NULL)) == 0)
            error = pu_json_set_str(st, "name", now.name);
    }
    free(ingress);
    free(egress);
    group_clear(&now);
    return aws_state_finish(a, st, error);
}

static int firewall_read(aws_act *a)
{
    const char *id;
    char *found = NULL;
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    int error;

    if ((error = aws_read_id(a, &group_kind, &id, &found)) < 0)
        return error;
    error = aws_describe_one(a->p, a->call, "DescribeSecurityGroups", "GroupId.1", id,
                             "securityGroupInfo", 0, &r, &item);
    if (error == 0)
        error = firewall_refresh(a, id, item);
    aws_resp_free(r);
    free(found);
    return error;
}

static int firewall_read_many(aws_many *m)
{
    return aws_ec2_read_many(m, &group_kind, NULL, firewall_refresh);
}

const aws_handler aws_firewall_handler = {"firewall", firewall_apply, firewall_remove,
                                          firewall_read, firewall_read_many};
