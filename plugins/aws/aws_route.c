/* Route tables: the table, its routes (to an internet or NAT gateway, or
 * to an instance such as a NAT instance) and
 * its subnet associations, reconciled in place: only the routes and
 * associations that differ are created, replaced or removed. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const network_keys[] = {"network", "vpc", NULL};

static const aws_ec2_kind table_kind = {.describe = "DescribeRouteTables",
                                        .set = "routeTableSet",
                                        .id_elem = "routeTableId",
                                        .filter = "route-table-id",
                                        .page_max = 100};

/* What a route leads to: its key in the config, its parameter in
 * CreateRoute/ReplaceRoute and its element in DescribeRouteTables. */
typedef enum { TARGET_GATEWAY, TARGET_NAT, TARGET_INSTANCE, TARGET_COUNT } route_target;

static const struct {
    const char *key, *param, *elem;
} targets[TARGET_COUNT] = {
    {"gateway", "GatewayId", "gatewayId"},
    {"nat_gateway", "NatGatewayId", "natGatewayId"},
    {"instance", "InstanceId", "instanceId"},
};

typedef struct route {
    char *cidr;
    char *target; /* igw-..., nat-... or i-... */
    route_target kind;
} route;

typedef struct table_info {
    route *routes; /* the ones made by CreateRoute */
    size_t nroutes;
    char **subnets; /* associated subnets */
    char **assoc;   /* their association ids, same order */
    aws_tags tags;
    char *vpc;
} table_info;

static void table_clear(table_info *t)
{
    for (size_t i = 0; i < t->nroutes; i++) {
        free(t->routes[i].cidr);
        free(t->routes[i].target);
    }
    free(t->routes);
    aws_strv_free(t->subnets);
    aws_strv_free(t->assoc);
    aws_tags_free(&t->tags);
    free(t->vpc);
    memset(t, 0, sizeof(*t));
}

static void route_push(route **v, size_t *n, const char *cidr, const char *target,
                       route_target kind)
{
    route *grown = pu_realloc(*v, (*n + 1) * sizeof(**v));
    *v = grown;
    grown[*n].cidr = pu_strdup(cidr);
    grown[*n].target = pu_strdup(target);
    grown[*n].kind = kind;
    (*n)++;
}

/* What a DescribeRouteTables item says of its table. */
static void table_parse(const xmlNode *item, table_info *t)
{
    memset(t, 0, sizeof(*t));
    t->subnets = pu_calloc(1, sizeof(char *));
    t->assoc = pu_calloc(1, sizeof(char *));
    xmlNode *set = aws_xml_child(item, "routeSet");
    for (xmlNode *it = aws_xml_child(set, "item"); it != NULL; it = aws_xml_next(it)) {
        char *origin = aws_xml_get(it, "origin");
        char *cidr = aws_xml_get(it, "destinationCidrBlock");
        int mine = origin == NULL || strcmp(origin, "CreateRoute") == 0;
        /* A route to an instance also names its interface, never a
         * gateway: the more specific target wins. */
        for (int k = TARGET_INSTANCE; mine && cidr && *cidr && k >= 0; k--) {
            char *target = aws_xml_get(it, targets[k].elem);
            int found = target != NULL && *target && strcmp(target, "local") != 0;
            if (found)
                route_push(&t->routes, &t->nroutes, cidr, target, (route_target)k);
            free(target);
            if (found)
                break;
        }
        free(origin);
        free(cidr);
    }
    set = aws_xml_child(item, "associationSet");
    for (xmlNode *it = aws_xml_child(set, "item"); it != NULL; it = aws_xml_next(it)) {
        char *subnet = aws_xml_get(it, "subnetId");
        char *assoc = aws_xml_get(it, "routeTableAssociationId");
        if (!aws_xml_get_bool(it, "main") && subnet && *subnet && assoc && *assoc) {
            aws_strv_push(&t->subnets, subnet);
            aws_strv_push(&t->assoc, assoc);
        }
        free(subnet);
        free(assoc);
    }
    aws_tags_parse(aws_xml_child(item, "tagSet"), &t->tags);
    t->vpc = aws_xml_get(item, "vpcId");
}

static int table_describe(aws_act *a, const char *id, unsigned flags, table_info *t)
{
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    int error = aws_describe_one(a->p, a->call, "DescribeRouteTables", "RouteTableId.1", id,
                                 "routeTableSet", flags, &r, &item);
    if (error == 0) {
        table_parse(item, t);
    } else {
        memset(t, 0, sizeof(*t));
        t->subnets = pu_calloc(1, sizeof(char *));
        t->assoc = pu_calloc(1, sizeof(char *));
    }
    aws_resp_free(r);
    return error;
}

/* The routes of the config. */
static void wanted_routes(const infra_json *cfg, route **v, size_t *n)
{
    const infra_json *routes = AJ->get(cfg, "routes");
    *v = NULL;
    *n = 0;
    for (size_t i = 0; AJ->type(routes) == INFRA_JSON_ARRAY && i < AJ->length(routes); i++) {
        const infra_json *r = AJ->at(routes, i);
        const char *cidr = pu_json_str(r, "cidr");
        for (int k = 0; cidr != NULL && k < TARGET_COUNT; k++) {
            const char *target = pu_json_str(r, targets[k].key);
            if (target != NULL) {
                route_push(v, n, cidr, target, (route_target)k);
                break;
            }
        }
    }
}

static const route *route_find(const route *v, size_t n, const char *cidr)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].cidr, cidr) == 0)
            return &v[i];
    return NULL;
}

static int route_call(aws_act *a, const char *action, const char *id, const route *r, size_t i,
                      const char *quiet)
{
    aws_params q = {0};
    aws_resp *resp = NULL;
    char attr[32];
    snprintf(attr, sizeof(attr), "routes[%zu]", i);
    aws_params_add(&q, "RouteTableId", id);
    aws_params_add(&q, "DestinationCidrBlock", r->cidr);
    if (strcmp(action, "DeleteRoute") != 0)
        aws_params_add(&q, targets[r->kind].param, r->target);
    int error =
        aws_query(a->p, a->call, AWS_EC2, action, &q, attr, AWS_SAFE | AWS_FRESH, quiet, &resp);
    aws_resp_free(resp);
    aws_params_free(&q);
    return error;
}

/* Ends one subnet association; one already gone is not an error. */
static int disassociate(aws_act *a, const char *attr, const char *assoc)
{
    int error = aws_query_simple(a->p, a->call, AWS_EC2, "DisassociateRouteTable", attr, AWS_SAFE,
                                 "InvalidAssociationID.NotFound", "AssociationId", assoc, NULL);
    return error == INFRA_ENOTFOUND ? 0 : error;
}

static int reconcile(aws_act *a, const char *id, table_info *now)
{
    route *want = NULL;
    size_t nwant = 0;
    char **subnets = NULL;
    int error = 0;

    wanted_routes(a->planned, &want, &nwant);
    if (aws_json_strv(AJ->get(a->planned, "subnets"), &subnets) < 0) {
        pu_diagf(a->call, "subnets", "subnets must be a list of subnet ids");
        error = INFRA_EINVALID;
        goto done;
    }
    for (size_t i = 0; error == 0 && i < now->nroutes; i++)
        if (route_find(want, nwant, now->routes[i].cidr) == NULL) {
            error = route_call(a, "DeleteRoute", id, &now->routes[i], i, "InvalidRoute.NotFound");
            if (error == INFRA_ENOTFOUND)
                error = 0;
        }
    for (size_t i = 0; error == 0 && i < nwant; i++) {
        const route *cur = route_find(now->routes, now->nroutes, want[i].cidr);
        if (cur != NULL && cur->kind == want[i].kind && strcmp(cur->target, want[i].target) == 0)
            continue;
        if (cur != NULL) {
            error = route_call(a, "ReplaceRoute", id, &want[i], i, NULL);
        } else {
            error = route_call(a, "CreateRoute", id, &want[i], i, "RouteAlreadyExists");
            if (error == INFRA_ECONFLICT) /* made by an earlier try */
                error = route_call(a, "ReplaceRoute", id, &want[i], i, NULL);
        }
    }
    for (size_t i = 0; error == 0 && now->subnets[i] != NULL; i++) {
        if (aws_strv_has(subnets, now->subnets[i]))
            continue;
        error = disassociate(a, "subnets", now->assoc[i]);
    }
    for (size_t i = 0; error == 0 && subnets[i] != NULL; i++) {
        if (aws_strv_has(now->subnets, subnets[i]))
            continue;
        char attr[32];
        snprintf(attr, sizeof(attr), "subnets[%zu]", i);
        error = aws_query_simple(a->p, a->call, AWS_EC2, "AssociateRouteTable", attr,
                                 AWS_SAFE | AWS_FRESH, NULL, "RouteTableId", id, "SubnetId",
                                 subnets[i], NULL);
    }
done:
    for (size_t i = 0; i < nwant; i++) {
        free(want[i].cidr);
        free(want[i].target);
    }
    free(want);
    aws_strv_free(subnets);
    return error;
}

static int associations_json(const table_info *t, infra_json *st)
{
    infra_json *m = AJ->new_object();
    if (m == NULL)
        return INFRA_EINTERNAL;
    for (size_t i = 0; t->subnets[i] != NULL; i++)
        if (AJ->set(m, t->subnets[i], AJ->new_string(t->assoc[i])) < 0) {
            AJ->release(m);
            return INFRA_EINTERNAL;
        }
    return AJ->set(st, "associations", m) < 0 ? INFRA_EINTERNAL : 0;
}

static int route_table_apply(aws_act *a)
{
    char *id = NULL;
    table_info now = {0};
    infra_json *st = NULL;
    int error = 0;

    if (a->prior != NULL) {
        if ((error = aws_prior_id(a, &id)) < 0)
            return error;
        error = aws_tags_sync(a->p, a->call, id, a->prior, a->planned, NULL);
    } else if ((error = aws_find_mine_before_create(a, &table_kind, &id)) == INFRA_ENOTFOUND) {
        aws_params q = {0};
        aws_params_add(&q, "VpcId", aws_json_str_any(a->planned, network_keys));
        error = aws_ec2_create(a, "CreateRouteTable", &q, "route-table", "network", AWS_FRESH,
                               "routeTable/routeTableId", &id);
        aws_params_free(&q);
    }
    if (error == 0 && (error = table_describe(a, id, AWS_FRESH, &now)) == 0 &&
        (error = reconcile(a, id, &now)) == 0) {
        table_clear(&now);
        error = table_describe(a, id, AWS_FRESH, &now);
    }
    if (error == 0) {
        st = aws_state_new(a->planned);
        if ((error = pu_json_set_str(st, "id", id)) == 0)
            error = associations_json(&now, st);
    }
    table_clear(&now);
    free(id);
    return aws_state_finish(a, st, error);
}

static int route_table_remove(aws_act *a)
{
    const char *id = aws_state_id(a->prior);
    table_info now = {0};
    if (id == NULL)
        return 0;
    int error = table_describe(a, id, 0, &now);
    for (size_t i = 0; error == 0 && now.assoc[i] != NULL; i++)
        error = disassociate(a, "", now.assoc[i]);
    if (error == 0)
        error = aws_query_simple(a->p, a->call, AWS_EC2, "DeleteRouteTable", "",
                                 AWS_SAFE | AWS_DEPENDENT, "InvalidRouteTableID.NotFound",
                                 "RouteTableId", id, NULL);
    table_clear(&now);
    return error == INFRA_ENOTFOUND ? 0 : error;
}

/* The routes as the state shows them: the prior list when it says the
 * same, else what the table holds now. */
static int routes_json(const table_info *now, const infra_json *prior, infra_json *st)
{
    route *want = NULL;
    size_t nwant = 0;
    int same;
    wanted_routes(prior, &want, &nwant);
    same = nwant == now->nroutes;
    for (size_t i = 0; same && i < nwant; i++) {
        const route *r = route_find(now->routes, now->nroutes, want[i].cidr);
        same = r != NULL && r->kind == want[i].kind && strcmp(r->target, want[i].target) == 0;
    }
    for (size_t i = 0; i < nwant; i++) {
        free(want[i].cidr);
        free(want[i].target);
    }
    free(want);
    if (same)
        return 0;
    infra_json *list = AJ->new_array();
    for (size_t i = 0; list != NULL && i < now->nroutes; i++) {
        infra_json *o = AJ->new_object();
        if (o == NULL || pu_json_set_str(o, "cidr", now->routes[i].cidr) < 0 ||
            pu_json_set_str(o, targets[now->routes[i].kind].key, now->routes[i].target) < 0 ||
            AJ->append(list, o) < 0) {
            AJ->release(list);
            return INFRA_EINTERNAL;
        }
    }
    return list == NULL || AJ->set(st, "routes", list) < 0 ? INFRA_EINTERNAL : 0;
}

static int subnets_json(const table_info *now, infra_json *st)
{
    char **prior = NULL;
    if (aws_json_strv(AJ->get(st, "subnets"), &prior) < 0)
        prior = pu_calloc(1, sizeof(char *));
    int same = aws_strv_same_set(prior, now->subnets);
    aws_strv_free(prior);
    if (same)
        return 0;
    return aws_json_set_strv(st, "subnets", now->subnets);
}

/* The state of a->state's table as item describes it. */
static int route_table_refresh(aws_act *a, const char *id, const xmlNode *item)
{
    table_info now;
    int error;
    table_parse(item, &now);
    infra_json *st = aws_state_new(a->state);
    if ((error = pu_json_set_str(st, "id", id)) == 0 &&
        (error = routes_json(&now, a->state, st)) == 0 && (error = subnets_json(&now, st)) == 0 &&
        (error = associations_json(&now, st)) == 0) {
        const char *key = AJ->get(st, "vpc") != NULL ? "vpc" : "network";
        if ((error = pu_json_set_str(st, key, now.vpc)) == 0)
            error = aws_tags_read(st, &now.tags, NULL);
    }
    table_clear(&now);
    return aws_state_finish(a, st, error);
}

static int route_table_read(aws_act *a)
{
    const char *id;
    char *found = NULL;
    aws_resp *r = NULL;
    xmlNode *item = NULL;
    int error;

    if ((error = aws_read_id(a, &table_kind, &id, &found)) < 0)
        return error;
    error = aws_describe_one(a->p, a->call, "DescribeRouteTables", "RouteTableId.1", id,
                             "routeTableSet", 0, &r, &item);
    if (error == 0)
        error = route_table_refresh(a, id, item);
    aws_resp_free(r);
    free(found);
    return error;
}

static int route_table_read_many(aws_many *m)
{
    return aws_ec2_read_many(m, &table_kind, NULL, route_table_refresh);
}

const aws_handler aws_route_table_handler = {"route_table", route_table_apply, route_table_remove,
                                             route_table_read, route_table_read_many};
