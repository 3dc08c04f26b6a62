/* Credentials, region and endpoints, found the way the AWS CLI finds them.
 *
 * Credentials: the profile named by the setting `profile` when there is
 * one (as the CLI's --profile); otherwise AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN); otherwise the profile
 * AWS_PROFILE (or AWS_DEFAULT_PROFILE, or "default") of the shared
 * credentials file, then of the config file.
 *
 * Region: setting `region`, AWS_REGION, AWS_DEFAULT_REGION, the profile's
 * `region` in the config file.
 *
 * Endpoint of each service: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL,
 * setting `endpoints.<service>`, setting `endpoint`, the config file
 * (the profile's services section, then its endpoint_url), else the public
 * endpoint of the region. AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true turns
 * the environment and config-file sources off, as in botocore. */
#include "aws_profile.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "awsauth_util.h"

typedef struct resolver {
    aws_getenv_fn getenv_fn;
    void *ud;
    aws_ini creds;
    aws_ini config;
    char *creds_path;
    char *config_path;
    const char *prefix;   /* "provider setting", "backend setting" */
    char *profile_source; /* "provider setting profile" */
    char *region_source;  /* "provider setting region" */
} resolver;

static const char *env(const resolver *r, const char *name)
{
    const char *v = r->getenv_fn(r->ud, name);
    return v != NULL && *v != '\0' ? v : NULL;
}

static char *expand_home(const resolver *r, const char *path)
{
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        const char *home = env(r, "HOME");
        return awsauth_printf("%s%s", home ? home : "", path + 1);
    }
    return awsauth_strdup(path);
}

static char *default_path(const resolver *r, const char *var, const char *name)
{
    const char *set = env(r, var);
    if (set != NULL)
        return expand_home(r, set);
    const char *home = env(r, "HOME");
    return awsauth_printf("%s/.aws/%s", home ? home : "", name);
}

/* The config file's section of profile: "default" or "profile NAME". */
static char *config_section(const aws_ini *config, const char *profile)
{
    char *named = awsauth_printf("profile %s", profile);
    if (strcmp(profile, "default") == 0 && !aws_ini_has_section(config, named)) {
        free(named);
        return awsauth_strdup("default");
    }
    return named;
}

static const char *config_get(const resolver *r, const char *profile, const char *key)
{
    char *section = config_section(&r->config, profile);
    const char *v = aws_ini_get(&r->config, section, key);
    free(section);
    return v != NULL && *v != '\0' ? v : NULL;
}

static int profile_exists(const resolver *r, const char *profile)
{
    char *section = config_section(&r->config, profile);
    int found = aws_ini_has_section(&r->creds, profile) || aws_ini_has_section(&r->config, section);
    free(section);
    return found;
}

/* Credentials of a profile: the credentials file, then the config file. */
static int profile_credentials(const resolver *r, const char *profile, aws_profile *out)
{
    const char *id = aws_ini_get(&r->creds, profile, "aws_access_key_id");
    const char *secret = aws_ini_get(&r->creds, profile, "aws_secret_access_key");
    const char *token = aws_ini_get(&r->creds, profile, "aws_session_token");
    const char *file = r->creds_path;
    if (id == NULL || secret == NULL || !*id || !*secret) {
        id = config_get(r, profile, "aws_access_key_id");
        secret = config_get(r, profile, "aws_secret_access_key");
        token = config_get(r, profile, "aws_session_token");
        file = r->config_path;
    }
    if (id == NULL || secret == NULL || !*id || !*secret)
        return INFRA_ENOTFOUND;
    out->access_key_id = awsauth_strdup(id);
    out->secret_key = awsauth_strdup(secret);
    out->session_token = token && *token ? awsauth_strdup(token) : NULL;
    out->credentials_source = awsauth_printf("profile \"%s\" in %s", profile, file);
    return 0;
}

static int resolve_credentials(const resolver *r, const aws_profile_settings *s, aws_profile *out,
                               char **err, const char **attr)
{
    const char *id = env(r, "AWS_ACCESS_KEY_ID");
    const char *secret = env(r, "AWS_SECRET_ACCESS_KEY");

    if (s->profile == NULL && (id != NULL || secret != NULL)) {
        if (id == NULL || secret == NULL) {
            *err = awsauth_printf("%s is set but %s is not: set both, or neither to use a profile",
                                  id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                                  id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
            return INFRA_EAUTH;
        }
        const char *token = env(r, "AWS_SESSION_TOKEN");
        if (token == NULL)
            token = env(r, "AWS_SECURITY_TOKEN");
        out->access_key_id = awsauth_strdup(id);
        out->secret_key = awsauth_strdup(secret);
        out->session_token = token ? awsauth_strdup(token) : NULL;
        out->credentials_source = awsauth_strdup("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
        return 0;
    }
    if (profile_credentials(r, out->profile, out) == 0)
        return 0;
    if (s->profile != NULL || env(r, "AWS_PROFILE") || env(r, "AWS_DEFAULT_PROFILE")) {
        *attr = s->profile ? "profile" : "";
        if (!profile_exists(r, out->profile))
            *err = awsauth_printf("profile \"%s\" (%s) is in neither %s nor %s", out->profile,
                                  s->profile ? r->profile_source : "AWS_PROFILE", r->creds_path,
                                  r->config_path);
        else
            *err = awsauth_printf("profile \"%s\" has no aws_access_key_id and "
                                  "aws_secret_access_key in %s or %s",
                                  out->profile, r->creds_path, r->config_path);
        return INFRA_EAUTH;
    }
    *err = awsauth_printf("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                          "give a [default] profile in %s (AWS_PROFILE or the %s selects "
                          "another)",
                          r->creds_path, r->profile_source);
    return INFRA_EAUTH;
}

static int region_valid(const char *s)
{
    if (*s == '\0' || strlen(s) > 40)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static int resolve_region(const resolver *r, const aws_profile_settings *s, aws_profile *out,
                          char **err, const char **attr)
{
    const char *v = NULL, *source = NULL;
    if (s->region != NULL && *s->region) {
        v = s->region;
        source = r->region_source;
    } else if ((v = env(r, "AWS_REGION")) != NULL) {
        source = "AWS_REGION";
    } else if ((v = env(r, "AWS_DEFAULT_REGION")) != NULL) {
        source = "AWS_DEFAULT_REGION";
    } else if ((v = config_get(r, out->profile, "region")) != NULL) {
        source = "the config file";
    }
    if (v == NULL) {
        *attr = "region";
        *err = awsauth_printf("no region: set the %s, AWS_REGION, or region in profile \"%s\" "
                              "of %s",
                              r->region_source, out->profile, r->config_path);
        return INFRA_EINVALID;
    }
    if (!region_valid(v)) {
        *attr = "region";
        *err = awsauth_printf("region \"%s\" (from %s) is not a region name such as us-east-1", v,
                              source);
        return INFRA_EINVALID;
    }
    out->region = awsauth_strdup(v);
    out->region_source = awsauth_strdup(source);
    return 0;
}

static int url_valid(const char *s)
{
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return 0;
    const char *host = strstr(s, "//") + 2;
    if (*host == '\0' || *host == '/')
        return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s == '"' || *s == '\\' || *s == '?' || *s == '#')
            return 0;
    return 1;
}

static char *strip_slash(const char *url)
{
    char *s = awsauth_strdup(url);
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

static int resolve_endpoint(const resolver *r, const aws_profile_settings *s, size_t svc,
                            aws_profile *out, char **err, const char **attr)
{
    const aws_service_info *info = &s->services[svc];
    const char *ignore = env(r, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    int use_configured = !(ignore != NULL && strcasecmp(ignore, "true") == 0);
    const char *v = NULL;
    char *source = NULL;
    const char *setting_attr = "";

    if (use_configured) {
        char *name = awsauth_printf("AWS_ENDPOINT_URL_%s", info->env_suffix);
        if ((v = env(r, name)) != NULL)
            source = awsauth_strdup(name);
        free(name);
        if (v == NULL && (v = env(r, "AWS_ENDPOINT_URL")) != NULL)
            source = awsauth_strdup("AWS_ENDPOINT_URL");
    }
    if (v == NULL && s->endpoints[svc] != NULL && *s->endpoints[svc]) {
        v = s->endpoints[svc];
        source = awsauth_printf("%s endpoints.%s", r->prefix, info->setting_key);
        setting_attr = "endpoints";
    }
    if (v == NULL && s->endpoint != NULL && *s->endpoint) {
        v = s->endpoint;
        source = awsauth_printf("%s endpoint", r->prefix);
        setting_attr = "endpoint";
    }
    if (v == NULL && use_configured) {
        const char *services = config_get(r, out->profile, "services");
        if (services != NULL) {
            char *section = awsauth_printf("services %s", services);
            char *key = awsauth_printf("%s.endpoint_url", info->config_id);
            v = aws_ini_get(&r->config, section, key);
            if (v != NULL && *v)
                source = awsauth_printf("[%s] of %s", section, r->config_path);
            else
                v = NULL;
            free(section);
            free(key);
        }
        if (v == NULL && (v = config_get(r, out->profile, "endpoint_url")) != NULL)
            source = awsauth_printf("endpoint_url of profile \"%s\" in %s", out->profile,
                                    r->config_path);
    }
    if (v == NULL) {
        if (info->global_endpoint != NULL)
            out->endpoint[svc] = awsauth_strdup(info->global_endpoint);
        else
            out->endpoint[svc] =
                awsauth_printf("https://%s.%s.amazonaws.com", info->host_prefix, out->region);
        out->endpoint_source[svc] = awsauth_strdup("the public endpoint");
        return 0;
    }
    if (!url_valid(v)) {
        *attr = setting_attr;
        *err = awsauth_printf("endpoint \"%s\" (from %s) is not an http:// or https:// URL", v,
                              source);
        free(source);
        return INFRA_EINVALID;
    }
    out->endpoint[svc] = strip_slash(v);
    out->endpoint_source[svc] = source;
    return 0;
}

int aws_profile_resolve(const aws_profile_settings *settings, aws_getenv_fn getenv_fn, void *ud,
                        aws_profile *out, char **err, const char **attr)
{
    resolver r = {getenv_fn, ud, {0}, {0}, NULL, NULL, NULL, NULL, NULL};
    aws_profile_settings none = {0};
    const aws_profile_settings *s = settings ? settings : &none;
    int error = 0;

    r.prefix = s->setting_prefix ? s->setting_prefix : "setting";
    r.profile_source = awsauth_printf("%s profile", r.prefix);
    r.region_source = awsauth_printf("%s region", r.prefix);

    memset(out, 0, sizeof(*out));
    *err = NULL;
    *attr = "";
    r.creds_path = default_path(&r, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    r.config_path = default_path(&r, "AWS_CONFIG_FILE", "config");
    if (aws_ini_load(r.creds_path, &r.creds) == INFRA_EINVALID ||
        aws_ini_load(r.config_path, &r.config) == INFRA_EINVALID) {
        *err = awsauth_printf("cannot read %s or %s", r.creds_path, r.config_path);
        error = INFRA_EINVALID;
        goto done;
    }
    const char *profile = s->profile;
    if (profile == NULL || *profile == '\0')
        profile = env(&r, "AWS_PROFILE");
    if (profile == NULL)
        profile = env(&r, "AWS_DEFAULT_PROFILE");
    out->profile = awsauth_strdup(profile ? profile : "default");

    if ((error = resolve_credentials(&r, s, out, err, attr)) < 0 ||
        (error = resolve_region(&r, s, out, err, attr)) < 0)
        goto done;
    for (size_t svc = 0; svc < s->nservices && svc < AWS_PROFILE_MAX_SERVICES; svc++)
        if ((error = resolve_endpoint(&r, s, svc, out, err, attr)) < 0)
            goto done;
done:
    if (error < 0)
        aws_profile_free(out);
    aws_ini_free(&r.creds);
    aws_ini_free(&r.config);
    free(r.creds_path);
    free(r.config_path);
    free(r.profile_source);
    free(r.region_source);
    return error;
}

void aws_profile_free(aws_profile *c)
{
    if (c == NULL)
        return;
    free(c->region);
    free(c->region_source);
    free(c->profile);
    free(c->access_key_id);
    aws_free_secret_copy(c->secret_key);
    aws_free_secret_copy(c->session_token);
    free(c->credentials_source);
    for (int i = 0; i < AWS_PROFILE_MAX_SERVICES; i++) {
        free(c->endpoint[i]);
        free(c->endpoint_source[i]);
    }
    memset(c, 0, sizeof(*c));
}
