/* Built images, the pure parts: the build hash (what changes it and what
 * does not), step modes, validate's diagnostics, and plan's choice
 * between the same generation and a new one. */
#include "aws_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_bake.h"
#include "aws_schema.h"

static const char *const steps_v1 =
    "[{\"upload\": \"files/a.env\", \"to\": \"/opt/a.env\", \"mode\": \"0644\","
    "  \"upload_path\": \"/src/files/a.env\", \"upload_sha256\": \"aa\"},"
    " {\"run\": \"/opt/setup.sh 1.7.6\"}]";

static void hash_of(const char *base, const char *steps, char out[65])
{
    infra_json *v = awt_json(steps);
    assert_int_equal(pu_bake_hash(base, v, out), 0);
    AJ->release(v);
}

static void test_hash_covers_base_steps_and_bytes_not_paths(void **state)
{
    (void)state;
    awt_reset();
    char h1[65], h2[65];
    hash_of("ami-01", steps_v1, h1);
    assert_int_equal(strlen(h1), 64);
    hash_of("ami-01", steps_v1, h2);
    assert_string_equal(h1, h2);
    hash_of("ami-02", steps_v1, h2);
    assert_string_not_equal(h1, h2);
    /* Another command, other bytes, another mode, another destination. */
    const char *changes[][2] = {{"1.7.6", "1.7.7"},
                                {"\"aa\"", "\"ab\""},
                                {"\"0644\"", "\"0600\""},
                                {"\"/opt/a.env\"", "\"/opt/b.env\""}};
    for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        char *steps = strdup(steps_v1);
        char *at = strstr(steps, changes[i][0]);
        assert_non_null(at);
        pu_buf b = {0};
        pu_buf_put(&b, steps, (size_t)(at - steps));
        pu_buf_puts(&b, changes[i][1]);
        pu_buf_puts(&b, at + strlen(changes[i][0]));
        char *edited = pu_buf_take(&b);
        hash_of("ami-01", edited, h2);
        assert_string_not_equal(h1, h2);
        free(edited);
        free(steps);
    }
    /* The same bytes from another place: the same image. */
    char *moved = strdup(steps_v1);
    memcpy(strstr(moved, "/src/"), "/dst/", 5);
    memcpy(strstr(moved, "files/a"), "files/b", 7);
    hash_of("ami-01", moved, h2);
    assert_string_equal(h1, h2);
    free(moved);
    /* An upload whose file was never read has no digest: no hash. */
    infra_json *unread = awt_json("[{\"upload\": \"x\", \"to\": \"/x\"}]");
    assert_int_equal(pu_bake_hash("ami-01", unread, h2), INFRA_EINVALID);
    AJ->release(unread);
}

static void test_modes_are_octal_text_or_integers(void **state)
{
    (void)state;
    awt_reset();
    int m = 0;
    infra_json *v = awt_json("[\"0755\", 420, \"0955\", \"\", \"17777\", -1, true]");
    assert_int_equal(pu_bake_mode(NULL, &m), 0);
    assert_int_equal(m, 0644);
    assert_int_equal(pu_bake_mode(AJ->at(v, 0), &m), 0);
    assert_int_equal(m, 0755);
    assert_int_equal(pu_bake_mode(AJ->at(v, 1), &m), 0);
    assert_int_equal(m, 0644);
    for (size_t i = 2; i < 7; i++)
        assert_int_equal(pu_bake_mode(AJ->at(v, i), &m), INFRA_EINVALID);
    AJ->release(v);
}

/* validate of one image configuration: its diagnostics in c. */
static int validate(awt_call *c, const char *config)
{
    infra_json *v = awt_json(config);
    awt_call_init(c, "image.nomad-host", NULL);
    int rc = aws_validate(&c->call, "image", v);
    AJ->release(v);
    return rc;
}

static void test_validate_names_the_key_of_each_problem(void **state)
{
    (void)state;
    awt_reset();
    awt_call c;
    static const char good[] =
        "{\"name\": \"nomad-host\", \"keep\": 2, \"build\": {\"base\": \"ami-0123\", "
        "\"size\": \"t3.small\", \"subnet\": \"subnet-1\", \"private_key\": \"/k\", "
        "\"steps\": [{\"run\": \"true\", \"sudo\": false}]}}";
    assert_int_equal(validate(&c, good), 0);
    assert_int_equal(c.ndiags, 0);
    awt_call_clear(&c);

    static const struct {
        const char *config;
        const char *attr;
        const char *text;
    } bad[] = {
        {"{\"build\": {\"size\": \"t3.small\", \"subnet\": \"s\", \"private_key\": \"/k\", "
         "\"steps\": [{\"run\": \"true\"}]}}",
         "build.base", "needs base"},
        {"{\"build\": {\"base\": {\"name\": \"d-*\", \"owner\": \"x\"}, \"size\": \"t3.small\", "
         "\"subnet\": \"s\", \"private_key\": \"/k\", \"steps\": [{\"run\": \"true\"}]}}",
         "build.base", "build.base.owner: unknown key"},
        {"{\"build\": {\"base\": \"ami-01\", \"subnet\": \"s\", \"private_key\": \"/k\", "
         "\"steps\": [{\"run\": \"true\"}]}}",
         "build.size", "needs size"},
        {"{\"build\": {\"base\": \"ami-01\", \"size\": \"t\", \"subnet\": \"s\", "
         "\"private_key\": \"/k\", \"steps\": []}}",
         "build.steps", "needs steps"},
        {"{\"build\": {\"base\": \"ami-01\", \"size\": \"t\", \"subnet\": \"s\", "
         "\"private_key\": \"/k\", \"steps\": [{\"run\": \"x\"}, {\"upload\": \"f\", \"to\": "
         "\"rel\"}]}}",
         "build.steps[1].to", "absolute path"},
        {"{\"build\": {\"base\": \"ami-01\", \"size\": \"t\", \"subnet\": \"s\", "
         "\"private_key\": \"/k\", \"steps\": [{\"upload\": \"f\", \"to\": \"/a\", \"run\": "
         "\"x\"}]}}",
         "build.steps[0]", "either uploads"},
        {"{\"build\": {\"base\": \"ami-01\", \"size\": \"t\", \"subnet\": \"s\", "
         "\"private_key\": \"/k\", \"steps\": [{\"run\": \"x\", \"sudo\": \"maybe\"}]}}",
         "build.steps[0].sudo", "true or false"},
        {"{\"build\": {\"base\": \"ami-01\", \"size\": \"t\", \"subnet\": \"s\", "
         "\"private_key\": \"/k\", \"steps\": [{\"run\": \"x\"}], \"subnets\": []}}",
         "build.subnets", "unknown key \"subnets\""},
        {"{\"owners\": [\"self\"], \"build\": {\"base\": \"ami-01\", \"size\": \"t\", "
         "\"subnet\": \"s\", \"private_key\": \"/k\", \"steps\": [{\"run\": \"x\"}]}}",
         "owners", "build.base"},
        {"{\"name\": \"x\", \"build\": {\"base\": \"ami-01\", \"size\": \"t\", \"subnet\": \"s\","
         " \"private_key\": \"/k\", \"steps\": [{\"run\": \"x\"}]}, \"keep\": 0}",
         "keep", "from 1 to 100"},
        {"{\"owners\": [\"self\"]}", "name", "looked up by name"},
        {"{\"name\": \"x-*\", \"keep\": 2}", "keep", "needs build"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(validate(&c, bad[i].config), INFRA_EINVALID);
        if (strstr(c.diags, bad[i].text) == NULL)
            fail_msg("case %zu: diagnostics \"%s\" lack \"%s\"", i, c.diags, bad[i].text);
        assert_string_equal(c.last_attr, bad[i].attr);
        awt_call_clear(&c);
    }
}

/* plan of a built image against prior (may be NULL): the planned state. */
static infra_json *plan(const char *desired, const char *prior)
{
    infra_provider *p = awt_provider();
    awt_call c;
    awt_call_init(&c, "image.nomad-host", NULL);
    infra_json *d = awt_json(desired), *pr = prior ? awt_json(prior) : NULL;
    infra_json *planned = NULL, *replace = NULL;
    assert_int_equal(aws_plan(p, &c.call, "image", pr, d, &planned, &replace), 0);
    assert_int_equal(AJ->length(replace), 0);
    AJ->release(replace);
    AJ->release(d);
    AJ->release(pr);
    awt_call_clear(&c);
    awt_provider_free(p);
    return planned;
}

static void test_plan_keeps_the_generation_of_the_same_hash(void **state)
{
    (void)state;
    awt_reset();
    char config[512], hash[65];
    snprintf(config, sizeof(config),
             "{\"build\": {\"base\": \"ami-01\", \"size\": \"t\", \"subnet\": \"s\", "
             "\"private_key\": \"/k\", \"steps\": %s}}",
             steps_v1);
    hash_of("ami-01", steps_v1, hash);
    infra_json *first = plan(config, NULL);
    assert_string_equal(pu_json_str(first, "build_hash"), hash);
    assert_string_equal(pu_json_str(first, "base_id"), "ami-01");
    assert_true(pu_is_unknown(AJ->get(first, "id")));
    AJ->release(first);

    char prior[1024];
    snprintf(prior, sizeof(prior),
             "{\"build\": {\"base\": \"ami-01\"}, \"id\": \"ami-0b1\", \"image_name\": \"n\", "
             "\"build_hash\": \"%s\", \"generations\": [\"ami-0b1\"]}",
             hash);
    infra_json *same = plan(config, prior);
    assert_string_equal(pu_json_str(same, "id"), "ami-0b1");
    assert_false(pu_json_has_unknown(same));
    AJ->release(same);

    snprintf(prior, sizeof(prior),
             "{\"build\": {\"base\": \"ami-01\"}, \"id\": \"ami-0b1\", \"image_name\": \"n\", "
             "\"build_hash\": \"0000\", \"generations\": [\"ami-0b1\"]}");
    infra_json *next = plan(config, prior);
    assert_true(pu_is_unknown(AJ->get(next, "id")));
    assert_true(pu_is_unknown(AJ->get(next, "generations")));
    assert_string_equal(pu_json_str(next, "build_hash"), hash);
    AJ->release(next);
    assert_int_equal(awt_nrequests(), 0); /* an AMI id as base: no lookup */
}

static void test_base_pattern_never_picks_its_own_generations(void **state)
{
    (void)state;
    awt_reset();
    infra_provider *p = awt_provider();
    awt_route("DescribeImages", 200,
              "<DescribeImagesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
              "<imagesSet><item><imageId>ami-0a</imageId><name>nomad-host-2026-11-01</name>"
              "<creationDate>2026-11-01T00:00:00.000Z</creationDate><imageState>available"
              "</imageState></item><item><imageId>ami-0b</imageId>"
              "<name>nomad-host-0123456789abcdef</name>"
              "<creationDate>2026-12-01T00:00:00.000Z</creationDate><imageState>available"
              "</imageState></item></imagesSet></DescribeImagesResponse>");
    awt_call c;
    awt_call_init(&c, "image.nomad-host", NULL);
    char *ami = NULL;
    infra_json *own = awt_json("{\"name\": \"nomad-host\", \"build\": {\"base\": "
                               "{\"name\": \"nomad-host-*\", \"owners\": [\"self\"]}}}");
    assert_int_equal(aws_bake_base(p, &c.call, own, &ami), 0);
    assert_string_equal(ami, "ami-0a");
    free(ami);
    AJ->release(own);
    /* Another entry's generations are images like any other. */
    infra_json *other = awt_json("{\"name\": \"web\", \"build\": {\"base\": \"nomad-host-*\"}}");
    assert_int_equal(aws_bake_base(p, &c.call, other, &ami), 0);
    assert_string_equal(ami, "ami-0b");
    free(ami);
    AJ->release(other);
    awt_call_clear(&c);
    awt_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_covers_base_steps_and_bytes_not_paths),
        cmocka_unit_test(test_modes_are_octal_text_or_integers),
        cmocka_unit_test(test_validate_names_the_key_of_each_problem),
        cmocka_unit_test(test_plan_keeps_the_generation_of_the_same_hash),
        cmocka_unit_test(test_base_pattern_never_picks_its_own_generations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
