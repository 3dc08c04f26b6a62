/* The load balancers: haproxy's configuration from an app list, as the
 * watcher the plugin installs writes it (run here in its --render mode),
 * checked against tests/marathon/expected/haproxy.cfg and by haproxy
 * itself; the host name an app answers to; the watcher's own
 * configuration. */
#include "marathon_test.h"

#include <sys/wait.h>
#include <unistd.h>

/* Runs the embedded watcher on the fixture's apps: its output (caller frees). */
static char *render_file(const char *fixture, const char *group, int port)
{
    char prog[] = "/tmp/marathon-lb-test.XXXXXX";
    int fd = mkstemp(prog);
    assert_true(fd >= 0);
    const char *text = marathon_lb_program();
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 %s --render=%s/fixtures/%s --group=%s --port=%d", prog,
             TEST_SOURCE_DIR, fixture, group, port);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    pu_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        pu_buf_put(&b, chunk, n);
    assert_int_equal(pclose(p), 0);
    unlink(prog);
    return pu_buf_take(&b);
}

static char *render(const char *group, int port)
{
    return render_file("apps.json", group, port);
}

static void test_haproxy_config_from_apps(void **state)
{
    (void)state;
    char *cfg = render("external", 80);
    test_expect_file("expected/haproxy.cfg", cfg);
    /* haproxy takes it */
    char path[] = "/tmp/marathon-lb-cfg.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, cfg, strlen(cfg)), (ssize_t)strlen(cfg));
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "haproxy -c -q -f %s", path);
    int rc = system(cmd);
    unlink(path);
    assert_int_equal(WEXITSTATUS(rc), 0);
    free(cfg);
    /* another group, another port: only its apps */
    cfg = render("internal", 8081);
    assert_non_null(strstr(cfg, "    bind :8081\n"));
    assert_non_null(strstr(cfg, "backend app_internal_only\n"));
    assert_null(strstr(cfg, "backend app_prod_web\n"));
    assert_non_null(strstr(cfg, "\"ok apps=2 servers=2\""));
    free(cfg);
}

/* While tasks of an older configuration run, the current definition's HTTP
 * check may not hold for them (a failing version's check path): haproxy
 * then checks only that ports take connections; Marathon's results, per
 * version, choose the servers. A task started before a scaling-only
 * change runs the current configuration. */
static void test_no_http_check_across_versions(void **state)
{
    (void)state;
    char *cfg = render_file("apps-deploying.json", "external", 80);
    const char *web = strstr(cfg, "backend app_prod_web\n");
    const char *api = strstr(cfg, "backend app_prod_api\n");
    assert_non_null(web);
    assert_non_null(api);
    assert_null(strstr(cfg, "/missing"));
    assert_non_null(strstr(api, "    option httpchk GET /health\n"));
    assert_non_null(strstr(web, "    server 10_0_0_6_31000 10.0.0.6:31000 check"));
    assert_non_null(strstr(web, "    server 10_0_0_8_31004 10.0.0.8:31004 check"));
    assert_non_null(strstr(strstr(web, "10.0.0.8:31004"), " backup\n"));
    free(cfg);
}

static void test_vhost_of_an_app(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"{\"id\": \"/prod/web\", \"labels\": {\"HAPROXY_GROUP\": \"external\"}}", "web.prod"},
        {"{\"id\": \"/a/b/c\", \"labels\": {\"HAPROXY_GROUP\": \"x, external\"}}", "c.b.a"},
        {"{\"id\": \"/web\", \"labels\": {\"HAPROXY_GROUP\": \"external\","
         " \"HAPROXY_0_VHOST\": \" Web.Example.org , other\"}}",
         "web.example.org"},
        {"{\"id\": \"/web\", \"labels\": {\"HAPROXY_GROUP\": \"internal\"}}", NULL},
        {"{\"id\": \"/web\"}", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        infra_json *app = test_json(cases[i][0]);
        char *v = marathon_lb_vhost(app, "external");
        if (cases[i][1] == NULL)
            assert_null(v);
        else
            assert_string_equal(v, cases[i][1]);
        free(v);
        MJ->release(app);
    }
}

static void test_watcher_configuration(void **state)
{
    (void)state;
    infra_call call;
    test_diags d;
    marathon_settings s;
    marathon_cluster c;
    test_call(&call, &d);
    infra_json *j = test_json_file("fixtures/cluster.json");
    infra_json *set =
        test_json("{\"lb_group\": \"public\", \"lb_port\": 8000, \"marathon_user\": \"ops\"}");
    assert_int_equal(marathon_settings_parse(&call, set, &s), 0);
    assert_int_equal(marathon_cluster_parse(&call, j, 1, &c), 0);
    char *cfg =
        marathon_lb_config(&s, marathon_cluster_region(&c, "eu"), "/usr/sbin/haproxy", "pw");
    assert_string_equal(cfg, "{\"marathons\":[\"http://10.0.0.2:8080\",\"http://10.0.0.3:8080\","
                             "\"http://10.0.0.4:8080\"],\"user\":\"ops\",\"password\":\"pw\","
                             "\"group\":\"public\",\"port\":8000,\"haproxy\":\"/usr/sbin/haproxy\","
                             "\"dir\":\"/etc/marathon-lb\"}\n");
    free(cfg);
    marathon_cluster_free(&c);
    marathon_settings_free(&s);
    MJ->release(set);
    MJ->release(j);
    host_call_clear(&call);
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
        cmocka_unit_test(test_haproxy_config_from_apps),
        cmocka_unit_test(test_no_http_check_across_versions),
        cmocka_unit_test(test_vhost_of_an_app),
        cmocka_unit_test(test_watcher_configuration),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
