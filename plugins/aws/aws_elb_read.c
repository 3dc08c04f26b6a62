/* Reading Classic load balancers: one (read), or every balancer of a
 * refresh at once (read_many: one DescribeLoadBalancers naming them all,
 * and DescribeTags 20 names a call, the most it takes). Both turn what
 * ELB answers into a state with lb_refresh, so they see the same drift:
 * a balancer deleted, listeners, health check, subnets, groups,
 * registered instances, scheme or tags changed. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_LEN 32
#define TAGS_NAMES_MAX 20 /* names one DescribeTags takes */

/* ------------------------------------------------------------------ */
/* What a balancer is now                                             */

void aws_lb_info_clear(aws_lb_info *l)
{
    free(l->name);
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

/* What one LoadBalancerDescriptions member says of its balancer. */
static void lb_parse(const xmlNode *d, aws_lb_info *l)
{
    memset(l, 0, sizeof(*l));
    l->name = aws_xml_get(d, "LoadBalancerName");
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

int aws_lb_describe(aws_act *a, const char *name, aws_lb_info *l)
{
    aws_resp *r = NULL;
    memset(l, 0, sizeof(*l));
    int error = lb_query(a, "DescribeLoadBalancers", name, &r);
    if (error == 0) {
        xmlNode *d = aws_xml_path(r->result, "LoadBalancerDescriptions/member");
        if (d == NULL)
            error = INFRA_ENOTFOUND;
        else
            lb_parse(d, l);
    }
    aws_resp_free(r);
    return error;
}

int aws_lb_tags(aws_act *a, const char *name, aws_tags *out)
{
    aws_resp *r = NULL;
    memset(out, 0, sizeof(*out));
    int error = lb_query(a, "DescribeTags", name, &r);
    if (error == 0)
        aws_tags_parse_members(aws_xml_path(r->result, "TagDescriptions/member/Tags"), out);
    aws_resp_free(r);
    return error;
}

char *aws_lb_derived_name(infra_call *call)
{
    char hex[9];
    char *base = aws_call_name(call, NAME_MAX_LEN - 9);
    aws_token_hex(pu_host->call_token(call), 8, hex);
    char *name = pu_printf("%s-%s", base, hex);
    free(base);
    return name;
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
    char *guess = aws_lb_derived_name(a->call);
    aws_tags tags = {0};
    int error = aws_lb_tags(a, guess, &tags);
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

/* The listeners as the state shows them: its own words while they say
 * what the balancer has, else the balancer's. */
static int listeners_json(infra_json *st, const aws_lb_info *now, const aws_listener *want,
                          size_t nwant)
{
    int same = nwant == now->nlisteners;
    for (size_t i = 0; same && i < nwant; i++)
        same = aws_listener_same(&want[i], &now->listeners[i]);
    if (same)
        return 0;
    infra_json *list = AJ->new_array();
    int error = list == NULL ? INFRA_EINTERNAL : 0;
    for (size_t i = 0; error == 0 && i < now->nlisteners; i++) {
        const aws_listener *l = &now->listeners[i];
        infra_json *o = AJ->new_object();
        if (o == NULL || pu_json_set_int(o, "port", l->port) < 0 ||
            pu_json_set_str(o, "protocol", l->protocol) < 0 ||
            pu_json_set_int(o, "instance_port", l->instance_port) < 0 ||
            pu_json_set_str(o, "instance_protocol", l->instance_protocol) < 0 ||
            AJ->append(list, o) < 0)
            error = INFRA_EINTERNAL;
    }
    AJ->remove(st, "listen");
    if (error == 0 && AJ->set(st, "listeners", list) < 0)
        error = INFRA_EINTERNAL;
    else if (error < 0)
        AJ->release(list);
    return error;
}

/* The health check as the state shows it: its own words while they say
 * what the balancer checks, else the balancer's. */
static int health_json(infra_json *st, const aws_lb_info *now, const aws_listener *want,
                       size_t nwant)
{
    long interval, timeout, healthy, unhealthy;
    char *health = aws_health_wanted(st, want, nwant);
    int error = 0;
    if (health != NULL && now->health_target != NULL && strcasecmp(health, now->health_target) != 0)
        error = pu_json_set_str(st, "health", now->health_target);
    free(health);
    aws_health_numbers(st, &interval, &timeout, &healthy, &unhealthy);
    if (error == 0 && AJ->get(st, "health_interval") && interval != now->interval)
        error = pu_json_set_int(st, "health_interval", now->interval);
    if (error == 0 && AJ->get(st, "healthy_threshold") && healthy != now->healthy)
        error = pu_json_set_int(st, "healthy_threshold", now->healthy);
    if (error == 0 && AJ->get(st, "unhealthy_threshold") && unhealthy != now->unhealthy)
        error = pu_json_set_int(st, "unhealthy_threshold", now->unhealthy);
    return error;
}

int aws_lb_draining_read(aws_act *a, const char *name, aws_draining *out)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    memset(out, 0, sizeof(*out));
    aws_params_add(&q, "LoadBalancerName", name);
    int error = aws_query(a->p, a->call, AWS_ELB, "DescribeLoadBalancerAttributes", &q,
                          "connection_draining", AWS_SAFE, NULL, &r);
    if (error == 0) {
        xmlNode *d =
            aws_xml_child(aws_xml_child(r->result, "LoadBalancerAttributes"), "ConnectionDraining");
        char *on = aws_xml_get(d, "Enabled"), *t = aws_xml_get(d, "Timeout");
        out->present = 1;
        out->enabled = on != NULL && strcmp(on, "true") == 0;
        out->timeout = t != NULL ? strtol(t, NULL, 10) : 300;
        free(on);
        free(t);
    }
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

/* connection_draining as the balancer has it, when the state asks for it
 * and the two differ (a timeout matters only while draining is on). */
static int draining_json(aws_act *a, const char *name, infra_json *st)
{
    aws_draining want, now;
    if (aws_lb_draining(a->call, st, &want) < 0 || !want.present)
        return 0;
    int error = aws_lb_draining_read(a, name, &now);
    if (error < 0 || (want.enabled == now.enabled && (!now.enabled || want.timeout == now.timeout)))
        return error;
    infra_json *v = AJ->new_object();
    if ((error = pu_json_set_bool(v, "enabled", now.enabled)) < 0 ||
        (error = pu_json_set_int(v, "timeout", now.timeout)) < 0) {
        AJ->release(v);
        return error;
    }
    return AJ->set(st, "connection_draining", v);
}

/* The state of balancer name as now and tags describe it. */
static int lb_refresh(aws_act *a, const char *name, const aws_lb_info *now, const aws_tags *tags)
{
    infra_json *st = aws_state_new(a->state);
    aws_listener *want = NULL;
    size_t nwant = 0;
    int error;

    if ((error = pu_json_set_str(st, "id", name)) < 0 ||
        (error = pu_json_set_str(st, "name", name)) < 0 ||
        (error = pu_json_set_str(st, "dns_name", now->dns_name)) < 0 ||
        (error = pu_json_set_str(st, "zone_id", now->zone_id)) < 0)
        goto done;
    if (AJ->get(st, "subnets") != NULL && (error = echo_list(st, "subnets", now->subnets)) < 0)
        goto done;
    if (AJ->get(st, "firewalls") != NULL && (error = echo_list(st, "firewalls", now->groups)) < 0)
        goto done;
    /* Registered instances: the state's targets while they are the ones
     * the last apply registered, else the ids registered now. */
    if (AJ->get(st, "targets") != NULL) {
        char **registered = NULL;
        aws_json_strv(AJ->get(st, "instances"), &registered);
        if (!aws_strv_same_set(registered, now->instances))
            error = aws_json_set_strv(st, "targets", now->instances);
        aws_strv_free(registered);
        if (error < 0 || (error = aws_json_set_strv(st, "instances", now->instances)) < 0)
            goto done;
    }
    if (a->state != NULL && aws_listeners_parse(a->call, st, &want, &nwant) == 0 &&
        (error = listeners_json(st, now, want, nwant)) == 0)
        error = health_json(st, now, want, nwant);
    if (error == 0 && AJ->get(st, "internal") != NULL)
        error =
            pu_json_set_bool(st, "internal", now->scheme && strcmp(now->scheme, "internal") == 0);
    if (error == 0)
        error = draining_json(a, name, st);
    /* name is the balancer's own; the Name tag only mirrors it. */
    if (error == 0 && (error = aws_tags_read(st, tags, NULL)) == 0)
        error = pu_json_set_str(st, "name", name);
done:
    free(want);
    return aws_state_finish(a, st, error);
}

int aws_lb_read(aws_act *a)
{
    char *found = NULL;
    const char *name = aws_state_id(a->state);
    aws_lb_info now = {0};
    aws_tags tags = {0};
    int error;

    if (a->state == NULL) {
        if ((error = lb_by_token(a, &found)) < 0)
            return error;
        name = found;
    }
    if (name == NULL)
        return INFRA_ENOTFOUND;
    if ((error = aws_lb_describe(a, name, &now)) == 0 && (error = aws_lb_tags(a, name, &tags)) == 0)
        error = lb_refresh(a, name, &now, &tags);
    aws_lb_info_clear(&now);
    aws_tags_free(&tags);
    free(found);
    return error;
}

/* ------------------------------------------------------------------ */
/* Many at once                                                       */

typedef struct lb_batch {
    char **names;      /* the balancers asked about */
    aws_lb_info *info; /* same order; name NULL until described */
    aws_tags *tags;
    int *tagged;
} lb_batch;

static void lb_take(lb_batch *b, const xmlNode *result)
{
    xmlNode *set = aws_xml_child(result, "LoadBalancerDescriptions");
    for (xmlNode *d = aws_xml_child(set, "member"); d != NULL; d = aws_xml_next(d)) {
        char *name = aws_xml_get(d, "LoadBalancerName");
        for (size_t i = 0; name != NULL && b->names[i] != NULL; i++)
            if (strcmp(b->names[i], name) == 0 && b->info[i].name == NULL)
                lb_parse(d, &b->info[i]);
        free(name);
    }
}

/* An aws_elb_pages page of every balancer of the region. */
static int lb_take_page(void *ud, const xmlNode *result)
{
    lb_take(ud, result);
    return 0;
}

/* The balancers of b->names: one call naming them all; when one of them
 * is gone ELB fails that call, and every balancer is listed instead. */
static int lb_describe_all(aws_act *batch, lb_batch *b)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    aws_params_list(&q, AWS_LIST_MEMBER, "LoadBalancerNames", b->names);
    int error = aws_query(batch->p, batch->call, AWS_ELB, "DescribeLoadBalancers", &q, "", AWS_SAFE,
                          "LoadBalancerNotFound AccessPointNotFound", &r);
    if (error == 0)
        lb_take(b, r->result);
    aws_resp_free(r);
    aws_params_free(&q);
    if (error == INFRA_ENOTFOUND)
        error = aws_elb_pages(batch, "", lb_take_page, b);
    return error;
}

/* The tags of the balancers described, TAGS_NAMES_MAX names a call. */
static int lb_tags_all(aws_act *batch, lb_batch *b)
{
    size_t n = aws_strv_len(b->names), i = 0;
    int error = 0;
    while (error == 0 && i < n) {
        aws_params q = {0};
        aws_resp *r = NULL;
        size_t count = 0;
        for (; i < n && count < TAGS_NAMES_MAX; i++)
            if (b->info[i].name != NULL)
                aws_params_addk(&q, b->names[i], "LoadBalancerNames.member.%zu", ++count);
        if (count == 0) {
            aws_params_free(&q);
            break;
        }
        /* A balancer deleted since it was described fails the call: it is
         * then asked about alone, and is gone. */
        error = aws_query(batch->p, batch->call, AWS_ELB, "DescribeTags", &q, "", AWS_SAFE,
                          "LoadBalancerNotFound AccessPointNotFound", &r);
        xmlNode *set = error == 0 ? aws_xml_child(r->result, "TagDescriptions") : NULL;
        for (xmlNode *d = aws_xml_child(set, "member"); d != NULL; d = aws_xml_next(d)) {
            char *name = aws_xml_get(d, "LoadBalancerName");
            for (size_t k = 0; name != NULL && b->names[k] != NULL; k++)
                if (strcmp(b->names[k], name) == 0 && !b->tagged[k]) {
                    aws_tags_parse_members(aws_xml_child(d, "Tags"), &b->tags[k]);
                    b->tagged[k] = 1;
                }
            free(name);
        }
        aws_resp_free(r);
        aws_params_free(&q);
    }
    for (size_t k = 0; error == INFRA_ENOTFOUND && k < n; k++) {
        if (b->info[k].name == NULL || b->tagged[k])
            continue;
        int one = aws_lb_tags(batch, b->names[k], &b->tags[k]);
        if (one == 0)
            b->tagged[k] = 1;
        else if (one != INFRA_ENOTFOUND)
            return one;
    }
    return error == INFRA_ENOTFOUND ? 0 : error;
}

int aws_lb_read_many(aws_many *m)
{
    aws_act batch = {.p = m->p, .call = m->call};
    lb_batch b = {pu_calloc(m->n + 1, sizeof(char *)), pu_calloc(m->n + 1, sizeof(aws_lb_info)),
                  pu_calloc(m->n + 1, sizeof(aws_tags)), pu_calloc(m->n + 1, sizeof(int))};
    size_t nb = 0;
    int error = 0;

    for (size_t i = 0; i < m->n; i++) {
        const char *name = aws_state_id(m->acts[i].state);
        m->results[i] = INFRA_ENOTFOUND;
        if (name != NULL && !aws_strv_has(b.names, name))
            b.names[nb++] = pu_strdup(name);
    }
    if (nb > 0 && (error = lb_describe_all(&batch, &b)) == 0)
        error = lb_tags_all(&batch, &b);
    for (size_t i = 0; error == 0 && i < m->n; i++) {
        const char *name = aws_state_id(m->acts[i].state);
        for (size_t k = 0; name != NULL && k < nb; k++)
            if (strcmp(b.names[k], name) == 0 && b.info[k].name != NULL && b.tagged[k])
                m->results[i] = lb_refresh(&m->acts[i], name, &b.info[k], &b.tags[k]);
    }
    for (size_t k = 0; k < nb; k++) {
        aws_lb_info_clear(&b.info[k]);
        aws_tags_free(&b.tags[k]);
    }
    aws_strv_free(b.names);
    free(b.info);
    free(b.tags);
    free(b.tagged);
    return error;
}
