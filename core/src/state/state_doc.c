/* The state document as exchanged (state pull/push, the S3 object, the
 * JSON file of earlier versions): what makes a document a state of one
 * topology and environment. */
#include "state/state_backend.h"

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
