/* Helpers every EC2 resource type uses: finding the object a create made
 * by its infra:token tag, the create, read and delete steps most types
 * share, and starting and finishing states. */
#include "aws_res.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int aws_find_by_token(infra_provider *p, infra_call *call, const char *action,
                      const char *item_path, const char *id_elem, const char *state_elem,
                      const char *skip_states, const char *token, aws_params *params, char **id)
{
    aws_params own = {0};
    aws_params *q = params ? params : &own;
    aws_resp *r = NULL;
    int error;

    *id = NULL;
    if (token == NULL || *token == '\0')
        return INFRA_ENOTFOUND;
    aws_params_filter1(q, "tag:infra:token", token);
    error = aws_query(p, call, AWS_EC2, action, q, "", AWS_SAFE, NULL, &r);
    if (error == 0) {
        error = INFRA_ENOTFOUND;
        xmlNode *set = aws_xml_path(r->result, item_path);
        for (xmlNode *it = aws_xml_child(set, "item"); it != NULL; it = aws_xml_next(it)) {
            char *state = state_elem ? aws_xml_get(it, state_elem) : NULL;
            int skip = state != NULL && skip_states != NULL && aws_code_matches(state, skip_states);
            free(state);
            if (skip)
                continue;
            char *found = aws_xml_get(it, id_elem);
            if (found != NULL && *found) {
                *id = found;
                error = 0;
                break;
            }
            free(found);
        }
    }
    aws_resp_free(r);
    aws_params_free(&own);
    return error;
}

int aws_resuming(infra_call *call)
{
    /* A host that cannot say: look, as a create always did. */
    if (!INFRA_HAS_SLOT(pu_host, call_resuming))
        return 1;
    return pu_host->call_resuming(call) == 1;
}

int aws_create_may_exist(aws_act *a)
{
    const char *token = pu_host->call_token(a->call);
    if (token == NULL || aws_resuming(a->call))
        return 1;
    /* A create tried before in this run (the engine retries after a
     * failure that may have come after the object was made). */
    pthread_mutex_lock(&a->p->tried_lock);
    int tried = aws_strv_has(a->p->tried, token);
    if (!tried)
        aws_strv_push(&a->p->tried, token);
    pthread_mutex_unlock(&a->p->tried_lock);
    return tried;
}

int aws_find_mine_before_create(aws_act *a, const aws_ec2_kind *kind, char **id)
{
    *id = NULL;
    if (!aws_create_may_exist(a))
        return INFRA_ENOTFOUND;
    return aws_find_mine(a, kind, id);
}

int aws_find_mine(aws_act *a, const aws_ec2_kind *kind, char **id)
{
    return aws_find_by_token(a->p, a->call, kind->describe, kind->set, kind->id_elem,
                             kind->state_elem, NULL, pu_host->call_token(a->call), NULL, id);
}

int aws_read_id(aws_act *a, const aws_ec2_kind *kind, const char **id, char **found)
{
    int error;

    *found = NULL;
    *id = aws_state_id(a->state);
    if (a->state == NULL) {
        if ((error = aws_find_mine(a, kind, found)) < 0)
            return error;
        *id = *found;
    }
    return *id != NULL ? 0 : INFRA_ENOTFOUND;
}

int aws_prior_id(const aws_act *a, char **id)
{
    const char *pid = aws_state_id(a->prior);
    *id = pid != NULL ? pu_strdup(pid) : NULL;
    return pid != NULL ? 0 : INFRA_ENOTFOUND;
}

int aws_ec2_create(aws_act *a, const char *action, aws_params *q, const char *resource_type,
                   const char *attr, unsigned flags, const char *id_path, char **id)
{
    aws_tags tags = {0};
    aws_resp *r = NULL;
    int error;

    *id = NULL;
    if ((error = aws_tags_build(a->call, pu_json_str(a->planned, "name"),
                                AJ->get(a->planned, "tags"), &tags)) < 0)
        return error;
    aws_tags_spec(q, 1, resource_type, &tags);
    if ((error = aws_query(a->p, a->call, AWS_EC2, action, q, attr, flags, NULL, &r)) == 0) {
        const char *slash = strrchr(id_path, '/');
        *id = aws_xml_get(r->result, id_path);
        if (*id == NULL || **id == '\0') {
            pu_diagf(a->call, "", "aws: %s in %s answered no %s", action, a->p->region,
                     slash ? slash + 1 : id_path);
            free(*id);
            *id = NULL;
            error = INFRA_EINTERNAL;
        }
    }
    aws_resp_free(r);
    aws_tags_free(&tags);
    return error;
}

int aws_query_simple(infra_provider *p, infra_call *call, aws_service svc, const char *action,
                     const char *attr, unsigned flags, const char *quiet, ...)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    va_list ap;

    va_start(ap, quiet);
    for (const char *key = va_arg(ap, const char *); key != NULL; key = va_arg(ap, const char *))
        aws_params_add(&q, key, va_arg(ap, const char *));
    va_end(ap);
    int error = aws_query(p, call, svc, action, &q, attr, flags, quiet, &r);
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

int aws_remove_simple(aws_act *a, aws_service svc, const char *action, const char *key,
                      const char *value, unsigned flags, const char *quiet)
{
    if (value == NULL)
        return 0;
    int error = aws_query_simple(a->p, a->call, svc, action, "", flags, quiet, key, value, NULL);
    return error == INFRA_ENOTFOUND ? 0 : error;
}

const char *aws_json_str_any(const infra_json *obj, const char *const *keys)
{
    for (size_t i = 0; keys[i] != NULL; i++) {
        const char *v = pu_json_str(obj, keys[i]);
        if (v != NULL && *v)
            return v;
    }
    return NULL;
}

infra_json *aws_state_new(const infra_json *base)
{
    if (base != NULL && AJ->type(base) == INFRA_JSON_OBJECT)
        return AJ->copy(base);
    return AJ->new_object();
}

int aws_state_finish(aws_act *a, infra_json *st, int error)
{
    if (error < 0 || st == NULL) {
        AJ->release(st);
        return error < 0 ? error : INFRA_EINTERNAL;
    }
    *a->out = st;
    return 0;
}

const char *aws_state_id(const infra_json *state)
{
    const char *id = pu_json_str(state, "id");
    return id != NULL && *id ? id : NULL;
}

int aws_json_alias_value(const infra_json *obj, const char *const *keys, const infra_json **out,
                         const char **key)
{
    *out = NULL;
    if (key != NULL)
        *key = NULL;
    for (size_t i = 0; keys[i] != NULL; i++) {
        const infra_json *v = AJ->get(obj, keys[i]);
        if (v != NULL && AJ->type(v) != INFRA_JSON_NULL) {
            *out = v;
            if (key != NULL)
                *key = keys[i];
            return 0;
        }
    }
    return INFRA_ENOTFOUND;
}

int aws_describe_one(infra_provider *p, infra_call *call, const char *action, const char *id_key,
                     const char *id, const char *set, unsigned flags, aws_resp **resp,
                     xmlNode **item)
{
    aws_params q = {0};
    *resp = NULL;
    *item = NULL;
    aws_params_add(&q, id_key, id);
    int error = aws_query(p, call, AWS_EC2, action, &q, "", AWS_SAFE | flags, "*.NotFound", resp);
    aws_params_free(&q);
    if (error == 0) {
        *item = aws_xml_child(aws_xml_child((*resp)->result, set), "item");
        if (*item == NULL)
            error = INFRA_ENOTFOUND;
    }
    if (error < 0) {
        aws_resp_free(*resp);
        *resp = NULL;
    }
    return error;
}

int aws_wait_state(infra_provider *p, infra_call *call, const char *attr, const char *action,
                   const char *id_key, const char *id, const char *set, const char *state_elem,
                   const char *target, const char *fail_states, int64_t timeout_ms)
{
    int64_t deadline = pu_host->now_ms() + timeout_ms;
    int64_t delay = 500;
    for (;;) {
        aws_resp *r = NULL;
        xmlNode *item = NULL;
        int error = aws_describe_one(p, call, action, id_key, id, set, AWS_FRESH, &r, &item);
        char *state = error == 0 ? aws_xml_get(item, state_elem) : NULL;
        aws_resp_free(r);
        if (error == INFRA_ENOTFOUND && strcmp(target, "deleted") == 0)
            error = 0;
        else if (error == 0 && state != NULL && strcmp(state, target) == 0)
            error = 0;
        else if (error == 0 && state != NULL && fail_states &&
                 aws_code_matches(state, fail_states)) {
            pu_diagf(call, attr, "aws: %s is %s instead of %s", id, state, target);
            error = INFRA_ECONFLICT;
        } else if (error == 0) {
            error = 1; /* not yet */
        }
        free(state);
        if (error <= 0)
            return error;
        if (pu_host->now_ms() + delay > deadline) {
            pu_diagf(call, attr, "aws: %s did not become %s within %lld s", id, target,
                     (long long)(timeout_ms / 1000));
            return INFRA_ETRANSIENT;
        }
        if ((error = aws_sleep(p, call, delay)) < 0)
            return error;
        delay = delay * 3 / 2 > 5000 ? 5000 : delay * 3 / 2;
    }
}
