/* What identifies an Auto Scaling group of a resource (the create's token
 * and the BASE of its names, BASE-gN per generation N, kept in the
 * private blob) and what a group is now: DescribeAutoScalingGroups,
 * NAMES_MAX names a call, every page of it. Shared by the apply, the
 * delete and the reads of aws_asg.c. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void aws_asg_id_clear(aws_asg_id *g)
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

char *aws_asg_name(const char *base, long generation)
{
    return pu_printf("%s-g%ld", base, generation);
}

/* The token and base: from the private blob, else from the call. */
void aws_asg_id_load(const aws_act *a, aws_asg_id *g)
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

int aws_asg_id_save(aws_act *a, const aws_asg_id *g)
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

void aws_asg_info_clear(aws_asg_info *g)
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

void aws_asg_parse(const xmlNode *m, aws_asg_info *g)
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

/* Names one DescribeAutoScalingGroups takes, and groups it answers a page. */
#define NAMES_MAX 50
#define RECORDS_MAX 100

/* Appends the groups of one answer to *out. */
static void take_groups(const xmlNode *result, int with_deleting, aws_asg_info **out, size_t *n)
{
    xmlNode *set = aws_xml_child(result, "AutoScalingGroups");
    for (xmlNode *m = aws_xml_child(set, "member"); m != NULL; m = aws_xml_next(m)) {
        aws_asg_info g;
        aws_asg_parse(m, &g);
        if (!with_deleting && g.status != NULL && *g.status) {
            aws_asg_info_clear(&g);
            continue;
        }
        aws_asg_info *grown = pu_realloc(*out, (*n + 1) * sizeof(**out));
        *out = grown;
        (*out)[(*n)++] = g;
    }
}

int aws_asg_describe(aws_act *a, char *const *names, int with_deleting, aws_asg_info **out,
                     size_t *n)
{
    size_t total = aws_strv_len(names), i = 0;
    int error = 0;
    *out = NULL;
    *n = 0;
    while (error == 0 && i < total) {
        char *next = NULL;
        size_t first = i;
        do {
            aws_params q = {0};
            aws_resp *r = NULL;
            for (size_t k = first; k < total && k - first < NAMES_MAX; k++)
                aws_params_addk(&q, names[k], "AutoScalingGroupNames.member.%zu", k - first + 1);
            aws_params_add_int(&q, "MaxRecords", RECORDS_MAX);
            if (next != NULL)
                aws_params_add(&q, "NextToken", next);
            free(next);
            next = NULL;
            error = aws_query(a->p, a->call, AWS_ASG, "DescribeAutoScalingGroups", &q, "", AWS_SAFE,
                              NULL, &r);
            if (error == 0) {
                take_groups(r->result, with_deleting, out, n);
                next = aws_xml_get(r->result, "NextToken");
                if (next != NULL && *next == '\0') {
                    free(next);
                    next = NULL;
                }
            }
            aws_resp_free(r);
            aws_params_free(&q);
        } while (error == 0 && next != NULL);
        free(next);
        i = first + NAMES_MAX < total ? first + NAMES_MAX : total;
    }
    if (error < 0) {
        aws_asg_free_all(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return error;
}

void aws_asg_free_all(aws_asg_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        aws_asg_info_clear(&v[i]);
    free(v);
}

int aws_asg_one(aws_act *a, const char *name, aws_asg_info *out)
{
    char *names[] = {(char *)name, NULL};
    aws_asg_info *v = NULL;
    size_t n = 0;
    int error = aws_asg_describe(a, names, 0, &v, &n);
    memset(out, 0, sizeof(*out));
    if (error == 0 && n == 0)
        error = INFRA_ENOTFOUND;
    if (error == 0) {
        *out = v[0];
        memset(&v[0], 0, sizeof(v[0]));
    }
    aws_asg_free_all(v, n);
    return error;
}

/* The generations base-g0 .. base-g(upto) that exist. */
int aws_asg_sweep(aws_act *a, const char *base, long upto, int with_deleting, aws_asg_info **out,
                  size_t *n)
{
    char **names = pu_calloc(1, sizeof(char *));
    for (long gen = 0; gen <= upto && gen < 50; gen++) {
        char *name = aws_asg_name(base, gen);
        aws_strv_push(&names, name);
        free(name);
    }
    int error = aws_asg_describe(a, names, with_deleting, out, n);
    aws_strv_free(names);
    return error;
}

long aws_asg_generation(const char *base, const char *name)
{
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0 || strncmp(name + n, "-g", 2) != 0)
        return -1;
    return strtol(name + n + 2, NULL, 10);
}
