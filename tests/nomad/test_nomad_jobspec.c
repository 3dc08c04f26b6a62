/* Job JSON transforms: `set` applied to JSON jobs (both file forms), the
 * HCL parse request (declared variables only, escaped values), image tags. */
#include "nomad_test.h"

#include <sys/wait.h>
#include <unistd.h>

static const char *const DCS[] = {"dc-a", "dc-b"};

#define WEB_JOB                                                                                    \
    "{\"ID\": \"from-file\", \"Name\": \"from-file\", \"Type\": \"service\","                      \
    " \"Datacenters\": [\"dc1\"], \"Meta\": {\"owner\": \"team\"},"                                \
    " \"TaskGroups\": ["                                                                           \
    "  {\"Name\": \"web\", \"Count\": 1, \"Tasks\": ["                                             \
    "    {\"Name\": \"app\", \"Driver\": \"docker\", \"Config\": {\"image\": \"nginx:1.25\"}},"    \
    "    {\"Name\": \"sidecar\", \"Driver\": \"docker\","                                          \
    "     \"Config\": {\"image\": \"registry.example:5000/team/proxy\"}}]},"                       \
    "  {\"Name\": \"worker\", \"Count\": 2, \"Tasks\": ["                                          \
    "    {\"Name\": \"run\", \"Driver\": \"raw_exec\", \"Config\": {\"command\": "                 \
    "\"/bin/true\"}}]}]}"

static infra_json *job_of(const char *text)
{
    infra_json *job = NULL;
    char *err = NULL;
    assert_int_equal(nomad_job_from_json(text, &job, &err), 0);
    assert_null(err);
    return job;
}

static infra_json *group(infra_json *job, size_t i)
{
    return NJ->at_mutable(NJ->get_mutable(job, "TaskGroups"), i);
}

static const char *image_of(infra_json *job, size_t g, size_t t)
{
    return pu_json_str(NJ->get(NJ->at(NJ->get(group(job, g), "Tasks"), t), "Config"), "image");
}

static void test_wrapped_and_bare_json_jobs_read_the_same(void **state)
{
    char wrapped[4096];
    snprintf(wrapped, sizeof(wrapped), "{\"Job\": %s}", WEB_JOB);
    infra_json *a = job_of(wrapped), *b = job_of(WEB_JOB);
    test_json_equal(a, b, "the Job object");
    assert_string_equal(pu_json_str(a, "ID"), "from-file");
    NJ->release(a);
    NJ->release(b);

    infra_json *job = NULL;
    char *err = NULL;
    assert_int_equal(nomad_job_from_json("[1, 2]", &job, &err), INFRA_EINVALID);
    assert_string_equal(err, "the job file is not a JSON object");
    free(err);
    err = NULL;
    assert_int_equal(nomad_job_from_json("{\"Job\": 3}", &job, &err), INFRA_EINVALID);
    assert_non_null(strstr(err, "must be an object"));
    free(err);
}

static void test_set_applies_name_count_image_tag_datacenters_and_meta(void **state)
{
    infra_json *job = job_of(WEB_JOB);
    infra_json *set =
        test_json("{\"name\": \"clickcount\", \"count\": \"3\", \"image_tag\": \"2.0\","
                  " \"datacenters\": [\"dc-b\"], \"owner\": \"ops\", \"replicas\": 7,"
                  " \"canary\": true}");
    char *err = NULL;
    assert_int_equal(nomad_job_apply(job, "topology-key", set, "europe", DCS, 2, &err), 0);
    assert_string_equal(pu_json_str(job, "ID"), "clickcount");
    assert_string_equal(pu_json_str(job, "Name"), "clickcount");
    assert_string_equal(pu_json_str(job, "Region"), "europe");
    test_json_is(NJ->get(job, "Datacenters"), "[\"dc-b\"]", "Datacenters");
    int64_t count = 0;
    assert_int_equal(nomad_jint(group(job, 0), "Count", &count), 0);
    assert_int_equal(count, 3);
    assert_int_equal(nomad_jint(group(job, 1), "Count", &count), 0);
    assert_int_equal(count, 3);
    assert_string_equal(image_of(job, 0, 0), "nginx:2.0");
    assert_string_equal(image_of(job, 0, 1), "registry.example:5000/team/proxy:2.0");
    assert_null(image_of(job, 1, 0));
    test_json_is(NJ->get(job, "Meta"),
                 ("{\"owner\": \"ops\", \"replicas\": \"7\", \"canary\": \"true\"}"),
                 "Meta (strings only)");
    /* count is a number in the request, as the API's schema says */
    assert_int_equal(NJ->type(NJ->get(group(job, 0), "Count")), INFRA_JSON_INT);
    NJ->release(set);
    NJ->release(job);
}

static void test_without_set_the_job_gets_the_id_region_and_every_datacenter(void **state)
{
    infra_json *job = job_of(WEB_JOB);
    char *err = NULL;
    assert_int_equal(nomad_job_apply(job, "web", NULL, "us", DCS, 2, &err), 0);
    assert_string_equal(pu_json_str(job, "ID"), "web");
    assert_string_equal(pu_json_str(job, "Name"), "web");
    assert_string_equal(pu_json_str(job, "Region"), "us");
    test_json_is(NJ->get(job, "Datacenters"), "[\"dc-a\", \"dc-b\"]", "Datacenters");
    assert_string_equal(image_of(job, 0, 0), "nginx:1.25");
    test_json_is(NJ->get(job, "Meta"), "{\"owner\": \"team\"}", "Meta");
    NJ->release(job);

    job = job_of(WEB_JOB);
    infra_json *set = test_json("{\"datacenters\": \"dc-a\"}");
    assert_int_equal(nomad_job_apply(job, "web", set, "us", DCS, 2, &err), 0);
    test_json_is(NJ->get(job, "Datacenters"), "[\"dc-a\"]", "Datacenters");
    NJ->release(set);
    NJ->release(job);
}

static void test_set_refuses_a_bad_count_and_a_job_without_groups(void **state)
{
    infra_json *job = job_of(WEB_JOB);
    infra_json *set = test_json("{\"count\": -1}");
    char *err = NULL;
    assert_int_equal(nomad_job_apply(job, "web", set, "us", DCS, 2, &err), INFRA_EINVALID);
    assert_string_equal(err, "set.count must be a whole number >= 0");
    free(err);
    err = NULL;
    NJ->release(set);
    set = test_json("{\"count\": \"many\"}");
    assert_int_equal(nomad_job_apply(job, "web", set, "us", DCS, 2, &err), INFRA_EINVALID);
    free(err);
    err = NULL;
    NJ->release(set);
    NJ->release(job);

    job = job_of("{\"ID\": \"x\", \"TaskGroups\": []}");
    assert_int_equal(nomad_job_apply(job, "x", NULL, "us", DCS, 2, &err), INFRA_EINVALID);
    assert_string_equal(err, "the job has no task group (TaskGroups)");
    free(err);
    NJ->release(job);
}

static void test_image_tag_replaces_only_the_tag(void **state)
{
    static const char *const cases[][2] = {
        {"nginx", "nginx:T"},
        {"nginx:1.25", "nginx:T"},
        {"library/nginx:1.25", "library/nginx:T"},
        {"registry:5000/team/app", "registry:5000/team/app:T"},
        {"registry:5000/team/app:old", "registry:5000/team/app:T"},
        {"app@sha256:0123abcd", "app:T"},
        {"app:1.0@sha256:0123abcd", "app:T"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = nomad_image_with_tag(cases[i][0], "T");
        assert_string_equal(got, cases[i][1]);
        free(got);
    }
}

#define HCL_JOB                                                                                    \
    "# variable \"commented\" {}\n"                                                                \
    "variable \"image_tag\" {\n"                                                                   \
    "  type    = string\n"                                                                         \
    "  default = \"variable \\\"in_a_string\\\" {\"\n"                                             \
    "}\n"                                                                                          \
    "variable count {\n"                                                                           \
    "  type = number\n"                                                                            \
    "}\n"                                                                                          \
    "/* variable \"block_comment\" {} */\n"                                                        \
    "job \"web\" {\n"                                                                              \
    "  variable \"nested\" {}\n"                                                                   \
    "  group \"web\" {\n"                                                                          \
    "    count = var.count\n"                                                                      \
    "    task \"app\" {\n"                                                                         \
    "      driver = \"docker\"\n"                                                                  \
    "      config { image = \"nginx:${var.image_tag}\" }\n"                                        \
    "    }\n"                                                                                      \
    "  }\n"                                                                                        \
    "}\n"

static void test_hcl_variables_are_the_top_level_declarations_only(void **state)
{
    nomad_strs vars = {0};
    nomad_hcl_variables(HCL_JOB, &vars);
    assert_int_equal(vars.n, 2);
    assert_string_equal(vars.v[0], "image_tag");
    assert_string_equal(vars.v[1], "count");
    nomad_strs_free(&vars);
}

static void test_hcl_parse_request_passes_only_declared_set_keys_as_variables(void **state)
{
    infra_json *set = test_json("{\"image_tag\": \"2.0 \\\"beta\\\" ${x}\", \"count\": 3,"
                                " \"owner\": \"ops\"}");
    char *body = NULL, *err = NULL;
    assert_int_equal(nomad_job_parse_request(HCL_JOB, set, &body, &err), 0);
    infra_json *req = test_json(body);
    assert_string_equal(pu_json_str(req, "JobHCL"), HCL_JOB);
    assert_int_equal(NJ->boolean(NJ->get(req, "Canonicalize")), 1);
    /* Nomad refuses a value for an undeclared variable: owner is not sent */
    assert_string_equal(pu_json_str(req, "Variables"),
                        "image_tag = \"2.0 \\\"beta\\\" $${x}\"\ncount = 3\n");
    NJ->release(req);
    NJ->release(set);
    free(body);
}

static void test_hcl_values_are_escaped_expressions(void **state)
{
    static const char *const cases[][2] = {
        {"\"plain\"", "\"plain\""},
        {"\"a\\nb\\tc\\\\\"", "\"a\\nb\\tc\\\\\""},
        {"\"%{if}\"", "\"%%{if}\""},
        {"42", "42"},
        {"true", "true"},
        {"[\"a\", 1]", "[\"a\", 1]"},
        {"{\"k\": \"v\"}", "{\"k\" = \"v\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        infra_json *v = test_json(cases[i][0]);
        char *got = nomad_hcl_value(v);
        assert_string_equal(got, cases[i][1]);
        free(got);
        NJ->release(v);
    }
}

/* Writes {"Job": job} to a temporary file; returns its path (caller frees). */
static char *write_body(const infra_json *job)
{
    char *path = strdup("/tmp/nomad-register-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    json_t *body = json_pack("{s:O}", "Job", host_jansson(job));
    char *text = json_dumps(body, 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    free(text);
    json_decref(body);
    return path;
}

static int openapi_check(const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 %s/openapi_check.py %s/../conformance/nomad-openapi.yaml "
             "JobRegisterRequest %s %s",
             TEST_SOURCE_DIR, TEST_SOURCE_DIR, a, b ? b : "");
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_register_bodies_conform_to_nomads_openapi_document(void **state)
{
    infra_json *web = job_of(WEB_JOB);
    infra_json *set = test_json("{\"count\": \"3\", \"image_tag\": \"2.0\", \"build\": 17,"
                                " \"canary\": false}");
    char *err = NULL;
    assert_int_equal(nomad_job_apply(web, "web", set, "europe", DCS, 2, &err), 0);
    infra_json *bare =
        job_of("{\"TaskGroups\": [{\"Name\": \"g\", \"Tasks\": [{\"Name\": \"t\","
               " \"Driver\": \"raw_exec\", \"Config\": {\"command\": \"/bin/true\"}}]}]}");
    assert_int_equal(nomad_job_apply(bare, "bare", NULL, "us", DCS, 1, &err), 0);
    char *a = write_body(web), *b = write_body(bare);
    assert_int_equal(openapi_check(a, b), 0);
    unlink(a);
    unlink(b);
    free(a);
    free(b);

    /* the check is real: a Count given as text is refused */
    json_object_set_new(host_jansson(NJ->at(NJ->get(web, "TaskGroups"), 0)), "Count",
                        json_string("3"));
    a = write_body(web);
    assert_int_equal(openapi_check(a, NULL), 1);
    unlink(a);
    free(a);
    NJ->release(set);
    NJ->release(web);
    NJ->release(bare);
}

int main(void)
{
    test_use_host();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrapped_and_bare_json_jobs_read_the_same),
        cmocka_unit_test(test_set_applies_name_count_image_tag_datacenters_and_meta),
        cmocka_unit_test(test_without_set_the_job_gets_the_id_region_and_every_datacenter),
        cmocka_unit_test(test_set_refuses_a_bad_count_and_a_job_without_groups),
        cmocka_unit_test(test_image_tag_replaces_only_the_tag),
        cmocka_unit_test(test_hcl_variables_are_the_top_level_declarations_only),
        cmocka_unit_test(test_hcl_parse_request_passes_only_declared_set_keys_as_variables),
        cmocka_unit_test(test_hcl_values_are_escaped_expressions),
        cmocka_unit_test(test_register_bodies_conform_to_nomads_openapi_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
