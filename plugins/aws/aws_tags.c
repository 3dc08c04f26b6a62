/* Tags. Every object the provider creates carries infra:topology,
 * infra:environment, infra:address and infra:token (the create's
 * idempotency token), which is how an interrupted create is found again,
 * plus Name and the user's tags. infra:* keys are never changed after the
 * create. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_KEY_MAX 128
#define TAG_VALUE_MAX 256

void aws_tags_set(aws_tags *t, const char *key, const char *value)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].key, key) == 0) {
            free(t->v[i].value);
            t->v[i].value = pu_strdup(value ? value : "");
            return;
        }
    }
    aws_tag *grown = pu_realloc(t->v, (t->n + 1) * sizeof(*grown));
    t->v = grown;
    t->v[t->n].key = pu_strdup(key);
    t->v[t->n].value = pu_strdup(value ? value : "");
    t->n++;
}

const char *aws_tags_get(const aws_tags *t, const char *key)
{
    for (size_t i = 0; t != NULL && i < t->n; i++)
        if (strcmp(t->v[i].key, key) == 0)
            return t->v[i].value;
    return NULL;
}

void aws_tags_without_infra(const aws_tags *t, aws_tags *out)
{
    for (size_t i = 0; i < t->n; i++)
        if (strncmp(t->v[i].key, "infra:", 6) != 0)
            aws_tags_set(out, t->v[i].key, t->v[i].value);
}

void aws_tags_free(aws_tags *t)
{
    for (size_t i = 0; t != NULL && i < t->n; i++) {
        free(t->v[i].key);
        free(t->v[i].value);
    }
    if (t != NULL) {
        free(t->v);
        t->v = NULL;
        t->n = 0;
    }
}

static int user_key_ok(infra_call *call, const char *key)
{
    char attr[TAG_KEY_MAX + 8];
    snprintf(attr, sizeof(attr), "tags.%s", key);
    if (*key == '\0' || strlen(key) > TAG_KEY_MAX) {
        pu_diagf(call, attr, "a tag key must have 1 to %d characters", TAG_KEY_MAX);
        return 0;
    }
    if (strncmp(key, "aws:", 4) == 0 || strncmp(key, "infra:", 6) == 0) {
        pu_diagf(call, attr, "tag keys starting with \"%.*s\" are reserved", key[0] == 'a' ? 4 : 6,
                 key);
        return 0;
    }
    return 1;
}

int aws_tags_build(infra_call *call, const char *name, const infra_json *user_tags, aws_tags *out)
{
    const char *topo = INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(call) : "";
    const char *env =
        INFRA_HAS_SLOT(pu_host, call_environment) ? pu_host->call_environment(call) : "";
    const char *token = pu_host->call_token(call);
    int error = 0;

    memset(out, 0, sizeof(*out));
    aws_tags_set(out, "infra:topology", topo ? topo : "");
    aws_tags_set(out, "infra:environment", env ? env : "");
    aws_tags_set(out, "infra:address", pu_host->call_address(call));
    if (token != NULL && *token)
        aws_tags_set(out, "infra:token", token);

    char *derived = aws_call_name(call, TAG_VALUE_MAX);
    const char *user_name = pu_json_str(user_tags, "Name");
    aws_tags_set(out, "Name", name && *name ? name : user_name ? user_name : derived);
    free(derived);

    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (user_tags != NULL && AJ->type(user_tags) == INFRA_JSON_OBJECT &&
           AJ->next(user_tags, &iter, &key, &value)) {
        if (strcmp(key, "Name") == 0)
            continue;
        char *text = aws_json_to_text(value);
        if (text == NULL && AJ->type(value) == INFRA_JSON_BOOL)
            text = pu_strdup(AJ->boolean(value) ? "true" : "false");
        if (!user_key_ok(call, key)) {
            error = INFRA_EINVALID;
        } else if (text == NULL || strlen(text) > TAG_VALUE_MAX) {
            pu_diagf(call, "tags", "tag \"%s\" needs a text value of at most %d characters", key,
                     TAG_VALUE_MAX);
            error = INFRA_EINVALID;
        } else {
            aws_tags_set(out, key, text);
        }
        free(text);
    }
    if (error < 0)
        aws_tags_free(out);
    return error;
}

void aws_tags_spec(aws_params *p, size_t index, const char *resource_type, const aws_tags *t)
{
    aws_params_addk(p, resource_type, "TagSpecification.%zu.ResourceType", index);
    for (size_t i = 0; i < t->n; i++) {
        aws_params_addk(p, t->v[i].key, "TagSpecification.%zu.Tag.%zu.Key", index, i + 1);
        aws_params_addk(p, t->v[i].value, "TagSpecification.%zu.Tag.%zu.Value", index, i + 1);
    }
}

void aws_tags_ec2(aws_params *p, const aws_tags *t)
{
    for (size_t i = 0; i < t->n; i++) {
        aws_params_addk(p, t->v[i].key, "Tag.%zu.Key", i + 1);
        aws_params_addk(p, t->v[i].value, "Tag.%zu.Value", i + 1);
    }
}

void aws_tags_member(aws_params *p, const aws_tags *t)
{
    for (size_t i = 0; i < t->n; i++) {
        aws_params_addk(p, t->v[i].key, "Tags.member.%zu.Key", i + 1);
        aws_params_addk(p, t->v[i].value, "Tags.member.%zu.Value", i + 1);
    }
}

void aws_tags_parse_members(const xmlNode *tags, aws_tags *out)
{
    for (xmlNode *m = aws_xml_child(tags, "member"); m != NULL; m = aws_xml_next(m)) {
        char *k = aws_xml_get(m, "Key"), *v = aws_xml_get(m, "Value");
        if (k != NULL && *k)
            aws_tags_set(out, k, v);
        free(k);
        free(v);
    }
}

void aws_tags_parse(const xmlNode *tag_set, aws_tags *out)
{
    memset(out, 0, sizeof(*out));
    for (xmlNode *it = aws_xml_child(tag_set, "item"); it != NULL; it = aws_xml_next(it)) {
        char *k = aws_xml_get(it, "key");
        char *v = aws_xml_get(it, "value");
        if (k != NULL && *k)
            aws_tags_set(out, k, v ? v : "");
        free(k);
        free(v);
    }
}

static int managed_key(const char *key, const infra_json *prior_tags, const char *const *managed)
{
    if (strncmp(key, "infra:", 6) == 0 || strncmp(key, "aws:", 4) == 0)
        return 1;
    if (prior_tags != NULL && AJ->get(prior_tags, key) != NULL)
        return 0;
    if (strcmp(key, "Name") == 0)
        return 1;
    for (size_t i = 0; managed != NULL && managed[i] != NULL; i++)
        if (strcmp(key, managed[i]) == 0)
            return 1;
    return 0;
}

int aws_tags_user_json(const aws_tags *actual, const infra_json *prior_tags,
                       const char *const *managed, infra_json **out)
{
    infra_json *obj = AJ->new_object();
    if (obj == NULL)
        return INFRA_EINTERNAL;
    if (AJ->type(prior_tags) != INFRA_JSON_OBJECT)
        prior_tags = NULL;
    for (size_t i = 0; i < actual->n; i++) {
        const char *key = actual->v[i].key;
        if (managed_key(key, prior_tags, managed))
            continue;
        const infra_json *old = prior_tags ? AJ->get(prior_tags, key) : NULL;
        char *old_text = old ? aws_json_to_text(old) : NULL;
        if (old_text == NULL && old != NULL && AJ->type(old) == INFRA_JSON_BOOL)
            old_text = pu_strdup(AJ->boolean(old) ? "true" : "false");
        int same = old_text != NULL && strcmp(old_text, actual->v[i].value) == 0;
        free(old_text);
        infra_json *v = same ? AJ->copy(old) : AJ->new_string(actual->v[i].value);
        if (v == NULL || AJ->set(obj, key, v) < 0) {
            AJ->release(obj);
            return INFRA_EINTERNAL;
        }
    }
    *out = obj;
    return 0;
}

int aws_tags_sync(infra_provider *p, infra_call *call, const char *id, const infra_json *prior,
                  const infra_json *planned, const char *const *extra_keys)
{
    const infra_json *old_tags = AJ->get(prior, "tags");
    const infra_json *new_tags = AJ->get(planned, "tags");
    const char *new_name = pu_json_str(planned, "name");
    aws_params del = {0}, add = {0};
    aws_tags want = {0};
    aws_resp *r = NULL;
    int error = 0;

    if ((error = aws_tags_build(call, new_name, new_tags, &want)) < 0)
        goto done;
    for (size_t i = 0; extra_keys != NULL && extra_keys[i] != NULL; i++) {
        const char *v = pu_json_str(planned, extra_keys[i]);
        if (v != NULL && pu_json_str(new_tags, extra_keys[i]) == NULL)
            aws_tags_set(&want, extra_keys[i], v);
    }
    /* Keys the last apply set that are no longer wanted. */
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    size_t ndel = 0;
    while (old_tags != NULL && AJ->type(old_tags) == INFRA_JSON_OBJECT &&
           AJ->next(old_tags, &iter, &key, &value)) {
        if (aws_tags_get(&want, key) == NULL) {
            aws_params_addk(&del, key, "Tag.%zu.Key", ++ndel);
        }
    }
    for (size_t i = 0; extra_keys != NULL && extra_keys[i] != NULL; i++)
        if (pu_json_str(prior, extra_keys[i]) != NULL && aws_tags_get(&want, extra_keys[i]) == NULL)
            aws_params_addk(&del, extra_keys[i], "Tag.%zu.Key", ++ndel);
    if (ndel > 0) {
        aws_params_add(&del, "ResourceId.1", id);
        if ((error = aws_query(p, call, AWS_EC2, "DeleteTags", &del, "tags", AWS_SAFE, NULL, &r)) <
            0)
            goto done;
        aws_resp_free(r);
        r = NULL;
    }
    aws_tags user = {0};
    aws_tags_without_infra(&want, &user);
    aws_params_add(&add, "ResourceId.1", id);
    aws_tags_ec2(&add, &user);
    aws_tags_free(&user);
    error = aws_query(p, call, AWS_EC2, "CreateTags", &add, "tags", AWS_SAFE | AWS_FRESH, NULL, &r);
done:
    aws_resp_free(r);
    aws_params_free(&del);
    aws_params_free(&add);
    aws_tags_free(&want);
    return error;
}

int aws_tags_read(infra_json *st, const aws_tags *actual, const char *const *managed)
{
    infra_json *user = NULL;
    int error = 0;
    const infra_json *prior_tags = AJ->get(st, "tags");
    if (AJ->get(st, "name") != NULL &&
        (error = pu_json_set_str(st, "name", aws_tags_get(actual, "Name"))) < 0)
        return error;
    if ((error = aws_tags_user_json(actual, prior_tags, managed, &user)) < 0)
        return error;
    if (prior_tags == NULL && AJ->length(user) == 0) {
        AJ->release(user);
        return 0;
    }
    return AJ->set(st, "tags", user) < 0 ? INFRA_EINTERNAL : 0;
}
