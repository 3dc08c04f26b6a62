/* Endpoints: the service catalog of a Keystone v3 token, searched by
 * service type, region and interface, and the base URL of each service
 * made from a catalog (or override) URL. */
#include "os_api.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* "publicURL" and "public" name the same interface. */
static int same_interface(const char *have, const char *want)
{
    if (have == NULL || want == NULL)
        return 0;
    size_t n = strlen(want);
    if (n > 3 && strcasecmp(want + n - 3, "URL") == 0)
        n -= 3;
    size_t m = strlen(have);
    if (m > 3 && strcasecmp(have + m - 3, "URL") == 0)
        m -= 3;
    return n == m && strncasecmp(have, want, n) == 0;
}

static int same_region(const infra_json *e, const char *region)
{
    const char *id = pu_json_str(e, "region_id");
    const char *name = pu_json_str(e, "region");
    return region == NULL || (id != NULL && strcmp(id, region) == 0) ||
           (name != NULL && strcmp(name, region) == 0);
}

int os_catalog_endpoint(const infra_json *catalog, const char *type, const char *region,
                        const char *interface, char **url, char **err)
{
    pu_buf offered = {0};
    *url = NULL;
    *err = NULL;
    for (size_t i = 0; i < OJ->length(catalog); i++) {
        const infra_json *svc = OJ->at(catalog, i);
        const char *t = pu_json_str(svc, "type");
        if (t == NULL || strcmp(t, type) != 0)
            continue;
        const infra_json *eps = OJ->get(svc, "endpoints");
        for (size_t k = 0; k < OJ->length(eps); k++) {
            const infra_json *e = OJ->at(eps, k);
            const char *u = pu_json_str(e, "url");
            if (u == NULL)
                continue;
            if (same_region(e, region) && same_interface(pu_json_str(e, "interface"), interface)) {
                free(offered.data);
                *url = pu_strdup(u);
                return 0;
            }
            const char *r = pu_json_str(e, "region_id");
            if (r == NULL)
                r = pu_json_str(e, "region");
            pu_buf_printf(&offered, "%s%s (%s)", offered.len ? ", " : "", r ? r : "no region",
                          pu_json_str(e, "interface") ? pu_json_str(e, "interface") : "?");
        }
    }
    if (offered.len)
        *err = pu_printf("the catalog has no %s endpoint in region %s for interface %s; it has %s",
                         type, region ? region : "(any)", interface, offered.data);
    else
        *err = pu_printf("the catalog has no %s service at all", type);
    free(offered.data);
    return INFRA_ENOTFOUND;
}

/* 1 when the path of url ends with suffix (no trailing slash). */
static int ends_with(const char *url, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && strncmp(url + n - k, suffix, k) == 0;
}

char *os_service_base(os_service s, const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    switch (s) {
    case OS_COMPUTE:
        /* ".../v2.1" or ".../v2.1/PROJECT_ID" (older catalogs): as given. */
        if (strstr(url, "/v2") == NULL)
            return pu_printf("%.*s/v2.1", (int)n, url);
        return pu_strndup(url, n);
    case OS_NETWORK:
        return ends_with(url, n, "/v2.0") ? pu_strndup(url, n)
                                          : pu_printf("%.*s/v2.0", (int)n, url);
    case OS_LB:
        if (ends_with(url, n, "/v2.0"))
            n -= 2; /* Octavia serves /v2 and /v2.0 alike */
        return ends_with(url, n, "/v2") ? pu_strndup(url, n) : pu_printf("%.*s/v2", (int)n, url);
    case OS_IMAGE:
    case OS_DNS:
    default:
        return ends_with(url, n, "/v2") ? pu_strndup(url, n) : pu_printf("%.*s/v2", (int)n, url);
    }
}

char *os_service_version_url(os_service s, const char *base)
{
    if (s != OS_COMPUTE)
        return pu_strdup(base);
    /* Nova's version document is at .../v2.1/, not below a project id. */
    const char *v = strstr(base, "/v2.1");
    if (v != NULL)
        return pu_printf("%.*s/", (int)(v + 5 - base), base);
    v = strstr(base, "/v2");
    return v != NULL ? pu_printf("%.*s/", (int)(v + 3 - base), base) : pu_strdup(base);
}

char *os_service_root_url(const char *base)
{
    const char *scheme = strstr(base, "://");
    const char *host = scheme ? scheme + 3 : base;
    const char *v = strstr(host, "/v2");
    if (v == NULL)
        v = strstr(host, "/v3");
    if (v == NULL)
        return pu_printf("%s/", base);
    return pu_printf("%.*s/", (int)(v - base), base);
}
