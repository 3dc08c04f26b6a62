/* Launch templates. A change of what instances get (image, size, groups,
 * key, user data, tags) does not replace the template: it adds a version,
 * made the default, and latest_version says which, so that an Auto
 * Scaling group following it is replaced (aws_asg.c). Creates and new
 * versions carry client tokens derived from the create's token. */
#include "aws_res.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const size_keys[] = {"size", "machine", "instance_type", NULL};

static const aws_ec2_kind template_kind = {
    .describe = "DescribeLaunchTemplates", .set = "launchTemplates", .id_elem = "launchTemplateId"};

/* LaunchTemplateData.* of cfg; *ami is the image it resolved. */
static int template_data(aws_act *a, const infra_json *cfg, aws_params *q, char **ami)
{
    const infra_json *size_v = NULL;
    const char *key = pu_json_str(cfg, "key_pair");
    const char *user_data = pu_json_str(cfg, "user_data");
    char **groups = NULL;
    aws_tags tags = {0};
    int error;

    if ((error = aws_image_resolve(a->p, a->call, "image", pu_json_str(cfg, "image"), ami)) < 0)
        return error;
    aws_params_add(q, "LaunchTemplateData.ImageId", *ami);
    aws_json_alias_value(cfg, size_keys, &size_v, NULL);
    char *size = size_v ? aws_json_to_text(size_v) : NULL;
    if (size != NULL)
        aws_params_add(q, "LaunchTemplateData.InstanceType", size);
    free(size);
    if (key != NULL && *key)
        aws_params_add(q, "LaunchTemplateData.KeyName", key);
    /* The role instances act with, e.g. a scheduler pool's cloud auto-join
     * (ec2:DescribeInstances); an ARN or a name. */
    const char *profile = pu_json_str(cfg, "instance_profile");
    if (profile != NULL && *profile)
        aws_params_add(q,
                       strncmp(profile, "arn:", 4) == 0
                           ? "LaunchTemplateData.IamInstanceProfile.Arn"
                           : "LaunchTemplateData.IamInstanceProfile.Name",
                       profile);
    if (user_data != NULL && *user_data) {
        char *encoded = aws_base64_encode(user_data, strlen(user_data));
        aws_params_add(q, "LaunchTemplateData.UserData", encoded);
        free(encoded);
    }
    if (aws_json_strv(AJ->get(cfg, "firewalls"), &groups) < 0) {
        pu_diagf(a->call, "firewalls", "firewalls must be a list of security group ids");
        return INFRA_EINVALID;
    }
    aws_params_list(q, AWS_LIST_EC2, "LaunchTemplateData.SecurityGroupId", groups);
    aws_strv_free(groups);
    /* Instances it launches carry the user's tags and where they come from,
     * not the template's token: they are not the template. */
    if ((error = aws_tags_build(a->call, pu_json_str(cfg, "name"), AJ->get(cfg, "tags"), &tags)) ==
        0) {
        aws_tags inst = {0};
        for (size_t i = 0; i < tags.n; i++)
            if (strcmp(tags.v[i].key, "infra:token") != 0 && strcmp(tags.v[i].key, "Name") != 0)
                aws_tags_set(&inst, tags.v[i].key, tags.v[i].value);
        aws_params_add(q, "LaunchTemplateData.TagSpecification.1.ResourceType", "instance");
        for (size_t i = 0; i < inst.n; i++) {
            aws_params_addk(q, inst.v[i].key, "LaunchTemplateData.TagSpecification.1.Tag.%zu.Key",
                            i + 1);
            aws_params_addk(q, inst.v[i].value,
                            "LaunchTemplateData.TagSpecification.1.Tag.%zu.Value", i + 1);
        }
        aws_tags_free(&inst);
    }
    aws_tags_free(&tags);
    return error;
}

typedef struct lt_info {
    char *id;
    char *name;
    long latest;
    char *image;
    char *type;
    char *key;
    char *profile;   /* the instance profile's ARN or name, as given */
    char *user_data; /* decoded */
    char **groups;
    aws_tags tags;
} lt_info;

static void lt_clear(lt_info *t)
{
    free(t->id);
    free(t->name);
    free(t->image);
    free(t->type);
    free(t->key);
    free(t->profile);
    free(t->user_data);
    aws_strv_free(t->groups);
    aws_tags_free(&t->tags);
    memset(t, 0, sizeof(*t));
}

/* What a DescribeLaunchTemplates item says of its template. */
static void lt_parse_template(const xmlNode *item, lt_info *t)
{
    memset(t, 0, sizeof(*t));
    t->groups = pu_calloc(1, sizeof(char *));
    t->id = aws_xml_get(item, "launchTemplateId");
    t->name = aws_xml_get(item, "launchTemplateName");
    t->latest = aws_xml_get_long(item, "latestVersionNumber", 1);
    aws_tags_parse(aws_xml_child(item, "tagSet"), &t->tags);
}

/* What a launchTemplateData element says instances get. */
static void lt_parse_data(const xmlNode *d, lt_info *t)
{
    t->image = aws_xml_get(d, "imageId");
    t->type = aws_xml_get(d, "instanceType");
    t->key = aws_xml_get(d, "keyName");
    xmlNode *prof = aws_xml_child(d, "iamInstanceProfile");
    if (prof != NULL) {
        t->profile = aws_xml_get(prof, "arn");
        if (t->profile == NULL || !*t->profile) {
            free(t->profile);
            t->profile = aws_xml_get(prof, "name");
        }
    }
    char *ud = aws_xml_get(d, "userData");
    if (ud != NULL && *ud && aws_base64_decode(ud, &t->user_data, NULL) < 0)
        t->user_data = NULL;
    free(ud);
    xmlNode *set = aws_xml_child(d, "securityGroupIdSet");
    for (xmlNode *g = aws_xml_child(set, "item"); g != NULL; g = aws_xml_next(g)) {
        char *s = aws_xml_text(g);
        if (s != NULL && *s)
            aws_strv_push(&t->groups, s);
        free(s);
    }
}

/* The template and the data of its latest version. */
static int lt_describe(aws_act *a, const char *id, unsigned flags, lt_info *t)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    memset(t, 0, sizeof(*t));
    t->groups = pu_calloc(1, sizeof(char *));
    aws_params_add(&q, "LaunchTemplateId.1", id);
    int error = aws_query(a->p, a->call, AWS_EC2, "DescribeLaunchTemplates", &q, "",
                          AWS_SAFE | flags, "*NotFound *NotFoundException *.Malformed", &r);
    aws_params_free(&q);
    if (error == INFRA_EINVALID && r != NULL && r->code != NULL && strstr(r->code, "Malformed"))
        error = INFRA_ENOTFOUND;
    if (error == 0) {
        xmlNode *item = aws_xml_path(r->result, "launchTemplates/item");
        if (item == NULL) {
            error = INFRA_ENOTFOUND;
        } else {
            lt_clear(t);
            lt_parse_template(item, t);
        }
    }
    aws_resp_free(r);
    r = NULL;
    if (error == 0) {
        char version[24];
        snprintf(version, sizeof(version), "%ld", t->latest);
        aws_params_add(&q, "LaunchTemplateId", id);
        aws_params_add(&q, "LaunchTemplateVersion.1", version);
        error = aws_query(a->p, a->call, AWS_EC2, "DescribeLaunchTemplateVersions", &q, "",
                          AWS_SAFE | AWS_FRESH, NULL, &r);
        aws_params_free(&q);
        xmlNode *d = error == 0 ? aws_xml_path(r->result, "launchTemplateVersionSet/item/"
                                                          "launchTemplateData")
                                : NULL;
        if (d != NULL)
            lt_parse_data(d, t);
    }
    aws_resp_free(r);
    return error;
}

static int lt_state(aws_act *a, const char *id, infra_json **out)
{
    lt_info t = {0};
    int error = lt_describe(a, id, AWS_FRESH, &t);
    infra_json *st = aws_state_new(a->planned);
    char version[24];
    snprintf(version, sizeof(version), "%ld", t.latest);
    if (error == 0 && (error = pu_json_set_str(st, "id", t.id)) == 0 &&
        (error = pu_json_set_str(st, "name", t.name)) == 0 &&
        (error = pu_json_set_str(st, "latest_version", version)) == 0)
        error = pu_json_set_str(st, "image_id", t.image);
    lt_clear(&t);
    if (error < 0) {
        AJ->release(st);
        return error;
    }
    *out = st;
    return 0;
}

static int lt_create(aws_act *a, char **id)
{
    const char *token = pu_host->call_token(a->call);
    const char *given = pu_json_str(a->planned, "name");
    char client_token[65], hex[9];
    char *ami = NULL, *name = NULL;
    aws_params q = {0};
    aws_tags tags = {0};
    aws_resp *r = NULL;
    int error;

    if (given != NULL) {
        name = pu_strdup(given);
    } else {
        char *base = aws_call_name(a->call, 110);
        aws_token_hex(token, 8, hex);
        name = pu_printf("%s-%s", base, hex);
        free(base);
    }
    aws_client_token(token, NULL, client_token);
    aws_params_add(&q, "ClientToken", client_token);
    aws_params_add(&q, "LaunchTemplateName", name);
    if ((error = template_data(a, a->planned, &q, &ami)) < 0 ||
        (error = aws_tags_build(a->call, name, AJ->get(a->planned, "tags"), &tags)) < 0)
        goto done;
    aws_tags_spec(&q, 1, "launch-template", &tags);
    error = aws_query(a->p, a->call, AWS_EC2, "CreateLaunchTemplate", &q, "name",
                      AWS_SAFE | AWS_FRESH, "*AlreadyExists*", &r);
    if (error == 0) {
        *id = aws_xml_get(r->result, "launchTemplate/launchTemplateId");
    } else if (error == INFRA_ECONFLICT) {
        pu_diagf(a->call, "name",
                 "aws: a launch template named \"%s\" already exists in %s and was not made by "
                 "this resource; choose another name",
                 name, a->p->region);
    }
done:
    aws_resp_free(r);
    aws_params_free(&q);
    aws_tags_free(&tags);
    free(ami);
    free(name);
    return error;
}

/* 1 when what instances get differs between prior and planned. */
static int data_changed(aws_act *a, const char *ami)
{
    static const char *const keys[] = {"size",     "machine",   "instance_type",    "firewalls",
                                       "key_pair", "user_data", "instance_profile", "tags",
                                       NULL};
    const char *old_ami = pu_json_str(a->prior, "image_id");
    if (old_ami == NULL || strcmp(old_ami, ami) != 0)
        return 1;
    for (size_t i = 0; keys[i] != NULL; i++) {
        const infra_json *x = AJ->get(a->prior, keys[i]), *y = AJ->get(a->planned, keys[i]);
        if ((x == NULL) != (y == NULL) || (x != NULL && !AJ->equal(x, y)))
            return 1;
    }
    return 0;
}

static int lt_new_version(aws_act *a, const char *id)
{
    char *ami = NULL;
    aws_params q = {0};
    aws_resp *r = NULL;
    int error = template_data(a, a->planned, &q, &ami);
    if (error < 0 || !data_changed(a, ami))
        goto done;
    /* One token per (template, version it follows, data): a retry makes no
     * second version, a later change back to old data still makes one. */
    char *body = aws_params_form("CreateLaunchTemplateVersion", "", &q);
    char *salt = pu_printf(
        "%s|%s|%s", id,
        pu_json_str(a->prior, "latest_version") ? pu_json_str(a->prior, "latest_version") : "",
        body);
    char client_token[65];
    aws_client_token(id, salt, client_token);
    free(body);
    free(salt);
    aws_params_add(&q, "LaunchTemplateId", id);
    aws_params_add(&q, "ClientToken", client_token);
    error = aws_query(a->p, a->call, AWS_EC2, "CreateLaunchTemplateVersion", &q, "image",
                      AWS_SAFE | AWS_FRESH, NULL, &r);
    long version =
        error == 0 ? aws_xml_get_long(r->result, "launchTemplateVersion/versionNumber", 0) : 0;
    aws_resp_free(r);
    r = NULL;
    if (error == 0 && version > 0) {
        aws_params m = {0};
        char num[24];
        snprintf(num, sizeof(num), "%ld", version);
        aws_params_add(&m, "LaunchTemplateId", id);
        aws_params_add(&m, "SetDefaultVersion", num);
        error =
            aws_query(a->p, a->call, AWS_EC2, "ModifyLaunchTemplate", &m, "", AWS_SAFE, NULL, &r);
        aws_params_free(&m);
    }
done:
    aws_resp_free(r);
    aws_params_free(&q);
    free(ami);
    return error;
}

static int launch_template_apply(aws_act *a)
{
    char *id = NULL;
    infra_json *st = NULL;
    int error;

    if (a->prior != NULL) {
        if ((error = aws_prior_id(a, &id)) < 0)
            return error;
        if ((error = lt_new_version(a, id)) == 0)
            error = aws_tags_sync(a->p, a->call, id, a->prior, a->planned, NULL);
    } else {
        /* ClientToken makes a repeated CreateLaunchTemplate safe: only a
         * create resumed from an earlier run looks first. */
        error = aws_resuming(a->call) ? aws_find_mine(a, &template_kind, &id) : INFRA_ENOTFOUND;
        if (error == INFRA_ENOTFOUND)
            error = lt_create(a, &id);
    }
    if (error == 0)
        error = lt_state(a, id, &st);
    free(id);
    return aws_state_finish(a, st, error);
}

static int launch_template_remove(aws_act *a)
{
    return aws_remove_simple(a, AWS_EC2, "DeleteLaunchTemplate", "LaunchTemplateId",
                             aws_state_id(a->prior), AWS_SAFE, "*NotFound *NotFoundException");
}

/* The state of a->state's template as t describes it. */
static int launch_template_refresh(aws_act *a, const lt_info *t)
{
    infra_json *st = aws_state_new(a->state);
    char version[24];
    int error;
    snprintf(version, sizeof(version), "%ld", t->latest);
    if ((error = pu_json_set_str(st, "id", t->id)) == 0 &&
        (error = pu_json_set_str(st, "name", t->name)) == 0 &&
        (error = pu_json_set_str(st, "latest_version", version)) == 0 &&
        (error = pu_json_set_str(st, "image_id", t->image)) == 0 && a->state != NULL) {
        /* What the latest version launches, under the state's keys. */
        const infra_json *v = NULL;
        const char *key = NULL;
        const char *image = pu_json_str(st, "image");
        if (image != NULL && aws_is_ami_id(image) && t->image != NULL)
            error = pu_json_set_str(st, "image", t->image);
        if (error == 0 && aws_json_alias_value(st, size_keys, &v, &key) == 0)
            error = pu_json_set_str(st, key, t->type);
        if (error == 0 && AJ->get(st, "key_pair") != NULL)
            error = pu_json_set_str(st, "key_pair", t->key);
        if (error == 0 && AJ->get(st, "instance_profile") != NULL)
            error = pu_json_set_str(st, "instance_profile", t->profile);
        const char *ud = pu_json_str(st, "user_data");
        if (error == 0 && ud != NULL && (t->user_data == NULL || strcmp(ud, t->user_data) != 0))
            error = pu_json_set_str(st, "user_data", t->user_data);
        char **had = NULL;
        if (error == 0 && AJ->get(st, "firewalls") != NULL &&
            aws_json_strv(AJ->get(st, "firewalls"), &had) == 0) {
            if (!aws_strv_same_set(had, t->groups))
                error = aws_json_set_strv(st, "firewalls", t->groups);
        }
        aws_strv_free(had);
        if (error == 0 && (error = aws_tags_read(st, &t->tags, NULL)) == 0)
            error = pu_json_set_str(st, "name", t->name);
    }
    return aws_state_finish(a, st, error);
}

static int launch_template_read(aws_act *a)
{
    const char *id;
    char *found = NULL;
    lt_info t = {0};
    int error;

    if ((error = aws_read_id(a, &template_kind, &id, &found)) < 0)
        return error;
    if ((error = lt_describe(a, id, 0, &t)) == 0)
        error = launch_template_refresh(a, &t);
    lt_clear(&t);
    free(found);
    return error;
}

/* Many templates: one DescribeLaunchTemplates naming them (every template
 * of the region when one of them is gone, which fails a call naming it),
 * then the latest version of each, in one call when there are several. */
typedef struct lt_batch {
    const char **ids;
    lt_info *info; /* id NULL until described */
    size_t n;
} lt_batch;

static int lt_take(void *ud, size_t i, const xmlNode *item)
{
    lt_batch *b = ud;
    if (b->info[i].id == NULL) {
        lt_clear(&b->info[i]);
        lt_parse_template(item, &b->info[i]);
    }
    return 0;
}

static int lt_templates(aws_many *m, lt_batch *b)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->ids[i] != NULL)
            aws_params_addk(&q, b->ids[i], "LaunchTemplateId.%zu", ++k);
    int error = aws_query(m->p, m->call, AWS_EC2, "DescribeLaunchTemplates", &q, "", AWS_SAFE,
                          "*NotFound *NotFoundException *.Malformed", &r);
    aws_params_free(&q);
    if (error == 0) {
        for (xmlNode *it = aws_xml_path(r->result, "launchTemplates/item"); it != NULL;
             it = aws_xml_next(it)) {
            char *id = aws_xml_get(it, "launchTemplateId");
            for (size_t i = 0; id != NULL && i < b->n; i++)
                if (b->ids[i] != NULL && strcmp(b->ids[i], id) == 0)
                    lt_take(b, i, it);
            free(id);
        }
    }
    aws_resp_free(r);
    if (error == INFRA_ENOTFOUND || error == INFRA_EINVALID) {
        /* One of them is gone: every template of the region, in pages. */
        static const aws_ec2_kind all = {.describe = "DescribeLaunchTemplates",
                                         .set = "launchTemplates",
                                         .id_elem = "launchTemplateId",
                                         .page_max = 200};
        error = aws_ec2_list(m, &all, b->ids, b->n, lt_take, b);
    }
    return error;
}

/* The latest version of every template described. */
static int lt_versions(aws_many *m, lt_batch *b)
{
    size_t found = 0, last = 0;
    char *next = NULL;
    int error = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->info[i].id != NULL) {
            found++;
            last = i;
        }
    if (found == 0)
        return 0;
    do {
        aws_params q = {0};
        aws_resp *r = NULL;
        if (found == 1) {
            char version[24];
            snprintf(version, sizeof(version), "%ld", b->info[last].latest);
            aws_params_add(&q, "LaunchTemplateId", b->info[last].id);
            aws_params_add(&q, "LaunchTemplateVersion.1", version);
        } else {
            /* Without a template, $Latest names the latest version of each. */
            aws_params_add(&q, "LaunchTemplateVersion.1", "$Latest");
            aws_params_add_int(&q, "MaxResults", 200);
        }
        if (next != NULL)
            aws_params_add(&q, "NextToken", next);
        free(next);
        next = NULL;
        error = aws_query(m->p, m->call, AWS_EC2, "DescribeLaunchTemplateVersions", &q, "",
                          AWS_SAFE, NULL, &r);
        xmlNode *set = error == 0 ? aws_xml_child(r->result, "launchTemplateVersionSet") : NULL;
        for (xmlNode *v = aws_xml_child(set, "item"); v != NULL; v = aws_xml_next(v)) {
            char *id = aws_xml_get(v, "launchTemplateId");
            long number = aws_xml_get_long(v, "versionNumber", -1);
            for (size_t i = 0; id != NULL && i < b->n; i++)
                if (b->info[i].id != NULL && strcmp(b->info[i].id, id) == 0 &&
                    number == b->info[i].latest && b->info[i].image == NULL)
                    lt_parse_data(aws_xml_child(v, "launchTemplateData"), &b->info[i]);
            free(id);
        }
        if (error == 0) {
            next = aws_xml_get(r->result, "nextToken");
            if (next != NULL && *next == '\0') {
                free(next);
                next = NULL;
            }
        }
        aws_resp_free(r);
        aws_params_free(&q);
    } while (error == 0 && next != NULL);
    free(next);
    return error;
}

static int launch_template_read_many(aws_many *m)
{
    lt_batch b = {pu_calloc(m->n + 1, sizeof(char *)), pu_calloc(m->n + 1, sizeof(lt_info)), m->n};
    int error;
    for (size_t i = 0; i < m->n; i++) {
        b.ids[i] = aws_state_id(m->acts[i].state);
        b.info[i].groups = pu_calloc(1, sizeof(char *));
        m->results[i] = INFRA_ENOTFOUND;
    }
    if ((error = lt_templates(m, &b)) == 0 && (error = lt_versions(m, &b)) == 0)
        for (size_t i = 0; i < m->n; i++)
            if (b.info[i].id != NULL)
                m->results[i] = launch_template_refresh(&m->acts[i], &b.info[i]);
    for (size_t i = 0; i < m->n; i++)
        lt_clear(&b.info[i]);
    free(b.ids);
    free(b.info);
    return error;
}

const aws_handler aws_launch_template_handler = {"launch_template", launch_template_apply,
                                                 launch_template_remove, launch_template_read,
                                                 launch_template_read_many};
