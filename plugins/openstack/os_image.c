/* Images (Glance): the image a server boots, by id, by name, or as the
 * newest active image whose name matches a pattern ("nomad-host-*"); and
 * the image data source, which looks one up. */
#include "os_res.h"

#include <stdlib.h>
#include <string.h>

long os_image_pick(const infra_json *images, const char *pattern)
{
    long best = -1;
    const char *best_at = NULL, *best_id = NULL;
    for (size_t i = 0; i < OJ->length(images); i++) {
        const infra_json *im = OJ->at(images, i);
        const char *name = pu_json_str(im, "name");
        const char *status = pu_json_str(im, "status");
        const char *at = pu_json_str(im, "created_at");
        const char *id = pu_json_str(im, "id");
        if (name == NULL || id == NULL || !os_glob(pattern, name) ||
            (status != NULL && strcmp(status, "active") != 0))
            continue;
        /* ISO 8601 times of one service compare as text. */
        int c = best_at == NULL ? 1 : strcmp(at ? at : "", best_at);
        if (c > 0 || (c == 0 && strcmp(id, best_id) > 0)) {
            best = (long)i;
            best_at = at ? at : "";
            best_id = id;
        }
    }
    return best;
}

/* The newest active image named like pattern: 0 with *image (caller releases). */
static int lookup(os_act *a, const char *pattern, const char *attr, infra_json **image)
{
    int exact = strpbrk(pattern, "*?") == NULL;
    char *e = os_url_encode(pattern);
    char *path = exact ? pu_printf("/images?status=active&name=%s", e)
                       : pu_strdup("/images?status=active&limit=200");
    infra_json *list = NULL;
    int error = os_list(a->p, a->call, OS_IMAGE, path, "images", &list);
    free(path);
    free(e);
    *image = NULL;
    if (error < 0)
        return error;
    long best = os_image_pick(list, pattern);
    if (best < 0) {
        pu_diagf(a->call, attr, "openstack: no active image named %s\"%s\" in %s",
                 exact ? "" : "like ", pattern, a->p->region);
        error = INFRA_EINVALID;
    } else {
        *image = OJ->copy(OJ->at(list, (size_t)best));
    }
    OJ->release(list);
    return error;
}

int os_image_resolve(os_act *a, const char *ref, const char *attr, char **id)
{
    *id = NULL;
    if (ref == NULL || *ref == '\0') {
        pu_diagf(a->call, attr, "image must be an image id, a name or a name pattern");
        return INFRA_EINVALID;
    }
    if (os_is_uuid(ref)) {
        *id = pu_strdup(ref);
        return 0;
    }
    infra_json *image = NULL;
    int error = lookup(a, ref, attr, &image);
    if (error == 0)
        *id = pu_strdup(pu_json_str(image, "id"));
    OJ->release(image);
    return error;
}

/* ------------------------------------------------------------------ */
/* The data source                                                    */

static int image_read(os_act *a)
{
    const infra_json *cfg = a->state;
    if (cfg == NULL || os_bake_is_build(cfg) || OJ->get(cfg, "generations") != NULL ||
        OJ->get(cfg, "build_instance") != NULL)
        return os_bake_read(a);
    const char *pattern = pu_json_str(cfg, "name");
    infra_json *image = NULL;
    int error;

    if (pattern == NULL || *pattern == '\0') {
        pu_diagf(a->call, "name",
                 "an image lookup needs name: a name or a pattern such as "
                 "\"nomad-host-*\"");
        return INFRA_EINVALID;
    }
    if ((error = lookup(a, pattern, "name", &image)) < 0)
        return error;
    infra_json *st = os_state_new(cfg);
    if ((error = pu_json_set_str(st, "id", pu_json_str(image, "id"))) == 0 &&
        (error = pu_json_set_str(st, "name", pu_json_str(image, "name"))) == 0 &&
        (error = pu_json_set_str(st, "created_at", pu_json_str(image, "created_at"))) == 0)
        error = pu_json_set_str(st, "visibility", pu_json_str(image, "visibility"));
    OJ->release(image);
    return os_state_finish(a, st, error);
}

static int image_apply(os_act *a)
{
    if (os_bake_is_build(a->planned))
        return os_bake_apply(a);
    pu_diagf(a->call, "",
             "an image without build: is looked up, never created: declare it under images:");
    return INFRA_ENOTSUP;
}

static int image_remove(os_act *a)
{
    int built = os_bake_is_build(a->prior) || OJ->get(a->prior, "generations") != NULL ||
                OJ->get(a->prior, "build_instance") != NULL;
    return built ? os_bake_remove(a) : 0;
}

const os_handler os_image_handler = {"image", image_apply, image_remove, image_read,
                                     NULL,    NULL,        NULL};
