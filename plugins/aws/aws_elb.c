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

static int configure_health(aws_act *a, const char *name, const char *target)
{
    long interval, timeout, healthy, unhealthy;
    aws_params q = {0};
    aws_resp *r = NULL;
    aws_health_numbers(a->planned, &interval, &timeout, &healthy, &unhealthy);
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

/* Connection draining: a deregistered instance keeps its open connections
 * until they end or the timeout passes, so a replaced group's requests
 * in flight finish. */
static int configure_draining(aws_act *a, const char *name)
{
    aws_draining d;
    aws_params q = {0};
    aws_resp *r = NULL;
    int error = aws_lb_draining(a->call, a->planned, &d);
    if (error < 0 || !d.present)
        return error;
    aws_params_add(&q, "LoadBalancerName", name);
    aws_params_add_bool(&q, "LoadBalancerAttributes.ConnectionDraining.Enabled", d.enabled);
    aws_params_add_int(&q, "LoadBalancerAttributes.ConnectionDraining.Timeout", d.timeout);
    error = aws_query(a->p, a->call, AWS_ELB, "ModifyLoadBalancerAttributes", &q,
                      "connection_draining", AWS_SAFE | AWS_FRESH, NULL, &r);
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

static int sync_listeners(aws_act *a, const char *name, const aws_listener *want, size_t nwant,
                          const aws_lb_info *now)
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
        (error = aws_lb_tags(a, name, &now)) < 0)
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

static int lb_create(aws_act *a, const char *name, const aws_listener *l, size_t nl)
{
    char **subnets = NULL, **groups = NULL;
    aws_params q = {0};
    aws_tags tags = {0}, found = {0};
    aws_resp *r = NULL;
    const char *token = pu_host->call_token(a->call);
    int internal = 0, error;

    /* A balancer of that name must be this create's own: a name derived
     * from the token is, unless an earlier run or try made it (then
     * CreateLoadBalancer answers it again). */
    int derived = pu_json_str(a->planned, "name") == NULL;
    error = derived && !aws_create_may_exist(a) ? INFRA_ENOTFOUND : aws_lb_tags(a, name, &found);
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
    aws_lb_info now = {0};
    int error = aws_lb_describe(a, name, &now);
    infra_json *st = aws_state_new(a->planned);
    if (error == 0 && (error = pu_json_set_str(st, "id", name)) == 0 &&
        (error = pu_json_set_str(st, "name", name)) == 0 &&
        (error = pu_json_set_str(st, "dns_name", now.dns_name)) == 0 &&
        (error = pu_json_set_str(st, "zone_id", now.zone_id)) == 0 &&
        AJ->get(st, "targets") != NULL)
        error = aws_json_set_strv(st, "instances", now.instances);
    aws_lb_info_clear(&now);
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
    aws_lb_info now = {0};
    infra_json *st = NULL;
    int error;

    if ((error = aws_listeners_parse(a->call, a->planned, &l, &nl)) < 0)
        return error;
    if ((health = aws_health_wanted(a->planned, l, nl)) == NULL) {
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
        name = given ? pu_strdup(given) : aws_lb_derived_name(a->call);
        if ((error = lb_create(a, name, l, nl)) < 0)
            goto done;
    }
    if ((error = aws_lb_describe(a, name, &now)) < 0)
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
    if (error == 0)
        error = configure_draining(a, name);
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
    aws_lb_info_clear(&now);
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

const aws_handler aws_load_balancer_handler = {"load_balancer", load_balancer_apply,
                                               load_balancer_remove, aws_lb_read, aws_lb_read_many};
