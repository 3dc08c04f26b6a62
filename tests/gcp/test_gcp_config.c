/* Where credentials, project, region, zone and endpoints come from, in
 * gcloud's order, with a scripted environment and file system; key files
 * of both types read into wrapped secrets; and the access token itself:
 * the JWT bearer grant and the refresh-token grant on the wire, the
 * metadata server, caching, refresh before expiry and after a 401, and
 * refusals that name where the credentials came from, never a secret. */
#include "gcp_test.h"
#include "gcp_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VARS 16

typedef struct fake_env {
    const char *names[MAX_VARS];
    const char *values[MAX_VARS];
    const char *files[MAX_VARS];
} fake_env;

static const char *env_get(void *ud, const char *name)
{
    fake_env *e = ud;
    for (int i = 0; i < MAX_VARS && e->names[i]; i++)
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    return NULL;
}

static int env_exists(void *ud, const char *path)
{
    fake_env *e = ud;
    for (int i = 0; i < MAX_VARS && e->files[i]; i++)
        if (strcmp(e->files[i], path) == 0)
            return 1;
    return 0;
}

static void set(fake_env *e, const char *name, const char *value)
{
    int i = 0;
    while (e->names[i])
        i++;
    e->names[i] = name;
    e->values[i] = value;
}

static void file(fake_env *e, const char *path)
{
    int i = 0;
    while (e->files[i])
        i++;
    e->files[i] = path;
}

static int resolve(fake_env *e, const gcp_config_settings *s, int on_gce, gcp_config *out,
                   char **err, const char **attr)
{
    gcp_config_env env = {env_get, env_exists, on_gce, e};
    return gcp_config_resolve(s, &env, out, err, attr);
}

static void test_credentials_are_found_in_gcloud_order(void **state)
{
    (void)state;
    gct_reset();
    fake_env e = {0};
    gcp_config_settings s = {.region = "europe-west1"};
    gcp_config c;
    char *err = NULL;
    const char *attr = NULL;

    /* Nothing at all: an error naming every way. */
    set(&e, "HOME", "/home/me");
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), INFRA_EINVALID);
    assert_non_null(strstr(err, "GOOGLE_APPLICATION_CREDENTIALS"));
    assert_non_null(strstr(err, "/home/me/.config/gcloud/application_default_credentials.json"));
    assert_string_equal(attr, "credentials_file");
    free(err);

    /* On a Compute Engine instance: its metadata server, unless NO_GCE_CHECK. */
    assert_int_equal(resolve(&e, &s, 1, &c, &err, &attr), 0);
    assert_null(c.credentials_path);
    assert_string_equal(c.metadata_host, "metadata.google.internal");
    gcp_config_free(&c);
    fake_env quiet = e;
    set(&quiet, "NO_GCE_CHECK", "true");
    assert_int_equal(resolve(&quiet, &s, 1, &c, &err, &attr), INFRA_EINVALID);
    free(err);
    set(&e, "GCE_METADATA_HOST", "127.0.0.1:8080");
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.metadata_host, "127.0.0.1:8080");
    gcp_config_free(&c);

    /* gcloud's application default credentials win over the metadata server. */
    file(&e, "/home/me/.config/gcloud/application_default_credentials.json");
    assert_int_equal(resolve(&e, &s, 1, &c, &err, &attr), 0);
    assert_string_equal(c.credentials_path,
                        "/home/me/.config/gcloud/application_default_credentials.json");
    gcp_config_free(&c);
    set(&e, "CLOUDSDK_CONFIG", "/etc/gcloud");
    file(&e, "/etc/gcloud/application_default_credentials.json");
    assert_int_equal(resolve(&e, &s, 1, &c, &err, &attr), 0);
    assert_string_equal(c.credentials_path, "/etc/gcloud/application_default_credentials.json");
    gcp_config_free(&c);

    /* GOOGLE_APPLICATION_CREDENTIALS over those; the setting over it. */
    set(&e, "GOOGLE_APPLICATION_CREDENTIALS", "/keys/env.json");
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), INFRA_EINVALID);
    assert_non_null(strstr(err, "/keys/env.json"));
    free(err);
    file(&e, "/keys/env.json");
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.credentials_path, "/keys/env.json");
    assert_string_equal(c.credentials_source, "GOOGLE_APPLICATION_CREDENTIALS (/keys/env.json)");
    gcp_config_free(&c);
    file(&e, "/keys/setting.json");
    s.credentials_file = "/keys/setting.json";
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.credentials_path, "/keys/setting.json");
    gcp_config_free(&c);
}

static void test_project_region_and_zone_defaults(void **state)
{
    (void)state;
    gct_reset();
    fake_env e = {0};
    gcp_config_settings s = {0};
    gcp_config c;
    char *err = NULL;
    const char *attr = NULL;
    set(&e, "GCE_METADATA_HOST", "127.0.0.1:1");

    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), INFRA_EINVALID);
    assert_string_equal(attr, "region");
    free(err);
    set(&e, "CLOUDSDK_COMPUTE_ZONE", "us-central1-f");
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.region, "us-central1");
    assert_string_equal(c.zone, "us-central1-f");
    assert_null(c.project);
    gcp_config_free(&c);
    /* A region set elsewhere leaves a zone of another region out. */
    set(&e, "CLOUDSDK_COMPUTE_REGION", "europe-west1");
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.region, "europe-west1");
    assert_null(c.zone);
    gcp_config_free(&c);
    s.zone = "us-central1-a";
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), INFRA_EINVALID);
    assert_string_equal(attr, "zone");
    free(err);
    s.zone = "europe-west1-c";
    s.region = "europe-west1";
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.zone, "europe-west1-c");
    gcp_config_free(&c);

    set(&e, "CLOUDSDK_CORE_PROJECT", "from-gcloud");
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.project, "from-gcloud");
    gcp_config_free(&c);
    set(&e, "GOOGLE_CLOUD_PROJECT", "from-env");
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.project, "from-env");
    gcp_config_free(&c);
    s.project = "from-setting";
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.project, "from-setting");
    gcp_config_free(&c);
}

static void test_endpoints_follow_gcloud_overrides_then_settings(void **state)
{
    (void)state;
    gct_reset();
    fake_env e = {0};
    gcp_config_settings s = {.region = "europe-west1"};
    gcp_config c;
    char *err = NULL;
    const char *attr = NULL;
    set(&e, "GCE_METADATA_HOST", "127.0.0.1:1");

    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.endpoint[GCP_COMPUTE], "https://compute.googleapis.com/compute/v1/");
    assert_string_equal(c.endpoint[GCP_DNS], "https://dns.googleapis.com/dns/v1/");
    assert_null(c.token_url);
    gcp_config_free(&c);
    s.endpoint = "http://127.0.0.1:9";
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.endpoint[GCP_COMPUTE], "http://127.0.0.1:9/compute/v1/");
    assert_string_equal(c.endpoint[GCP_DNS], "http://127.0.0.1:9/dns/v1/");
    gcp_config_free(&c);
    s.endpoints_compute = "http://private:1/compute/v1";
    s.endpoints_token = "http://private:1/token";
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.endpoint[GCP_COMPUTE], "http://private:1/compute/v1/");
    assert_string_equal(c.token_url, "http://private:1/token");
    gcp_config_free(&c);
    set(&e, "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", "http://override:2/compute/v1/");
    set(&e, "CLOUDSDK_API_ENDPOINT_OVERRIDES_DNS", "http://override:2/dns/v1/");
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), 0);
    assert_string_equal(c.endpoint[GCP_COMPUTE], "http://override:2/compute/v1/");
    assert_string_equal(c.endpoint[GCP_DNS], "http://override:2/dns/v1/");
    assert_string_equal(c.endpoint_source[GCP_DNS], "CLOUDSDK_API_ENDPOINT_OVERRIDES_DNS");
    gcp_config_free(&c);
    s.endpoints_token = NULL;
    set(&e, "CLOUDSDK_AUTH_TOKEN_HOST", "ftp://nope");
    assert_int_equal(resolve(&e, &s, 0, &c, &err, &attr), INFRA_EINVALID);
    assert_string_equal(attr, "endpoints");
    free(err);
}

static void test_key_files_of_both_types_are_read_into_secrets(void **state)
{
    (void)state;
    gct_reset();
    gcp_credentials c;
    char *why = NULL;
    const char *sa = "{\"type\": \"service_account\", \"project_id\": \"p1\", \"private_key_id\": "
                     "\"k1\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END "
                     "PRIVATE KEY-----\\n\", \"client_email\": \"sa@p1.iam.gserviceaccount.com\", "
                     "\"token_uri\": \"https://oauth2.googleapis.com/token\"}";
    assert_int_equal(gcp_credentials_parse(sa, strlen(sa), "key.json", &c, &why), 0);
    assert_int_equal(c.kind, GCP_CRED_SERVICE_ACCOUNT);
    assert_string_equal(c.client_email, "sa@p1.iam.gserviceaccount.com");
    assert_string_equal(c.project_id, "p1");
    assert_string_equal(c.private_key_id, "k1");
    assert_non_null(strstr(pu_host->secrets->value(c.private_key), "BEGIN PRIVATE KEY"));
    gcp_credentials_clear(&c);

    const char *user = "{\"type\": \"authorized_user\", \"client_id\": \"c.apps\", "
                       "\"client_secret\": \"s3cr3t\", \"refresh_token\": \"1//rt\", "
                       "\"quota_project_id\": \"qp\"}";
    assert_int_equal(gcp_credentials_parse(user, strlen(user), "adc.json", &c, &why), 0);
    assert_int_equal(c.kind, GCP_CRED_AUTHORIZED_USER);
    assert_string_equal(pu_host->secrets->value(c.refresh_token), "1//rt");
    assert_string_equal(c.project_id, "qp");
    gcp_credentials_clear(&c);

    const char *bad[] = {"{\"type\": \"service_account\", \"client_email\": \"x@y\"}",
                         "{\"type\": \"external_account\"}", "not json"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(gcp_credentials_parse(bad[i], strlen(bad[i]), "k.json", &c, &why),
                         INFRA_EINVALID);
        assert_non_null(strstr(why, "k.json"));
        free(why);
    }
}

static void test_service_account_token_is_a_jwt_grant_cached_until_near_expiry(void **state)
{
    (void)state;
    gct_reset();
    infra_provider *p = gct_provider();
    gct_call c;
    gct_call_init(&c, "network.a", NULL);
    infra_secret *t = NULL;
    assert_int_equal(gcp_auth_token(p, &c.call, "", 0, &t), 0);
    assert_string_equal(pu_host->secrets->value(t), "ya29.test-token");
    pu_host->secrets->free(t);
    const gct_request *r = gct_last("POST http://gcp.test/token");
    assert_non_null(r);
    assert_non_null(strstr(r->body, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-"
                                    "bearer&assertion="));
    assert_string_equal(gct_header(r, "Content-Type"), "application/x-www-form-urlencoded");
    /* Cached: no second request. */
    assert_int_equal(gcp_auth_token(p, &c.call, "", 0, &t), 0);
    pu_host->secrets->free(t);
    assert_int_equal(gct_count("/token"), 1);
    /* A forced refresh (after a 401) asks again. */
    assert_int_equal(gcp_auth_token(p, &c.call, "", 1, &t), 0);
    pu_host->secrets->free(t);
    assert_int_equal(gct_count("/token"), 2);
    gct_provider_free(p);

    /* A token living 2 s is refreshed a second before it ends. */
    gct_reset();
    gct_route("POST http://gcp.test/token", 200,
              "{\"access_token\": \"short\", \"expires_in\": 2, \"token_type\": \"Bearer\"}");
    p = gct_provider();
    assert_int_equal(gcp_auth_token(p, &c.call, "", 0, &t), 0);
    pu_host->secrets->free(t);
    assert_int_equal(gcp_auth_token(p, &c.call, "", 0, &t), 0);
    pu_host->secrets->free(t);
    assert_int_equal(gct_count("/token"), 1);
    pu_host->sleep_ms(&c.call, 1100);
    assert_int_equal(gcp_auth_token(p, &c.call, "", 0, &t), 0);
    pu_host->secrets->free(t);
    assert_int_equal(gct_count("/token"), 2);
    assert_int_equal(gcp_auth_margin_ms(3600000), 300000);
    assert_int_equal(gcp_auth_margin_ms(2000), 1000);
    gct_provider_free(p);
    gct_call_clear(&c);
}

static void test_refused_credentials_name_their_source_and_no_secret(void **state)
{
    (void)state;
    gct_reset();
    gct_route("POST http://gcp.test/token", 400,
              "{\"error\": \"invalid_grant\", \"error_description\": \"Invalid JWT Signature.\"}");
    infra_provider *p = gct_provider();
    gct_call c;
    gct_call_init(&c, "network.a", NULL);
    infra_secret *t = NULL;
    assert_int_equal(gcp_auth_token(p, &c.call, "", 0, &t), INFRA_EAUTH);
    assert_non_null(strstr(c.diags, "invalid_grant: Invalid JWT Signature."));
    assert_non_null(strstr(c.diags, "GOOGLE_APPLICATION_CREDENTIALS (/test/key.json)"));
    assert_null(strstr(c.diags, "BEGIN"));
    assert_null(strstr(c.diags, "assertion"));
    /* An API call with refused credentials fails with EAUTH at once. */
    infra_json *out = NULL;
    assert_int_equal(gcp_get(p, &c.call, GCP_COMPUTE, "projects/infra-test/global/networks/a", NULL,
                             "networks.get", "", NULL, &out),
                     INFRA_EAUTH);
    assert_int_equal(gct_count("compute/v1"), 0);
    gct_call_clear(&c);
    gct_provider_free(p);
}

static void test_authorized_user_and_metadata_server_tokens(void **state)
{
    (void)state;
    gct_reset();
    gcp_credentials cr;
    memset(&cr, 0, sizeof(cr));
    cr.kind = GCP_CRED_AUTHORIZED_USER;
    cr.source = strdup("application default credentials (adc.json)");
    cr.client_id = strdup("client-1.apps.googleusercontent.com");
    cr.client_secret = pu_host->secrets->wrap("client-secret");
    cr.refresh_token = pu_host->secrets->wrap("refresh-1");
    infra_provider *p = gct_provider();
    gcp_auth_free(p->auth);
    p->auth = gcp_auth_new(&cr, "http://gcp.test/token",
                           "https://www.googleapis.com/auth/"
                           "cloud-platform");
    gct_call c;
    gct_call_init(&c, "network.a", NULL);
    infra_secret *t = NULL;
    assert_int_equal(gcp_auth_token(p, &c.call, "", 0, &t), 0);
    pu_host->secrets->free(t);
    const gct_request *r = gct_last("/token");
    assert_string_equal(r->body, "grant_type=refresh_token&client_id=client-1.apps."
                                 "googleusercontent.com&client_secret=client-secret&"
                                 "refresh_token=refresh-1");

    memset(&cr, 0, sizeof(cr));
    cr.kind = GCP_CRED_METADATA;
    cr.source = strdup("the metadata server (gcp.test)");
    cr.metadata_host = strdup("gcp.test");
    gcp_auth_free(p->auth);
    p->auth = gcp_auth_new(&cr, NULL, "https://www.googleapis.com/auth/cloud-platform");
    gct_route("GET http://gcp.test/computeMetadata/v1/instance/service-accounts/default/token", 200,
              "{\"access_token\": \"meta\", \"expires_in\": 3599, \"token_type\": "
              "\"Bearer\"}");
    assert_int_equal(gcp_auth_token(p, &c.call, "", 0, &t), 0);
    assert_string_equal(pu_host->secrets->value(t), "meta");
    pu_host->secrets->free(t);
    r = gct_last("computeMetadata");
    assert_string_equal(gct_header(r, "Metadata-Flavor"), "Google");
    gct_call_clear(&c);
    gct_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials_are_found_in_gcloud_order),
        cmocka_unit_test(test_project_region_and_zone_defaults),
        cmocka_unit_test(test_endpoints_follow_gcloud_overrides_then_settings),
        cmocka_unit_test(test_key_files_of_both_types_are_read_into_secrets),
        cmocka_unit_test(test_service_account_token_is_a_jwt_grant_cached_until_near_expiry),
        cmocka_unit_test(test_refused_credentials_name_their_source_and_no_secret),
        cmocka_unit_test(test_authorized_user_and_metadata_server_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
