/* Images: the data source (an image family, or the newest image of a
 * project whose name matches a pattern, as the aws provider picks AMIs)
 * and the references an instance's boot disk takes. */
#include "gcp_res.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

int gcp_glob_match(const char *pattern, const char *s)
{
    return pattern != NULL && s != NULL && fnmatch(pattern, s, 0) == 0;
}

static int is_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static int usable(const infra_json *image)
{
    const char *status = pu_json_str(image, "status");
    const char *deprecated = gcp_json_path_str(image, "deprecated.state");
    return (status == NULL || strcmp(status, "READY") == 0) &&
           (deprecated == NULL || strcmp(deprecated, "ACTIVE") == 0);
}

/* The newest usable image of project whose name matches pattern (every
 * page of images.list): 0 with *out (caller releases), INFRA_EINVALID with
 * a diagnostic at attr when there is none. */
/* 1 when name is PREFIX-HASH16 (a build's generation) of prefix. */
static int generation_of(const char *prefix, const char *name)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (prefix == NULL || strncmp(name, prefix, n) != 0 || name[n] != '-' ||
        strlen(name + n + 1) != 16)
        return 0;
    return strspn(name + n + 1, "0123456789abcdef") == 16;
}

static int newest_matching(gcp_act *a, const char *attr, const char *project, const char *pattern,
                           const char *except, infra_json **out)
{
    char *path = pu_printf("projects/%s/global/images", project);
    char *page = NULL;
    infra_json *best = NULL;
    int error = 0;

    *out = NULL;
    do {
        char *query = pu_printf("maxResults=500%s%s", page ? "&pageToken=" : "", page ? page : "");
        infra_json *doc = NULL;
        error = gcp_get(a->p, a->call, GCP_COMPUTE, path, query, "images.list", attr, NULL, &doc);
        free(query);
        free(page);
        page = NULL;
        const infra_json *items = GJ->get(doc, "items");
        for (size_t i = 0; error == 0 && items != NULL && i < GJ->length(items); i++) {
            const infra_json *im = GJ->at(items, i);
            const char *name = pu_json_str(im, "name");
            if (!usable(im) || !gcp_glob_match(pattern, name) || generation_of(except, name))
                continue;
            const char *t = pu_json_str(im, "creationTimestamp");
            const char *bt = pu_json_str(best, "creationTimestamp");
            int newer = best == NULL || strcmp(t ? t : "", bt ? bt : "") > 0 ||
                        (strcmp(t ? t : "", bt ? bt : "") == 0 &&
                         strcmp(name, pu_json_str(best, "name")) > 0);
            if (newer) {
                GJ->release(best);
                best = GJ->copy(im);
            }
        }
        const char *next = pu_json_str(doc, "nextPageToken");
        if (error == 0 && next != NULL && *next)
            page = gcp_url_encode(next);
        GJ->release(doc);
    } while (error == 0 && page != NULL);
    free(page);
    free(path);
    if (error == 0 && best == NULL) {
        pu_diagf(a->call, attr, "gcp: no READY image of project %s is named like \"%s\"", project,
                 pattern);
        error = INFRA_EINVALID;
    }
    if (error < 0) {
        GJ->release(best);
        return error;
    }
    *out = best;
    return 0;
}

int gcp_image_resolve(gcp_act *a, const char *attr, const char *image, char **ref)
{
    *ref = NULL;
    if (image == NULL || *image == '\0') {
        pu_diagf(a->call, attr, "image must be an image, an image family or a name pattern");
        return INFRA_EINVALID;
    }
    if (strncmp(image, "http://", 7) == 0 || strncmp(image, "https://", 8) == 0 ||
        strncmp(image, "projects/", 9) == 0) {
        *ref = pu_strdup(image);
        return 0;
    }
    if (strncmp(image, "global/images/", 14) == 0) {
        *ref = pu_printf("projects/%s/%s", a->p->project, image);
        return 0;
    }
    if (strncmp(image, "family/", 7) == 0) {
        *ref = pu_printf("projects/%s/global/images/%s", a->p->project, image);
        return 0;
    }
    if (is_glob(image)) {
        infra_json *im = NULL;
        int error = newest_matching(a, attr, a->p->project, image, NULL, &im);
        if (error == 0)
            *ref = gcp_relative_name(pu_json_str(im, "selfLink"));
        GJ->release(im);
        return error;
    }
    *ref = pu_printf("projects/%s/global/images/%s", a->p->project, image);
    return 0;
}

int gcp_image_resolve_except(gcp_act *a, const char *attr, const char *image, const char *except,
                             char **ref)
{
    infra_json *im = NULL;
    int error;
    *ref = NULL;
    if (image != NULL && is_glob(image) && strncmp(image, "projects/", 9) != 0 &&
        strstr(image, "://") == NULL) {
        if ((error = newest_matching(a, attr, a->p->project, image, except, &im)) == 0)
            *ref = gcp_relative_name(pu_json_str(im, "selfLink"));
        GJ->release(im);
        return error;
    }
    char *path = NULL;
    if ((error = gcp_image_resolve(a, attr, image, &path)) < 0)
        return error;
    const char *rel = strstr(path, "projects/");
    error = gcp_get(a->p, a->call, GCP_COMPUTE, rel ? rel : path, NULL,
                    strstr(path, "/family/") ? "images.getFromFamily" : "images.get", attr,
                    "notFound", &im);
    if (error == INFRA_ENOTFOUND) {
        pu_diagf(a->call, attr, "gcp: there is no usable image %s", path);
        error = INFRA_EINVALID;
    }
    if (error == 0)
        *ref = gcp_relative_name(pu_json_str(im, "selfLink"));
    GJ->release(im);
    free(path);
    return error;
}

/* ------------------------------------------------------------------ */
/* The data source                                                    */

static int image_read(gcp_act *a)
{
    const infra_json *cfg = a->state;
    if (cfg == NULL || gcp_bake_is_build(cfg) || GJ->get(cfg, "generations") != NULL ||
        GJ->get(cfg, "build_instance") != NULL)
        return gcp_bake_read(a);
    const char *pattern = pu_json_str(cfg, "name");
    const char *family = pu_json_str(cfg, "family");
    const char *project = pu_json_str(cfg, "project");
    infra_json *im = NULL;
    int error;

    if (project == NULL || *project == '\0')
        project = a->p->project;
    if ((pattern == NULL || *pattern == '\0') && (family == NULL || *family == '\0')) {
        pu_diagf(a->call, "name",
                 "an image lookup needs name (a pattern such as "
                 "\"nomad-host-*\") or family");
        return INFRA_EINVALID;
    }
    if (family != NULL && *family) {
        char *path = pu_printf("projects/%s/global/images/family/%s", project, family);
        error = gcp_get(a->p, a->call, GCP_COMPUTE, path, NULL, "images.getFromFamily", "family",
                        "notFound", &im);
        free(path);
        if (error == INFRA_ENOTFOUND) {
            pu_diagf(a->call, "family", "gcp: project %s has no usable image of family %s", project,
                     family);
            error = INFRA_EINVALID;
        }
        if (error == 0 && pattern != NULL && *pattern &&
            !gcp_glob_match(pattern, pu_json_str(im, "name"))) {
            pu_diagf(a->call, "name",
                     "gcp: the newest image of family %s is %s, not named like "
                     "\"%s\"",
                     family, pu_json_str(im, "name"), pattern);
            error = INFRA_EINVALID;
        }
    } else if (is_glob(pattern)) {
        error = newest_matching(a, "name", project, pattern, NULL, &im);
    } else {
        char *path = pu_printf("projects/%s/global/images/%s", project, pattern);
        error =
            gcp_get(a->p, a->call, GCP_COMPUTE, path, NULL, "images.get", "name", "notFound", &im);
        free(path);
        if (error == INFRA_ENOTFOUND) {
            pu_diagf(a->call, "name", "gcp: project %s has no image %s", project, pattern);
            error = INFRA_EINVALID;
        }
    }
    if (error < 0)
        return error;
    infra_json *st = gcp_state_new(cfg);
    char *id = gcp_relative_name(pu_json_str(im, "selfLink"));
    if ((error = pu_json_set_str(st, "id", id)) == 0 &&
        (error = pu_json_set_str(st, "self_link", pu_json_str(im, "selfLink"))) == 0 &&
        (error = pu_json_set_str(st, "image", pu_json_str(im, "name"))) == 0 &&
        (error = pu_json_set_str(st, "creation_timestamp", pu_json_str(im, "creationTimestamp"))) ==
            0 &&
        (error = pu_json_set_str(st, "project", project)) == 0 && family == NULL)
        error = pu_json_set_str(st, "family", pu_json_str(im, "family"));
    free(id);
    GJ->release(im);
    return gcp_state_finish(a, st, error);
}

static int image_apply(gcp_act *a)
{
    if (gcp_bake_is_build(a->planned))
        return gcp_bake_apply(a);
    pu_diagf(a->call, "",
             "an image without build: is looked up, never created: declare it under images:");
    return INFRA_ENOTSUP;
}

static int image_remove(gcp_act *a)
{
    int built = gcp_bake_is_build(a->prior) || GJ->get(a->prior, "generations") != NULL ||
                GJ->get(a->prior, "build_instance") != NULL;
    return built ? gcp_bake_remove(a) : 0;
}

const gcp_handler gcp_image_handler = {"image", image_apply, image_remove, image_read, NULL, NULL};
