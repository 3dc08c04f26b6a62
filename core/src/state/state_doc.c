/* The state document as exchanged (state pull/push, the S3 object, the
 * JSON file of earlier versions): what makes a document a state of one
 * topology and environment. */
#include "state/state_backend.h"

#include <stdlib.h>
#include <string.h>

#include "infra/plugin.h"
#include "base/util.h"

static int member_is_object(const json_t *doc, const char *key, int required)
{
    const json_t *v = json_object_get(doc, key);
    return v ? json_is_object(v) : !required;
}

int state_document_check(const json_t *doc, const char *where, const char *name, const char *env,
                         char **err)
{
    const json_t *version = json_object_get(doc, "version");
    const json_t *serial = json_object_get(doc, "serial");
    const char *lineage = json_string_value(json_object_get(doc, "lineage"));
    const char *topology = json_string_value(json_object_get(doc, "topology"));
    const char *environment = json_string_value(json_object_get(doc, "environment"));

    if (!env)
        env = "default";
    if (!json_is_object(doc) || !json_is_integer(version)) {
        *err = util_printf("%s is not a state (no integer \"version\")", where);
        return INFRA_EINVALID;
    }
    if (json_integer_value(version) != STATE_FORMAT_VERSION) {
        *err = util_printf("%s has state format version %lld; this infra reads version %d", where,
                           (long long)json_integer_value(version), STATE_FORMAT_VERSION);
        return json_integer_value(version) > STATE_FORMAT_VERSION ? INFRA_ENOTSUP : INFRA_EINVALID;
    }
    if (!topology || !environment || strcmp(topology, name) != 0 || strcmp(environment, env) != 0) {
        *err = util_printf("%s holds the state of topology \"%s\" environment \"%s\", not of "
                           "topology \"%s\" environment \"%s\"; it was copied or renamed: put "
                           "it back under its own name",
                           where, topology ? topology : "(none)",
                           environment ? environment : "(none)", name, env);
        return INFRA_ECONFLICT;
    }
    if (!lineage || !*lineage) {
        *err = util_printf("%s is not a valid state: no \"lineage\"", where);
        return INFRA_EINVALID;
    }
    if (!json_is_integer(serial) || json_integer_value(serial) < 0) {
        *err =
            util_printf("%s is not a valid state: \"serial\" is not a non-negative integer", where);
        return INFRA_EINVALID;
    }
    static const char *const members[] = {"resources", "intents", "outputs"};
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        if (!member_is_object(doc, members[i], 0)) {
            *err =
                util_printf("%s is not a valid state: \"%s\" is not an object", where, members[i]);
            return INFRA_EINVALID;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Rows                                                               */

static void rows_put(state_rows *r, const char *s, size_t len)
{
    if (r->len + len + 2 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 65536;
        while (cap < r->len + len + 2)
            cap *= 2;
        r->text = util_realloc(r->text, cap);
        r->cap = cap;
    }
    memcpy(r->text + r->len, s, len);
    r->len += len;
    r->text[r->len] = '\0';
}

void state_rows_add(state_rows *r, const char *key, const char *value, size_t len)
{
    json_t *k = json_string(key);
    char *k_text = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
    json_decref(k);
    if (!k_text)
        return; /* not UTF-8: cannot be a key of the document either */
    if ((r->n & (r->n - 1)) == 0) {
        size_t cap = r->n ? 2 * r->n : 1;
        r->starts = util_realloc(r->starts, cap * sizeof(*r->starts));
        r->keys = util_realloc(r->keys, cap * sizeof(*r->keys));
    }
    rows_put(r, r->n ? "," : "{", 1);
    r->starts[r->n] = r->len;
    r->keys[r->n++] = util_strdup(key);
    rows_put(r, k_text, strlen(k_text));
    rows_put(r, ":", 1);
    rows_put(r, value, len);
    free(k_text);
}

int state_rows_finish(state_rows *r, const char *where, json_t **out, char **err)
{
    int error = 0;
    json_error_t jerr;
    rows_put(r, r->n ? "}" : "{}", r->n ? 1 : 2);
    *out = json_loadb(r->text, r->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*out) {
        size_t at = 0;
        while (at + 1 < r->n && r->starts[at + 1] <= (size_t)jerr.position)
            at++;
        *err = util_printf("state %s: the row of %s does not parse: %s", where,
                           r->n ? r->keys[at] : "(none)", jerr.text);
        error = INFRA_EINVALID;
    }
    for (size_t i = 0; i < r->n; i++)
        free(r->keys[i]);
    free(r->keys);
    free(r->starts);
    free(r->text);
    memset(r, 0, sizeof(*r));
    return error;
}
