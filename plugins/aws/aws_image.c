/* Images: the `image` data source (newest image whose name matches a
 * pattern among some owners), the lookups instances and launch templates
 * make when `image` is a name pattern rather than an AMI id, and the
 * dispatch of a built image (a `build:` block) to aws_bake*.c. */
#include "aws_bake.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

int aws_is_ami_id(const char *s)
{
    if (s == NULL || strncmp(s, "ami-", 4) != 0 || s[4] == '\0')
        return 0;
    for (s += 4; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

long aws_image_pick(const aws_image *images, size_t n, const char *pattern,
                    const char *architecture)
{
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        const aws_image *im = &images[i];
        if (im->id == NULL || im->name == NULL)
            continue;
        if (pattern != NULL && fnmatch(pattern, im->name, 0) != 0)
            continue;
        if (im->state != NULL && strcmp(im->state, "available") != 0)
            continue;
        if (architecture != NULL && *architecture &&
            (im->architecture == NULL || strcmp(im->architecture, architecture) != 0))
            continue;
        /* ISO 8601 timestamps of one format sort as text; ties go to the
         * larger id, so the choice never depends on answer order. */
        const char *date = im->creation_date ? im->creation_date : "";
        if (best < 0) {
            best = (long)i;
            continue;
        }
        const char *best_date = images[best].creation_date ? images[best].creation_date : "";
        int c = strcmp(date, best_date);
        if (c > 0 || (c == 0 && strcmp(im->id, images[best].id) > 0))
            best = (long)i;
    }
    return best;
}

int aws_images_parse(const xmlNode *result, aws_image **out, size_t *n)
{
    xmlNode *set = aws_xml_child(result, "imagesSet");
    *out = NULL;
    *n = 0;
    for (xmlNode *it = aws_xml_child(set, "item"); it != NULL; it = aws_xml_next(it)) {
        aws_image *grown = pu_realloc(*out, (*n + 1) * sizeof(**out));
        *out = grown;
        aws_image *im = &(*out)[(*n)++];
        im->id = aws_xml_get(it, "imageId");
        im->name = aws_xml_get(it, "name");
        im->creation_date = aws_xml_get(it, "creationDate");
        im->architecture = aws_xml_get(it, "architecture");
        im->state = aws_xml_get(it, "imageState");
        im->owner = aws_xml_get(it, "imageOwnerId");
    }
    return 0;
}

void aws_image_clear(aws_image *im)
{
    free(im->id);
    free(im->name);
    free(im->creation_date);
    free(im->architecture);
    free(im->state);
    free(im->owner);
    memset(im, 0, sizeof(*im));
}

void aws_images_free(aws_image *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        aws_image_clear(&v[i]);
    free(v);
}

static char *owners_text(char *const *owners)
{
    pu_buf b = {0};
    for (size_t i = 0; owners != NULL && owners[i] != NULL; i++)
        pu_buf_printf(&b, "%s%s", i ? ", " : "", owners[i]);
    return pu_buf_take(&b);
}

/* 1 when name is one a build names its generations: PREFIX-HASH16. */
static int is_generation_of(const char *name, const char *prefix)
{
    size_t n = prefix != NULL ? strlen(prefix) : 0;
    if (n == 0 || name == NULL || strncmp(name, prefix, n) != 0 || name[n] != '-' ||
        strlen(name + n + 1) != 16)
        return 0;
    for (const char *c = name + n + 1; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return 0;
    return 1;
}

int aws_image_lookup(infra_provider *p, infra_call *call, const char *attr, char *const *owners,
                     const char *pattern, const char *architecture, aws_image *out)
{
    return aws_image_lookup_except(p, call, attr, owners, pattern, architecture, NULL, out);
}

int aws_image_lookup_except(infra_provider *p, infra_call *call, const char *attr,
                            char *const *owners, const char *pattern, const char *architecture,
                            const char *except, aws_image *out)
{
    aws_params q = {0};
    aws_resp *r = NULL;
    aws_image *v = NULL;
    size_t n = 0;
    char *self[] = {"self", NULL};
    char *const *own = aws_strv_len(owners) > 0 ? owners : self;
    int error;

    memset(out, 0, sizeof(*out));
    aws_params_list(&q, AWS_LIST_EC2, "Owner", own);
    aws_params_filter1(&q, "name", pattern);
    aws_params_filter1(&q, "state", "available");
    if (architecture != NULL && *architecture)
        aws_params_filter1(&q, "architecture", architecture);
    if ((error = aws_query(p, call, AWS_EC2, "DescribeImages", &q, attr, AWS_SAFE, NULL, &r)) < 0)
        goto done;
    aws_images_parse(r->result, &v, &n);
    for (size_t i = 0; except != NULL && i < n; i++) {
        if (is_generation_of(v[i].name, except)) {
            /* Not available as a base: an image built from itself. */
            free(v[i].state);
            v[i].state = pu_strdup("excluded");
        }
    }
    long best = aws_image_pick(v, n, pattern, architecture);
    if (best < 0) {
        char *who = owners_text(own);
        pu_diagf(call, attr, "aws: no available image named like \"%s\"%s%s owned by %s in %s",
                 pattern, architecture && *architecture ? " for " : "",
                 architecture && *architecture ? architecture : "", who, p->region);
        free(who);
        error = INFRA_EINVALID;
        goto done;
    }
    *out = v[best];
    memset(&v[best], 0, sizeof(v[best]));
done:
    for (size_t i = 0; i < n; i++)
        aws_image_clear(&v[i]);
    free(v);
    aws_resp_free(r);
    aws_params_free(&q);
    return error;
}

int aws_image_resolve(infra_provider *p, infra_call *call, const char *attr, const char *image,
                      char **ami)
{
    if (image == NULL || *image == '\0') {
        pu_diagf(call, attr, "image must be an AMI id or a name pattern");
        return INFRA_EINVALID;
    }
    if (aws_is_ami_id(image)) {
        *ami = pu_strdup(image);
        return 0;
    }
    aws_image im;
    int error = aws_image_lookup(p, call, attr, NULL, image, NULL, &im);
    if (error == 0) {
        *ami = im.id;
        im.id = NULL;
        aws_image_clear(&im);
    }
    return error;
}

/* ------------------------------------------------------------------ */
/* The data source                                                    */

static int image_read(aws_act *a)
{
    const infra_json *cfg = a->state;
    if (cfg == NULL || aws_bake_is_build(cfg))
        return aws_bake_read(a);
    const char *pattern = pu_json_str(cfg, "name");
    const char *arch = pu_json_str(cfg, "architecture");
    char **owners = NULL;
    aws_image im;
    int error;

    if (pattern == NULL || *pattern == '\0') {
        pu_diagf(a->call, "name", "an image lookup needs name: a pattern such as \"base-*\"");
        return INFRA_EINVALID;
    }
    if (aws_json_strv(AJ->get(cfg, "owners"), &owners) < 0) {
        pu_diagf(a->call, "owners", "owners must be a list of account ids, \"self\" or \"amazon\"");
        return INFRA_EINVALID;
    }
    error = aws_image_lookup(a->p, a->call, "name", owners, pattern, arch, &im);
    aws_strv_free(owners);
    if (error < 0)
        return error;
    infra_json *st = aws_state_new(cfg);
    if ((error = pu_json_set_str(st, "id", im.id)) == 0 &&
        (error = pu_json_set_str(st, "name", im.name)) == 0 &&
        (error = pu_json_set_str(st, "creation_date", im.creation_date)) == 0 &&
        (error = pu_json_set_str(st, "owner_id", im.owner)) == 0 && arch == NULL)
        error = pu_json_set_str(st, "architecture", im.architecture);
    aws_image_clear(&im);
    return aws_state_finish(a, st, error);
}

static int image_apply(aws_act *a)
{
    if (aws_bake_is_build(a->planned))
        return aws_bake_apply(a);
    pu_diagf(a->call, "",
             "an image without build: is looked up, never created: declare it "
             "under images:");
    return INFRA_ENOTSUP;
}

static int image_remove(aws_act *a)
{
    /* A built image's state, or what a read by token found of one. */
    int built = aws_bake_is_build(a->prior) || AJ->get(a->prior, "generations") != NULL ||
                AJ->get(a->prior, "build_instance") != NULL;
    return built ? aws_bake_remove(a) : 0;
}

const aws_handler aws_image_handler = {"image", image_apply, image_remove, image_read, NULL};
