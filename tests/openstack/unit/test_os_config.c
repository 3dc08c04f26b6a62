/* Where credentials, region and endpoints come from: clouds.yaml and
 * secure.yaml (search path, merge, anchors, profiles), the OS_* variables of
 * an openrc file, the provider settings, and what each error says. */
#define _GNU_SOURCE
#include "ost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static const char *envv[32];

static const char *fake_getenv(void *ud, const char *name)
{
    (void)ud;
    size_t n = strlen(name);
    for (size_t i = 0; envv[i] != NULL; i++)
        if (strncmp(envv[i], name, n) == 0 && envv[i][n] == '=')
            return envv[i] + n + 1;
    return NULL;
}

static void set_env(const char *const *v)
{
    size_t i = 0;
    for (; v != NULL && v[i] != NULL; i++)
        envv[i] = v[i];
    envv[i] = NULL;
}

static char *write_file(const char *name, const char *text)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "mkdir -p '%s'", path) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    *slash = '/';
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *clouds_yaml = "# from the OVH manager\n"
                                 "clouds:\n"
                                 "  ovh:\n"
                                 "    auth:\n"
                                 "      auth_url: https://auth.cloud.ovh.net/v3/\n"
                                 "      username: user-abc\n"
                                 "      project_name: \"1234567890\"\n"
                                 "      project_id: 0123456789abcdef0123456789abcdef\n"
                                 "      user_domain_name: Default\n"
                                 "      project_domain_name: Default\n"
                                 "    region_name: GRA7\n"
                                 "    interface: public\n"
                                 "    identity_api_version: 3\n"
                                 "  app:\n"
                                 "    auth_type: v3applicationcredential\n"
                                 "    auth:\n"
                                 "      auth_url: https://auth.cloud.ovh.net/v3\n"
                                 "      application_credential_id: 21ac\n"
                                 "    regions: [SBG5, GRA7]\n"
                                 "  nopass:\n"
                                 "    auth:\n"
                                 "      auth_url: https://auth.cloud.ovh.net/v3\n"
                                 "      username: user-x\n"
                                 "      project_id: p1\n"
                                 "    region_name: DE1\n";

static const char *secure_yaml = "clouds:\n"
                                 "  ovh:\n"
                                 "    auth:\n"
                                 "      password: pa55-from-secure\n"
                                 "  app:\n"
                                 "    auth:\n"
                                 "      application_credential_secret: app-secret\n";

static int setup(void **state)
{
    (void)state;
    ost_reset();
    snprintf(dir, sizeof(dir), "/tmp/infra-os-config.XXXXXX");
    assert_non_null(mkdtemp(dir));
    set_env(NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    return 0;
}

static int resolve(const os_settings *s, os_config *c, char **err, const char **attr)
{
    return os_config_resolve(s, fake_getenv, NULL, c, err, attr);
}

static void test_cloud_from_os_cloud_merges_secure_yaml(void **state)
{
    (void)state;
    char *clouds = write_file("clouds.yaml", clouds_yaml);
    char *secure = write_file("secure.yaml", secure_yaml);
    char *v1 = NULL, *v2 = NULL;
    assert_true(asprintf(&v1, "OS_CLIENT_CONFIG_FILE=%s", clouds) > 0);
    assert_true(asprintf(&v2, "OS_CLIENT_SECURE_FILE=%s", secure) > 0);
    const char *env[] = {"OS_CLOUD=ovh", v1, v2, NULL};
    set_env(env);
    os_settings s = {0};
    os_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(resolve(&s, &c, &err, &attr), 0);
    assert_string_equal(c.auth_url, "https://auth.cloud.ovh.net/v3");
    assert_int_equal(c.auth_kind, OS_AUTH_PASSWORD);
    assert_string_equal(c.username, "user-abc");
    assert_string_equal(c.secret, "pa55-from-secure");
    assert_string_equal(c.project_id, "0123456789abcdef0123456789abcdef");
    assert_string_equal(c.project_name, "1234567890");
    assert_string_equal(c.region, "GRA7");
    assert_string_equal(c.interface, "public");
    char *want = NULL;
    assert_true(asprintf(&want, "cloud \"ovh\" of %s and %s", clouds, secure) > 0);
    assert_string_equal(c.source, want);
    free(want);
    os_config_free(&c);
    free(v1);
    free(v2);
    free(clouds);
    free(secure);
}

static void test_os_variables_override_the_cloud_and_settings_override_both(void **state)
{
    (void)state;
    char *clouds = write_file("clouds.yaml", clouds_yaml);
    free(write_file("secure.yaml", secure_yaml));
    char *v1 = NULL, *v2 = NULL;
    assert_true(asprintf(&v1, "OS_CLIENT_CONFIG_FILE=%s", clouds) > 0);
    assert_true(asprintf(&v2, "OS_CLIENT_SECURE_FILE=%s/secure.yaml", dir) > 0);
    const char *env[] = {v1, v2, "OS_REGION_NAME=SBG5", "OS_INTERFACE=internalURL", NULL};
    set_env(env);
    os_settings s = {.cloud = "ovh"};
    os_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(resolve(&s, &c, &err, &attr), 0);
    assert_string_equal(c.region, "SBG5");
    assert_string_equal(c.interface, "internal");
    assert_non_null(strstr(c.source, ", with OS_REGION_NAME, OS_INTERFACE"));
    os_config_free(&c);
    s.region = "DE1";
    s.interface = "admin";
    assert_int_equal(resolve(&s, &c, &err, &attr), 0);
    assert_string_equal(c.region, "DE1");
    assert_string_equal(c.interface, "admin");
    os_config_free(&c);
    free(v1);
    free(v2);
    free(clouds);
}

static void test_openrc_alone_as_ovh_hands_it_out(void **state)
{
    (void)state;
    const char *env[] = {"OS_AUTH_URL=https://auth.cloud.ovh.net/v3",
                         "OS_IDENTITY_API_VERSION=3",
                         "OS_USER_DOMAIN_NAME=Default",
                         "OS_PROJECT_DOMAIN_NAME=Default",
                         "OS_TENANT_ID=0123456789abcdef0123456789abcdef",
                         "OS_TENANT_NAME=1234567890",
                         "OS_USERNAME=user-abc",
                         "OS_PASSWORD=from-the-prompt",
                         "OS_REGION_NAME=GRA7",
                         "HOME=/nonexistent",
                         NULL};
    set_env(env);
    os_settings s = {0};
    os_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(resolve(&s, &c, &err, &attr), 0);
    assert_string_equal(c.project_id, "0123456789abcdef0123456789abcdef");
    assert_string_equal(c.project_name, "1234567890");
    assert_string_equal(c.secret, "from-the-prompt");
    assert_string_equal(c.user_domain_name, "Default");
    assert_string_equal(c.region, "GRA7");
    assert_string_equal(c.source, "the OS_* variables");
    os_config_free(&c);
}

static void test_application_credential_from_its_auth_type(void **state)
{
    (void)state;
    char *clouds = write_file("clouds.yaml", clouds_yaml);
    free(write_file("secure.yaml", secure_yaml));
    char *v1 = NULL, *v2 = NULL;
    assert_true(asprintf(&v1, "OS_CLIENT_CONFIG_FILE=%s", clouds) > 0);
    assert_true(asprintf(&v2, "OS_CLIENT_SECURE_FILE=%s/secure.yaml", dir) > 0);
    const char *env[] = {v1, v2, NULL};
    set_env(env);
    os_settings s = {.cloud = "app"};
    os_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(resolve(&s, &c, &err, &attr), 0);
    assert_int_equal(c.auth_kind, OS_AUTH_APPCRED);
    assert_string_equal(c.app_cred_id, "21ac");
    assert_string_equal(c.secret, "app-secret");
    assert_string_equal(c.region, "SBG5"); /* the first of regions */
    os_config_free(&c);
    /* Without auth_type, an id and a secret (and no password) say the same. */
    const char *env2[] = {"OS_AUTH_URL=https://keystone.example/",
                          "OS_APPLICATION_CREDENTIAL_ID=abc",
                          "OS_APPLICATION_CREDENTIAL_SECRET=xyz", "OS_REGION_NAME=GRA7", NULL};
    set_env(env2);
    assert_int_equal(resolve(&(os_settings){0}, &c, &err, &attr), 0);
    assert_int_equal(c.auth_kind, OS_AUTH_APPCRED);
    assert_string_equal(c.auth_url, "https://keystone.example/v3");
    os_config_free(&c);
    free(v1);
    free(v2);
    free(clouds);
}

static void test_missing_password_names_file_line_and_key_not_a_secret(void **state)
{
    (void)state;
    char *clouds = write_file("clouds.yaml", clouds_yaml);
    char *v1 = NULL;
    assert_true(asprintf(&v1, "OS_CLIENT_CONFIG_FILE=%s", clouds) > 0);
    const char *env[] = {v1, "HOME=/nonexistent", NULL};
    set_env(env);
    os_settings s = {.cloud = "nopass"};
    os_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(resolve(&s, &c, &err, &attr), INFRA_EAUTH);
    char *want = NULL;
    assert_true(asprintf(&want, "%s:20: clouds.nopass: has no password (auth.password in "
                                "clouds.yaml or secure.yaml, or OS_PASSWORD)",
                         clouds) > 0);
    assert_string_equal(err, want);
    free(want);
    free(err);
    /* An unknown cloud names the ones there are. */
    s.cloud = "nosuch";
    assert_int_equal(resolve(&s, &c, &err, &attr), INFRA_EINVALID);
    assert_non_null(strstr(err, "no cloud \"nosuch\" under clouds: (it has ovh, app, nopass)"));
    assert_string_equal(attr, "cloud");
    free(err);
    free(v1);
    free(clouds);
}

static void test_search_path_and_yaml_errors(void **state)
{
    (void)state;
    /* ~/.config/openstack/clouds.yaml when nothing closer names one. */
    free(write_file("home/.config/openstack/clouds.yaml",
                    "base: &b {auth_url: \"https://k.example/v2.0\", username: u,\n"
                    "          password: p, project_name: x}\n"
                    "clouds:\n  c1:\n    auth: *b\n    region_name: R1\n"
                    "  c2:\n    <<: {region_name: R2}\n    auth:\n      <<: *b\n"
                    "      username: other\n"));
    char *home = NULL;
    assert_true(asprintf(&home, "HOME=%s/home", dir) > 0);
    const char *env[] = {home, NULL};
    set_env(env);
    os_config c;
    char *err = NULL;
    const char *attr = NULL;
    os_settings s = {.cloud = "c2"};
    assert_int_equal(resolve(&s, &c, &err, &attr), 0);
    assert_string_equal(c.region, "R2");
    assert_string_equal(c.username, "other");
    assert_string_equal(c.auth_url, "https://k.example/v3"); /* v2.0 is not spoken */
    os_config_free(&c);
    /* A YAML mistake names the file and the line. */
    char *bad = write_file("bad.yaml", "clouds:\n  c1:\n    auth: {a: 1\n    x: y\n");
    char *v1 = NULL;
    assert_true(asprintf(&v1, "OS_CLIENT_CONFIG_FILE=%s", bad) > 0);
    const char *env2[] = {v1, NULL};
    set_env(env2);
    s.cloud = "c1";
    assert_int_equal(resolve(&s, &c, &err, &attr), INFRA_EINVALID);
    assert_non_null(strstr(err, bad));
    assert_non_null(strstr(err, ":4: "));
    free(err);
    free(v1);
    free(bad);
    free(home);
}

static void test_profile_ovh_gives_the_keystone_url(void **state)
{
    (void)state;
    char *clouds = write_file("clouds.yaml", "clouds:\n  o:\n    profile: ovh\n    auth:\n"
                                             "      username: u\n      password: p\n"
                                             "      project_id: x\n    region_name: BHS5\n"
                                             "    verify: false\n"
                                             "    network_endpoint_override: "
                                             "https://private.example:9696/\n");
    char *v1 = NULL;
    assert_true(asprintf(&v1, "OS_CLIENT_CONFIG_FILE=%s", clouds) > 0);
    const char *env[] = {v1, NULL};
    set_env(env);
    os_settings s = {.cloud = "o", .endpoints = {[OS_DNS] = "https://dns.example"}};
    os_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(resolve(&s, &c, &err, &attr), 0);
    assert_string_equal(c.auth_url, "https://auth.cloud.ovh.net/v3");
    assert_string_equal(c.endpoint[OS_NETWORK], "https://private.example:9696/");
    assert_string_equal(c.endpoint[OS_DNS], "https://dns.example");
    assert_null(c.endpoint[OS_COMPUTE]);
    assert_non_null(c.warnings[0]); /* verify: false is not honoured: said so */
    assert_non_null(strstr(c.warnings[0], "cacert"));
    os_config_free(&c);
    free(v1);
    free(clouds);
}

static void test_no_region_and_bad_interface_are_errors(void **state)
{
    (void)state;
    const char *env[] = {"OS_AUTH_URL=https://k.example/v3", "OS_USERNAME=u", "OS_PASSWORD=p",
                         "OS_PROJECT_ID=x", NULL};
    set_env(env);
    os_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(resolve(&(os_settings){0}, &c, &err, &attr), INFRA_EINVALID);
    assert_string_equal(attr, "region");
    assert_non_null(strstr(err, "no region"));
    free(err);
    os_settings s = {.region = "GRA7", .interface = "private"};
    assert_int_equal(resolve(&s, &c, &err, &attr), INFRA_EINVALID);
    assert_string_equal(attr, "interface");
    free(err);
    const char *env2[] = {"OS_AUTH_URL=https://k.example/v3", "OS_USERNAME=u", "OS_PASSWORD=p",
                          "OS_PROJECT_ID=x", "OS_AUTH_TYPE=v3totp", NULL};
    set_env(env2);
    assert_int_equal(resolve(&(os_settings){.region = "R"}, &c, &err, &attr), INFRA_EINVALID);
    assert_non_null(strstr(err, "OS_AUTH_TYPE \"v3totp\" is not supported"));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cloud_from_os_cloud_merges_secure_yaml, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_os_variables_override_the_cloud_and_settings_override_both, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openrc_alone_as_ovh_hands_it_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_application_credential_from_its_auth_type, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_missing_password_names_file_line_and_key_not_a_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_path_and_yaml_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_ovh_gives_the_keystone_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_region_and_bad_interface_are_errors, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
