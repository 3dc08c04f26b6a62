/* Tags and markers. Every Neutron object and Nova server the provider
 * creates carries infra:topology, infra:environment, infra:address and
 * infra:token tags, plus the user's; Nova sets them with the create,
 * Neutron right after it, which is why Neutron objects are also created
 * with a description naming the token (os_marker): an object whose tags
 * were never set is still found by it. */
#include "os_res.h"

#include <stdlib.h>
#include <string.h>

#define TAG_MAX 60

static int tag_char_ok(unsigned char c)
{
    return c > 32 && c < 127 && c != ',' && c != '/' && c != '%';
}

char *os_tag(const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    pu_buf b = {0};
    pu_buf_printf(&b, "infra:%s=", key);
    size_t head = b.len;
    for (const unsigned char *c = (const unsigned char *)(value ? value : ""); *c; c++) {
        if (tag_char_ok(*c)) {
            pu_buf_put(&b, (const char *)c, 1);
        } else {
            char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
            pu_buf_put(&b, e, 3);
        }
    }
    if (b.len > TAG_MAX) {
        char digest[65];
        os_sha256_hex(value, strlen(value), digest);
        b.len = head;
        pu_buf_printf(&b, "~%.20s", digest);
    }
    return pu_buf_take(&b);
}

char *os_tag_token(const char *token)
{
    return token != NULL && *token ? os_tag("token", token) : NULL;
}

char **os_tags_infra(infra_call *call)
{
    char **v = os_strv_new();
    char *t;
    t = os_tag("topology", os_call_topology(call));
    os_strv_push(&v, t);
    free(t);
    t = os_tag("environment", os_call_environment(call));
    os_strv_push(&v, t);
    free(t);
    t = os_tag("address", pu_host->call_address(call));
    os_strv_push(&v, t);
    free(t);
    if ((t = os_tag_token(pu_host->call_token(call))) != NULL) {
        os_strv_push(&v, t);
        free(t);
    }
    return v;
}

static int user_tag_ok(infra_call *call, const char *tag)
{
    size_t n = strlen(tag);
    if (n == 0 || n > TAG_MAX) {
        pu_diagf(call, "tags", "tag \"%s\" must have 1 to %d characters", tag, TAG_MAX);
        return 0;
    }
    if (strchr(tag, ',') != NULL || strchr(tag, '/') != NULL) {
        pu_diagf(call, "tags", "tag \"%s\" may not hold ',' or '/' (Nova refuses them)", tag);
        return 0;
    }
    if (strncmp(tag, "infra:", 6) == 0) {
        pu_diagf(call, "tags", "tags starting with \"infra:\" are infra's own");
        return 0;
    }
    return 1;
}

int os_tags_user(infra_call *call, const infra_json *tags, char ***out)
{
    int error = 0;
    if (tags == NULL || OJ->type(tags) == INFRA_JSON_NULL || os_json_unknown(tags))
        return 0;
    if (OJ->type(tags) == INFRA_JSON_ARRAY) {
        for (size_t i = 0; i < OJ->length(tags); i++) {
            char *t = os_json_text(OJ->at(tags, i));
            if (t == NULL) {
                pu_diagf(call, "tags", "tags must be strings");
                error = INFRA_EINVALID;
            } else if (!user_tag_ok(call, t)) {
                error = INFRA_EINVALID;
            } else if (!os_strv_has(*out, t)) {
                os_strv_push(out, t);
            }
            free(t);
        }
        return error;
    }
    if (OJ->type(tags) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "tags", "tags must be a list of strings or a map");
        return INFRA_EINVALID;
    }
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (OJ->next(tags, &iter, &key, &value)) {
        char *v = os_json_text(value);
        if (v == NULL && OJ->type(value) == INFRA_JSON_BOOL)
            v = pu_strdup(OJ->boolean(value) ? "true" : "false");
        char *t = pu_printf("%s=%s", key, v ? v : "");
        if (v == NULL) {
            pu_diagf(call, "tags", "tag \"%s\" needs a text value", key);
            error = INFRA_EINVALID;
        } else if (!user_tag_ok(call, t)) {
            error = INFRA_EINVALID;
        } else if (!os_strv_has(*out, t)) {
            os_strv_push(out, t);
        }
        free(t);
        free(v);
    }
    return error;
}

int os_tags_for(infra_call *call, const infra_json *user_tags, char ***out)
{
    char **v = os_tags_infra(call);
    int error = os_tags_user(call, user_tags, &v);
    if (error < 0) {
        os_strv_free(v);
        *out = NULL;
        return error;
    }
    *out = v;
    return 0;
}

int os_tags_has(const infra_json *tags, const char *tag)
{
    for (size_t i = 0; tag != NULL && i < OJ->length(tags); i++) {
        const char *t = OJ->string(OJ->at(tags, i));
        if (t != NULL && strcmp(t, tag) == 0)
            return 1;
    }
    return 0;
}

int os_tags_user_json(const infra_json *actual, const infra_json *prior_tags, infra_json **out)
{
    char **have = os_strv_new(), **wanted = os_strv_new();
    *out = NULL;
    for (size_t i = 0; i < OJ->length(actual); i++) {
        const char *t = OJ->string(OJ->at(actual, i));
        if (t != NULL && strncmp(t, "infra:", 6) != 0)
            os_strv_push(&have, t);
    }
    int is_map = prior_tags != NULL && OJ->type(prior_tags) == INFRA_JSON_OBJECT;
    /* What the prior configuration asked for, in tag form. */
    if (is_map) {
        void *iter = NULL;
        const char *key;
        const infra_json *value;
        while (OJ->next(prior_tags, &iter, &key, &value)) {
            char *v = os_json_text(value);
            if (v == NULL && OJ->type(value) == INFRA_JSON_BOOL)
                v = pu_strdup(OJ->boolean(value) ? "true" : "false");
            char *t = pu_printf("%s=%s", key, v ? v : "");
            os_strv_push(&wanted, t);
            free(t);
            free(v);
        }
    } else {
        for (size_t i = 0; i < OJ->length(prior_tags); i++) {
            char *t = os_json_text(OJ->at(prior_tags, i));
            if (t != NULL)
                os_strv_push(&wanted, t);
            free(t);
        }
    }
    int error = 0;
    if (prior_tags != NULL && os_strv_same_set(have, wanted)) {
        *out = OJ->copy(prior_tags);
    } else if (prior_tags == NULL && os_strv_len(have) == 0) {
        *out = NULL;
    } else if (is_map) {
        infra_json *m = OJ->new_object();
        for (size_t i = 0; have[i] != NULL; i++) {
            char *eq = strchr(have[i], '=');
            char *k = eq ? pu_strndup(have[i], (size_t)(eq - have[i])) : pu_strdup(have[i]);
            pu_json_set_str(m, k, eq ? eq + 1 : "");
            free(k);
        }
        *out = m;
    } else {
        *out = os_json_from_strv(have);
        if (*out == NULL)
            error = INFRA_EINTERNAL;
    }
    os_strv_free(have);
    os_strv_free(wanted);
    return error;
}

char *os_tags_filter(const char *param, char *const *tags)
{
    pu_buf b = {0};
    pu_buf_printf(&b, "%s=", param);
    for (size_t i = 0; tags != NULL && tags[i] != NULL; i++) {
        char *e = os_url_encode(tags[i]);
        pu_buf_printf(&b, "%s%s", i ? "," : "", e);
        free(e);
    }
    return pu_buf_take(&b);
}

char *os_marker(infra_call *call)
{
    const char *token = pu_host->call_token(call);
    const char *addr = pu_host->call_address(call);
    return pu_printf("infra %.200s %s", addr && *addr ? addr : "-", token ? token : "-");
}
