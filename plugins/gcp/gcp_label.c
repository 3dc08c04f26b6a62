/* Labels, descriptions and names as Compute Engine takes them.
 *
 * Labels: keys start with a lowercase letter; keys and values hold at
 * most 63 lowercase letters, digits, '_' and '-'. infra's own marks
 * (topology, environment, address, token) and the user's labels are
 * encoded to fit: [a-z0-9-] stay, '_' becomes "__", any other byte
 * "_xx" in hex (so "instance.node[0]" is "instance_2enode_5b0_5d"); a
 * value still longer than 63 keeps its first 54 characters and ends with
 * "-" and 8 hex digits of the whole value's SHA-256. Encoding the
 * configured value and comparing is how a read tells a changed label.
 *
 * Objects that take no labels in the Compute v1 API (networks,
 * subnetworks, firewalls, routers, addresses, health checks, target
 * pools, forwarding rules, templates, groups) carry the same marks in
 * their description: "infra: topology=T environment=E address=A token=X". */
#include "gcp_res.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_MAX 63

static char *shorten(char *s, const char *whole)
{
    size_t n = strlen(s);
    if (n <= LABEL_MAX)
        return s;
    char hex[9];
    gcp_short_hash(whole, 8, hex);
    size_t keep = LABEL_MAX - 9;
    while (keep > 0 && s[keep - 1] == '_')
        keep--; /* never cut an escape in two */
    s[keep] = '\0';
    char *out = pu_printf("%s-%s", s, hex);
    free(s);
    return out;
}

char *gcp_label_value(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    pu_buf b = {0};
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-') {
            pu_buf_put(&b, (const char *)c, 1);
        } else if (*c == '_') {
            pu_buf_puts(&b, "__");
        } else {
            char esc[3] = {'_', hex[*c >> 4], hex[*c & 15]};
            pu_buf_put(&b, esc, 3);
        }
    }
    return shorten(pu_buf_take(&b), s ? s : "");
}

char *gcp_label_key(const char *s)
{
    char *v = gcp_label_value(s);
    if (v[0] >= 'a' && v[0] <= 'z')
        return v;
    char *out = pu_printf("x%s", v);
    free(v);
    return shorten(out, s ? s : "");
}

int gcp_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 63 || !(s[0] >= 'a' && s[0] <= 'z') || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

char *gcp_name_from(const char *text)
{
    pu_buf b = {0};
    const char *s = text ? text : "";
    if (!(tolower((unsigned char)s[0]) >= 'a' && tolower((unsigned char)s[0]) <= 'z'))
        pu_buf_puts(&b, "r-");
    for (; *s; s++) {
        char c = (char)tolower((unsigned char)*s);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            pu_buf_put(&b, &c, 1);
        else if (*s != ']' && b.len > 0 && b.data[b.len - 1] != '-')
            pu_buf_put(&b, "-", 1);
    }
    char *out = pu_buf_take(&b);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '-')
        out[--n] = '\0';
    if (n > 63) {
        char hex[9];
        gcp_short_hash(text, 8, hex);
        size_t keep = 54;
        while (keep > 0 && out[keep - 1] == '-')
            keep--;
        out[keep] = '\0';
        char *cut = pu_printf("%s-%s", out, hex);
        free(out);
        out = cut;
    }
    return out;
}

char *gcp_call_name(infra_call *call)
{
    const char *topo = INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(call) : "";
    const char *env =
        INFRA_HAS_SLOT(pu_host, call_environment) ? pu_host->call_environment(call) : "";
    const char *addr = pu_host->call_address(call);
    pu_buf b = {0};
    if (topo && *topo)
        pu_buf_printf(&b, "%s-", topo);
    if (env && *env && strcmp(env, "default") != 0)
        pu_buf_printf(&b, "%s-", env);
    pu_buf_puts(&b, addr && *addr ? addr : "infra");
    char *whole = pu_buf_take(&b);
    char *out = gcp_name_from(whole);
    free(whole);
    return out;
}

static const char *call_topology(infra_call *call)
{
    const char *t = INFRA_HAS_SLOT(pu_host, call_topology) ? pu_host->call_topology(call) : NULL;
    return t ? t : "";
}

static const char *call_environment(infra_call *call)
{
    const char *e =
        INFRA_HAS_SLOT(pu_host, call_environment) ? pu_host->call_environment(call) : NULL;
    return e ? e : "";
}

static int set_label(infra_json *labels, const char *key, const char *value)
{
    char *k = gcp_label_key(key), *v = gcp_label_value(value);
    int error = pu_json_set_str(labels, k, v);
    free(k);
    free(v);
    return error;
}

infra_json *gcp_labels_build(infra_call *call, const infra_json *user, const char *token,
                             const char *attr)
{
    infra_json *labels = GJ->new_object();
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    int error = 0;

    if (labels == NULL)
        return NULL;
    while (user != NULL && GJ->type(user) == INFRA_JSON_OBJECT &&
           GJ->next(user, &iter, &key, &value)) {
        char *text = gcp_json_text(value);
        if (strncmp(key, "infra-", 6) == 0 || strncmp(key, "infra:", 6) == 0) {
            pu_diagf(call, attr, "label %s: keys starting with infra- belong to infra", key);
            error = INFRA_EINVALID;
        } else if (text == NULL) {
            pu_diagf(call, attr, "label %s: a value must be a string or a number", key);
            error = INFRA_EINVALID;
        } else if (error == 0) {
            error = set_label(labels, key, text);
        }
        free(text);
    }
    if (error == 0 && (error = set_label(labels, GCP_LABEL_TOPOLOGY, call_topology(call))) == 0 &&
        (error = set_label(labels, GCP_LABEL_ENVIRONMENT, call_environment(call))) == 0 &&
        (error = set_label(labels, GCP_LABEL_ADDRESS, pu_host->call_address(call))) == 0 &&
        token != NULL)
        error = set_label(labels, GCP_LABEL_TOKEN, token);
    if (error == 0 && GJ->length(labels) > 64) {
        pu_diagf(call, attr, "an object takes at most 64 labels (60 besides infra's)");
        error = INFRA_EINVALID;
    }
    if (error < 0) {
        GJ->release(labels);
        return NULL;
    }
    return labels;
}

char *gcp_description(infra_call *call, const char *token)
{
    return pu_printf("infra: topology=%s environment=%s address=%s token=%s", call_topology(call),
                     call_environment(call), pu_host->call_address(call), token ? token : "-");
}

int gcp_object_token(const infra_json *obj, const char **out, size_t *n)
{
    const char *label = gcp_json_path_str(obj, "labels." GCP_LABEL_TOKEN);
    if (label == NULL)
        label = gcp_json_path_str(obj, "properties.labels." GCP_LABEL_TOKEN);
    if (label != NULL && *label) {
        *out = label;
        *n = strlen(label);
        return 1;
    }
    const char *d = pu_json_str(obj, "description");
    const char *t = d && strncmp(d, "infra: ", 7) == 0 ? strstr(d, " token=") : NULL;
    if (t == NULL)
        return 0;
    t += 7;
    *out = t;
    *n = strcspn(t, " ");
    return *n > 0 && !(*n == 1 && *t == '-');
}

int gcp_object_is_mine(const infra_json *obj, const char *token)
{
    const char *t;
    size_t n;
    if (token == NULL || !gcp_object_token(obj, &t, &n))
        return 0;
    /* A label holds the token encoded; its hex text encodes to itself. */
    char *want = gcp_label_value(token);
    int same = (strlen(token) == n && strncmp(t, token, n) == 0) ||
               (strlen(want) == n && strncmp(t, want, n) == 0);
    free(want);
    return same;
}

infra_json *gcp_labels_user(const infra_json *actual, const infra_json *prior)
{
    infra_json *out = GJ->new_object();
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    /* Configured keys first, in their own words while the value is the same. */
    while (out != NULL && prior != NULL && GJ->type(prior) == INFRA_JSON_OBJECT &&
           GJ->next(prior, &iter, &key, &value)) {
        char *k = gcp_label_key(key);
        char *text = gcp_json_text(value);
        const char *now = pu_json_str(actual, k);
        if (now != NULL) {
            char *want = text ? gcp_label_value(text) : NULL;
            if (want != NULL && strcmp(want, now) == 0)
                pu_json_set_copy(out, key, value);
            else
                pu_json_set_str(out, key, now);
            free(want);
        }
        free(text);
        free(k);
    }
    iter = NULL;
    while (out != NULL && actual != NULL && GJ->type(actual) == INFRA_JSON_OBJECT &&
           GJ->next(actual, &iter, &key, &value)) {
        if (strncmp(key, "infra-", 6) == 0)
            continue;
        /* Already there under the configured spelling? */
        int known = 0;
        void *it2 = NULL;
        const char *pk;
        const infra_json *pv;
        while (!known && prior != NULL && GJ->type(prior) == INFRA_JSON_OBJECT &&
               GJ->next(prior, &it2, &pk, &pv)) {
            char *k = gcp_label_key(pk);
            known = strcmp(k, key) == 0;
            free(k);
        }
        if (!known)
            pu_json_set_copy(out, key, value);
    }
    return out;
}
