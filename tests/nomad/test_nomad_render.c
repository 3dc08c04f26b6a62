/* Agent configuration rendering: servers and clients in one or two regions,
 * with and without ACL/TLS/gossip, against the expected documents in
 * tests/nomad/expected/; secrets only in the secret files; stability when a
 * region is added. */
#include "nomad_test.h"

#include <sys/wait.h>
#include <unistd.h>

#define NOMAD_KEY "bm9tYWQtZ29zc2lwLWtleS1mb3ItdGhlLXRlc3RzMzI="
#define CONSUL_KEY "Y29uc3VsLWdvc3NpcC1rZXktZm9yLXRoZS10ZXN0MzI="
#define TOKEN "11111111-2222-4333-8444-555555555555"
#define NOMAD_TOKEN "66666666-7777-4888-9999-000000000000"
#define REPLICATION_TOKEN "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define CA_PEM "-----BEGIN CERTIFICATE-----\nQ0EtZm9yLXRlc3Rz\n-----END CERTIFICATE-----\n"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nbm9kZS1jZXJ0\n-----END CERTIFICATE-----\n"
#define KEY_PEM                                                                                    \
    "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LW5vZGUta2V5LWJ5dGVz\n-----END PRIVATE KEY-----\n"

typedef struct world {
    infra_json *json;
    nomad_cluster cluster;
} world;

static nomad_settings settings(int secure, int raw_exec)
{
    nomad_settings s;
    memset(&s, 0, sizeof(s));
    s.acl = s.tls = s.gossip = secure;
    s.raw_exec = raw_exec;
    s.api_public = 1;
    return s;
}

static void world_load(world *w, const char *fixture)
{
    infra_call call;
    test_diags d;
    test_call(&call, &d);
    w->json = test_json_file(fixture);
    assert_int_equal(nomad_cluster_parse(&call, w->json, 1, &w->cluster), 0);
    host_call_clear(&call);
}

static void world_free(world *w)
{
    nomad_cluster_free(&w->cluster);
    NJ->release(w->json);
}

static const nomad_node *find(const world *w, const char *name)
{
    for (size_t i = 0; i < w->cluster.nnodes; i++)
        if (strcmp(w->cluster.nodes[i].name, name) == 0)
            return &w->cluster.nodes[i];
    fail_msg("no node %s in the fixture", name);
    return NULL;
}

static nomad_render_in input(const world *w, const nomad_settings *s, const char *node)
{
    const nomad_node *n = find(w, node);
    nomad_render_in in = {
        .s = s,
        .region = nomad_cluster_region(&w->cluster, n->region),
        .node = n,
    };
    if (s->gossip) {
        in.gossip[NOMAD_AGENT_NOMAD] = NOMAD_KEY;
        in.gossip[NOMAD_AGENT_CONSUL] = CONSUL_KEY;
    }
    in.authority = nomad_cluster_authority(&w->cluster, n->region);
    in.consul_authority = nomad_cluster_consul_dc(&w->cluster, in.authority);
    if (s->acl) {
        in.consul_token = TOKEN;
        in.nomad_token = NOMAD_TOKEN;
        in.replication = REPLICATION_TOKEN;
    }
    if (s->tls) {
        in.ca_pem = CA_PEM;
        in.cert_pem = CERT_PEM;
        in.key_pem = KEY_PEM;
    }
    return in;
}

/* Renders node's four documents and compares them with expected/FILE. */
static void compare_with_expected(const char *fixture, const nomad_settings *s, const char *node,
                                  const char *expected_file)
{
    world w;
    world_load(&w, fixture);
    nomad_render_in in = input(&w, s, node);
    char path[256];
    snprintf(path, sizeof(path), "expected/%s", expected_file);
    infra_json *expected = test_json_file(path);
    static const char *const keys[2][2] = {{"consul", "consul_secrets"},
                                           {"nomad", "nomad_secrets"}};
    for (int a = 0; a < NOMAD_AGENT_COUNT; a++) {
        infra_json *config = NULL, *secrets = NULL;
        assert_int_equal(nomad_render_config(&in, (nomad_agent)a, &config, &secrets), 0);
        char what[300];
        snprintf(what, sizeof(what), "%s: %s", expected_file, keys[a][0]);
        test_json_equal(config, NJ->get(expected, keys[a][0]), what);
        snprintf(what, sizeof(what), "%s: %s", expected_file, keys[a][1]);
        test_json_equal(secrets, NJ->get(expected, keys[a][1]), what);
        NJ->release(config);
        NJ->release(secrets);
    }
    NJ->release(expected);
    world_free(&w);
}

static void test_server_config_with_acl_tls_gossip_matches_expected(void **state)
{
    nomad_settings s = settings(1, 1);
    compare_with_expected("fixtures/cluster-1region.json", &s, "main-europe-dc-a-server-0",
                          "europe-server-0.secure.json");
}

static void test_client_config_with_acl_tls_gossip_matches_expected(void **state)
{
    nomad_settings s = settings(1, 1);
    compare_with_expected("fixtures/cluster-1region.json", &s, "main-europe-dc-b-client-0",
                          "europe-dc-b-client-0.secure.json");
}

static void test_server_config_without_security_matches_expected(void **state)
{
    nomad_settings s = settings(0, 1);
    compare_with_expected("fixtures/cluster-1region.json", &s, "main-europe-dc-a-server-0",
                          "europe-server-0.plain.json");
}

static void test_client_config_without_security_or_raw_exec_matches_expected(void **state)
{
    nomad_settings s = settings(0, 0);
    compare_with_expected("fixtures/cluster-1region.json", &s, "main-europe-dc-a-client-0",
                          "europe-dc-a-client-0.plain-noraw.json");
}

/* us is federated with europe, the first region in federate: Consul's
 * primary datacenter and Nomad's authoritative region are europe, us
 * replicates with the replication tokens and has no initial management
 * token of its own. */
static void test_second_region_nodes_join_only_their_own_region(void **state)
{
    nomad_settings s = settings(1, 1);
    compare_with_expected("fixtures/cluster-2regions.json", &s, "main-us-dc-c-server-0",
                          "us-server-0.secure.json");
    compare_with_expected("fixtures/cluster-2regions.json", &s, "main-us-dc-c-client-0",
                          "us-client-0.secure.json");
}

static void render_files(const world *w, const nomad_settings *s, const char *node,
                         nomad_files *out)
{
    nomad_render_in in = input(w, s, node);
    assert_int_equal(nomad_render_files(&in, out), 0);
}

static void test_adding_a_region_changes_no_file_of_existing_nodes(void **state)
{
    world one, two;
    world_load(&one, "fixtures/cluster-1region.json");
    world_load(&two, "fixtures/cluster-2regions.json");
    for (int secure = 0; secure < 2; secure++) {
        nomad_settings s = settings(secure, 1);
        for (size_t i = 0; i < one.cluster.nnodes; i++) {
            nomad_files a = {0}, b = {0};
            render_files(&one, &s, one.cluster.nodes[i].name, &a);
            render_files(&two, &s, one.cluster.nodes[i].name, &b);
            assert_int_equal(a.n, b.n);
            for (size_t k = 0; k < a.n; k++) {
                assert_string_equal(a.v[k].path, b.v[k].path);
                assert_int_equal(a.v[k].mode, b.v[k].mode);
                assert_string_equal(a.v[k].data, b.v[k].data);
            }
            nomad_files_free(&a);
            nomad_files_free(&b);
        }
    }
    world_free(&one);
    world_free(&two);
}

static void test_secrets_appear_only_in_mode_0600_files(void **state)
{
    static const char *const secrets[] = {
        NOMAD_KEY,   CONSUL_KEY,        TOKEN,
        NOMAD_TOKEN, REPLICATION_TOKEN, "c2VjcmV0LW5vZGUta2V5LWJ5dGVz"};
    world w;
    world_load(&w, "fixtures/cluster-2regions.json");
    nomad_settings s = settings(1, 1);
    for (size_t i = 0; i < w.cluster.nnodes; i++) {
        nomad_files f = {0};
        render_files(&w, &s, w.cluster.nodes[i].name, &f);
        size_t secret_files = 0;
        for (size_t k = 0; k < f.n; k++) {
            const nomad_file *x = &f.v[k];
            int holds = 0;
            for (size_t j = 0; j < sizeof(secrets) / sizeof(secrets[0]); j++)
                holds |= strstr(x->data, secrets[j]) != NULL;
            if (x->secret) {
                secret_files++;
                assert_int_equal(x->mode, 0600);
            } else {
                if (holds)
                    fail_msg("%s of %s holds a secret but is not a secret file", x->path,
                             w.cluster.nodes[i].name);
                assert_int_equal(x->mode, 0644);
            }
        }
        /* secrets.json of both agents and both key files */
        assert_int_equal(secret_files, 4);
        nomad_files_free(&f);
    }
    world_free(&w);
}

static void test_node_files_are_the_documented_paths_per_agent(void **state)
{
    static const struct {
        const char *path;
        int agent;
    } want[] = {
        {"/etc/consul.d/agent.json", NOMAD_AGENT_CONSUL},
        {"/etc/consul.d/secrets.json", NOMAD_AGENT_CONSUL},
        {"/etc/consul.d/tls/ca.pem", NOMAD_AGENT_CONSUL},
        {"/etc/consul.d/tls/node.pem", NOMAD_AGENT_CONSUL},
        {"/etc/consul.d/tls/node-key.pem", NOMAD_AGENT_CONSUL},
        {"/etc/nomad.d/agent.json", NOMAD_AGENT_NOMAD},
        {"/etc/nomad.d/secrets.json", NOMAD_AGENT_NOMAD},
        {"/etc/nomad.d/tls/ca.pem", NOMAD_AGENT_NOMAD},
        {"/etc/nomad.d/tls/node.pem", NOMAD_AGENT_NOMAD},
        {"/etc/nomad.d/tls/node-key.pem", NOMAD_AGENT_NOMAD},
    };
    world w;
    world_load(&w, "fixtures/cluster-1region.json");
    nomad_settings s = settings(1, 1);
    nomad_files f = {0};
    render_files(&w, &s, "main-europe-dc-a-server-0", &f);
    assert_int_equal(f.n, sizeof(want) / sizeof(want[0]));
    for (size_t k = 0; k < f.n; k++) {
        const nomad_file *x = nomad_files_find(&f, want[k].path);
        if (x == NULL)
            fail_msg("%s is not rendered", want[k].path);
        assert_int_equal(x->agent, want[k].agent);
    }
    assert_string_equal(nomad_files_find(&f, "/etc/nomad.d/tls/node-key.pem")->data, KEY_PEM);
    /* JSON on one line with a final newline: what the agent parses */
    const nomad_file *cfg = nomad_files_find(&f, "/etc/nomad.d/agent.json");
    assert_int_equal(cfg->data[cfg->len - 1], '\n');
    assert_ptr_equal(strchr(cfg->data, '\n'), cfg->data + cfg->len - 1);
    nomad_files_free(&f);

    /* without TLS there is nothing under tls/ */
    s = settings(0, 1);
    render_files(&w, &s, "main-europe-dc-a-server-0", &f);
    assert_int_equal(f.n, 4);
    nomad_files_free(&f);
    world_free(&w);
}

static void test_rendering_twice_gives_identical_bytes(void **state)
{
    world w;
    world_load(&w, "fixtures/cluster-2regions.json");
    nomad_settings s = settings(1, 1);
    for (size_t i = 0; i < w.cluster.nnodes; i++) {
        nomad_files a = {0}, b = {0};
        render_files(&w, &s, w.cluster.nodes[i].name, &a);
        render_files(&w, &s, w.cluster.nodes[i].name, &b);
        assert_int_equal(a.n, b.n);
        for (size_t k = 0; k < a.n; k++)
            assert_memory_equal(a.v[k].data, b.v[k].data, a.v[k].len);
        nomad_files_free(&a);
        nomad_files_free(&b);
    }
    world_free(&w);
}

static void test_cluster_parse_refuses_a_node_listed_twice_and_unknown_federate(void **state)
{
    infra_call call;
    test_diags d;
    nomad_cluster c;
    test_call(&call, &d);
    infra_json *j = test_json_file("fixtures/cluster-2regions.json");
    json_t *fed = json_object_get(host_jansson(j), "federate");
    json_array_append_new(fed, json_string("asia"));
    assert_int_equal(nomad_cluster_parse(&call, j, 1, &c), INFRA_EINVALID);
    assert_non_null(strstr(d.text, "federate[2]: \"asia\" is not a region of cluster main"));
    NJ->release(j);
    host_call_clear(&call);

    test_call(&call, &d);
    j = test_json_file("fixtures/cluster-1region.json");
    json_t *servers = json_object_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(host_jansson(j), "regions"), "europe"),
                            "datacenters"),
            "dc-b"),
        "servers");
    json_t *dup = json_deep_copy(json_array_get(servers, 0));
    json_object_set_new(dup, "name", json_string("main-europe-dc-a-server-0"));
    json_array_append_new(servers, dup);
    assert_int_equal(nomad_cluster_parse(&call, j, 1, &c), INFRA_EINVALID);
    assert_non_null(strstr(d.text, "node name main-europe-dc-a-server-0 is used twice"));
    NJ->release(j);
    host_call_clear(&call);
}

/* A server that is also a client (servers: {count: 3, client: true}) gets
 * one Nomad agent with both stanzas, its client naming every server of the
 * region, itself included; Consul runs as a server in the region's
 * consul_datacenter, which is also the primary datacenter. */
static void
test_combined_server_has_server_and_client_stanzas_in_its_consul_datacenter(void **state)
{
    nomad_settings s = settings(1, 1);
    compare_with_expected("fixtures/cluster-combined.json", &s, "main-prod-eu-eu-west-1a-server-0",
                          "prod-eu-combined-server-0.secure.json");
    world w;
    world_load(&w, "fixtures/cluster-combined.json");
    const nomad_region *eu = nomad_cluster_region(&w.cluster, "prod-eu");
    assert_int_equal(eu->nservers, 3);
    assert_int_equal(eu->nclients, 3); /* counted once as servers, once as clients */
    assert_ptr_equal(eu->servers[1], eu->clients[1]);
    assert_string_equal(eu->consul_dc, "clickcount");
    const nomad_node *n = find(&w, "main-prod-eu-eu-west-1a-server-0");
    assert_true(n->server && n->client);
    nomad_cert_names names;
    nomad_node_cert_names(n, &names);
    int server_nomad = 0, client_nomad = 0, server_consul = 0;
    for (size_t i = 0; i < names.ndns; i++) {
        server_nomad |= strcmp(names.dns[i], "server.prod-eu.nomad") == 0;
        client_nomad |= strcmp(names.dns[i], "client.prod-eu.nomad") == 0;
        server_consul |= strcmp(names.dns[i], "server.clickcount.consul") == 0;
    }
    assert_true(server_nomad && client_nomad && server_consul);
    /* the other region's servers are no clients, and keep their own name */
    const nomad_region *us = nomad_cluster_region(&w.cluster, "prod-us");
    assert_int_equal(us->nclients, 1);
    assert_string_equal(us->consul_dc, "prod-us");
    world_free(&w);
}

/* A secondary region names the primary's Consul datacenter, not its
 * region name, as primary_datacenter. */
static void test_secondary_names_the_primary_consul_datacenter(void **state)
{
    nomad_settings s = settings(1, 1);
    world w;
    world_load(&w, "fixtures/cluster-combined.json");
    nomad_render_in in = input(&w, &s, "main-prod-us-us-east-1a-server-0");
    infra_json *config = NULL, *secrets = NULL;
    assert_int_equal(nomad_render_config(&in, NOMAD_AGENT_CONSUL, &config, &secrets), 0);
    assert_string_equal(pu_json_str(config, "datacenter"), "prod-us");
    assert_string_equal(pu_json_str(config, "primary_datacenter"), "clickcount");
    NJ->release(config);
    NJ->release(secrets);
    assert_int_equal(nomad_render_config(&in, NOMAD_AGENT_NOMAD, &config, &secrets), 0);
    assert_null(NJ->get(config, "client")); /* a plain server */
    assert_string_equal(pu_json_str(nomad_jpath(config, "server", NULL), "authoritative_region"),
                        "prod-eu");
    NJ->release(config);
    NJ->release(secrets);
    world_free(&w);
}

/* consul_datacenter: one per region (its servers make one), distinct
 * between regions, and a Consul name. */
static void test_cluster_parse_refuses_conflicting_consul_datacenters(void **state)
{
    static const char *const edits[][3] = {
        {"prod-us", "us-east-1a", "clickcount"},
        {"prod-eu", "eu-west-1a", "Click.Count"},
    };
    static const char *const says[] = {"both Consul datacenter \"clickcount\"",
                                       "consul_datacenter must be a Consul datacenter name"};
    for (size_t k = 0; k < 2; k++) {
        infra_json *json = test_json_file("fixtures/cluster-combined.json");
        infra_json *dc = (infra_json *)nomad_jpath(json, "regions", edits[k][0], "datacenters",
                                                   edits[k][1], NULL);
        infra_json *ns = nomad_jobj(dc, "node_settings");
        assert_int_equal(nomad_jset_str(ns, "consul_datacenter", edits[k][2]), 0);
        infra_call call;
        test_diags d;
        test_call(&call, &d);
        nomad_cluster c;
        assert_int_equal(nomad_cluster_parse(&call, json, 1, &c), INFRA_EINVALID);
        assert_non_null(strstr(d.text, says[k]));
        host_call_clear(&call);
        NJ->release(json);
    }
}

static void test_supervisor_script_is_valid_posix_sh(void **state)
{
    char path[] = "/tmp/nomad-supervise-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *script = nomad_supervisor_script();
    assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
    close(fd);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "sh -n %s", path);
    int st = system(cmd);
    unlink(path);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(script, "setsid"));
    assert_non_null(strstr(script, "/run/infra-$name.pid"));
    assert_non_null(strstr(script, "/var/log/$name.log"));
}

int main(void)
{
    test_use_host();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_config_with_acl_tls_gossip_matches_expected),
        cmocka_unit_test(test_client_config_with_acl_tls_gossip_matches_expected),
        cmocka_unit_test(test_server_config_without_security_matches_expected),
        cmocka_unit_test(test_client_config_without_security_or_raw_exec_matches_expected),
        cmocka_unit_test(test_second_region_nodes_join_only_their_own_region),
        cmocka_unit_test(test_adding_a_region_changes_no_file_of_existing_nodes),
        cmocka_unit_test(test_secrets_appear_only_in_mode_0600_files),
        cmocka_unit_test(test_node_files_are_the_documented_paths_per_agent),
        cmocka_unit_test(test_rendering_twice_gives_identical_bytes),
        cmocka_unit_test(test_cluster_parse_refuses_a_node_listed_twice_and_unknown_federate),
        cmocka_unit_test(test_supervisor_script_is_valid_posix_sh),
        cmocka_unit_test(
            test_combined_server_has_server_and_client_stanzas_in_its_consul_datacenter),
        cmocka_unit_test(test_secondary_names_the_primary_consul_datacenter),
        cmocka_unit_test(test_cluster_parse_refuses_conflicting_consul_datacenters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
