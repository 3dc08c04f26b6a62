/* Key pairs: an OpenSSH public key imported under a name. EC2 names are
 * unique, so a create that meets InvalidKeyPair.Duplicate adopts the
 * existing pair only when its infra:token tag says this create made it. */
#include "aws_res.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_FILE_MAX 16384

/* A batch names key pairs by name: DescribeKeyPairs does not page. */
static const aws_ec2_kind key_kind = {
    .describe = "DescribeKeyPairs", .set = "keySet", .id_elem = "keyName", .filter = "key-name"};

static char *expand_home(const char *path)
{
    if (path[0] == '~' && path[1] == '/') {
        const char *home = getenv("HOME");
        return pu_printf("%s%s", home ? home : "", path + 1);
    }
    return pu_strdup(path);
}

/* The public key text of the config, trimmed. */
static int public_key(aws_act *a, char **out)
{
    const char *text = pu_json_str(a->planned, "public_key");
    const char *file = pu_json_str(a->planned, "public_key_file");
    if (text == NULL && file != NULL) {
        char *path = expand_home(file);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        char buf[KEY_FILE_MAX + 1];
        ssize_t n = fd >= 0 ? read(fd, buf, KEY_FILE_MAX) : -1;
        int err = errno;
        if (fd >= 0)
            close(fd);
        if (n <= 0) {
            pu_diagf(a->call, "public_key_file", "cannot read %s: %s", path,
                     n == 0 ? "empty file" : strerror(err));
            free(path);
            return INFRA_EINVALID;
        }
        free(path);
        buf[n] = '\0';
        *out = pu_strdup(buf);
    } else if (text != NULL) {
        *out = pu_strdup(text);
    } else {
        pu_diagf(a->call, "public_key", "a key pair needs public_key or public_key_file");
        return INFRA_EINVALID;
    }
    size_t len = strlen(*out);
    while (len > 0 &&
           ((*out)[len - 1] == '\n' || (*out)[len - 1] == '\r' || (*out)[len - 1] == ' '))
        (*out)[--len] = '\0';
    if (strncmp(*out, "ssh-", 4) != 0 && strncmp(*out, "ecdsa-", 6) != 0) {
        pu_diagf(a->call, file ? "public_key_file" : "public_key",
                 "not an OpenSSH public key (ssh-ed25519, ssh-rsa or ecdsa-sha2-...)");
        free(*out);
        *out = NULL;
        return INFRA_EINVALID;
    }
    return 0;
}

typedef struct key_info {
    char *id;
    char *name;
    char *fingerprint;
    aws_tags tags;
} key_info;

static void key_clear(key_info *k)
{
    free(k->id);
    free(k->name);
    free(k->fingerprint);
    aws_tags_free(&k->tags);
    memset(k, 0, sizeof(*k));
}

static void key_parse(const xmlNode *item, key_info *k)
{
    k->id = aws_xml_get(item, "keyPairId");
    k->name = aws_xml_get(item, "keyName");
    k->fingerprint = aws_xml_get(item, "keyFingerprint");
    aws_tags_parse(aws_xml_child(item, "tagSet"), &k->tags);
}

/* By name (token NULL) or by infra:token tag. */
static int key_describe(aws_act *a, const char *name, const char *token, unsigned flags,
                        key_info *k)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    memset(k, 0, sizeof(*k));
    if (token != NULL)
        aws_params_filter1(&q, "tag:infra:token", token);
    else
        aws_params_add(&q, "KeyName.1", name);
    int error = aws_query(a->p, a->call, AWS_EC2, "DescribeKeyPairs", &q, "name", AWS_SAFE | flags,
                          "InvalidKeyPair.NotFound", &r);
    if (error == 0) {
        xmlNode *item = aws_xml_path(r->result, "keySet/item");
        if (item == NULL)
            error = INFRA_ENOTFOUND;
        else
            key_parse(item, k);
    }
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

static int key_import(aws_act *a, const char *name, key_info *k)
{
    const char *token = pu_host->call_token(a->call);
    char *text = NULL;
    aws_params q = {0};
    aws_tags tags = {0};
    aws_resp *r = NULL;
    int error;

    if ((error = public_key(a, &text)) < 0 ||
        (error = aws_tags_build(a->call, name, AJ->get(a->planned, "tags"), &tags)) < 0)
        goto done;
    char *material = aws_base64_encode(text, strlen(text));
    aws_params_add(&q, "KeyName", name);
    aws_params_add(&q, "PublicKeyMaterial", material);
    aws_tags_spec(&q, 1, "key-pair", &tags);
    free(material);
    error = aws_query(a->p, a->call, AWS_EC2, "ImportKeyPair", &q, "public_key", 0,
                      "InvalidKeyPair.Duplicate", &r);
    if (error == 0) {
        k->id = aws_xml_get(r->result, "keyPairId");
        k->name = aws_xml_get(r->result, "keyName");
        k->fingerprint = aws_xml_get(r->result, "keyFingerprint");
    } else if (error == INFRA_ECONFLICT) {
        if ((error = key_describe(a, name, NULL, 0, k)) == 0) {
            const char *owner = aws_tags_get(&k->tags, "infra:token");
            if (owner == NULL || token == NULL || strcmp(owner, token) != 0) {
                pu_diagf(a->call, "name",
                         "aws: a key pair named \"%s\" already exists in %s and was not made by "
                         "this resource; choose another name",
                         name, a->p->region);
                error = INFRA_ECONFLICT;
            }
        }
    }
done:
    aws_resp_free(r);
    aws_params_free(&q);
    aws_tags_free(&tags);
    free(text);
    return error;
}

static int key_state(aws_act *a, const infra_json *base, const key_info *k)
{
    infra_json *st = aws_state_new(base);
    int error;
    if ((error = pu_json_set_str(st, "id", k->id)) == 0 &&
        (error = pu_json_set_str(st, "name", k->name)) == 0)
        error = pu_json_set_str(st, "fingerprint", k->fingerprint);
    return aws_state_finish(a, st, error);
}

static int key_pair_apply(aws_act *a)
{
    key_info k = {0};
    int error;

    if (a->prior != NULL) {
        const char *id = aws_state_id(a->prior);
        const char *name = pu_json_str(a->prior, "name");
        if (id == NULL || name == NULL)
            return INFRA_ENOTFOUND;
        if ((error = aws_tags_sync(a->p, a->call, id, a->prior, a->planned, NULL)) == 0 &&
            (error = key_describe(a, name, NULL, 0, &k)) == 0)
            error = key_state(a, a->planned, &k);
        key_clear(&k);
        return error;
    }
    const char *given = pu_json_str(a->planned, "name");
    char *name = given ? pu_strdup(given) : aws_call_name(a->call, 255);
    error = aws_create_may_exist(a) ? key_describe(a, NULL, pu_host->call_token(a->call), 0, &k)
                                    : INFRA_ENOTFOUND;
    if (error == INFRA_ENOTFOUND)
        error = key_import(a, name, &k);
    if (error == 0)
        error = key_state(a, a->planned, &k);
    key_clear(&k);
    free(name);
    return error;
}

static int key_pair_remove(aws_act *a)
{
    return aws_remove_simple(a, AWS_EC2, "DeleteKeyPair", "KeyName", pu_json_str(a->prior, "name"),
                             AWS_SAFE, "InvalidKeyPair.NotFound");
}

/* The state of a pair as k says it is. */
static int key_pair_state(aws_act *a, const key_info *k)
{
    infra_json *st = aws_state_new(a->state);
    int error;
    if ((error = pu_json_set_str(st, "id", k->id)) == 0 &&
        (error = pu_json_set_str(st, "fingerprint", k->fingerprint)) == 0 &&
        (error = aws_tags_read(st, &k->tags, NULL)) == 0)
        error = pu_json_set_str(st, "name", k->name);
    return aws_state_finish(a, st, error);
}

static int key_pair_refresh(aws_act *a, const char *name, const xmlNode *item)
{
    key_info k = {0};
    (void)name;
    key_parse(item, &k);
    int error = key_pair_state(a, &k);
    key_clear(&k);
    return error;
}

static int key_pair_read(aws_act *a)
{
    key_info k = {0};
    int error;
    if (a->state == NULL) {
        error = key_describe(a, NULL, pu_host->call_token(a->call), 0, &k);
    } else {
        const char *name = pu_json_str(a->state, "name");
        if (name == NULL)
            return INFRA_ENOTFOUND;
        error = key_describe(a, name, NULL, 0, &k);
    }
    if (error == 0)
        error = key_pair_state(a, &k);
    key_clear(&k);
    return error;
}

static int key_pair_read_many(aws_many *m)
{
    return aws_ec2_read_many(m, &key_kind, "name", key_pair_refresh);
}

const aws_handler aws_key_pair_handler = {"key_pair", key_pair_apply, key_pair_remove,
                                          key_pair_read, key_pair_read_many};
