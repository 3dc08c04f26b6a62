/* What a user reads: settings and topologies refused at the key that is
 * wrong, and a region that is not ready named by what it misses (a
 * ZooKeeper ensemble without quorum, no leading master, agents not
 * registered or with other attributes, Marathon refusing the password, its
 * framework not registered, a load balancer not following); Marathon's own
 * words in its error answers. */
#include "marathon_test.h"

static const infra_plugin *plugin;

static void test_settings_refused_at_their_key(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"{\"name\": \"m\", \"zookeeper_heap_mb\": 1}",
         "[zookeeper_heap_mb] zookeeper_heap_mb must be a whole number from 32 to 65536\n"},
        {"{\"name\": \"m\", \"master_flags\": [\"--log_dir /tmp\"]}",
         "[master_flags[0]] master_flags[0] must be a flag \"--name=value\" of letters, digits and "
         "- _ = : . , / @ + [ ] ; * ( )\n"},
        {"{\"name\": \"m\", \"agent_flags\": \"--x=1\"}",
         "[agent_flags] agent_flags must be a list of \"--name=value\" flags\n"},
        {"{\"name\": \"m\", \"marathon_flags\": [\"--x=$HOME\"]}",
         "[marathon_flags[0]] marathon_flags[0] must be a flag \"--name=value\" of letters, digits "
         "and - _ = : . , / @ + [ ] ; * ( )\n"},
        {"{\"name\": \"m\", \"api_address\": \"both\"}",
         "[api_address] api_address must be \"public\" or \"private\", not \"both\"\n"},
        {"{\"name\": \"m\", \"marathon_user\": \"ops team\"}",
         "[marathon_user] marathon_user must be a user name (letters, digits and . _ -)\n"},
        {"{\"name\": \"m\", \"java_binary\": \"java; rm -rf /\"}",
         "[java_binary] java_binary must be a program name or an absolute path (letters, digits "
         "and . _ - + /)\n"},
        {"{\"name\": \"m\", \"containerizers\": \"mesos/docker\"}",
         "[containerizers] containerizers must be names separated by commas, such as \"mesos\" "
         "or \"docker,mesos\"\n"},
        {"{\"name\": \"m\", \"app_deadline\": 0}",
         "[app_deadline] app_deadline must be a whole number from 1 to 86400\n"},
    };
    test_configure_refuses(plugin, cases, sizeof(cases) / sizeof(cases[0]));
    test_diags d;
    assert_int_equal(
        test_configure(plugin,
                       "{\"name\": \"m\", \"master_flags\": [\"--max_agent_ping_timeouts=3\","
                       " \"--roles=*\"]}",
                       &d),
        0);
}

static void two_masters(json_t *j, const void *arg)
{
    (void)arg;
    json_array_remove(json_object_get(test_dc(j, "masters"), "servers"), 2);
}

static void federated(json_t *j, const void *arg)
{
    (void)arg;
    json_object_set_new(j, "federate", json_pack("[s]", "eu"));
}

static void masters_as_balancers(json_t *j, const void *arg)
{
    (void)arg;
    json_object_set_new(test_dc(j, "masters"), "node_settings",
                        json_pack("{s:s}", "role", "load_balancer"));
}

static void attributes_on_balancers(json_t *j, const void *arg)
{
    (void)arg;
    json_object_set_new(json_object_get(test_dc(j, "edge"), "node_settings"), "attributes",
                        json_pack("{s:s}", "env", "prod"));
}

static void unknown_setting(json_t *j, const void *arg)
{
    (void)arg;
    json_object_set_new(json_object_get(test_dc(j, "prod"), "node_settings"), "labels",
                        json_object());
}

static void bad_attribute(json_t *j, const void *arg)
{
    (void)arg;
    json_object_set_new(json_object_get(test_dc(j, "prod"), "node_settings"), "attributes",
                        json_pack("{s:s}", "env", "prod;rack:1"));
}

static void test_topologies_refused_at_their_key(void **state)
{
    (void)state;
    struct {
        void (*edit)(json_t *, const void *);
        const char *text;
    } cases[] = {
        {two_masters, "[regions.eu] region eu has 2 ZooKeeper nodes: an ensemble needs an odd "
                      "number (1, 3 or 5) to keep a quorum\n"},
        {federated, "[federate] Mesos clusters are not federated: each region of a marathon "
                    "cluster is a cluster of its own; remove federate\n"},
        {masters_as_balancers,
         "[regions.eu.datacenters.masters.node_settings.role] role \"load_balancer\" is not one "
         "for servers: servers are \"master\" or \"zookeeper\", clients \"agent\" or "
         "\"load_balancer\"\n"},
        {attributes_on_balancers, "[regions.eu.datacenters.edge.node_settings.attributes] only "
                                  "Mesos agents take attributes; these nodes are load_balancers\n"},
        {unknown_setting, "[regions.eu.datacenters.prod.node_settings.labels] unknown node "
                          "setting \"labels\" (the marathon scheduler takes role, attributes, "
                          "resources and install)\n"},
        {bad_attribute, "[regions.eu.datacenters.prod.node_settings.attributes] attribute \"env\": "
                        "Mesos takes names of letters, digits and . _ - with a number or a text of "
                        "letters, digits and . _ / -\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        test_diags d;
        assert_int_equal(test_validate_edited(plugin, cases[i].edit, NULL, &d), INFRA_EINVALID);
        assert_string_equal(d.text, cases[i].text);
    }
}

/* The fixture's region and an empty look to fill. */
typedef struct region_world {
    infra_json *json;
    marathon_cluster c;
    const marathon_region *r;
} region_world;

static void region_load(region_world *w)
{
    infra_call call;
    test_diags d;
    test_call(&call, &d);
    w->json = test_json_file("fixtures/cluster.json");
    assert_int_equal(marathon_cluster_parse(&call, w->json, 1, &w->c), 0);
    w->r = marathon_cluster_region(&w->c, "eu");
    host_call_clear(&call);
}

static void region_free(region_world *w)
{
    marathon_cluster_free(&w->c);
    MJ->release(w->json);
}

/* A look where everything up to what the test removes is there. */
static void good_look(marathon_look *l)
{
    memset(l, 0, sizeof(*l));
    pu_strs_add(&l->zk_modes, "mesos-eu-masters-server-0 follower");
    pu_strs_add(&l->zk_modes, "mesos-eu-masters-server-1 leader");
    pu_strs_add(&l->zk_modes, "mesos-eu-masters-server-2 follower");
    l->zk_leaders = 1;
    l->zk_followers = 2;
    l->master_leader = strdup("10.0.0.3:5050");
    l->state = test_json("{}");
    l->marathon_leader = strdup("10.0.0.4:8080");
    l->framework = 1;
}

static void expect_report(const region_world *w, marathon_look *l, int category, const char *text)
{
    int got = 0;
    char *msg = marathon_region_report(w->r, l, 120500, "mesos", &got);
    assert_string_equal(msg, text);
    assert_int_equal(got, category);
    free(msg);
    marathon_look_free(l);
}

static void test_region_reports_name_what_is_missing(void **state)
{
    (void)state;
    region_world w;
    marathon_look l;
    region_load(&w);

    good_look(&l);
    pu_strs_free(&l.zk_modes);
    pu_strs_add(&l.zk_modes, "mesos-eu-masters-server-0 (not serving: no quorum)");
    pu_strs_add(&l.zk_modes, "mesos-eu-masters-server-1 (no answer on port 2181)");
    pu_strs_add(&l.zk_modes, "mesos-eu-masters-server-2 (not serving: no quorum)");
    l.zk_leaders = l.zk_followers = 0;
    expect_report(&w, &l, INFRA_ETRANSIENT,
                  "region eu: the ZooKeeper ensemble has no quorum of one leader and its followers "
                  "after 120 s: mesos-eu-masters-server-0 (not serving: no quorum), "
                  "mesos-eu-masters-server-1 (no answer on port 2181), mesos-eu-masters-server-2 "
                  "(not serving: no quorum)");

    good_look(&l);
    MJ->release(l.state);
    l.state = NULL;
    pu_strs_add(&l.masters_answering, "mesos-eu-masters-server-0");
    pu_strs_add(&l.masters_silent, "mesos-eu-masters-server-1");
    pu_strs_add(&l.masters_silent, "mesos-eu-masters-server-2");
    expect_report(&w, &l, INFRA_ETRANSIENT,
                  "region eu: no leading Mesos master after 120 s; masters answering: "
                  "mesos-eu-masters-server-0; not answering: mesos-eu-masters-server-1, "
                  "mesos-eu-masters-server-2");

    good_look(&l);
    pu_strs_add(&l.agents_missing, "mesos-eu-staging-client-0 (not registered)");
    pu_strs_add(&l.agents_missing, "mesos-eu-prod-client-0 (attributes env:staging, expected "
                                   "env:prod)");
    expect_report(&w, &l, INFRA_ETRANSIENT,
                  "region eu: Mesos agents not registered with the leading master 10.0.0.3:5050 "
                  "after 120 s: mesos-eu-staging-client-0 (not registered), mesos-eu-prod-client-0 "
                  "(attributes env:staging, expected env:prod)");

    good_look(&l);
    free(l.marathon_leader);
    l.marathon_leader = NULL;
    l.marathon_auth = 1;
    expect_report(&w, &l, INFRA_EAUTH,
                  "region eu: Marathon refuses the password kept as secret "
                  "marathon.mesos.http_password (401)");

    good_look(&l);
    free(l.marathon_leader);
    l.marathon_leader = NULL;
    pu_strs_add(&l.marathons_silent, "mesos-eu-masters-server-2");
    expect_report(&w, &l, INFRA_ETRANSIENT,
                  "region eu: no Marathon leader after 120 s; Marathon not answering on: "
                  "mesos-eu-masters-server-2");

    good_look(&l);
    l.framework = 0;
    expect_report(&w, &l, INFRA_ETRANSIENT,
                  "region eu: Marathon's leader 10.0.0.4:8080 is not registered as an active "
                  "framework with the leading Mesos master 10.0.0.3:5050 after 120 s");

    good_look(&l);
    pu_strs_add(&l.balancers_missing,
                "mesos-eu-edge-client-0 (error: http://10.0.0.2:8080 answered 401 Invalid username "
                "or password. gen=3)");
    expect_report(&w, &l, INFRA_ETRANSIENT,
                  "region eu: load balancers not following Marathon after 120 s: "
                  "mesos-eu-edge-client-0 (error: http://10.0.0.2:8080 answered 401 Invalid "
                  "username or password. gen=3)");
    region_free(&w);
}

static void test_attributes_as_mesos_reports_them(void **state)
{
    (void)state;
    infra_json *want = test_json("{\"env\": \"prod\", \"rack\": 1}");
    infra_json *same = test_json("{\"rack\": 1.0, \"env\": \"prod\", \"extra\": \"x\"}");
    infra_json *other = test_json("{\"env\": \"staging\", \"rack\": 1}");
    infra_json *missing = test_json("{\"env\": \"prod\"}");
    assert_int_equal(marathon_attributes_match(same, want), 1);
    assert_int_equal(marathon_attributes_match(other, want), 0);
    assert_int_equal(marathon_attributes_match(missing, want), 0);
    char *text = marathon_attributes_text(want);
    assert_string_equal(text, "env:prod;rack:1");
    free(text);
    MJ->release(want);
    MJ->release(same);
    MJ->release(other);
    MJ->release(missing);
}

static void test_marathon_error_answers(void **state)
{
    (void)state;
    char *t = marathon_error_text(
        "{\"message\": \"Object is not valid\", \"details\": [{\"path\": \"/instances\","
        " \"errors\": [\"error.min\"]}, {\"path\": \"/constraints(0)\","
        " \"errors\": [\"Constraint operator must be one of the following: [UNIQUE, "
        "CLUSTER]\"]}]}");
    assert_string_equal(t, "Object is not valid: /instances: error.min; /constraints(0): "
                           "Constraint operator must be one of the following: [UNIQUE, CLUSTER]");
    free(t);
    t = marathon_error_text("{\"message\": \"Invalid username or password.\"}");
    assert_string_equal(t, "Invalid username or password.");
    free(t);
    t = marathon_error_text("<html>\n<body>Bad Gateway</body>\n</html>\n");
    assert_string_equal(t, "<html> | <body>Bad Gateway</body> | </html>");
    free(t);
}

/* An agent is drained only once the apps with a task on it are whole: the
 * shortfall is read from GET /v2/apps?embed=apps.tasks as Marathon answers
 * it (tasksHealthy with health checks, tasksRunning without). */
static void test_apps_short_of_an_agent(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"apps\": ["
        " {\"id\": \"/prod/web\", \"instances\": 2, \"tasksRunning\": 2, \"tasksHealthy\": 1,"
        "  \"healthChecks\": [{\"protocol\": \"HTTP\", \"path\": \"/\"}],"
        "  \"tasks\": [{\"id\": \"a\", \"slaveId\": \"S0\"}, {\"id\": \"b\", \"slaveId\": "
        "\"S1\"}]},"
        " {\"id\": \"/prod/worker\", \"instances\": 1, \"tasksRunning\": 0, \"tasksHealthy\": 0,"
        "  \"healthChecks\": [], \"tasks\": [{\"id\": \"c\", \"slaveId\": \"S0\"}]},"
        " {\"id\": \"/prod/api\", \"instances\": 1, \"tasksRunning\": 1, \"tasksHealthy\": 1,"
        "  \"healthChecks\": [{\"protocol\": \"TCP\"}], \"tasks\": [{\"id\": \"d\", \"slaveId\": "
        "\"S1\"}]},"
        " {\"id\": \"/staging/web\", \"instances\": 1, \"tasksRunning\": 0, \"tasksHealthy\": 0,"
        "  \"healthChecks\": [{\"protocol\": \"HTTP\"}], \"tasks\": []}]}";
    infra_json *j = MJ->parse(doc, strlen(doc));
    assert_non_null(j);
    char *t = marathon_apps_short(j, "S0");
    assert_string_equal(t, "/prod/web 1 of 2 healthy, /prod/worker 0 of 1 running");
    free(t);
    /* /prod/api is whole; /staging/web is short but has nothing on S1 */
    t = marathon_apps_short(j, "S1");
    assert_string_equal(t, "/prod/web 1 of 2 healthy");
    free(t);
    t = marathon_apps_short(j, "S7");
    assert_string_equal(t, "");
    free(t);
    MJ->release(j);
    static const char none[] = "{\"apps\": []}";
    j = MJ->parse(none, strlen(none));
    t = marathon_apps_short(j, "S0");
    assert_string_equal(t, "");
    free(t);
    MJ->release(j);
}

static int setup(void **state)
{
    (void)state;
    test_use_host();
    return infra_plugin_entry(host_table(), &plugin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_refused_at_their_key),
        cmocka_unit_test(test_topologies_refused_at_their_key),
        cmocka_unit_test(test_region_reports_name_what_is_missing),
        cmocka_unit_test(test_attributes_as_mesos_reports_them),
        cmocka_unit_test(test_marathon_error_answers),
        cmocka_unit_test(test_apps_short_of_an_agent),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
