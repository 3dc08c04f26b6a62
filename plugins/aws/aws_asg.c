/* Auto Scaling groups, with zero-downtime replacement.
 *
 * Group names are BASE-gN: BASE derived from the create's token, N the
 * generation. A change of launch template or version is an in-place
 * update that creates group N+1 attached to the same load balancers,
 * waits until every one of its instances is InService in the group and on
 * every balancer, detaches group N from its balancers and waits until
 * they have drained its connections, then force-deletes group N. When group N+1 is not
 * healthy by replace_deadline it is deleted instead, group N keeps
 * serving, and the update fails saying so.
 *
 * Names follow from the token and the generation, so every step can be
 * repeated after a crash: a create or a replacement that meets its own
 * group (AlreadyExists) adopts it, a read that no longer finds group N
 * looks for later generations, and a delete removes every generation it
 * finds. The token and BASE are kept in the private blob. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DEADLINE_S 600
#define DEFAULT_GRACE_S 60
#define SWEEP_AHEAD 3

/* ------------------------------------------------------------------ */
/* Creating, waiting, deleting                                        */

typedef struct asg_want {
    const char *template_id;
    const char *version;
    long min, max, desired, grace, deadline_s;
    char *health_type;
    char *subnets; /* comma-joined */
    char **balancers;
} asg_want;

static void want_clear(asg_want *w)
{
    free(w->health_type);
    free(w->subnets);
    aws_strv_free(w->balancers);
    memset(w, 0, sizeof(*w));
}

static int want_load(aws_act *a, asg_want *w)
{
    const infra_json *cfg = a->planned;
    char **subnets = NULL;
    memset(w, 0, sizeof(*w));
    w->template_id = pu_json_str(cfg, "launch_template");
    w->version = pu_json_str(cfg, "version");
    if (w->version == NULL || *w->version == '\0')
        w->version = "$Latest";
    if (pu_json_to_int(AJ->get(cfg, "min"), &w->min) < 0 ||
        pu_json_to_int(AJ->get(cfg, "max"), &w->max) < 0) {
        pu_diagf(a->call, "min", "an autoscaling_group needs min and max");
        return INFRA_EINVALID;
    }
    w->desired = w->min;
    pu_json_to_int(AJ->get(cfg, "desired"), &w->desired);
    w->grace = DEFAULT_GRACE_S;
    pu_json_to_int(AJ->get(cfg, "health_check_grace_period"), &w->grace);
    w->deadline_s = DEFAULT_DEADLINE_S;
    pu_json_to_int(AJ->get(cfg, "replace_deadline"), &w->deadline_s);
    if (aws_json_strv(AJ->get(cfg, "subnets"), &subnets) < 0 ||
        aws_json_strv(AJ->get(cfg, "load_balancers"), &w->balancers) < 0) {
        aws_strv_free(subnets);
        pu_diagf(a->call, "subnets", "subnets and load_balancers must be lists");
        return INFRA_EINVALID;
    }
    pu_buf b = {0};
    for (size_t i = 0; subnets[i] != NULL; i++)
        pu_buf_printf(&b, "%s%s", i ? "," : "", subnets[i]);
    w->subnets = pu_buf_take(&b);
    aws_strv_free(subnets);
    const char *type = pu_json_str(cfg, "health_check_type");
    w->health_type = pu_strdup(type ? type : aws_strv_len(w->balancers) > 0 ? "ELB" : "EC2");
    if (w->template_id == NULL || *w->template_id == '\0') {
        pu_diagf(a->call, "launch_template", "an autoscaling_group needs launch_template: an id");
        return INFRA_EINVALID;
    }
    return 0;
}

static int asg_create(aws_act *a, const aws_asg_id *g, const char *name, const asg_want *w)
{
    aws_params q = {0};
    aws_tags tags = {0};
    aws_resp *r = NULL;
    int error = aws_tags_build(a->call, NULL, AJ->get(a->planned, "tags"), &tags);
    if (error < 0)
        return error;
    /* An update's call has no token: the group carries the create's. */
    aws_tags_set(&tags, "infra:token", g->token);
    aws_params_add(&q, "AutoScalingGroupName", name);
    aws_params_add(&q, "LaunchTemplate.LaunchTemplateId", w->template_id);
    aws_params_add(&q, "LaunchTemplate.Version", w->version);
    aws_params_add_int(&q, "MinSize", w->min);
    aws_params_add_int(&q, "MaxSize", w->max);
    aws_params_add_int(&q, "DesiredCapacity", w->desired);
    aws_params_list(&q, AWS_LIST_MEMBER, "LoadBalancerNames", w->balancers);
    aws_params_add(&q, "HealthCheckType", w->health_type);
    aws_params_add_int(&q, "HealthCheckGracePeriod", w->grace);
    aws_params_add(&q, "VPCZoneIdentifier", w->subnets);
    for (size_t i = 0; i < tags.n; i++) {
        aws_params_addk(&q, name, "Tags.member.%zu.ResourceId", i + 1);
        aws_params_addk(&q, "auto-scaling-group", "Tags.member.%zu.ResourceType", i + 1);
        aws_params_addk(&q, tags.v[i].key, "Tags.member.%zu.Key", i + 1);
        aws_params_addk(&q, tags.v[i].value, "Tags.member.%zu.Value", i + 1);
        aws_params_addk(&q, "true", "Tags.member.%zu.PropagateAtLaunch", i + 1);
    }
    error = aws_query(a->p, a->call, AWS_ASG, "CreateAutoScalingGroup", &q, "launch_template",
                      AWS_SAFE | AWS_FRESH, "AlreadyExists", &r);
    if (error == INFRA_ECONFLICT) {
        /* Made by an earlier try of this create, or by someone else. */
        aws_asg_info now = {0};
        error = aws_asg_one(a, name, &now);
        const char *owner = error == 0 ? aws_tags_get(&now.tags, "infra:token") : NULL;
        if (error == 0 && (owner == NULL || strcmp(owner, g->token) != 0)) {
            pu_diagf(a->call, "",
                     "aws: an Auto Scaling group named \"%s\" already exists in %s "
                     "and was not made by this resource",
                     name, a->p->region);
            error = INFRA_ECONFLICT;
        }
        aws_asg_info_clear(&now);
    }
    aws_resp_free(r);
    aws_params_free(&q);
    aws_tags_free(&tags);
    return error;
}

/* How many of ids a balancer reports InService. */
static int in_service_on(aws_act *a, const char *balancer, char *const *ids, size_t *count)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    *count = 0;
    aws_params_add(&q, "LoadBalancerName", balancer);
    for (size_t i = 0; ids[i] != NULL; i++)
        aws_params_addk(&q, ids[i], "Instances.member.%zu.InstanceId", i + 1);
    /* An instance the group has not registered yet is InvalidInstance. */
    int error = aws_query(a->p, a->call, AWS_ELB, "DescribeInstanceHealth", &q, "load_balancers",
                          AWS_SAFE, "InvalidInstance", &r);
    if (error == 0) {
        xmlNode *set = aws_xml_child(r->result, "InstanceStates");
        for (xmlNode *m = aws_xml_child(set, "member"); m != NULL; m = aws_xml_next(m)) {
            char *state = aws_xml_get(m, "State");
            char *id = aws_xml_get(m, "InstanceId");
            if (state && id && strcmp(state, "InService") == 0 && aws_strv_has(ids, id))
                (*count)++;
            free(state);
            free(id);
        }
    } else if (error == INFRA_EINVALID && r != NULL && r->code != NULL &&
               strcmp(r->code, "InvalidInstance") == 0) {
        error = 0;
    }
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

/* Waits until group name has `desired` instances InService, on every
 * balancer too. INFRA_ETRANSIENT at the deadline, with *why saying what
 * was missing (caller frees). */
static int wait_healthy(aws_act *a, const char *name, const asg_want *w, int64_t deadline_ms,
                        char **why)
{
    int64_t delay = 2000;
    *why = NULL;
    for (;;) {
        aws_asg_info g = {0};
        int error = aws_asg_one(a, name, &g);
        if (error < 0)
            return error;
        size_t ready = aws_strv_len(g.in_service);
        pu_buf b = {0};
        int ok = (long)ready >= w->desired;
        if (!ok)
            pu_buf_printf(&b, "%zu of %ld instances InService in the group", ready, w->desired);
        for (size_t i = 0; ok && w->balancers[i] != NULL; i++) {
            size_t on = 0;
            if (ready > 0 && (error = in_service_on(a, w->balancers[i], g.in_service, &on)) < 0) {
                aws_asg_info_clear(&g);
                free(b.data);
                return error;
            }
            if ((long)on < w->desired) {
                ok = 0;
                pu_buf_printf(&b, "%zu of %ld instances InService on load balancer %s", on,
                              w->desired, w->balancers[i]);
            }
        }
        aws_asg_info_clear(&g);
        if (ok) {
            free(b.data);
            return 0;
        }
        if (pu_host->now_ms() + delay > deadline_ms) {
            *why = pu_buf_take(&b);
            return INFRA_ETRANSIENT;
        }
        free(b.data);
        if ((error = aws_sleep(a->p, a->call, delay)) < 0)
            return error;
        delay = delay * 3 / 2 > 10000 ? 10000 : delay * 3 / 2;
    }
}

/* Force-deletes a group (its instances are terminated) and waits until it is gone. */
static int asg_delete(aws_act *a, const char *name)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    aws_params_add(&q, "AutoScalingGroupName", name);
    aws_params_add_bool(&q, "ForceDelete", 1);
    int error = aws_query(a->p, a->call, AWS_ASG, "DeleteAutoScalingGroup", &q, "",
                          AWS_SAFE | AWS_DEPENDENT, "ValidationError *NotFound", &r);
    aws_resp_free(r);
    aws_params_free(&q);
    if (error == INFRA_EINVALID || error == INFRA_ENOTFOUND)
        error = 0; /* "not found" is a ValidationError in Auto Scaling */
    int64_t deadline = pu_host->now_ms() + AWS_WAIT_GONE_MS;
    int64_t delay = 1000;
    while (error == 0) {
        char *names[] = {(char *)name, NULL};
        aws_asg_info *v = NULL;
        size_t n = 0;
        if ((error = aws_asg_describe(a, names, 1, &v, &n)) < 0)
            break;
        aws_asg_free_all(v, n);
        if (n == 0)
            break;
        if (pu_host->now_ms() + delay > deadline) {
            pu_diagf(a->call, "", "aws: Auto Scaling group %s is still being deleted after %d s",
                     name, AWS_WAIT_GONE_MS / 1000);
            error = INFRA_ETRANSIENT;
            break;
        }
        error = aws_sleep(a->p, a->call, delay);
        delay = delay * 3 / 2 > 5000 ? 5000 : delay * 3 / 2;
    }
    return error;
}

/* ------------------------------------------------------------------ */
/* The resource                                                       */

/* 1 when the group runs a scheduler's client pool (scheduler_pool, which
 * the host sets): its state then lists instance_addresses. */
static int is_pool(const infra_json *st)
{
    int on = 0;
    return pu_json_to_bool(AJ->get(st, "scheduler_pool"), &on) == 0 && on;
}

/* instance_addresses: [{"id", "private_ip"}] of the group's instances that
 * run or are starting, in the group's order (what a scheduler's client
 * pool is known by); one being terminated is no longer among them. */
static int asg_addresses(aws_act *a, char *const *ids, infra_json *st)
{
    aws_instance *v = NULL;
    size_t n = 0;
    int error = 0;
    if (aws_strv_len((char **)ids) > 0 &&
        (error = aws_instances_describe(a->p, a->call, "instances", ids, &v, &n)) < 0)
        return error;
    infra_json *list = AJ->new_array();
    for (size_t i = 0; ids != NULL && ids[i] != NULL && error == 0; i++) {
        const char *ip = NULL;
        int live = 1;
        for (size_t k = 0; k < n && ip == NULL; k++)
            if (v[k].id != NULL && strcmp(v[k].id, ids[i]) == 0) {
                ip = v[k].private_ip;
                live = v[k].state == NULL || strcmp(v[k].state, "pending") == 0 ||
                       strcmp(v[k].state, "running") == 0;
            }
        if (!live)
            continue;
        infra_json *one = AJ->new_object();
        if ((error = pu_json_set_str(one, "id", ids[i])) == 0 && ip != NULL)
            error = pu_json_set_str(one, "private_ip", ip);
        if (error == 0)
            error = AJ->append(list, one);
        else
            AJ->release(one);
    }
    aws_instances_free(v, n);
    if (error == 0)
        return AJ->set(st, "instance_addresses", list);
    AJ->release(list);
    return error;
}

static int asg_state(aws_act *a, const infra_json *base, const char *name, long generation,
                     infra_json **out)
{
    aws_asg_info g = {0};
    int error = aws_asg_one(a, name, &g);
    infra_json *st = aws_state_new(base);
    if (error == 0 && (error = pu_json_set_str(st, "id", name)) == 0 &&
        (error = pu_json_set_str(st, "name", name)) == 0 &&
        (error = pu_json_set_int(st, "generation", generation)) == 0)
        error = aws_json_set_strv(st, "instances", g.instances);
    if (error == 0 && is_pool(base))
        error = asg_addresses(a, g.instances, st);
    else if (AJ->get(st, "instance_addresses") != NULL)
        AJ->remove(st, "instance_addresses"); /* the plan's unknown: no pool, no list */
    /* what the host asked to go first is no attribute of the group */
    if (AJ->get(st, "terminate_first") != NULL)
        AJ->remove(st, "terminate_first");
    aws_asg_info_clear(&g);
    if (error < 0) {
        AJ->release(st);
        return error;
    }
    *out = st;
    return 0;
}

static int asg_create_apply(aws_act *a, aws_asg_id *g, const asg_want *w)
{
    aws_asg_info *v = NULL;
    size_t n = 0;
    char *name = NULL, *why = NULL;
    long generation = 0;
    infra_json *st = NULL;
    int error;

    /* A crash may have left a later generation of this create (a retry in
     * this run meets its group 0 as AlreadyExists, and adopts it). */
    if (aws_resuming(a->call) && (error = aws_asg_sweep(a, g->base, SWEEP_AHEAD, 0, &v, &n)) < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        long gen = aws_asg_generation(g->base, v[i].name);
        if (gen > generation || name == NULL) {
            generation = gen < 0 ? 0 : gen;
            free(name);
            name = pu_strdup(v[i].name);
        }
    }
    if (name == NULL) {
        name = aws_asg_name(g->base, 0);
        if ((error = asg_create(a, g, name, w)) < 0)
            goto done;
    }
    /* A new client pool serves nothing yet: what answers its balancers'
     * health checks (a router) is placed by the scheduler once the
     * instances have joined, after this create. So it waits for the group
     * only; the scheduler's pool resource waits for the clients, and a
     * later replacement waits for the balancers too. */
    asg_want group_only = *w;
    char *no_balancers[] = {NULL};
    if (is_pool(a->planned))
        group_only.balancers = no_balancers;
    error = wait_healthy(a, name, &group_only, pu_host->now_ms() + w->deadline_s * 1000, &why);
    if (error == INFRA_ETRANSIENT)
        pu_diagf(a->call, "", "aws: Auto Scaling group %s is not healthy after %ld s: %s", name,
                 w->deadline_s, why ? why : "");
    if (error == 0 && (error = asg_state(a, a->planned, name, generation, &st)) == 0)
        error = aws_asg_id_save(a, g);
done:
    aws_asg_free_all(v, n);
    free(name);
    free(why);
    return aws_state_finish(a, st, error);
}

static int same_text(const char *x, const char *y)
{
    return (x == NULL && y == NULL) || (x != NULL && y != NULL && strcmp(x, y) == 0);
}

/* A scale-in of a scheduler's client pool: the host drained the clients
 * of the instances it names in terminate_first; exactly those go, the
 * group's desired capacity decremented with each, so that it launches no
 * replacement and terminates no other instance. */
static int asg_terminate_first(aws_act *a, const char *name, aws_asg_info *now)
{
    char **ids = NULL;
    int error = 0;
    if (AJ->get(a->planned, "terminate_first") == NULL)
        return 0;
    if (aws_json_strv(AJ->get(a->planned, "terminate_first"), &ids) < 0)
        return INFRA_EINTERNAL;
    for (size_t i = 0; ids[i] != NULL && error == 0; i++) {
        if (!aws_strv_has(now->instances, ids[i]))
            continue; /* gone already */
        aws_params q = {0};
        aws_resp *r = NULL;
        aws_params_add(&q, "InstanceId", ids[i]);
        aws_params_add(&q, "ShouldDecrementDesiredCapacity", "true");
        error = aws_query(a->p, a->call, AWS_ASG, "TerminateInstanceInAutoScalingGroup", &q,
                          "desired", AWS_SAFE, NULL, &r);
        if (error == 0)
            pu_logf(a->call, INFRA_LOG_INFO, "Auto Scaling group %s: terminated %s (drained)", name,
                    ids[i]);
        aws_resp_free(r);
        aws_params_free(&q);
    }
    /* Done when the group no longer lists them: what the state records
     * next is the group without them. */
    int64_t deadline = pu_host->now_ms() + 600000;
    long delay = 500;
    while (error == 0) {
        aws_asg_info_clear(now);
        if ((error = aws_asg_one(a, name, now)) < 0)
            break;
        size_t left = 0;
        for (size_t i = 0; ids[i] != NULL; i++)
            left += aws_strv_has(now->instances, ids[i]) ? 1 : 0;
        if (left == 0)
            break;
        if (pu_host->now_ms() >= deadline) {
            pu_diagf(a->call, "desired",
                     "aws: Auto Scaling group %s still lists %zu terminated instances after 600 s",
                     name, left);
            error = INFRA_ETRANSIENT;
            break;
        }
        error = aws_sleep(a->p, a->call, delay);
        delay = delay * 3 / 2 > 5000 ? 5000 : delay * 3 / 2;
    }
    aws_strv_free(ids);
    return error;
}

/* Size, health and subnets of the group, and its balancers. */
static int asg_modify(aws_act *a, const char *name, const asg_want *w)
{
    aws_asg_info now = {0};
    int error = aws_asg_one(a, name, &now);
    if (error == 0)
        error = asg_terminate_first(a, name, &now);
    if (error < 0) {
        aws_asg_info_clear(&now);
        return error;
    }
    if (now.min != w->min || now.max != w->max || now.desired != w->desired ||
        now.grace != w->grace || !same_text(now.health_type, w->health_type) ||
        !same_text(now.subnets, w->subnets)) {
        aws_params q = {0};
        aws_resp *r = NULL;
        aws_params_add(&q, "AutoScalingGroupName", name);
        aws_params_add_int(&q, "MinSize", w->min);
        aws_params_add_int(&q, "MaxSize", w->max);
        aws_params_add_int(&q, "DesiredCapacity", w->desired);
        aws_params_add(&q, "HealthCheckType", w->health_type);
        aws_params_add_int(&q, "HealthCheckGracePeriod", w->grace);
        aws_params_add(&q, "VPCZoneIdentifier", w->subnets);
        error = aws_query(a->p, a->call, AWS_ASG, "UpdateAutoScalingGroup", &q, "desired", AWS_SAFE,
                          NULL, &r);
        aws_resp_free(r);
        aws_params_free(&q);
    }
    char **attach = pu_calloc(1, sizeof(char *)), **detach = pu_calloc(1, sizeof(char *));
    for (size_t i = 0; w->balancers[i] != NULL; i++)
        if (!aws_strv_has(now.balancers, w->balancers[i]))
            aws_strv_push(&attach, w->balancers[i]);
    for (size_t i = 0; now.balancers[i] != NULL; i++)
        if (!aws_strv_has(w->balancers, now.balancers[i]))
            aws_strv_push(&detach, now.balancers[i]);
    const char *actions[] = {"AttachLoadBalancers", "DetachLoadBalancers"};
    char **lists[] = {attach, detach};
    for (int k = 0; k < 2 && error == 0; k++) {
        if (aws_strv_len(lists[k]) == 0)
            continue;
        aws_params q = {0};
        aws_resp *r = NULL;
        aws_params_add(&q, "AutoScalingGroupName", name);
        aws_params_list(&q, AWS_LIST_MEMBER, "LoadBalancerNames", lists[k]);
        error =
            aws_query(a->p, a->call, AWS_ASG, actions[k], &q, "load_balancers", AWS_SAFE, NULL, &r);
        aws_resp_free(r);
        aws_params_free(&q);
    }
    aws_strv_free(attach);
    aws_strv_free(detach);
    aws_asg_info_clear(&now);
    return error;
}

static int asg_update_apply(aws_act *a, aws_asg_id *g, const asg_want *w)
{
    const char *old = aws_state_id(a->prior);
    long generation = 0;
    char *next = NULL, *why = NULL;
    infra_json *st = NULL;
    int error = 0;

    if (old == NULL)
        return INFRA_ENOTFOUND;
    pu_json_to_int(AJ->get(a->prior, "generation"), &generation);
    const char *old_version = pu_json_str(a->prior, "version");
    int replace = !same_text(pu_json_str(a->prior, "launch_template"), w->template_id) ||
                  !same_text(old_version ? old_version : "$Latest", w->version);
    if (!replace) {
        if ((error = asg_modify(a, old, w)) == 0 &&
            (error = asg_state(a, a->planned, old, generation, &st)) == 0)
            error = aws_asg_id_save(a, g);
        return aws_state_finish(a, st, error);
    }
    if (g->token == NULL || g->base == NULL) {
        pu_diagf(a->call, "",
                 "aws: the state of %s lacks the token it was created with; "
                 "replace it (remove it from the state) to change its template",
                 old);
        return INFRA_EINTERNAL;
    }
    next = aws_asg_name(g->base, generation + 1);
    pu_logf(a->call, INFRA_LOG_INFO, "replacing Auto Scaling group %s with %s", old, next);
    if ((error = asg_create(a, g, next, w)) < 0)
        goto done;
    error = wait_healthy(a, next, w, pu_host->now_ms() + w->deadline_s * 1000, &why);
    if (error == INFRA_ETRANSIENT) {
        /* The old group never stopped serving; the new one goes. */
        int gone = asg_delete(a, next);
        pu_diagf(a->call, "version",
                 "aws: the replacement Auto Scaling group %s was not healthy within %ld s "
                 "(%s); %s, and %s keeps serving",
                 next, w->deadline_s, why ? why : "",
                 gone == 0 ? "it was deleted" : "deleting it failed", old);
        error = INFRA_EINVALID;
        goto done;
    }
    if (error < 0)
        goto done;
    /* The old group leaves its balancers first, so that its requests in
     * flight end (connection draining) before its instances do. */
    if ((error = aws_asg_drain(a, old, w->balancers, pu_host->now_ms() + w->deadline_s * 1000)) <
            0 ||
        (error = asg_delete(a, old)) < 0)
        goto done;
    if ((error = asg_state(a, a->planned, next, generation + 1, &st)) == 0)
        error = aws_asg_id_save(a, g);
done:
    free(next);
    free(why);
    return aws_state_finish(a, st, error);
}

static int autoscaling_group_apply(aws_act *a)
{
    aws_asg_id g;
    asg_want w;
    int error;
    aws_asg_id_load(a, &g);
    if ((error = want_load(a, &w)) == 0) {
        if (a->prior == NULL && g.token == NULL) {
            pu_diagf(a->call, "", "aws: an Auto Scaling group is created with a token");
            error = INFRA_EINTERNAL;
        } else {
            error = a->prior == NULL ? asg_create_apply(a, &g, &w) : asg_update_apply(a, &g, &w);
        }
    }
    want_clear(&w);
    aws_asg_id_clear(&g);
    return error;
}

static int autoscaling_group_remove(aws_act *a)
{
    aws_asg_id g;
    long generation = 0;
    aws_asg_info *v = NULL;
    size_t n = 0;
    int error = 0;
    const char *id = aws_state_id(a->prior);

    aws_asg_id_load(a, &g);
    pu_json_to_int(AJ->get(a->prior, "generation"), &generation);
    if (id != NULL)
        error = asg_delete(a, id);
    /* Every other generation a crash may have left. */
    if (error == 0 && g.base != NULL &&
        (error = aws_asg_sweep(a, g.base, generation + SWEEP_AHEAD, 1, &v, &n)) == 0)
        for (size_t i = 0; i < n && error == 0; i++)
            error = asg_delete(a, v[i].name);
    aws_asg_free_all(v, n);
    aws_asg_id_clear(&g);
    return error;
}

/* The subnets of a VPCZoneIdentifier ("subnet-1,subnet-2"). */
static char **zone_subnets(const char *joined)
{
    char **v = pu_calloc(1, sizeof(char *));
    const char *s = joined ? joined : "";
    while (*s) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        char *one = pu_strndup(s, len);
        if (*one)
            aws_strv_push(&v, one);
        free(one);
        s += len + (c ? 1 : 0);
    }
    return v;
}

/* The state of the resource whose group of generation is now. */
static int autoscaling_group_refresh(aws_act *a, const aws_asg_info *now, long generation)
{
    infra_json *st = aws_state_new(a->state);
    char **had = NULL, **want = NULL;
    int error;
    if ((error = pu_json_set_str(st, "id", now->name)) < 0 ||
        (error = pu_json_set_str(st, "name", now->name)) < 0 ||
        (error = pu_json_set_int(st, "generation", generation)) < 0 ||
        (error = aws_json_set_strv(st, "instances", now->instances)) < 0 ||
        (is_pool(st) && (error = asg_addresses(a, now->instances, st)) < 0) ||
        (error = pu_json_set_str(st, "launch_template", now->template_id)) < 0 ||
        (error = pu_json_set_int(st, "min", now->min)) < 0 ||
        (error = pu_json_set_int(st, "max", now->max)) < 0)
        goto done;
    if (AJ->get(st, "version") != NULL || strcmp(now->version ? now->version : "", "$Latest") != 0)
        error = pu_json_set_str(st, "version", now->version);
    if (error == 0 && AJ->get(st, "desired") != NULL)
        error = pu_json_set_int(st, "desired", now->desired);
    if (error == 0 && AJ->get(st, "health_check_type") != NULL)
        error = pu_json_set_str(st, "health_check_type", now->health_type);
    if (error == 0 && AJ->get(st, "health_check_grace_period") != NULL)
        error = pu_json_set_int(st, "health_check_grace_period", now->grace);
    if (error == 0 && aws_json_strv(AJ->get(st, "load_balancers"), &had) == 0 &&
        !aws_strv_same_set(had, now->balancers) &&
        (AJ->get(st, "load_balancers") != NULL || aws_strv_len(now->balancers)))
        error = aws_json_set_strv(st, "load_balancers", now->balancers);
    /* Subnets: the state's list while it names the same set. */
    if (error == 0 && aws_json_strv(AJ->get(st, "subnets"), &want) == 0) {
        char **subnets = zone_subnets(now->subnets);
        if (!aws_strv_same_set(want, subnets))
            error = aws_json_set_strv(st, "subnets", subnets);
        aws_strv_free(subnets);
    }
done:
    aws_strv_free(had);
    aws_strv_free(want);
    return aws_state_finish(a, st, error);
}

static int autoscaling_group_read(aws_act *a)
{
    aws_asg_id g;
    aws_asg_info now = {0};
    long generation = 0;
    const char *id = aws_state_id(a->state);
    int error;

    aws_asg_id_load(a, &g);
    pu_json_to_int(AJ->get(a->state, "generation"), &generation);
    error = id != NULL ? aws_asg_one(a, id, &now) : INFRA_ENOTFOUND;
    if (error == INFRA_ENOTFOUND && g.base != NULL) {
        /* A replacement that finished after a crash: its group is the one now. */
        aws_asg_info *v = NULL;
        size_t n = 0;
        if ((error = aws_asg_sweep(a, g.base, generation + SWEEP_AHEAD, 0, &v, &n)) == 0) {
            long best = -1;
            for (size_t i = 0; i < n; i++) {
                long gen = aws_asg_generation(g.base, v[i].name);
                if (gen >= generation && gen > best) {
                    best = gen;
                    aws_asg_info_clear(&now);
                    now = v[i];
                    memset(&v[i], 0, sizeof(v[i]));
                }
            }
            error = best >= 0 ? 0 : INFRA_ENOTFOUND;
            if (best >= 0)
                generation = best;
        }
        aws_asg_free_all(v, n);
    }
    if (error == 0)
        error = autoscaling_group_refresh(a, &now, generation);
    aws_asg_info_clear(&now);
    aws_asg_id_clear(&g);
    return error;
}

/* Every group the states name in one DescribeAutoScalingGroups (50 names
 * a call); a group not found is looked for as read() does, among the
 * later generations a replacement may have left. */
static int autoscaling_group_read_many(aws_many *m)
{
    char **names = pu_calloc(1, sizeof(char *));
    aws_asg_info *v = NULL;
    size_t n = 0;
    int error;
    for (size_t i = 0; i < m->n; i++) {
        const char *id = aws_state_id(m->acts[i].state);
        if (id != NULL && !aws_strv_has(names, id))
            aws_strv_push(&names, id);
    }
    aws_act batch = {.p = m->p, .call = m->call};
    error = aws_asg_describe(&batch, names, 0, &v, &n);
    for (size_t i = 0; error == 0 && i < m->n; i++) {
        const char *id = aws_state_id(m->acts[i].state);
        const aws_asg_info *now = NULL;
        for (size_t k = 0; id != NULL && k < n && now == NULL; k++)
            if (strcmp(v[k].name, id) == 0)
                now = &v[k];
        long generation = 0;
        pu_json_to_int(AJ->get(m->acts[i].state, "generation"), &generation);
        m->results[i] = now != NULL ? autoscaling_group_refresh(&m->acts[i], now, generation)
                                    : autoscaling_group_read(&m->acts[i]);
        if (m->results[i] == INFRA_ECANCELLED)
            error = INFRA_ECANCELLED;
    }
    aws_asg_free_all(v, n);
    aws_strv_free(names);
    return error;
}

const aws_handler aws_autoscaling_group_handler = {"autoscaling_group", autoscaling_group_apply,
                                                   autoscaling_group_remove, autoscaling_group_read,
                                                   autoscaling_group_read_many};
