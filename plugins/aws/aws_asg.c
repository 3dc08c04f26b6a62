/* Auto Scaling groups, with zero-downtime replacement.
 *
 * Group names are BASE-gN: BASE derived from the create's token, N the
 * generation. A change of launch template or version is an in-place
 * update that creates group N+1 attached to the same load balancers,
 * waits until every one of its instances is InService in the group and on
 * every balancer, then force-deletes group N. When group N+1 is not
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

typedef struct group_id {
    char *token;
    char *base;
} group_id;

static void group_id_clear(group_id *g)
{
    free(g->token);
    free(g->base);
    memset(g, 0, sizeof(*g));
}

static char *base_for(infra_call *call, const char *token)
{
    char hex[9];
    char *prefix = aws_call_name(call, 200);
    aws_token_hex(token, 8, hex);
    char *base = pu_printf("%s-%s", prefix, hex);
    free(prefix);
    return base;
}

static char *group_name(const char *base, long generation)
{
    return pu_printf("%s-g%ld", base, generation);
}

/* The token and base: from the private blob, else from the call. */
static void group_id_load(const aws_act *a, group_id *g)
{
    memset(g, 0, sizeof(*g));
    if (a->priv != NULL && a->priv_len > 0) {
        infra_json *blob = AJ->parse(a->priv, a->priv_len);
        const char *t = pu_json_str(blob, "token"), *b = pu_json_str(blob, "base");
        if (t != NULL)
            g->token = pu_strdup(t);
        if (b != NULL)
            g->base = pu_strdup(b);
        AJ->release(blob);
    }
    const char *token = pu_host->call_token(a->call);
    if (g->token == NULL && token != NULL)
        g->token = pu_strdup(token);
    if (g->base == NULL && g->token != NULL)
        g->base = base_for(a->call, g->token);
}

static int group_id_save(aws_act *a, const group_id *g)
{
    if (a->priv_out == NULL || g->token == NULL)
        return 0;
    infra_json *blob = AJ->new_object();
    int error;
    if (blob == NULL || (error = pu_json_set_str(blob, "token", g->token)) < 0 ||
        (error = pu_json_set_str(blob, "base", g->base)) < 0) {
        AJ->release(blob);
        return INFRA_EINTERNAL;
    }
    char *text = AJ->dump(blob);
    AJ->release(blob);
    if (text == NULL)
        return INFRA_EINTERNAL;
    *a->priv_out = text;
    *a->priv_out_len = strlen(text);
    return 0;
}

/* ------------------------------------------------------------------ */
/* What a group is now                                                */

typedef struct asg_info {
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
} asg_info;

static void asg_clear(asg_info *g)
{
    free(g->name);
    free(g->status);
    free(g->template_id);
    free(g->version);
    free(g->health_type);
    free(g->subnets);
    aws_strv_free(g->balancers);
    aws_strv_free(g->instances);
    aws_strv_free(g->in_service);
    aws_tags_free(&g->tags);
    memset(g, 0, sizeof(*g));
}

static void asg_parse(const xmlNode *m, asg_info *g)
{
    memset(g, 0, sizeof(*g));
    g->name = aws_xml_get(m, "AutoScalingGroupName");
    g->status = aws_xml_get(m, "Status");
    g->template_id = aws_xml_get(m, "LaunchTemplate/LaunchTemplateId");
    g->version = aws_xml_get(m, "LaunchTemplate/Version");
    g->min = aws_xml_get_long(m, "MinSize", 0);
    g->max = aws_xml_get_long(m, "MaxSize", 0);
    g->desired = aws_xml_get_long(m, "DesiredCapacity", 0);
    g->grace = aws_xml_get_long(m, "HealthCheckGracePeriod", 0);
    g->health_type = aws_xml_get(m, "HealthCheckType");
    g->subnets = aws_xml_get(m, "VPCZoneIdentifier");
    g->balancers = pu_calloc(1, sizeof(char *));
    for (xmlNode *b = aws_xml_child(aws_xml_child(m, "LoadBalancerNames"), "member"); b != NULL;
         b = aws_xml_next(b)) {
        char *s = aws_xml_text(b);
        if (s != NULL && *s)
            aws_strv_push(&g->balancers, s);
        free(s);
    }
    g->instances = pu_calloc(1, sizeof(char *));
    g->in_service = pu_calloc(1, sizeof(char *));
    for (xmlNode *i = aws_xml_child(aws_xml_child(m, "Instances"), "member"); i != NULL;
         i = aws_xml_next(i)) {
        char *id = aws_xml_get(i, "InstanceId");
        char *life = aws_xml_get(i, "LifecycleState");
        char *health = aws_xml_get(i, "HealthStatus");
        if (id != NULL && *id) {
            aws_strv_push(&g->instances, id);
            if (life && strcmp(life, "InService") == 0 &&
                (!health || strcmp(health, "Healthy") == 0))
                aws_strv_push(&g->in_service, id);
        }
        free(id);
        free(life);
        free(health);
    }
    aws_tags_parse_members(aws_xml_child(m, "Tags"), &g->tags);
}

/* The groups of names that exist (and are not being deleted unless
 * with_deleting), in *out (array of *n). */
static int asg_describe(aws_act *a, char *const *names, int with_deleting, asg_info **out,
                        size_t *n)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    *out = NULL;
    *n = 0;
    aws_params_list(&q, AWS_LIST_MEMBER, "AutoScalingGroupNames", names);
    int error =
        aws_query(a->p, a->call, AWS_ASG, "DescribeAutoScalingGroups", &q, "", AWS_SAFE, NULL, &r);
    if (error == 0) {
        xmlNode *set = aws_xml_child(r->result, "AutoScalingGroups");
        for (xmlNode *m = aws_xml_child(set, "member"); m != NULL; m = aws_xml_next(m)) {
            asg_info g;
            asg_parse(m, &g);
            if (!with_deleting && g.status != NULL && *g.status) {
                asg_clear(&g);
                continue;
            }
            asg_info *grown = pu_realloc(*out, (*n + 1) * sizeof(**out));
            *out = grown;
            (*out)[(*n)++] = g;
        }
    }
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

static void asg_free_all(asg_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        asg_clear(&v[i]);
    free(v);
}

static int asg_one(aws_act *a, const char *name, asg_info *out)
{
    char *names[] = {(char *)name, NULL};
    asg_info *v = NULL;
    size_t n = 0;
    int error = asg_describe(a, names, 0, &v, &n);
    memset(out, 0, sizeof(*out));
    if (error == 0 && n == 0)
        error = INFRA_ENOTFOUND;
    if (error == 0) {
        *out = v[0];
        memset(&v[0], 0, sizeof(v[0]));
    }
    asg_free_all(v, n);
    return error;
}

/* The generations base-g0 .. base-g(upto) that exist. */
static int asg_sweep(aws_act *a, const char *base, long upto, int with_deleting, asg_info **out,
                     size_t *n)
{
    char **names = pu_calloc(1, sizeof(char *));
    for (long gen = 0; gen <= upto && gen < 50; gen++) {
        char *name = group_name(base, gen);
        aws_strv_push(&names, name);
        free(name);
    }
    int error = asg_describe(a, names, with_deleting, out, n);
    aws_strv_free(names);
    return error;
}

static long generation_of(const char *base, const char *name)
{
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0 || strncmp(name + n, "-g", 2) != 0)
        return -1;
    return strtol(name + n + 2, NULL, 10);
}

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

static int asg_create(aws_act *a, const group_id *g, const char *name, const asg_want *w)
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
        asg_info now = {0};
        error = asg_one(a, name, &now);
        const char *owner = error == 0 ? aws_tags_get(&now.tags, "infra:token") : NULL;
        if (error == 0 && (owner == NULL || strcmp(owner, g->token) != 0)) {
            pu_diagf(a->call, "",
                     "aws: an Auto Scaling group named \"%s\" already exists in %s "
                     "and was not made by this resource",
                     name, a->p->region);
            error = INFRA_ECONFLICT;
        }
        asg_clear(&now);
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
        asg_info g = {0};
        int error = asg_one(a, name, &g);
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
                asg_clear(&g);
                free(b.data);
                return error;
            }
            if ((long)on < w->desired) {
                ok = 0;
                pu_buf_printf(&b, "%zu of %ld instances InService on load balancer %s", on,
                              w->desired, w->balancers[i]);
            }
        }
        asg_clear(&g);
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
        asg_info *v = NULL;
        size_t n = 0;
        if ((error = asg_describe(a, names, 1, &v, &n)) < 0)
            break;
        asg_free_all(v, n);
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

static int asg_state(aws_act *a, const infra_json *base, const char *name, long generation,
                     infra_json **out)
{
    asg_info g = {0};
    int error = asg_one(a, name, &g);
    infra_json *st = aws_state_new(base);
    if (error == 0 && (error = pu_json_set_str(st, "id", name)) == 0 &&
        (error = pu_json_set_str(st, "name", name)) == 0 &&
        (error = pu_json_set_int(st, "generation", generation)) == 0)
        error = aws_json_set_strv(st, "instances", g.instances);
    asg_clear(&g);
    if (error < 0) {
        AJ->release(st);
        return error;
    }
    *out = st;
    return 0;
}

static int asg_create_apply(aws_act *a, group_id *g, const asg_want *w)
{
    asg_info *v = NULL;
    size_t n = 0;
    char *name = NULL, *why = NULL;
    long generation = 0;
    infra_json *st = NULL;
    int error;

    /* A crash may have left a later generation of this create. */
    if ((error = asg_sweep(a, g->base, SWEEP_AHEAD, 0, &v, &n)) < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        long gen = generation_of(g->base, v[i].name);
        if (gen > generation || name == NULL) {
            generation = gen < 0 ? 0 : gen;
            free(name);
            name = pu_strdup(v[i].name);
        }
    }
    if (name == NULL) {
        name = group_name(g->base, 0);
        if ((error = asg_create(a, g, name, w)) < 0)
            goto done;
    }
    error = wait_healthy(a, name, w, pu_host->now_ms() + w->deadline_s * 1000, &why);
    if (error == INFRA_ETRANSIENT)
        pu_diagf(a->call, "", "aws: Auto Scaling group %s is not healthy after %ld s: %s", name,
                 w->deadline_s, why ? why : "");
    if (error == 0 && (error = asg_state(a, a->planned, name, generation, &st)) == 0)
        error = group_id_save(a, g);
done:
    asg_free_all(v, n);
    free(name);
    free(why);
    return aws_state_finish(a, st, error);
}

static int same_text(const char *x, const char *y)
{
    return (x == NULL && y == NULL) || (x != NULL && y != NULL && strcmp(x, y) == 0);
}

/* Size, health and subnets of the group, and its balancers. */
static int asg_modify(aws_act *a, const char *name, const asg_want *w)
{
    asg_info now = {0};
    int error = asg_one(a, name, &now);
    if (error < 0)
        return error;
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
    asg_clear(&now);
    return error;
}

static int asg_update_apply(aws_act *a, group_id *g, const asg_want *w)
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
            error = group_id_save(a, g);
        return aws_state_finish(a, st, error);
    }
    if (g->token == NULL || g->base == NULL) {
        pu_diagf(a->call, "",
                 "aws: the state of %s lacks the token it was created with; "
                 "replace it (remove it from the state) to change its template",
                 old);
        return INFRA_EINTERNAL;
    }
    next = group_name(g->base, generation + 1);
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
    if ((error = asg_delete(a, old)) < 0)
        goto done;
    if ((error = asg_state(a, a->planned, next, generation + 1, &st)) == 0)
        error = group_id_save(a, g);
done:
    free(next);
    free(why);
    return aws_state_finish(a, st, error);
}

static int autoscaling_group_apply(aws_act *a)
{
    group_id g;
    asg_want w;
    int error;
    group_id_load(a, &g);
    if ((error = want_load(a, &w)) == 0) {
        if (a->prior == NULL && g.token == NULL) {
            pu_diagf(a->call, "", "aws: an Auto Scaling group is created with a token");
            error = INFRA_EINTERNAL;
        } else {
            error = a->prior == NULL ? asg_create_apply(a, &g, &w) : asg_update_apply(a, &g, &w);
        }
    }
    want_clear(&w);
    group_id_clear(&g);
    return error;
}

static int autoscaling_group_remove(aws_act *a)
{
    group_id g;
    long generation = 0;
    asg_info *v = NULL;
    size_t n = 0;
    int error = 0;
    const char *id = aws_state_id(a->prior);

    group_id_load(a, &g);
    pu_json_to_int(AJ->get(a->prior, "generation"), &generation);
    if (id != NULL)
        error = asg_delete(a, id);
    /* Every other generation a crash may have left. */
    if (error == 0 && g.base != NULL &&
        (error = asg_sweep(a, g.base, generation + SWEEP_AHEAD, 1, &v, &n)) == 0)
        for (size_t i = 0; i < n && error == 0; i++)
            error = asg_delete(a, v[i].name);
    asg_free_all(v, n);
    group_id_clear(&g);
    return error;
}

static int autoscaling_group_read(aws_act *a)
{
    group_id g;
    asg_info now = {0};
    long generation = 0;
    const char *id = aws_state_id(a->state);
    int error;

    group_id_load(a, &g);
    pu_json_to_int(AJ->get(a->state, "generation"), &generation);
    error = id != NULL ? asg_one(a, id, &now) : INFRA_ENOTFOUND;
    if (error == INFRA_ENOTFOUND && g.base != NULL) {
        /* A replacement that finished after a crash: its group is the one now. */
        asg_info *v = NULL;
        size_t n = 0;
        if ((error = asg_sweep(a, g.base, generation + SWEEP_AHEAD, 0, &v, &n)) == 0) {
            long best = -1;
            for (size_t i = 0; i < n; i++) {
                long gen = generation_of(g.base, v[i].name);
                if (gen >= generation && gen > best) {
                    best = gen;
                    asg_clear(&now);
                    now = v[i];
                    memset(&v[i], 0, sizeof(v[i]));
                }
            }
            error = best >= 0 ? 0 : INFRA_ENOTFOUND;
            if (best >= 0)
                generation = best;
        }
        asg_free_all(v, n);
    }
    infra_json *st = NULL;
    if (error == 0) {
        st = aws_state_new(a->state);
        if ((error = pu_json_set_str(st, "id", now.name)) == 0 &&
            (error = pu_json_set_str(st, "name", now.name)) == 0 &&
            (error = pu_json_set_int(st, "generation", generation)) == 0 &&
            (error = aws_json_set_strv(st, "instances", now.instances)) == 0 &&
            (error = pu_json_set_str(st, "launch_template", now.template_id)) == 0 &&
            (error = pu_json_set_int(st, "min", now.min)) == 0 &&
            (error = pu_json_set_int(st, "max", now.max)) == 0) {
            if (AJ->get(st, "version") != NULL ||
                strcmp(now.version ? now.version : "", "$Latest") != 0)
                error = pu_json_set_str(st, "version", now.version);
            if (error == 0 && AJ->get(st, "desired") != NULL)
                error = pu_json_set_int(st, "desired", now.desired);
            if (error == 0 && AJ->get(st, "health_check_type") != NULL)
                error = pu_json_set_str(st, "health_check_type", now.health_type);
            if (error == 0 && AJ->get(st, "health_check_grace_period") != NULL)
                error = pu_json_set_int(st, "health_check_grace_period", now.grace);
            char **had = NULL;
            if (error == 0 && aws_json_strv(AJ->get(st, "load_balancers"), &had) == 0) {
                if (!aws_strv_same_set(had, now.balancers) &&
                    (AJ->get(st, "load_balancers") != NULL || aws_strv_len(now.balancers)))
                    error = aws_json_set_strv(st, "load_balancers", now.balancers);
            }
            aws_strv_free(had);
            /* Subnets: the state's list while it names the same set. */
            char **want = NULL;
            if (error == 0 && aws_json_strv(AJ->get(st, "subnets"), &want) == 0) {
                char **sorted_now = pu_calloc(1, sizeof(char *));
                const char *s = now.subnets ? now.subnets : "";
                while (*s) {
                    const char *c = strchr(s, ',');
                    size_t len = c ? (size_t)(c - s) : strlen(s);
                    char *one = pu_strndup(s, len);
                    if (*one)
                        aws_strv_push(&sorted_now, one);
                    free(one);
                    s += len + (c ? 1 : 0);
                }
                if (!aws_strv_same_set(want, sorted_now))
                    error = aws_json_set_strv(st, "subnets", sorted_now);
                aws_strv_free(sorted_now);
            }
            aws_strv_free(want);
        }
    }
    asg_clear(&now);
    group_id_clear(&g);
    return aws_state_finish(a, st, error);
}

const aws_handler aws_autoscaling_group_handler = {
    "autoscaling_group", autoscaling_group_apply, autoscaling_group_remove, autoscaling_group_read};
