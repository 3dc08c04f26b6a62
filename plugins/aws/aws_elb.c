/* Classic load balancers. The name is the id; without one it is derived
 * from the create's token, and CreateLoadBalancer with the same name and
 * listeners is idempotent, so a repeated create finds the balancer the
 * first made. Listeners, subnets, groups, the health check and the
 * registered instances are reconciled in place. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_LEN 32

/* ------------------------------------------------------------------ */
/* What a balancer is now                                             */

typedef struct lb_info {
    char *dns_name;
    char *zone_id;
    char *scheme;
    char **subnets;
    char **groups;
    char **instances;
    aws_listener *listeners;
    size_t nlisteners;
    char *health_target;
    long interval, timeout, healthy, unhealthy;
} lb_info;

static void lb_clear(lb_info *l)
{
    free(l->dns_name);
    free(l->zone_id);
    free(l->scheme);
    aws_strv_free(l->subnets);
    aws_strv_free(l->groups);
    aws_strv_free(l->instances);
    free(l->listeners);
    free(l->health_target);
    memset(l, 0, sizeof(*l));
}

static char **member_strings(const xmlNode *parent, const char *list, const char *field)
{
    char **v = pu_calloc(1, sizeof(char *));
    for (xmlNode *m = aws_xml_child(aws_xml_child(parent, list), "member"); m != NULL;
         m = aws_xml_next(m)) {
        char *s = field ? aws_xml_get(m, field) : aws_xml_text(m);
        if (s != NULL && *s)
            aws_strv_push(&v, s);
        free(s);
    }
    return v;
}

/* One Describe call about balancer name: INFRA_ENOTFOUND, quietly, when
 * there is none. Free *r in every case. */
static int lb_query(aws_act *a, const char *action, const char *name, aws_resp **r)
{
    aws_params q = {0};
    aws_params_add(&q, "LoadBalancerNames.member.1", name);
    int error = aws_query(a->p, a->call, AWS_ELB, action, &q, "", AWS_SAFE,
                          "LoadBalancerNotFound AccessPointNotFound", r);
    aws_params_free(&q);
    return error;
}

static int lb_describe(aws_act *a, const char *name, lb_info *l)
{
    aws_resp *r = NULL;
    memset(l, 0, sizeof(*l));
    int error = lb_query(a, "DescribeLoadBalancers", name, &r);
    if (error == 0) {
        xmlNode *d = aws_xml_path(r->result, "LoadBalancerDescriptions/member");
        if (d == NULL) {
            error = INFRA_ENOTFOUND;
        } else {
            l->dns_name = aws_xml_get(d, "DNSName");
            l->zone_id = aws_xml_get(d, "CanonicalHostedZoneNameID");
            l->scheme = aws_xml_get(d, "Scheme");
            l->subnets = member_strings(d, "Subnets", NULL);
            l->groups = member_strings(d, "SecurityGroups", NULL);
            l->instances = member_strings(d, "Instances", "InstanceId");
            xmlNode *ls = aws_xml_child(d, "ListenerDescriptions");
            for (xmlNode *m = aws_xml_child(ls, "member"); m != NULL; m = aws_xml_next(m)) {
                xmlNode *li = aws_xml_child(m, "Listener");
                aws_listener x;
                memset(&x, 0, sizeof(x));
                char *p1 = aws_xml_get(li, "Protocol"), *p2 = aws_xml_get(li, "InstanceProtocol");
                aws_listener_protocol(p1, x.protocol);
                if (!aws_listener_protocol(p2, x.instance_protocol))
                    snprintf(x.instance_protocol, sizeof(x.instance_protocol), "%s", x.protocol);
                free(p1);
                free(p2);
                x.port = aws_xml_get_long(li, "LoadBalancerPort", 0);
                x.instance_port = aws_xml_get_long(li, "InstancePort", 0);
                aws_listener *grown = pu_realloc(l->listeners, (l->nlisteners + 1) * sizeof(x));
                l->listeners = grown;
                l->listeners[l->nlisteners++] = x;
            }
            qsort(l->listeners, l->nlisteners, sizeof(aws_listener), aws_listener_cmp);
            xmlNode *hc = aws_xml_child(d, "HealthCheck");
            l->health_target = aws_xml_get(hc, "Target");
            l->interval = aws_xml_get_long(hc, "Interval", 0);
            l->timeout = aws_xml_get_long(hc, "Timeout", 0);
            l->healthy = aws_xml_get_long(hc, "HealthyThreshold", 0);
            l->unhealthy = aws_xml_get_long(hc, "UnhealthyThreshold", 0);
        }
    }
    aws_resp_free(r);
    return error;
}

static int lb_tags(aws_act *a, const char *name, aws_tags *out)
{
    aws_resp *r = NULL;
    memset(out, 0, sizeof(*out));
    int error = lb_query(a, "DescribeTags", name, &r);
    if (error == 0)
        aws_tags_parse_members(aws_xml_path(r->result, "TagDescriptions/member/Tags"), out);
    aws_resp_free(r);
    return error;
}

/* ------------------------------------------------------------------ */
/* Reconciling                                                        */

/* The instance ids of targets: ids as they are, private addresses looked up. */
static int resolve_targets(aws_act *a, const infra_json *targets, char ***out)
{
    char **given = NULL, **ips = NULL;
    int error = 0;
    *out = pu_calloc(1, sizeof(char *));
    if (aws_json_strv(targets, &given) < 0) {
        pu_diagf(a->call, "targets", "targets must be a list of instance ids");
        return INFRA_EINVALID;
    }
    ips = pu_calloc(1, sizeof(char *));
    for (size_t i = 0; given[i] != NULL; i++) {
        if (aws_is_ipv4(given[i]))
            aws_strv_push(&ips, given[i]);
        else if (!aws_strv_has(*out, given[i]))
            aws_strv_push(out, given[i]);
    }
    if (aws_strv_len(ips) > 0) {
        aws_params q = {0};
        aws_resp *r = NULL;
        char *live[] = {"pending", "running", NULL};
        aws_params_filter(&q, "private-ip-address", ips);
        aws_params_filter(&q, "instance-state-name", live);
        error = aws_query(a->p, a->call, AWS_EC2, "DescribeInstances", &q, "targets", AWS_SAFE,
                          NULL, &r);
        if (error == 0) {
            aws_instance *v = NULL;
            size_t n = 0;
            aws_instances_parse(r->result, &v, &n);
            for (size_t i = 0; ips[i] != NULL; i++) {
                const char *found = NULL;
                for (size_t k = 0; k < n && found == NULL; k++)
                    if (v[k].private_ip != NULL && strcmp(v[k].private_ip, ips[i]) == 0)
                        found = v[k].id;
                if (found == NULL) {
                    pu_diagf(a->call, "targets", "no instance has the private address %s in %s",
                             ips[i], a->p->region);
                    error = INFRA_EINVALID;
                } else if (!aws_strv_has(*out, found)) {
                    aws_strv_push(out, found);
                }
            }
            aws_instances_free(v, n);
        }
        aws_resp_free(r);
        aws_params_free(&q);
    }
    aws_strv_free(given);
    aws_strv_free(ips);
    return error;
}

static int instances_call(aws_act *a, const char *action, const char *name, char *const *ids)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    if (aws_strv_len(ids) == 0)
        return 0;
    aws_params_add(&q, "LoadBalancerName", name);
    for (size_t i = 0; ids[i] != NULL; i++)
        aws_params_addk(&q, ids[i], "Instances.member.%zu.InstanceId", i + 1);
    int error =
        aws_query(a->p, a->call, AWS_ELB, action, &q, "targets", AWS_SAFE | AWS_FRESH, NULL, &r);
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

static int list_call(aws_act *a, const char *action, const char *attr, const char *name,
                     const char *list, char *const *values)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    aws_params_add(&q, "LoadBalancerName", name);
    aws_params_list(&q, AWS_LIST_MEMBER, list, values);
    int error = aws_query(a->p, a->call, AWS_ELB, action, &q, attr, AWS_SAFE | AWS_FRESH, NULL, &r);
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

/* a minus b. */
static char **minus(char *const *x, char *const *y)
{
    char **out = pu_calloc(1, sizeof(char *));
    for (size_t i = 0; x != NULL && x[i] != NULL; i++)
        if (!aws_strv_has(y, x[i]))
            aws_strv_push(&out, x[i]);
    return out;
}

static void health_numbers(const infra_json *cfg, long *interval, long *timeout, long *healthy,
                           long *unhealthy)
{
    *interval = 10;
    *timeout = 5;
    *healthy = 2;
    *unhealthy = 2;
    pu_json_to_int(AJ->get(cfg, "health_interval"), interval);
    pu_json_to_int(AJ->get(cfg, "health_timeout"), timeout);
    pu_json_to_int(AJ->get(cfg, "healthy_threshold"), healthy);
    pu_json_to_int(AJ->get(cfg, "unhealthy_threshold"), unhealthy);
    if (*timeout >= *interval)
        *timeout = *interval > 2 ? *interval - 1 : 1;
}

/* The health check target of cfg: health, else TCP on the first listener's instance port. */
static char *wanted_health(const infra_json *cfg, const aws_listener *l, size_t n)
{
    const char *h = pu_json_str(cfg, "health");
    if (h != NULL)
        return aws_health_target(h);
    return pu_printf("TCP:%ld", n > 0 ? l[0].instance_port : 80);
}

static int configure_health(aws_act *a, const char *name, const char *target)
{
    long interval, timeout, healthy, unhealthy;
    aws_params q = {0};
    aws_resp *r = NULL;
    health_numbers(a->planned, &interval, &timeout, &healthy, &unhealthy);
    aws_params_add(&q, "LoadBalancerName", name);
    aws_params_add(&q, "HealthCheck.Target", target);
    aws_params_add_int(&q, "HealthCheck.Interval", interval);
    aws_params_add_int(&q, "HealthCheck.Timeout", timeout);
    aws_params_add_int(&q, "HealthCheck.UnhealthyThreshold", unhealthy);
    aws_params_add_int(&q, "HealthCheck.HealthyThreshold", healthy);
    int error = aws_query(a->p, a->call, AWS_ELB, "ConfigureHealthCheck", &q, "health",
                          AWS_SAFE | AWS_FRESH, NULL, &r);
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

static int sync_listeners(aws_act *a, const char *name, const aws_listener *want, size_t nwant,
                          const lb_info *now)
{
    aws_params del = {0};
    aws_listener *add = NULL;
    size_t nadd = 0, ndel = 0;
    int error = 0;
    for (size_t i = 0; i < now->nlisteners; i++) {
        int keep = 0;
        for (size_t k = 0; k < nwant && !keep; k++)
            keep = aws_listener_same(&now->listeners[i], &want[k]);
        if (!keep) {
            char num[24];
            snprintf(num, sizeof(num), "%ld", now->listeners[i].port);
            aws_params_addk(&del, num, "LoadBalancerPorts.member.%zu", ++ndel);
        }
    }
    for (size_t k = 0; k < nwant; k++) {
        int have = 0;
        for (size_t i = 0; i < now->nlisteners && !have; i++)
            have = aws_listener_same(&now->listeners[i], &want[k]);
        if (!have) {
            aws_listener *grown = pu_realloc(add, (nadd + 1) * sizeof(*add));
            add = grown;
            add[nadd++] = want[k];
        }
    }
    aws_resp *r = NULL;
    if (ndel > 0) {
        aws_params_add(&del, "LoadBalancerName", name);
        error = aws_query(a->p, a->call, AWS_ELB, "DeleteLoadBalancerListeners", &del, "listen",
                          AWS_SAFE, NULL, &r);
        aws_resp_free(r);
        r = NULL;
    }
    if (error == 0 && nadd > 0) {
        aws_params q = {0};
        aws_params_add(&q, "LoadBalancerName", name);
        aws_listeners_encode(&q, add, nadd);
        error = aws_query(a->p, a->call, AWS_ELB, "CreateLoadBalancerListeners", &q, "listen",
                          AWS_SAFE, NULL, &r);
        aws_resp_free(r);
        aws_params_free(&q);
    }
    aws_params_free(&del);
    free(add);
    return error;
}

static int sync_tags(aws_act *a, const char *name)
{
    aws_tags want = {0}, now = {0};
    aws_params add = {0}, del = {0};
    aws_resp *r = NULL;
    size_t ndel = 0;
    int error;
    if ((error = aws_tags_build(a->call, name, AJ->get(a->planned, "tags"), &want)) < 0 ||
        (error = lb_tags(a, name, &now)) < 0)
        goto done;
    for (size_t i = 0; i < now.n; i++)
        if (strncmp(now.v[i].key, "infra:", 6) != 0 && aws_tags_get(&want, now.v[i].key) == NULL)
            aws_params_addk(&del, now.v[i].key, "Tags.member.%zu.Key", ++ndel);
    if (ndel > 0) {
        aws_params_add(&del, "LoadBalancerNames.member.1", name);
        if ((error = aws_query(a->p, a->call, AWS_ELB, "RemoveTags", &del, "tags", AWS_SAFE, NULL,
                               &r)) < 0)
            goto done;
        aws_resp_free(r);
        r = NULL;
    }
    aws_tags user = {0};
    aws_tags_without_infra(&want, &user);
    aws_params_add(&add, "LoadBalancerNames.member.1", name);
    aws_tags_member(&add, &user);
    aws_tags_free(&user);
    error = aws_query(a->p, a->call, AWS_ELB, "AddTags", &add, "tags", AWS_SAFE, NULL, &r);
done:
    aws_resp_free(r);
    aws_params_free(&add);
    aws_params_free(&del);
    aws_tags_free(&want);
    aws_tags_free(&now);
    return error;
}

/* ------------------------------------------------------------------ */
/* The resource                                                       */

/* The name of a balancer this call creates without one given. */
static char *derived_name(infra_call *call)
{
    char hex[9];
    char *base = aws_call_name(call, NAME_MAX_LEN - 9);
    aws_token_hex(pu_host->call_token(call), 8, hex);
    char *name = pu_printf("%s-%s", base, hex);
    free(base);
    return name;
}

static int lb_create(aws_act *a, const char *name, const aws_listener *l, size_t nl)
{
    char **subnets = NULL, **groups = NULL;
    aws_params q = {0};
    aws_tags tags = {0}, found = {0};
    aws_resp *r = NULL;
    const char *token = pu_host->call_token(a->call);
    int internal = 0, error;

    /* A balancer of that name must be this create's own. */
    error = lb_tags(a, name, &found);
    if (error == 0) {
        const char *owner = aws_tags_get(&found, "infra:token");
        if (owner == NULL || token == NULL || strcmp(owner, token) != 0) {
            pu_diagf(a->call, "name",
                     "aws: a load balancer named \"%s\" already exists in %s and was not made "
                     "by this resource; choose another name",
                     name, a->p->region);
            error = INFRA_ECONFLICT;
        }
        goto done;
    }
    if (error != INFRA_ENOTFOUND)
        goto done;
    if (aws_json_strv(AJ->get(a->planned, "subnets"), &subnets) < 0 ||
        aws_json_strv(AJ->get(a->planned, "firewalls"), &groups) < 0) {
        pu_diagf(a->call, "subnets", "subnets and firewalls must be lists of ids");
        error = INFRA_EINVALID;
        goto done;
    }
    if (aws_strv_len(subnets) == 0) {
        pu_diagf(a->call, "subnets", "a load balancer needs subnets: the subnets it serves");
        error = INFRA_EINVALID;
        goto done;
    }
    if ((error = aws_tags_build(a->call, name, AJ->get(a->planned, "tags"), &tags)) < 0)
        goto done;
    pu_json_to_bool(AJ->get(a->planned, "internal"), &internal);
    aws_params_add(&q, "LoadBalancerName", name);
    aws_listeners_encode(&q, l, nl);
    aws_params_list(&q, AWS_LIST_MEMBER, "Subnets", subnets);
    aws_params_list(&q, AWS_LIST_MEMBER, "SecurityGroups", groups);
    if (internal)
        aws_params_add(&q, "Scheme", "internal");
    aws_tags_member(&q, &tags);
    /* The same name with the same listeners gives the same balancer. */
    error = aws_query(a->p, a->call, AWS_ELB, "CreateLoadBalancer", &q, "", AWS_SAFE | AWS_FRESH,
                      NULL, &r);
done:
    aws_resp_free(r);
    aws_params_free(&q);
    aws_tags_free(&tags);
    aws_tags_free(&found);
    aws_strv_free(subnets);
    aws_strv_free(groups);
    return error;
}

static int lb_state(aws_act *a, const char *name, infra_json **out)
{
    lb_info now = {0};
    int error = lb_describe(a, name, &now);
    infra_json *st = aws_state_new(a->planned);
    if (error == 0 && (error = pu_json_set_str(st, "id", name)) == 0 &&
        (error = pu_json_set_str(st, "name", name)) == 0 &&
        (error = pu_json_set_str(st, "dns_name", now.dns_name)) == 0 &&
        (error = pu_json_set_str(st, "zone_id", now.zone_id)) == 0 &&
        AJ->get(st, "targets") != NULL)
        error = aws_json_set_strv(st, "instances", now.instances);
    lb_clear(&now);
    if (error < 0) {
        AJ->release(st);
        return error;
    }
    *out = st;
    return 0;
}

static int load_balancer_apply(aws_act *a)
{
    aws_listener *l = NULL;
    size_t nl = 0;
    char *name = NULL, *health = NULL;
    char **want_ids = NULL, **subnets = NULL, **groups = NULL;
    lb_info now = {0};
    infra_json *st = NULL;
    int error;

    if ((error = aws_listeners_parse(a->call, a->planned, &l, &nl)) < 0)
        return error;
    if ((health = wanted_health(a->planned, l, nl)) == NULL) {
        pu_diagf(a->call, "health", "health must be \"http:PORT/PATH\" or \"tcp:PORT\"");
        error = INFRA_EINVALID;
        goto done;
    }
    if (a->prior != NULL) {
        const char *id = aws_state_id(a->prior);
        if (id == NULL) {
            error = INFRA_ENOTFOUND;
            goto done;
        }
        name = pu_strdup(id);
    } else {
        const char *given = pu_json_str(a->planned, "name");
        name = given ? pu_strdup(given) : derived_name(a->call);
        if ((error = lb_create(a, name, l, nl)) < 0)
            goto done;
    }
    if ((error = lb_describe(a, name, &now)) < 0)
        goto done;
    if (aws_json_strv(AJ->get(a->planned, "subnets"), &subnets) < 0 ||
        aws_json_strv(AJ->get(a->planned, "firewalls"), &groups) < 0) {
        pu_diagf(a->call, "subnets", "subnets and firewalls must be lists of ids");
        error = INFRA_EINVALID;
        goto done;
    }
    if (a->prior != NULL) {
        char **attach = minus(subnets, now.subnets), **detach = minus(now.subnets, subnets);
        if (aws_strv_len(attach) > 0)
            error = list_call(a, "AttachLoadBalancerToSubnets", "subnets", name, "Subnets", attach);
        if (error == 0 && aws_strv_len(detach) > 0)
            error =
                list_call(a, "DetachLoadBalancerFromSubnets", "subnets", name, "Subnets", detach);
        aws_strv_free(attach);
        aws_strv_free(detach);
        char **g1 = minus(groups, now.groups), **g2 = minus(now.groups, groups);
        if (error == 0 && aws_strv_len(groups) > 0 &&
            (aws_strv_len(g1) > 0 || aws_strv_len(g2) > 0))
            error = list_call(a, "ApplySecurityGroupsToLoadBalancer", "firewalls", name,
                              "SecurityGroups", groups);
        aws_strv_free(g1);
        aws_strv_free(g2);
        if (error == 0)
            error = sync_listeners(a, name, l, nl, &now);
        if (error == 0)
            error = sync_tags(a, name);
    }
    if (error == 0)
        error = configure_health(a, name, health);
    /* Without targets the registrations belong to someone else (an Auto
     * Scaling group): they are left alone. */
    const infra_json *targets = AJ->get(a->planned, "targets");
    if (error == 0 && targets != NULL)
        error = resolve_targets(a, targets, &want_ids);
    if (error == 0 && targets != NULL) {
        char **reg = minus(want_ids, now.instances), **dereg = minus(now.instances, want_ids);
        error = instances_call(a, "RegisterInstancesWithLoadBalancer", name, reg);
        if (error == 0)
            error = instances_call(a, "DeregisterInstancesFromLoadBalancer", name, dereg);
        aws_strv_free(reg);
        aws_strv_free(dereg);
    }
    if (error == 0)
        error = lb_state(a, name, &st);
done:
    lb_clear(&now);
    free(l);
    free(name);
    free(health);
    aws_strv_free(want_ids);
    aws_strv_free(subnets);
    aws_strv_free(groups);
    return aws_state_finish(a, st, error);
}

static int load_balancer_remove(aws_act *a)
{
    /* DeleteLoadBalancer succeeds for a balancer that is already gone. */
    return aws_remove_simple(a, AWS_ELB, "DeleteLoadBalancer", "LoadBalancerName",
                             aws_state_id(a->prior), AWS_SAFE,
                             "LoadBalancerNotFound AccessPointNotFound");
}

int aws_elb_pages(aws_act *a, const char *attr, int (*page)(void *ud, const xmlNode *result),
                  void *ud)
{
    char *marker = NULL;
    int error;
    do {
        aws_params q = {0};
        aws_resp *r = NULL;
        if (marker != NULL)
            aws_params_add(&q, "Marker", marker);
        free(marker);
        marker = NULL;
        error = aws_query(a->p, a->call, AWS_ELB, "DescribeLoadBalancers", &q, attr, AWS_SAFE, NULL,
                          &r);
        if (error == 0 && !page(ud, r->result)) {
            marker = aws_xml_get(r->result, "NextMarker");
            if (marker != NULL && *marker == '\0') {
                free(marker);
                marker = NULL;
            }
        }
        aws_resp_free(r);
        aws_params_free(&q);
    } while (error == 0 && marker != NULL);
    free(marker);
    return error;
}

/* An aws_elb_pages page: appends the balancers' names to *(char ***)ud. */
static int collect_names(void *ud, const xmlNode *result)
{
    char ***names = ud;
    char **page = member_strings(result, "LoadBalancerDescriptions", "LoadBalancerName");
    for (size_t i = 0; page[i] != NULL; i++)
        aws_strv_push(names, page[i]);
    aws_strv_free(page);
    return 0;
}

/* The name of the balancer made under the call's token: the derived
 * name, else any balancer whose infra:token tag says so. */
static int lb_by_token(aws_act *a, char **name)
{
    const char *token = pu_host->call_token(a->call);
    char *guess = derived_name(a->call);
    aws_tags tags = {0};
    int error = lb_tags(a, guess, &tags);
    if (error == 0 && aws_tags_get(&tags, "infra:token") != NULL &&
        strcmp(aws_tags_get(&tags, "infra:token"), token) == 0) {
        *name = guess;
        aws_tags_free(&tags);
        return 0;
    }
    aws_tags_free(&tags);
    free(guess);
    /* A given name: look through the balancers' tags, 20 names a call. */
    char **names = pu_calloc(1, sizeof(char *));
    error = aws_elb_pages(a, "", collect_names, &names);
    for (size_t i = 0; error == 0 && names[i] != NULL; i += 20) {
        aws_params q = {0};
        aws_resp *r = NULL;
        for (size_t k = 0; k < 20 && names[i + k] != NULL; k++)
            aws_params_addk(&q, names[i + k], "LoadBalancerNames.member.%zu", k + 1);
        error = aws_query(a->p, a->call, AWS_ELB, "DescribeTags", &q, "", AWS_SAFE, NULL, &r);
        xmlNode *set = error == 0 ? aws_xml_child(r->result, "TagDescriptions") : NULL;
        for (xmlNode *d = aws_xml_child(set, "member"); d != NULL && *name == NULL;
             d = aws_xml_next(d)) {
            for (xmlNode *m = aws_xml_child(aws_xml_child(d, "Tags"), "member"); m != NULL;
                 m = aws_xml_next(m)) {
                char *k = aws_xml_get(m, "Key"), *v = aws_xml_get(m, "Value");
                if (k && v && strcmp(k, "infra:token") == 0 && strcmp(v, token) == 0)
                    *name = aws_xml_get(d, "LoadBalancerName");
                free(k);
                free(v);
            }
        }
        aws_resp_free(r);
        aws_params_free(&q);
        if (*name != NULL)
            break;
    }
    aws_strv_free(names);
    if (error < 0)
        return error;
    return *name != NULL ? 0 : INFRA_ENOTFOUND;
}

/* Sets key to now unless the state's list says the same (order aside). */
static int echo_list(infra_json *st, const char *key, char *const *now)
{
    char **had = NULL;
    int error = 0;
    if (aws_json_strv(AJ->get(st, key), &had) < 0 || !aws_strv_same_set(had, now))
        error = aws_json_set_strv(st, key, now);
    aws_strv_free(had);
    return error;
}

static int load_balancer_read(aws_act *a)
{
    char *found = NULL;
    const char *name = aws_state_id(a->state);
    lb_info now = {0};
    aws_tags tags = {0};
    int error;

    if (a->state == NULL) {
        if ((error = lb_by_token(a, &found)) < 0)
            return error;
        name = found;
    }
    if (name == NULL)
        return INFRA_ENOTFOUND;
    if ((error = lb_describe(a, name, &now)) < 0) {
        free(found);
        return error;
    }
    infra_json *st = aws_state_new(a->state);
    if ((error = pu_json_set_str(st, "id", name)) < 0 ||
        (error = pu_json_set_str(st, "name", name)) < 0 ||
        (error = pu_json_set_str(st, "dns_name", now.dns_name)) < 0 ||
        (error = pu_json_set_str(st, "zone_id", now.zone_id)) < 0)
        goto done;
    if (AJ->get(st, "subnets") != NULL && (error = echo_list(st, "subnets", now.subnets)) < 0)
        goto done;
    if (AJ->get(st, "firewalls") != NULL && (error = echo_list(st, "firewalls", now.groups)) < 0)
        goto done;
    /* Registered instances: the state's targets while they are the ones
     * the last apply registered, else the ids registered now. */
    if (AJ->get(st, "targets") != NULL) {
        char **registered = NULL;
        aws_json_strv(AJ->get(st, "instances"), &registered);
        if (!aws_strv_same_set(registered, now.instances) &&
            (error = aws_json_set_strv(st, "targets", now.instances)) < 0) {
            aws_strv_free(registered);
            goto done;
        }
        aws_strv_free(registered);
        if ((error = aws_json_set_strv(st, "instances", now.instances)) < 0)
            goto done;
    }
    /* Listeners and health check in the state's words while they match. */
    aws_listener *want = NULL;
    size_t nwant = 0;
    if (a->state != NULL && aws_listeners_parse(a->call, st, &want, &nwant) == 0) {
        int same = nwant == now.nlisteners;
        for (size_t i = 0; same && i < nwant; i++)
            same = aws_listener_same(&want[i], &now.listeners[i]);
        if (!same) {
            infra_json *list = AJ->new_array();
            for (size_t i = 0; list != NULL && i < now.nlisteners; i++) {
                infra_json *o = AJ->new_object();
                if (o == NULL || pu_json_set_int(o, "port", now.listeners[i].port) < 0 ||
                    pu_json_set_str(o, "protocol", now.listeners[i].protocol) < 0 ||
                    pu_json_set_int(o, "instance_port", now.listeners[i].instance_port) < 0 ||
                    pu_json_set_str(o, "instance_protocol", now.listeners[i].instance_protocol) <
                        0 ||
                    AJ->append(list, o) < 0)
                    error = INFRA_EINTERNAL;
            }
            AJ->remove(st, "listen");
            if (list == NULL || AJ->set(st, "listeners", list) < 0)
                error = INFRA_EINTERNAL;
        }
        char *health = wanted_health(st, want, nwant);
        if (error == 0 && health != NULL && now.health_target != NULL &&
            strcasecmp(health, now.health_target) != 0)
            error = pu_json_set_str(st, "health", now.health_target);
        free(health);
        long interval, timeout, healthy, unhealthy;
        health_numbers(st, &interval, &timeout, &healthy, &unhealthy);
        if (error == 0 && AJ->get(st, "health_interval") && interval != now.interval)
            error = pu_json_set_int(st, "health_interval", now.interval);
        if (error == 0 && AJ->get(st, "healthy_threshold") && healthy != now.healthy)
            error = pu_json_set_int(st, "healthy_threshold", now.healthy);
        if (error == 0 && AJ->get(st, "unhealthy_threshold") && unhealthy != now.unhealthy)
            error = pu_json_set_int(st, "unhealthy_threshold", now.unhealthy);
    }
    free(want);
    if (error == 0 && AJ->get(st, "internal") != NULL)
        error = pu_json_set_bool(st, "internal", now.scheme && strcmp(now.scheme, "internal") == 0);
    if (error == 0 && (error = lb_tags(a, name, &tags)) == 0) {
        error = aws_tags_read(st, &tags, NULL);
        /* name is the balancer's own; the Name tag only mirrors it. */
        if (error == 0)
            error = pu_json_set_str(st, "name", name);
    }
done:
    lb_clear(&now);
    aws_tags_free(&tags);
    free(found);
    return aws_state_finish(a, st, error);
}

const aws_handler aws_load_balancer_handler = {"load_balancer", load_balancer_apply,
                                               load_balancer_remove, load_balancer_read};
