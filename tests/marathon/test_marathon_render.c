/* What a node is given, against the expected files in tests/marathon/
 * expected/: zoo.cfg and myid (each member's id agreeing with its server.N
 * line by construction, and kept when the topology changes), the command
 * lines of ZooKeeper, the Mesos master and agent, Marathon and the load
 * balancers' watcher as systemd units and as the supervisor's run files,
 * Marathon's credentials only in files of mode 0600; a region whose
 * ZooKeeper runs on nodes of its own. */
#include "marathon_test.h"

#include "services/secrets.h"

#define PASSWORD "0123456789abcdef0123456789abcdef0123456789abcdef"

static const infra_plugin *plugin;

static const char *const bins[MARATHON_BIN_COUNT] = {
    "/usr/bin/java",     "/usr/sbin/mesos-master", "/usr/sbin/mesos-agent",
    "/usr/bin/marathon", "/usr/sbin/haproxy",      "/usr/bin/python3"};

typedef struct world {
    infra_scheduler *ctx;
    infra_json *json;
    marathon_cluster c;
    int *ids;
} world;

static infra_scheduler *configure(const char *settings)
{
    infra_call call;
    test_diags d;
    infra_scheduler *ctx = NULL;
    test_call(&call, &d);
    infra_json *s = test_json(settings);
    assert_int_equal(plugin->scheduler->configure(&call, s, &ctx), 0);
    MJ->release(s);
    host_call_clear(&call);
    return ctx;
}

/* Parses json (taken) and gives its ZooKeeper members their ids. */
static void world_take(world *w, infra_json *json)
{
    infra_call call;
    test_diags d;
    test_call(&call, &d);
    w->json = json;
    assert_int_equal(marathon_cluster_parse(&call, w->json, 1, &w->c), 0);
    if (marathon_zookeeper_ids(w->ctx, &call, &w->c, &w->ids) < 0)
        fail_msg("zookeeper ids: %s", d.text);
    host_call_clear(&call);
}

static void world_load(world *w, const char *fixture)
{
    if (w->ctx == NULL)
        w->ctx = configure("{\"name\": \"mesos\"}");
    world_take(w, test_json_file(fixture));
}

static void world_drop(world *w)
{
    marathon_cluster_free(&w->c);
    MJ->release(w->json);
    free(w->ids);
    w->json = NULL;
    w->ids = NULL;
}

static void world_free(world *w)
{
    world_drop(w);
    plugin->scheduler->close(w->ctx);
    secrets_clear();
}

static const marathon_node *node(const world *w, const char *name)
{
    const marathon_node *n = marathon_cluster_node(&w->c, name);
    if (n == NULL)
        fail_msg("no node %s", name);
    return n;
}

static int id_of(const world *w, const char *name)
{
    return w->ids[node(w, name) - w->c.nodes];
}

static marathon_render_in input(const world *w, const char *name)
{
    const marathon_node *n = node(w, name);
    marathon_render_in in = {
        .s = &w->ctx->s,
        .cluster = "mesos",
        .region = marathon_cluster_region(&w->c, n->region),
        .node = n,
        .zk_ids = w->ids,
        .nodes = w->c.nodes,
        .password = PASSWORD,
    };
    memcpy(in.bin, bins, sizeof(in.bin));
    return in;
}

/* Every file of node name (configuration and services, on a node with or
 * without systemd). */
static void node_files(const world *w, const char *name, int systemd, pu_files *out)
{
    marathon_render_in in = input(w, name);
    marathon_services svc;
    pu_remote r = {.systemd = systemd};
    marathon_render_files(&in, out);
    marathon_render_services(&in, &svc);
    pu_service_files(&r, svc.v, svc.n, 0, "marathon scheduler", out);
    marathon_services_free(&svc);
}

/* Compares the files of node name with expected/DIR/BASENAME. */
static void expect_node(const world *w, const char *name, const char *dir, int systemd)
{
    pu_files f = {0};
    node_files(w, name, systemd, &f);
    for (size_t i = 0; i < f.n; i++) {
        const char *base = strrchr(f.v[i].path, '/') + 1;
        if (strcmp(f.v[i].path, PU_SUPERVISOR) == 0 ||
            strcmp(f.v[i].path, MARATHON_LB_PROGRAM) == 0)
            continue; /* shared texts, checked on their own */
        char rel[512];
        snprintf(rel, sizeof(rel), "expected/%s/%s", dir, base);
        test_expect_file(rel, f.v[i].data);
    }
    pu_files_free(&f);
}

static void test_masters_of_one_ensemble_agree_on_ids(void **state)
{
    (void)state;
    world w = {0};
    world_load(&w, "fixtures/cluster.json");
    static const char *const masters[] = {"mesos-eu-masters-server-0", "mesos-eu-masters-server-1",
                                          "mesos-eu-masters-server-2"};
    for (int i = 0; i < 3; i++) {
        pu_files f = {0};
        marathon_render_in in = input(&w, masters[i]);
        marathon_render_files(&in, &f);
        const pu_file *cfg = pu_files_find(&f, MARATHON_ZK_CONF);
        const pu_file *myid = pu_files_find(&f, MARATHON_ZK_MYID);
        assert_non_null(cfg);
        assert_non_null(myid);
        /* this member's id is the N of the server.N line naming its address */
        char line[128];
        snprintf(line, sizeof(line), "server.%d=%s:2888:3888\n", atoi(myid->data),
                 node(&w, masters[i])->private_ip);
        assert_non_null(strstr(cfg->data, line));
        assert_int_equal(atoi(myid->data), i + 1);
        assert_int_equal(myid->mode, 0644);
        pu_files_free(&f);
    }
    world_free(&w);
}

/* A node added before the others, or one being replaced, renumbers nothing. */
static void test_zookeeper_ids_are_kept_per_node(void **state)
{
    (void)state;
    world w = {0};
    world_load(&w, "fixtures/cluster.json");
    assert_int_equal(id_of(&w, "mesos-eu-masters-server-2"), 3);
    world_drop(&w);

    /* a datacenter of masters listed first */
    infra_json *loaded = test_json_file("fixtures/cluster.json");
    json_t *j = json_deep_copy(host_jansson(loaded));
    MJ->release(loaded);
    json_t *dcs =
        json_object_get(json_object_get(json_object_get(j, "regions"), "eu"), "datacenters");
    json_t *early =
        json_pack("{s:s, s:{}, s:{}, s:[{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:{s:s}}], s:[]}",
                  "provider", "local", "settings", "node_settings", "servers", "address",
                  "cluster.mesos.eu.early.server[0]", "name", "mesos-eu-early-server-0", "role",
                  "server", "region", "eu", "datacenter", "early", "index", 0, "private_ip",
                  "10.0.0.9", "ssh", "host", "10.0.0.9", "clients");
    json_t *reordered = json_object();
    json_object_set_new(reordered, "early", early);
    json_object_update(reordered, dcs);
    json_object_set_new(json_object_get(json_object_get(j, "regions"), "eu"), "datacenters",
                        reordered);
    /* and master 1 not listed: its instance is being replaced */
    json_array_remove(json_object_get(json_object_get(reordered, "masters"), "servers"), 1);
    world_take(&w, host_json(j));
    assert_int_equal(id_of(&w, "mesos-eu-masters-server-0"), 1);
    assert_int_equal(id_of(&w, "mesos-eu-masters-server-2"), 3);
    /* the new node takes the lowest id nobody holds, not master 1's */
    assert_int_equal(id_of(&w, "mesos-eu-early-server-0"), 4);
    marathon_render_in in = input(&w, "mesos-eu-early-server-0");
    char *cfg = marathon_render_zoo_cfg(&in);
    assert_non_null(strstr(cfg, "server.1=10.0.0.2:2888:3888\nserver.3=10.0.0.4:2888:3888\n"
                                "server.4=10.0.0.9:2888:3888\n"));
    free(cfg);
    world_drop(&w);

    /* master 1 comes back with its id */
    world_load(&w, "fixtures/cluster.json");
    assert_int_equal(id_of(&w, "mesos-eu-masters-server-1"), 2);
    /* the ids are in the secrets file, by region */
    infra_secret *kept = NULL;
    assert_int_equal(secrets_lookup("marathon.mesos.zookeeper_ids", &kept), 0);
    assert_string_equal(secrets_value(kept),
                        "{\"eu\":{\"mesos-eu-masters-server-0\":1,\"mesos-eu-masters-server-1\":2,"
                        "\"mesos-eu-masters-server-2\":3,\"mesos-eu-early-server-0\":4}}");
    secrets_free(kept);
    world_free(&w);
}

static void test_master_files(void **state)
{
    (void)state;
    world w = {0};
    world_load(&w, "fixtures/cluster.json");
    expect_node(&w, "mesos-eu-masters-server-0", "master-0-systemd", 1);
    expect_node(&w, "mesos-eu-masters-server-0", "master-0", 0);
    world_free(&w);
}

static void test_agent_files(void **state)
{
    (void)state;
    world w = {0};
    world_load(&w, "fixtures/cluster.json");
    expect_node(&w, "mesos-eu-staging-client-0", "staging-agent", 1);
    expect_node(&w, "mesos-eu-prod-client-0", "prod-agent", 0);
    world_free(&w);
}

static void test_balancer_files(void **state)
{
    (void)state;
    world w = {0};
    world_load(&w, "fixtures/cluster.json");
    expect_node(&w, "mesos-eu-edge-client-0", "balancer", 1);
    pu_files f = {0};
    node_files(&w, "mesos-eu-edge-client-0", 1, &f);
    const pu_file *prog = pu_files_find(&f, MARATHON_LB_PROGRAM);
    assert_non_null(prog);
    assert_int_equal(prog->mode, 0755);
    assert_string_equal(prog->data, marathon_lb_program());
    assert_int_equal(strncmp(prog->data, "#!/usr/bin/python3\n", 19), 0);
    pu_files_free(&f);
    world_free(&w);
}

/* The password is in Marathon's environment file and the watcher's
 * configuration, both 0600 and secret, and nowhere else. */
static void test_password_only_in_private_files(void **state)
{
    (void)state;
    world w = {0};
    world_load(&w, "fixtures/cluster.json");
    for (size_t i = 0; i < w.c.nnodes; i++) {
        for (int systemd = 0; systemd < 2; systemd++) {
            pu_files f = {0};
            node_files(&w, w.c.nodes[i].name, systemd, &f);
            for (size_t k = 0; k < f.n; k++) {
                int has = strstr(f.v[k].data, PASSWORD) != NULL;
                if (has && (f.v[k].mode != 0600 || !f.v[k].secret))
                    fail_msg("%s of %s holds the password with mode %o", f.v[k].path,
                             w.c.nodes[i].name, (unsigned)f.v[k].mode);
                if (has)
                    assert_true(strcmp(f.v[k].path, MARATHON_ENV) == 0 ||
                                strcmp(f.v[k].path, MARATHON_LB_CONFIG) == 0);
            }
            pu_files_free(&f);
        }
    }
    world_free(&w);
}

static void test_dedicated_zookeeper_nodes(void **state)
{
    (void)state;
    world w = {0};
    world_load(&w, "fixtures/dedicated.json");
    const marathon_region *r = marathon_cluster_region(&w.c, "us");
    assert_int_equal(r->nensemble, 3);
    assert_int_equal(r->nmasters, 1);
    marathon_service svcs[MARATHON_SVC_COUNT];
    assert_int_equal(marathon_node_services(r, node(&w, "mesos-us-zk-server-1"), svcs), 1);
    assert_int_equal(svcs[0], MARATHON_SVC_ZOOKEEPER);
    assert_int_equal(marathon_node_services(r, node(&w, "mesos-us-masters-server-0"), svcs), 2);
    assert_int_equal(svcs[0], MARATHON_SVC_MASTER);
    expect_node(&w, "mesos-us-zk-server-2", "dedicated-zk-2", 1);
    expect_node(&w, "mesos-us-masters-server-0", "dedicated-master", 1);
    world_free(&w);
}

static int setup(void **state)
{
    (void)state;
    test_use_host();
    return infra_plugin_entry(host_table(), &plugin);
}

/* The service file of svc on node name, with installed as what was
 * installed for it (caller frees). */
static char *service_file(const world *w, const char *name, marathon_service svc, int systemd,
                          const char *installed)
{
    marathon_render_in in = input(w, name);
    marathon_services services;
    pu_remote r = {.systemd = systemd};
    pu_files f = {0};
    char *text = NULL;
    in.installed[svc] = installed;
    marathon_render_services(&in, &services);
    pu_service_files(&r, services.v, services.n, 0, "marathon scheduler", &f);
    for (size_t i = 0; i < f.n; i++)
        if (strstr(f.v[i].path, marathon_service_name(svc)) != NULL)
            text = strdup(f.v[i].data);
    pu_files_free(&f);
    marathon_services_free(&services);
    assert_non_null(text);
    return text;
}

/* What was installed is part of the service's files: a new file changes
 * them, and the service restarts; the other services' stay the same. */
static void test_an_installed_program_is_named_in_its_service(void **state)
{
    (void)state;
    world w = {0};
    world_load(&w, "fixtures/cluster.json");
    const char *v1 = "/opt/bin/mesos-master, sha256 "
                     "1111111111111111111111111111111111111111111111111111111111111111";
    const char *v2 = "/opt/bin/mesos-master, sha256 "
                     "2222222222222222222222222222222222222222222222222222222222222222";
    for (int systemd = 0; systemd < 2; systemd++) {
        char *none =
            service_file(&w, "mesos-eu-masters-server-0", MARATHON_SVC_MASTER, systemd, NULL);
        char *one = service_file(&w, "mesos-eu-masters-server-0", MARATHON_SVC_MASTER, systemd, v1);
        char *two = service_file(&w, "mesos-eu-masters-server-0", MARATHON_SVC_MASTER, systemd, v2);
        char *other =
            service_file(&w, "mesos-eu-masters-server-0", MARATHON_SVC_MARATHON, systemd, NULL);
        char line[200];
        snprintf(line, sizeof(line), "\n# Program: %s\n", v1);
        assert_non_null(strstr(one, line));
        assert_null(strstr(none, "# Program:"));
        assert_string_not_equal(one, two);
        assert_null(strstr(other, "# Program:"));
        free(none);
        free(one);
        free(two);
        free(other);
    }
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masters_of_one_ensemble_agree_on_ids),
        cmocka_unit_test(test_zookeeper_ids_are_kept_per_node),
        cmocka_unit_test(test_master_files),
        cmocka_unit_test(test_agent_files),
        cmocka_unit_test(test_balancer_files),
        cmocka_unit_test(test_password_only_in_private_files),
        cmocka_unit_test(test_dedicated_zookeeper_nodes),
        cmocka_unit_test(test_an_installed_program_is_named_in_its_service),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
