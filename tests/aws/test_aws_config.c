/* Credentials, region and endpoints as the AWS CLI finds them, and the
 * INI reader under them. The environment is a table the test controls;
 * files live in a temporary directory. */
#define _GNU_SOURCE
#include "aws_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws_config.h"

typedef struct env {
    const char *names[16];
    const char *values[16];
    int n;
} env;

static const char *env_get(void *ud, const char *name)
{
    env *e = ud;
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    return NULL;
}

static void env_set(env *e, const char *name, const char *value)
{
    e->names[e->n] = name;
    e->values[e->n] = value;
    e->n++;
}

static char dir[128];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    awt_reset();
    snprintf(dir, sizeof(dir), "/tmp/aws-config-test.XXXXXX");
    assert_non_null(mkdtemp(dir));
    char aws[160];
    snprintf(aws, sizeof(aws), "%s/.aws", dir);
    return mkdir(aws, 0700);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void home_env(env *e)
{
    memset(e, 0, sizeof(*e));
    env_set(e, "HOME", dir);
}

static void test_ini_reads_sections_keys_comments_and_nested_blocks(void **state)
{
    (void)state;
    aws_ini ini;
    aws_ini_parse("# a comment\n"
                  "key_before_any_section = ignored\n"
                  "[default]\n"
                  "  AWS_Access_Key_Id = AKIA1 \r\n"
                  "aws_secret_access_key=s3cr=t\n"
                  "; another comment\n"
                  "region: eu-west-1\n"
                  "\n"
                  "[profile dev]\n"
                  "services = local\n"
                  "not a key line\n"
                  "[services local]\n"
                  "ec2 =\n"
                  "  endpoint_url = http://127.0.0.1:4566\n"
                  "elastic_load_balancing =\n"
                  "    endpoint_url = http://127.0.0.1:4567/\n"
                  "region = x\n",
                  &ini);
    assert_string_equal(aws_ini_get(&ini, "default", "aws_access_key_id"), "AKIA1");
    assert_string_equal(aws_ini_get(&ini, "default", "aws_secret_access_key"), "s3cr=t");
    assert_string_equal(aws_ini_get(&ini, "default", "region"), "eu-west-1");
    assert_string_equal(aws_ini_get(&ini, "profile dev", "services"), "local");
    assert_string_equal(aws_ini_get(&ini, "services local", "ec2.endpoint_url"),
                        "http://127.0.0.1:4566");
    assert_string_equal(aws_ini_get(&ini, "services local", "elastic_load_balancing.endpoint_url"),
                        "http://127.0.0.1:4567/");
    /* A key at the left margin ends the nested block. */
    assert_string_equal(aws_ini_get(&ini, "services local", "region"), "x");
    assert_null(aws_ini_get(&ini, "default", "key_before_any_section"));
    assert_null(aws_ini_get(&ini, "profile dev", "not a key line"));
    assert_true(aws_ini_has_section(&ini, "profile dev"));
    assert_false(aws_ini_has_section(&ini, "profile other"));
    aws_ini_free(&ini);

    aws_ini empty;
    aws_ini_parse("", &empty);
    assert_int_equal(empty.n, 0);
    aws_ini_free(&empty);
}

static void test_environment_keys_win_over_the_default_profile(void **state)
{
    (void)state;
    write_file(".aws/credentials", "[default]\naws_access_key_id = AKIAFILE\n"
                                   "aws_secret_access_key = filesecret\n");
    write_file(".aws/config", "[default]\nregion = eu-central-1\n");
    env e;
    home_env(&e);
    env_set(&e, "AWS_ACCESS_KEY_ID", "AKIAENV");
    env_set(&e, "AWS_SECRET_ACCESS_KEY", "envsecret");
    env_set(&e, "AWS_SESSION_TOKEN", "envtoken");
    aws_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(aws_config_resolve(NULL, env_get, &e, &c, &err, &attr), 0);
    assert_string_equal(c.access_key_id, "AKIAENV");
    assert_string_equal(c.secret_key, "envsecret");
    assert_string_equal(c.session_token, "envtoken");
    assert_string_equal(c.credentials_source, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
    assert_string_equal(c.region, "eu-central-1");
    assert_string_equal(c.region_source, "the config file");
    assert_string_equal(c.endpoint[AWS_EC2], "https://ec2.eu-central-1.amazonaws.com");
    assert_string_equal(c.endpoint[AWS_ELB],
                        "https://elasticloadbalancing.eu-central-1.amazonaws.com");
    assert_string_equal(c.endpoint[AWS_ASG], "https://autoscaling.eu-central-1.amazonaws.com");
    assert_string_equal(c.endpoint[AWS_R53], "https://route53.amazonaws.com");
    aws_config_free(&c);
}

static void test_profile_setting_wins_over_environment_keys(void **state)
{
    (void)state;
    write_file(".aws/credentials", "[default]\naws_access_key_id = AKIADEF\n"
                                   "aws_secret_access_key = d\n"
                                   "[ops]\naws_access_key_id = AKIAOPS\n"
                                   "aws_secret_access_key = o\naws_session_token = t\n");
    write_file(".aws/config", "[profile ops]\nregion = ap-south-1\n");
    env e;
    home_env(&e);
    env_set(&e, "AWS_ACCESS_KEY_ID", "AKIAENV");
    env_set(&e, "AWS_SECRET_ACCESS_KEY", "envsecret");
    aws_config_settings s = {.profile = "ops"};
    aws_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(aws_config_resolve(&s, env_get, &e, &c, &err, &attr), 0);
    assert_string_equal(c.access_key_id, "AKIAOPS");
    assert_string_equal(c.session_token, "t");
    assert_string_equal(c.region, "ap-south-1");
    assert_non_null(strstr(c.credentials_source, "profile \"ops\" in "));
    aws_config_free(&c);
}

static void test_aws_profile_selects_a_profile_and_config_file_credentials_count(void **state)
{
    (void)state;
    write_file(".aws/credentials", "[default]\naws_access_key_id = AKIADEF\n"
                                   "aws_secret_access_key = d\n");
    write_file(".aws/config", "[profile cfgonly]\naws_access_key_id = AKIACFG\n"
                              "aws_secret_access_key = c\nregion = sa-east-1\n");
    env e;
    home_env(&e);
    env_set(&e, "AWS_PROFILE", "cfgonly");
    aws_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(aws_config_resolve(NULL, env_get, &e, &c, &err, &attr), 0);
    assert_string_equal(c.access_key_id, "AKIACFG");
    assert_string_equal(c.region, "sa-east-1");
    aws_config_free(&c);

    /* A profile in neither file is an error naming both files. */
    home_env(&e);
    env_set(&e, "AWS_PROFILE", "missing");
    assert_int_equal(aws_config_resolve(NULL, env_get, &e, &c, &err, &attr), INFRA_EAUTH);
    assert_non_null(strstr(err, "profile \"missing\""));
    assert_non_null(strstr(err, "/.aws/credentials"));
    free(err);
}

static void test_region_precedence_setting_then_aws_region_then_default_region(void **state)
{
    (void)state;
    write_file(".aws/credentials", "[default]\naws_access_key_id = A\naws_secret_access_key = s\n");
    write_file(".aws/config", "[default]\nregion = from-file-1\n");
    env e;
    aws_config c;
    char *err = NULL;
    const char *attr = NULL;

    home_env(&e);
    env_set(&e, "AWS_REGION", "us-west-2");
    env_set(&e, "AWS_DEFAULT_REGION", "us-west-1");
    aws_config_settings s = {.region = "eu-north-1"};
    assert_int_equal(aws_config_resolve(&s, env_get, &e, &c, &err, &attr), 0);
    assert_string_equal(c.region, "eu-north-1");
    aws_config_free(&c);
    assert_int_equal(aws_config_resolve(NULL, env_get, &e, &c, &err, &attr), 0);
    assert_string_equal(c.region, "us-west-2");
    aws_config_free(&c);
    home_env(&e);
    env_set(&e, "AWS_DEFAULT_REGION", "us-west-1");
    assert_int_equal(aws_config_resolve(NULL, env_get, &e, &c, &err, &attr), 0);
    assert_string_equal(c.region, "us-west-1");
    assert_string_equal(c.region_source, "AWS_DEFAULT_REGION");
    aws_config_free(&c);

    write_file(".aws/config", "");
    home_env(&e);
    assert_int_equal(aws_config_resolve(NULL, env_get, &e, &c, &err, &attr), INFRA_EINVALID);
    assert_string_equal(attr, "region");
    assert_non_null(strstr(err, "no region"));
    free(err);
}

static void test_endpoint_precedence_per_service(void **state)
{
    (void)state;
    write_file(".aws/credentials", "[default]\naws_access_key_id = A\naws_secret_access_key = s\n");
    write_file(".aws/config",
               "[default]\nregion = us-east-1\nservices = mine\n"
               "endpoint_url = http://profile.test:1\n"
               "[services mine]\nauto_scaling =\n  endpoint_url = http://svc.test:2\n");
    env e;
    home_env(&e);
    env_set(&e, "AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:9001/");
    env_set(&e, "AWS_ENDPOINT_URL", "http://127.0.0.1:9000");
    aws_config_settings s = {0};
    s.endpoints[AWS_ELB] = "http://setting-elb.test:3";
    s.endpoint = "http://setting-all.test:4";
    aws_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(aws_config_resolve(&s, env_get, &e, &c, &err, &attr), 0);
    assert_string_equal(c.endpoint[AWS_EC2], "http://127.0.0.1:9001"); /* service variable */
    assert_string_equal(c.endpoint[AWS_ELB], "http://127.0.0.1:9000"); /* global variable */
    aws_config_free(&c);

    /* Without the environment: settings, then the config file. */
    home_env(&e);
    assert_int_equal(aws_config_resolve(&s, env_get, &e, &c, &err, &attr), 0);
    assert_string_equal(c.endpoint[AWS_ELB], "http://setting-elb.test:3");
    assert_string_equal(c.endpoint[AWS_EC2], "http://setting-all.test:4");
    aws_config_free(&c);
    assert_int_equal(aws_config_resolve(NULL, env_get, &e, &c, &err, &attr), 0);
    assert_string_equal(c.endpoint[AWS_ASG], "http://svc.test:2");
    assert_string_equal(c.endpoint[AWS_EC2], "http://profile.test:1");
    aws_config_free(&c);

    /* AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns off the variables and the file. */
    env_set(&e, "AWS_ENDPOINT_URL", "http://127.0.0.1:9000");
    env_set(&e, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true");
    assert_int_equal(aws_config_resolve(NULL, env_get, &e, &c, &err, &attr), 0);
    assert_string_equal(c.endpoint[AWS_EC2], "https://ec2.us-east-1.amazonaws.com");
    assert_string_equal(c.endpoint[AWS_ASG], "https://autoscaling.us-east-1.amazonaws.com");
    aws_config_free(&c);

    s.endpoint = "ftp://nope";
    home_env(&e);
    assert_int_equal(aws_config_resolve(&s, env_get, &e, &c, &err, &attr), INFRA_EINVALID);
    assert_string_equal(attr, "endpoint");
    free(err);
}

static void test_missing_credentials_say_what_to_set_without_any_secret(void **state)
{
    (void)state;
    write_file(".aws/credentials", "");
    write_file(".aws/config", "[default]\nregion = us-east-1\n");
    env e;
    home_env(&e);
    aws_config c;
    char *err = NULL;
    const char *attr = NULL;
    assert_int_equal(aws_config_resolve(NULL, env_get, &e, &c, &err, &attr), INFRA_EAUTH);
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
    free(err);

    env_set(&e, "AWS_SECRET_ACCESS_KEY", "topsecretvalue");
    assert_int_equal(aws_config_resolve(NULL, env_get, &e, &c, &err, &attr), INFRA_EAUTH);
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID is not"));
    assert_null(strstr(err, "topsecretvalue"));
    free(err);

    /* Files named by the variables. */
    write_file("creds", "[default]\naws_access_key_id = AKIAF\naws_secret_access_key = f\n");
    char path[256];
    snprintf(path, sizeof(path), "%s/creds", dir);
    home_env(&e);
    env_set(&e, "AWS_SHARED_CREDENTIALS_FILE", path);
    assert_int_equal(aws_config_resolve(NULL, env_get, &e, &c, &err, &attr), 0);
    assert_string_equal(c.access_key_id, "AKIAF");
    aws_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ini_reads_sections_keys_comments_and_nested_blocks),
        cmocka_unit_test(test_environment_keys_win_over_the_default_profile),
        cmocka_unit_test(test_profile_setting_wins_over_environment_keys),
        cmocka_unit_test(test_aws_profile_selects_a_profile_and_config_file_credentials_count),
        cmocka_unit_test(test_region_precedence_setting_then_aws_region_then_default_region),
        cmocka_unit_test(test_endpoint_precedence_per_service),
        cmocka_unit_test(test_missing_credentials_say_what_to_set_without_any_secret),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
