/* Built images: what a `build:` block says (validate), the build hash
 * that names a generation, and what plan() makes of it. The build itself
 * is aws_bake_run.c; what every provider shares of it, plugin_bake.c.
 *
 * The hash covers what makes the image what it is: the base image's id
 * (a name pattern is resolved first, so a newer base is a new image) and
 * the steps, an upload by the digest of its bytes (the core reads the
 * file when the topology is loaded). The machine size, the network
 * placement and the login are how it is built, not what: changing them
 * builds nothing. */
#include "aws_bake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const build_keys[] = {"base",     "size",        "machine",   "instance_type",
                                         "subnet",   "firewalls",   "public_ip", "user",
                                         "key_pair", "private_key", "steps",     NULL};
static const char *const base_keys[] = {"name", "owners", "architecture", NULL};

static int in_list(const char *const *list, const char *key)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], key) == 0)
            return 1;
    return 0;
}

int aws_bake_is_build(const infra_json *config)
{
    return config != NULL && AJ->get(config, "build") != NULL;
}

static int check_base(infra_call *call, const infra_json *base)
{
    if (base == NULL) {
        pu_diagf(call, "build.base",
                 "a build needs base: an AMI id, a name pattern, or "
                 "{name, owners, architecture}");
        return INFRA_EINVALID;
    }
    if (pu_is_unknown(base) || (AJ->string(base) != NULL && *AJ->string(base)))
        return 0;
    if (AJ->type(base) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "build.base",
                 "base must be an AMI id, a name pattern, or "
                 "{name, owners, architecture}");
        return INFRA_EINVALID;
    }
    int error = 0;
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (AJ->next(base, &iter, &key, &value)) {
        if (!in_list(base_keys, key)) {
            pu_diagf(call, "build.base",
                     "build.base.%s: unknown key (base takes name, owners, "
                     "architecture)",
                     key);
            error = INFRA_EINVALID;
        }
    }
    if (!pu_bake_has_text(base, "name")) {
        pu_diagf(call, "build.base.name",
                 "base needs name: an AMI name pattern such as "
                 "\"debian-12-amd64-*\"");
        error = INFRA_EINVALID;
    }
    const infra_json *owners = AJ->get(base, "owners");
    char **v = NULL;
    if (owners != NULL && !pu_json_has_unknown(owners) && aws_json_strv(owners, &v) < 0) {
        pu_diagf(call, "build.base.owners",
                 "owners must be a list of account ids, \"self\" or "
                 "\"amazon\"");
        error = INFRA_EINVALID;
    }
    aws_strv_free(v);
    return error;
}

int aws_bake_validate(infra_call *call, const infra_json *config)
{
    const infra_json *build = AJ->get(config, "build");
    int error = 0;

    if (build == NULL) {
        if (!pu_bake_has_text(config, "name")) {
            pu_diagf(call, "name",
                     "an image is looked up by name: a pattern such as "
                     "\"base-*\" (or give build: to make it)");
            return INFRA_EINVALID;
        }
        if (AJ->get(config, "keep") != NULL) {
            pu_diagf(call, "keep",
                     "keep counts the generations of a built image: it needs "
                     "build:");
            return INFRA_EINVALID;
        }
        return 0;
    }
    if (pu_is_unknown(build))
        return 0;
    if (AJ->type(build) != INFRA_JSON_OBJECT) {
        pu_diagf(call, "build",
                 "build must be a map: base, size, subnet, firewalls, user, "
                 "key_pair, private_key, steps");
        return INFRA_EINVALID;
    }
    for (const char *const *k = (const char *const[]){"owners", "architecture", NULL}; *k; k++) {
        if (AJ->get(config, *k) != NULL) {
            pu_diagf(call, *k, "%s applies to a lookup; a build gives it in build.base", *k);
            error = INFRA_EINVALID;
        }
    }
    void *iter = NULL;
    const char *key;
    const infra_json *value;
    while (AJ->next(build, &iter, &key, &value)) {
        if (!in_list(build_keys, key)) {
            char at[96];
            snprintf(at, sizeof(at), "build.%s", key);
            pu_diagf(call, at,
                     "unknown key \"%s\" in build (base, size, subnet, firewalls, "
                     "public_ip, user, key_pair, private_key, steps)",
                     key);
            error = INFRA_EINVALID;
        }
    }
    if (check_base(call, AJ->get(build, "base")) < 0)
        error = INFRA_EINVALID;
    if (!pu_bake_has_text(build, "size") && !pu_bake_has_text(build, "machine") &&
        !pu_bake_has_text(build, "instance_type")) {
        pu_diagf(call, "build.size", "a build needs size: the instance type it runs on");
        error = INFRA_EINVALID;
    }
    if (!pu_bake_has_text(build, "subnet")) {
        pu_diagf(call, "build.subnet",
                 "a build needs subnet: where its instance runs "
                 "(\"${subnet.NAME.id}\")");
        error = INFRA_EINVALID;
    }
    if (!pu_bake_has_text(build, "private_key")) {
        pu_diagf(call, "build.private_key",
                 "a build needs private_key: the SSH key file it "
                 "logs in with");
        error = INFRA_EINVALID;
    }
    const infra_json *fw = AJ->get(build, "firewalls");
    char **v = NULL;
    if (fw != NULL && !pu_json_has_unknown(fw) && aws_json_strv(fw, &v) < 0) {
        pu_diagf(call, "build.firewalls", "firewalls must be a list of security group ids");
        error = INFRA_EINVALID;
    }
    aws_strv_free(v);
    const infra_json *pub = AJ->get(build, "public_ip");
    int b;
    if (pub != NULL && !pu_is_unknown(pub) && pu_json_to_bool(pub, &b) < 0) {
        pu_diagf(call, "build.public_ip", "public_ip must be true or false");
        error = INFRA_EINVALID;
    }
    if (pu_bake_check_steps(call, AJ->get(build, "steps")) < 0 ||
        pu_bake_check_keep(call, config) < 0)
        error = INFRA_EINVALID;
    return error;
}

char *aws_bake_prefix(infra_call *call, const infra_json *config)
{
    const char *name = pu_json_str(config, "name");
    return name != NULL && *name ? pu_strdup(name) : aws_call_name(call, 100);
}

int aws_bake_base(infra_provider *p, infra_call *call, const infra_json *config, char **ami)
{
    const infra_json *base = AJ->get(AJ->get(config, "build"), "base");
    const char *text = AJ->string(base);
    char **owners = NULL;
    aws_image im;
    *ami = NULL;
    if (text != NULL && aws_is_ami_id(text)) {
        *ami = pu_strdup(text);
        return 0;
    }
    if (text == NULL && aws_json_strv(AJ->get(base, "owners"), &owners) < 0) {
        pu_diagf(call, "build.base.owners", "owners must be a list of account ids");
        return INFRA_EINVALID;
    }
    char *prefix = aws_bake_prefix(call, config);
    int error = aws_image_lookup_except(
        p, call, "build.base", owners, text ? text : pu_json_str(base, "name"),
        text ? NULL : pu_json_str(base, "architecture"), prefix, &im);
    free(prefix);
    aws_strv_free(owners);
    if (error == 0) {
        *ami = im.id;
        im.id = NULL;
        aws_image_clear(&im);
    }
    return error;
}

int aws_bake_plan(infra_provider *p, infra_call *call, const infra_json *prior, infra_json *plan)
{
    const infra_json *build = AJ->get(plan, "build");
    const infra_json *steps = AJ->get(build, "steps");
    const infra_json *base = AJ->get(build, "base");
    char *ami = NULL;
    char hash[65];
    int error = 0;

    if (build == NULL || pu_json_has_unknown(base) || pu_json_has_unknown(steps) ||
        pu_json_has_unknown(AJ->get(plan, "name")))
        return pu_bake_set_unknown(plan,
                                   "build_hash base_id id image_name creation_date generations");
    if ((error = aws_bake_base(p, call, plan, &ami)) < 0)
        return error;
    if (pu_bake_hash(ami, steps, hash) < 0) {
        pu_diagf(call, "build.steps", "a step's upload was not read: validate the topology");
        free(ami);
        return INFRA_EINVALID;
    }
    error = pu_bake_plan_hash(plan, prior, aws_state_id(prior), hash, ami,
                              "id image_name creation_date generations");
    free(ami);
    return error;
}
