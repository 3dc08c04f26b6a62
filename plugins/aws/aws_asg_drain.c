/* Taking a replaced Auto Scaling group off its load balancers before it is
 * deleted. Force-deleting a group deregisters and terminates its instances
 * in one step, which cuts the requests they are serving. Detaching the
 * group first deregisters them alone: with connection draining on, each
 * balancer lists a deregistered instance as OutOfService, "Instance
 * deregistration currently in progress", until its connections end or the
 * draining timeout passes, and then no more. Only after that is the group
 * deleted.
 *
 * Every step repeats safely: detaching a detached group changes nothing,
 * and the balancers waited on are those the group still names plus those
 * the new group uses, so a rerun after a crash between detach and delete
 * still waits for the drain. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRAINING_WORDS "deregistration currently in progress"

static int detach(aws_act *a, const char *group, char *const *balancers)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    if (aws_strv_len(balancers) == 0)
        return 0;
    aws_params_add(&q, "AutoScalingGroupName", group);
    aws_params_list(&q, AWS_LIST_MEMBER, "LoadBalancerNames", balancers);
    int error = aws_query(a->p, a->call, AWS_ASG, "DetachLoadBalancers", &q, "load_balancers",
                          AWS_SAFE, NULL, &r);
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

/* Appends to *left "ID on BALANCER (STATE)" for each of ids the balancer
 * still serves or drains. */
static int still_on(aws_act *a, const char *balancer, char *const *ids, pu_buf *left)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    aws_params_add(&q, "LoadBalancerName", balancer);
    int error = aws_query(a->p, a->call, AWS_ELB, "DescribeInstanceHealth", &q, "load_balancers",
                          AWS_SAFE, NULL, &r);
    if (error == 0) {
        xmlNode *set = aws_xml_child(r->result, "InstanceStates");
        for (xmlNode *m = aws_xml_child(set, "member"); m != NULL; m = aws_xml_next(m)) {
            char *id = aws_xml_get(m, "InstanceId"), *state = aws_xml_get(m, "State");
            char *text = aws_xml_get(m, "Description");
            int serving = state != NULL && strcmp(state, "InService") == 0;
            int draining = text != NULL && strstr(text, DRAINING_WORDS) != NULL;
            if (id != NULL && aws_strv_has(ids, id) && (serving || draining))
                pu_buf_printf(left, "%s%s on %s (%s)", left->len > 0 ? ", " : "", id, balancer,
                              serving ? "InService" : "draining");
            free(id);
            free(state);
            free(text);
        }
    }
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

int aws_asg_drain(aws_act *a, const char *group, char *const *also, int64_t deadline_ms)
{
    aws_asg_info g = {0};
    char **balancers = NULL;
    int64_t delay = 1000;
    int error = aws_asg_one(a, group, &g);
    if (error == INFRA_ENOTFOUND)
        return 0; /* already gone: nothing of it is left on a balancer */
    if (error < 0)
        return error;
    if (aws_strv_len(g.instances) == 0)
        goto done;
    pu_logf(a->call, INFRA_LOG_INFO, "draining Auto Scaling group %s off its load balancers",
            group);
    if ((error = detach(a, group, g.balancers)) < 0)
        goto done;
    balancers = pu_calloc(1, sizeof(char *));
    for (size_t i = 0; g.balancers != NULL && g.balancers[i] != NULL; i++)
        aws_strv_push(&balancers, g.balancers[i]);
    for (size_t i = 0; also != NULL && also[i] != NULL; i++)
        if (!aws_strv_has(balancers, also[i]))
            aws_strv_push(&balancers, also[i]);
    for (;;) {
        pu_buf left = {0};
        for (size_t i = 0; error == 0 && balancers[i] != NULL; i++)
            error = still_on(a, balancers[i], g.instances, &left);
        if (error < 0 || left.len == 0) {
            free(left.data);
            break;
        }
        if (pu_host->now_ms() + delay > deadline_ms) {
            pu_diagf(a->call, "load_balancers",
                     "aws: the instances of Auto Scaling group %s were still on its load "
                     "balancers at the deadline: %s; it was not deleted, and a rerun waits again",
                     group, left.data);
            free(left.data);
            error = INFRA_ETRANSIENT;
            break;
        }
        free(left.data);
        if ((error = aws_sleep(a->p, a->call, delay)) < 0)
            break;
        delay = delay * 3 / 2 > 5000 ? 5000 : delay * 3 / 2;
    }
done:
    aws_strv_free(balancers);
    aws_asg_info_clear(&g);
    return error;
}
