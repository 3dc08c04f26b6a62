/* API versions. Nova speaks microversions: its version document names the
 * oldest and newest 2.N it serves, and every request says which one it is
 * written for (OpenStack-API-Version: compute 2.N, and the older
 * X-OpenStack-Nova-API-Version). Octavia has no microversion header; its
 * version list says which 2.N features (tags from 2.5) exist. */
#include "os_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "2.93" -> 93 for major 2; -1 otherwise ("" and NULL too). */
static int minor_of(const char *v)
{
    int major = 0, minor = 0;
    char tail = 0;
    if (v == NULL || sscanf(v, "%d.%d%c", &major, &minor, &tail) != 2 || major != 2 || minor < 0)
        return -1;
    return minor;
}

/* The v2.1 entry of a version document. */
static const infra_json *v21_of(const infra_json *doc)
{
    const infra_json *one = OJ->get(doc, "version");
    if (one != NULL && OJ->type(one) == INFRA_JSON_OBJECT)
        return one;
    const infra_json *list = OJ->get(doc, "versions");
    for (size_t i = 0; i < OJ->length(list); i++) {
        const char *id = pu_json_str(OJ->at(list, i), "id");
        if (id != NULL && strcmp(id, "v2.1") == 0)
            return OJ->at(list, i);
    }
    return NULL;
}

int os_nova_microversion(const infra_json *doc, int min_minor, int max_minor, int *minor,
                         char **err)
{
    const infra_json *v = v21_of(doc);
    *err = NULL;
    if (v == NULL) {
        *err = pu_strdup("the compute version document names no v2.1 API");
        return INFRA_EINTERNAL;
    }
    const char *newest_text = pu_json_str(v, "version");
    int newest = minor_of(newest_text);
    int oldest = minor_of(pu_json_str(v, "min_version"));
    if (oldest < 0)
        oldest = 1;
    if (newest < 0) {
        *err = pu_strdup("the compute API offers no microversions (a v2.0 API); infra needs 2."
                         "52 or later for server tags");
        return INFRA_ENOTSUP;
    }
    int pick = newest < max_minor ? newest : max_minor;
    if (pick < min_minor || pick < oldest) {
        *err = pu_printf("the compute API serves microversions 2.%d to 2.%d; infra needs 2.%d to "
                         "2.%d (server tags at create)",
                         oldest, newest, min_minor, max_minor);
        return INFRA_ENOTSUP;
    }
    *minor = pick;
    return 0;
}

int os_octavia_version(const infra_json *doc, int *minor)
{
    const infra_json *list = OJ->get(doc, "versions");
    int best = -1;
    for (size_t i = 0; i < OJ->length(list); i++) {
        const infra_json *v = OJ->at(list, i);
        const char *id = pu_json_str(v, "id");
        const char *status = pu_json_str(v, "status");
        if (id == NULL || id[0] != 'v' || (status != NULL && strcmp(status, "DEPRECATED") == 0))
            continue;
        int m = minor_of(id + 1);
        if (m > best)
            best = m;
    }
    if (best < 0)
        return INFRA_ENOTFOUND;
    *minor = best;
    return 0;
}
