/* An app file with the topology's `set` applied: its id, the tag of its
 * image, instances and constraints per environment, maps merged, other keys
 * as labels, what Marathon would read back removed, and refusals naming
 * the key. */
#include "marathon_test.h"

static const char web[] = "{\"id\": \"/web\", \"cmd\": \"exec httpd\", \"instances\": 2, "
                          "\"version\": \"2024-01-01T00:00:00Z\","
                          " \"tasks\": [], \"tasksRunning\": 2,"
                          " \"labels\": {\"HAPROXY_GROUP\": \"external\"}, \"env\": {\"A\": \"1\"},"
                          " \"constraints\": [[\"hostname\", \"UNIQUE\"]],"
                          " \"container\": {\"type\": \"DOCKER\", \"docker\": {\"image\": "
                          "\"registry:5000/team/web:1.0\"}}}";

/* Builds the app of content with set; fails on an error. */
static infra_json *build(const char *content, const char *id, const char *set)
{
    infra_json *s = test_json(set), *app = NULL;
    char *err = NULL;
    int rc = marathon_app_build(content, id, s, &app, &err);
    if (rc < 0)
        fail_msg("marathon_app_build: %s", err);
    MJ->release(s);
    return app;
}

/* The error marathon_app_build gives (caller frees). */
static char *refusal(const char *content, const char *id, const char *set)
{
    infra_json *s = test_json(set), *app = NULL;
    char *err = NULL;
    assert_int_equal(marathon_app_build(content, id, s, &app, &err), INFRA_EINVALID);
    assert_null(app);
    MJ->release(s);
    return err;
}

static void expect_app(infra_json *app, const char *want)
{
    infra_json *w = test_json(want);
    if (!json_equal(host_jansson(app), host_jansson(w))) {
        char *got = json_dumps(host_jansson(app), JSON_SORT_KEYS);
        fail_msg("got %s\nexpected %s", got, want);
    }
    MJ->release(w);
    MJ->release(app);
}

static void test_staging_variant(void **state)
{
    (void)state;
    infra_json *app =
        build(web, "/staging/web",
              "{\"id\": \"/staging/web\", \"instances\": 1, \"image_tag\": \"1.1-rc1\","
              " \"constraints\": [[\"env\", \"CLUSTER\", \"staging\"]],"
              " \"env\": {\"B\": \"2\"}, \"version\": \"1.1-rc1\", \"replicas\": 3}");
    expect_app(app, "{\"id\": \"/staging/web\", \"cmd\": \"exec httpd\", \"instances\": 1,"
                    " \"labels\": {\"HAPROXY_GROUP\": \"external\", \"version\": \"1.1-rc1\","
                    " \"replicas\": \"3\"},"
                    " \"env\": {\"A\": \"1\", \"B\": \"2\"},"
                    " \"constraints\": [[\"env\", \"CLUSTER\", \"staging\"]],"
                    " \"container\": {\"type\": \"DOCKER\","
                    " \"docker\": {\"image\": \"registry:5000/team/web:1.1-rc1\"}}}");
}

static void test_id_made_absolute_and_the_file_id_replaced(void **state)
{
    (void)state;
    infra_json *app = build("{\"id\": \"/other\", \"cmd\": \"x\"}", "web", "{}");
    expect_app(app, "{\"id\": \"/web\", \"cmd\": \"x\"}");
    char *id = marathon_app_id("shop/web-1.v2");
    assert_string_equal(id, "/shop/web-1.v2");
    free(id);
    static const char *const bad[] = {"/Shop/web", "/a//b", "/web-", "/-web", "/we b", "", "/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(marathon_app_id(bad[i]));
    char *err = refusal("{\"cmd\": \"x\"}", "/Web", "{}");
    assert_string_equal(err, "\"/Web\" is not a Marathon app id: segments of lowercase letters, "
                             "digits, and inner - or . separated by /");
    free(err);
}

static void test_image_tags(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"nginx", "nginx:2"},
        {"nginx:1.25", "nginx:2"},
        {"registry:5000/team/web:1.0", "registry:5000/team/web:2"},
        {"web@sha256:0123", "web:2"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = marathon_image_with_tag(cases[i][0], "2");
        assert_string_equal(got, cases[i][1]);
        free(got);
    }
    char *err = refusal("{\"cmd\": \"x\"}", "/web", "{\"image_tag\": \"2\"}");
    assert_string_equal(err, "set.image_tag: the app has no container.docker.image to give a tag");
    free(err);
}

static void test_refusals_name_the_key(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"{\"instances\": -1}", "set.instances must be a whole number from 0"},
        {"{\"instances\": \"two\"}", "set.instances must be a whole number from 0"},
        {"{\"mem\": \"lots\"}", "set.mem must be a number from 0"},
        {"{\"constraints\": \"env:staging\"}",
         "set.constraints must be a list of constraints such as [\"env\", \"CLUSTER\", "
         "\"staging\"]"},
        {"{\"constraints\": [[\"env\"]]}",
         "set.constraints[0] must be [FIELD, OPERATOR] or [FIELD, OPERATOR, VALUE], all strings"},
        {"{\"env\": [1]}", "set.env must be a map"},
        {"{\"team\": {\"a\": 1}}",
         "set.team becomes a label of the app, so it must be a string, a number or a boolean"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *err = refusal(web, "/web", cases[i][0]);
        assert_string_equal(err, cases[i][1]);
        free(err);
    }
    char *err = refusal("{\"id\": \"/g\", \"apps\": []}", "/g", "{}");
    assert_string_equal(err, "the file holds a group or a pod; give one app definition per file");
    free(err);
    err = refusal("[1]", "/web", "{}");
    assert_string_equal(err, "the file is not a JSON object (one Marathon app definition)");
    free(err);
}

static void test_last_task_failure_text(void **state)
{
    (void)state;
    infra_json *f = test_json("{\"state\": \"TASK_FAILED\", \"host\": \"10.0.0.5\","
                              " \"timestamp\": \"2024-01-01T00:00:00Z\","
                              " \"message\": \"Command exited with status 1\"}");
    char *text = marathon_task_failure_text(f);
    assert_string_equal(
        text, "TASK_FAILED on 10.0.0.5 at 2024-01-01T00:00:00Z: Command exited with status 1");
    free(text);
    MJ->release(f);
    assert_null(marathon_task_failure_text(NULL));
}

static int setup(void **state)
{
    (void)state;
    test_use_host();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_staging_variant),
        cmocka_unit_test(test_id_made_absolute_and_the_file_id_replaced),
        cmocka_unit_test(test_image_tags),
        cmocka_unit_test(test_refusals_name_the_key),
        cmocka_unit_test(test_last_task_failure_text),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
